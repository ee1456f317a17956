"""Typed experiment configuration.

A run is described by one frozen ``Experiment`` dataclass tree. Presets (``ganforge.presets``) are
functions returning an ``Experiment``; the CLI's ``--set section.field=value`` overrides are parsed
against the field's declared type, and an unknown key or a badly typed value is a ``GanforgeError``
listing the valid keys or the expected type. ``None`` always means "disabled".

Interface sizes (resolution, channels, number of classes) are not here: they come from the dataset.

Sections ``data``, ``optim``, ``train``, ``metrics`` and ``augment`` are common to every family. The sections
``model`` and ``loss`` belong to the family: their dataclass types are declared by the recipe
(``Recipe.config_sections``), so a StyleGAN2 experiment has StyleGAN2's model keys and a DCGAN one
has DCGAN's, and ``--set``, ``valid_keys`` and the JSON round trip follow the recipe. The families
(``ganforge.families``) declare those types; this module is a leaf that imports no family and no torch.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, Union

from ganforge.errors import GanforgeError
from ganforge.registry import RECIPES


@dataclass(frozen=True)
class DataConfig:
    # Built-in dataset name ("fashion-mnist", "mnist", "emoji"), translation task ("fmnist-edges", ...) or a path.
    name: str = "fashion-mnist"
    # Root folder for built-in datasets; None searches $GANFORGE_DATA, the user cache, Debian's folder.
    root: str | None = None
    # Split of a built-in dataset or of a translation dataset: "train" or "test".
    split: str = "train"
    # Side length images are brought to; None keeps the native size (all images must then agree).
    resolution: int | None = 32
    # How images that are not resolution x resolution are brought there: "crop", "pad" or "stretch".
    resize: str = "pad"
    # Channels to convert every image to: 1 (grayscale), 3 (RGB); None keeps the dataset's own.
    channels: int | None = None
    # What to do with unreadable / truncated / oversized images: "error" (stop, exit 2) or "skip".
    on_bad_image: str = "error"
    # Translation folder layout: "aligned" (A and B side by side), "matched" (A, B folders paired by
    # file name), "unpaired"; None: plain images.
    pairing: str | None = None
    # Use class labels (built-in labels or sub-folder names) for class-conditional models.
    use_labels: bool = False
    # Largest dataset (in bytes of uint8 pixels) kept on the training device; a larger folder / zip is
    # streamed from disk (data.stream=auto), a larger built-in stays in host memory.
    device_cache_max_bytes: int = 2 * 1024**3
    # Read a folder / zip from disk batch by batch instead of decoding it into memory: "auto" (when its
    # decoded pixels would exceed data.device_cache_max_bytes), "always" or "never".
    stream: str = "auto"
    # Worker processes decoding streamed batches; None: one per CPU core, at most 8; 0: in the training process.
    workers: int | None = None
    # Batches each worker decodes ahead of the training step (streamed data).
    prefetch: int = 4
    # Largest file (or zip member, uncompressed) read from an image folder / archive; larger ones are bad files.
    max_file_bytes: int = 64 * 1024**2
    # Largest image in pixels (width x height, checked from the header before decoding); larger ones are bad files.
    max_image_pixels: int = 8192 * 8192


@dataclass(frozen=True)
class OptimConfig:
    # Optimizer for both networks: "adam" or "rmsprop".
    name: str = "adam"
    # Learning rate of G.
    g_lr: float = 2e-4
    # Learning rate of D.
    d_lr: float = 2e-4
    # Adam beta1 (ignored by RMSprop).
    beta1: float = 0.5
    # Adam beta2 (ignored by RMSprop).
    beta2: float = 0.999
    # Learning rates stay constant until this kimg, then fall linearly to zero at train.total_kimg; None: constant.
    lr_decay_start_kimg: float | None = None


@dataclass(frozen=True)
class TrainConfig:
    # Images per generator step (and per discriminator step).
    batch_size: int = 64
    # Training length in thousands of images shown to G (one G step = batch_size images).
    total_kimg: float = 300.0
    # Progress tick: stats line, sample grid; in kimg.
    tick_kimg: float = 10.0
    # Write a training checkpoint and an export every this many ticks (and always at the end).
    snapshot_ticks: int = 5
    # Seed of every random stream in the run.
    seed: int = 0
    # Half-life of the generator EMA in kimg; None disables the EMA (G itself is exported).
    ema_halflife_kimg: float | None = 10.0
    # EMA ramp-up: the half-life is at most this fraction of the images seen so far; None disables.
    ema_rampup: float | None = 0.05
    # Device: "auto" (cuda if available), "cpu", "cuda", "cuda:1", ...
    device: str = "auto"
    # bf16 autocast for the forward passes (losses and optimizer states stay fp32).
    mixed_precision: bool = False
    # Device types ("cuda", "cpu") on which G and D are wrapped in torch.compile; () never compiles.
    compile: tuple[str, ...] = ()
    # Run the whole step (all phases, optimizer steps, EMA) as one captured CUDA graph with the
    # non-finite guard on the device, where the family allows; otherwise train eagerly and say why.
    cuda_graph: bool = False
    # Consecutive non-finite steps tolerated before training stops.
    max_bad_steps: int = 5
    # Number of fixed latents in the sample grid (a square number looks best).
    grid_size: int = 64
    # Deprecated: true means train.tracker="tensorboard" (kept working; together with tracker "wandb" or
    # "mlflow" it is refused). Use train.tracker.
    tensorboard: bool = False
    # Experiment tracker that also gets every tick's scalars, the sample grids, the resolved config and the
    # metric records (rank 0 only): "none", "tensorboard", "wandb" or "mlflow" (each needs its extra).
    tracker: str = "none"
    # Training checkpoints to keep on disk (the newest ones).
    keep_checkpoints: int = 2
    # Show a progress bar on stderr.
    progress: bool = True


# The values of train.tracker (ganforge.training.trackers implements them).
TRACKERS = ("none", "tensorboard", "wandb", "mlflow")


def resolved_tracker(train: TrainConfig) -> str:
    """The tracker a run uses: ``train.tracker``, or "tensorboard" for the deprecated ``train.tensorboard=true``
    (with tracker "none"; validation refuses it with another tracker)."""
    if train.tensorboard and train.tracker == "none":
        return "tensorboard"
    return train.tracker


@dataclass(frozen=True)
class MetricsConfig:
    # Metrics computed during training, e.g. ("fid10k", "kid10k"); empty disables.
    names: tuple[str, ...] = ()
    # Compute them every this many kimg (and at the end); None means only at the end.
    interval_kimg: float | None = None
    # Feature extractor; None picks the default for the dataset.
    extractor: str | None = None
    # Input pipeline of the inception-v3-fid extractor: "tf" (TensorFlow-compatible, as published FIDs) or
    # "pytorch-fid"; None means "tf" there and is the only value other extractors take.
    protocol: str | None = None


@dataclass(frozen=True)
class AugmentConfig:
    # What D sees: none, "diffaugment" (Zhao et al. 2020) or "ada" (Karras et al. 2020); reals and fakes alike.
    kind: str | None = None
    # DiffAugment's operations, comma-separated: color, translation, cutout.
    policy: str = "color,translation,cutout"
    # ADA's transform groups: b (flips, 90-degree rotations, integer shifts), g (scale, rotation, shift), c (colour).
    pipe: str = "bgc"
    # Probability of each transform: fixed for DiffAugment (none = 1), ADA's start (none = 0).
    p: float | None = None
    # ADA: the E[sign(D(real))] it steers toward (0.6 in the paper); none keeps p fixed.
    target: float | None = 0.6
    # ADA: p can move from 0 to 1 in this many kimg.
    ada_kimg: float = 500.0
    # ADA: steps between adjustments of p.
    ada_interval: int = 4


@dataclass(frozen=True)
class Experiment:
    # Name of the preset this experiment came from (informational).
    preset: str = "custom"
    # Registered recipe that knows how to train this family (see `ganforge.registry.RECIPES`).
    recipe: str = "gan"
    data: DataConfig = field(default_factory=DataConfig)
    # The family's networks; its type is the recipe's (None: that type's defaults).
    model: Any = None
    # The family's objective and regularisers; its type is the recipe's (None: that type's defaults).
    loss: Any = None
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        for name, cls in family_sections(self.recipe).items():
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, cls())
            elif type(value) is not cls:
                raise GanforgeError(f"config section {name!r} of recipe {self.recipe!r} must be a "
                                    f"{cls.__name__}, got a {type(value).__name__}")


# Sections whose dataclass type is chosen by the recipe.
FAMILY_SECTIONS = ("model", "loss")


def family_sections(recipe: str) -> dict[str, type]:
    """The dataclass types of the family sections (``model``, ``loss``) for ``recipe``.

    Declared by the recipe class (``Recipe.config_sections``) that a family registered in
    ``ganforge.registry.RECIPES``; an unknown recipe is a GanforgeError listing the registered ones.
    """
    sections = RECIPES.get(recipe).config_sections
    missing = [s for s in FAMILY_SECTIONS if s not in sections]
    if missing:
        raise TypeError(f"recipe {recipe!r} declares no config section {missing[0]!r}")
    return {s: sections[s] for s in FAMILY_SECTIONS}


# ----------------------------------------------------------------------------------------------
# Overrides, JSON round trip, diffs.


def _leaf_keys(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if is_dataclass(v):
            out.update(_leaf_keys(v, key + "."))
        else:
            out[key] = v
    return out


def flatten_dict(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A config as plain JSON (``to_dict``, a ``config.json``) with dotted keys:
    ``{"train": {"seed": 0}}`` -> ``{"train.seed": 0}`` (lists stay whole)."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out.update(flatten_dict(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def valid_keys(cfg: Experiment | None = None) -> list[str]:
    """All dotted keys that ``--set`` accepts."""
    return sorted(_leaf_keys(cfg or Experiment()))


def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _parse_value(text: str, tp: Any, key: str) -> Any:
    """Parse the command-line string ``text`` as a value of declared type ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if type(None) in args and text.strip().lower() in ("none", "null", ""):
            return None
        for a in non_none:
            try:
                return _parse_value(text, a, key)
            except GanforgeError:
                pass
        raise GanforgeError(f"bad value {text!r} for {key}: expected {_type_name(tp)} (or none)")
    if origin is tuple:
        items = [s.strip() for s in text.split(",") if s.strip()]
        elem = args[0] if args else str
        return tuple(_parse_value(s, elem, key) for s in items)
    if tp is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise GanforgeError(f"bad value {text!r} for {key}: expected a boolean (true/false)")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise GanforgeError(f"bad value {text!r} for {key}: expected an integer") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise GanforgeError(f"bad value {text!r} for {key}: expected a number") from None
    if tp is str:
        return text
    raise GanforgeError(f"cannot parse {key} of type {_type_name(tp)}")


