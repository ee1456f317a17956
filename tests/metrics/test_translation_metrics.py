"""Pixel metrics against ground truth (L1, PSNR, SSIM) and where the pair_* names are accepted."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import compute, compute_between, msssim, parse_metric
from ganforge.metrics.translation import l1, psnr, ssim


def _pair(seed: int = 0, shape=(3, 2, 12, 12)):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    y = (x.int() + torch.randint(-40, 41, shape, generator=g)).clamp(0, 255).to(torch.uint8)
    return x, y


def test_l1_and_psnr_follow_their_definitions():
    x, y = _pair()
    d = x.double() - y.double()
    assert torch.allclose(l1(x, y), d.abs().mean(dim=(1, 2, 3)) / 255)
    mse = d.square().mean(dim=(1, 2, 3))
    assert torch.allclose(psnr(x, y), torch.tensor([10 * math.log10(255**2 / float(m)) for m in mse],
                                                   dtype=torch.float64))
    assert float(l1(x, x).max()) == 0 and float(psnr(x, x)[0]) == pytest.approx(10 * math.log10(255**2 / 1e-10))
    black, white = torch.zeros(1, 1, 12, 12, dtype=torch.uint8), torch.full((1, 1, 12, 12), 255, dtype=torch.uint8)
    assert float(l1(black, white)) == 1.0 and float(psnr(black, white)) == pytest.approx(0.0)


def _ssim_by_hand(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM of two 2-D float arrays, window by window with explicit loops (Wang et al. 2004)."""
    ax = np.arange(11) - 5
    g = np.exp(-(ax**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            px, py = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
            cxy = (w * (px - mx) * (py - my)).sum()
            vals.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


def test_ssim_matches_the_formula_window_by_window():
    x, y = _pair(1, (2, 2, 13, 14))
    got = ssim(x, y)
    for n in range(2):
        want = np.mean([_ssim_by_hand(x[n, c].double().numpy(), y[n, c].double().numpy()) for c in range(2)])
        assert float(got[n]) == pytest.approx(want, rel=1e-9)
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(ssim(x, y), msssim(x, y, max_scales=1))  # MS-SSIM's single-scale case
    with pytest.raises(GanforgeError, match="at least 11 px"):
        ssim(x[..., :10, :10], y[..., :10, :10])
    with pytest.raises(GanforgeError, match="equal shape"):
        l1(x, y[:1])


def test_pair_metric_names_parse_and_are_refused_outside_translation(tiny_dataset):
    assert parse_metric("pair_l1").n == 1000 and not parse_metric("pair_l1").explicit_n
    assert parse_metric("pair10k_psnr").n == 10000 and parse_metric("pair2k_msssim").spec.kind == "pair_msssim"
    with pytest.raises(GanforgeError, match="unknown metric 'pair_l2'"):
        parse_metric("pair_l2")
    fake = tiny_dataset.images_u8[:8]
    with pytest.raises(GanforgeError, match="compares translated images with their ground truth"):
        compute_between("pair_ssim", tiny_dataset, fake)

    class G(torch.nn.Module):
        z_dim, num_classes = 4, 0

        def forward(self, z, c=None):
            return torch.zeros(len(z), 1, 16, 16)

    with pytest.raises(GanforgeError, match="compares translated images with their ground truth"):
        compute("fid1k,pair_l1", G(), tiny_dataset)
