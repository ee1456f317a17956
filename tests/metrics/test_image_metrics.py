"""SWD, MS-SSIM and PPL."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import get_extractor, msssim, msssim_diversity, swd_from_images
from ganforge.metrics.msssim import num_scales
from ganforge.metrics.ppl import filtered_mean, lerp, ppl_from_generator, slerp
from ganforge.metrics.swd import laplacian_pyramid, pyramid_resolutions


def _imgs(n, c=1, s=32, seed=0):
    return torch.randint(0, 256, (n, c, s, s), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _blobs(n, seed=0, s=32):
    """Smooth random images (low-frequency), more image-like than noise."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 1, 4, 4, generator=g)
    return (torch.nn.functional.interpolate(low, size=(s, s), mode="bicubic", align_corners=False).clamp(0, 1) * 255).to(torch.uint8)


# ---------------------------------------------------------------- SWD


def test_swd_identical_sets_are_zero_and_different_positive():
    x = _blobs(64)
    out = swd_from_images(x, x.clone())
    assert set(out) == {"32", "16", "avg"}
    assert all(v == 0.0 for v in out.values())
    other = swd_from_images(x, _imgs(64, seed=1))
    assert other["avg"] > 10 and other["avg"] == pytest.approx((other["32"] + other["16"]) / 2)


def test_swd_closer_sets_score_lower():
    real = _blobs(64, seed=0)
    near = swd_from_images(real, _blobs(64, seed=1))["avg"]
    far = swd_from_images(real, _imgs(64, seed=2))["avg"]
    assert near < far


def test_laplacian_pyramid_reconstructs_image():
    from ganforge.metrics.swd import pyr_up

    x = _blobs(2).float()
    band, low = laplacian_pyramid(x, 2)
    assert band.shape == (2, 1, 32, 32) and low.shape == (2, 1, 16, 16)
    assert torch.allclose(band + pyr_up(low, (32, 32)), x, atol=1e-3)
    assert pyramid_resolutions(32) == [32, 16] and pyramid_resolutions(128) == [128, 64, 32, 16]


def test_swd_bad_inputs():
    with pytest.raises(GanforgeError, match="equally many"):
        swd_from_images(_imgs(4), _imgs(5))
    with pytest.raises(GanforgeError, match="uint8"):
        swd_from_images(_imgs(4).float(), _imgs(4).float())


# ---------------------------------------------------------------- MS-SSIM


def test_msssim_identical_is_one_and_different_is_less():
    x = _blobs(4)
    assert torch.allclose(msssim(x, x), torch.ones(4, dtype=torch.float64))
    y = _blobs(4, seed=5)
    v = msssim(x, y)
    assert (v < 0.99).all() and (v >= 0).all()


def test_msssim_rgb_and_scale_count():
    x = _imgs(2, c=3, s=64)
    assert torch.allclose(msssim(x, x), torch.ones(2, dtype=torch.float64))
    assert num_scales(32) == 2 and num_scales(28) == 2 and num_scales(64) == 3 and num_scales(176) == 5 and num_scales(256) == 5
    with pytest.raises(GanforgeError, match="at least 11"):
        msssim(_imgs(1, s=8), _imgs(1, s=8))


def test_msssim_diversity_of_copies_is_one():
    x = _blobs(1).repeat(10, 1, 1, 1)
    assert msssim_diversity(x, num_pairs=20) == pytest.approx(1.0)
    assert msssim_diversity(_blobs(50), num_pairs=100) < 0.9
    with pytest.raises(GanforgeError):
        msssim_diversity(x[:1], num_pairs=5)


# ---------------------------------------------------------------- PPL


def test_slerp_endpoints_and_norm():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    assert torch.allclose(slerp(a, b, torch.zeros(5)), a, atol=1e-5)
    assert torch.allclose(slerp(a, b, torch.ones(5)), b, atol=1e-5)
    mid = slerp(a, b, torch.full((5,), 0.5))
    assert torch.allclose(mid.norm(dim=1), (a.norm(dim=1) + b.norm(dim=1)) / 2, atol=1e-5)
    assert torch.allclose(lerp(a, b, torch.full((5,), 0.25)), 0.75 * a + 0.25 * b)


def test_filtered_mean_drops_outliers():
    d = np.concatenate([np.ones(990), np.full(5, 1e6), np.full(5, -1e6)])
    assert filtered_mean(d) == pytest.approx(1.0)


def test_ppl_z_and_w_are_finite_and_reproducible(helpers):
    e = get_extractor("fmnist-cnn")
    G = helpers.MappedGenerator(z_dim=8)
    z1 = ppl_from_generator(G, e, space="z", num_samples=40, batch_size=16, seed=3)
    z2 = ppl_from_generator(G, e, space="z", num_samples=40, batch_size=40, seed=3)
    assert z1["ppl"] > 0 and np.isfinite(z1["ppl"])
    assert z1["ppl"] == pytest.approx(z2["ppl"], rel=1e-4)
    w = ppl_from_generator(G, e, space="w", sampling="end", num_samples=20, seed=3)
    assert w["space"] == "w" and w["sampling"] == "end" and w["ppl"] > 0
    assert "not LPIPS" in w["distance"]


def test_ppl_constant_generator_is_zero(helpers):
    class Const(helpers.TinyGenerator):
        def forward(self, z, c=None):
            return torch.zeros(z.shape[0], 1, 32, 32)

    out = ppl_from_generator(Const(), get_extractor("fmnist-cnn"), num_samples=10)
    assert out["ppl"] == 0.0


def test_ppl_w_needs_mapping_network(helpers):
    with pytest.raises(GanforgeError, match="TinyGenerator has no mapping network.*only Z"):
        ppl_from_generator(helpers.TinyGenerator(), get_extractor("fmnist-cnn"), space="w", num_samples=4)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"space": "x"}, "PPL space"),
        ({"sampling": "mid"}, "PPL sampling"),
        ({"num_samples": 0}, "num_samples"),
        ({"lpips_weights": "vgg.pth"}, "not supported yet"),
    ],
)
def test_ppl_bad_arguments(kw, match, helpers):
    with pytest.raises(GanforgeError, match=match):
        ppl_from_generator(helpers.TinyGenerator(), get_extractor("fmnist-cnn"), **kw)


@pytest.mark.parametrize("preset,space", [("stylegan2-tiny", "z"), ("stylegan2-tiny", "w"), ("stylegan-tiny", "w")])
def test_ppl_sees_the_same_noise_at_both_ends_of_a_pair(preset, space):
    """As the official code: noise inputs held constant (noise_mode='const'), so the noise's own strength
    does not enter PPL. With random noise at each end, strong noise made PPL a million times larger."""
    from ganforge.presets import get_preset
    from ganforge.registry import RECIPES

    cfg = get_preset(preset)
    torch.manual_seed(0)
    G = RECIPES.get(cfg.recipe).build_generator(cfg.model, 32, 1, 0).eval()
    e = get_extractor("fmnist-cnn")
    quiet = ppl_from_generator(G, e, space=space, num_samples=16, batch_size=8, seed=1)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if "noise_strength" in name or name.endswith("noise.weight"):
                p.fill_(3.0)  # noise far above the signal
    loud = ppl_from_generator(G, e, space=space, num_samples=16, batch_size=8, seed=1)
    assert quiet["noise"] == loud["noise"] == "const (noise_mode='const')"
    assert loud["ppl"] < 100 * max(quiet["ppl"], 1e-3), (quiet["ppl"], loud["ppl"])
