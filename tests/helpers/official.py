"""Helpers for the official-pickle tests: a stand-in for NVlabs' official StyleGAN code, pickle opcodes
written by hand, and official StyleGAN2 snapshots of the anchor networks.

``FakeOfficialCode`` writes a stand-in package (``torch_utils.persistence``, ``dnnlib``, ``training.*``) to a
temp folder whose decorator pickles networks with the official structure - ``_reconstruct_persistent_obj(meta)``
with the module source embedded in ``meta``; tests build tiny networks, pickle a snapshot dict, then unload the
package before the file is read (the ``official`` fixture of tests/conftest.py does that around a test).
"""

from __future__ import annotations

import importlib
import json
import pickle
import struct
import sys
import textwrap
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

# The official StyleGAN2 networks and their outputs (shared/anchors, beside the checkout).
ANCHORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "anchors" / "stylegan2-official"

# -- the stand-in official code ----------------------------------------------------------------

PERSISTENCE_SRC = '''
"""Test stand-in for NVlabs torch_utils.persistence: the same pickle structure, little else."""
import copy
import inspect
import sys
import types

_version = 6
_exec_sources = {}  # name of a module made from pickled source -> that source


def persistent_class(cls):
    src = _exec_sources.get(cls.__module__) or inspect.getsource(sys.modules[cls.__module__])

    class Persistent(cls):
        _persistent_src = src
        _persistent_name = cls.__name__

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._init_args = copy.deepcopy(args)
            self._init_kwargs = copy.deepcopy(kwargs)

        def __reduce__(self):
            meta = {"type": "class", "version": _version, "module_src": self._persistent_src,
                    "class_name": self._persistent_name, "state": dict(self.__dict__)}
            return _reconstruct_persistent_obj, (meta,)

    Persistent.__name__ = Persistent.__qualname__ = cls.__name__
    return Persistent


def _reconstruct_persistent_obj(meta):
    # Runs the pickled module source, as the real loader does; tests use it only as a control.
    name = "_test_imported_module_%d" % len(_exec_sources)
    module = types.ModuleType(name)
    sys.modules[name] = module
    _exec_sources[name] = meta["module_src"]
    exec(meta["module_src"], module.__dict__)
    cls = module.__dict__[meta["class_name"]]
    obj = cls.__new__(cls)
    obj.__setstate__(meta["state"])
    return obj
'''

DNNLIB_UTIL_SRC = '''
class EasyDict(dict):
    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)

    def __setattr__(self, name, value):
        self[name] = value

    def __getstate__(self):  # the pickle then also carries an (empty) BUILD state after the items: a variant to accept
        return {}
'''

