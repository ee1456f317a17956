"""Image-to-image translation networks: pix2pix (Isola et al. 2017, "Image-to-Image Translation with
Conditional Adversarial Networks") and CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation
using Cycle-Consistent Adversarial Networks").

The layer stacks follow the authors' PyTorch code (junyanz/pytorch-CycleGAN-and-pix2pix,
``models/networks.py``) so that parameter counts, shapes and receptive fields are the reference's:

- ``UNetGenerator``: pix2pix's encoder-decoder with a skip connection at every level
  (``unet_256`` is ``depth=8``, ``unet_128`` is ``depth=7``).
- ``ResnetGenerator``: CycleGAN's (Johnson et al. 2016 style) generator with reflection padding and
  residual blocks (``resnet_9blocks`` / ``resnet_6blocks``).
- ``PatchDiscriminator``: the "PatchGAN" (``NLayerDiscriminator``): one raw logit per overlapping
  image patch (70x70 patches with the default three layers).
- ``ImagePool``: the history of generated images that CycleGAN shows its discriminators
  (Shrivastava et al. 2017, "Learning from Simulated and Unsupervised Images through Adversarial
  Training"), drawing its randomness from the training run's ``torch.Generator``.
- ``init_weights``: the reference's "normal" initialisation. Every network here calls it once when it
  is built, so a fresh network starts like the reference's after ``init_net``.

Deliberate difference from the reference: a convolution followed by a normalisation has a bias unless
that normalisation is batch norm (the reference gives a bias only with instance norm, so its
``norm="none"`` networks have no bias anywhere but in the first/last layers). With batch or instance
norm, the choice the reference actually trains with, the layers and parameter counts are identical.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.errors import GanforgeError, choices_error

NORMS = ("batch", "instance", "none")


def make_norm(kind: str, channels: int) -> nn.Module:
    """The normalisation named ``kind`` for ``channels`` feature maps, as the reference builds it.

    "batch": ``BatchNorm2d`` with a learned scale and shift; "instance": ``InstanceNorm2d`` without
    affine parameters or running statistics (it normalises each image with its own statistics in
    training and evaluation alike); "none": the identity. Shapes: [N, C, H, W] -> same.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise choices_error("normalisation", kind, NORMS)


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise choices_error("normalisation", norm, NORMS)


def _conv_bias(norm: str) -> bool:
    """Whether a convolution followed by ``norm`` gets a bias (batch norm's shift makes one redundant)."""
    return norm != "batch"


