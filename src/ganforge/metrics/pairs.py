"""Pixel metrics of a translation model against ground truth, per image pair on uint8 images.

- ``l1``: mean |x - y| / 255 over pixels and channels (0 = equal, 1 = black vs white). Twice this is
  the L1 distance on the [-1, 1] scale pix2pix trains with.
- ``psnr``: 10 log10(255^2 / MSE) in dB, with the MSE floored at 1e-10 so equal images give a finite
  148 dB rather than infinity.
- ``ssim``: single-scale SSIM (Wang et al. 2004) with the 11x11 Gaussian window (sigma 1.5), "valid"
  filtering, K1 = 0.01, K2 = 0.03, L = 255, mean over positions and channels: the same statistics as
  the finest scale of ``ganforge.metrics.msssim``.
- ``msssim``: ``ganforge.metrics.msssim`` (its scale count depends on the resolution; see there).

The named metrics ``pair_l1``, ``pair_psnr``, ``pair_ssim``, ``pair_msssim`` (registered at the end)
average these over N pairs (``pair{N}k_l1``; the bare names over min(1000, pairs available)), with
the standard deviation over pairs in ``details["std"]``. Only ``translation.evaluate_translation``
has pairs to give them; ``compute`` refuses them.
"""

from __future__ import annotations

from typing import Callable

import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.base import Metric, MetricValue, Needs, register_metric
from ganforge.metrics.msssim import WINDOW, _ssim_terms, _window, msssim


def _check_pair(x_u8: torch.Tensor, y_u8: torch.Tensor, what: str) -> None:
    if x_u8.shape != y_u8.shape or x_u8.dim() != 4:
        raise GanforgeError(f"{what} needs two image batches of equal shape [N, C, H, W], got "
                            f"{tuple(x_u8.shape)} and {tuple(y_u8.shape)}")


def l1(x_u8: torch.Tensor, y_u8: torch.Tensor) -> torch.Tensor:
    """Per pair [N] float64: mean |x - y| / 255."""
    _check_pair(x_u8, y_u8, "L1")
    return (x_u8.double() - y_u8.double()).abs().mean(dim=(1, 2, 3)) / 255


def psnr(x_u8: torch.Tensor, y_u8: torch.Tensor) -> torch.Tensor:
    """Per pair [N] float64: 10 log10(255^2 / max(MSE, 1e-10)) dB."""
    _check_pair(x_u8, y_u8, "PSNR")
    mse = (x_u8.double() - y_u8.double()).square().mean(dim=(1, 2, 3))
    return 10 * torch.log10(255.0**2 / mse.clamp_min(1e-10))


def ssim(x_u8: torch.Tensor, y_u8: torch.Tensor) -> torch.Tensor:
    """Per pair [N] float64: SSIM, mean over positions and channels (images of at least 11 px)."""
    _check_pair(x_u8, y_u8, "SSIM")
    if min(x_u8.shape[-2:]) < WINDOW:
        raise GanforgeError(f"SSIM needs images of at least {WINDOW} px, got {tuple(x_u8.shape[-2:])}")
    value, _ = _ssim_terms(x_u8.double(), y_u8.double(), _window(torch.float64))
    return value.mean(dim=1)


class PairMetric(Metric):
    """``pair_{name}``: the mean over pairs of ``per_pair(translated, truth) -> [N]``."""

    default_n, default_n_is_cap = 1000, True
    needs = Needs(pairs=True)

    def __init__(self, name: str, per_pair: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 definition: str) -> None:
        self.kind = self.form = f"pair_{name}"
        self.pattern = rf"pair(?:(?P<n>\d+)k)?_{name}"
        self.example = f"pair1k_{name}"
        self.per_pair, self.definition = per_pair, definition

    def compute(self, pm, inputs) -> MetricValue:
        x, y = inputs.pairs
        values = self.per_pair(x, y)
        n = len(x)
        return MetricValue(float(values.mean()), n, n, {"std": float(values.std()) if n > 1 else 0.0,
                                                        "definition": self.definition,
                                                        "ground_truth": "paired partners"})


register_metric(PairMetric("l1", l1, "mean |x - y| / 255"))
register_metric(PairMetric("psnr", psnr, "dB, MSE floored at 1e-10"))
register_metric(PairMetric("ssim", ssim, "11x11 Gaussian window, sigma 1.5, valid"))
register_metric(PairMetric("msssim", msssim, "ganforge.metrics.msssim"))