NETWORKS_SRC = '''
import pathlib

import numpy as np
import torch

from torch_utils import persistence


@persistence.persistent_class
class FullyConnectedLayer(torch.nn.Module):
    def __init__(self, in_features, out_features, bias=True, lr_multiplier=1.0):
        super().__init__()
        self.in_features = in_features
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full([out_features], 0.5)) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)


@persistence.persistent_class
class MappingNetwork(torch.nn.Module):
    def __init__(self, z_dim, w_dim, num_layers=2, lr_multiplier=0.01):
        super().__init__()
        self.num_layers = num_layers
        for idx in range(num_layers):
            layer = FullyConnectedLayer(z_dim if idx == 0 else w_dim, w_dim, lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        self.register_buffer("w_avg", torch.randn([w_dim]))


@persistence.persistent_class
class SynthesisLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, w_dim, resolution, *more, use_noise=True):
        super().__init__()
        self.size = np.broadcast_to(np.asarray(resolution), [2])
        self.cutoffs = np.linspace(1.0, 2.0, 3)
        self.use_fp16 = np.bool_(True)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias=False)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, 3, 3]))
        self.act = torch.nn.LeakyReLU(0.2)
        self.register_buffer("noise_const", torch.randn([resolution, resolution]))
        self.register_buffer("up_filter", None)
        self.register_buffer("scratch", torch.zeros([2]), persistent=False)
        self.register_buffer("noise_fp16", torch.randn([3]).to(torch.float16))
        self.register_buffer("counts", torch.arange(4, dtype=torch.int64))
        self.register_buffer("strided", torch.randn([2, 3]).t())


@persistence.persistent_class
class Generator(torch.nn.Module):
    def __init__(self, z_dim, w_dim, img_resolution, img_channels, mapping_kwargs={}, synthesis_kwargs={}):
        super().__init__()
        self.z_dim = z_dim
        self.sampling_rate = np.float64(img_resolution)
        self.mapping = MappingNetwork(z_dim=z_dim, w_dim=w_dim, **mapping_kwargs)
        self.synthesis = torch.nn.Sequential(
            SynthesisLayer(2 * img_channels, 2 * img_channels, w_dim, img_resolution, "more"),
            torch.nn.Linear(img_resolution, img_resolution))
        self.register_module("unused", None)


@persistence.persistent_class
class Discriminator(torch.nn.Module):
    def __init__(self, c_dim, img_resolution, img_channels, block_kwargs={}):
        super().__init__()
        self.block_resolutions = [img_resolution, img_resolution // 2]
        self.b4 = FullyConnectedLayer(img_channels * img_resolution ** 2, 4)
        self.out = FullyConnectedLayer(4, 1)
        self.out_alias = self.out  # one sub-network under two names


class Evil:
    """Not persistent: pickled as a reference to this class, restored through __setstate__."""

    def __init__(self, marker):
        self.marker = marker

    def __setstate__(self, state):
        pathlib.Path(state["marker"]).write_text("Evil.__setstate__ ran")
'''

AUGMENT_SRC = '''
import torch

from torch_utils import persistence


@persistence.persistent_class
class AugmentPipe(torch.nn.Module):
    def __init__(self, xflip=0, rotate90=0, xint=0):
        super().__init__()
        self.register_buffer("p", torch.zeros([]))
        self.xflip = float(xflip)
        self.rotate90 = float(rotate90)
'''

FAKE_PACKAGES = ("torch_utils", "dnnlib", "training")
TRAINING_SET_KWARGS = dict(class_name="training.dataset.ImageFolderDataset", path="/data/ffhq-4.zip",
                           use_labels=False, max_size=70000, xflip=True, resolution=4, random_seed=0)


def is_fake_module(name: str) -> bool:
    return name.split(".")[0] in FAKE_PACKAGES or name.startswith("_test_imported_module_")


class FakeOfficialCode:
    """The stand-in official package, importable until ``unload()``."""

    def __init__(self, root: Path):
        assert not any(is_fake_module(m) for m in sys.modules), "stand-in package names already imported"
        files = {"torch_utils/__init__.py": "", "torch_utils/persistence.py": PERSISTENCE_SRC,
                 "dnnlib/__init__.py": "from .util import EasyDict\n", "dnnlib/util.py": DNNLIB_UTIL_SRC,
                 "training/__init__.py": "", "training/networks_stylegan2.py": NETWORKS_SRC,
                 "training/augment.py": AUGMENT_SRC}
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(textwrap.dedent(text))
        self.root = str(root)
        self.load()

    def load(self):
        sys.path.insert(0, self.root)
        importlib.invalidate_caches()
        self.persistence = importlib.import_module("torch_utils.persistence")
        self.dnnlib = importlib.import_module("dnnlib")
        self.nets = importlib.import_module("training.networks_stylegan2")
        self.augment = importlib.import_module("training.augment")

    def unload(self):
        while self.root in sys.path:
            sys.path.remove(self.root)
        for name in [m for m in sys.modules if is_fake_module(m)]:
            del sys.modules[name]

    def snapshot(self, *, extra_in_g_ema: dict | None = None) -> dict:
        """A snapshot dict shaped like the official training loop's, of tiny networks."""
        torch.manual_seed(0)
        g_kwargs = dict(z_dim=8, w_dim=16, img_resolution=4, img_channels=1,
                        mapping_kwargs=self.dnnlib.EasyDict(num_layers=2),
                        synthesis_kwargs=self.dnnlib.EasyDict(gain=np.float64(1.5)))
        snap = dict(training_set_kwargs=dict(TRAINING_SET_KWARGS))
        snap["G"] = self.nets.Generator(**g_kwargs)
        snap["D"] = self.nets.Discriminator(c_dim=0, img_resolution=4, img_channels=1,
                                            block_kwargs=self.dnnlib.EasyDict(activation="lrelu"))
        snap["G_ema"] = self.nets.Generator(**g_kwargs)
        snap["augment_pipe"] = self.augment.AugmentPipe(xflip=1, rotate90=1)
        for key in ("G", "D", "G_ema", "augment_pipe"):
            snap[key].eval().requires_grad_(False)
        for name, value in (extra_in_g_ema or {}).items():
            setattr(snap["G_ema"], name, value)
        return snap


