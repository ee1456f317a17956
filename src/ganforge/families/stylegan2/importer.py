"""``ganforge import``: turn an official StyleGAN2 / StyleGAN2-ADA snapshot into a ganforge model.

The pickle is read by ``read_official_pickle`` (no code from it runs; see its module for the bounds
on the file itself); ``G_ema``'s recorded constructor arguments become a ``StyleGAN2Model`` config
section, its tensors (official names, which ganforge's StyleGAN2 uses as they are) are loaded with
``strict=True`` into ganforge's generator, and the result is written like a training export:
``generator.safetensors`` + ``model.json``, which ``load_generator``, ``generate``, ``eval`` and the
latent-space tools accept.

Constructor arguments ganforge's config cannot express (a different mapping width, noise turned off,
another resampling filter, ...) are refused with their names rather than silently dropped; arguments
that only change speed (``fused_modconv_default``, ``channels_last``) are ignored. ``claims`` says whether a
read snapshot is this family's (``ganforge.api.import_official`` asks every family's importer in turn);
StyleGAN3 snapshots (``SynthesisInput`` in G_ema's module or network) are left to the stylegan3 family.

Checks before anything is built
-------------------------------
A snapshot's arguments are data from the file, so nothing is built from them until they are checked:

* the arguments are converted to plain JSON values (at most 10,000 values counted with repeats,
  nested at most 16 deep; dict keys are strings, texts at most 10,000 characters, integers at most 1024
  bits); anything else is refused naming the argument;
* every size is an integer (not a bool, not a float such as ``8.5``) in the range ganforge's own
  StyleGAN2 config accepts: ``z_dim`` / ``w_dim`` 1-8192, ``c_dim`` 0-100,000, ``img_resolution`` a
  power of two 4-4096, ``img_channels`` 1 or 3, ``mapping_kwargs.num_layers`` 1-64, ``channel_base``
  1-2**20 and at least ``img_resolution``, ``channel_max`` 1-8192, ``num_fp16_res`` 0-16; the learning
  rate multiplier and ``conv_clamp`` are finite and positive, the architectures one of orig / skip /
  resnet; each failure is one GanforgeError naming the argument, its value and what is valid;
* the generator those arguments describe is built on the ``meta`` device (no memory) and compared
  with ``G_ema``'s tensors: names, shapes and floating-point dtypes must match (the message lists the
  first 5 differences of each kind and their count), and the network may not need more than twice
  the bytes the tensors' distinct storages hold, plus 1 MiB (tensors that share storage cannot make
  a small file allocate a large network). Only then is it built for real.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch

from ganforge.errors import GanforgeError
from ganforge.io.official_pickle import NetRecord, read_official_pickle, short_repr

# Official constructor defaults (training/networks_stylegan2.py) for the keys ganforge maps.
_SPEED_ONLY = {"fused_modconv_default", "channels_last"}
_MAPPING_DEFAULTS = {"embed_features": None, "layer_features": None, "activation": "lrelu",
                     "w_avg_beta": 0.998, "num_layers": 8, "lr_multiplier": 0.01}
_SYNTHESIS_DEFAULTS = {"channel_base": 32768, "channel_max": 512, "num_fp16_res": 4, "conv_clamp": None,
                       "architecture": "skip", "resample_filter": [1, 3, 3, 1], "use_noise": True,
                       "activation": "lrelu", "kernel_size": 3}
_SIZE_KEYS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
_ARCHITECTURES = ("orig", "skip", "resnet")

MAX_KWARG_VALUES = 10_000
"""Most values (counted with repeats) in one network's constructor arguments."""
MAX_KWARG_DEPTH = 16
"""Deepest nesting of constructor arguments."""
MAX_KWARG_TEXT = 10_000
"""Longest text value in constructor arguments."""
MAX_KWARG_INT_BITS = 1024
"""Largest integer in constructor arguments (bigger ones cannot even be printed in full)."""
NETWORK_BYTES_SLACK = 1 << 20
"""Bytes the built generator may need beyond twice what G_ema's tensor storages hold."""
_LIST_FIRST = 5


def _listing(names: list[str]) -> str:
    """The first few of ``names`` and how many there are in all."""
    shown = ", ".join(short_repr(n, 80) if not isinstance(n, str) or len(n) > 80 else n for n in names[:_LIST_FIRST])
    return shown + (f", ... ({len(names):,} in all)" if len(names) > _LIST_FIRST else "")


