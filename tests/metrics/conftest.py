"""Shared helpers for the metrics tests.

Reference implementations (pytorch-fid, torch-fidelity) both import torchvision at module level, and
PyPI's torchvision cannot be imported next to this project's CPU torch build. The loaders below make
only the *specific functions under test* importable, without faking anything they execute:

* ``pytorch_fid.fid_score.calculate_frechet_distance`` uses numpy/scipy only; the module's top-level
  ``import torchvision.transforms`` and ``from pytorch_fid.inception import InceptionV3`` are satisfied
  by empty placeholder modules, installed with monkeypatch (removed after the test).
* torch-fidelity's ``metric_kid``, ``metric_prc`` and ``feature_extractor_inceptionv3`` are loaded as
  submodules of a placeholder ``torch_fidelity`` package object whose ``__path__`` is the real
  package folder, so the real files are executed but the package ``__init__`` (which imports
  torchvision-dependent extractors) is skipped; ``torch_fidelity.utils`` (file I/O and extractor
  plumbing, torchvision-dependent) is replaced by a placeholder whose functions raise if called.
* pytorch-fid's Inception (``pytorch_fid.inception``) subclasses torchvision's pure-Python
  ``torchvision/models/inception.py``. When ``import torchvision`` fails (its C extension does not
  match the installed torch), the real torchvision *files* are still used: placeholder package
  objects for ``torchvision`` and ``torchvision.models`` point at the installed folders, so the
  package ``__init__`` files (which load the C operators) are skipped while ``models/inception.py``
  and its imports run unchanged. The weights download is replaced by a given state_dict.
If a real torchvision import works, nothing is stubbed for it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from ganforge.data.dataset import ImageDataset, content_hash

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass
class FakeDataset(ImageDataset):
    """An ``ImageDataset`` that also names its split (as the CLI's datasets do through their name)."""

    split: str = "test"


def make_dataset(images: torch.Tensor, labels: torch.Tensor | None = None, name: str = "fake") -> FakeDataset:
    class_names = tuple(str(i) for i in range(int(labels.max()) + 1)) if labels is not None else ()
    return FakeDataset(images, labels, class_names, name, content_hash(images, labels))


class TinyGenerator(nn.Module):
    """Deterministic toy generator: z -> tanh(linear) image; optional mapping/synthesis for W space."""

    def __init__(self, z_dim=8, channels=1, resolution=32, num_classes=0, with_mapping=False):
        super().__init__()
        self.z_dim, self.img_channels, self.img_resolution, self.num_classes = z_dim, channels, resolution, num_classes
        g = torch.Generator().manual_seed(123)
        self.fc = nn.Linear(z_dim, channels * resolution * resolution)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(self.fc.weight.shape, generator=g) * 0.5)
            self.fc.bias.zero_()
        self.embed = nn.Embedding(max(num_classes, 1), z_dim)
        self.with_mapping = with_mapping
        self.calls = 0

    def _map(self, z, c):
        return z + (self.embed(c) if c is not None and self.num_classes else 0)

    def _synth(self, w):
        return torch.tanh(self.fc(w)).view(-1, self.img_channels, self.img_resolution, self.img_resolution)

    def forward(self, z, c=None):
        self.calls += 1
        return self._synth(self._map(z, c))


class MappedGenerator(TinyGenerator):
    def mapping(self, z, c=None):
        return self._map(z, c)

    def synthesis(self, w):
        return self._synth(w)


@pytest.fixture
def helpers():
    """The helper classes/functions of this conftest (test modules cannot import conftest by name)."""
    return types.SimpleNamespace(
        TinyGenerator=TinyGenerator, MappedGenerator=MappedGenerator, make_dataset=make_dataset, FakeDataset=FakeDataset
    )


def read_idx(path: Path):
    import gzip

    import numpy as np

    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.fixture(scope="session")