# -- pickles written opcode by opcode (protocol 4 unless the bytes say otherwise) --------------


def str_op(text: str) -> bytes:
    """The opcode pushing the string ``text`` (SHORT_BINUNICODE, or BINUNICODE from 256 bytes on)."""
    data = text.encode()
    return (b"\x8c" + bytes([len(data)]) if len(data) < 256 else b"X" + struct.pack("<I", len(data))) + data


def global_op(module: str, name: str) -> bytes:
    """The GLOBAL opcode pushing ``module.name``."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


# -- official StyleGAN2 snapshots of the anchor networks ---------------------------------------

SG2_SOURCE = "# stand-in for training/networks_stylegan2.py\ndef modulated_conv2d(x):\n    pass\n"


class Persistent:
    """Pickles a torch module tree the way NVlabs' persistence decorator does: every module becomes
    ``_reconstruct_persistent_obj(meta)`` with the module source embedded and its ``__dict__`` as state."""

    def __init__(self, reconstruct, module: torch.nn.Module, src: str, init_kwargs: dict | None = None):
        self.reconstruct, self.module, self.src, self.init_kwargs = reconstruct, module, src, init_kwargs or {}

    def __reduce__(self):
        m = self.module
        state = {
            "training": False,
            "_parameters": OrderedDict((k, v) for k, v in m._parameters.items()),
            "_buffers": OrderedDict((k, v) for k, v in m._buffers.items()),
            "_non_persistent_buffers_set": set(m._non_persistent_buffers_set),
            "_modules": OrderedDict((k, Persistent(self.reconstruct, c, self.src)) for k, c in m._modules.items()),
            "_init_args": (),
            "_init_kwargs": self.init_kwargs,
        }
        meta = {"type": "class", "version": 6, "module_src": self.src, "class_name": type(m).__name__,
                "state": state}
        return self.reconstruct, (meta,)


def anchor_nets():
    """(spec, G, D): ganforge's StyleGAN2 networks holding the anchors' official weights."""
    from safetensors.torch import load_file

    from ganforge.families.stylegan2.networks import Discriminator, Generator

    spec = json.loads((ANCHORS / "sg2-32gray.json").read_text())
    tensors = load_file(str(ANCHORS / "sg2-32gray.safetensors"))
    G = Generator(**spec["G_kwargs"]).eval()
    G.load_state_dict({k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")})
    D = Discriminator(**spec["D_kwargs"]).eval()
    D.load_state_dict({k[len("D."):]: v for k, v in tensors.items() if k.startswith("D.")})
    return spec, G, D


def write_snapshot(official: FakeOfficialCode, path: Path, src: str = SG2_SOURCE, g_kwargs=None) -> Path:
    """An official-format snapshot of the anchor networks (module source ``src``) written to ``path``."""
    spec, G, D = anchor_nets()
    rc = official.persistence._reconstruct_persistent_obj
    snap = {"training_set_kwargs": {"path": "fmnist.zip", "resolution": 32, "use_labels": False},
            "G": Persistent(rc, G, src, g_kwargs or spec["G_kwargs"]),
            "D": Persistent(rc, D, src, spec["D_kwargs"]),
            "G_ema": Persistent(rc, G, src, g_kwargs or spec["G_kwargs"]),
            "augment_pipe": None}
    path.write_bytes(pickle.dumps(snap, protocol=4))
    return path
