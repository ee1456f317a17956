"""StyleGAN2 generator and discriminator (Karras, Laine, Aittala, Hellsten, Lehtinen, Aila 2020,
"Analyzing and Improving the Image Quality of StyleGAN", configs E-F).

A re-implementation of the networks behind the official ``--cfg=stylegan2`` (NVlabs stylegan3
repository, ``training/networks_stylegan2.py``): same constructor arguments, same module, parameter and
buffer names (an official ``G_ema`` / ``D`` state dict loads with ``strict=True`` once its ``"G_ema."`` /
``"D."`` prefix is removed), same forward interface and, in fp32, the same outputs up to float rounding.

Generator: ``z -> MappingNetwork -> ws [N, num_ws, w_dim] -> SynthesisNetwork -> img``. The synthesis
network starts from a learned 4x4 constant and doubles the resolution per block; every 3x3 conv is a
modulated, demodulated convolution followed by per-pixel noise, bias and leaky ReLU; images are
formed by 1x1 ToRGB layers ('skip': summed over resolutions, the default), by the last block only
('orig') or with residual blocks ('resnet'). ``ws[:, i]`` drives layer i in the order b4.conv1,
b4.torgb = b8.conv0, b8.conv1, b8.torgb = b16.conv0, ... (see ``SynthesisNetwork.ws_layout``).

Discriminator: residual blocks ('resnet', the default), 'skip' (an image pyramid fed to every block)
or 'orig'; a final 4x4 epilogue with minibatch standard deviation, conv, fc, and an output layer; for
c_dim > 0 the output is projected onto a mapped label embedding (Miyato & Koyama 2018).

Where this differs from the official code, on purpose:
- Plain torch ops only (see ``ganforge.nn.stylegan_ops``): no custom CUDA kernels, no conv2d_gradfix,
  no channels_last option (``fp16_channels_last`` is not accepted), no persistence/pickling magic.
- Class labels: besides the official float [N, c_dim] tensor, ``c`` may be int64 labels [N] (one-hot
  encoded internally) or None; with c_dim == 0 any ``c`` is ignored. Both nets expose
  ``num_classes`` (= c_dim).
- Frozen layers (``freeze_layers``, ``freeze_embed``) keep their weights as buffers, as official, but
  a frozen FullyConnectedLayer also works (the official one fails to register its bias buffer).
- Everything runs in fp32 except blocks selected by ``num_fp16_res`` on CUDA (as official); on CPU,
  or with ``force_fp32=True``, all blocks run fp32.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.nn.stylegan_ops import (
    Conv2dLayer,
    FullyConnectedLayer,
    MinibatchStdLayer,
    bias_act,
    downsample2d,
    modulated_conv2d,
    normalize_2nd_moment,
    setup_filter,
    upsample2d,
)

__all__ = [
    "MappingNetwork", "SynthesisLayer", "ToRGBLayer", "SynthesisBlock", "SynthesisNetwork", "Generator",
    "DiscriminatorBlock", "DiscriminatorEpilogue", "Discriminator", "labels_to_c",
]

_LRELU_GAIN = math.sqrt(2)
_RESIDUAL_GAIN = math.sqrt(0.5)

# Device types on which blocks built with use_fp16=True compute in float16 (official: CUDA only).
# Tests add "cpu" to exercise the fp16 code path without a GPU.
FP16_DEVICE_TYPES: tuple[str, ...] = ("cuda",)


def _block_dtype(use_fp16: bool, force_fp32: bool, device: torch.device) -> torch.dtype:
    return torch.float16 if use_fp16 and not force_fp32 and device.type in FP16_DEVICE_TYPES else torch.float32


def labels_to_c(c: torch.Tensor | None, c_dim: int, batch: int | None = None) -> torch.Tensor | None:
    """Conditioning in the official float form [N, c_dim], or None when c_dim == 0.

    Accepts int labels [N] (one-hot encoded) or a float [N, c_dim] tensor.
    """
    if c_dim == 0:
        return None
    if c is None:
        raise ValueError(f"this network is conditional (c_dim={c_dim}) and needs labels c")
    if not torch.is_floating_point(c):
        if c.ndim != 1:
            raise ValueError(f"integer labels must have shape [N], got {list(c.shape)}")
        c = F.one_hot(c.long(), c_dim).to(torch.float32)
    if c.ndim != 2 or c.shape[1] != c_dim or (batch is not None and c.shape[0] != batch):
        raise ValueError(f"c must be int labels [N] or a float tensor [N, {c_dim}], got {list(c.shape)}")
    return c.to(torch.float32)


# ---------------------------------------------------------------------------------------------------
# Generator


class MappingNetwork(nn.Module):
    """z [N, z_dim] (and c) -> w, broadcast to [N, num_ws, w_dim] (or [N, w_dim] if num_ws is None).

    z is normalised to unit second moment; for c_dim > 0 the label goes through a linear ``embed``
    layer, is normalised the same way and concatenated. Then ``num_layers`` equalized-LR fc layers
    (leaky ReLU, learning rate multiplier ``lr_multiplier``). During training, ``update_emas=True``
    tracks the average w in the ``w_avg`` buffer (decay ``w_avg_beta``); truncation moves w towards it:
    ``w_avg + psi * (w - w_avg)`` on the first ``truncation_cutoff`` layers (all if None).
    The discriminator reuses this class with z_dim=0, num_ws=None and w_avg_beta=None to map labels.
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, num_layers: int = 8,
                 embed_features: int | None = None, layer_features: int | None = None,
                 activation: str = "lrelu", lr_multiplier: float = 0.01, w_avg_beta: float | None = 0.998,
                 freeze_layers: int = 0, freeze_embed: bool = False):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.num_ws, self.num_layers, self.w_avg_beta = num_ws, num_layers, w_avg_beta
        embed_features = 0 if c_dim == 0 else (w_dim if embed_features is None else embed_features)
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features, trainable=not freeze_embed)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], activation=activation,
                                                        lr_multiplier=lr_multiplier,
                                                        trainable=i >= freeze_layers))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> torch.Tensor:
        parts = []
        if self.z_dim > 0:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(f"z must be [N, {self.z_dim}], got {None if z is None else list(z.shape)}")
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim > 0:
            c = labels_to_c(c, self.c_dim, None if z is None else z.shape[0])
            parts.append(normalize_2nd_moment(self.embed(c)))
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)

        if update_emas and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))  # bf16 under autocast

        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            if self.w_avg_beta is None:
                raise ValueError("truncation needs the tracked w_avg (w_avg_beta is None)")
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                head = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
                x = torch.cat([head, x[:, truncation_cutoff:]], dim=1)
        return x

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}"


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (optionally 2x upsampling) + noise + bias + leaky ReLU + clamp.

    ``affine`` maps w to per-input-channel styles (bias initialised to 1). Noise: 'random' draws fresh
    N(0, 1) per sample, 'const' uses the fixed ``noise_const`` buffer, 'none' adds nothing; either way it
    is scaled by the learned scalar ``noise_strength`` (initialised to 0).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = in_channels, out_channels, w_dim
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation, self.conv_clamp = activation, conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = 1.0 if activation == "linear" else _LRELU_GAIN
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", fused_modconv: bool = True,
                gain: float = 1.0) -> torch.Tensor:
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}")
        in_res = self.resolution // self.up
        if x.shape[1:] != (self.in_channels, in_res, in_res):
            raise ValueError(f"expected input [N, {self.in_channels}, {in_res}, {in_res}], got {list(x.shape)}")
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, fused_modconv=fused_modconv)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, w_dim={self.w_dim}, "
                f"resolution={self.resolution}, up={self.up}, activation={self.activation}")


