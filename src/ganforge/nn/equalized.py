"""Layers of the progressive and style-based generators (ProGAN, Karras et al. 2018; StyleGAN, Karras
et al. 2019).

- ``EqualizedLinear`` / ``EqualizedConv2d``: equalized learning rate. The stored weight is drawn from
  N(0, 1 / lr_mult^2) and multiplied at every forward pass by ``gain / sqrt(fan_in) * lr_mult``; the
  bias is stored divided by ``lr_mult`` and multiplied back. Adam's step is scale-free, so every
  layer then learns at the same speed, and ``lr_mult`` < 1 slows a whole layer down (StyleGAN's
  mapping network uses 0.01).
- ``pixel_norm``: each pixel's feature vector divided by its root mean square over channels.
- ``minibatch_stddev``: the standard deviation of each feature over a group of samples, averaged
  into ``num_channels`` extra feature maps (ProGAN section 3).
- ``blur`` / ``Blur``: the separable [1, 2, 1] low-pass filter StyleGAN applies when resampling.
- ``NoiseInjection``: per-pixel Gaussian noise added with a learned per-channel scale.
- ``AdaIN``: instance normalisation, then a per-channel scale and bias computed from a style vector.
- ``upsample`` / ``downsample``: nearest-neighbour enlargement and average pooling by a factor.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


class EqualizedLinear(nn.Module):
    """y = x @ (W * gain / sqrt(in) * lr_mult)^T + b * lr_mult, W ~ N(0, 1 / lr_mult^2).

    Args:
        in_features, out_features: sizes; gain: He gain (sqrt(2) before a leaky ReLU, 1 before a
        linear output); lr_mult: learning-rate multiplier; bias: add a bias; bias_init: its value.
    """

    def __init__(self, in_features: int, out_features: int, gain: float = SQRT2, lr_mult: float = 1.0,
                 bias: bool = True, bias_init: float = 0.0):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mult)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / lr_mult)) if bias else None
        self.weight_gain = gain / math.sqrt(in_features) * lr_mult
        self.lr_mult = lr_mult

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        if self.bias is None:
            return F.linear(x, w)
        return F.linear(x, w, self.bias * self.lr_mult)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, weight_gain={self.weight_gain:.4g}, lr_mult={self.lr_mult:g}"


class EqualizedConv2d(nn.Module):
    """A stride-1 convolution with 'same' padding and equalized learning rate (fan_in = in * k * k)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, gain: float = SQRT2,
                 lr_mult: float = 1.0, bias: bool = True):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_mult)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = gain / math.sqrt(in_channels * kernel_size * kernel_size) * lr_mult
        self.lr_mult = lr_mult

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias * self.lr_mult if self.bias is not None else None
        return F.conv2d(x, self.weight * self.weight_gain, b, padding=self.kernel_size // 2)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"weight_gain={self.weight_gain:.4g}, lr_mult={self.lr_mult:g}")


def pixel_norm(x: torch.Tensor, eps: float = 1e-8, dim: int = 1) -> torch.Tensor:
    """x / sqrt(mean(x^2 over ``dim``) + eps): every feature vector brought to unit RMS."""
    return x * torch.rsqrt(x.square().mean(dim=dim, keepdim=True) + eps)


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_norm(x)


def _group_size(n: int, group_size: int) -> int:
    """The group size used for a batch of ``n``: ``group_size`` capped at ``n``, lowered to the
    largest divisor of ``n`` when it does not divide it (the official code requires divisibility)."""
    g = max(1, min(group_size, n))
    while n % g:
        g -= 1
    return g


def minibatch_stddev(x: torch.Tensor, group_size: int = 4, num_channels: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Append ``num_channels`` feature maps holding the average standard deviation over groups.

    Sample i belongs to group i mod (N / G) (the official reshape [G, M, ...]). Within a group, every
    feature's standard deviation sqrt(var + eps) over the G samples is computed, averaged over the
    channels of each of ``num_channels`` channel groups and all pixels, and broadcast as a constant
    map to every sample of that group. x [N, C, H, W] -> [N, C + num_channels, H, W].
    """
    n, c, h, w = x.shape
    g = _group_size(n, group_size)
    y = x.reshape(g, -1, num_channels, c // num_channels, h, w).float()  # [G, M, n, c, H, W]
    y = y - y.mean(dim=0, keepdim=True)
    y = (y.square().mean(dim=0) + eps).sqrt()  # [M, n, c, H, W]
    y = y.mean(dim=[2, 3, 4])  # [M, n]
    y = y.to(x.dtype).reshape(-1, num_channels, 1, 1).repeat(g, 1, h, w)  # [N, n, H, W]
    return torch.cat([x, y], dim=1)


def blur(x: torch.Tensor) -> torch.Tensor:
    """The normalised 3x3 filter [1, 2, 1]^T [1, 2, 1] / 16 applied per channel, zero 'same' padding."""
    c = x.shape[1]
    k = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
    k = (k[:, None] * k[None, :]) / 16.0
    return F.conv2d(x, k.expand(c, 1, 3, 3), padding=1, groups=c)


class Blur(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return blur(x)


def upsample(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour enlargement by an integer factor (each pixel becomes a factor x factor block)."""
    if factor == 1:
        return x
    return x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


def downsample(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Average pooling over factor x factor blocks."""
    if factor == 1:
        return x
    return F.avg_pool2d(x, factor)


class NoiseInjection(nn.Module):
    """x + noise * weight[c]: per-pixel N(0, 1) noise shared by all channels, scaled per channel.

    The weights start at zero (StyleGAN). ``noise_const`` is a fixed noise map used when
    ``noise_mode == 'const'`` (kept in the state dict, so an exported generator is reproducible).
    """

    def __init__(self, channels: int, resolution: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        if noise_mode == "none":
            return x
        if noise_mode == "const":
            noise = self.noise_const.to(x.dtype)
        elif noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        else:
            raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}")
        return x + noise * self.weight.to(x.dtype).view(1, -1, 1, 1)


def instance_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each feature map of each sample brought to zero mean and unit RMS over its pixels (in float32,
    as officially, whatever the input's precision)."""
    dtype = x.dtype
    x = x.float()
    x = x - x.mean(dim=[2, 3], keepdim=True)
    return (x * torch.rsqrt(x.square().mean(dim=[2, 3], keepdim=True) + eps)).to(dtype)


class AdaIN(nn.Module):
    """Adaptive instance normalisation: instance_norm(x) * (1 + s) + b with [s, b] = A(w), A an
    equalized linear layer with gain 1 (StyleGAN's style_mod; the 1 + s keeps the initial scale at 1)."""

    def __init__(self, channels: int, w_dim: int):
        super().__init__()
        self.channels = channels
        self.affine = EqualizedLinear(w_dim, 2 * channels, gain=1.0)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.affine(w).to(x.dtype)  # [N, 2C]
        scale, bias = style[:, :self.channels, None, None], style[:, self.channels:, None, None]
        return instance_norm(x) * (scale + 1) + bias
