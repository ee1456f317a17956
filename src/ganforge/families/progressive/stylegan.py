"""StyleGAN networks (Karras et al. 2019, "A Style-Based Generator Architecture for Generative
Adversarial Networks"), following the official ``networks_stylegan.py`` (G_style, G_mapping,
G_synthesis, D_basic).

Generator = mapping network + synthesis network:

- ``G.mapping(z, c, truncation_psi=1, truncation_cutoff=None)`` -> ws [N, num_ws, w_dim]: z (with
  an embedded label concatenated when conditional) is pixel-normalised, goes through ``map_layers``
  equalized dense layers (learning-rate multiplier 0.01, leaky ReLU) and is broadcast to the
  ``num_ws = 2 * levels`` style inputs. Truncation pulls the first ``truncation_cutoff`` styles
  towards the tracked average ``w_avg`` by ``psi``; ``truncation_cutoff=None`` means the model's
  own cutoff (8 by default, the paper's truncation trick on the 4-32 px styles).
- ``G.synthesis(ws, noise_mode='random'|'const'|'none')``: a learned constant 4x4 input; per level
  two layers, the first of the higher levels an upsampling 3x3 convolution followed by the
  [1, 2, 1] blur, each followed by noise with learned per-channel scales, bias, leaky ReLU and AdaIN
  from its style. Progressive growing and fade-in work as in ProGAN (see ``ganforge.families.progressive.progan``).
- ``G(z, c, truncation_psi=1, truncation_cutoff=None, noise_mode='random')``: both, the call
  signature of the official StyleGAN2 generator so tools work on either.

``w_avg`` (a buffer) is updated as lerp(mean of the batch's w, w_avg, 0.995) when the mapping is
called with ``update_w_avg=True`` (the recipe does so whenever G generates for training, as the
official G does with ``is_training``). D is the ProGAN D with a blur before each downsampling
convolution.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.families.progressive.progan import (
    ProGANDiscriminator,
    Progressive,
    feature_maps,
    lrelu,
    num_levels_for,
)
from ganforge.nn.equalized import (
    AdaIN,
    EqualizedConv2d,
    EqualizedLinear,
    NoiseInjection,
    blur,
    pixel_norm,
    upsample,
)


class MappingNetwork(nn.Module):
    """z [N, z_dim] (+ labels) -> ws [N, num_ws, w_dim]."""

    def __init__(self, z_dim: int, w_dim: int, num_ws: int, num_classes: int = 0, num_layers: int = 8,
                 lr_mult: float = 0.01, w_avg_beta: float = 0.995, truncation_cutoff: int | None = 8):
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws, self.num_classes = z_dim, w_dim, num_ws, num_classes
        self.w_avg_beta, self.truncation_cutoff = w_avg_beta, truncation_cutoff
        # Official label embedding: a plain N(0, 1) matrix [classes, z_dim] applied to the one-hot label.
        self.embed = nn.Parameter(torch.randn(num_classes, z_dim)) if num_classes else None
        dims = [z_dim * (2 if num_classes else 1)] + [w_dim] * num_layers
        self.layers = nn.ModuleList(EqualizedLinear(dims[i], dims[i + 1], lr_mult=lr_mult) for i in range(num_layers))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, update_w_avg: bool = False) -> torch.Tensor:
        x = z
        if self.embed is not None:
            if c is None:
                raise ValueError(f"this generator is class-conditional ({self.num_classes} classes): pass labels c")
            x = torch.cat([x, self.embed[c.long()].to(z.dtype)], dim=1)
        x = pixel_norm(x)
        for layer in self.layers:
            x = lrelu(layer(x))
        if update_w_avg:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.truncation_cutoff if truncation_cutoff is None else truncation_cutoff
            cutoff = self.num_ws if cutoff is None else min(cutoff, self.num_ws)
            head = self.w_avg.to(ws.dtype).lerp(ws[:, :cutoff], truncation_psi)
            ws = torch.cat([head, ws[:, cutoff:]], dim=1)
        return ws


class _StyleLayerEnd(nn.Module):
    """What follows each convolution (or the constant) in G: noise, bias, leaky ReLU, AdaIN."""

    def __init__(self, channels: int, w_dim: int, resolution: int):
        super().__init__()
        self.noise = NoiseInjection(channels, resolution)
        self.bias = nn.Parameter(torch.zeros(channels))
        self.adain = AdaIN(channels, w_dim)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        x = self.noise(x, noise_mode) + self.bias.to(x.dtype).view(1, -1, 1, 1)
        return self.adain(lrelu(x), w)


class _SynthesisLevel(nn.Module):
    """One resolution: (constant | upsample, conv 3x3, blur), end; conv 3x3, end. Uses two styles."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int):
        super().__init__()
        self.first = resolution == 4
        if self.first:
            self.const = nn.Parameter(torch.ones(1, out_channels, 4, 4))
        else:
            self.conv0 = EqualizedConv2d(in_channels, out_channels, 3, bias=False)
        self.end0 = _StyleLayerEnd(out_channels, w_dim, resolution)
        self.conv1 = EqualizedConv2d(out_channels, out_channels, 3, bias=False)
        self.end1 = _StyleLayerEnd(out_channels, w_dim, resolution)

    def forward(self, x: torch.Tensor | None, ws: torch.Tensor, noise_mode: str) -> torch.Tensor:
        if self.first:
            x = self.const.to(ws.dtype).expand(ws.shape[0], -1, -1, -1)
        else:
            x = blur(self.conv0(upsample(x)))
        x = self.end0(x, ws[:, 0], noise_mode)
        return self.end1(self.conv1(x), ws[:, 1], noise_mode)