class ToRGBLayer(nn.Module):
    """Modulated (not demodulated) 1x1 convolution to image channels + bias + clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = in_channels, out_channels, w_dim
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias, clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}, w_dim={self.w_dim}"


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network: (const | conv0 with 2x up), conv1, optional torgb.

    ``in_channels == 0`` marks the first (4x4) block, which starts from the learned ``const``.
    Architectures: 'orig' (ToRGB only in the last block), 'skip' (ToRGB in every block, the running
    image is upsampled and summed), 'resnet' (a 1x1 upsampling ``skip`` conv; both branches scaled by
    sqrt(0.5)). Consumes ``num_conv + num_torgb`` ws, the last shared with the next block's conv0.
    ``fused_modconv_default``: True, False or 'inference_only' (fused in eval mode only).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", resample_filter: Sequence[float] = (1, 3, 3, 1),
                 conv_clamp: float | None = 256, use_fp16: bool = False,
                 fused_modconv_default: bool | str = True, **layer_kwargs: Any):
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"architecture must be 'orig', 'skip' or 'resnet', got {architecture!r}")
        super().__init__()
        self.in_channels, self.w_dim, self.resolution = in_channels, w_dim, resolution
        self.img_channels, self.is_last, self.architecture = img_channels, is_last, architecture
        self.use_fp16 = use_fp16
        self.fused_modconv_default = fused_modconv_default
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, force_fp32: bool = False,
                fused_modconv: bool | str | None = None, update_emas: bool = False,
                noise_mode: str = "random") -> tuple[torch.Tensor, torch.Tensor | None]:
        del update_emas  # nothing to track in synthesis
        if ws.ndim != 3 or ws.shape[1] != self.num_conv + self.num_torgb or ws.shape[2] != self.w_dim:
            raise ValueError(f"block {self.resolution}: ws must be [N, {self.num_conv + self.num_torgb}, "
                             f"{self.w_dim}], got {list(ws.shape)}")
        w_iter = iter(ws.unbind(dim=1))
        dtype = _block_dtype(self.use_fp16, force_fp32, ws.device)
        if fused_modconv is None:
            fused_modconv = self.fused_modconv_default
        if fused_modconv == "inference_only":
            fused_modconv = not self.training

        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
        else:
            x = x.to(dtype)
            if self.architecture == "resnet":
                y = self.skip(x, gain=_RESIDUAL_GAIN)
                x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
                x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv,
                               gain=_RESIDUAL_GAIN)
                x = y + x
            else:
                x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
                x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)

        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.num_torgb:
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).to(torch.float32)
            img = y if img is None else img + y
        return x, img

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, architecture={self.architecture}"


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, img_channels, img_resolution, img_resolution].

    Blocks ``b4, b8, ..., b{img_resolution}`` with ``min(channel_base // res, channel_max)`` channels;
    the ``num_fp16_res`` highest resolutions (never below 8) use fp16 on CUDA.
    Extra keyword arguments go to every ``SynthesisBlock`` (architecture, conv_clamp,
    fused_modconv_default, resample_filter) and from there to ``SynthesisLayer`` (use_noise,
    activation, kernel_size).
    """

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 4, **block_kwargs: Any):
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(math.log2(img_resolution))
        self.num_fp16_res = num_fp16_res
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            is_last = res == img_resolution
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim=w_dim,
                                   resolution=res, img_channels=img_channels, is_last=is_last,
                                   use_fp16=res >= fp16_resolution, **block_kwargs)
            self.num_ws += block.num_conv + (block.num_torgb if is_last else 0)
            setattr(self, f"b{res}", block)

    def ws_layout(self) -> dict[str, int]:
        """Which ``ws`` index each style-consuming layer reads, e.g. {'b4.conv1': 0, 'b4.torgb': 1, ...}."""
        layout, idx = {}, 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            names = (["conv0"] if block.in_channels else []) + ["conv1"] + (["torgb"] if block.num_torgb else [])
            for j, name in enumerate(names):
                layout[f"b{res}.{name}"] = idx + j
            idx += block.num_conv
        return layout

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", force_fp32: bool = False,
                fused_modconv: bool | str | None = None, update_emas: bool = False) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        ws = ws.to(torch.float32)
        x = img = None
        idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, idx, block.num_conv + block.num_torgb), force_fp32=force_fp32,
                           fused_modconv=fused_modconv, update_emas=update_emas, noise_mode=noise_mode)
            idx += block.num_conv
        return img

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, "
                f"img_channels={self.img_channels}, num_fp16_res={self.num_fp16_res}")


