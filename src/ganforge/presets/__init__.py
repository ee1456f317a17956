"""Named experiment presets. Each preset is a function returning an ``Experiment``, registered with
``@register_preset(name, description)``; every family also has ``*-tiny`` presets for tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ganforge.config import Experiment
from ganforge.registry import Registry

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
    from ganforge.recipes import RECIPES

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


from ganforge.presets import classic as _classic  # noqa: E402,F401  (registers)
from ganforge.presets import stylegan as _stylegan  # noqa: E402,F401  (registers)
from ganforge.presets import progressive as _progressive  # noqa: E402,F401  (registers)
from ganforge.presets import emoji as _emoji  # noqa: E402,F401  (registers)
from ganforge.presets import translation as _translation  # noqa: E402,F401  (registers)
