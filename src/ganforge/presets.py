"""Named experiment presets. Each preset is a function returning an ``Experiment``, registered with
``@register_preset(name, description)`` by its family's ``presets`` module (``ganforge.families``); every
family also has ``*-tiny`` presets for tests. This module names no family."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ganforge.config import AugmentConfig, DataConfig, Experiment
from ganforge.registry import RECIPES, Registry

DEFAULT_PRESET = "dcgan-fmnist32"


@dataclass(frozen=True)
class PresetEntry:
    name: str
    description: str
    build: Callable[[], Experiment]


PRESETS: Registry[PresetEntry] = Registry("preset")


def register_preset(name: str, description: str):
    def deco(fn: Callable[[], Experiment]):
        def build() -> Experiment:
            from dataclasses import replace

            return replace(fn(), preset=name)

        PRESETS.add(name, PresetEntry(name, description, build))
        return fn

    return deco


def loss_summary(e: Experiment) -> str:
    """One-line description of an experiment's objective, e.g. "wasserstein + gp 10" or "hinge + SN"."""
    return arch_and_loss(e)[1]


def arch_and_loss(e: Experiment) -> tuple[str, str]:
    """(networks, objective) in a few words each, as the experiment's recipe describes them."""
    nets, objective = RECIPES.get(e.recipe).summary(e)
    if e.augment.kind == "ada":
        objective += f" + ADA {e.augment.pipe}"
    elif e.augment.kind == "diffaugment":
        objective += " + DiffAugment"
    return nets, objective


def list_presets() -> list[str]:
    """Names of all registered presets."""
    return PRESETS.names()


def get_preset(name: str) -> Experiment:
    """The ``Experiment`` of a preset (a GanforgeError listing the valid names if unknown)."""
    return PRESETS.get(name).build()


# The built-in colour dataset ``emoji`` (3,655 images, 64 px RGB) is the small-data benchmark: each family
# that has an emoji preset registers it plain and with the discriminator augmentations of
# ``ganforge.augment``, at equal settings otherwise, so their FID curves compare the augmentation alone:
# ``-diffaugment`` (colour, translation, cutout, always on) and ``-ada`` (bgc pipeline, p steered toward
# E[sign D(real)] = 0.6, able to move 0 -> 1 in 100 kimg, faster than the paper's 500 because the runs
# are short).
EMOJI64 = DataConfig(name="emoji", resolution=64, channels=3, use_labels=False)
EMOJI_AUGMENTS = {
    "diffaugment": AugmentConfig(kind="diffaugment", policy="color,translation,cutout"),
    "ada": AugmentConfig(kind="ada", pipe="bgc", target=0.6, ada_kimg=100.0),
}


def register_with_augments(name: str, description: str, fn: Callable[[], Experiment]) -> None:
    """Register preset ``name`` and its ``-diffaugment`` / ``-ada`` twins (``EMOJI_AUGMENTS``)."""
    from dataclasses import replace

    register_preset(name, description)(fn)
    for kind, aug in EMOJI_AUGMENTS.items():
        register_preset(f"{name}-{kind}", f"{description}, {kind} on what D sees")(
            (lambda a: lambda: replace(fn(), augment=a))(aug))
