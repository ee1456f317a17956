"""Sliced Wasserstein distance between Laplacian-pyramid patch descriptors.

Karras, Aila, Laine, Lehtinen (2018), "Progressive Growing of GANs for Improved Quality, Stability,
and Variation", ICLR (section 5 and appendix D), after Rabin et al. (2011). For each image a Laplacian
pyramid is built (5x5 binomial filter, mirror borders, down to 16 px); at every level 128 random 7x7
neighbourhoods per image are taken as descriptors, each level's descriptor set is normalised per
channel (zero mean, unit std), and the distance between the real and generated sets is the mean over
random unit directions (4 repeats x 128 directions = 512 projections) of the 1-D Wasserstein-1
distance between the sorted projections. As in ProGAN the values are multiplied by 1e3; the result has
one value per level (keyed by resolution) and their average.

Differences from ProGAN's code: positions are drawn from a generator seeded identically for both sets
(so SWD(x, x) = 0 exactly), and pyramid filtering uses torch (``reflect`` padding == scipy ``mirror``).

The named metric (registered at the end): ``swd{N}k`` compares N generated with N reference images
and refuses fewer; the bare ``swd`` takes min(16384, reference images, generated images) of each.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.errors import GanforgeError
from ganforge.metrics.base import Metric, MetricValue, Needs, register_metric

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64)
_KERNEL = (_BINOMIAL[:, None] * _BINOMIAL[None, :]) / 256.0


def _filter(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    w = kernel.to(x.dtype).expand(c, 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), w, groups=c)


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, ceil(H/2), ceil(W/2)]: blur then keep every other pixel (cv2.pyrDown)."""
    return _filter(x, _KERNEL)[:, :, ::2, ::2]


def pyr_up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[N, C, h, w] -> [N, C, *size]: zero-insertion upsampling then blur x4 (cv2.pyrUp)."""
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, size[0], size[1])
    up[:, :, ::2, ::2] = x[:, :, : (size[0] + 1) // 2, : (size[1] + 1) // 2]
    return _filter(up, _KERNEL * 4.0)


def laplacian_pyramid(x: torch.Tensor, num_levels: int) -> list[torch.Tensor]:
    """float [N, C, H, W] -> list of num_levels band-pass images, finest first (last one is low-pass)."""
    pyr = [x]
    for _ in range(1, num_levels):
        low = pyr_down(pyr[-1])
        pyr[-1] = pyr[-1] - pyr_up(low, tuple(pyr[-1].shape[-2:]))
        pyr.append(low)
    return pyr


def pyramid_resolutions(resolution: int, min_res: int = 16) -> list[int]:
    """ProGAN's levels: resolution, resolution/2, ... while >= min_res (e.g. 32 -> [32, 16])."""
    out = []
    r = resolution
    while r >= min_res:
        out.append(r)
        r //= 2
    return out


def _descriptors(level: torch.Tensor, nhood: int, per_image: int, rng: np.random.RandomState) -> torch.Tensor:
    """[N, C, H, W] -> [N*per_image, C, nhood, nhood] patches at random positions."""
    n, c, h, w = level.shape
    if h < nhood or w < nhood:
        raise GanforgeError(f"SWD: pyramid level {h}x{w} is smaller than the {nhood}x{nhood} neighbourhood")
    ys = torch.from_numpy(rng.randint(0, h - nhood + 1, size=n * per_image))
    xs = torch.from_numpy(rng.randint(0, w - nhood + 1, size=n * per_image))
    img = torch.arange(n).repeat_interleave(per_image)
    ar = torch.arange(nhood)
    rows = (ys[:, None] + ar)[:, :, None]  # [M, k, 1]
    cols = (xs[:, None] + ar)[:, None, :]  # [M, 1, k]
    patches = level.permute(0, 2, 3, 1)[img[:, None, None], rows, cols]  # [M, k, k, C]
    return patches.permute(0, 3, 1, 2)


def _normalise(desc: torch.Tensor) -> torch.Tensor:
    """Per-channel zero mean / unit std over all descriptors and positions, then flatten to [M, C*k*k]."""
    mean = desc.mean(dim=(0, 2, 3), keepdim=True)
    std = desc.std(dim=(0, 2, 3), keepdim=True, unbiased=False).clamp_min(1e-8)
    return ((desc - mean) / std).reshape(desc.shape[0], -1)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, dir_repeats: int, dirs_per_repeat: int, rng: np.random.RandomState) -> float:
    """Mean |sorted(a.dir) - sorted(b.dir)| over random unit directions; a, b [M, D] with equal M."""
    results = []
    for _ in range(dir_repeats):
        dirs = torch.from_numpy(rng.randn(a.shape[1], dirs_per_repeat)).to(a.dtype)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        # numpy's sort is ~10x faster than torch's on CPU for this shape
        pa = np.sort((dirs.t() @ a.t()).cpu().numpy(), axis=1)  # [dirs, M], contiguous rows
        pb = np.sort((dirs.t() @ b.t()).cpu().numpy(), axis=1)
        results.append(float(np.abs(pa - pb).mean(dtype=np.float64)))
    return float(np.mean(results))


