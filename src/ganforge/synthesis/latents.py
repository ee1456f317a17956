"""Drawing latents for generation."""

from __future__ import annotations

import torch

from ganforge.errors import GanforgeError


def truncated_z(shape: tuple[int, ...], threshold: float, generator: torch.Generator | None = None,
                device=None, max_rounds: int = 1000) -> torch.Tensor:
    """z ~ N(0, I) with every entry whose |value| exceeds ``threshold`` drawn again (the truncation trick
    of BigGAN, by resampling rather than clipping), from the same generator: deterministic per seed."""
    if not threshold > 0:
        raise GanforgeError(f"truncation threshold must be > 0, got {threshold}")
    z = torch.randn(shape, generator=generator, device=device)
    for _ in range(max_rounds):
        bad = z.abs() > threshold
        if not bool(bad.any()):
            return z
        z = torch.where(bad, torch.randn(shape, generator=generator, device=device), z)
    raise GanforgeError(f"truncation threshold {threshold} is too small to sample from")