class SynthesisNetwork(Progressive):
    """ws [N, num_ws, w_dim] -> images [N, C, R, R] (linear output), at the stored or given stage."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, fmap_base: int = 8192,
                 fmap_max: int = 512):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self._init_stage(num_levels_for(img_resolution))
        self.num_ws = 2 * self.num_levels
        nf = feature_maps(fmap_base, fmap_max)
        self.levels = nn.ModuleList(_SynthesisLevel(nf(k), nf(k + 1), w_dim, 4 * 2 ** k)
                                    for k in range(self.num_levels))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(nf(k + 1), img_channels, 1, gain=1.0)
                                    for k in range(self.num_levels))

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", lod: int | None = None,
                alpha: float | None = None) -> torch.Tensor:
        lod, alpha = self._resolve(lod, alpha)
        level = self.num_levels - 1 - lod
        x = prev = None
        for k in range(level + 1):
            prev = x
            x = self.levels[k](x, ws[:, 2 * k:2 * k + 2], noise_mode)
        img = self.to_rgb[level](x)
        if level > 0 and alpha < 1:
            img = torch.lerp(upsample(self.to_rgb[level - 1](prev)), img, alpha)
        return upsample(img, 2 ** lod)


class StyleGANGenerator(nn.Module):
    """StyleGAN G: ``mapping`` and ``synthesis`` submodules; the stage lives in the synthesis."""

    def __init__(self, z_dim: int, w_dim: int, img_resolution: int, img_channels: int, num_classes: int = 0,
                 map_layers: int = 8, map_lr_mult: float = 0.01, fmap_base: int = 8192, fmap_max: int = 512,
                 w_avg_beta: float = 0.995, truncation_cutoff: int | None = 8):
        super().__init__()
        self.z_dim, self.w_dim, self.num_classes = z_dim, w_dim, num_classes
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, fmap_base, fmap_max)
        self.num_ws = self.synthesis.num_ws
        self.num_levels = self.synthesis.num_levels
        self.mapping = MappingNetwork(z_dim, w_dim, self.num_ws, num_classes, map_layers, map_lr_mult, w_avg_beta,
                                      truncation_cutoff)

    @property
    def layer_resolutions(self) -> list[int]:
        """The resolution each style input acts at (two per level: 4, 4, 8, 8, ...), for the
        latent-space tools' coarse / middle / fine groups."""
        return [4 * 2 ** (i // 2) for i in range(self.num_ws)]

    def set_stage(self, lod: int, alpha: float) -> None:
        self.synthesis.set_stage(lod, alpha)

    def stage(self) -> tuple[int, float]:
        return self.synthesis.stage()

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: str = "random", lod: int | None = None,
                alpha: float | None = None, update_w_avg: bool = False) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi, truncation_cutoff, update_w_avg=update_w_avg)
        return self.synthesis(ws, noise_mode=noise_mode, lod=lod, alpha=alpha)


def StyleGANDiscriminator(img_resolution: int, img_channels: int, num_classes: int = 0, fmap_base: int = 8192,
                          fmap_max: int = 512, mbstd_group: int | None = 4, mbstd_channels: int = 1) -> ProGANDiscriminator:
    """StyleGAN's D (D_basic): the ProGAN D with the [1, 2, 1] blur before each downsampling conv."""
    return ProGANDiscriminator(img_resolution, img_channels, num_classes, fmap_base, fmap_max, mbstd_group,
                               mbstd_channels, use_blur=True)
