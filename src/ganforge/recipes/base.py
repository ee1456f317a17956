"""The recipe interface shared by every family."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ganforge.config import Experiment
from ganforge.registry import Registry


@dataclass
class Batch:
    """One batch of training data on the training device.

    real_img: [N, C, H, W] float in [-1, 1]; c: [N] int64 class labels or None.
    """

    real_img: torch.Tensor
    c: torch.Tensor | None


LossFn = Callable[[Batch | None], tuple[torch.Tensor, dict[str, torch.Tensor]]]


@dataclass
class Phase:
    """One optimisation phase of a training step.

    name: label for logs ("D", "G"); module: the network whose parameters this phase updates;
    optimizer: its optimizer; loss: batch -> (total loss, {term name: value}); repeats: times per step
    (n_critic); interval: run only every ``interval`` steps (lazy regularisation); needs_reals: fetch
    a fresh real batch for each repeat (else the loss gets None); after_step: called after each
    successful optimizer step (e.g. WGAN weight clipping).
    """

    name: str
    module: nn.Module
    optimizer: torch.optim.Optimizer
    loss: LossFn
    repeats: int = 1
    interval: int = 1
    needs_reals: bool = True
    after_step: Callable[[], None] | None = None


class Recipe:
    """Base class. Subclasses set ``nets``, ``optimizers``, ``ema_sources`` and implement ``phases``.

    ``nets``: trained networks by name ("G", "D"); ``fwd``: the callables used in the losses (the
    trainer may replace them with ``torch.compile`` wrappers; the modules in ``nets`` stay the ones
    whose state is saved); ``ema_sources``: EMA copy name -> source net name, e.g. {"G_ema": "G"};
    ``generator``: name of the net that generates samples when there is no EMA.
    """

    generator: str = "G"

    def __init__(self, cfg: Experiment, dataset_info: Any, device: torch.device, rng: torch.Generator):
        self.cfg, self.info, self.device, self.rng = cfg, dataset_info, device, rng
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.ema_sources: dict[str, str] = {}
        self.fwd: dict[str, Callable[..., torch.Tensor]] = {}
        # Per-process batch; the trainer divides the global batch by the world size.
        self.local_batch_size = cfg.train.batch_size

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Training-time state beyond nets and optimizers (none by default)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


RECIPES: Registry[type[Recipe]] = Registry("recipe")
