"""Type, choice and range checks for every field of an ``Experiment``, run before any work.

``RULES`` holds one rule per dotted config key (a test fails when a field has none), so a value that
would crash later (inside torch, after the dataset loaded, hours into training) stops up front with
one ``GanforgeError`` naming the key, the value and what is allowed. ``validate_experiment`` first
checks each value against its declared type (``bool`` is not an ``int``, an ``int`` field rejects
floats), then its rule, then the few rules that tie fields together.

The bounds below are sanity limits, far above any sensible setting, that catch typos and values
whose cost is unbounded (a z_dim of 10**9 allocates terabytes; a total_kimg of inf never ends):

* lengths in kimg (``train.total_kimg``, ``train.tick_kimg``, ``train.ema_halflife_kimg``,
  ``metrics.interval_kimg``): finite, > 0 and <= 1e7 kimg (10 billion images; the longest published
  GAN runs, StyleGAN2 on FFHQ/LSUN, are 25-50 thousand kimg). ``total_kimg`` is at least 0.001
  (one image), below which nothing would be trained.
* ``train.seed``: 0 .. 2**32-1. The KID metric seeds ``numpy.random.RandomState``, which takes
  exactly that range; torch's generators accept < 2**64 and the derived seeds (seed + 7,
  seed + 1000 * rank, seed * 1_000_003 + epoch in the sampler) stay far below that.
* ``train.batch_size``: 1 .. 65536 (BigGAN's 2048 is the largest in common use).
* ``train.grid_size``: 1 .. 4096 images (a 64 x 64 grid; also ``ganforge generate --grid``'s limit).
* ``model.z_dim``: 1 .. 8192; ``model.g_width`` / ``model.d_width``: 1 .. 1024 (published models of
  these families use 64-256); ``loss.n_critic``: 1 .. 100 (WGAN uses 5).
* ``data.resolution``: 1 .. 4096 px (the architectures support up to 128).
* ``data.name``, ``data.root``: paths a file system can hold: no file or folder name in them longer than
  255 bytes, at most 4095 bytes in all (the operating system refuses longer ones).
* learning rates: finite and > 0; Adam betas: >= 0 and < 1 (torch's own domain, checked for RMSprop
  too, which ignores them); penalty weights and ``loss.clip_value``: finite and > 0, or none.
* counts without a natural ceiling (``train.snapshot_ticks``, ``train.keep_checkpoints``,
  ``train.max_bad_steps``): >= 1; ``data.device_cache_max_bytes``: >= 0.
* ``data.workers``: 0 .. 64 decoding processes (or none: one per core, at most 8); ``data.prefetch``:
  1 .. 64 batches per worker.
"""

from __future__ import annotations

import math
import os
import re
import typing
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Callable

from ganforge.config import TRACKERS, Experiment, _check_typed
from ganforge.errors import GanforgeError, choices_error
from ganforge.limits import (  # defined once, for the CLI, the config and the data layer
    BATCH_MAX,
    FILE_NAME_MAX,
    GRID_MAX,
    KIMG_MAX,
    PATH_MAX,
    RESOLUTION_MAX,
    SEED_MAX,
)
from ganforge.metrics.inception import PROTOCOLS  # light: torch only, no weights
from ganforge.registry import RECIPES

# A file or folder name (NAME_MAX of ext4, XFS, btrfs, tmpfs) and a whole path (PATH_MAX, 4096 with the
# terminating NUL), in bytes.
NAME_MAX_BYTES = FILE_NAME_MAX
PATH_MAX_BYTES = PATH_MAX - 1


def _fmt(x: float) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return str(x)


