"""BigGAN and BigGAN-deep (Brock et al. 2019, "Large Scale GAN Training for High Fidelity Natural Image
Synthesis"), at the sizes of this project (16-128 px), for the classic recipe.

G (``g_arch="biggan"``): z is split into ``n_blocks + 1`` equal chunks ("hierarchical latents" /
skip-z): the first goes through a linear layer to the 4x4 map, each residual up-block gets its own
chunk concatenated with a *shared* class embedding (``shared_dim``; one ``nn.Embedding`` for the whole
G), and that vector sets the block's batch-norm gains (1 + linear) and biases (linear) - class- and
latent-conditional BN. Blocks: BN-ReLU-up-conv3x3-BN-ReLU-conv3x3 with an up-conv1x1 shortcut; an
optional self-attention block at ``attention_res``; BN-ReLU-conv3x3-tanh out.

G (``g_arch="biggan-deep"``): z is not split; z concatenated with the shared embedding conditions every
BN. Two bottleneck blocks per resolution (1x1 to width/4, two 3x3, 1x1 back), the second of each pair
upsamples, with identity shortcuts.

D (``d_arch="biggan"``): the ResNet D with a projection head (``models/resnet.py``: the same blocks),
self-attention at ``attention_res``; ``"biggan-deep"``: two bottleneck blocks per resolution, the
second of each pair downsampling.

Spectral norm in both nets (``spectral_norm``, ``g_spectral_norm``), the orthogonal regularisation of
G (``loss.ortho_weight``), EMA of G (``train.ema_halflife_kimg``) and truncation of z by resampling
(``ganforge.synthesis.latents.truncated_z``; ``ganforge generate --z-trunc``) complete the method. Widths are uniform
(``g_width`` / ``d_width`` in every block) rather than BigGAN's per-resolution multipliers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.families.classic.config import ModelConfig
from ganforge.families.classic.nets import DISCRIMINATORS, GENERATORS, check_resolution
from ganforge.families.classic.resnet import ResNetDiscriminator, _attention_index
from ganforge.nn.layers import SelfAttention, apply_spectral_norm

RESOLUTIONS = (16, 32, 64, 128)


def split_z(z: torch.Tensor, chunks: int) -> list[torch.Tensor]:
    """Hierarchical latents: z [N, z_dim] -> ``chunks`` equal parts along the feature axis."""
    if z.shape[1] % chunks:
        raise GanforgeError(f"model.z_dim={z.shape[1]} must split into {chunks} equal chunks")
    return list(z.split(z.shape[1] // chunks, dim=1))


class CondBatchNorm2d(nn.Module):
    """BatchNorm2d (no affine) whose per-sample gain 1 + W_g y and bias W_b y come from a vector y."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels, bias=False)  # initialised (orthogonal) and spectrally
        self.bias = nn.Linear(cond_dim, channels, bias=False)  # normalised with the rest of G, as BigGAN

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * (1 + self.gain(y))[:, :, None, None] + self.bias(y)[:, :, None, None]


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int, cond_dim: int):
        super().__init__()
        self.bn1, self.bn2 = CondBatchNorm2d(cin, cond_dim), CondBatchNorm2d(cout, cond_dim)
        self.conv1, self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x, y):
        h = F.interpolate(torch.relu(self.bn1(x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(torch.relu(self.bn2(self.conv1(h), y)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class DeepGBlock(nn.Module):
    """Bottleneck block of BigGAN-deep: 1x1 to width/4, (up), two 3x3, 1x1 back; identity shortcut."""

    def __init__(self, channels: int, cond_dim: int, up: bool):
        super().__init__()
        mid = max(1, channels // 4)
        self.up = up
        self.bn1, self.bn2 = CondBatchNorm2d(channels, cond_dim), CondBatchNorm2d(mid, cond_dim)
        self.bn3, self.bn4 = CondBatchNorm2d(mid, cond_dim), CondBatchNorm2d(mid, cond_dim)
        self.conv1, self.conv2 = nn.Conv2d(channels, mid, 1), nn.Conv2d(mid, mid, 3, 1, 1)
        self.conv3, self.conv4 = nn.Conv2d(mid, mid, 3, 1, 1), nn.Conv2d(mid, channels, 1)

    def forward(self, x, y):
        h = self.conv1(torch.relu(self.bn1(x, y)))
        h = torch.relu(self.bn2(h, y))
        if self.up:
            h, x = F.interpolate(h, scale_factor=2, mode="nearest"), F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv3(torch.relu(self.bn3(self.conv2(h), y)))
        return x + self.conv4(torch.relu(self.bn4(h, y)))


class BigGANGenerator(nn.Module):
    """z [N, z_dim], c [N] or None -> images [N, C, R, R] in [-1, 1]."""

    def __init__(self, z_dim: int, resolution: int, channels: int, width: int, num_classes: int = 0,
                 shared_dim: int = 128, attention_res: int | None = None, spectral: bool = True,
                 deep: bool = False):
        super().__init__()
        self.z_dim, self.num_classes, self.deep = z_dim, num_classes, deep
        self.img_resolution, self.img_channels, self.width = resolution, channels, width
        n_up = int(math.log2(resolution)) - 2
        self.chunks = 1 if deep else n_up + 1
        if z_dim % self.chunks:
            raise GanforgeError(f"model.z_dim={z_dim} must be a multiple of {self.chunks} for BigGAN at {resolution} px "
                                f"(one chunk for the input and one per each of its {n_up} blocks), e.g. "
                                f"{self.chunks * max(1, round(z_dim / self.chunks))}")
        chunk = z_dim // self.chunks
        self.shared = nn.Embedding(num_classes, shared_dim) if num_classes > 0 else None
        cond_dim = (shared_dim if num_classes > 0 else 0) + (z_dim if deep else chunk)
        self.input = nn.Linear(z_dim if deep else chunk, 4 * 4 * width)
        if deep:
            self.blocks = nn.ModuleList(DeepGBlock(width, cond_dim, up=(i % 2 == 1)) for i in range(2 * n_up))
            sides = [4 * 2 ** ((i + 1) // 2) for i in range(2 * n_up)]
        else:
            self.blocks = nn.ModuleList(GBlock(width, width, cond_dim) for _ in range(n_up))
            sides = [8 * 2**i for i in range(n_up)]
        self.attention_after = _attention_index("G", attention_res, sides)
        self.attention = SelfAttention(width) if self.attention_after is not None else None
        self.bn = nn.BatchNorm2d(width)
        self.output = nn.Conv2d(width, channels, 3, 1, 1)
        for m in self.modules():  # orthogonal init of every conv and linear layer (BigGAN)
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.orthogonal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if spectral:
            apply_spectral_norm(self, embeddings=False)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes > 0:
            assert c is not None, "a conditional BigGAN generator needs class labels c"
        emb = self.shared(c) if self.shared is not None else None
        if self.deep:
            first, per_block = z, [z] * len(self.blocks)
        else:
            first, *per_block = split_z(z, self.chunks)
        h = self.input(first).view(z.shape[0], self.width, 4, 4)
        for i, (block, zc) in enumerate(zip(self.blocks, per_block, strict=True)):
            y = zc if emb is None else torch.cat([emb, zc], dim=1)
            h = block(h, y)
            if i == self.attention_after:
                h = self.attention(h)
        return torch.tanh(self.output(torch.relu(self.bn(h))))


class DeepDBlock(nn.Module):
    """Bottleneck D block of BigGAN-deep: ReLU-1x1 down to width/4, two 3x3, (avg-pool), 1x1 back; the
    shortcut pools too."""

    def __init__(self, channels: int, down: bool):
        super().__init__()
        mid = max(1, channels // 4)
        self.down = down
        self.conv1, self.conv2 = nn.Conv2d(channels, mid, 1), nn.Conv2d(mid, mid, 3, 1, 1)
        self.conv3, self.conv4 = nn.Conv2d(mid, mid, 3, 1, 1), nn.Conv2d(mid, channels, 1)

    def forward(self, x):
        h = self.conv1(torch.relu(x))
        h = self.conv3(torch.relu(self.conv2(torch.relu(h))))
        h = torch.relu(h)
        if self.down:
            h, x = F.avg_pool2d(h, 2), F.avg_pool2d(x, 2)
        return x + self.conv4(h)


class BigGANDeepDiscriminator(nn.Module):
    """images [N, C, R, R], c [N] or None -> logits [N] (projection for classes)."""

    def __init__(self, resolution: int, channels: int, width: int, spectral: bool, num_classes: int = 0,
                 attention_res: int | None = None):
        super().__init__()
        self.num_classes = num_classes
        self.img_resolution, self.img_channels = resolution, channels
        self.input = nn.Conv2d(channels, width, 3, 1, 1)
        n_down = int(math.log2(resolution)) - 2  # down to 4x4
        blocks: list[nn.Module] = []
        sides = []
        for i in range(n_down):
            blocks += [DeepDBlock(width, down=True), DeepDBlock(width, down=False)]
            sides += [resolution // 2 ** (i + 1)] * 2
        after = _attention_index("D", attention_res, sides)
        if after is not None:
            blocks.insert(after + 1, SelfAttention(width))
        self.blocks = nn.Sequential(*blocks)
        self.output = nn.Linear(width, 1)
        self.embed = nn.Embedding(num_classes, width) if num_classes > 0 else None
        for m in self.modules():  # orthogonal init, zero biases (BigGAN): keeps the ReLU chain alive at init
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.orthogonal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if spectral:
            apply_spectral_norm(self)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.relu(self.blocks(self.input(img))).sum(dim=(2, 3))
        out = self.output(h).squeeze(1)
        if self.embed is not None:
            assert c is not None, "conditional discriminator needs class labels c"
            out = out + (self.embed(c) * h).sum(1)
        return out


@GENERATORS.register("biggan")
def _build_g(cfg: ModelConfig, *, resolution: int, channels: int, num_classes: int) -> nn.Module:
    check_resolution("biggan", resolution, RESOLUTIONS)
    return BigGANGenerator(cfg.z_dim, resolution, channels, cfg.g_width, num_classes, cfg.shared_dim,
                           cfg.attention_res, cfg.g_spectral_norm)


@GENERATORS.register("biggan-deep")
def _build_g_deep(cfg: ModelConfig, *, resolution: int, channels: int, num_classes: int) -> nn.Module:
    check_resolution("biggan-deep", resolution, RESOLUTIONS)
    return BigGANGenerator(cfg.z_dim, resolution, channels, cfg.g_width, num_classes, cfg.shared_dim,
                           cfg.attention_res, cfg.g_spectral_norm, deep=True)


@DISCRIMINATORS.register("biggan")
def _build_d(cfg: ModelConfig, *, resolution: int, channels: int, num_classes: int) -> nn.Module:
    check_resolution("biggan", resolution, RESOLUTIONS)
    return ResNetDiscriminator(resolution, channels, cfg.d_width, cfg.d_norm, cfg.spectral_norm, num_classes,
                               attention_res=cfg.attention_res)


@DISCRIMINATORS.register("biggan-deep")
def _build_d_deep(cfg: ModelConfig, *, resolution: int, channels: int, num_classes: int) -> nn.Module:
    check_resolution("biggan-deep", resolution, RESOLUTIONS)
    return BigGANDeepDiscriminator(resolution, channels, cfg.d_width, cfg.spectral_norm, num_classes,
                                   attention_res=cfg.attention_res)


def orthogonal_penalty(net: nn.Module) -> torch.Tensor:
    """BigGAN's orthogonal regularisation, without its beta: sum over G's weight matrices W (convs
    flattened to [out, in*kh*kw], the raw weights under spectral norm; class embeddings left out) of
    ||W W^T * (1 - I)||_F^2 - only the off-diagonal similarities between filters are penalised."""
    total = None
    for name, p in net.named_parameters():
        if p.dim() < 2 or "shared" in name or "embed" in name:
            continue
        w = p.flatten(1)
        gram = w @ w.t()
        off = gram - torch.diag(torch.diagonal(gram))
        term = off.square().sum()
        total = term if total is None else total + term
    return total if total is not None else torch.zeros(())
