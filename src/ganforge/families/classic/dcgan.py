"""DCGAN generator and discriminator (Radford, Metz, Chintala 2015, "Unsupervised Representation
Learning with Deep Convolutional Generative Adversarial Networks").

Follows the paper's guidelines: strided convolutions in D and fractionally-strided convolutions in G
instead of pooling, batchnorm in both (not on G's output or D's input), ReLU + Tanh in G, LeakyReLU(0.2)
in D, no fully connected hidden layers. Weights start from N(0, 0.02) as in the paper.

Differences from the paper, on purpose:
- Any power-of-two resolution from 16 to 128 (the paper used 64): one up/down stage per factor 2.
- D's normalisation is configurable (``d_norm``): None gives the batchnorm-free critic that WGAN-GP
  needs, "layer" a per-sample alternative; with ``spectral_norm`` each D weight is spectrally normalised.
- Class-conditional option: conditional batchnorm in G and a projection term (Miyato & Koyama 2018)
  on D's last feature map, since the default datasets carry labels.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganforge.families.classic.config import ModelConfig
from ganforge.families.classic.nets import DISCRIMINATORS, GENERATORS, check_resolution
from ganforge.nn.layers import ConditionalBatchNorm2d, Norm2d, apply_spectral_norm

RESOLUTIONS = (16, 32, 64, 128)


def _init_dcgan(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """z [N, z_dim], c [N] or None -> images [N, C, R, R] in [-1, 1].

    Widths halve at each doubling of resolution: at 32 px with width w the stages are
    4w@4 -> 2w@8 -> w@16 -> C@32.
    """

    def __init__(self, z_dim: int, resolution: int, channels: int, width: int, num_classes: int = 0):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.img_resolution, self.img_channels = resolution, channels
        n_up = int(math.log2(resolution)) - 2  # number of 2x upsampling stages after the 4x4 start
        ch = [width * 2 ** (n_up - 1 - i) for i in range(n_up)]  # e.g. [4w, 2w, w] at 32 px
        self.input = nn.ConvTranspose2d(z_dim, ch[0], 4, 1, 0, bias=False)  # 1x1 -> 4x4
        self.norms = nn.ModuleList([ConditionalBatchNorm2d(ch[0], num_classes)])
        self.ups = nn.ModuleList()
        for i in range(n_up - 1):
            self.ups.append(nn.ConvTranspose2d(ch[i], ch[i + 1], 4, 2, 1, bias=False))
            self.norms.append(ConditionalBatchNorm2d(ch[i + 1], num_classes))
        self.output = nn.ConvTranspose2d(ch[-1], channels, 4, 2, 1)
        _init_dcgan(self)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.relu(self.norms[0](self.input(z[:, :, None, None]), c))
        for up, norm in zip(self.ups, self.norms[1:]):
            h = torch.relu(norm(up(h), c))
        return torch.tanh(self.output(h))


class DCGANDiscriminator(nn.Module):
    """images [N, C, R, R], c [N] or None -> logits [N].

    At 32 px with width w: C@32 -> w@16 -> 2w@8 -> 4w@4 -> logit (a 4x4 conv, i.e. a linear map of
    the last feature map, which is what the projection term also reads).
    """

    def __init__(self, resolution: int, channels: int, width: int, norm: str | None,
                 spectral: bool, num_classes: int = 0):
        super().__init__()
        self.num_classes = num_classes
        self.img_resolution, self.img_channels = resolution, channels
        n_down = int(math.log2(resolution)) - 2
        ch = [width * 2**i for i in range(n_down)]  # e.g. [w, 2w, 4w] at 32 px
        layers: list[nn.Module] = [nn.Conv2d(channels, ch[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for i in range(n_down - 1):
            # No normalisation on the input layer (DCGAN guideline); the rest use the configured one.
            layers += [nn.Conv2d(ch[i], ch[i + 1], 4, 2, 1, bias=norm is None),
                       Norm2d(norm, ch[i + 1]), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.output = nn.Conv2d(ch[-1], 1, 4, 1, 0)
        if num_classes > 0:
            self.embed = nn.Embedding(num_classes, ch[-1] * 16)
            nn.init.normal_(self.embed.weight, 0.0, 0.02)
        _init_dcgan(self)
        if spectral:
            apply_spectral_norm(self)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(img)
        out = self.output(h).flatten(1).squeeze(1)
        if self.num_classes > 0:
            assert c is not None, "conditional discriminator needs class labels c"
            out = out + (self.embed(c) * h.flatten(1)).sum(1)
        return out


@GENERATORS.register("dcgan")
def _build_g(cfg: ModelConfig, *, resolution: int, channels: int, num_classes: int) -> nn.Module:
    check_resolution("dcgan", resolution, RESOLUTIONS)
    return DCGANGenerator(cfg.z_dim, resolution, channels, cfg.g_width, num_classes)


@DISCRIMINATORS.register("dcgan")
def _build_d(cfg: ModelConfig, *, resolution: int, channels: int, num_classes: int) -> nn.Module:
    check_resolution("dcgan", resolution, RESOLUTIONS)
    return DCGANDiscriminator(resolution, channels, cfg.d_width, cfg.d_norm, cfg.spectral_norm, num_classes)
