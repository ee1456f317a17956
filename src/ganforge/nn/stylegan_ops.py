"""Low-level operations of StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality
of StyleGAN"), written in plain PyTorch.

Contents:
- FIR resampling: ``setup_filter``, ``upfirdn2d`` (zero insertion, pad/crop, filter, decimate) and the
  shape-preserving wrappers ``upsample2d``, ``downsample2d``, ``filter2d``.
- ``bias_act``: bias + activation + gain + optional clamp.
- ``conv2d_resample``: a convolution fused with 2x FIR up- or downsampling.
- Equalized learning rate layers (Karras et al. 2018): ``FullyConnectedLayer``, ``Conv2dLayer``.
  Weights are stored as N(0, 1) (divided by the learning-rate multiplier) and scaled at run time by
  ``lr_multiplier / sqrt(fan_in)``.
- ``modulated_conv2d``: style modulation and weight demodulation, as one grouped convolution (fused)
  or as scaling of the activations before and after a shared convolution (non-fused).
- ``normalize_2nd_moment`` and ``MinibatchStdLayer``.

The maths, the parameter/buffer names and the argument conventions follow the official NVlabs code
(``torch_utils/ops`` and ``training/networks_stylegan2.py`` of the stylegan3 repository) so that its state
dicts load unchanged. Deliberate differences:
- No custom CUDA kernels (upfirdn2d, bias_act, filtered_lrelu) and no conv2d_gradfix: everything is
  ordinary autograd-capable torch ops, so double backward (R1, path length) works everywhere, only
  slower than the fused kernels on GPU.
- Resampling convolutions are always "filter then strided conv" (down) or "transposed conv then
  filter" (up); the official code has extra fast paths (e.g. 1x1 kernels) that give the same result
  up to float rounding.
- No ``flip_weight`` / ``flip_filter`` switches. Plain and downsampling convolutions are
  cross-correlations with the stored weight (torch's ``conv2d``), upsampling convolutions are
  transposed convolutions with the stored weight; this is what the official layers do with their
  default ``flip_weight = (up == 1)``. FIR filters are applied as true convolutions (the symmetric
  default [1, 3, 3, 1] makes the distinction moot).
- No channels_last memory format.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

Padding = int | Sequence[int]

# ---------------------------------------------------------------------------------------------------
# FIR filtering


def setup_filter(f: Sequence[float] | torch.Tensor | None = (1, 3, 3, 1), normalize: bool = True,
                 gain: float = 1.0, device: torch.device | str | None = None) -> torch.Tensor:
    """Turn filter taps into the 2-D float32 kernel used by ``upfirdn2d``.

    A 1-D list of taps becomes its outer product with itself (a separable 2-D filter); ``None`` is the
    identity. With ``normalize`` the kernel sums to 1 (keeps a constant signal unchanged); ``gain``
    then scales the overall magnitude. Returns a tensor [fh, fw].
    """
    k = torch.as_tensor(1.0 if f is None else f, dtype=torch.float32, device=device)
    if k.ndim == 0:
        k = k.reshape(1)
    if k.ndim == 1:
        k = torch.outer(k, k)
    if k.ndim != 2 or k.numel() == 0:
        raise ValueError(f"a FIR filter must have 0, 1 or 2 dimensions and at least one tap, got {tuple(k.shape)}")
    if normalize:
        k = k / k.sum()
    return k * gain


def _pad4(padding: Padding) -> tuple[int, int, int, int]:
    """Padding as (left, right, top, bottom); an int pads all sides, a pair is (x, y)."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    if len(padding) == 4:
        return padding[0], padding[1], padding[2], padding[3]
    raise ValueError(f"padding must be an int, (x, y) or (left, right, top, bottom), got {padding}")


