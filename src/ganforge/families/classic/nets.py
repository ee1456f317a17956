"""Registries and the common interface of generators and discriminators."""

from __future__ import annotations

from typing import Callable

from torch import nn

from ganforge.errors import GanforgeError
from ganforge.families.classic.config import ModelConfig
from ganforge.registry import Registry

Builder = Callable[..., nn.Module]
GENERATORS: Registry[Builder] = Registry("generator architecture")
DISCRIMINATORS: Registry[Builder] = Registry("discriminator architecture")


def check_resolution(arch: str, resolution: int, supported: tuple[int, ...]) -> None:
    if resolution not in supported:
        raise GanforgeError(
            f"architecture {arch!r} does not support resolution {resolution}; "
            f"supported: {', '.join(map(str, supported))} (set data.resolution)"
        )


def build_generator(cfg: ModelConfig, resolution: int, channels: int, num_classes: int) -> nn.Module:
    """Build the generator named by ``cfg.g_arch`` for the dataset's interface sizes."""
    G = GENERATORS.get(cfg.g_arch)(cfg, resolution=resolution, channels=channels,
                                   num_classes=num_classes if cfg.conditional else 0)
    G.arch = cfg.g_arch
    return G


def build_discriminator(cfg: ModelConfig, resolution: int, channels: int, num_classes: int) -> nn.Module:
    """Build the discriminator named by ``cfg.d_arch`` (spectrally normalised if ``cfg.spectral_norm``)."""
    D = DISCRIMINATORS.get(cfg.d_arch)(cfg, resolution=resolution, channels=channels,
                                       num_classes=num_classes if cfg.conditional else 0)
    D.arch = cfg.d_arch
    return D