class Rule:
    def check(self, key: str, value: Any) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Num(Rule):
    """A number in a range; ``none_ok`` when None means "disabled"."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    none_ok: bool = False

    def describe(self) -> str:
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {_fmt(self.lo)}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {_fmt(self.hi)}")
        text = ("an integer" if self.integer else "a finite number") + (" " + " and ".join(parts) if parts else "")
        return text + (", or none (disabled)" if self.none_ok else "")

    def check(self, key: str, value: Any) -> None:
        if value is None and self.none_ok:
            return
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok and self.lo is not None:
            ok = value > self.lo if self.lo_open else value >= self.lo
        if ok and self.hi is not None:
            ok = value < self.hi if self.hi_open else value <= self.hi
        if not ok:
            raise GanforgeError(f"{key} must be {self.describe()}, got {value!r}")


def Int(lo: int, hi: int | None = None, none_ok: bool = False) -> Num:
    return Num(lo, hi, integer=True, none_ok=none_ok)


def Positive(hi: float | None = None, none_ok: bool = False) -> Num:
    return Num(0.0, hi, lo_open=True, none_ok=none_ok)


@dataclass(frozen=True)
class Choice(Rule):
    choices: tuple

    def check(self, key: str, value: Any) -> None:
        if value not in self.choices:
            raise GanforgeError(f"unknown {key} {value!r}; valid choices: "
                                + ", ".join("none" if v is None else str(v) for v in self.choices))


@dataclass(frozen=True)
class Registered(Rule):
    """A name in a registry, found through ``where`` ("module:ATTRIBUTE"), imported on first use."""

    where: str
    none_ok: bool = False

    def check(self, key: str, value: Any) -> None:
        if value is None and self.none_ok:
            return
        import importlib

        module, attr = self.where.split(":")
        registry = getattr(importlib.import_module(module), attr)
        if value not in registry:
            raise choices_error(key, value, list(registry.names()) + (["none"] if self.none_ok else []))


@dataclass(frozen=True)
class Text(Rule):
    """A non-empty string (or None when ``none_ok``)."""

    none_ok: bool = False

    def check(self, key: str, value: Any) -> None:
        if value is None and self.none_ok:
            return
        if not isinstance(value, str) or not value.strip() or "\0" in value:
            raise GanforgeError(f"{key} must be a non-empty text" + (" or none" if self.none_ok else "")
                                + f", got {value!r}")


@dataclass(frozen=True)
class PathText(Text):
    """A non-empty path (or None when ``none_ok``) that a file system can hold: no file or folder name in it
    longer than ``NAME_MAX_BYTES`` bytes, the whole at most ``PATH_MAX_BYTES`` bytes (UTF-8), checked
    before anything looks at it (the operating system would refuse it with ENAMETOOLONG)."""

    def check(self, key: str, value: Any) -> None:
        super().check(key, value)
        if value is None:
            return
        from ganforge.data.folder import shown_path

        try:
            raw = os.fsencode(value)
        except UnicodeError:
            raise GanforgeError(f"{key} {shown_path(value)} is not a valid path: it holds characters that cannot "
                                f"be encoded for the file system") from None
        longest = max(raw.split(b"/"), key=len)
        if len(longest) > NAME_MAX_BYTES:
            which = "" if longest == raw else f" (the one starting {os.fsdecode(longest)[:24]!r})"
            raise GanforgeError(f"{key} {shown_path(value)} has a file or folder name of {len(longest)} bytes"
                                f"{which}; file systems allow at most {NAME_MAX_BYTES} bytes per name")
        if len(raw) > PATH_MAX_BYTES:
            raise GanforgeError(f"{key} {shown_path(value)} is a path of {len(raw)} bytes; file systems allow at most "
                                f"{PATH_MAX_BYTES} bytes per path")


@dataclass(frozen=True)
class Name(Rule):
    """A name used in file names: letters, digits, '.', '_', '+', '-', starting with a letter or digit."""

    def check(self, key: str, value: Any) -> None:
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}", value):
            raise GanforgeError(f"{key} must be 1-100 letters, digits, '.', '_', '+' or '-' starting with a "
                                f"letter or digit (it names the run directory), got {value!r}")


@dataclass(frozen=True)
class Flag(Rule):
    """A boolean; the declared-type check already rejects everything else."""

    def check(self, key: str, value: Any) -> None:
        if not isinstance(value, bool):
            raise GanforgeError(f"bad value {value!r} for {key}: expected a boolean (true/false)")


@dataclass(frozen=True)
class Device(Rule):
    def check(self, key: str, value: Any) -> None:
        from ganforge.devices import resolve_device

        resolve_device(value, key)


@dataclass(frozen=True)
class Each(Rule):
    """Every item of a tuple satisfies ``item`` (a rule or a callable(key, value))."""

    item: Rule | Callable[[str, Any], None]

    def check(self, key: str, value: Any) -> None:
        for v in value:
            (self.item.check if isinstance(self.item, Rule) else self.item)(key, v)


def _metric_name(key: str, value: Any) -> None:
    from ganforge.metrics.protocol import parse_metric

    try:
        parse_metric(value)
    except GanforgeError as e:
        raise GanforgeError(f"{key}: {e}") from None


KIMG = Positive(KIMG_MAX)

# Rules of the sections every experiment has. The family sections (model.*, loss.*) get theirs from
# the recipe (``Recipe.config_rules``); ``rules_for`` joins the two.
COMMON_RULES: dict[str, Rule] = {
    "preset": Name(),
    "recipe": Registered("ganforge.registry:RECIPES"),
    "data.name": PathText(),
    "data.root": PathText(none_ok=True),
    "data.split": Choice(("train", "test")),
    "data.resolution": Int(1, RESOLUTION_MAX, none_ok=True),
    "data.resize": Choice(("crop", "pad", "stretch")),
    "data.channels": Choice((1, 3, None)),
    "data.on_bad_image": Choice(("error", "skip")),
    "data.pairing": Choice(("aligned", "matched", "unpaired", None)),
    "data.use_labels": Flag(),
    "data.device_cache_max_bytes": Int(0),
    "data.stream": Choice(("auto", "always", "never")),
    "data.workers": Int(0, 64, none_ok=True),
    "data.prefetch": Int(1, 64),
    "data.max_file_bytes": Int(1),
    "data.max_image_pixels": Int(1),
    "optim.name": Choice(("adam", "rmsprop")),
    "optim.g_lr": Positive(),
    "optim.d_lr": Positive(),
    "optim.beta1": Num(0.0, 1.0, hi_open=True),
    "optim.beta2": Num(0.0, 1.0, hi_open=True),
    "optim.lr_decay_start_kimg": Num(0.0, KIMG_MAX, none_ok=True),
    "train.batch_size": Int(1, BATCH_MAX),
    "train.total_kimg": Num(0.001, KIMG_MAX),
    "train.tick_kimg": KIMG,
    "train.snapshot_ticks": Int(1),
    "train.seed": Int(0, SEED_MAX),
    "train.ema_halflife_kimg": Positive(KIMG_MAX, none_ok=True),
    "train.ema_rampup": Num(0.0, none_ok=True),
    "train.device": Device(),
    "train.mixed_precision": Flag(),
    "train.compile": Each(Choice(("cuda", "cpu"))),
    "train.cuda_graph": Flag(),
    "train.max_bad_steps": Int(1),
    "train.grid_size": Int(1, GRID_MAX),
    "train.tensorboard": Flag(),
    "train.tracker": Choice(TRACKERS),
    "train.keep_checkpoints": Int(1),
    "train.progress": Flag(),
    "metrics.names": Each(_metric_name),
    "metrics.interval_kimg": Positive(KIMG_MAX, none_ok=True),
    "metrics.extractor": Registered("ganforge.metrics.extractors:EXTRACTORS", none_ok=True),
    "metrics.protocol": Choice((*PROTOCOLS, None)),
    "augment.kind": Choice(("diffaugment", "ada", None)),
    "augment.policy": Text(),
    "augment.pipe": Text(),
    "augment.p": Num(0.0, 1.0, none_ok=True),
    "augment.target": Num(0.0, 1.0, none_ok=True),
    "augment.ada_kimg": Positive(KIMG_MAX),
    "augment.ada_interval": Int(1, 1_000_000),
}

def rules_for(recipe: str) -> dict[str, Rule]:
    """Every rule that applies to an experiment of ``recipe``: the common ones and the family's."""
    return {**COMMON_RULES, **RECIPES.get(recipe).config_rules}