class _Plain:
    """Constructor arguments -> plain JSON values (numpy scalars and small arrays become numbers and
    lists, tuples lists, EasyDicts dicts), bounded in size and depth whatever the pickle shares."""

    def __init__(self, who: str, path: Path):
        self.who, self.path, self.left = who, path, MAX_KWARG_VALUES

    def __call__(self, v: Any, name: str, depth: int = 0) -> Any:
        self.left -= 1
        if self.left < 0 or depth > MAX_KWARG_DEPTH:
            raise GanforgeError(f"{str(self.path)!r}: {self.who}'s constructor arguments hold more than "
                                f"{MAX_KWARG_VALUES:,} values or nest deeper than {MAX_KWARG_DEPTH} levels (at "
                                f"{name or 'the top'}); "
                                "an official StyleGAN2 network's are a few dozen")
        if hasattr(v, "dtype") and hasattr(v, "item") and getattr(v, "ndim", None) == 0 \
                and not isinstance(v, torch.Tensor) and v.dtype.kind in "biufU":
            return self(v.item(), name, depth)  # numpy scalars (np.float64 is also a float)
        if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > MAX_KWARG_INT_BITS:
            raise GanforgeError(f"{str(self.path)!r}: {self.who}'s constructor argument {name} is a "
                                f"{v.bit_length():,}-bit integer, far outside any size StyleGAN2 uses")
        if isinstance(v, str) and len(v) > MAX_KWARG_TEXT:
            raise GanforgeError(f"{str(self.path)!r}: {self.who}'s constructor argument {name} is a text of "
                                f"{len(v):,} characters (at most {MAX_KWARG_TEXT:,} are read)")
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if hasattr(v, "dtype") and hasattr(v, "tolist") and not isinstance(v, torch.Tensor) \
                and v.dtype.kind in "biuf" and v.size <= 64:
            return self(v.tolist(), name, depth)
        if isinstance(v, (list, tuple)):
            if len(v) > self.left:
                self.left = -1
                return self(None, name, depth)
            return [self(x, f"{name}[{i}]", depth + 1) for i, x in enumerate(v)]
        if isinstance(v, dict):
            if len(v) > self.left:
                self.left = -1
                return self(None, name, depth)
            out = {}
            for k, x in v.items():
                if not isinstance(k, str):
                    raise GanforgeError(f"{str(self.path)!r}: {self.who}'s constructor argument {name} has the key "
                                        f"{short_repr(k, 40)}, not a name")
                key = k if len(k) <= 60 else f"{k[:57]}..."
                out[k] = self(x, f"{name}.{key}" if name else key, depth + 1)
            return out
        what = "a network" if isinstance(v, NetRecord) else f"a {type(v).__name__[:60]}"
        raise GanforgeError(f"{str(self.path)!r}: {self.who}'s constructor argument {name} is {what}, not a number, "
                            "text, list or dict as StyleGAN2's arguments are")


def _plain(v: Any) -> Any:
    """numpy scalars / tuples from the pickle -> plain JSON-able Python values (bounded)."""
    return _Plain("the network", Path("?"))(v, "")


class _Args:
    """One network's constructor arguments, read with checks that name the argument on failure."""

    _MISSING = object()

    def __init__(self, kwargs: dict, who: str, path: Path, prefix: str = ""):
        self.kw, self.who, self.path, self.prefix = kwargs, who, path, prefix

    def _bad(self, name: str, value: Any, valid: str) -> GanforgeError:
        return GanforgeError(f"{str(self.path)!r}: {self.who} was built with {self.prefix}{name}={short_repr(value)}, "
                             f"which is not valid: expected {valid}")

    def _get(self, name: str, default: Any, valid: str) -> Any:
        if name in self.kw:
            return self.kw[name]
        if default is self._MISSING:
            raise GanforgeError(f"{str(self.path)!r}: {self.who}'s constructor arguments lack {self.prefix}{name} "
                                f"(expected {valid})")
        return default

    def int(self, name: str, lo: int, hi: int, *, default: Any = _MISSING, pow2: bool = False,
            none_ok: bool = False) -> int | None:
        valid = (f"a power of two from {lo} to {hi}" if pow2 else f"an integer from {lo:,} to {hi:,}") \
            + (", or None" if none_ok else "")
        value = self._get(name, default, valid)
        if value is None and none_ok:
            return None
        if type(value) is not int or not lo <= value <= hi or (pow2 and value & (value - 1)):
            raise self._bad(name, value, valid)
        return value

    def number(self, name: str, *, default: Any = _MISSING, none_ok: bool = False) -> float | None:
        valid = "a finite number > 0" + (", or None" if none_ok else "")
        value = self._get(name, default, valid)
        if value is None and none_ok:
            return None
        if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
            raise self._bad(name, value, valid)
        return float(value)

    def choice(self, name: str, choices: tuple, *, default: Any = _MISSING) -> Any:
        valid = " or ".join(repr(c) for c in choices)
        value = self._get(name, default, valid)
        if type(value) is not type(choices[0]) or value not in choices:
            raise self._bad(name, value, valid)
        return value

    def section(self, name: str) -> _Args:
        value = self._get(name, {}, "a dict of arguments")
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise self._bad(name, value, "a dict of arguments")
        return _Args(value, self.who, self.path, f"{self.prefix}{name}.")


