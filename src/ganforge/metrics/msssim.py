"""Multi-scale structural similarity (MS-SSIM) and the MS-SSIM diversity score.

Wang, Simoncelli, Bovik (2003), "Multiscale Structural Similarity for Image Quality Assessment".
SSIM statistics use an 11x11 Gaussian window (sigma 1.5, "valid" filtering), K1 = 0.01, K2 = 0.03,
L = 255; the image pair is halved (2x2 average) between scales; contrast-structure terms of the
first M-1 scales and the full SSIM of the last scale are combined with the exponents
(0.0448, 0.2856, 0.3001, 0.2363, 0.1333). Negative terms are clipped to 0 before the powers.

Small images: five scales need >= 176 px. ganforge keeps the largest number of scales M <= 5 for
which the coarsest scale is still >= 11 px (32 px -> M = 2: 32 and 16 px), and renormalises the first
M exponents to sum to 1. Values are therefore comparable only at equal resolution.

Diversity (Odena, Olah, Shlens 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs"):
mean MS-SSIM over random pairs of distinct generated images; lower = more diverse. Compare with the
same number computed on real images: the named metric ``msssim{N}k`` (registered at the end) gives
the diversity of N generated images over N pairs, and the same over N reference images in
``details["real_msssim"]``. The bare ``msssim`` uses 10k.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.errors import GanforgeError
from ganforge.metrics.base import Metric, MetricValue, Needs, register_metric

MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW = 11
SIGMA = 1.5


def _window(dtype: torch.dtype) -> torch.Tensor:
    ax = torch.arange(WINDOW, dtype=torch.float64) - (WINDOW - 1) / 2
    g = torch.exp(-(ax**2) / (2 * SIGMA**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).to(dtype)


def num_scales(size: int, max_scales: int = 5) -> int:
    """Largest M <= max_scales with size / 2^(M-1) >= 11 (GanforgeError if size < 11)."""
    if size < WINDOW:
        raise GanforgeError(f"MS-SSIM needs images of at least {WINDOW} px, got {size}")
    m = 1
    while m < max_scales and size // (2**m) >= WINDOW:
        m += 1
    return m


def _ssim_terms(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    c = x.shape[1]
    w = win.expand(c, 1, WINDOW, WINDOW)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def filt(t):
        return F.conv2d(t, w, groups=c)

    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx * mx
    syy = filt(y * y) - my * my
    sxy = filt(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return (lum * cs).mean(dim=(2, 3)), cs.mean(dim=(2, 3))  # [N, C] each


def msssim(x_u8: torch.Tensor, y_u8: torch.Tensor, max_scales: int = 5) -> torch.Tensor:
    """uint8 x, y [N, C, H, W] -> MS-SSIM per pair [N] float64 (mean over channels), 1 for identical pairs."""
    if x_u8.shape != y_u8.shape or x_u8.dim() != 4:
        raise GanforgeError(f"MS-SSIM needs two image batches of equal shape [N, C, H, W], got {tuple(x_u8.shape)} and {tuple(y_u8.shape)}")
    m = num_scales(min(x_u8.shape[-2:]), max_scales)
    weights = torch.tensor(MSSSIM_WEIGHTS[:m], dtype=torch.float64)
    weights = weights / weights.sum()
    x, y = x_u8.to(torch.float64), y_u8.to(torch.float64)
    win = _window(torch.float64)
    value = torch.ones(x.shape[:2], dtype=torch.float64)
    for i in range(m):
        ssim, cs = _ssim_terms(x, y, win)
        term = ssim if i == m - 1 else cs
        value = value * term.clamp_min(0) ** weights[i]
        if i < m - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return value.mean(dim=1)


def msssim_diversity(images_u8: torch.Tensor, num_pairs: int, seed: int = 0, batch_size: int = 500) -> float:
    """Mean MS-SSIM over ``num_pairs`` random pairs (i != j) of images_u8 [N, C, H, W] (N >= 2)."""
    n = images_u8.shape[0]
    if n < 2 or num_pairs < 1:
        raise GanforgeError(f"MS-SSIM diversity needs >= 2 images and >= 1 pair, got {n} images, {num_pairs} pairs")
    rng = np.random.RandomState(seed)
    i = rng.randint(0, n, size=num_pairs)
    j = (i + rng.randint(1, n, size=num_pairs)) % n
    total = 0.0
    for s in range(0, num_pairs, batch_size):
        a = images_u8[torch.from_numpy(i[s : s + batch_size])]
        b = images_u8[torch.from_numpy(j[s : s + batch_size])]
        total += float(msssim(a, b).sum())
    return total / num_pairs


class MSSSIMDiversity(Metric):
    kind, form, pattern, example = "msssim", "msssim", r"msssim(?:(?P<n>\d+)k)?", "msssim1k"
    default_n = 10000
    needs = Needs(generated="images", real="images")

    def reference_count(self, pm, inputs) -> int:
        return inputs.real_count(pm.n)

    def min_images(self, pm) -> tuple[int, str]:
        return 2, "MS-SSIM diversity averages over pairs of distinct images of a set"

    def compute(self, pm, inputs) -> MetricValue:
        n = pm.n
        gen = inputs.generated_images(n)
        value = msssim_diversity(gen, num_pairs=n, seed=inputs.seed)
        nr = self.reference_count(pm, inputs)
        real_value = msssim_diversity(inputs.real_images(nr), num_pairs=n, seed=inputs.seed)
        return MetricValue(value, len(gen), nr, {"num_pairs": n, "real_msssim": real_value})


register_metric(MSSSIMDiversity())