def apply_overrides(cfg: Experiment, overrides: list[str] | dict[str, Any]) -> Experiment:
    """Return ``cfg`` with ``section.field=value`` overrides applied (type-checked).

    ``overrides`` is either a list of ``key=value`` strings (values parsed by declared type) or a
    dict of key -> already-typed value.
    """
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = []
        for item in overrides:
            if "=" not in item:
                raise GanforgeError(f"bad --set {item!r}: expected key=value, e.g. train.batch_size=32")
            k, v = item.split("=", 1)
            items.append((k.strip(), v))
    # A recipe change re-types the family sections, so it goes first and the keys after it are
    # checked against the new family's sections.
    items.sort(key=lambda kv: kv[0] != "recipe")
    for key, value in items:
        if key == "recipe":
            if not isinstance(value, str):
                raise GanforgeError(f"bad value {value!r} for recipe: expected a recipe name")
            if value != cfg.recipe:
                cfg = replace(cfg, recipe=value, **{s: None for s in FAMILY_SECTIONS})
            continue
        keys = valid_keys(cfg)
        if key not in keys:
            raise GanforgeError(f"unknown config key {key!r}; valid keys: {', '.join(keys)}")
        section, _, name = key.rpartition(".")
        owner = getattr(cfg, section) if section else cfg
        tp = _type_hints(type(owner))[name]
        if isinstance(value, str) and tp is not str:
            value = _parse_value(value, tp, key)
        elif not (isinstance(value, str) and tp is str):
            value = _check_typed(value, tp, key)
        if section:
            cfg = replace(cfg, **{section: replace(owner, **{name: value})})
        else:
            cfg = replace(cfg, **{name: value})
    return cfg


