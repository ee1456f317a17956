"""Every metric that compares image sets checks, before any work, that each set has the images it needs
(SWD and MS-SSIM a pair, KID a subset of 2, FID 2 for a covariance, precision/recall k + 1), with one
message naming the metric, the count given and the count needed."""

from __future__ import annotations

import pytest
import torch

import ganforge.metrics.protocol as protocol
from ganforge.errors import GanforgeError
from ganforge.metrics import compute, compute_between, swd_from_images


def _blobs(n: int, seed: int = 0, s: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 1, 4, 4, generator=g)
    up = torch.nn.functional.interpolate(low, size=(s, s), mode="bicubic", align_corners=False)
    return (up.clamp(0, 1) * 255).to(torch.uint8)


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any metric starts computing (generating, embedding, comparing)."""

    def boom(*a, **k):
        raise AssertionError("a metric started before its image counts were checked")

    monkeypatch.setattr(protocol, "_run_one", boom)


@pytest.mark.parametrize("metric,message", [
    ("fid1k", "metric 'fid1k' needs at least 2 reference images (FID fits a mean and a covariance to each set, and "
              "a covariance needs 2 samples), but the reference data 'one' has 1"),
    ("kid1k", "metric 'kid1k' needs at least 2 reference images (KID averages over subsets of min(1000, generated, "
              "reference) images, and a subset needs 2), but the reference data 'one' has 1"),
    ("pr1k3", "metric 'pr1k3' needs at least 4 reference images (precision/recall needs each image's k=3 nearest "
              "neighbours among the others of its set), but the reference data 'one' has 1"),
    ("swd", "metric 'swd' needs at least 2 reference images (SWD compares the patch statistics of two sets of "
            "images, at least a pair in each), but the reference data 'one' has 1"),
    ("msssim1k", "metric 'msssim1k' needs at least 2 reference images (MS-SSIM diversity averages over pairs of "
                 "distinct images of a set), but the reference data 'one' has 1"),
])
def test_one_reference_image_is_refused_before_any_work(helpers, no_work, metric, message):
    one = helpers.make_dataset(_blobs(1), name="one")
    with pytest.raises(GanforgeError) as e:
        compute_between(metric, one, _blobs(1000, seed=1), extractor="test-pool4")
    assert str(e.value) == message
    G = helpers.TinyGenerator()
    with pytest.raises(GanforgeError) as e:
        compute(metric, G, one, extractor="test-pool4")
    assert str(e.value) == message and G.calls == 0  # refused before a single image was generated


def test_one_generated_image_for_swd(helpers, no_work):
    real = helpers.make_dataset(_blobs(20), name="real")
    with pytest.raises(GanforgeError) as e:
        compute_between("swd", real, _blobs(1, seed=1))
    assert str(e.value) == ("metric 'swd' needs at least 2 generated images (SWD compares the patch statistics of two "
                            "sets of images, at least a pair in each), but the generated set has 1")


def test_neighbourhood_larger_than_the_sample_is_refused_before_generating(helpers, no_work):
    real = helpers.make_dataset(_blobs(1200), name="real")
    G = helpers.TinyGenerator()
    with pytest.raises(GanforgeError) as e:
        compute("pr1k1000", G, real, extractor="test-pool4")
    assert str(e.value) == ("metric 'pr1k1000' needs at least 1001 generated images (precision/recall needs each "
                            "image's k=1000 nearest neighbours among the others of its set), but it generates 1000 "
                            "(the N of its name)")
    assert G.calls == 0


def test_num_real_cap_is_named(helpers, no_work):
    real = helpers.make_dataset(_blobs(50), name="real")
    with pytest.raises(GanforgeError) as e:
        compute_between("pr1k3", real, _blobs(1000, seed=1), extractor="test-pool4", num_real=3)
    assert str(e.value).endswith("but 3 are used (num_real / --num-real 3)")


def test_enough_images_still_compute(helpers):
    real = helpers.make_dataset(_blobs(4), name="real")
    recs = compute_between("swd,pr1k3", real, _blobs(1000, seed=1), extractor="test-pool4")
    assert [r.metric for r in recs] == ["swd", "pr1k3"] and recs[0].num_real == recs[0].num_gen == 4
    assert recs[1].num_real == 4 and recs[1].num_gen == 1000


def test_swd_of_one_image_is_an_error_not_a_number():
    with pytest.raises(GanforgeError, match=r"SWD needs at least 2 images in each set \(it compares two sets of "
                                            r"images\), got 1"):
        swd_from_images(_blobs(1), _blobs(1, seed=1))


def test_eval_cli_one_image_each_exits_2_with_one_line(tmp_path, capsys):
    from PIL import Image

    from ganforge.cli import main

    for name, seed in (("real", 0), ("fake", 1)):
        (tmp_path / name).mkdir()
        Image.fromarray(_blobs(1, seed=seed)[0, 0].numpy(), mode="L").save(tmp_path / name / "0.png")
    common = ["--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"), "--device", "cpu",
              "--cache-dir", str(tmp_path / "cache")]
    assert main(["eval", "--metrics", "swd", *common]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.strip() == ("ganforge: error: metric 'swd' needs at least 2 generated images (SWD compares the patch "
                           "statistics of two sets of images, at least a pair in each), but the generated set has 1")
    for name in ("1.png", "2.png"):
        Image.fromarray(_blobs(1, seed=3)[0, 0].numpy(), mode="L").save(tmp_path / "fake" / name)
    assert main(["eval", "--metrics", "swd", *common]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().endswith(f"but the reference data {str(tmp_path / 'real')!r} has 1")