def _check_positive(what: str, value: int, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise GanforgeError(f"{what} must be an integer >= {minimum}, got {value!r}")


def init_weights(net: nn.Module, gain: float = 0.02) -> None:
    """The reference's "normal" initialisation, in place, from torch's global random generator.

    Convolution (any dimension, transposed too) and linear weights ~ N(0, gain), their biases 0;
    batch-norm scales ~ N(1, gain), shifts 0. Other modules (instance norm has no parameters here)
    are left as they are.
    """
    for m in net.modules():
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------------------------------
# U-Net (pix2pix)


def _max_unet_depth(resolution: int) -> int:
    """Largest depth d with ``resolution % 2**d == 0`` (the number of factors 2 in ``resolution``)."""
    d = 0
    while resolution > 0 and resolution % (2 ** (d + 1)) == 0:
        d += 1
    return d


class UNetLevel(nn.Module):
    """One level of the U-Net: the reference's ``UnetSkipConnectionBlock`` without its submodule.

    ``down`` maps the level's input [N, outer, H, W] (``in_channels`` at the outermost level) to
    [N, inner, H/2, W/2]; ``up`` maps what comes back from the level below ([N, 2*inner, H/2, W/2],
    or [N, inner, H/2, W/2] at the innermost level, which has no level below) to [N, outer, H, W]
    (``out_channels`` at the outermost level).

    down: outermost: Conv(k4, s2, p1); otherwise LeakyReLU(0.2) -> Conv(k4, s2, p1) -> norm, with no
    norm at the innermost level.
    up: ReLU -> ConvTranspose(k4, s2, p1) -> norm [-> Dropout(0.5)]; at the outermost level
    ReLU -> ConvTranspose (with bias) -> Tanh.

    ``UNetGenerator`` wires the levels together and concatenates the skips; a level on its own does
    not call the level below.
    """

    def __init__(self, input_channels: int, outer: int, inner: int, *, outermost: bool, innermost: bool,
                 norm: str, dropout: bool):
        super().__init__()
        self.outermost, self.innermost, self.has_dropout = outermost, innermost, dropout
        bias = _conv_bias(norm)
        down: list[nn.Module] = [] if outermost else [nn.LeakyReLU(0.2)]
        down.append(nn.Conv2d(input_channels, inner, 4, 2, 1, bias=bias))
        if not (outermost or innermost):
            down.append(make_norm(norm, inner))
        self.down = nn.Sequential(*down)
        up_in = inner if innermost else 2 * inner
        if outermost:
            up: list[nn.Module] = [nn.ReLU(), nn.ConvTranspose2d(up_in, outer, 4, 2, 1), nn.Tanh()]
        else:
            up = [nn.ReLU(), nn.ConvTranspose2d(up_in, outer, 4, 2, 1, bias=bias), make_norm(norm, outer)]
            if dropout:
                up.append(nn.Dropout(0.5))
        self.up = nn.Sequential(*up)


class UNetGenerator(nn.Module):
    """pix2pix's U-Net: x [N, in_channels, H, W] in [-1, 1] -> [N, out_channels, H, W] in (-1, 1).

    ``depth`` is the number of stride-2 downsamplings (the reference's ``num_downs``: 8 for 256 px,
    7 for 128 px), so H and W must be multiples of ``2**depth``. Levels are numbered i = 0
    (outermost, full resolution) to ``depth - 1`` (innermost, 1x1 at H = 2**depth); level i's
    convolution outputs ``width * min(2**i, 8)`` channels at H / 2**(i+1) (see ``UNetLevel``).

    Skips: every level except the outermost returns the channel concatenation [a, up(...)] of its
    input and its up path's output, so its output has twice its input's channels. As in the reference,
    ``a`` is the level's input *after* the down path's LeakyReLU(0.2): the reference's LeakyReLU is
    in-place and overwrites the tensor it then concatenates, and trained reference weights rely on it.

    Dropout(0.5) (after the up path's norm; active in training mode only): on the levels i with
    4 <= i <= depth - 2, i.e. those that are neither the innermost nor among the four outermost levels
    (whose channel counts are width, 2w, 4w, 8w). These are exactly the reference's ``num_downs - 5``
    8w-to-8w blocks with ``use_dropout``: 3 at depth 8, 2 at depth 7, none at depth <= 5. For
    depth >= 5 the network is the reference's layer for layer; smaller depths keep the same channel
    and dropout rules (depth 1 is a single conv / transposed-conv pair with no skip).

    ``levels`` lists the ``UNetLevel`` modules outermost first; ``skip_tensors`` / ``skip_shapes``
    return the concatenated tensors (levels 1 .. depth-1) for inspection.
    """

    def __init__(self, in_channels: int, out_channels: int, depth: int, width: int = 64, norm: str = "batch",
                 dropout: bool = True, resolution: int | None = None):
        super().__init__()
        _check_positive("U-Net depth", depth)
        _check_positive("U-Net width", width)
        _check_positive("U-Net in_channels", in_channels)
        _check_positive("U-Net out_channels", out_channels)
        _check_norm(norm)
        if resolution is not None:
            _check_positive("U-Net resolution", resolution)
            if resolution % 2**depth:
                best = _max_unet_depth(resolution)
                hint = f"the largest valid depth is {best}" if best else "no depth fits an odd resolution"
                raise GanforgeError(
                    f"U-Net depth {depth} needs a resolution divisible by 2**{depth} = {2**depth}, "
                    f"got resolution {resolution}; {hint}"
                )
        self.in_channels, self.out_channels, self.depth = in_channels, out_channels, depth
        self.width, self.norm, self.dropout = width, norm, dropout
        inner = [width * min(2**i, 8) for i in range(depth)]
        self.levels = nn.ModuleList()
        for i in range(depth):
            self.levels.append(UNetLevel(
                in_channels if i == 0 else inner[i - 1],
                out_channels if i == 0 else inner[i - 1],
                inner[i],
                outermost=i == 0,
                innermost=i == depth - 1,
                norm=norm,
                dropout=dropout and 4 <= i <= depth - 2,
            ))
        init_weights(self)

    def _run(self, x: torch.Tensor, record: list[torch.Tensor] | None) -> torch.Tensor:
        factor = 2**self.depth
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] % factor or x.shape[3] % factor:
            raise GanforgeError(
                f"U-Net (depth {self.depth}, {self.in_channels} input channels) needs input "
                f"[N, {self.in_channels}, H, W] with H and W multiples of {factor}, got {list(x.shape)}"
            )
        skips: list[torch.Tensor] = []
        h = x
        for i, level in enumerate(self.levels):
            if i > 0:
                h = level.down[0](h)  # the LeakyReLU: its output is both the skip and the conv's input
                skips.append(h)
                h = level.down[1:](h)
            else:
                h = level.down(h)
        for i in range(self.depth - 1, -1, -1):
            h = self.levels[i].up(h)
            if i > 0:
                h = torch.cat([skips[i - 1], h], dim=1)
                if record is not None:
                    record.append(h)
        if record is not None:
            record.reverse()  # outermost first
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, None)

    def skip_tensors(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The concatenated [skip, up] tensors of levels 1 .. depth-1 (outermost first; entry j is
        level j+1, of shape [N, 2 * width * min(2**j, 8), H / 2**(j+1), W / 2**(j+1)]). Empty at depth 1."""
        record: list[torch.Tensor] = []
        self._run(x, record)
        return record

    def skip_shapes(self, x: torch.Tensor) -> list[tuple[int, ...]]:
        """Shapes of ``skip_tensors(x)``, outermost first."""
        return [tuple(t.shape) for t in self.skip_tensors(x)]


# ---------------------------------------------------------------------------------------------------
# ResNet generator (CycleGAN)


class ResnetBlock(nn.Module):
    """x [N, C, H, W] -> x + block(x), block = ReflectionPad(1) -> Conv(k3) -> norm -> ReLU
    [-> Dropout(0.5)] -> ReflectionPad(1) -> Conv(k3) -> norm (the reference's "reflect" padding)."""

    def __init__(self, channels: int, norm: str, dropout: bool):
        super().__init__()
        bias = _conv_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
                                   make_norm(norm, channels), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
                   make_norm(norm, channels)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator: x [N, in_channels, H, W] -> [N, out_channels, H, W] in (-1, 1).

    ReflectionPad(3) -> Conv(k7) to ``width`` -> norm -> ReLU; ``downsamplings`` x [Conv(k3, s2, p1)
    doubling the channels -> norm -> ReLU]; ``blocks`` x ``ResnetBlock`` at
    ``width * 2**downsamplings`` channels; ``downsamplings`` x [ConvTranspose(k3, s2, p1,
    output_padding 1) halving them -> norm -> ReLU]; ReflectionPad(3) -> Conv(k7, with bias) to
    ``out_channels`` -> Tanh. The stride-2 convolutions zero-pad, as in the reference; the 7x7 and
    residual convolutions reflect-pad. H and W must be multiples of ``2**downsamplings`` for the
    output to match the input's size. ``layers`` is the whole stack as an ``nn.Sequential``.
    """

    def __init__(self, in_channels: int, out_channels: int, blocks: int = 9, width: int = 64,
                 norm: str = "instance", dropout: bool = False, downsamplings: int = 2):
        super().__init__()
        _check_positive("ResNet generator blocks", blocks, 0)
        _check_positive("ResNet generator width", width)
        _check_positive("ResNet generator downsamplings", downsamplings, 0)
        _check_positive("ResNet generator in_channels", in_channels)
        _check_positive("ResNet generator out_channels", out_channels)
        _check_norm(norm)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.blocks, self.downsamplings = blocks, downsamplings
        bias = _conv_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7, bias=bias),
                                   make_norm(norm, width), nn.ReLU()]
        ch = width
        for _ in range(downsamplings):
            layers += [nn.Conv2d(ch, 2 * ch, 3, 2, 1, bias=bias), make_norm(norm, 2 * ch), nn.ReLU()]
            ch *= 2
        layers += [ResnetBlock(ch, norm, dropout) for _ in range(blocks)]
        for _ in range(downsamplings):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1, bias=bias),
                       make_norm(norm, ch // 2), nn.ReLU()]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, out_channels, 7), nn.Tanh()]
        self.layers = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


# ---------------------------------------------------------------------------------------------------
# PatchGAN discriminator


def _patch_conv_specs(layers: int) -> list[tuple[int, int]]:
    """(kernel, stride) of each convolution of a ``layers``-layer PatchGAN, input side first."""
    return [(4, 2)] * layers + [(4, 1), (4, 1)]


def _receptive_field(specs: list[tuple[int, int]]) -> int:
    """Receptive field of one output unit of a stack of convolutions ((kernel, stride), input side
    first), found by walking back from the output: a window of r units at a layer's output covers
    (r - 1) * stride + kernel units at its input."""
    r = 1
    for k, s in reversed(specs):
        r = (r - 1) * s + k
    return r


def patch_receptive_field(layers: int) -> int:
    """Side, in input pixels, of the patch one logit of ``PatchDiscriminator(layers=layers)`` sees
    (16, 34, 70, 142 for 1 to 4 layers)."""
    _check_positive("PatchGAN layers", layers)
    return _receptive_field(_patch_conv_specs(layers))


class PatchDiscriminator(nn.Module):
    """The reference's ``NLayerDiscriminator``: x [N, in_channels, H, W] -> logits [N, 1, h, w], one
    raw (pre-sigmoid) logit per ``receptive_field`` x ``receptive_field`` input patch.

    Conv(k4, s2, p1) to ``width`` -> LeakyReLU(0.2) (no norm); for n = 1 .. layers-1:
    Conv(k4, s2, p1) to ``width * min(2**n, 8)`` -> norm -> LeakyReLU(0.2); Conv(k4, s1, p1) to
    ``width * min(2**layers, 8)`` -> norm -> LeakyReLU(0.2); Conv(k4, s1, p1, with bias) to 1 channel.
    A 256x256 input gives 30x30 logits with the default 3 layers (70x70 patches).
    """

    def __init__(self, in_channels: int, layers: int = 3, width: int = 64, norm: str = "batch"):
        super().__init__()
        _check_positive("PatchGAN layers", layers)
        _check_positive("PatchGAN width", width)
        _check_positive("PatchGAN in_channels", in_channels)
        _check_norm(norm)
        self.in_channels, self.n_layers = in_channels, layers
        bias = _conv_bias(norm)
        seq: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        ch = width
        for n in range(1, layers):
            nxt = width * min(2**n, 8)
            seq += [nn.Conv2d(ch, nxt, 4, 2, 1, bias=bias), make_norm(norm, nxt), nn.LeakyReLU(0.2)]
            ch = nxt
        nxt = width * min(2**layers, 8)
        seq += [nn.Conv2d(ch, nxt, 4, 1, 1, bias=bias), make_norm(norm, nxt), nn.LeakyReLU(0.2),
                nn.Conv2d(nxt, 1, 4, 1, 1)]
        self.layers = nn.Sequential(*seq)
        specs = [(m.kernel_size[0], m.stride[0]) for m in self.layers if isinstance(m, nn.Conv2d)]
        self.receptive_field: int = _receptive_field(specs)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


# ---------------------------------------------------------------------------------------------------
# Image pool


class ImagePool:
    """Shrivastava et al. 2017 history buffer as used by CycleGAN (pool_size 50).

    The discriminator is shown a mix of the newest generated images and older ones, which damps
    oscillation between G and D. ``query`` works image by image in batch order, like the reference:

    - size 0: the batch is returned as it is (the same tensor);
    - while the pool holds fewer than ``size`` images: a detached copy of the image is stored and the
      image itself is returned;
    - once full: with probability 0.5 a uniformly chosen stored image is returned and the new image
      takes its slot (so that slot may be returned again later in the same batch), otherwise the new
      image is returned and the pool is unchanged.

    Randomness: for the k images of a batch that arrive at a full pool, k uniforms and k slot indices
    are drawn from ``generator`` (one ``torch.rand`` and one ``torch.randint`` call, on the
    generator's device), and nothing else is drawn: the same generator state and pool state give the
    same outputs whatever torch's global seed is, and a pool restored with ``load_state_dict`` next to
    a restored generator continues bit for bit.

    Stored images live on the device of the last batch queried (on the CPU after ``load_state_dict``
    until the next query). The output has the batch's shape, device and dtype and is detached.
    """

    def __init__(self, size: int, generator: torch.Generator):
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise GanforgeError(f"image pool size must be an integer >= 0, got {size!r}")
        if not isinstance(generator, torch.Generator):
            raise GanforgeError(f"image pool needs a torch.Generator, got {type(generator).__name__}")
        self.size = size
        self.generator = generator
        self._images: list[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self._images)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """images [N, C, H, W] -> [N, C, H, W]: each image or a stored one (see the class docstring)."""
        if self.size == 0:
            return images
        images = images.detach()
        n = images.shape[0]
        filling = min(n, self.size - len(self._images))
        drawn = n - filling
        if drawn > 0:
            dev = self.generator.device
            take_old = (torch.rand(drawn, generator=self.generator, device=dev) > 0.5).tolist()
            slots = torch.randint(self.size, (drawn,), generator=self.generator, device=dev).tolist()
        first = self._images[0] if self._images else None
        if first is not None and (first.device != images.device or first.dtype != images.dtype):
            self._images = [img.to(device=images.device, dtype=images.dtype) for img in self._images]
        out: list[torch.Tensor] = []
        for j in range(n):
            image = images[j]
            if j < filling:
                self._images.append(image.clone())
                out.append(image)
                continue
            k = j - filling
            if take_old[k]:
                slot = slots[k]
                out.append(self._images[slot])
                self._images[slot] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        """{"size": int, "images": [n_stored, C, H, W] on the CPU (an empty tensor when the pool is
        empty)}: tensors and ints only, loadable with ``torch.load(..., weights_only=True)``."""
        stored = torch.stack(self._images).cpu() if self._images else torch.empty(0)
        return {"size": self.size, "images": stored}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned; the pool's size must be the saved one."""
        if state.get("size") != self.size:
            raise GanforgeError(
                f"image pool state has size {state.get('size')!r} but this pool has size {self.size}"
            )
        stored = state.get("images")
        if not isinstance(stored, torch.Tensor):
            raise GanforgeError("image pool state has no 'images' tensor")
        if stored.numel() == 0:
            self._images = []
            return
        if stored.ndim != 4 or stored.shape[0] > self.size:
            raise GanforgeError(
                f"image pool state holds images of shape {list(stored.shape)}; expected "
                f"[n, C, H, W] with n <= {self.size}"
            )
        self._images = [img.clone() for img in stored]
