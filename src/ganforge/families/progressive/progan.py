"""Progressive GAN networks (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality,
Stability, and Variation"), as the paper's table 2 and the official ``networks_progan.py`` build them.

Both networks are a stack of *levels*, one per resolution 4, 8, ..., ``img_resolution``. Where
training stands is a level of detail ``lod`` (0 = full resolution, each step up halves it: the
newest trained level has resolution ``img_resolution / 2**lod``) and a fade-in weight ``alpha`` of
that newest level (1 = fully faded in). While ``alpha < 1``:

- G outputs ``lerp(upsample(toRGB_prev(x_prev)), toRGB_new(x_new), alpha)``: the previous level's
  image enlarged 2x (nearest) blended with the new level's;
- D feeds ``lerp(fromRGB_prev(downsample(img)), block_new(fromRGB_new(img)), alpha)`` into the
  blocks below, where ``img`` is its input at the new level's resolution.

G's output is always ``img_resolution`` pixels (the current level's image enlarged by nearest
neighbour), and D accepts full-resolution images and averages them down to the current level, as
the official code does; so samples, exports and metrics see images of the dataset's size at every
stage, and gradient penalties are taken with respect to full-resolution images as officially.

``lod`` and ``alpha`` are buffers (state-dict entries) that the recipe sets before every step, so an
EMA copy and an exported generator sample at the stage they were trained at. Training code passes
them explicitly as Python numbers (``G(z, c, lod=..., alpha=...)``), which avoids reading the
buffers back from the device; plain ``G(z, c)`` reads the buffers.

Levels above the current one are not evaluated; their parameters get no gradient.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.nn.equalized import (
    SQRT2,
    EqualizedConv2d,
    EqualizedLinear,
    blur,
    downsample,
    minibatch_stddev,
    pixel_norm,
    upsample,
)


def num_levels_for(resolution: int) -> int:
    """Levels 4, 8, ..., resolution; the resolution must be a power of two >= 4."""
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"progressive networks need a power-of-two resolution >= 4, got {resolution}")
    return int(math.log2(resolution)) - 1


def feature_maps(fmap_base: int, fmap_max: int):
    """nf(stage) = min(fmap_base / 2**stage, fmap_max); level k (resolution 4 * 2**k) has nf(k + 1)."""
    return lambda stage: min(int(fmap_base / 2.0 ** stage), fmap_max)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class Progressive(nn.Module):
    """Holds the ``lod`` and ``alpha`` buffers and resolves the stage a forward pass runs at."""

    num_levels: int

    def _init_stage(self, num_levels: int) -> None:
        self.num_levels = num_levels
        self.register_buffer("lod", torch.zeros([]))
        self.register_buffer("alpha", torch.ones([]))

    @torch.no_grad()
    def set_stage(self, lod: int, alpha: float) -> None:
        """Store the stage in the buffers (no host-device synchronisation)."""
        self._check_stage(lod, alpha)
        self.lod.fill_(float(lod))
        self.alpha.fill_(float(alpha))

    def stage(self) -> tuple[int, float]:
        """(lod, alpha) read from the buffers."""
        return int(round(float(self.lod))), float(self.alpha)

    def _check_stage(self, lod: int, alpha: float) -> None:
        if not (0 <= lod < self.num_levels and float(lod) == int(lod)):
            raise ValueError(f"lod must be an integer in [0, {self.num_levels - 1}], got {lod!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")

    def _resolve(self, lod: int | None, alpha: float | None) -> tuple[int, float]:
        if lod is None:
            stored_lod, stored_alpha = self.stage()
            return stored_lod, stored_alpha if alpha is None else float(alpha)
        alpha = 1.0 if alpha is None else float(alpha)
        self._check_stage(lod, alpha)
        return int(lod), alpha


def one_hot(c: torch.Tensor | None, num_classes: int, like: torch.Tensor) -> torch.Tensor | None:
    if num_classes == 0:
        return None
    if c is None:
        raise ValueError(f"this network is class-conditional ({num_classes} classes): pass labels c")
    return F.one_hot(c.long(), num_classes).to(like.dtype)


class _GFirst(nn.Module):
    """4x4 level of G: dense layer to 16 * C (gain sqrt(2)/4 as officially), per-channel bias,
    then a 3x3 convolution; leaky ReLU and pixel norm after each."""

    def __init__(self, in_dim: int, channels: int):
        super().__init__()
        self.channels = channels
        self.dense = EqualizedLinear(in_dim, channels * 16, gain=SQRT2 / 4, bias=False)
        self.bias = nn.Parameter(torch.zeros(channels))
        self.conv = EqualizedConv2d(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dense(x).view(-1, self.channels, 4, 4) + self.bias.view(1, -1, 1, 1)
        x = pixel_norm(lrelu(x))
        return pixel_norm(lrelu(self.conv(x)))


class _GBlock(nn.Module):
    """Nearest-neighbour 2x upsampling, then two 3x3 convolutions with leaky ReLU and pixel norm."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = EqualizedConv2d(in_channels, out_channels, 3)
        self.conv1 = EqualizedConv2d(out_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(lrelu(self.conv0(upsample(x))))
        return pixel_norm(lrelu(self.conv1(x)))


class ProGANGenerator(Progressive):
    """ProGAN G. ``G(z, c=None, lod=None, alpha=None)`` -> [N, C, R, R] (linear output, no tanh).

    Args:
        z_dim: latent size; img_resolution: R (power of two >= 4); img_channels: C;
        num_classes: > 0 concatenates the one-hot label to z (as officially); fmap_base, fmap_max:
        channels of level k are min(fmap_base / 2**(k+1), fmap_max).
    """

    def __init__(self, z_dim: int, img_resolution: int, img_channels: int, num_classes: int = 0,
                 fmap_base: int = 8192, fmap_max: int = 512):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self._init_stage(num_levels_for(img_resolution))
        nf = feature_maps(fmap_base, fmap_max)
        self.blocks = nn.ModuleList([_GFirst(z_dim + num_classes, nf(1))])
        self.blocks.extend(_GBlock(nf(k), nf(k + 1)) for k in range(1, self.num_levels))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(nf(k + 1), img_channels, 1, gain=1.0)
                                    for k in range(self.num_levels))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, lod: int | None = None,
                alpha: float | None = None) -> torch.Tensor:
        lod, alpha = self._resolve(lod, alpha)
        level = self.num_levels - 1 - lod
        x = z
        onehot = one_hot(c, self.num_classes, z)
        if onehot is not None:
            x = torch.cat([x, onehot], dim=1)
        x = pixel_norm(x)
        prev = x
        for k in range(level + 1):
            prev = x
            x = self.blocks[k](x)
        img = self.to_rgb[level](x)
        if level > 0 and alpha < 1:
            img = torch.lerp(upsample(self.to_rgb[level - 1](prev)), img, alpha)
        return upsample(img, 2 ** lod)