def fmnist_test():
    if not (FMNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not found at /usr/share/datasets/fashion-mnist")
    x = torch.from_numpy(read_idx(FMNIST_DIR / "t10k-images-idx3-ubyte.gz").copy()).unsqueeze(1)
    y = torch.from_numpy(read_idx(FMNIST_DIR / "t10k-labels-idx1-ubyte.gz").astype("int64"))
    return x, y


def _torchvision_works() -> bool:
    try:
        import torchvision  # noqa: F401

        return True
    except Exception:
        return False


@pytest.fixture
def pytorch_fid_score(monkeypatch):
    """The real ``pytorch_fid/fid_score.py`` module (see the module docstring for the stubbing)."""
    spec = importlib.util.find_spec("pytorch_fid")
    if spec is None:
        pytest.skip("pytorch-fid is not installed (pip install pytorch-fid --no-deps)")
    if not _torchvision_works():
        tv = types.ModuleType("torchvision")
        tvt = types.ModuleType("torchvision.transforms")
        tv.transforms = tvt
        monkeypatch.setitem(sys.modules, "torchvision", tv)
        monkeypatch.setitem(sys.modules, "torchvision.transforms", tvt)
        inc = types.ModuleType("pytorch_fid.inception")

        class _InceptionPlaceholder:  # only read at import (argparse choices); never instantiated
            BLOCK_INDEX_BY_DIM = {64: 0, 192: 1, 768: 2, 2048: 3}

        inc.InceptionV3 = _InceptionPlaceholder
        monkeypatch.setitem(sys.modules, "pytorch_fid.inception", inc)
    path = Path(spec.submodule_search_locations[0]) / "fid_score.py"
    mspec = importlib.util.spec_from_file_location("_ref_pytorch_fid_score", path)
    mod = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(mod)
    return mod


@pytest.fixture
def pytorch_fid_inception(monkeypatch):
    """Returns (build, pfi): build(state_dict) -> pytorch-fid's ``InceptionV3`` (2048-d pool block) with
    those weights; pfi is the ``pytorch_fid.inception`` module (its weight download patched by build)."""
    if importlib.util.find_spec("pytorch_fid") is None:
        pytest.skip("pytorch-fid is not installed (pip install pytorch-fid --no-deps)")
    tv_spec = importlib.util.find_spec("torchvision")
    if tv_spec is None:
        pytest.skip("torchvision is not installed (pytorch-fid's Inception subclasses its blocks)")
    before = set(sys.modules)
    if not _torchvision_works():
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]  # leftovers of the failed import
        root = tv_spec.submodule_search_locations[0]
        tv = types.ModuleType("torchvision")
        tv.__path__ = [root]
        tv.__version__ = importlib.metadata.version("torchvision")
        tvm = types.ModuleType("torchvision.models")
        tvm.__path__ = [str(Path(root) / "models")]
        tv.models = tvm
        sys.modules["torchvision"], sys.modules["torchvision.models"] = tv, tvm
        inc = importlib.import_module("torchvision.models.inception")
        tvm.inception = inc
        tvm.inception_v3 = inc.inception_v3
    sys.modules.pop("pytorch_fid.inception", None)
    pfi = importlib.import_module("pytorch_fid.inception")

    def build(state_dict):
        monkeypatch.setattr(pfi, "load_state_dict_from_url", lambda *a, **k: state_dict)
        return pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()

    yield build, pfi
    for name in set(sys.modules) - before:
        if name.startswith(("torchvision", "pytorch_fid")):
            del sys.modules[name]
    if "torchvision" in sys.modules and not isinstance(getattr(sys.modules["torchvision"], "__file__", None), str):
        del sys.modules["torchvision"]


@pytest.fixture
def torch_fidelity_module(monkeypatch):
    """Loader of torch-fidelity submodules that skips the torchvision-importing package __init__."""
    spec = importlib.util.find_spec("torch_fidelity")
    if spec is None:
        pytest.skip("torch-fidelity is not installed (pip install torch-fidelity --no-deps)")
    pkg_dir = spec.submodule_search_locations[0]
    for name in list(sys.modules):
        if name == "torch_fidelity" or name.startswith("torch_fidelity."):
            monkeypatch.delitem(sys.modules, name)
    pkg = types.ModuleType("torch_fidelity")
    pkg.__path__ = [pkg_dir]
    monkeypatch.setitem(sys.modules, "torch_fidelity", pkg)
    utils = types.ModuleType("torch_fidelity.utils")

    def _unavailable(*a, **k):
        raise RuntimeError("torch_fidelity.utils is stubbed in ganforge's tests")

    for n in (
        "create_feature_extractor",
        "extract_featuresdict_from_input_id_cached",
        "resolve_feature_extractor",
        "resolve_feature_layer_for_metric",
        "get_kwarg",
    ):
        setattr(utils, n, _unavailable)
    monkeypatch.setitem(sys.modules, "torch_fidelity.utils", utils)

    def load(sub: str):
        mod = importlib.import_module(f"torch_fidelity.{sub}")
        return mod

    return load
