"""Named metrics, compute(), records and the real-feature cache."""

from __future__ import annotations

import json

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import METRICS, MetricRecord, compute, compute_between, parse_metric
from ganforge.metrics.extractors import TorchExtractor


def _blobs(n, seed=0, s=32):
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 1, 4, 4, generator=g)
    up = torch.nn.functional.interpolate(low, size=(s, s), mode="bicubic", align_corners=False)
    return (up.clamp(0, 1) * 255).to(torch.uint8)


class PoolExtractor(TorchExtractor):
    """A cheap extractor for protocol tests: 8x8 average-pooled pixels (64-d) and 10 fixed random logits."""

    name = "test-pool8"
    feature_dim = 64
    num_logits = 10
    resize = "adaptive average pool to 8x8"

    def __init__(self):
        super().__init__()
        self.images_seen = 0
        self._w = torch.randn(64, 10, generator=torch.Generator().manual_seed(0)) / 64

    @property
    def weights_hash(self):
        return "0000000000000000"

    def _load(self):
        return torch.nn.Identity()

    def _forward(self, net, x):
        f = torch.nn.functional.adaptive_avg_pool2d(x, 8).flatten(1) / 255
        return f, f @ self._w


class CountingExtractor(PoolExtractor):
    """Counts how many images it embedded."""

    def embed(self, images_u8, batch_size=64, device="cpu"):
        self.images_seen += int(images_u8.shape[0])
        return super().embed(images_u8, batch_size, device)


@pytest.fixture
def data(helpers):
    return helpers.make_dataset(_blobs(1200), name="blobs")


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name,kind,n,k",
    [
        ("fid10k", "fid", 10000, None),
        ("fid2k", "fid", 2000, None),
        ("kid50k", "kid", 50000, None),
        ("pr10k3", "pr", 10000, 3),
        ("is5k", "is", 5000, None),
        ("ppl_z", "ppl_z", 10000, None),
        ("ppl2k_wend", "ppl_wend", 2000, None),
        ("swd", "swd", 16384, None),
        ("msssim1k", "msssim", 1000, None),
    ],
)
def test_parse_metric_names(name, kind, n, k):
    pm = parse_metric(name)
    assert (pm.spec.kind, pm.n, pm.k) == (kind, n, k)


@pytest.mark.parametrize("bad", ["fid", "fid10", "fid0k", "fidk", "lpips", "ppl_x", "pr10k0"])
def test_unknown_metric_lists_valid_forms(bad):
    with pytest.raises(GanforgeError) as info:
        parse_metric(bad)
    if "unknown metric" in str(info.value):
        for form in METRICS.names():
            assert form in str(info.value)


@pytest.mark.parametrize("name", ["fid999999k", "eqt1001k_int", "kid" + "9" * 40 + "k", "pr2000k3"])
def test_a_sample_count_over_the_bound_is_refused_before_any_work(name):
    with pytest.raises(GanforgeError, match="one metric may use; the published protocols use 50k"):
        parse_metric(name)
    assert parse_metric("fid1000k").n == 1_000_000  # the bound itself is accepted


# ---------------------------------------------------------------- compute


def test_compute_feature_metrics_and_record_fields(helpers, data, tmp_path):
    G = helpers.TinyGenerator()
    G.train()
    recs = compute("fid1k,is1k", G, data, cache_dir=tmp_path, batch_size=250, seed=1)  # default extractor
    assert G.training  # mode restored
    assert [r.metric for r in recs] == ["fid1k", "is1k"]
    fid, is_ = recs
    kid, pr = compute(["kid1k", "pr1k3"], G, data, extractor=PoolExtractor(), cache_dir=tmp_path, seed=1)
    assert kid.extractor == "test-pool8" and kid.value > 0
    assert isinstance(fid, MetricRecord) and fid.value > 0
    assert fid.extractor == "fmnist-cnn" and len(fid.extractor_weights_hash) == 16
    assert (fid.num_gen, fid.num_real) == (1000, 1200)  # FID/KID use all reference images
    assert (pr.num_gen, pr.num_real) == (1000, 1000)  # PR uses equal set sizes
    assert kid.details["subset_size"] == 1000 and kid.details["std"] >= 0
    assert set(pr.value) == {"precision", "recall"} and pr.details["k"] == 3
    assert 1.0 <= is_.value <= 10.0 and is_.num_real == 0
    assert fid.dataset == "blobs" and fid.real_split == "test" and fid.dataset_hash == data.content_hash
    assert fid.seed == 1 and fid.ganforge_version and fid.wall_time_s >= 0
    d = json.loads(json.dumps([r.to_dict() for r in (fid, kid, pr, is_)]))
    assert d[0]["metric"] == "fid1k" and d[2]["value"]["precision"] == pr.value["precision"]