class _DBlock(nn.Module):
    """Two 3x3 convolutions (C_in -> C_in -> C_out) and 2x average-pool downsampling.

    ProGAN: conv, lrelu, conv, lrelu, pool. With ``blur`` (StyleGAN): conv, lrelu, [1,2,1] blur,
    conv, pool, lrelu (the official conv2d_downscale2d pools before the activation).
    """

    def __init__(self, in_channels: int, out_channels: int, use_blur: bool = False):
        super().__init__()
        self.use_blur = use_blur
        self.conv0 = EqualizedConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = lrelu(self.conv0(x))
        if self.use_blur:
            return lrelu(downsample(self.conv1(blur(x))))
        return downsample(lrelu(self.conv1(x)))


class _DEpilogue(nn.Module):
    """4x4 level of D: minibatch stddev, 3x3 conv, dense over the 4x4 map (the paper's 4x4 conv),
    dense to the outputs (gain 1)."""

    def __init__(self, channels: int, hidden: int, outputs: int, mbstd_group: int | None, mbstd_channels: int):
        super().__init__()
        self.mbstd_group, self.mbstd_channels = mbstd_group, mbstd_channels
        extra = mbstd_channels if mbstd_group else 0
        self.conv = EqualizedConv2d(channels + extra, channels, 3)
        self.dense = EqualizedLinear(channels * 16, hidden)
        self.out = EqualizedLinear(hidden, outputs, gain=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mbstd_group:
            x = minibatch_stddev(x, self.mbstd_group, self.mbstd_channels)
        x = lrelu(self.conv(x))
        x = lrelu(self.dense(x.flatten(1)))
        return self.out(x)


class ProGANDiscriminator(Progressive):
    """ProGAN D (``use_blur=True``: StyleGAN's D). ``D(img, c=None, lod=None, alpha=None)`` -> [N].

    ``img`` is [N, C, R, R] at full resolution, or already at the current level's resolution.
    Conditional (num_classes > 0): the last layer has one output per class and the label picks one
    (the official StyleGAN D; ProGAN's official D used an auxiliary classifier instead).
    """

    def __init__(self, img_resolution: int, img_channels: int, num_classes: int = 0, fmap_base: int = 8192,
                 fmap_max: int = 512, mbstd_group: int | None = 4, mbstd_channels: int = 1, use_blur: bool = False):
        super().__init__()
        self.num_classes = num_classes
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self._init_stage(num_levels_for(img_resolution))
        nf = feature_maps(fmap_base, fmap_max)
        if mbstd_group and nf(1) % mbstd_channels:
            raise ValueError(f"mbstd_channels={mbstd_channels} must divide the 4x4 channels {nf(1)}")
        self.from_rgb = nn.ModuleList(EqualizedConv2d(img_channels, nf(k + 1), 1) for k in range(self.num_levels))
        # blocks[k] takes level k (resolution 4 * 2**k) down to level k - 1; blocks[0] is unused.
        self.blocks = nn.ModuleList([nn.Identity()])
        self.blocks.extend(_DBlock(nf(k + 1), nf(k), use_blur) for k in range(1, self.num_levels))
        self.epilogue = _DEpilogue(nf(1), nf(0), max(num_classes, 1), mbstd_group, mbstd_channels)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, lod: int | None = None,
                alpha: float | None = None) -> torch.Tensor:
        lod, alpha = self._resolve(lod, alpha)
        level = self.num_levels - 1 - lod
        res = 4 * 2 ** level
        if img.shape[-1] % res or img.shape[-1] < res:
            raise ValueError(f"D at lod {lod} needs images of {res} px or a multiple, got {img.shape[-1]} px")
        img = downsample(img, img.shape[-1] // res)
        x = lrelu(self.from_rgb[level](img))
        if level > 0:
            x = self.blocks[level](x)
            if alpha < 1:
                x = torch.lerp(lrelu(self.from_rgb[level - 1](downsample(img))), x, alpha)
        for k in range(level - 1, 0, -1):
            x = self.blocks[k](x)
        out = self.epilogue(x)
        if self.num_classes:
            if c is None:
                raise ValueError(f"this network is class-conditional ({self.num_classes} classes): pass labels c")
            return out.gather(1, c.long().view(-1, 1)).squeeze(1)
        return out.squeeze(1)
