"""``ganforge import``: turn an official StyleGAN2 / StyleGAN2-ADA snapshot into a ganforge model.

The pickle is read by ``read_official_pickle`` (no code from it runs); ``G_ema``'s recorded
constructor arguments become a ``StyleGAN2Model`` config section, its tensors (official names, which
ganforge's StyleGAN2 uses as they are) are loaded with ``strict=True`` into ganforge's generator,
and the result is written like a training export: ``generator.safetensors`` + ``model.json``, which
``load_generator``, ``generate``, ``eval`` and the latent-space tools accept.

Constructor arguments ganforge's config cannot express (a different mapping width, noise turned off,
another resampling filter, ...) are refused with their names rather than silently dropped; arguments
that only change speed (``fused_modconv_default``, ``channels_last``) are ignored. StyleGAN3 snapshots
(``SynthesisInput`` in the module) are recognised and refused: ganforge has no StyleGAN3 yet.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ganforge.errors import GanforgeError
from ganforge.io.official_pickle import NetRecord, read_official_pickle

# Official constructor defaults (training/networks_stylegan2.py) for the keys ganforge maps.
_SPEED_ONLY = {"fused_modconv_default", "channels_last"}
_MAPPING_DEFAULTS = {"embed_features": None, "layer_features": None, "activation": "lrelu",
                     "w_avg_beta": 0.998, "num_layers": 8, "lr_multiplier": 0.01}
_SYNTHESIS_DEFAULTS = {"channel_base": 32768, "channel_max": 512, "num_fp16_res": 4, "conv_clamp": None,
                       "architecture": "skip", "resample_filter": [1, 3, 3, 1], "use_noise": True,
                       "activation": "lrelu", "kernel_size": 3}


def _plain(v: Any) -> Any:
    """numpy scalars / tuples from the pickle -> plain JSON-able Python values."""
    if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", 1) == 0:
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _family(rec: NetRecord, path: Path) -> None:
    src = rec.module_src or ""
    if "class SynthesisInput" in src:
        raise GanforgeError(f"{str(path)!r} holds a StyleGAN3 generator; ganforge imports StyleGAN2 / StyleGAN2-ADA "
                            f"snapshots only (StyleGAN3 is not implemented yet)")
    if rec.class_name != "Generator" or "def modulated_conv2d" not in src:
        raise GanforgeError(f"{str(path)!r}: G_ema is a {rec.class_name!r} that is not the official StyleGAN2 "
                            f"generator (training/networks_stylegan2.py); cannot import it")


def model_config_from_kwargs(g_kwargs: dict[str, Any], d_kwargs: dict[str, Any] | None, path: Path):
    """``StyleGAN2Model`` from the official Generator (and Discriminator) constructor arguments.

    Raises:
        GanforgeError: an argument ganforge cannot represent, naming it and its value.
    """
    from ganforge.recipes.stylegan2 import StyleGAN2Model

    kw = _plain(dict(g_kwargs))
    mapping = dict(kw.pop("mapping_kwargs", {}) or {})
    synthesis = {**dict(kw.pop("synthesis_kwargs", {}) or {}), **{k: v for k, v in kw.items()
                                                                   if k not in ("z_dim", "c_dim", "w_dim",
                                                                                "img_resolution", "img_channels")}}
    unsupported = []
    for key, value in mapping.items():
        if key in ("num_layers", "lr_multiplier"):
            continue
        if key in _MAPPING_DEFAULTS and value == _MAPPING_DEFAULTS[key]:
            continue
        if key in ("embed_features", "layer_features") and value == kw.get("w_dim"):
            continue  # equal to w_dim is what None means
        unsupported.append(f"mapping_kwargs.{key}={value!r}")
    for key, value in synthesis.items():
        if key in _SPEED_ONLY or key in ("channel_base", "channel_max", "num_fp16_res", "conv_clamp", "architecture"):
            continue
        if key in _SYNTHESIS_DEFAULTS and value == _SYNTHESIS_DEFAULTS[key]:
            continue
        unsupported.append(f"{key}={value!r}")
    if unsupported:
        raise GanforgeError(f"{str(path)!r}: the generator was built with arguments ganforge's StyleGAN2 does not "
                            f"support: {', '.join(unsupported)}")
    d = _plain(dict(d_kwargs or {}))
    epilogue = dict(d.get("epilogue_kwargs", {}) or {})
    conv_clamp = synthesis.get("conv_clamp", None)
    return StyleGAN2Model(
        z_dim=int(kw["z_dim"]), w_dim=int(kw["w_dim"]), map_layers=int(mapping.get("num_layers", 8)),
        map_lr_mult=float(mapping.get("lr_multiplier", 0.01)),
        cbase=int(synthesis.get("channel_base", 32768)), cmax=int(synthesis.get("channel_max", 512)),
        g_arch=str(synthesis.get("architecture", "skip")), d_arch=str(d.get("architecture", "resnet")),
        mbstd_group=epilogue.get("mbstd_group_size", 4), mbstd_channels=int(epilogue.get("mbstd_num_channels", 1)),
        conv_clamp=None if conv_clamp is None else float(conv_clamp),
        num_fp16_res=int(synthesis.get("num_fp16_res", 4)), conditional=int(kw.get("c_dim", 0)) > 0)


def import_official(pkl: str | Path, out: str | Path, *, overwrite: bool = False) -> Path:
    """Convert ``pkl`` into a ganforge model directory ``out`` (generator.safetensors + model.json).

    Returns:
        The path of the written weights file.
    """
    from ganforge import __version__
    from ganforge.recipes.stylegan2 import build_generator
    from ganforge.training.checkpoint import EXPORT_JSON, EXPORT_WEIGHTS, save_export

    pkl, out = Path(pkl), Path(out)
    targets = [out / EXPORT_WEIGHTS, out / EXPORT_JSON]
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise GanforgeError(f"{existing[0]} already exists; pass --overwrite or choose another --out")
    if out.exists() and not out.is_dir():
        raise GanforgeError(f"--out {str(out)!r} is a file, not a folder")
    snap = read_official_pickle(pkl)
    g = snap["G_ema"]
    _family(g, pkl)
    d = snap.get("D")
    kw = _plain(g.init_kwargs)
    mcfg = model_config_from_kwargs(g.init_kwargs, d.init_kwargs if isinstance(d, NetRecord) else None, pkl)
    c_dim = int(kw.get("c_dim", 0))
    G = build_generator(mcfg, resolution=int(kw["img_resolution"]), channels=int(kw["img_channels"]),
                        num_classes=c_dim)
    try:
        G.load_state_dict(g.state_dict, strict=True)
    except RuntimeError as e:
        raise GanforgeError(f"{str(pkl)!r}: G_ema's tensors do not fit the network its arguments describe: {e}") from None
    tsk = snap.get("training_set_kwargs") or {}
    meta = {
        "format": "ganforge-generator", "version": 1, "ganforge_version": __version__,
        "recipe": "stylegan2", "preset": "imported", "arch": G.arch,
        "model": dataclasses.asdict(mcfg), "resolution": int(kw["img_resolution"]),
        "channels": int(kw["img_channels"]), "num_classes": c_dim,
        "class_names": [str(i) for i in range(c_dim)], "z_dim": int(kw["z_dim"]),
        "dataset": str(tsk.get("path", "unknown")) if isinstance(tsk, dict) else "unknown",
        "dataset_hash": None, "kimg": None, "ema": True,
        "imported_from": {"file": pkl.name, "official_kwargs": kw},
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        return save_export(out, G, meta)
    except OSError as e:
        raise GanforgeError(f"cannot write to {str(out)!r}: {e.strerror or e}") from None
