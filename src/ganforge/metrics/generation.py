"""Sampling images from a generator for evaluation.

Latents come from a CPU ``torch.Generator`` seeded with ``seed`` (so the same seed gives the same
latents on any device and for any batch size); random draws inside the generator (StyleGAN's noise
inputs) are seeded per batch from (seed, class, batch index), so the images do not depend on what ran
before or on which process made the batch; class labels, for conditional generators, are uniform
over ``G.num_classes``. Images are converted to uint8 with ``(x * 127.5 + 128).clamp(0, 255)`` and
truncation, as StyleGAN's evaluation code does.

Per-class sampling (``label=k``, for intra-class metrics) draws the latents of class k from a CPU
generator seeded with ``class_seed(seed, k)`` and gives every image the label k, so each class has
its own latent stream that depends only on the metric seed and the class index.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.images import to_uint8 as synthesis_to_uint8


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float [N, C, H, W] in [-1, 1] -> uint8 [N, C, H, W] on the CPU (the same rounding as sample grids)."""
    return synthesis_to_uint8(x.detach()).cpu()


def to_float255(x: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> float [0, 255] without quantisation (for PPL's tiny perturbations)."""
    return (x.float() * 127.5 + 127.5).clamp(0, 255)


def check_generator(G: nn.Module) -> None:
    for attr in ("z_dim", "num_classes"):
        if not hasattr(G, attr):
            raise GanforgeError(f"generator {type(G).__name__} lacks the attribute {attr!r} needed for evaluation")


def sample_latents(G: nn.Module, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """z [n, z_dim] ~ N(0, I) and labels [n] int64 uniform over classes (None if unconditional)."""
    z = torch.randn(n, int(G.z_dim), generator=gen)
    c = torch.randint(0, int(G.num_classes), (n,), generator=gen) if int(G.num_classes or 0) > 0 else None
    return z, c


def class_seed(seed: int, label: int) -> int:
    """Seed of class ``label``'s latents under the metric seed ``seed``: 64 bits of numpy's
    ``SeedSequence([seed, label])``, so distinct (seed, class) pairs get unrelated streams (a sum or
    product of the two would give seed 0 / class 1 the latents of seed 1 / class 0)."""
    return int(np.random.SeedSequence([int(seed), int(label)]).generate_state(1, np.uint64)[0])


def class_latents(G: nn.Module, n: int, label: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """z [n, z_dim] ~ N(0, I) for class ``label`` and the labels [n] int64 (all ``label``)."""
    num = int(G.num_classes or 0)
    if not 0 <= int(label) < num:
        raise GanforgeError(f"class {label} out of range: generator {type(G).__name__} has {num} classes")
    gen = torch.Generator().manual_seed(class_seed(seed, label))
    z = torch.randn(n, int(G.z_dim), generator=gen)
    return z, torch.full((n,), int(label), dtype=torch.int64)


@contextlib.contextmanager
def eval_mode(G: nn.Module):
    """Temporarily put G in eval mode (restores the previous mode)."""
    was = G.training
    G.eval()
    try:
        yield G
    finally:
        G.train(was)


def generated_batches(G: nn.Module, n: int, *, batch_size: int = 64, seed: int = 0, device="cpu",
                      label: int | None = None) -> list[Callable[[], torch.Tensor]]:
    """n generated images as a list of batches, each a function that makes its uint8 batch [B, C, H, W]
    (CPU) when called. All latents are drawn up front; the draws inside the generator (noise inputs)
    of batch i come from a seed of its own (``shard.batch_seed``), so a batch is the same whenever and
    by whichever process it is made.

    ``label``: None for labels uniform over the classes (conditional G), or a class index k for n
    images of class k with the latents of ``class_latents``.
    """
    from ganforge.metrics.shard import batch_seed, seeded_forward

    check_generator(G)
    if label is None:
        z, c = sample_latents(G, n, torch.Generator().manual_seed(int(seed)))
    else:
        z, c = class_latents(G, n, label, seed)

    def make(i: int) -> torch.Tensor:
        sl = slice(i * batch_size, (i + 1) * batch_size)
        zb = z[sl].to(device)
        cb = c[sl].to(device) if c is not None else None
        with torch.no_grad(), eval_mode(G), seeded_forward(batch_seed(seed, label, i), device):
            return to_uint8(G(zb, cb))

    return [functools.partial(make, i) for i in range((n + batch_size - 1) // batch_size)]


def iter_generated(G: nn.Module, n: int, *, batch_size: int = 64, seed: int = 0, device="cpu",
                   label: int | None = None) -> Iterator[torch.Tensor]:
    """Yield the uint8 image batches [B, C, H, W] (CPU) of ``generated_batches``, in order."""
    for make in generated_batches(G, n, batch_size=batch_size, seed=seed, device=device, label=label):
        yield make()


def generate_images(G: nn.Module, n: int, *, batch_size: int = 64, seed: int = 0, device="cpu") -> torch.Tensor:
    """All n generated images as one uint8 tensor [n, C, H, W]."""
    return torch.cat(list(iter_generated(G, n, batch_size=batch_size, seed=seed, device=device)))
