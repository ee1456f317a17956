"""The FID Inception-v3: checkpoint compatibility, parity with a reference implementation, weights lookup."""

from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganforge.errors import GanforgeError
from ganforge.metrics import extractors as ex
from ganforge.metrics.inception import FIDInceptionV3, preprocess


def _randomise(net: torch.nn.Module, seed: int = 0) -> None:
    """Random conv weights (He init) and random BN affine/statistics so every layer matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(1 + torch.rand(m.running_var.shape, generator=g))
            elif isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.02)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g))


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    net = FIDInceptionV3()
    _randomise(net)
    path = tmp_path_factory.mktemp("inception") / "random_inception.pth"
    torch.save(net.state_dict(), path)
    return path


def _images(n=2, seed=0, size=299, channels=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)


def test_state_dict_matches_torch_fidelity_inception(torch_fidelity_module, random_weights):
    # torch-fidelity's FID Inception loads the same converted checkpoint (sha256 prefix 6726825d)
    # with strict=True; loading our state_dict into it proves identical keys and shapes.
    tf_inc = torch_fidelity_module("feature_extractor_inceptionv3")
    ref = tf_inc.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(random_weights))
    mine = FIDInceptionV3().state_dict()
    theirs = ref.state_dict()
    assert list(mine) == list(theirs)
    assert all(mine[k].shape == theirs[k].shape for k in mine)
    assert len(mine) > 500


def test_state_dict_matches_pytorch_fid_inception(pytorch_fid_inception):
    build, pfi = pytorch_fid_inception
    mine = FIDInceptionV3().state_dict()
    build(mine)  # makes pfi's weight "download" return our state_dict
    theirs = pfi.fid_inception_v3().state_dict()  # loads it with strict=True internally
    assert {k: v.shape for k, v in mine.items()} == {k: v.shape for k, v in theirs.items()}


def test_features_and_logits_match_reference_network(torch_fidelity_module, random_weights):
    tf_inc = torch_fidelity_module("feature_extractor_inceptionv3")
    ref = tf_inc.FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(random_weights)
    )
    x = _images(2)
    with torch.no_grad():
        ref_feat, ref_logits = ref(x)  # uint8 299x299: its TF1 resize is the identity; input (x-128)/128
        net = FIDInceptionV3()
        net.load_state_dict(torch.load(random_weights, weights_only=True), strict=True)
        net.eval()
        feat, logits = net((x.float() - 128) / 128)
    for a, b in ((feat, ref_feat), (logits, ref_logits)):
        err = (a - b).abs().max() / b.abs().max()
        assert err < 1e-5, err
    assert feat.shape == (2, 2048) and logits.shape == (2, 1008)
    assert feat.std() > 1e-3  # random weights still give non-degenerate features


def test_features_match_pytorch_fid_end_to_end(pytorch_fid_inception, random_weights):
    """pytorch-fid's own InceptionV3 (its resize + normalisation + FID blocks) vs our extractor."""
    build, _ = pytorch_fid_inception
    ref = build(torch.load(random_weights, weights_only=True))
    x = _images(2, size=32, channels=1)
    with torch.no_grad():
        ref_feat = ref(x.repeat(1, 3, 1, 1).float() / 255)[0].flatten(1).numpy()
    e = ex.get_extractor("inception-v3-fid", weights_path=str(random_weights), protocol="pytorch-fid")
    with pytest.warns(UserWarning, match="not the TF 2015-12-05"):
        feat = e.features(x)
    assert np.abs(feat - ref_feat).max() / np.abs(ref_feat).max() < 1e-5
    assert ref_feat.std() > 1e-3


def test_preprocess_follows_pytorch_fid():
    x = _images(2, size=32, channels=1)
    out = preprocess(x)
    rgb = x.repeat(1, 3, 1, 1)
    expected = 2 * F.interpolate(rgb.float() / 255, size=(299, 299), mode="bilinear", align_corners=False) - 1
    assert out.shape == (2, 3, 299, 299)
    assert torch.equal(out, expected)
    assert out.min() >= -1 and out.max() <= 1


def test_extractor_with_weights_file_and_batch_independence(random_weights):
    e = ex.get_extractor("inception-v3-fid", weights_path=str(random_weights))
    x = _images(2, size=32, channels=1)
    with pytest.warns(UserWarning, match="not the TF 2015-12-05"):
        f2, l2 = e.embed(x, batch_size=2)
    assert e.weights_hash == ex.inception_content_hash(torch.load(random_weights, weights_only=True))[:16]
    f1, l1 = e.embed(x, batch_size=1)
    assert f2.shape == (2, 2048) and l2.shape == (2, 1008)
    assert np.abs(f1 - f2).max() <= 1e-5 * np.abs(f2).max()
    assert np.abs(l1 - l2).max() <= 1e-5 * np.abs(l2).max()


# ---------------------------------------------------------------- weights lookup


@pytest.fixture
def no_weights_anywhere(tmp_path, monkeypatch):
    monkeypatch.delenv(ex.ENV_INCEPTION_WEIGHTS, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    calls = []

    def offline(url, dst, hash_prefix):
        calls.append(url)
        raise OSError("network is unreachable")

    monkeypatch.setattr(ex, "_download", offline)
    return tmp_path / "hub" / "checkpoints", calls


def test_offline_without_file_is_one_clear_error(no_weights_anywhere):
    hub, calls = no_weights_anywhere
    e = ex.get_extractor("inception-v3-fid")  # constructing loads nothing
    with pytest.raises(GanforgeError) as info:
        e.features(_images(1, size=8, channels=1))
    msg = str(info.value)
    assert calls and "6726825d" in calls[0]
    assert str(hub / "pt_inception-2015-12-05-6726825d.pth") in msg
    assert "GANFORGE_INCEPTION_WEIGHTS" in msg and "--inception-weights" in msg


def test_hub_checkpoint_is_found_without_download(no_weights_anywhere, random_weights):
    hub, calls = no_weights_anywhere
    hub.mkdir(parents=True)
    (hub / "pt_inception-2015-12-05-6726825d.pth").write_bytes(random_weights.read_bytes())
    assert ex.resolve_inception_weights() == hub / "pt_inception-2015-12-05-6726825d.pth"
    assert calls == []


def test_env_var_and_explicit_path(no_weights_anywhere, random_weights, monkeypatch, tmp_path):
    monkeypatch.setenv(ex.ENV_INCEPTION_WEIGHTS, str(random_weights))
    assert ex.resolve_inception_weights() == random_weights
    monkeypatch.setenv(ex.ENV_INCEPTION_WEIGHTS, str(tmp_path / "missing.pth"))
    with pytest.raises(GanforgeError, match="GANFORGE_INCEPTION_WEIGHTS"):
        ex.resolve_inception_weights()
    with pytest.raises(GanforgeError, match="--inception-weights"):
        ex.resolve_inception_weights(str(tmp_path / "nope.pth"))


def test_wrong_weights_file_is_user_error(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, bad)
    e = ex.get_extractor("inception-v3-fid", weights_path=str(bad))
    with pytest.raises(GanforgeError, match="cannot load FID Inception weights"):
        e.features(_images(1, size=8, channels=1))


def test_inception_rejects_four_channels(random_weights):
    e = ex.get_extractor("inception-v3-fid", weights_path=str(random_weights))
    with pytest.raises(GanforgeError, match="1- or 3-channel"):
        e.features(torch.zeros(1, 4, 8, 8, dtype=torch.uint8))
