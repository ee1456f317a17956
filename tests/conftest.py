"""Shared fixtures: small synthetic datasets so tests need neither the network nor real data.

The helpers that several test files import (plain functions and classes) live in the ``tests/helpers``
package; this file puts the ``tests`` folder on ``sys.path`` once (``--import-mode=importlib`` does not), so
tests import them as ``from helpers.data import make_dataset``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from helpers.data import make_dataset, make_translation_dataset  # noqa: E402

from ganforge.data.dataset import ImageDataset  # noqa: E402
from ganforge.metrics import EXTRACTORS  # noqa: E402
from ganforge.metrics.extractors import TorchExtractor  # noqa: E402


class Pool4(TorchExtractor):
    """A feature extractor for metric tests, registered as "test-pool4": 4x4 average-pooled pixels."""

    name = "test-pool4"
    feature_dim = 16
    num_logits = 0
    resize = "adaptive average pool to 4x4"

    @property
    def weights_hash(self):
        return "0" * 16

    def _load(self):
        return torch.nn.Identity()

    def _forward(self, net, x):
        return torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1) / 255, None


if "test-pool4" not in EXTRACTORS:
    EXTRACTORS.add("test-pool4", Pool4)


@pytest.fixture
def translation_dataset_factory():
    """``translation_dataset_factory(image_dataset, paired=..., split=...)`` -> TranslationDataset."""
    return make_translation_dataset


@pytest.fixture
def tiny_dataset() -> ImageDataset:
    return make_dataset()


@pytest.fixture
def image_folder(tmp_path):
    """A folder of 24 16x16 grayscale PNGs in two class sub-folders."""
    root = tmp_path / "images"
    ds = make_dataset(n=24, num_classes=2)
    for i in range(len(ds)):
        d = root / ds.class_names[int(ds.labels[i])]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ds.images_u8[i, 0].numpy(), mode="L").save(d / f"{i:03d}.png")
    return root


@pytest.fixture(autouse=True)
def _isolate_cache(tmp_path, monkeypatch):
    """Keep caches and data searches inside the test's temp folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GANFORGE_DATA", raising=False)
    np.random.seed(0)


@pytest.fixture
def dataset_factory():
    """``dataset_factory(n=..., channels=..., resolution=..., num_classes=...)`` -> ImageDataset."""
    return make_dataset


class TinyDisk:
    """A real, tiny file system (tmpfs of ``size`` bytes) mounted at ``path``: writes fail with ENOSPC
    exactly as on a full disk. ``fill()`` takes what space is left."""

    def __init__(self, path, size: int):
        self.path, self.size = path, size

    def fill(self) -> None:
        import errno as _errno

        with open(self.path / ".filler", "ab", buffering=0) as f:
            for size in (65536, 4096, 512, 1):
                try:
                    while True:
                        f.write(b"\0" * size)
                except OSError as e:
                    assert e.errno == _errno.ENOSPC


@pytest.fixture
def tiny_disk(tmp_path):
    """``tiny_disk(size=...)``: a tmpfs mount (needs root, as on the project's CI) where a full disk is real.

    Tests that need a real full disk use it; it is unmounted at the end of the test."""
    import os
    import subprocess

    mounts = []

    def make(size: int = 256 * 1024) -> TinyDisk:
        path = tmp_path / f"tinydisk{len(mounts)}"
        path.mkdir()
        if os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs (a real full disk) needs root")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
        mounts.append(path)
        return TinyDisk(path, size)

    yield make
    for path in mounts:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def official(tmp_path):
    """The stand-in for NVlabs' official StyleGAN code (``helpers.official.FakeOfficialCode``), importable
    during the test and unloaded after it."""
    from helpers.official import FakeOfficialCode

    fake = FakeOfficialCode(tmp_path / "official_code")
    yield fake
    fake.unload()
