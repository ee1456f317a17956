"""Discriminator penalties.

- ``gradient_penalty``: WGAN-GP (Gulrajani et al. 2017), lambda * E[(||grad D(x_hat)|| - 1)^2] on
  random interpolates x_hat = eps * real + (1 - eps) * gen, eps ~ U[0, 1] per sample.
- ``r1_penalty`` / ``r2_penalty``: zero-centred penalties (Mescheder et al. 2018, "Which Training
  Methods for GANs do actually Converge?"): gamma / 2 * E[||grad D(x)||^2] on reals (R1) or on
  generated images (R2).
"""

from __future__ import annotations

from typing import Callable

import torch

Tensor = torch.Tensor


def _grad_norm_sq(logits: Tensor, inputs: Tensor) -> Tensor:
    (grad,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return grad.square().flatten(1).sum(1)  # [N]


def gradient_penalty(D: Callable[[Tensor], Tensor], real_img: Tensor, gen_img: Tensor,
                     weight: float, generator: torch.Generator | None = None, eps: Tensor | None = None) -> Tensor:
    """WGAN-GP penalty. ``D`` maps images [N, C, H, W] to logits [N]; returns a scalar. ``eps``: the
    interpolation weights [N, 1, 1, 1] (default: drawn U[0, 1) from ``generator``)."""
    if eps is None:
        eps = torch.rand(real_img.shape[0], 1, 1, 1, device=real_img.device, dtype=real_img.dtype,
                         generator=generator)
    x_hat = (eps * real_img.detach() + (1 - eps) * gen_img.detach()).requires_grad_(True)
    norm = (_grad_norm_sq(D(x_hat), x_hat) + 1e-12).sqrt()
    return weight * (norm - 1).square().mean()


def zero_centred_penalty(D: Callable[[Tensor], Tensor], img: Tensor, gamma: float) -> Tensor:
    """gamma / 2 * E[||grad_x D(x)||^2] at ``img`` (detached from whatever produced it)."""
    x = img.detach().requires_grad_(True)
    return 0.5 * gamma * _grad_norm_sq(D(x), x).mean()


def r1_penalty(D: Callable[[Tensor], Tensor], real_img: Tensor, gamma: float) -> Tensor:
    return zero_centred_penalty(D, real_img, gamma)


def r2_penalty(D: Callable[[Tensor], Tensor], gen_img: Tensor, gamma: float) -> Tensor:
    return zero_centred_penalty(D, gen_img, gamma)
