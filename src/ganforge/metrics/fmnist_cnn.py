"""A small Fashion-MNIST classifier used as a feature extractor for 1-channel, <= 32 px data.

Inception-v3 features (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a
Local Nash Equilibrium") are computed on 299x299 RGB ImageNet-like inputs; for 28 px grayscale clothing
they mostly measure upsampling artefacts. A domain classifier is the usual alternative (e.g. the
"Fréchet LeNet distance" used in several MNIST GAN studies). This network is ganforge's own: six 3x3
conv layers with batch norm in three stages (32, 64, 128 channels), global average pooling to a 128-d
feature vector (the "penultimate layer" that FID/KID/PR use) and a linear 10-way head (logits for IS).

Input: uint8 images [N, 1, H, W] with H = W = 28 (zero-padded by 2 px on each side to 32) or 32.
The weights are trained by ``scripts/train_fmnist_extractor.py`` on the Fashion-MNIST train split.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_DIM = 128
NUM_CLASSES = 10


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def to_input(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 1, 28|32, 28|32] -> float [N, 1, 32, 32] in [-1, 1] (28 px is zero-padded to 32).

    Padding happens in uint8 space with value 0, which is the Fashion-MNIST background, so a padded
    28 px image equals what the data layer's ``resize="pad"`` produces at resolution 32.
    """
    if images_u8.dim() != 4 or images_u8.shape[1] != 1:
        raise ValueError(f"expected uint8 images [N, 1, H, W], got shape {tuple(images_u8.shape)}")
    h, w = images_u8.shape[-2:]
    x = images_u8.float()
    if (h, w) == (28, 28):
        x = F.pad(x, (2, 2, 2, 2), value=0.0)
    elif (h, w) != (32, 32):
        raise ValueError(f"fmnist-cnn takes 28x28 or 32x32 images, got {h}x{w}")
    return x / 127.5 - 1.0


class FmnistCNN(nn.Module):
    """conv stages 32-64-128 (two 3x3 conv+BN+ReLU each, 2x2 max-pool between) -> GAP -> linear(10)."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(_block(1, 32), _block(32, 32))
        self.stage2 = nn.Sequential(_block(32, 64), _block(64, 64))
        self.stage3 = nn.Sequential(_block(64, 128), _block(128, FEATURE_DIM))
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """float [N, 1, 32, 32] in [-1, 1] -> pooled features [N, 128]."""
        x = self.stage1(x)
        x = F.max_pool2d(x, 2)
        x = self.stage2(x)
        x = F.max_pool2d(x, 2)
        x = self.stage3(x)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """float [N, 1, 32, 32] in [-1, 1] -> class logits [N, 10]."""
        return self.head(self.dropout(self.features(x)))
