"""``ganforge import`` of official StyleGAN3 snapshots (``--cfg=stylegan3-t`` / ``stylegan3-r``, conditional
or not) as ganforge StyleGAN3 models.

The pickle is read by ``read_official_pickle`` (no code from it runs). ``claims`` recognises an official
StyleGAN3 generator: G_ema is a ``Generator`` whose module (training/networks_stylegan3.py) defines
``SynthesisInput`` or whose ``synthesis.input`` is one. G_ema's recorded constructor arguments become a
``StyleGAN3Model`` config section (recipe ``stylegan3``), its tensors, under the official names that
ganforge's StyleGAN3 generator uses as they are, are loaded with ``strict=True``, and the result is written
like a training export (``generator.safetensors`` + ``model.json``) that ``load_generator`` rebuilds.

How the arguments map
---------------------
``z_dim``, ``w_dim``, ``c_dim`` (> 0: ``conditional``), ``img_resolution``, ``img_channels``;
``mapping_kwargs.num_layers`` -> ``map_layers``; ``num_layers``, ``num_critical``, ``first_cutoff``,
``first_stopband``, ``last_stopband_rel``, ``margin_size``, ``output_scale``, ``filter_size``,
``lrelu_upsampling``, ``conv_clamp``, ``num_fp16_res`` and ``magnitude_ema_beta`` keep their names.
``conv_kernel`` 3 without radial filters is config T, ``conv_kernel`` 1 with ``use_radial_filters`` config R;
``channel_base`` / ``channel_max`` are G's own, so for config R they are halved into ``cbase`` / ``cmax``
(which hold the official ``--cbase`` / ``--cmax``; the recipe doubles them again for R's generator).

Refused, with the argument and its value named: any other ``conv_kernel`` / ``use_radial_filters``
combination, an odd ``channel_base`` / ``channel_max`` for config R, a mapping ``lr_multiplier`` other
than 0.01 or ``w_avg_beta`` other than 0.998 (the StyleGAN3 config has no field for them), and any
argument the official StyleGAN3 generator does not take. No argument is ignored: the official StyleGAN3
generator has no speed-only arguments (``num_fp16_res``, which only picks fp16 layers on CUDA, and
``magnitude_ema_beta``, which only matters for training, are kept in the config).

Sizes and numbers are checked before anything is built (integers in the ranges of ganforge's own
StyleGAN3 config, finite positive floats); the generator is then built on the ``meta`` device and compared
with G_ema's tensors (names, shapes, dtypes, bytes present), as the StyleGAN2 importer does.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.errors import GanforgeError
from ganforge.families.stylegan2.importer import (
    _Args,
    _check_tensors,
    _listing,
    _Plain,
    check_out,
    imported_meta,
    is_stylegan3,
    load_checked,
    write_model,
)
from ganforge.io.official_pickle import NetRecord, read_official_pickle, short_repr

__all__ = ["claims", "import_official", "model_config_from_kwargs"]

_SIZE_KEYS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
_MAPPING_KEYS = {"num_layers", "lr_multiplier", "w_avg_beta"}
_SYNTHESIS_KEYS = {"channel_base", "channel_max", "num_layers", "num_critical", "first_cutoff", "first_stopband",
                   "last_stopband_rel", "margin_size", "output_scale", "num_fp16_res", "conv_kernel", "filter_size",
                   "lrelu_upsampling", "use_radial_filters", "conv_clamp", "magnitude_ema_beta"}


def claims(snapshot: dict[str, Any]) -> bool:
    """Whether a snapshot read by ``read_official_pickle`` holds an official StyleGAN3 generator."""
    return isinstance(snapshot, dict) and is_stylegan3(snapshot.get("G_ema"))


def _bool(a: _Args, name: str, default: bool) -> bool:
    value = a.kw.get(name, default)
    if type(value) is not bool:
        raise a._bad(name, value, "True or False")
    return value


def _fraction(a: _Args, name: str, default: float) -> float:
    value = a.number(name, default=default)
    if value > 1:
        raise a._bad(name, value, "a number in (0, 1]")
    return value


def _interface(g_kwargs: Any, d_kwargs: Any, path: Path):
    """Check the official StyleGAN3 Generator (and StyleGAN2 Discriminator) arguments -> (StyleGAN3Model,
    resolution, channels, c_dim, the plain arguments)."""
    from ganforge.families.stylegan3.config import StyleGAN3Model
    from ganforge.limits import BATCH_MAX, NUM_CLASSES_MAX, RESOLUTION_MAX, Z_DIM_MAX

    kw = _Plain("G_ema", path)(g_kwargs if isinstance(g_kwargs, dict) else {}, "")
    g = _Args(kw, "G_ema (a StyleGAN3 generator)", path)
    mapping = g.section("mapping_kwargs")
    synthesis = _Args({k: v for k, v in kw.items() if k not in _SIZE_KEYS + ("mapping_kwargs",)},
                      "G_ema (a StyleGAN3 generator)", path)
    unsupported = [f"mapping_kwargs.{k}={short_repr(v, 60)}" for k, v in mapping.kw.items() if k not in _MAPPING_KEYS]
    unsupported += [f"{k}={short_repr(v, 60)}" for k, v in synthesis.kw.items() if k not in _SYNTHESIS_KEYS]
    if unsupported:
        raise GanforgeError(f"{str(path)!r}: the StyleGAN3 generator was built with arguments ganforge's StyleGAN3 "
                            f"does not support: {_listing(unsupported)}")

    resolution = g.int("img_resolution", 4, RESOLUTION_MAX, pow2=True)
    channels = g.choice("img_channels", (1, 3))
    c_dim = g.int("c_dim", 0, NUM_CLASSES_MAX, default=0)
    if mapping.number("lr_multiplier", default=0.01) != 0.01:
        raise mapping._bad("lr_multiplier", mapping.kw["lr_multiplier"], "0.01 (ganforge's StyleGAN3 has no setting "
                           "for another mapping learning rate multiplier)")
    if mapping.number("w_avg_beta", default=0.998) != 0.998:
        raise mapping._bad("w_avg_beta", mapping.kw["w_avg_beta"], "0.998 (ganforge's StyleGAN3 has no setting for "
                           "another decay of the average w)")
    conv_kernel = synthesis.choice("conv_kernel", (3, 1), default=3)
    radial = _bool(synthesis, "use_radial_filters", False)
    if (conv_kernel, radial) not in ((3, False), (1, True)):
        raise GanforgeError(f"{str(path)!r}: the StyleGAN3 generator was built with conv_kernel={conv_kernel} and "
                            f"use_radial_filters={radial}, which is neither config T (conv_kernel=3, "
                            "use_radial_filters=False) nor config R (conv_kernel=1, use_radial_filters=True); "
                            "ganforge's StyleGAN3 supports those two")
    cfg = "r" if radial else "t"
    k = 2 if radial else 1  # G's channel_base / channel_max are twice the config's cbase / cmax for config R
    cbase = synthesis.int("channel_base", 1, k * 2**20, default=32768)
    cmax = synthesis.int("channel_max", 1, k * 8192, default=512)
    if cfg == "r":
        for name, value in (("channel_base", cbase), ("channel_max", cmax)):
            if value % 2:
                raise synthesis._bad(name, value, "an even number for config R (G's channels are twice the "
                                     "official --cbase / --cmax, which ganforge's config holds)")
        cbase, cmax = cbase // 2, cmax // 2
    num_layers = synthesis.int("num_layers", 3, 64, default=14)
    num_critical = synthesis.int("num_critical", 1, 64, default=2)
    if num_critical >= num_layers:
        raise synthesis._bad("num_critical", num_critical, f"less than num_layers ({num_layers})")
    last_stopband_rel = synthesis.number("last_stopband_rel", default=2 ** 0.3)
    if not 1 < last_stopband_rel <= 16:
        raise synthesis._bad("last_stopband_rel", last_stopband_rel, "a number in (1, 16]")

    d = _Args(_Plain("D", path)(d_kwargs if isinstance(d_kwargs, dict) else {}, ""), "D", path)
    epilogue = d.section("epilogue_kwargs")
    model = StyleGAN3Model(
        cfg=cfg, z_dim=g.int("z_dim", 1, Z_DIM_MAX), w_dim=g.int("w_dim", 1, Z_DIM_MAX),
        map_layers=mapping.int("num_layers", 1, 64, default=2), cbase=cbase, cmax=cmax,
        num_layers=num_layers, num_critical=num_critical,
        first_cutoff=synthesis.number("first_cutoff", default=2.0),
        first_stopband=synthesis.number("first_stopband", default=2 ** 2.1), last_stopband_rel=last_stopband_rel,
        margin_size=synthesis.int("margin_size", 0, 256, default=10),
        output_scale=synthesis.number("output_scale", default=0.25),
        filter_size=synthesis.int("filter_size", 1, 64, default=6),
        lrelu_upsampling=synthesis.int("lrelu_upsampling", 1, 8, default=2),
        conv_clamp=synthesis.number("conv_clamp", default=256, none_ok=True),
        num_fp16_res=synthesis.int("num_fp16_res", 0, 64, default=4),
        magnitude_ema_beta=_fraction(synthesis, "magnitude_ema_beta", 0.999),
        d_arch=d.choice("architecture", ("orig", "skip", "resnet"), default="resnet"),
        mbstd_group=epilogue.int("mbstd_group_size", 1, BATCH_MAX, default=4, none_ok=True),
        mbstd_channels=epilogue.int("mbstd_num_channels", 1, 64, default=1),
        conditional=c_dim > 0)
    return model, resolution, channels, c_dim, kw


def model_config_from_kwargs(g_kwargs: dict[str, Any], d_kwargs: dict[str, Any] | None, path: str | Path):
    """``StyleGAN3Model`` from the official StyleGAN3 Generator (and Discriminator) constructor arguments.

    Raises:
        GanforgeError: an argument ganforge cannot represent, or one that is missing or out of range,
            naming it, its value and what is valid.
    """
    return _interface(g_kwargs, d_kwargs, Path(path))[0]


def _build(mcfg: Any, res: int, channels: int, c_dim: int, path: Path) -> torch.nn.Module:
    from ganforge.families.stylegan3.recipe import build_generator

    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():  # odd designs: NaN is caught below
            warnings.simplefilter("ignore")
            return build_generator(mcfg, resolution=res, channels=channels, num_classes=c_dim)
    except (GanforgeError, ArithmeticError, ValueError, TypeError, IndexError, AssertionError, RuntimeError) as e:
        # a layer design the arguments cannot give: build_generator's check_design (non-finite or inverted
        # cutoffs/stopbands, a layer without feature maps, too many weights) or what slips past it
        text = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        raise GanforgeError(f"{str(path)!r}: the StyleGAN3 generator's arguments describe no buildable network: "
                            f"{text}") from None


def import_official(pkl: str | Path, out: str | Path, *, overwrite: bool = False,
                    snapshot: dict[str, Any] | None = None) -> Path:
    """Convert the official StyleGAN3 snapshot ``pkl`` into a ganforge model directory ``out``
    (generator.safetensors + model.json). ``snapshot``: ``read_official_pickle(pkl)`` when the caller has
    already read it (not read again).

    Returns:
        The path of the written weights file.
    """
    pkl, out = Path(pkl), Path(out)
    check_out(out, overwrite)
    snap = snapshot if snapshot is not None else read_official_pickle(pkl)
    g = snap["G_ema"]
    if not claims(snap):
        raise GanforgeError(f"{str(pkl)!r}: G_ema is a {short_repr(getattr(g, 'class_name', g), 60)} that is not the "
                            "official StyleGAN3 generator (training/networks_stylegan3.py); cannot import it as "
                            "StyleGAN3")
    d = snap.get("D")
    mcfg, res, channels, c_dim, kwargs = _interface(g.init_kwargs, d.init_kwargs if isinstance(d, NetRecord) else None,
                                                    pkl)
    summary = (f"StyleGAN3 config {mcfg.cfg.upper()}, {channels}x{res}x{res}, z_dim {mcfg.z_dim}, w_dim "
               f"{mcfg.w_dim}, c_dim {c_dim}, {mcfg.num_layers} layers")
    with torch.device("meta"):
        shell = _build(mcfg, res, channels, c_dim, pkl)
    _check_tensors(shell, g.state_dict, pkl, summary)
    del shell
    G = _build(mcfg, res, channels, c_dim, pkl)
    load_checked(G, g.state_dict, pkl)
    meta = imported_meta("stylegan3", G, mcfg, res, channels, c_dim, snap, pkl, kwargs)
    return write_model(out, G, meta)


import_official.claims = claims  # what ganforge.api.import_official asks before calling the importer