def test_compute_is_deterministic_in_seed(helpers, data, tmp_path):
    G = helpers.TinyGenerator()
    e = PoolExtractor()
    a = compute(["fid1k"], G, data, extractor=e, cache_dir=tmp_path, seed=0)[0].value
    b = compute(["fid1k"], G, data, extractor=e, cache_dir=tmp_path, seed=0, batch_size=100)[0].value
    c = compute(["fid1k"], G, data, extractor=e, cache_dir=tmp_path, seed=1)[0].value
    assert a == pytest.approx(b, rel=1e-6) and a != c


def test_real_features_are_cached_and_invalidated(helpers, data, tmp_path):
    G = helpers.TinyGenerator()
    ext = CountingExtractor()
    compute(["fid1k"], G, data, extractor=ext, cache_dir=tmp_path)
    assert ext.images_seen == 1000 + 1200  # generated + real
    # one entry = the reference features and, for FID, their mean/covariance
    assert len(list(tmp_path.glob("real-stats-*.safetensors"))) == 1
    assert len(list(tmp_path.glob("*.safetensors"))) == 2
    ext.images_seen = 0
    v2 = compute(["fid1k"], G, data, extractor=ext, cache_dir=tmp_path)[0].value
    assert ext.images_seen == 1000  # real features came from the cache
    # one changed pixel -> new content hash -> recomputed, new cache entry
    images = data.images_u8.clone()
    images[7, 0, 5, 5] ^= 1
    changed = helpers.make_dataset(images, name="blobs")
    ext.images_seen = 0
    v3 = compute(["fid1k"], G, changed, extractor=ext, cache_dir=tmp_path)[0].value
    assert ext.images_seen == 1000 + 1200
    assert len(list(tmp_path.glob("real-stats-*.safetensors"))) == 2
    assert len(list(tmp_path.glob("*.safetensors"))) == 4
    assert v3 != v2
    # a different reference count is a different entry too
    ext.images_seen = 0
    compute(["fid1k"], G, data, extractor=ext, cache_dir=tmp_path, num_real=500)
    assert ext.images_seen == 1000 + 500