def _leaves(obj: Any, prefix: str = ""):
    """(key, value, declared type) of every leaf field."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        v = getattr(obj, f.name)
        if is_dataclass(v):
            yield from _leaves(v, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", v, hints[f.name]


def check_field(key: str, value: Any, tp: Any = None, rules: dict[str, Rule] | None = None) -> None:
    """Check one field: its declared type (when ``tp`` is given), then its rule (from ``rules``,
    default: the common ones only)."""
    if tp is not None:
        _check_typed(value, tp, key)
    rule = (rules if rules is not None else COMMON_RULES).get(key)
    if rule is not None:  # tests/test_validation.py requires a rule for every field of every family
        rule.check(key, value)


def validate_experiment(cfg: Experiment) -> None:
    """Check every field of ``cfg`` (type, choice, range) and the rules between fields.

    Raises a ``GanforgeError`` naming the first offending key and value with what is allowed.
    """
    if not isinstance(cfg, Experiment):
        raise GanforgeError(f"expected an Experiment config, got {type(cfg).__name__}")
    if not isinstance(cfg.recipe, str) or cfg.recipe not in RECIPES:
        COMMON_RULES["recipe"].check("recipe", cfg.recipe)
    recipe = RECIPES.get(cfg.recipe)
    rules = rules_for(cfg.recipe)
    for key, value, tp in _leaves(cfg):
        check_field(key, value, tp, rules)
    if getattr(cfg.model, "conditional", False) and not cfg.data.use_labels:
        raise GanforgeError("model.conditional=true needs class labels: set data.use_labels=true and use a "
                            "labelled dataset (built-in, or sub-folders as classes)")
    from ganforge.data.translation import is_translation_config

    if cfg.data.use_labels and is_translation_config(cfg.data):  # refused before the data is loaded, too
        raise GanforgeError(f"data.use_labels=true, but {cfg.data.name!r} is a translation dataset (domains A and "
                            f"B, no classes); set data.use_labels=false")
    from ganforge.metrics.protocol import parse_metric

    if cfg.metrics.names:
        from ganforge.metrics.protocol import parse_metrics, refuse_pair_metrics

        parsed = parse_metrics(list(cfg.metrics.names))
        if not recipe.translates:
            refuse_pair_metrics(parsed)
        else:  # translators are scored on image sets: no PPL, no intra-class FID
            bad = next((p for p in parsed if p.spec.kind.startswith("ppl") or p.spec.kind == "ifid"), None)
            if bad is not None:
                raise GanforgeError(f"metrics.names: {bad.name!r} needs a generator of images from noise; recipe "
                                    f"{cfg.recipe} is scored on its translations (fid, kid, pr, swd, is against the "
                                    f"target domain) and against ground truth (pair_l1, pair_psnr, pair_ssim, "
                                    f"pair_msssim)")
    intra = [str(n).strip() for n in cfg.metrics.names if parse_metric(n).spec.kind == "ifid"]
    if intra and not getattr(cfg.model, "conditional", False):  # refused now, not at the first metrics tick
        raise GanforgeError(f"metrics.names: {intra[0]!r} (intra-class FID) needs a class-conditional model: set "
                            f"model.conditional=true and data.use_labels=true, or use {intra[0][1:]!r}")
    _check_tracker(cfg)
    if cfg.augment.kind == "diffaugment":
        from ganforge.augment import parse_policy

        parse_policy(cfg.augment.policy)
    elif cfg.augment.kind == "ada":
        from ganforge.augment import parse_pipe

        parse_pipe(cfg.augment.pipe)
    if cfg.metrics.extractor is not None:  # a default extractor is checked once the data is known (Trainer)
        from ganforge.metrics.extractors import check_protocol

        check_protocol(cfg.metrics.extractor, cfg.metrics.protocol, "metrics.protocol")
    recipe.validate_config(cfg)  # what only the family knows: rules between its fields




def _check_tracker(cfg: Experiment) -> None:
    """``train.tracker`` (and the deprecated ``train.tensorboard``): one tracker, whose package is installed."""
    import importlib.util

    tc = cfg.train
    if tc.tensorboard and tc.tracker not in ("none", "tensorboard"):
        raise GanforgeError(f"train.tensorboard=true (deprecated; it means train.tracker=tensorboard) conflicts "
                            f"with train.tracker={tc.tracker}: a run has one tracker; set train.tensorboard=false "
                            f"to track with {tc.tracker}, or train.tracker=tensorboard for TensorBoard")
    if tc.tensorboard and tc.tracker == "none":
        if importlib.util.find_spec("tensorboard") is None:
            raise GanforgeError("train.tensorboard=true needs the tensorboard package: "
                                "pip install 'ganforge[tensorboard]', or set train.tensorboard=false")
        return
    if tc.tracker != "none":  # each tracker's package and extra have its name
        if importlib.util.find_spec(tc.tracker) is None:
            raise GanforgeError(f"train.tracker={tc.tracker} needs the {tc.tracker} package: "
                                f"pip install 'ganforge[{tc.tracker}]', or set train.tracker=none")