def is_stylegan3(rec: Any) -> bool:
    """Whether ``rec`` (G_ema's NetRecord) is an official StyleGAN3 generator: a ``Generator`` whose module
    (training/networks_stylegan3.py) defines ``SynthesisInput`` or whose ``synthesis.input`` is one."""
    if not isinstance(rec, NetRecord) or rec.class_name != "Generator":
        return False
    synthesis = rec.children.get("synthesis")
    first = synthesis.children.get("input") if synthesis is not None else None
    return "class SynthesisInput" in (rec.module_src or "") or getattr(first, "class_name", None) == "SynthesisInput"


def claims(snapshot: dict[str, Any]) -> bool:
    """Whether a snapshot read by ``read_official_pickle`` holds an official StyleGAN2 / StyleGAN2-ADA generator
    (training/networks_stylegan2.py: a ``Generator`` whose module defines ``modulated_conv2d``, not StyleGAN3)."""
    rec = snapshot.get("G_ema") if isinstance(snapshot, dict) else None
    return (isinstance(rec, NetRecord) and rec.class_name == "Generator" and not is_stylegan3(rec)
            and "def modulated_conv2d" in (rec.module_src or ""))


def _family(rec: NetRecord, path: Path) -> None:
    src = rec.module_src or ""
    if is_stylegan3(rec):
        raise GanforgeError(f"{str(path)!r} holds a StyleGAN3 generator, which the stylegan3 family imports (use "
                            "ganforge.api.import_official or `ganforge import`, which pick the family)")
    if rec.class_name != "Generator" or "def modulated_conv2d" not in src:
        raise GanforgeError(f"{str(path)!r}: G_ema is a {short_repr(rec.class_name, 60)} that is not the official "
                            f"StyleGAN2 generator (training/networks_stylegan2.py); cannot import it")


@dataclasses.dataclass(frozen=True)
class _Interface:
    model: Any
    resolution: int
    channels: int
    c_dim: int
    kwargs: dict


