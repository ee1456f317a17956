"""Optimizers by config name, shared by the families."""

from __future__ import annotations

import torch

from ganforge.errors import choices_error

OPTIMIZERS = ("adam", "rmsprop")


def make_optimizer(name: str, params, lr: float, beta1: float, beta2: float,
                   device: torch.device) -> torch.optim.Optimizer:
    """``optim.name`` -> a torch optimizer over ``params`` (betas ignored by RMSprop)."""
    if name == "adam":
        # The fused CUDA kernel updates all parameters in one launch; small GANs are launch-bound.
        return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), fused=device.type == "cuda")
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    raise choices_error("optim.name", name, OPTIMIZERS)