def swd_from_images(
    real_u8: torch.Tensor,
    gen_u8: torch.Tensor,
    *,
    nhood_size: int = 7,
    nhoods_per_image: int = 128,
    dir_repeats: int = 4,
    dirs_per_repeat: int = 128,
    min_res: int = 16,
    seed: int = 0,
    batch_size: int = 1024,
) -> dict:
    """uint8 real [N, C, H, W] and gen [N, C, H, W] -> {"<res>": swd x 1e3 per level, ..., "avg": mean}.

    Both sets must have the same number of images and shape (sorted projections are compared
    element-wise). Images smaller than ``min_res`` give one level at native size.
    """
    for name, t in (("real", real_u8), ("generated", gen_u8)):
        if not isinstance(t, torch.Tensor) or t.dtype != torch.uint8 or t.dim() != 4:
            raise GanforgeError(f"SWD: {name} images must be a uint8 tensor [N, C, H, W]")
    if real_u8.shape != gen_u8.shape:
        raise GanforgeError(f"SWD needs equally many images of equal shape, got {tuple(real_u8.shape)} and {tuple(gen_u8.shape)}")
    if real_u8.shape[0] < 2:  # one image's patches say nothing about a distribution of images
        raise GanforgeError(f"SWD needs at least 2 images in each set (it compares two sets of images), got "
                            f"{real_u8.shape[0]}")
    h = min(real_u8.shape[-2:])
    res = pyramid_resolutions(h, min_res) or [h]

    def descriptor_sets(images: torch.Tensor) -> list[torch.Tensor]:
        rng = np.random.RandomState(seed)
        per_level: list[list[torch.Tensor]] = [[] for _ in res]
        for i in range(0, images.shape[0], batch_size):
            pyr = laplacian_pyramid(images[i : i + batch_size].to(torch.float32), len(res))
            for lvl, band in enumerate(pyr):
                per_level[lvl].append(_descriptors(band, nhood_size, nhoods_per_image, rng))
        return [_normalise(torch.cat(d)) for d in per_level]

    da, db = descriptor_sets(real_u8), descriptor_sets(gen_u8)
    rng = np.random.RandomState(seed + 1)
    out = {}
    for r, a, b in zip(res, da, db, strict=True):
        out[str(r)] = sliced_wasserstein(a, b, dir_repeats, dirs_per_repeat, rng) * 1e3
    out["avg"] = float(np.mean([out[str(r)] for r in res]))
    return out


def _too_few_real(pm, have: int) -> str:
    hint = (f"e.g. {pm.with_thousands(have // 1000)!r}" if have >= 1000
            else "or the bare 'swd' (as many as both sets have)")
    return (f"metric {pm.name!r} compares {pm.n} generated with as many reference images, but only {have} "
            f"reference images are available (the data set or --num-real); use a smaller N, {hint}")


class SWD(Metric):
    kind, form, pattern, example = "swd", "swd", r"swd(?:(?P<n>\d+)k)?", "swd1k"
    default_n, default_n_is_cap = 16384, True
    needs = Needs(generated="images", real="images")

    def generated_needed(self, pm, inputs, available: int | None = None) -> int:
        if pm.explicit_n:
            return pm.n
        count = inputs.real_count(pm.n)
        return count if available is None else min(count, available)

    def images_used(self, pm, inputs) -> tuple[int, int]:
        # what each side has to offer: SWD takes as many of each as both have
        return (pm.n if inputs.fake_count is None else inputs.fake_count), inputs.real_count(pm.n)

    def min_images(self, pm) -> tuple[int, str]:
        return 2, "SWD compares the patch statistics of two sets of images, at least a pair in each"

    def check_fixed_set(self, pm, inputs) -> None:
        if pm.explicit_n and inputs.real_count(pm.n) < pm.n:
            raise GanforgeError(_too_few_real(pm, inputs.real_count(pm.n)))

    def compute(self, pm, inputs) -> MetricValue:
        count = inputs.real_count(pm.n)
        if pm.explicit_n and count < pm.n:
            raise GanforgeError(_too_few_real(pm, count))
        gen = inputs.generated_images(count)
        if gen.shape[0] < count:  # bare "swd" from a fixed image set: as many as both sides have
            count = gen.shape[0]
        real = inputs.real_images(count)
        value = swd_from_images(real, gen[:count], seed=inputs.seed)
        return MetricValue(value, count, count, {"nhoods_per_image": 128, "nhood_size": 7, "projections": "4 x 128"})


register_metric(SWD())
