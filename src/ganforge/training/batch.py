"""The batch a training step consumes: what the trainer's feed hands every recipe."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """One batch of training data on the training device.

    real_img: [N, C, H, W] float in [-1, 1]; c: [N] int64 class labels or None. Translation data
    (``ganforge.data.translation``) also fills ``src``: the domain-A images [N, CA, H, W] in [-1, 1],
    the partners of ``real_img`` (domain B) for paired data, an independent draw for unpaired data.
    """

    real_img: torch.Tensor
    c: torch.Tensor | None
    src: torch.Tensor | None = None