class Generator(nn.Module):
    """StyleGAN2 generator: ``G(z, c) -> img`` [N, img_channels, img_resolution, img_resolution].

    The output is unbounded (roughly [-1, 1] once trained); it is not squashed by tanh.
    ``mapping_kwargs`` go to ``MappingNetwork`` (num_layers, lr_multiplier, w_avg_beta, ...); all other
    keyword arguments to ``SynthesisNetwork`` (channel_base, channel_max, num_fp16_res, conv_clamp,
    architecture, fused_modconv_default, ...). ``c``: None, int labels [N] or float [N, c_dim].
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: dict[str, Any] | None = None, **synthesis_kwargs: Any):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                                          **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws,
                                      **(mapping_kwargs or {}))

    @property
    def num_classes(self) -> int:
        return self.c_dim

    @property
    def layer_resolutions(self) -> list[int]:
        """For each of the ``num_ws`` style inputs, the lowest resolution of the layers reading it
        (an index shared by a block's toRGB and the next block's first conv counts as the lower one);
        the latent-space tools group layers into coarse / middle / fine by it."""
        res = [0] * self.num_ws
        for name, idx in self.synthesis.ws_layout().items():
            r = int(name.split(".")[0][1:])
            res[idx] = r if res[idx] == 0 else min(res[idx], r)
        return res

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False, noise_mode: str = "random",
                force_fp32: bool = False, fused_modconv: bool | str | None = None) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32, fused_modconv=fused_modconv,
                              update_emas=update_emas)


# ---------------------------------------------------------------------------------------------------
# Discriminator


class DiscriminatorBlock(nn.Module):
    """One resolution of the discriminator: (fromrgb), conv0 3x3, conv1 3x3 with 2x down, (skip).

    ``in_channels == 0`` marks the first block (fed by the image through ``fromrgb``). 'skip' feeds the
    downsampled image to every block through its own fromrgb; 'resnet' adds a 1x1 downsampling ``skip``
    conv, both branches scaled by sqrt(0.5). Layers with index < ``freeze_layers`` (counted from
    ``first_layer_idx``) are frozen.
    """

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int,
                 img_channels: int, first_layer_idx: int, architecture: str = "resnet", activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: float | None = None,
                 use_fp16: bool = False, freeze_layers: int = 0):
        if in_channels not in (0, tmp_channels):
            raise ValueError(f"in_channels must be 0 or tmp_channels ({tmp_channels}), got {in_channels}")
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"architecture must be 'orig', 'skip' or 'resnet', got {architecture!r}")
        super().__init__()
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.first_layer_idx, self.architecture, self.use_fp16 = first_layer_idx, architecture, use_fp16
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_layers = 0

        def trainable() -> bool:
            ok = self.first_layer_idx + self.num_layers >= freeze_layers
            self.num_layers += 1
            return ok

        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, activation=activation,
                                       trainable=trainable(), conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, activation=activation,
                                 trainable=trainable(), conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, activation=activation, down=2,
                                 trainable=trainable(), resample_filter=resample_filter, conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    trainable=trainable(), resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None,
                force_fp32: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        dtype = _block_dtype(self.use_fp16, force_fp32, (x if x is not None else img).device)
        if x is not None:
            x = x.to(dtype)
        if self.in_channels == 0 or self.architecture == "skip":
            if img is None or img.shape[1:] != (self.img_channels, self.resolution, self.resolution):
                got = None if img is None else list(img.shape)
                raise ValueError(f"block {self.resolution}: expected img [N, {self.img_channels}, "
                                 f"{self.resolution}, {self.resolution}], got {got}")
            img = img.to(dtype)
            y = self.fromrgb(img)
            x = y if x is None else x + y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=_RESIDUAL_GAIN)
            x = self.conv1(self.conv0(x), gain=_RESIDUAL_GAIN)
            x = y + x
        else:
            x = self.conv1(self.conv0(x))
        return x, img

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, architecture={self.architecture}"


class DiscriminatorEpilogue(nn.Module):
    """The 4x4 head: (fromrgb for 'skip'), minibatch stddev, conv 3x3, fc, out.

    ``out`` gives one logit, or for ``cmap_dim > 0`` a vector whose dot product with the mapped label
    ``cmap``, scaled by 1/sqrt(cmap_dim), is the logit (projection discriminator). Always fp32.
    """

    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", mbstd_group_size: int | None = 4, mbstd_num_channels: int = 1,
                 activation: str = "lrelu", conv_clamp: float | None = None):
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"architecture must be 'orig', 'skip' or 'resnet', got {architecture!r}")
        super().__init__()
        self.in_channels, self.cmap_dim, self.resolution = in_channels, cmap_dim, resolution
        self.img_channels, self.architecture = img_channels, architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = (MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None)
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation,
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, cmap: torch.Tensor | None,
                force_fp32: bool = False) -> torch.Tensor:
        del force_fp32  # the epilogue always runs in fp32
        x = x.to(torch.float32)
        if self.architecture == "skip":
            x = x + self.fromrgb(img.to(torch.float32))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.out(self.fc(x.flatten(1)))
        if self.cmap_dim > 0:
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, architecture={self.architecture}"


class Discriminator(nn.Module):
    """StyleGAN2 discriminator: ``D(img, c) -> logits [N, 1]``.

    Blocks ``b{img_resolution}, ..., b8`` (channels ``min(channel_base // res, channel_max)``) and the
    epilogue ``b4``. For c_dim > 0 a ``mapping`` network (8 layers unless ``mapping_kwargs`` say
    otherwise, lr multiplier 0.01) embeds the label into ``cmap_dim`` (default: the 4x4 channel count).
    ``c``: None, int labels [N] or float [N, c_dim].
    """

    def __init__(self, c_dim: int, img_resolution: int, img_channels: int, architecture: str = "resnet",
                 channel_base: int = 32768, channel_max: int = 512, num_fp16_res: int = 4,
                 conv_clamp: float | None = 256, cmap_dim: int | None = None,
                 block_kwargs: dict[str, Any] | None = None, mapping_kwargs: dict[str, Any] | None = None,
                 epilogue_kwargs: dict[str, Any] | None = None):
        super().__init__()
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(self.img_resolution_log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        if cmap_dim is None:
            cmap_dim = channels[4]
        if c_dim == 0:
            cmap_dim = 0
        common = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
        layer_idx = 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(channels[res] if res < img_resolution else 0, channels[res], channels[res // 2],
                                       resolution=res, first_layer_idx=layer_idx, use_fp16=res >= fp16_resolution,
                                       **(block_kwargs or {}), **common)
            setattr(self, f"b{res}", block)
            layer_idx += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None,
                                          **(mapping_kwargs or {}))
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim=cmap_dim, resolution=4, **(epilogue_kwargs or {}),
                                        **common)

    @property
    def num_classes(self) -> int:
        return self.c_dim

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, update_emas: bool = False,
                force_fp32: bool = False) -> torch.Tensor:
        del update_emas  # nothing to track in D
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32)
        cmap = None
        if self.c_dim > 0:
            cmap = self.mapping(None, labels_to_c(c, self.c_dim, x.shape[0]))
        return self.b4(x, img, cmap)

    def extra_repr(self) -> str:
        return f"c_dim={self.c_dim}, img_resolution={self.img_resolution}, img_channels={self.img_channels}"
