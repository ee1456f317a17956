"""Exponential moving average of generator weights (Karras et al. 2018, ProGAN; Yazici et al. 2019,
"The Unusual Effectiveness of Averaging in GAN Training"), parameterised as in StyleGAN2-ADA by a
half-life in images, so its behaviour does not depend on the batch size.

The EMA copy is a ``copy.deepcopy`` of the live network (never a second constructor call, which can
drift from it). Buffers (batchnorm running statistics) are copied, not averaged.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_beta(batch_nimg: int, cur_nimg: int, halflife_kimg: float, rampup: float | None) -> float:
    """Decay per step: 0.5 ** (batch / half-life), with the half-life ramped up early in training."""
    halflife_nimg = halflife_kimg * 1000
    if rampup is not None:
        halflife_nimg = min(halflife_nimg, cur_nimg * rampup)
    return 0.5 ** (batch_nimg / max(halflife_nimg, 1e-8))


class EMA:
    """Holds ``ema_net``, an averaged copy of ``net``."""

    def __init__(self, net: nn.Module, halflife_kimg: float, rampup: float | None):
        self.net = net
        self.ema_net = copy.deepcopy(net).eval().requires_grad_(False)
        self.halflife_kimg, self.rampup = halflife_kimg, rampup
        self._src = list(net.parameters())
        self._dst = list(self.ema_net.parameters())
        self._src_buffers = list(net.buffers())
        self._dst_buffers = list(self.ema_net.buffers())

    @torch.no_grad()
    def update(self, cur_nimg: int, batch_nimg: int) -> None:
        beta = ema_beta(batch_nimg, cur_nimg, self.halflife_kimg, self.rampup)
        torch._foreach_lerp_(self._dst, self._src, 1.0 - beta)
        if self._dst_buffers:  # one fused copy instead of one launch per buffer
            torch._foreach_copy_(self._dst_buffers, self._src_buffers)


@torch.no_grad()
def recalibrate_batchnorm(net: nn.Module, make_inputs, num_batches: int = 16) -> nn.Module:
    """Re-estimate every BatchNorm's running statistics of ``net`` in place ("standing statistics",
    Brock et al. 2019, BigGAN) from ``num_batches`` calls ``net(*make_inputs(i))`` in train mode.

    An averaged generator's weights differ from the live generator's, so the live running statistics
    copied into it do not match its activations; re-estimating them makes eval-mode samples match
    train-mode ones. Modules without batchnorm are returned unchanged. Returns ``net`` in eval mode.
    """
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return net.eval()
    saved = [(m.momentum,) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    net.train()
    for i in range(num_batches):
        net(*make_inputs(i))
    for m, (mom,) in zip(bns, saved):
        m.momentum = mom
    return net.eval()
