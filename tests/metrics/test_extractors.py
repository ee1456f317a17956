"""Extractor registry, the shipped fmnist-cnn weights, batch-size independence, input checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import EXTRACTORS, get_extractor
from ganforge.metrics.extractors import WEIGHTS_DIR, TorchExtractor, default_extractor_name, file_sha256


def test_builtin_extractors_are_registered_with_metadata():
    assert {"inception-v3-fid", "fmnist-cnn"} <= set(EXTRACTORS.names())
    e = get_extractor("fmnist-cnn")
    assert (e.name, e.feature_dim, e.num_logits) == ("fmnist-cnn", 128, 10)
    assert len(e.weights_hash) == 16 and e.protocol == "native"  # content hash: test_inception_protocols.py
    assert "pad" in e.resize


def test_unknown_extractor_lists_choices():
    with pytest.raises(GanforgeError, match="fmnist-cnn.*inception-v3-fid"):
        get_extractor("vgg-nope")


def test_default_extractor_choice():
    assert default_extractor_name(1, 28) == "fmnist-cnn"
    assert default_extractor_name(1, 32) == "fmnist-cnn"
    assert default_extractor_name(3, 32) == "inception-v3-fid"
    assert default_extractor_name(1, 64) == "inception-v3-fid"


class MeanPixelExtractor(TorchExtractor):
    """A user extractor: per-channel mean and std of the pixels."""

    name = "test-mean-pixel"
    feature_dim = 2
    resize = "none"

    def _weights_file(self):
        raise AssertionError("not used")

    @property
    def weights_hash(self):
        return "none"

    def _load(self):
        return torch.nn.Identity()

    def _forward(self, net, x):
        return torch.stack([x.mean(dim=(1, 2, 3)), x.std(dim=(1, 2, 3))], 1), None


def test_user_extractor_can_be_registered_and_used():
    if "test-mean-pixel" not in EXTRACTORS:
        EXTRACTORS.add("test-mean-pixel", MeanPixelExtractor)
    e = get_extractor("test-mean-pixel")
    x = torch.full((3, 1, 4, 4), 10, dtype=torch.uint8)
    f = e.features(x)
    assert f.shape == (3, 2) and np.allclose(f[:, 0], 10.0)
    with pytest.raises(GanforgeError, match="no classifier logits"):
        e.logits(x)
    with pytest.raises(ValueError, match="duplicate"):
        EXTRACTORS.add("test-mean-pixel", MeanPixelExtractor)


def test_fmnist_weights_json_records_accuracy():
    info = json.loads((WEIGHTS_DIR / "fmnist_cnn.json").read_text())
    assert info["test_accuracy"] >= 0.93
    assert info["sha256"] == file_sha256(WEIGHTS_DIR / "fmnist_cnn.safetensors")
    assert "train_fmnist_extractor.py" in info["command"]


def test_fmnist_cnn_classifies_real_test_images(fmnist_test):
    x, y = fmnist_test
    e = get_extractor("fmnist-cnn")
    logits = e.logits(x[:500], batch_size=250)
    acc = float((logits.argmax(1) == y[:500].numpy()).mean())
    assert acc >= 0.9, acc
    # 28 px input and the same image zero-padded to 32 px give the same features
    padded = torch.nn.functional.pad(x[:8], (2, 2, 2, 2))
    assert np.allclose(e.features(x[:8]), e.features(padded), atol=1e-6)


def test_fmnist_features_do_not_depend_on_batch_size():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 1, 32, 32), generator=g, dtype=torch.uint8)
    e = get_extractor("fmnist-cnn")
    f16, l16 = e.embed(x, batch_size=16)
    f1, l1 = e.embed(x, batch_size=1)
    assert np.abs(f16 - f1).max() < 1e-5 and np.abs(l16 - l1).max() < 1e-5


@pytest.mark.parametrize(
    "images,match",
    [
        (torch.zeros(2, 3, 32, 32, dtype=torch.uint8), "1-channel 28x28 or 32x32"),
        (torch.zeros(2, 1, 64, 64, dtype=torch.uint8), "1-channel 28x28 or 32x32"),
        (torch.zeros(2, 1, 32, 32), "expects a uint8 tensor"),
        (np.zeros((2, 1, 32, 32), np.uint8), "expects a uint8 tensor"),
    ],
)
def test_fmnist_rejects_bad_images(images, match):
    with pytest.raises(GanforgeError, match=match):
        get_extractor("fmnist-cnn").features(images)


def test_import_is_cheap_and_loads_no_weights():
    import subprocess
    import sys

    code = (
        "import sys, torch; loads = []; orig = torch.load\n"
        "torch.load = lambda *a, **k: loads.append(a) or orig(*a, **k)\n"
        "import safetensors.torch as st; st.load_file = lambda *a, **k: loads.append(a)\n"
        "import ganforge.metrics as m\n"
        "m.get_extractor('fmnist-cnn'); m.get_extractor('inception-v3-fid')\n"
        "assert not loads, loads\n"
    )
    env = {"PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[2] / "src")}
    import os

    env = {**os.environ, **env}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