def test_cache_dir_from_environment(helpers, data, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("GANFORGE_METRICS_CACHE", raising=False)
    compute(["fid1k"], helpers.TinyGenerator(), data, extractor=PoolExtractor())
    assert list((tmp_path / "xdg" / "ganforge" / "metrics").glob("real-*.safetensors"))


def test_compute_swd_msssim_and_conditional_generator(helpers, data, tmp_path):
    G = helpers.TinyGenerator(num_classes=3)
    swd, ms = compute(["swd1k", "msssim1k"], G, data, cache_dir=tmp_path)
    assert set(swd.value) == {"32", "16", "avg"} and swd.value["avg"] > 0 and swd.extractor is None
    assert swd.num_gen == swd.num_real == 1000
    assert 0 < ms.value <= 1 and 0 < ms.details["real_msssim"] <= 1


def test_compute_ppl_records_distance(helpers, data, tmp_path):
    (rec,) = compute(["ppl1k_zend"], helpers.TinyGenerator(), data, cache_dir=tmp_path)
    assert rec.value > 0 and rec.details["space"] == "z" and rec.details["sampling"] == "end"
    assert "fmnist-cnn" in rec.details["distance"]
    with pytest.raises(GanforgeError, match="only Z-space"):
        compute(["ppl1k_w"], helpers.TinyGenerator(), data, cache_dir=tmp_path)
    (w,) = compute(["ppl1k_w"], helpers.MappedGenerator(), data, cache_dir=tmp_path)
    assert w.value > 0


def test_compute_between_image_sets(helpers, data, tmp_path):
    recs = compute_between(["fid1k", "pr1k3"], data, _blobs(1000, seed=9), extractor=PoolExtractor(), cache_dir=tmp_path)
    assert recs[0].num_gen == 1000 and recs[0].value > 0
    with pytest.raises(GanforgeError, match="needs a generator"):
        compute_between(["ppl_z"], data, _blobs(10), cache_dir=tmp_path)
    with pytest.raises(GanforgeError, match="same size"):
        compute_between(["fid1k"], data, _blobs(10, s=28), cache_dir=tmp_path)


def test_compute_user_errors(helpers, data, tmp_path):
    with pytest.raises(GanforgeError, match="makes 1x28x28 images"):
        compute(["fid1k"], helpers.TinyGenerator(resolution=28), data, cache_dir=tmp_path)
    with pytest.raises(GanforgeError, match="unknown metric"):
        compute(["fid1k", "fud"], helpers.TinyGenerator(), data, cache_dir=tmp_path)
    with pytest.raises(GanforgeError, match="unknown feature extractor"):
        compute(["fid1k"], helpers.TinyGenerator(), data, extractor="nope", cache_dir=tmp_path)
    with pytest.raises(GanforgeError, match="no metrics"):
        compute([], helpers.TinyGenerator(), data, cache_dir=tmp_path)
    rgb = helpers.make_dataset(_blobs(10).repeat(1, 3, 1, 1))
    with pytest.raises(GanforgeError, match="1-channel 28x28 or 32x32"):
        compute(["fid1k"], helpers.TinyGenerator(channels=3), rgb, extractor="fmnist-cnn", cache_dir=tmp_path)
    with pytest.raises(GanforgeError, match="batch_size"):
        compute(["fid1k"], helpers.TinyGenerator(), data, batch_size=0, cache_dir=tmp_path)
    with pytest.raises(GanforgeError, match="lacks the attribute 'z_dim'"):
        compute(["fid1k"], torch.nn.Identity(), data, cache_dir=tmp_path)


# ---------------------------------------------------------------- a name's sample count is kept


def test_compute_between_refuses_fewer_generated_images_than_the_name_promises(data, tmp_path):
    ext = CountingExtractor()
    with pytest.raises(GanforgeError) as e:
        compute_between(["fid10k"], data, _blobs(50, seed=9), extractor=ext, cache_dir=tmp_path)
    assert str(e.value) == ("metric 'fid10k' needs 10000 generated images but the generated set has 50; add images "
                            "(N counts thousands, so the smallest, 'fid1k', needs 1000)")
    assert ext.images_seen == 0  # refused before any work
    for names, needle in ((["kid2k"], "e.g. 'kid1k'"), (["pr2k3"], "e.g. 'pr1k3'"), (["is2k"], "e.g. 'is1k'"),
                          (["msssim"], "e.g. 'msssim1k'"), (["swd2k"], "e.g. 'swd1k'")):
        with pytest.raises(GanforgeError, match=f"needs .* generated images but the generated set has 1500; .*{needle}"):
            compute_between(names, data, _blobs(1500, seed=9), extractor=ext, cache_dir=tmp_path)


def test_precision_recall_uses_n_generated_even_with_few_references(helpers, tmp_path):
    small = helpers.make_dataset(_blobs(300), name="small")
    (pr,) = compute(["pr1k3"], helpers.TinyGenerator(), small, extractor=PoolExtractor(), cache_dir=tmp_path)
    assert (pr.num_gen, pr.num_real) == (1000, 300)  # N generated; min(N, |data|) references
    (pr,) = compute_between(["pr1k3"], small, _blobs(1000, seed=9), extractor=PoolExtractor(), cache_dir=tmp_path)
    assert (pr.num_gen, pr.num_real) == (1000, 300)


def test_swd_with_a_count_needs_as_many_references_the_bare_form_takes_what_there_is(helpers, data, tmp_path):
    with pytest.raises(GanforgeError, match=r"metric 'swd2k' compares 2000 generated with as many reference images, "
                                            r"but only 1200 reference images are available .* e.g. 'swd1k'"):
        compute(["swd2k"], helpers.TinyGenerator(), data, cache_dir=tmp_path)
    with pytest.raises(GanforgeError, match=r"only 500 reference images"):
        compute_between(["swd1k"], data, _blobs(1000, seed=9), cache_dir=tmp_path, num_real=500)
    (swd,) = compute_between(["swd"], data, _blobs(700, seed=9), cache_dir=tmp_path)
    assert swd.num_gen == swd.num_real == 700  # documented: min(16384, references, generated)


def test_compute_seed_must_fit_numpy(helpers, data, tmp_path):
    for seed in (-1, 2**32, True):
        with pytest.raises(GanforgeError, match=r"seed must be an integer >= 0 and <= 4294967295"):
            compute(["kid1k"], helpers.TinyGenerator(), data, seed=seed, cache_dir=tmp_path)


# ---------------------------------------------------------------- intra-class FID (ifid{N}k)


@pytest.fixture
def labelled(helpers):
    """1200 blobs in 3 classes of 400 (labels 0, 1, 2, 0, 1, 2, ...)."""
    return helpers.make_dataset(_blobs(1200), torch.arange(1200) % 3, name="blobs3")


def _manual_intra_fid(G, dataset, extractor, n, seed):
    """Per-class FID written out from the documented protocol with ganforge.metrics.fid alone: class k's
    latents come from a CPU generator seeded with SeedSequence([seed, k]) (64 bits), all of them labelled k."""
    import numpy as np

    from ganforge.metrics.fid import fid_from_features
    from ganforge.images import to_uint8

    out = {}
    for k in range(G.num_classes):
        g = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, k]).generate_state(1, np.uint64)[0]))
        z = torch.randn(n, G.z_dim, generator=g)
        with torch.no_grad():
            fake = to_uint8(G(z, torch.full((n,), k, dtype=torch.int64)))
        gen_feats, _ = extractor.embed(fake)
        real_feats, _ = extractor.embed(dataset.images_u8[dataset.labels == k])
        out[str(k)] = fid_from_features(gen_feats, real_feats)
    return out