def _check_typed(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _check_typed(value, a, key)
            except GanforgeError:
                pass
        raise GanforgeError(f"bad value {value!r} for {key}: expected {_type_name(tp)}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise GanforgeError(f"bad value {value!r} for {key}: expected a list")
        return tuple(_check_typed(v, args[0] if args else str, key) for v in value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    raise GanforgeError(f"bad value {value!r} for {key}: expected {_type_name(tp)}")


def to_dict(cfg: Experiment) -> dict[str, Any]:
    """Plain-JSON view of a config (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(d: dict[str, Any]) -> Experiment:
    """Rebuild an ``Experiment`` from ``to_dict`` output; unknown keys are errors."""
    top = {k: v for k, v in d.items() if not isinstance(v, dict)}
    cfg = Experiment(**{k: v for k, v in top.items() if k in ("preset", "recipe")})
    flat: dict[str, Any] = {}
    for section, sub in d.items():
        if isinstance(sub, dict):
            for k, v in sub.items():
                flat[f"{section}.{k}"] = v
    return apply_overrides(cfg, flat)


def to_json(cfg: Experiment) -> str:
    return json.dumps(to_dict(cfg), indent=2, sort_keys=True)


def diff(a: Experiment, b: Experiment) -> dict[str, tuple[Any, Any]]:
    """Keys whose values differ between two configs: key -> (a's value, b's value)."""
    la, lb = _leaf_keys(a), _leaf_keys(b)
    absent = "<absent>"  # keys of a family section that the other config's recipe does not have
    return {k: (la.get(k, absent), lb.get(k, absent)) for k in sorted(set(la) | set(lb))
            if la.get(k, absent) != lb.get(k, absent)}
