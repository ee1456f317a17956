"""Alias-free filtered leaky ReLU (StyleGAN3) in plain PyTorch, and the low-pass filters it uses.

``filtered_lrelu(x, fu, fd, b, up, down, padding, gain, slope, clamp)`` computes, per channel, the same
sequence as the official ``torch_utils.ops.filtered_lrelu`` (NVlabs stylegan3):

1. add the bias ``b``;
2. upsample by ``up``: insert ``up - 1`` zeros after every sample, pad by ``padding`` =
   (px0, px1, py0, py1) (negative values crop) and convolve ('valid') with ``fu`` scaled by
   ``up ** 2`` (a 1-D ``fu`` is applied along x and along y, each scaled by ``up``);
3. leaky ReLU (negative slope ``slope``), times ``gain``, clamped to [-clamp, clamp];
4. convolve ('valid') with ``fd`` and keep every ``down``-th sample.

A filter is a 1-D tensor [taps] (separable), a 2-D tensor [fh, fw] (non-separable, e.g. the radial
filters of config R) or None (identity). Filters are convolved, not correlated (official
``flip_filter=False``); ``flip_filter`` is not offered.

``filtered_lrelu_reference`` is the formula as written, on zero-stuffed tensors with 2-D kernels.
``filtered_lrelu`` computes the same values faster: polyphase upsampling (``conv_transpose2d`` with a
stride instead of zero insertion), 1-D filters as two 1-D convolutions, downsampling as a strided
convolution (the discarded samples are never computed), upsampled samples that no output reads are
cropped before the nonlinearity, all filters run depthwise (groups=C), and without autograd the
nonlinearity runs in place on the intermediate tensor. Both are differentiable with autograd and traceable by torch.compile
(only shapes, never tensor values, steer the Python code). Unlike the official CUDA kernel there is no
sign-bit caching; the gradient is the plain autograd gradient of the same expression.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.signal
import scipy.special
import torch
import torch.nn.functional as F

from ganforge.nn.stylegan_ops import upfirdn2d

__all__ = [
    "design_lowpass_filter",
    "filtered_lrelu",
    "filtered_lrelu_reference",
    "output_size",
    "parse_padding",
]


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float,
                          radial: bool = False) -> torch.Tensor | None:
    """The StyleGAN3 low-pass filter (official ``SynthesisLayer.design_lowpass_filter``).

    ``numtaps == 1``: None (identity). Otherwise a Kaiser-windowed sinc from ``scipy.signal.firwin``
    (cutoff ``cutoff``, transition width ``width``, sampling rate ``fs``; unit DC gain), a float32
    tensor [numtaps]; with ``radial`` a radially symmetric jinc filter
    ``J1(2 pi cutoff r) / (pi r)`` windowed by the outer product of a 1-D Kaiser window whose beta
    follows from ``numtaps`` and ``width``, normalised to sum 1, a float32 tensor [numtaps, numtaps].
    """
    if numtaps < 1:
        raise ValueError(f"numtaps must be >= 1, got {numtaps}")
    if numtaps == 1:
        return None
    if not radial:
        taps = scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
        return torch.as_tensor(taps, dtype=torch.float32)
    pos = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(pos, pos))
    # r is never 0 here for even numtaps; an odd numtaps would hit 0/0 at the centre, as official.
    kernel = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    kernel = kernel * np.outer(window, window)
    kernel = kernel / np.sum(kernel)
    return torch.as_tensor(kernel, dtype=torch.float32)


def parse_padding(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """``padding`` as (px0, px1, py0, py1): an int pads every side, a pair is (px, py)."""
    if isinstance(padding, (int, np.integer)):
        padding = [int(padding)] * 2
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    if len(padding) != 4:
        raise ValueError(f"padding must be an int, (px, py) or (px0, px1, py0, py1), got {padding}")
    return padding[0], padding[1], padding[2], padding[3]


def _taps(f: torch.Tensor | None) -> tuple[int, int]:
    """(width, height) of a filter in taps."""
    if f is None:
        return 1, 1
    return int(f.shape[-1]), int(f.shape[0])


def output_size(in_w: int, in_h: int, fu: torch.Tensor | None, fd: torch.Tensor | None, up: int, down: int,
                padding: int | Sequence[int]) -> tuple[int, int]:
    """(out_w, out_h) of ``filtered_lrelu`` for an input of in_w x in_h."""
    px0, px1, py0, py1 = parse_padding(padding)
    fuw, fuh = _taps(fu)
    fdw, fdh = _taps(fd)
    out_w = (in_w * up + px0 + px1 - (fuw - 1) - (fdw - 1) + down - 1) // down
    out_h = (in_h * up + py0 + py1 - (fuh - 1) - (fdh - 1) + down - 1) // down
    return out_w, out_h


def _lrelu_gain_clamp(x: torch.Tensor, gain: float, slope: float, clamp: float | None,
                      inplace: bool = False) -> torch.Tensor:
    """leaky ReLU, gain, clamp; ``inplace`` overwrites ``x`` (memory-bound: saves two full passes)."""
    if inplace:
        if slope != 1:
            x = F.leaky_relu_(x, slope)
        if gain != 1:
            x = x.mul_(gain)
        return x if clamp is None else x.clamp_(-clamp, clamp)
    if slope != 1:
        x = F.leaky_relu(x, slope)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def _check(x: torch.Tensor, b: torch.Tensor | None, up: int, down: int) -> None:
    if x.ndim != 4:
        raise ValueError(f"x must be [N, C, H, W], got {list(x.shape)}")
    if b is not None and (b.ndim != 1 or b.shape[0] != x.shape[1]):
        raise ValueError(f"b must be [{x.shape[1]}], got {list(b.shape)}")
    if int(up) != up or up < 1 or int(down) != down or down < 1:
        raise ValueError(f"up and down must be integers >= 1, got {up}, {down}")


def filtered_lrelu_reference(x: torch.Tensor, fu: torch.Tensor | None = None, fd: torch.Tensor | None = None,
                             b: torch.Tensor | None = None, up: int = 1, down: int = 1,
                             padding: int | Sequence[int] = 0, gain: float = float(np.sqrt(2)),
                             slope: float = 0.2, clamp: float | None = None) -> torch.Tensor:
    """The filtered leaky ReLU written as its definition (see the module docstring): zero-stuffing and
    2-D FIR convolutions through ``ganforge.nn.stylegan_ops.upfirdn2d``. Slow; for tests."""
    _check(x, b, up, down)
    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, 1, 1)
    ku = None if fu is None else (torch.outer(fu, fu) if fu.ndim == 1 else fu)
    kd = None if fd is None else (torch.outer(fd, fd) if fd.ndim == 1 else fd)
    px0, px1, py0, py1 = parse_padding(padding)
    x = upfirdn2d(x, ku, up=up, padding=(px0, px1, py0, py1), gain=up ** 2)
    x = _lrelu_gain_clamp(x, gain, slope, clamp)
    return upfirdn2d(x, kd, down=down)


def _fit(x: torch.Tensor, dim: int, start: int, length: int) -> torch.Tensor:
    """Samples ``start .. start + length - 1`` of ``x`` along ``dim`` (3 = x, 2 = y), zeros outside."""
    size = x.shape[dim]
    lo, hi = -start, start + length - size
    if lo == 0 and hi == 0:
        return x
    return F.pad(x, [lo, hi, 0, 0] if dim == 3 else [0, 0, lo, hi])


def _per_channel(w: torch.Tensor, c: int) -> torch.Tensor:
    """A [1, 1, kh, kw] kernel repeated for a depthwise (groups=C) convolution: [C, 1, kh, kw]."""
    return w.expand(c, 1, *w.shape[2:]).contiguous()


def _up_1d(x: torch.Tensor, f: torch.Tensor, up: int, dim: int, p0: int, keep: int) -> torch.Tensor:
    """Zero-insert by ``up``, pad by ``p0`` in front, convolve with 1-D ``f`` (times ``up``) along ``dim``,
    and return the first ``keep`` samples. x is [N, C, H, W]; depthwise (groups=C)."""
    k, c = f.numel(), x.shape[1]
    w = (f * up).to(x.dtype)
    if dim == 3:
        w, stride = w.reshape(1, 1, 1, k), (1, up)
    else:
        w, stride = w.reshape(1, 1, k, 1), (up, 1)
    if up > 1:
        # conv_transpose with a stride = full convolution of the zero-stuffed input (no flip needed).
        y = F.conv_transpose2d(x, _per_channel(w, c), stride=stride, groups=c)
    else:
        pad = [k - 1, k - 1, 0, 0] if dim == 3 else [0, 0, k - 1, k - 1]
        y = F.conv2d(F.pad(x, pad), _per_channel(w.flip([2, 3]), c), groups=c)
    # full-convolution index j = valid-convolution index i + (k - 1 - p0)
    return _fit(y, dim, k - 1 - p0, keep)


def _up_2d(x: torch.Tensor, f: torch.Tensor, up: int, pad: tuple[int, int, int, int],
           keep: tuple[int, int]) -> torch.Tensor:
    kh, kw, c = int(f.shape[0]), int(f.shape[1]), x.shape[1]
    w = (f * up ** 2).to(x.dtype).reshape(1, 1, kh, kw)
    if up > 1:
        y = F.conv_transpose2d(x, _per_channel(w, c), stride=up, groups=c)
    else:
        y = F.conv2d(F.pad(x, [kw - 1, kw - 1, kh - 1, kh - 1]), _per_channel(w.flip([2, 3]), c), groups=c)
    y = _fit(y, 3, kw - 1 - pad[0], keep[0])
    return _fit(y, 2, kh - 1 - pad[2], keep[1])


def filtered_lrelu(x: torch.Tensor, fu: torch.Tensor | None = None, fd: torch.Tensor | None = None,
                   b: torch.Tensor | None = None, up: int = 1, down: int = 1, padding: int | Sequence[int] = 0,
                   gain: float = float(np.sqrt(2)), slope: float = 0.2, clamp: float | None = None) -> torch.Tensor:
    """Filtered leaky ReLU (module docstring), fast path: same values as ``filtered_lrelu_reference`` up to
    float rounding. x [N, C, H, W] (any float dtype; filters are cast to it) -> [N, C, out_h, out_w]."""
    _check(x, b, up, down)
    c, h, w = x.shape[1], x.shape[2], x.shape[3]
    px0, px1, py0, py1 = parse_padding(padding)
    fdw, fdh = _taps(fd)
    out_w, out_h = output_size(w, h, fu, fd, up, down, padding)
    if out_w < 1 or out_h < 1:
        raise ValueError(f"filtered_lrelu: empty output ({out_w}x{out_h}) for input {w}x{h}")
    # Only upsampled samples 0 .. (out-1)*down + fd_taps - 1 reach an output.
    keep_w = (out_w - 1) * down + fdw
    keep_h = (out_h - 1) * down + fdh

    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, 1, 1)
    if fu is None and up == 1:
        y = _fit(_fit(x, 3, -px0, keep_w), 2, -py0, keep_h)
    else:
        f = torch.ones(1, dtype=torch.float32, device=x.device) if fu is None else fu
        if f.ndim == 1:
            y = _up_1d(x, f, up, 3, px0, keep_w)
            y = _up_1d(y, f, up, 2, py0, keep_h)
        else:
            y = _up_2d(x, f, up, (px0, px1, py0, py1), (keep_w, keep_h))

    # In place only without autograd (inference) and when y is a fresh tensor (not the caller's x).
    y = _lrelu_gain_clamp(y, gain, slope, clamp, inplace=y is not x and not y.requires_grad)

    if fd is None:
        y = y[:, :, ::down, ::down] if down > 1 else y
    elif fd.ndim == 1:
        k = fd.numel()
        wd = fd.flip(0).to(y.dtype)
        y = F.conv2d(y, _per_channel(wd.reshape(1, 1, k, 1), c), stride=(down, 1), groups=c)
        y = F.conv2d(y, _per_channel(wd.reshape(1, 1, 1, k), c), stride=(1, down), groups=c)
    else:
        y = F.conv2d(y, _per_channel(fd.flip([0, 1]).to(y.dtype)[None, None], c), stride=down, groups=c)
    return y
