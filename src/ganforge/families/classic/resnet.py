"""CIFAR-style ResNet generator and discriminator, as used by the WGAN-GP (Gulrajani et al. 2017,
"Improved Training of Wasserstein GANs") and SNGAN (Miyato et al. 2018, "Spectral Normalization for
Generative Adversarial Networks") papers for 32-px images.

G: linear z -> 4x4 map, one upsampling residual block per doubling, BN-ReLU-conv3x3-tanh.
D: an "optimized" first block (conv-ReLU-conv-pool with a pool-conv shortcut), downsampling blocks to
8x8, one more block, ReLU, global sum pooling, linear; projection term for class labels
(Miyato & Koyama 2018, "cGANs with Projection Discriminator").

Differences, on purpose: 64 px is supported by adding one block on each side; D's normalisation
(``d_norm``) is configurable (the papers use none), as is spectral norm; uniform width ``g_width`` /
``d_width`` in every block (the SNGAN CIFAR model uses 256 in G and 128 in D).

SAGAN (Zhang et al. 2019) on the same networks: ``attention_res`` puts one ``SelfAttention`` block in G
after the block that outputs feature maps of that side, and one in D after the block that outputs
that side (SAGAN used 32 of 128 px; the presets use 16 of 32), and ``g_spectral_norm`` normalises G's
convolutions and linear layers as SAGAN does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.families.classic.config import ModelConfig
from ganforge.families.classic.nets import DISCRIMINATORS, GENERATORS, check_resolution
from ganforge.nn.layers import (
    ConditionalBatchNorm2d,
    Norm2d,
    SelfAttention,
    apply_spectral_norm,
)

RESOLUTIONS = (16, 32, 64)


def _init_xavier(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            # Residual branches start small-ish; the SNGAN reference uses xavier_uniform throughout.
            nn.init.xavier_uniform_(m.weight, gain=1.0 if m.weight.shape[-1] == 1 else math.sqrt(2))
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class GBlock(nn.Module):
    """[N, Cin, H, W] -> [N, Cout, 2H, 2W]: BN-ReLU-up-conv-BN-ReLU-conv plus up-conv1x1 shortcut."""

    def __init__(self, cin: int, cout: int, num_classes: int):
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(cin, num_classes)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.bn2 = ConditionalBatchNorm2d(cout, num_classes)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        h = F.interpolate(torch.relu(self.bn1(x, c)), scale_factor=2, mode="nearest")
        h = self.conv2(torch.relu(self.bn2(self.conv1(h), c)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class DBlock(nn.Module):
    """[N, Cin, H, W] -> [N, Cout, H/2, W/2] (or same size): (norm-)ReLU-conv twice, avg-pool."""

    def __init__(self, cin: int, cout: int, down: bool, norm: str | None, first: bool = False):
        super().__init__()
        self.down, self.first = down, first
        self.norm1 = Norm2d(norm, cin) if not first else nn.Identity()
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = Norm2d(norm, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1) if (cin != cout or down) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The first block sees raw pixels: no activation before its first conv (SNGAN "optimized block").
        h = x if self.first else torch.relu(self.norm1(x))
        h = self.conv2(torch.relu(self.norm2(self.conv1(h))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first:
            s = self.skip(F.avg_pool2d(s, 2))
        elif self.skip is not None:
            s = self.skip(s)
            if self.down:
                s = F.avg_pool2d(s, 2)
        return h + s


class ResNetGenerator(nn.Module):
    """z [N, z_dim], c [N] or None -> images [N, C, R, R] in [-1, 1]."""

    def __init__(self, z_dim: int, resolution: int, channels: int, width: int, num_classes: int = 0,
                 attention_res: int | None = None, spectral: bool = False):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.img_resolution, self.img_channels = resolution, channels
        self.width = width
        self.input = nn.Linear(z_dim, 4 * 4 * width)
        n_blocks = int(math.log2(resolution)) - 2
        self.blocks = nn.ModuleList(GBlock(width, width, num_classes) for _ in range(n_blocks))
        sides = [8 * 2**i for i in range(n_blocks)]  # output side of each block
        self.attention_after = _attention_index("G", attention_res, sides)
        self.attention = SelfAttention(width) if self.attention_after is not None else None
        self.bn = nn.BatchNorm2d(width)
        self.output = nn.Conv2d(width, channels, 3, 1, 1)
        _init_xavier(self)
        if spectral:
            apply_spectral_norm(self, embeddings=False)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.input(z).view(z.shape[0], self.width, 4, 4)
        for i, block in enumerate(self.blocks):
            h = block(h, c)
            if i == self.attention_after:
                h = self.attention(h)
        return torch.tanh(self.output(torch.relu(self.bn(h))))


def _attention_index(net: str, attention_res: int | None, sides: list[int]) -> int | None:
    """Index of the block after which the attention block sits (its output side is attention_res)."""
    if attention_res is None:
        return None
    if attention_res not in sides:
        raise GanforgeError(f"model.attention_res={attention_res}: {net}'s feature maps at this resolution have "
                            f"sides {', '.join(map(str, sorted(set(sides))))}; pick one of those or none")
    return sides.index(attention_res)


class ResNetDiscriminator(nn.Module):
    """images [N, C, R, R], c [N] or None -> logits [N]."""

    def __init__(self, resolution: int, channels: int, width: int, norm: str | None,
                 spectral: bool, num_classes: int = 0, attention_res: int | None = None):
        super().__init__()
        self.num_classes = num_classes
        self.img_resolution, self.img_channels = resolution, channels
        n_down = int(math.log2(resolution)) - 3  # down to 8x8
        blocks: list[nn.Module] = [DBlock(channels, width, down=True, norm=norm, first=True)]
        blocks += [DBlock(width, width, down=True, norm=norm) for _ in range(n_down - 1)]
        blocks += [DBlock(width, width, down=False, norm=norm)]
        sides = [resolution // 2**(i + 1) for i in range(n_down)] + [8]
        after = _attention_index("D", attention_res, sides[:-1])  # not after the last, unpooled block
        if after is not None:
            blocks.insert(after + 1, SelfAttention(width))
        self.blocks = nn.Sequential(*blocks)
        self.output = nn.Linear(width, 1)
        if num_classes > 0:
            self.embed = nn.Embedding(num_classes, width)
            nn.init.xavier_uniform_(self.embed.weight)
        _init_xavier(self)
        if spectral:
            apply_spectral_norm(self)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.relu(self.blocks(img)).sum(dim=(2, 3))  # global sum pooling -> [N, width]
        out = self.output(h).squeeze(1)
        if self.num_classes > 0:
            assert c is not None, "conditional discriminator needs class labels c"
            out = out + (self.embed(c) * h).sum(1)
        return out


@GENERATORS.register("resnet")
def _build_g(cfg: ModelConfig, *, resolution: int, channels: int, num_classes: int) -> nn.Module:
    check_resolution("resnet", resolution, RESOLUTIONS)
    return ResNetGenerator(cfg.z_dim, resolution, channels, cfg.g_width, num_classes,
                           attention_res=cfg.attention_res, spectral=cfg.g_spectral_norm)


@DISCRIMINATORS.register("resnet")
def _build_d(cfg: ModelConfig, *, resolution: int, channels: int, num_classes: int) -> nn.Module:
    check_resolution("resnet", resolution, RESOLUTIONS)
    return ResNetDiscriminator(resolution, channels, cfg.d_width, cfg.d_norm, cfg.spectral_norm, num_classes,
                               attention_res=cfg.attention_res)