def test_parse_intra_fid_name():
    pm = parse_metric("ifid10k")
    assert (pm.spec.kind, pm.n, pm.spec.uses_extractor) == ("ifid", 10000, True)
    assert parse_metric("fid10k").spec.kind == "fid"  # the plain FID is not taken for an intra-class one
    with pytest.raises(GanforgeError, match=r"unknown metric 'ifid'.*ifid\{N\}k"):
        parse_metric("ifid")


def test_intra_fid_is_the_mean_of_per_class_fids(helpers, labelled, tmp_path):
    G = helpers.TinyGenerator(num_classes=3)
    ext = PoolExtractor()
    (rec,) = compute(["ifid1k"], G, labelled, extractor=ext, cache_dir=tmp_path, seed=5)
    manual = _manual_intra_fid(G, labelled, ext, 1000, seed=5)
    assert rec.details["classes"] == 3 and set(rec.details["per_class"]) == {"0", "1", "2"}
    for k, v in manual.items():
        assert rec.details["per_class"][k] == pytest.approx(v, rel=1e-9, abs=1e-12)
    assert rec.value == pytest.approx(sum(manual.values()) / 3, rel=1e-9)
    assert (rec.num_gen, rec.num_real) == (3000, 1200)  # N of every class; every reference image once
    assert rec.extractor == "test-pool8" and rec.dataset_hash == labelled.content_hash
    # the classes differ (the embedding moves z), so the per-class numbers are not one number three times
    assert len({round(v, 9) for v in rec.details["per_class"].values()}) == 3
    other = compute(["ifid1k"], G, labelled, extractor=ext, cache_dir=tmp_path, seed=6)[0].value
    assert other != rec.value


def test_intra_fid_does_not_depend_on_the_batch_size(helpers, labelled, tmp_path):
    G = helpers.TinyGenerator(num_classes=3)
    a = compute(["ifid1k"], G, labelled, extractor=PoolExtractor(), cache_dir=tmp_path, batch_size=1000)[0]
    b = compute(["ifid1k"], G, labelled, extractor=PoolExtractor(), cache_dir=tmp_path, batch_size=37)[0]
    for k in a.details["per_class"]:
        assert a.details["per_class"][k] == pytest.approx(b.details["per_class"][k], rel=1e-6)
    assert a.value == pytest.approx(b.value, rel=1e-6)


