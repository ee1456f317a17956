"""Equivariance of an alias-free generator to translation and rotation of its input (EQ-T, EQ-T_frac, EQ-R).

Karras et al. (2021), "Alias-Free Generative Adversarial Networks", NeurIPS (section 3 and appendix E).
A StyleGAN3 generator starts its synthesis from Fourier features sampled on a grid; a [3, 3] user
transform ``G.synthesis.input.transform`` moves those features (``ganforge.interfaces.input_transform``
gives the live buffer). A perfectly equivariant generator then renders the moved picture: moving the
input by an operator T and rendering equals rendering and moving the output by T. The metrics measure
how close this is, as a PSNR in dB between

* ``ref``: the image rendered with the identity transform, then moved by T with a resampling operator
  (integer shift, Lanczos-windowed sinc shift, or band-limited rotation), and
* ``img``: the image rendered with the input moved by T (the buffer holds the inverse motion, as the
  official scripts write it),

compared only where the resampled image is defined (a mask of the pixels the operator can fill from
inside the frame). Squared differences and mask pixels are summed over every sample and pixel of the
whole run (float64), MSE = sum of squared differences / mask pixels, and

    PSNR = 10 log10(peak^2 / MSE),   peak = 2 (images in [-1, 1]) = 20 log10(2) - 10 log10(MSE)

The official protocol, followed here:

* ``eqt_int``: translation t = (tx, ty), each uniform in [-0.125, 0.125] of the image, rounded to whole
  pixels; the reference is the image shifted by those pixels (zeros shifted in, masked out).
* ``eqt_frac``: the same without rounding; the reference shifts with a separable Lanczos kernel
  (a = 3: six taps, sinc(x) sinc(x / 3), normalised to sum 1); the mask excludes the pixels whose taps
  reach outside the frame.
* ``eqr``: rotation by an angle uniform in [-pi, pi]. The reference is upsampled 4x through an oriented
  low-pass filter (the windowed product of the sinc band limits before and after the rotation, built in
  the frequency domain), then rotated with bilinear sampling; the generated image goes through the same
  band limit without rotating it (the "pseudo-rotation", so both sides lose the same frequencies). The
  mask is the product of both operators' valid regions.
* Truncation psi 1 (``G.mapping(z, c)``), ``noise_mode="const"`` (StyleGAN3 has no noise inputs), one
  random transform per group of 4 consecutive samples (the official code draws one per batch of 4 per
  GPU). Class labels of a conditional generator are uniform over its classes (the official code draws
  them from the data set's labels).

Differences from the official code, deliberate: latents and transforms are drawn up front from a CPU
``torch.Generator`` seeded with the metric seed (so a run is the same for any batch size, device or
number of processes), and an MSE of exactly 0 is floored at 1e-10 so the value stays finite
(``PSNR_CAP`` = 106.02 dB, reached only by a generator exactly equivariant to float precision). The
operators below were checked against the official ones (same inputs, CPU): masks identical, moved images
equal to 1e-6 (translations) and 2e-5 (rotations, whose sampling grid ganforge inverts in float64). The
upsampling skips the inserted zeros (a polyphase convolution) and the transform-independent half of
the rotation filter is cached, so EQ-R is affordable on a CPU for small counts.

The generator's transform buffer is written during the run and restored afterwards, also on errors.
Generators without an input transform (every family but StyleGAN3) are refused before any work.

Named metrics (registered at the end): ``eqt{N}k_int``, ``eqt{N}k_frac``, ``eqr{N}k`` over N*1000
samples; the official names are ``eqt50k_int``, ``eqt50k_frac``, ``eqr50k``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.interfaces import input_transform
from ganforge.metrics.base import Metric, MetricValue, Needs, register_metric
from ganforge.metrics.generation import check_generator, eval_mode, sample_latents

TRANSLATE_MAX = 0.125  # of the image size, each axis
ROTATE_MAX = 1.0  # times pi
GROUP = 4  # consecutive samples that share one random transform
PEAK = 2.0  # peak-to-peak of images in [-1, 1]
MSE_FLOOR = 1e-10
PSNR_CAP = 10.0 * math.log10(PEAK**2 / MSE_FLOOR)  # 106.02 dB
LANCZOS_A = 3
KINDS = ("eqt_int", "eqt_frac", "eqr")

# ---------------------------------------------------------------------------------------------
# Filters


def sinc(x: torch.Tensor) -> torch.Tensor:
    """Normalised sinc, sin(pi x) / (pi x), with sinc(0) = 1."""
    return torch.sinc(x)


def lanczos_window(x: torch.Tensor, a: float) -> torch.Tensor:
    """sinc(x / a) inside |x| < a, 0 outside."""
    x = x / a
    return torch.where(x.abs() < 1, torch.sinc(x), torch.zeros_like(x))


def rotation_matrix(angle: float | torch.Tensor) -> torch.Tensor:
    """[3, 3] float64 [[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]]: the matrix that, used as a sampling map
    (output(p) = input(M^-1 p)), turns the picture by ``angle`` (the official convention)."""
    a = torch.as_tensor(angle, dtype=torch.float64)
    c, s = torch.cos(a), torch.sin(a)
    m = torch.eye(3, dtype=torch.float64)
    m[0, 0], m[0, 1], m[1, 0], m[1, 1] = c, s, -s, c
    return m


@functools.lru_cache(maxsize=8)
def _input_side(a: int, aflt: int, up: int, cutoff_in: float, device: str):
    """The tap grid (xi, yi) and the 2-D real FFTs of the input-side band limit and window, which do not
    depend on the transform (separable: outer products of 1-D taps)."""
    n = aflt * up * 2 - 1
    taps = ((torch.arange(n, dtype=torch.float64, device=device) + 1) / up - aflt).roll(1 - aflt * up)
    taps = taps.to(torch.float32)  # starts at tap 0 (wrapped order)
    yi, xi = torch.meshgrid(taps, taps, indexing="ij")
    s1, w1 = sinc(taps * cutoff_in), lanczos_window(taps, a)
    return xi, yi, torch.fft.rfft2(s1[:, None] * s1[None, :]), torch.fft.rfft2(w1[:, None] * w1[None, :])


def bandlimit_filter(mat: torch.Tensor, *, a: int = LANCZOS_A, amax: int = 16, aflt: int = 64, up: int = 4,
                     cutoff_in: float = 1.0, cutoff_out: float = 1.0, device=None) -> torch.Tensor:
    """Odd-sized [2 amax up - 1]^2 float64 low-pass filter for resampling through the affine ``mat``
    (its [2, 2] part), at ``up`` times the pixel rate.

    The ideal filter is the convolution of the image's band limit (a separable sinc of ``cutoff_in`` in
    the input's axes) with the band limit of the output (the same sinc in the axes of the transformed
    grid); the window is the convolution of the two matching separable Lanczos windows of radius ``a``.
    Both convolutions are circular ones over a (2 aflt up - 1)^2 tap grid done with FFTs in float32 (as
    the official code), so the grid starts at tap 0 (wrapped order). The product is cut to the central
    (2 amax up - 1)^2 taps and each of its up x up polyphase components is normalised to sum 1 / up^2
    (a constant image stays constant after upsampling with gain up^2). Built on ``device`` (CPU if None)."""
    if not a <= amax < aflt:
        raise ValueError(f"bandlimit_filter needs a <= amax < aflt, got {a}, {amax}, {aflt}")
    dev = str(torch.device(device)) if device is not None else "cpu"
    xi, yi, fi_hat, wi_hat = _input_side(int(a), int(aflt), int(up), float(cutoff_in), dev)
    m = torch.as_tensor(mat, dtype=torch.float32).to(dev)[:2, :2]
    xo = xi * m[0, 0] + yi * m[0, 1]
    yo = xi * m[1, 0] + yi * m[1, 1]
    shape = xi.shape
    ideal = torch.fft.irfft2(fi_hat * torch.fft.rfft2(sinc(xo * cutoff_out) * sinc(yo * cutoff_out)), s=shape)
    window = torch.fft.irfft2(wi_hat * torch.fft.rfft2(lanczos_window(xo, a) * lanczos_window(yo, a)), s=shape)
    f = (ideal * window).double()
    crop = (aflt - amax) * up
    f = f.roll([aflt * up - 1] * 2, dims=[0, 1])[crop:-crop, crop:-crop]  # centred, 2 amax up - 1 taps
    f = F.pad(f, [0, 1, 0, 1]).reshape(amax * 2, up, amax * 2, up)
    f = f / f.sum([0, 2], keepdim=True) / up**2
    return f.reshape(amax * 2 * up, amax * 2 * up)[:-1, :-1]


def upfirdn(x: torch.Tensor, f: torch.Tensor, *, up: int = 1, pad: tuple[int, int, int, int] = (0, 0, 0, 0),
            gain: float = 1.0) -> torch.Tensor:
    """Upsample [N, C, H, W] by inserting ``up - 1`` zeros after every sample, pad (x0, x1, y0, y1) with
    zeros (negative values crop), and convolve (true convolution, kernel flipped) every channel with the
    2-D filter ``f`` times ``gain``. Output [N, C, H up + y0 + y1 - fh + 1, W up + x0 + x1 - fw + 1].

    With ``up`` > 1 the inserted zeros are skipped (polyphase): the upsampled-and-convolved signal at
    m = n + fw - 1 - pad0 is z[m] = sum_i x[i] f[m - up i], and its phase r, z[up q + r], is the full
    convolution of x with the taps f[up k + r]; one grouped convolution computes every phase and
    ``pixel_shuffle`` interleaves them."""
    _, c, h, w = x.shape
    fh, fw = f.shape
    x0, x1, y0, y1 = pad
    k = (f.to(x.dtype) * gain).to(x.device)
    if up > 1:
        kh, kw = -(-fh // up), -(-fw // up)
        g = F.pad(k, [0, kw * up - fw, 0, kh * up - fh]).reshape(kh, up, kw, up).permute(1, 3, 0, 2)
        g = g.flip([2, 3]).reshape(up * up, 1, kh, kw).repeat(c, 1, 1, 1)  # channel c * up^2 + r * up + s
        out = F.conv2d(F.pad(x, [kw - 1, kw - 1, kh - 1, kh - 1]), g, groups=c)
        out = F.pixel_shuffle(out, up)  # z[m] for m = 0 .. up (size + k - 1) - 1
        left, top = x0 - fw + 1, y0 - fh + 1
        right = (w * up + x0 + x1 - fw + 1) - (out.shape[3] + left)
        bottom = (h * up + y0 + y1 - fh + 1) - (out.shape[2] + top)
        return F.pad(out, [left, right, top, bottom])
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0): x.shape[2] - max(-y1, 0), max(-x0, 0): x.shape[3] - max(-x1, 0)]
    return F.conv2d(x, k.flip([0, 1])[None, None].repeat(c, 1, 1, 1), groups=c)


def filter_same(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """``x`` convolved with the 2-D filter ``f`` (zeros outside the frame), the same size as ``x``."""
    fh, fw = f.shape
    return upfirdn(x, f, pad=(fw // 2, (fw - 1) // 2, fh // 2, (fh - 1) // 2))


# ---------------------------------------------------------------------------------------------
# The moving operators: (moved image, mask of the pixels it defines), both [N, C, H, W]


def _shift(x: torch.Tensor, s: int, dim: int) -> torch.Tensor:
    """out[p] = x[p - s] along ``dim`` (zeros where p - s leaves the frame)."""
    size = x.shape[dim]
    out = torch.zeros_like(x)
    if abs(s) < size:
        src = x.narrow(dim, max(-s, 0), size - abs(s))
        out.narrow(dim, max(s, 0), size - abs(s)).copy_(src)
    return out


def _pixels(t, size: int) -> torch.Tensor:
    # the translation in pixels, in float32 as the transform buffer holds it
    return torch.as_tensor(t, dtype=torch.float32).cpu() * size


def integer_translation(x: torch.Tensor, tx, ty) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift ``x`` right by round(tx W) and down by round(ty H) pixels (tx, ty in units of the image);
    the mask is 1 where the shifted image has a source pixel."""
    _, _, h, w = x.shape
    ix, iy = int(_pixels(tx, w).round()), int(_pixels(ty, h).round())
    z = _shift(_shift(x, ix, 3), iy, 2)
    m = _shift(_shift(torch.ones_like(x), ix, 3), iy, 2)
    return z, m