def _interface(g_kwargs: dict[str, Any], d_kwargs: dict[str, Any] | None, path: Path) -> _Interface:
    """Check the official Generator (and Discriminator) constructor arguments -> config and sizes."""
    from ganforge.families.stylegan2.recipe import StyleGAN2Model
    from ganforge.limits import BATCH_MAX, NUM_CLASSES_MAX, RESOLUTION_MAX, Z_DIM_MAX

    kw = _Plain("G_ema", path)(g_kwargs if isinstance(g_kwargs, dict) else {}, "")
    g = _Args(kw, "G_ema", path)
    mapping = g.section("mapping_kwargs")
    synthesis_kwargs = g.section("synthesis_kwargs")
    synthesis = _Args({**synthesis_kwargs.kw, **{k: v for k, v in kw.items()
                                                 if k not in _SIZE_KEYS + ("mapping_kwargs", "synthesis_kwargs")}},
                      "G_ema", path)
    unsupported = []
    for key, value in mapping.kw.items():
        if key in ("num_layers", "lr_multiplier"):
            continue
        if key in _MAPPING_DEFAULTS and value == _MAPPING_DEFAULTS[key]:
            continue
        if key in ("embed_features", "layer_features") and value == kw.get("w_dim"):
            continue  # equal to w_dim is what None means
        unsupported.append(f"mapping_kwargs.{key}={short_repr(value, 60)}")
    for key, value in synthesis.kw.items():
        if key in _SPEED_ONLY or key in ("channel_base", "channel_max", "num_fp16_res", "conv_clamp", "architecture"):
            continue
        if key in _SYNTHESIS_DEFAULTS and value == _SYNTHESIS_DEFAULTS[key]:
            continue
        unsupported.append(f"{key}={short_repr(value, 60)}")
    if unsupported:
        raise GanforgeError(f"{str(path)!r}: the generator was built with arguments ganforge's StyleGAN2 does not "
                            f"support: {_listing(unsupported)}")

    resolution = g.int("img_resolution", 4, RESOLUTION_MAX, pow2=True)
    channels = g.choice("img_channels", (1, 3))
    z_dim = g.int("z_dim", 1, Z_DIM_MAX)
    w_dim = g.int("w_dim", 1, Z_DIM_MAX)
    c_dim = g.int("c_dim", 0, NUM_CLASSES_MAX, default=0)
    cbase = synthesis.int("channel_base", 1, 2**20, default=32768)
    if cbase < resolution:
        raise GanforgeError(f"{str(path)!r}: G_ema was built with channel_base={cbase}, which is not valid: the "
                            f"{resolution}x{resolution} block would get {cbase} // {resolution} = 0 channels; expected "
                            f"an integer from img_resolution ({resolution}) to {2**20:,}")
    conv_clamp = synthesis.number("conv_clamp", default=None, none_ok=True)

    d = _Args(_Plain("D", path)(d_kwargs if isinstance(d_kwargs, dict) else {}, ""), "D", path)
    epilogue = d.section("epilogue_kwargs")
    model = StyleGAN2Model(
        z_dim=z_dim, w_dim=w_dim, map_layers=mapping.int("num_layers", 1, 64, default=8),
        map_lr_mult=mapping.number("lr_multiplier", default=0.01),
        cbase=cbase, cmax=synthesis.int("channel_max", 1, 8192, default=512),
        g_arch=synthesis.choice("architecture", _ARCHITECTURES, default="skip"),
        d_arch=d.choice("architecture", _ARCHITECTURES, default="resnet"),
        mbstd_group=epilogue.int("mbstd_group_size", 1, BATCH_MAX, default=4, none_ok=True),
        mbstd_channels=epilogue.int("mbstd_num_channels", 1, 64, default=1),
        conv_clamp=conv_clamp, num_fp16_res=synthesis.int("num_fp16_res", 0, 16, default=4),
        conditional=c_dim > 0)
    return _Interface(model, resolution, channels, c_dim, kw)


def model_config_from_kwargs(g_kwargs: dict[str, Any], d_kwargs: dict[str, Any] | None, path: Path):
    """``StyleGAN2Model`` from the official Generator (and Discriminator) constructor arguments.

    Raises:
        GanforgeError: an argument ganforge cannot represent, or one that is missing or out of range,
            naming it, its value and what is valid.
    """
    return _interface(g_kwargs, d_kwargs, Path(path)).model


