"""Normalisation layers and spectral normalisation shared by the model families.

- ``ConditionalBatchNorm2d``: batchnorm whose affine scale and shift are looked up per class
  (de Vries et al. 2017, "Modulating early visual processing by language"; used by SNGAN/BigGAN's G).
- ``apply_spectral_norm``: wraps every conv/linear weight with torch's spectral-norm parametrization
  (Miyato et al. 2018, "Spectral Normalization for Generative Adversarial Networks"; one power
  iteration per forward pass, as in the paper).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm2d with a per-class affine transform.

    Args:
        num_features: channels C.
        num_classes: number of classes; 0 gives an ordinary affine BatchNorm2d.
    Shapes: x [N, C, H, W], c [N] int64 -> [N, C, H, W].
    """

    def __init__(self, num_features: int, num_classes: int = 0):
        super().__init__()
        self.num_classes = num_classes
        self.bn = nn.BatchNorm2d(num_features, affine=num_classes == 0)
        if num_classes > 0:
            # Start as the identity transform so a conditional net begins like an unconditional one.
            self.gain = nn.Embedding(num_classes, num_features)
            self.bias = nn.Embedding(num_classes, num_features)
            nn.init.ones_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.bn(x)
        if self.num_classes == 0:
            return h
        assert c is not None, "conditional batchnorm needs class labels c"
        return h * self.gain(c)[:, :, None, None] + self.bias(c)[:, :, None, None]


class Norm2d(nn.Module):
    """Normalisation chosen by name for discriminators: "batch", "layer" or None (identity).

    "layer" normalises over (C, H, W) per sample, which keeps a WGAN-GP critic's per-sample
    gradient penalty valid (batchnorm couples samples and breaks it).
    """

    def __init__(self, kind: str | None, num_features: int):
        super().__init__()
        if kind == "batch":
            self.norm: nn.Module = nn.BatchNorm2d(num_features)
        elif kind == "layer":
            self.norm = nn.GroupNorm(1, num_features)
        elif kind is None:
            self.norm = nn.Identity()
        else:
            from ganforge.errors import choices_error

            raise choices_error("model.d_norm", kind, ["batch", "layer", "none"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


def apply_spectral_norm(module: nn.Module, embeddings: bool = True) -> nn.Module:
    """Spectrally normalise the weight of every Conv/Linear (and Embedding, unless ``embeddings`` is
    False) inside ``module`` (in place). A generator keeps its conditional-BN embeddings free (SAGAN
    normalises G's convolutions and linear layers)."""
    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear) + ((nn.Embedding,) if embeddings else ())
    for m in list(module.modules()):
        if isinstance(m, kinds):
            spectral_norm(m)
    return module


class SelfAttention(nn.Module):
    """SAGAN's self-attention block (Zhang et al. 2019, "Self-Attention Generative Adversarial Networks").

    [N, C, H, W] -> same: query f(x) and key g(x) are 1x1 convs to C/8 channels, value h(x) a 1x1 conv
    to C; the attention map is a softmax over all H*W key positions for each query position, and the
    block returns x + gamma * h(x) attended, with the learned scalar gamma starting at 0, so the block
    is the identity at initialisation and the network learns how much non-local evidence to use.
    """

    def __init__(self, channels: int):
        super().__init__()
        inner = max(1, channels // 8)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(()))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """[N, H*W (queries), H*W (keys)], each row a softmax over key positions."""
        q = self.query(x).flatten(2)  # [N, C/8, HW]
        k = self.key(x).flatten(2)
        return torch.softmax(q.transpose(1, 2) @ k, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        attended = self.value(x).flatten(2) @ self.attention(x).transpose(1, 2)  # [N, C, HW]
        return x + self.gamma * attended.view(n, c, h, w)