def _pad_or_crop(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Zero-pad the last two dims; negative amounts crop instead."""
    left, right, top, bottom = pad
    x = F.pad(x, [max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)])
    h, w = x.shape[2], x.shape[3]
    return x[:, :, max(-top, 0): h - max(-bottom, 0), max(-left, 0): w - max(-right, 0)]


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1, padding: Padding = 0,
              gain: float = 1.0) -> torch.Tensor:
    """Upsample, pad, FIR-filter and downsample every channel of ``x`` [N, C, H, W].

    1. insert ``up - 1`` zeros after every pixel (rows and columns),
    2. zero-pad by ``padding`` = (left, right, top, bottom) (negative values crop),
    3. convolve with ``f`` (true convolution, 'valid' extent) scaled by ``gain``,
    4. keep every ``down``-th pixel.
    """
    if f is None:
        f = torch.ones(1, 1, dtype=torch.float32, device=x.device)
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = _pad_or_crop(x, _pad4(padding))
    # conv2d correlates, so flip the kernel to convolve.
    kernel = (f * gain).to(x.dtype).flip([0, 1])
    kernel = kernel[None, None].expand(c, 1, *kernel.shape)
    x = F.conv2d(x, kernel, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def _filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    return (1, 1) if f is None else (int(f.shape[-1]), int(f.shape[0]))


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2, padding: Padding = 0, gain: float = 1.0) -> torch.Tensor:
    """Upsample by ``up`` with FIR filter ``f``: [N, C, H, W] -> [N, C, H*up, W*up] (plus ``padding``)."""
    fw, fh = _filter_size(f)
    left, right, top, bottom = _pad4(padding)
    pad = (left + (fw + up - 1) // 2, right + (fw - up) // 2, top + (fh + up - 1) // 2, bottom + (fh - up) // 2)
    return upfirdn2d(x, f, up=up, padding=pad, gain=gain * up * up)


def downsample2d(x: torch.Tensor, f: torch.Tensor, down: int = 2, padding: Padding = 0,
                 gain: float = 1.0) -> torch.Tensor:
    """Downsample by ``down`` with FIR filter ``f``: [N, C, H, W] -> [N, C, H/down, W/down]."""
    fw, fh = _filter_size(f)
    left, right, top, bottom = _pad4(padding)
    pad = (left + (fw - down + 1) // 2, right + (fw - down) // 2, top + (fh - down + 1) // 2, bottom + (fh - down) // 2)
    return upfirdn2d(x, f, down=down, padding=pad, gain=gain)


def filter2d(x: torch.Tensor, f: torch.Tensor, padding: Padding = 0, gain: float = 1.0) -> torch.Tensor:
    """Filter with ``f`` keeping the spatial size (zero boundary)."""
    fw, fh = _filter_size(f)
    left, right, top, bottom = _pad4(padding)
    pad = (left + fw // 2, right + (fw - 1) // 2, top + fh // 2, bottom + (fh - 1) // 2)
    return upfirdn2d(x, f, padding=pad, gain=gain)


# ---------------------------------------------------------------------------------------------------
# Bias + activation

_DEFAULT_GAIN = {"linear": 1.0, "relu": math.sqrt(2), "lrelu": math.sqrt(2)}


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, act: str = "linear", gain: float | None = None,
             clamp: float | None = None, alpha: float = 0.2, dim: int = 1) -> torch.Tensor:
    """``clamp(act(x + b) * gain, -clamp, clamp)``.

    ``b`` is broadcast along ``dim``. ``gain`` defaults to the activation's variance-preserving gain
    (sqrt(2) for relu/lrelu, 1 for linear). ``alpha`` is the leaky-ReLU slope.
    """
    if act not in _DEFAULT_GAIN:
        raise ValueError(f"unknown activation {act!r}; choose from {sorted(_DEFAULT_GAIN)}")
    if b is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + b.to(x.dtype).reshape(shape)
    if act == "relu":
        x = F.relu(x)
    elif act == "lrelu":
        x = F.leaky_relu(x, alpha)
    gain = _DEFAULT_GAIN[act] if gain is None else float(gain)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


# ---------------------------------------------------------------------------------------------------
# Convolution with resampling


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, up: int = 1, down: int = 1,
                    padding: Padding = 0, groups: int = 1) -> torch.Tensor:
    """Convolve ``x`` with ``w`` [O, I/groups, kh, kw], optionally with FIR up- or downsampling.

    ``padding`` is relative to the (upsampled) input and applied once, as if the convolution and the
    filter were a single kernel; the filter's own padding is added so that the output size is
    exactly ``H * up / down``.
    - up: transposed convolution with stride ``up`` (zero insertion + convolution with ``w``), then
      the FIR filter with gain ``up**2``.
    - down: the FIR filter, then a convolution with stride ``down`` (correlation with ``w``).
    - neither: an ordinary correlation (torch ``conv2d``).
    """
    if up > 1 and down > 1:
        raise ValueError("conv2d_resample does either up- or downsampling, not both")
    out_ch, in_per_group, kh, kw = w.shape
    fw, fh = _filter_size(f)
    left, right, top, bottom = _pad4(padding)
    if up > 1:
        left, right = left + (fw + up - 1) // 2, right + (fw - up) // 2
        top, bottom = top + (fh + up - 1) // 2, bottom + (fh - up) // 2
        # conv_transpose2d wants [in, out/groups, kh, kw].
        wt = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
        wt = wt.reshape(groups * in_per_group, out_ch // groups, kh, kw)
        x = F.conv_transpose2d(x, wt, stride=up, groups=groups)
        # The transposed conv output starts kw - 1 pixels before the upsampled image; adjust the
        # filter's padding so the combined operation is padded exactly by (left, right, top, bottom).
        pad = (left - (kw - 1), right - (kw - up), top - (kh - 1), bottom - (kh - up))
        return upfirdn2d(x, f, padding=pad, gain=up * up)
    if down > 1:
        left, right = left + (fw - down + 1) // 2, right + (fw - down) // 2
        top, bottom = top + (fh - down + 1) // 2, bottom + (fh - down) // 2
        x = upfirdn2d(x, f, padding=(left, right, top, bottom))
        return F.conv2d(x, w, stride=down, groups=groups)
    if left == right == top == bottom and left >= 0:
        return F.conv2d(x, w, padding=left, groups=groups)
    return F.conv2d(_pad_or_crop(x, (left, right, top, bottom)), w, groups=groups)


# ---------------------------------------------------------------------------------------------------
# Equalized learning rate layers


class FullyConnectedLayer(nn.Module):
    """Linear layer with equalized learning rate: ``act(x @ (W * g).T + b * lr_multiplier)``,
    ``g = lr_multiplier / sqrt(in_features)``.

    ``weight`` [out, in] starts as N(0, 1) / lr_multiplier, ``bias`` [out] as ``bias_init``. With
    ``trainable=False`` both are buffers (frozen layers). The activation's default gain applies
    (sqrt(2) for lrelu).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0, trainable: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        weight = torch.randn(out_features, in_features) / lr_multiplier
        b = torch.full([out_features], float(bias_init)) if bias else None
        _register(self, "weight", weight, trainable)
        _register(self, "bias", b, trainable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


def _register(module: nn.Module, name: str, value: torch.Tensor | None, trainable: bool) -> None:
    if value is None:
        setattr(module, name, None)
    elif trainable:
        setattr(module, name, nn.Parameter(value))
    else:
        module.register_buffer(name, value)


class Conv2dLayer(nn.Module):
    """Convolution with equalized learning rate, optional 2x FIR up/downsampling, bias, activation and
    output clamp: ``clamp(act(conv(x, W / sqrt(in * k * k)) + b) * act_gain * gain, +-conv_clamp * gain)``.

    ``forward(x, gain=1)``: the extra ``gain`` (sqrt(0.5) on residual branches) scales both the output
    and the clamp. Padding is ``kernel_size // 2``, so without resampling the size is unchanged.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1,
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: float | None = None,
                 trainable: bool = True):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.activation = activation
        self.up, self.down = up, down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.act_gain = _DEFAULT_GAIN[activation]
        _register(self, "weight", torch.randn(out_channels, in_channels, kernel_size, kernel_size), trainable)
        _register(self, "bias", torch.zeros(out_channels) if bias else None, trainable)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resample(x, w, self.resample_filter, up=self.up, down=self.down, padding=self.padding)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"activation={self.activation}, up={self.up}, down={self.down}")


# ---------------------------------------------------------------------------------------------------
# Modulated convolution


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None = None,
                     up: int = 1, padding: Padding = 0, resample_filter: torch.Tensor | None = None,
                     demodulate: bool = True, fused_modconv: bool = True) -> torch.Tensor:
    """StyleGAN2's modulated convolution (paper section 2.2).

    Per sample n: ``w'[n] = weight * styles[n]`` (scaling input channels), and with ``demodulate``
    ``w''[n] = w'[n] / sqrt(sum_{i,kh,kw} w'[n]^2 + 1e-8)`` (per output channel); ``noise`` is added
    after the (de)modulated convolution. Shapes: x [N, I, H, W], weight [O, I, k, k], styles [N, I].

    ``fused_modconv=True`` builds the per-sample weights and runs one grouped convolution
    (groups = N); ``False`` scales the activations by ``styles`` before and by the demodulation
    coefficients after a single shared convolution. Both compute the same function.
    """
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    if styles.shape != (n, in_ch):
        raise ValueError(f"styles must be [{n}, {in_ch}], got {list(styles.shape)}")

    # In fp16, rescale weight and styles first so the per-sample weights cannot overflow;
    # demodulation removes the scale again.
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (1 / math.sqrt(in_ch * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = None
    dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, in_ch, 1, 1)  # [N, O, I, k, k]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(n, in_ch, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, padding=padding)
        if demodulate:
            x = x * dcoefs.to(x.dtype).reshape(n, out_ch, 1, 1)
        if noise is not None:
            x = x + noise.to(x.dtype)
        return x

    if demodulate:
        w = w * dcoefs.reshape(n, out_ch, 1, 1, 1)
    x = x.reshape(1, n * in_ch, *x.shape[2:])
    w = w.reshape(n * out_ch, in_ch, kh, kw).to(x.dtype)
    x = conv2d_resample(x, w, resample_filter, up=up, padding=padding, groups=n)
    x = x.reshape(n, out_ch, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


# ---------------------------------------------------------------------------------------------------
# Normalisation and minibatch statistics


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale ``x`` to unit root mean square along ``dim`` (pixel norm)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class MinibatchStdLayer(nn.Module):
    """Append ``num_channels`` feature maps holding the average standard deviation across groups of
    ``group_size`` samples (Karras et al. 2018, section 3; StyleGAN2 version with channel groups).

    The batch is split into ``N / G`` groups with ``G = min(group_size, N)`` (``None``: one group);
    members of a group are samples ``i, i + N/G, i + 2N/G, ...``. N must be divisible by G. The C
    channels are split into ``num_channels`` groups, each giving one statistic.
    """

    def __init__(self, group_size: int | None, num_channels: int = 1):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = n if self.group_size is None else min(self.group_size, n)
        if n % g != 0:
            raise ValueError(f"minibatch-stddev: batch size {n} is not divisible by the group size {g}")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()  # [n/G, F, c, H, W]
        y = y.mean(dim=[2, 3, 4]).reshape(-1, f, 1, 1)  # [n/G, F, 1, 1]
        y = y.repeat(g, 1, h, w)  # [N, F, H, W]
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