def _check_tensors(shell: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path, summary: str) -> None:
    """G_ema's tensors against the network its arguments describe (built on the meta device):
    names, shapes, dtypes, and the bytes actually present."""
    want = shell.state_dict()
    missing = [k for k in want if k not in tensors]
    unexpected = [k for k in tensors if k not in want]
    shapes = [f"{k} (file {list(t.shape)}, network {list(want[k].shape)})"
              for k, t in tensors.items() if k in want and tuple(t.shape) != tuple(want[k].shape)]
    dtypes = [f"{k} ({t.dtype})" for k, t in tensors.items() if k in want and not t.is_floating_point()]
    problems = []
    for what, names in (("missing from the file", missing), ("not in the network", unexpected),
                        ("of another shape", shapes), ("not floating point", dtypes)):
        if names:
            problems.append(f"{len(names):,} {'tensor' if len(names) == 1 else 'tensors'} {what}: {_listing(names)}")
    if problems:
        raise GanforgeError(f"{str(path)!r}: G_ema's tensors do not fit the network its arguments describe "
                            f"({summary}): " + "; ".join(problems))
    need = sum(t.numel() * t.element_size() for t in want.values())
    storages = {}
    for t in tensors.values():
        s = t.untyped_storage()
        storages[(s.data_ptr(), s.nbytes())] = s.nbytes()
    have = sum(storages.values())
    if need > 2 * have + NETWORK_BYTES_SLACK:
        raise GanforgeError(f"{str(path)!r}: G_ema's arguments describe a network of {need:,} bytes but its tensors "
                            f"hold only {have:,} bytes of data (they share storage); refusing to build it")


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse an ``out`` that is a file or already holds an export (unless ``overwrite``)."""
    from ganforge.training.checkpoint import EXPORT_JSON, EXPORT_WEIGHTS

    existing = [t for t in (out / EXPORT_WEIGHTS, out / EXPORT_JSON) if t.exists()]
    if existing and not overwrite:
        raise GanforgeError(f"{existing[0]} already exists; pass --overwrite or choose another --out")
    if out.exists() and not out.is_dir():
        raise GanforgeError(f"--out {str(out)!r} is a file, not a folder")


def load_checked(G: torch.nn.Module, tensors: dict[str, torch.Tensor], pkl: Path) -> None:
    """``G.load_state_dict(tensors, strict=True)``, a mismatch as one GanforgeError."""
    try:
        G.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        text = str(e).strip().splitlines()[0][:500] if str(e).strip() else type(e).__name__
        raise GanforgeError(f"{str(pkl)!r}: G_ema's tensors do not fit the network its arguments describe: "
                            f"{text}") from None


def imported_meta(recipe: str, G: torch.nn.Module, mcfg: Any, res: int, channels: int, c_dim: int,
                  snap: dict[str, Any], pkl: Path, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The model.json of an imported generator: recipe ``recipe``, preset "imported", the model section
    ``mcfg``, the sizes, classes named by index, the snapshot's dataset and the official arguments."""
    from ganforge.version import __version__

    return {
        "format": "ganforge-generator", "version": 1, "ganforge_version": __version__,
        "recipe": recipe, "preset": "imported", "arch": G.arch,
        "model": dataclasses.asdict(mcfg), "resolution": res,
        "channels": channels, "num_classes": c_dim,
        "class_names": [str(i) for i in range(c_dim)], "z_dim": mcfg.z_dim,
        "dataset": dataset_name(snap), "dataset_hash": None, "kimg": None, "ema": True,
        "imported_from": {"file": pkl.name, "official_kwargs": kwargs},
    }


def write_model(out: Path, G: torch.nn.Module, meta: dict[str, Any]) -> Path:
    """Write the export (``generator.safetensors`` + ``model.json``) into ``out``; returns the weights path."""
    from ganforge.training.checkpoint import save_export

    try:
        out.mkdir(parents=True, exist_ok=True)
        return save_export(out, G, meta)
    except OSError as e:
        raise GanforgeError(f"cannot write to {str(out)!r}: {e.strerror or e}") from None


def dataset_name(snap: dict[str, Any]) -> str:
    """The training set path the snapshot records, or "unknown"."""
    tsk = snap.get("training_set_kwargs") or {}
    dataset = tsk.get("path") if isinstance(tsk, dict) else None
    return dataset if isinstance(dataset, str) and len(dataset) <= 4096 else "unknown"


def import_official(pkl: str | Path, out: str | Path, *, overwrite: bool = False,
                    snapshot: dict[str, Any] | None = None) -> Path:
    """Convert ``pkl`` into a ganforge model directory ``out`` (generator.safetensors + model.json).
    ``snapshot``: ``read_official_pickle(pkl)`` when the caller has already read it (not read again).

    Returns:
        The path of the written weights file.
    """
    from ganforge.families.stylegan2.recipe import build_generator

    pkl, out = Path(pkl), Path(out)
    check_out(out, overwrite)
    snap = snapshot if snapshot is not None else read_official_pickle(pkl)
    g = snap["G_ema"]
    _family(g, pkl)
    d = snap.get("D")
    iface = _interface(g.init_kwargs, d.init_kwargs if isinstance(d, NetRecord) else None, pkl)
    mcfg, res, channels, c_dim = iface.model, iface.resolution, iface.channels, iface.c_dim
    summary = (f"{mcfg.g_arch}, {channels}x{res}x{res}, z_dim {mcfg.z_dim}, w_dim {mcfg.w_dim}, channel_base "
               f"{mcfg.cbase}, channel_max {mcfg.cmax}")
    with torch.device("meta"):
        shell = build_generator(mcfg, resolution=res, channels=channels, num_classes=c_dim)
    _check_tensors(shell, g.state_dict, pkl, summary)
    del shell
    G = build_generator(mcfg, resolution=res, channels=channels, num_classes=c_dim)
    load_checked(G, g.state_dict, pkl)
    meta = imported_meta("stylegan2", G, mcfg, res, channels, c_dim, snap, pkl, iface.kwargs)
    return write_model(out, G, meta)


import_official.claims = claims  # what ganforge.api.import_official asks before calling the importer