def _lanczos_taps(frac: torch.Tensor, a: int) -> tuple[list[int], torch.Tensor]:
    """Offsets m = -(a-1) .. a and weights of sum_m w_m x[p - i - m] ~ x(p - i - frac), normalised to 1."""
    offsets = list(range(-(a - 1), a + 1))
    u = torch.tensor(offsets, dtype=torch.float64) - frac.double()
    w = sinc(u) * sinc(u / a)
    return offsets, w / w.sum()


def fractional_translation(x: torch.Tensor, tx, ty, a: int = LANCZOS_A) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift ``x`` by (tx W, ty H) pixels, not necessarily whole, with a separable Lanczos-a kernel (zeros
    outside the frame). The mask keeps the pixels whose 2a taps all fall inside the frame."""
    _, _, h, w = x.shape
    z = x
    mask_ranges = []
    for t, size, dim in ((tx, w, 3), (ty, h, 2)):
        p = _pixels(t, size)
        i = int(p.floor())
        offsets, weights = _lanczos_taps(p - i, a)
        z = sum(float(wt) * _shift(z, i + m, dim) for m, wt in zip(offsets, weights, strict=True))
        mask_ranges.append((max(i + a, 0), min(i - (a - 1), 0) + size))
    m = torch.zeros_like(x)
    (x0, x1), (y0, y1) = mask_ranges
    if x0 < x1 and y0 < y1:
        m[:, :, y0:y1, x0:x1] = 1
    return z, m


def affine_transformation(x: torch.Tensor, mat: torch.Tensor, *, up: int = 4, **filter_kwargs
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample ``x`` through the affine ``mat`` (output(p) = input(mat^-1 p), coordinates in units of the
    image with the origin at its centre): upsample ``up`` x through ``bandlimit_filter(mat)``, then
    sample bilinearly. The mask is 1 where the sample falls inside the upsampled image away from its
    border (where the filter saw only zeros)."""
    _, _, h, w = x.shape
    mat = torch.as_tensor(mat, dtype=torch.float64)
    f = bandlimit_filter(mat, up=up, device=x.device, **filter_kwargs)
    p = f.shape[0] // 2
    # the upsampled image: 2p extra samples, and pixel i's centre sits half an upsampled pixel to the
    # right/below of i + 1/2 (upsample padding (fw + up - 1) // 2 on the left)
    fw = f.shape[0]
    y = upfirdn(x, f, up=up, pad=(p + (fw + up - 1) // 2, p + (fw - up) // 2, p + (fw + up - 1) // 2,
                                  p + (fw - up) // 2), gain=up * up)
    theta = torch.linalg.inv(mat)
    theta[:2, 2] *= 2  # image units -> affine_grid's [-1, 1]
    theta[0, 2] += 1 / up / w  # the half upsampled pixel above
    theta[1, 2] += 1 / up / h
    theta[0, :] *= w / (w + p / up * 2)  # the upsampled image is p / up input pixels wider on each side
    theta[1, :] *= h / (h + p / up * 2)
    theta = theta[:2, :3].to(x.dtype).to(x.device).unsqueeze(0).repeat(x.shape[0], 1, 1)
    g = F.affine_grid(theta, list(x.shape), align_corners=False)
    z = F.grid_sample(y, g, mode="bilinear", padding_mode="zeros", align_corners=False)
    m = torch.zeros_like(y)
    c = p * 2 + 1
    m[:, :, c:-c, c:-c] = 1
    m = F.grid_sample(m, g, mode="nearest", padding_mode="zeros", align_corners=False)
    return z, m


def fractional_rotation(x: torch.Tensor, angle, a: int = LANCZOS_A) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate ``x`` by ``angle`` radians about its centre, band-limited (Lanczos a, taps up to 2a)."""
    return affine_transformation(x, rotation_matrix(angle), a=a, amax=a * 2)


def pseudo_rotation(x: torch.Tensor, angle, a: int = LANCZOS_A) -> tuple[torch.Tensor, torch.Tensor]:
    """The band limit a rotation by ``angle`` imposes, applied to ``x`` without rotating it (same size);
    the mask drops the border the filter reaches beyond."""
    f = bandlimit_filter(rotation_matrix(-torch.as_tensor(angle, dtype=torch.float64)), a=a, amax=a * 2, up=1,
                         device=x.device)
    y = filter_same(x, f)
    m = torch.zeros_like(y)
    c = f.shape[0] // 2
    m[:, :, c:-c, c:-c] = 1
    return y, m


# ---------------------------------------------------------------------------------------------
# The measurement


def psnr_from_sums(sq: float, count: float) -> float:
    """PSNR in dB of images in [-1, 1] from the summed squared differences over ``count`` masked pixels."""
    mse = max(sq / count, MSE_FLOOR)
    return 20.0 * math.log10(PEAK) - 10.0 * math.log10(mse)


@contextlib.contextmanager
def _held_transform(M: torch.Tensor) -> Iterator[torch.Tensor]:
    """Yield the live transform buffer; whatever is written into it is undone afterwards, also on errors."""
    saved = M.detach().clone()
    try:
        yield M
    finally:
        with torch.no_grad():
            M.copy_(saved)


def _takes(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn.forward if isinstance(fn, nn.Module) else fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def check_equivariance_generator(G, what: str = "the equivariance metrics") -> torch.Tensor:
    """The live input transform of ``G``; a GanforgeError naming ``what`` for a generator the metrics
    cannot move."""
    M = input_transform(G)
    if M is None:
        raise GanforgeError(
            f"{what} needs a generator whose input can be moved (a [3, 3] synthesis.input.transform, as "
            f"StyleGAN3's alias-free generators have); {type(G).__name__} has none, so it cannot be measured")
    if not (callable(getattr(G, "mapping", None)) and callable(getattr(G, "synthesis", None))):
        raise GanforgeError(f"{what} needs a generator with mapping(z, c) and synthesis(ws); "
                            f"{type(G).__name__} lacks them")
    check_generator(G)
    return M


def _draws(kind: str, groups: int, gen: torch.Generator, translate_max: float, rotate_max: float) -> torch.Tensor:
    if kind == "eqr":
        return (torch.rand(groups, 1, generator=gen) * 2 - 1) * (rotate_max * math.pi)
    return (torch.rand(groups, 2, generator=gen) * 2 - 1) * translate_max


def equivariance_psnr(
    G: nn.Module,
    kind: str,
    *,
    num_samples: int = 50000,
    batch_size: int = 64,
    seed: int = 0,
    device="cpu",
    translate_max: float = TRANSLATE_MAX,
    rotate_max: float = ROTATE_MAX,
    shard=None,
) -> dict:
    """EQ-T (``kind`` "eqt_int"), EQ-T_frac ("eqt_frac") or EQ-R ("eqr") of ``G`` over ``num_samples``
    latents -> {"psnr", "mse", "masked_pixels", ...} (the settings, for the record).

    ``rotate_max`` is in units of pi. ``shard``: a ``metrics.shard.Shard`` when every process of a group
    computes it together (each renders its share of the batches; sums are added in batch order)."""
    from ganforge.metrics.shard import Shard, batch_seed, seeded_forward

    shard = shard or Shard()
    if kind not in KINDS:
        raise GanforgeError(f"unknown equivariance kind {kind!r}; valid choices: {', '.join(KINDS)}")
    if num_samples < 1:
        raise GanforgeError(f"the equivariance metrics need num_samples >= 1, got {num_samples}")
    M = check_equivariance_generator(G)
    noise = {"noise_mode": "const"} if _takes(G.synthesis, "noise_mode") else {}
    gen = torch.Generator().manual_seed(int(seed))
    z_all, c_all = sample_latents(G, num_samples, gen)
    groups = (num_samples + GROUP - 1) // GROUP
    draws = _draws(kind, groups, gen, translate_max, rotate_max)  # float32, like the transform buffer
    res = int(getattr(G, "img_resolution", 0) or 0)
    per_batch = max(1, (batch_size + GROUP - 1) // GROUP)  # groups per batch: a batch is whole groups
    eye = torch.eye(3)

    def batch_sums(i: int) -> np.ndarray:
        g0, g1 = i * per_batch, min((i + 1) * per_batch, groups)
        sl = slice(g0 * GROUP, min(g1 * GROUP, num_samples))
        z = z_all[sl].to(device)
        c = c_all[sl].to(device) if c_all is not None else None
        sums = torch.zeros(2, dtype=torch.float64)
        with torch.no_grad(), eval_mode(G), _held_transform(M), seeded_forward(batch_seed(seed, None, i), device):
            ws = G.mapping(z, c)
            M.copy_(eye)
            orig = G.synthesis(ws, **noise).float()
            size = res or int(orig.shape[-1])
            for g in range(g0, g1):
                lo = (g - g0) * GROUP
                ws_g, orig_g = ws[lo:lo + GROUP], orig[lo:lo + GROUP]
                d = draws[g]
                if kind == "eqr":
                    M.copy_(rotation_matrix(-d[0]).to(M.dtype))
                    img = G.synthesis(ws_g, **noise).float()
                    ref, ref_mask = fractional_rotation(orig_g, d[0])
                    pseudo, pseudo_mask = pseudo_rotation(img, d[0])
                    diff, mask = ref - pseudo, ref_mask * pseudo_mask
                else:
                    t = (d * size).round() / size if kind == "eqt_int" else d
                    m = eye.clone()
                    m[:2, 2] = -t
                    M.copy_(m.to(M.dtype))
                    img = G.synthesis(ws_g, **noise).float()
                    move = integer_translation if kind == "eqt_int" else fractional_translation
                    ref, mask = move(orig_g, t[0], t[1])
                    diff = ref - img
                sums += torch.stack([(diff.square() * mask).double().sum(), mask.double().sum()]).cpu()
        return sums.numpy()

    n_batches = (groups + per_batch - 1) // per_batch
    total = np.zeros(2, dtype=np.float64)
    for part in shard.map(n_batches, batch_sums):
        total += part
    sq, count = float(total[0]), float(total[1])
    if count <= 0:
        raise GanforgeError(f"{kind}: no pixel of the {res or '?'} px images is defined after the transforms "
                            "(images too small for the resampling filters' borders)")
    out = {
        "psnr": psnr_from_sums(sq, count),
        "mse": sq / count,
        "masked_pixels": count,
        "num_samples": int(num_samples),
        "transform": {"eqt_int": "integer translation", "eqt_frac": "fractional translation",
                      "eqr": "rotation"}[kind],
        "transforms_drawn": groups,
        "samples_per_transform": GROUP,
        "truncation_psi": 1,
        "noise": "const (noise_mode='const')" if noise else "the generator takes no noise_mode",
        "peak": "images in [-1, 1]: PSNR = 10 log10(2^2 / MSE), MSE over all masked pixels of all samples",
        "mse_floor": MSE_FLOOR,
        "lanczos_a": LANCZOS_A,
    }
    if kind == "eqr":
        out["rotate_max_rad"] = rotate_max * math.pi
        out["filter"] = "4x upsampling through the oriented band limit, bilinear rotation; pseudo-rotation"
    else:
        out["translate_max"] = translate_max
        out["filter"] = "whole-pixel shift" if kind == "eqt_int" else "separable Lanczos (a=3) shift"
    return out


class Equivariance(Metric):
    """One of EQ-T (``eqt{N}k_int``), EQ-T_frac (``eqt{N}k_frac``), EQ-R (``eqr{N}k``): PSNR in dB."""

    needs = Needs(generator=True)

    def __init__(self, kind: str) -> None:
        self.kind = kind
        if kind == "eqr":
            self.form, self.pattern, self.example = "eqr{N}k", r"eqr(?P<n>\d+)k", "eqr1k"
        else:
            suffix = kind.split("_", 1)[1]
            self.form, self.pattern = f"eqt{{N}}k_{suffix}", rf"eqt(?P<n>\d+)k_{suffix}"
            self.example = f"eqt1k_{suffix}"

    def check_generator(self, pm, generator, dataset) -> None:
        check_equivariance_generator(generator, f"metric {pm.name!r}")

    def compute(self, pm, inputs) -> MetricValue:
        G = inputs.generator
        check_equivariance_generator(G, f"metric {pm.name!r}")
        out = equivariance_psnr(G, self.kind, num_samples=pm.n, batch_size=inputs.batch_size, seed=inputs.seed,
                                device=inputs.device, shard=inputs.shard)
        value = out.pop("psnr")
        return MetricValue(value, pm.n, 0, out)


for _kind in KINDS:
    register_metric(Equivariance(_kind))