def test_intra_fid_caches_reference_statistics_per_class(helpers, labelled, tmp_path):
    G = helpers.TinyGenerator(num_classes=3)
    ext = CountingExtractor()
    first = compute(["ifid1k", "fid1k"], G, labelled, extractor=ext, cache_dir=tmp_path)
    # generated: 3 x 1000 per class + 1000 for fid1k; real: every class once + the whole set once
    assert ext.images_seen == 4000 + 1200 + 1200
    assert len(list(tmp_path.glob("real-stats-*.safetensors"))) == 3 + 1  # one per class, one for the whole set
    ext.images_seen = 0
    again = compute(["ifid1k", "fid1k"], G, labelled, extractor=ext, cache_dir=tmp_path)
    assert ext.images_seen == 4000  # every reference statistic came from the cache
    assert [r.value for r in again] == [r.value for r in first]
    # a different per-class cap is a different entry, and num_real counts what was used
    ext.images_seen = 0
    (capped,) = compute(["ifid1k"], G, labelled, extractor=ext, cache_dir=tmp_path, num_real=100)
    assert ext.images_seen == 3000 + 300 and capped.num_real == 300


class _ShortGenerator(torch.nn.Module):
    """Conditional, but returns one image fewer than asked for in every batch of more than one."""

    z_dim, num_classes, img_channels, img_resolution = 8, 3, 1, 32

    def __init__(self, helpers):
        super().__init__()
        self.inner = helpers.TinyGenerator(num_classes=3)

    def forward(self, z, c=None):
        out = self.inner(z, c)
        return out[:-1] if len(out) > 1 else out


def test_intra_fid_keeps_the_per_class_sample_count_promise(helpers, labelled, tmp_path):
    with pytest.raises(GanforgeError, match=r"metric 'ifid1k' needs 1000 generated images of class '0' but the "
                                            r"generator gave 984"):
        compute(["ifid1k"], _ShortGenerator(helpers), labelled, extractor=PoolExtractor(), cache_dir=tmp_path,
                batch_size=64)


def test_intra_fid_refusals_come_before_any_work(helpers, labelled, tmp_path):
    ext = CountingExtractor()

    def refused(G, data, match, names=("fid1k", "ifid1k")):
        with pytest.raises(GanforgeError, match=match):
            compute(list(names), G, data, extractor=ext, cache_dir=tmp_path)
        assert G.calls == 0 and ext.images_seen == 0  # not even the fid1k before it ran
        assert not list(tmp_path.glob("*.safetensors"))

    refused(helpers.TinyGenerator(), labelled,
            r"^metric 'ifid1k' \(intra-class FID\) needs a class-conditional generator, but TinyGenerator is "
            r"unconditional \(num_classes 0\); use 'fid1k' instead$")
    unlabelled = helpers.make_dataset(_blobs(1200), name="plain")
    refused(helpers.TinyGenerator(num_classes=3), unlabelled, r"reference data 'plain' has no class labels")
    refused(helpers.TinyGenerator(num_classes=4), labelled,
            r"^metric 'ifid1k' \(intra-class FID\): the generator has 4 classes but the reference data 'blobs3' has 3;")
    lonely = helpers.make_dataset(_blobs(11), torch.tensor([0] * 5 + [1] * 5 + [2]), name="lonely")
    refused(helpers.TinyGenerator(num_classes=3), lonely,
            r"needs at least 2 reference images of every class, but class '2' of 'lonely' has 1$")


def test_intra_fid_is_refused_for_image_folders(labelled, tmp_path):
    ext = CountingExtractor()
    with pytest.raises(GanforgeError, match=r"^metric 'ifid1k' needs a class-conditional generator .* it cannot be "
                                            r"computed from image folders, whose images carry no labels$"):
        compute_between(["fid1k", "ifid1k"], labelled, _blobs(3000, seed=9), extractor=ext, cache_dir=tmp_path)
    assert ext.images_seen == 0


def test_a_metric_gives_the_same_value_alone_or_beside_a_longer_one(helpers, data, tmp_path):
    # a conditional generator draws its labels after all latents, so the first 1000 samples of a
    # 2000-sample run are not a 1000-sample run's: values must not depend on what else is computed
    G = helpers.TinyGenerator(num_classes=10)
    alone = compute("fid1k", G, data, extractor=PoolExtractor(), cache_dir=tmp_path, seed=3)[0].value
    beside = compute("fid2k,fid1k", G, data, extractor=PoolExtractor(), cache_dir=tmp_path, seed=3)[1].value
    assert alone == beside
