"""StyleGAN3 generator (Karras, Aittala, Laine, Harkonen, Hellsten, Lehtinen, Aila 2021, "Alias-Free
Generative Adversarial Networks"), configs T and R.

A re-implementation of the official ``training/networks_stylegan3.py`` (NVlabs stylegan3): same
constructor arguments and defaults, same module, parameter and buffer names (an official ``G_ema``
state dict loads with ``strict=True`` once ``"G_ema."`` is removed; the identity ``up_filter`` /
``down_filter`` are absent from the state dict as official), same outputs in fp32 up to float rounding.

``z -> MappingNetwork -> ws [N, num_ws, w_dim]``; ``ws[:, 0]`` drives ``SynthesisInput`` (Fourier
features, rotated/translated by an affine of w and by the user ``transform`` buffer), ``ws[:, i + 1]``
drives layer ``L{i}_{size}_{channels}``: modulated conv, then the filtered leaky ReLU of
``ganforge.nn.filtered_lrelu``; the last layer is a 1x1 ToRGB without nonlinearity. Config R is
``conv_kernel=1, use_radial_filters=True`` (and, in the official train.py, doubled channel_base/max).

Where this differs from the official code, on purpose:
- plain torch ops (``ganforge.nn.filtered_lrelu.filtered_lrelu``, polyphase, no custom CUDA kernels);
- ``c`` may also be int labels [N] or None; ``noise_mode`` is accepted and ignored (no noise inputs),
  ``has_noise = False``; extra synthesis keyword arguments are ignored;
- the interface members ``num_classes`` and ``layer_resolutions`` are added.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.families.stylegan2.networks import MappingNetwork as _StyleGAN2Mapping
from ganforge.nn.filtered_lrelu import design_lowpass_filter, filtered_lrelu
from ganforge.nn.stylegan_ops import FullyConnectedLayer

__all__ = [
    "Generator",
    "MappingNetwork",
    "SynthesisInput",
    "SynthesisLayer",
    "SynthesisNetwork",
    "has_input_transform",
    "layer_schedule",
    "make_transform",
    "modulated_conv2d",
]

# Device types on which layers built with use_fp16=True compute in float16 (official: CUDA only).
FP16_DEVICE_TYPES: tuple[str, ...] = ("cuda",)


def make_transform(translate: tuple[float, float] = (0.0, 0.0), angle: float = 0.0) -> np.ndarray:
    """The [3, 3] float64 matrix of official gen_images.py: rotation by ``angle`` (radians) then
    translation by ``translate``. ``G.synthesis.input.transform`` takes its INVERSE (official usage:
    ``transform.copy_(torch.from_numpy(np.linalg.inv(make_transform(t, a))))``)."""
    m = np.eye(3)
    s, c = np.sin(angle), np.cos(angle)
    m[0, 0], m[0, 1], m[0, 2] = c, s, translate[0]
    m[1, 0], m[1, 1], m[1, 2] = -s, c, translate[1]
    return m


def has_input_transform(G: Any) -> bool:
    """True when ``G.synthesis.input.transform`` exists (alias-free generators)."""
    return hasattr(getattr(getattr(G, "synthesis", None), "input", None), "transform")


def layer_schedule(img_resolution: int, img_channels: int, channel_base: float = 32768, channel_max: float = 512,
                   num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                   first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3,
                   margin_size: int = 10) -> dict[str, np.ndarray]:
    """Per-layer design of the synthesis network (official formula): num_layers + 1 entries, entry i is
    the output of layer L{i} (the last is ToRGB); layer L{i} reads entry max(i - 1, 0), and the Fourier
    input produces entry 0's channels, size, sampling rate and (as its bandwidth) cutoff.

    Cutoffs f_c and minimum stopbands f_t grow geometrically from (first_cutoff, first_stopband) to
    (img_resolution / 2, that * last_stopband_rel), reached num_critical layers before the end.
    Sampling rate s = the power of two >= 2 f_t (at most img_resolution); half-width f_h =
    max(f_t, s / 2) - f_c; size = s + 2 margin_size (the last two: img_resolution); channels =
    min(channel_base / 2 / f_c, channel_max) rounded (the last: img_channels).
    Returns float64 arrays ``cutoffs, stopbands, sampling_rates, half_widths, sizes, channels``.
    """
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    t = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** t
    stopbands = first_stopband * (last_stopband / first_stopband) ** t
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
    sizes = sampling_rates + margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    return {"cutoffs": cutoffs, "stopbands": stopbands, "sampling_rates": sampling_rates,
            "half_widths": half_widths, "sizes": sizes, "channels": channels}


def modulated_conv2d(x: torch.Tensor, w: torch.Tensor, s: torch.Tensor, demodulate: bool = True, padding: int = 0,
                     input_gain: torch.Tensor | None = None) -> torch.Tensor:
    """StyleGAN3's modulated convolution: x [N, I, H, W], w [O, I, k, k], styles s [N, I].

    With ``demodulate``, w and s are first scaled to unit RMS, then each output filter to unit norm.
    ``input_gain`` ([] or [I] or [N, I]) scales the input channels (the magnitude EMA). One grouped conv.
    """
    n = x.shape[0]
    out_c, in_c, kh, kw = w.shape
    if demodulate:
        w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
        s = s * s.square().mean().rsqrt()
    ww = w.unsqueeze(0) * s.reshape(n, 1, in_c, 1, 1)
    if demodulate:
        ww = ww * (ww.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, out_c, 1, 1, 1)
    if input_gain is not None:
        ww = ww * input_gain.expand(n, in_c).reshape(n, 1, in_c, 1, 1)
    x = x.reshape(1, n * in_c, *x.shape[2:])
    x = F.conv2d(x, ww.reshape(n * out_c, in_c, kh, kw).to(x.dtype), padding=padding, groups=n)
    return x.reshape(n, out_c, *x.shape[2:])


class MappingNetwork(_StyleGAN2Mapping):
    """The official StyleGAN3 mapping network: StyleGAN2's (same layers ``fc{i}``, ``embed``, ``w_avg``,
    normalisation and truncation) with StyleGAN3's defaults: 2 layers, lr_multiplier 0.01."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 2,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.998):
        super().__init__(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=num_ws, num_layers=num_layers,
                         lr_multiplier=lr_multiplier, w_avg_beta=w_avg_beta)


class SynthesisInput(nn.Module):
    """Fourier features [N, channels, size, size] at ``sampling_rate``, frequencies in a disc of radius
    ``bandwidth``. The affine of w gives a rotation (r_c, r_s, normalised) and translation (t_x, t_y);
    the sampled image is rotated, then translated, then transformed by the ``transform`` buffer (the
    inverse of the user's transform, as official). Frequencies pushed out of band are faded out."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.w_dim, self.channels = w_dim, channels
        self.size = np.broadcast_to(np.asarray(size), [2])
        self.sampling_rate, self.bandwidth = sampling_rate, bandwidth
        # plain Python numbers for forward (torch.compile traces numpy values as tensors)
        self._size_xy = (int(self.size[0]), int(self.size[1]))
        self._rate, self._band = float(sampling_rate), float(bandwidth)
        freqs = torch.randn(channels, 2)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        phases = torch.rand(channels) - 0.5
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = FullyConnectedLayer(w_dim, 4)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", phases)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[0]
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        one, zero = torch.ones_like(t[:, 0]), torch.zeros_like(t[:, 0])
        m_r = torch.stack([t[:, 0], -t[:, 1], zero, t[:, 1], t[:, 0], zero, zero, zero, one], 1).reshape(n, 3, 3)
        m_t = torch.stack([one, zero, -t[:, 2], zero, one, -t[:, 3], zero, zero, one], 1).reshape(n, 3, 3)
        transforms = m_r @ m_t @ self.transform.unsqueeze(0)
        freqs = self.freqs.unsqueeze(0)
        phases = self.phases.unsqueeze(0) + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        amplitudes = (1 - (freqs.norm(dim=2) - self._band) / (self._rate / 2 - self._band)).clamp(0, 1)
        sx, sy = self._size_xy
        theta = torch.zeros(1, 2, 3, device=w.device)
        theta[0, 0, 0] = 0.5 * sx / self._rate
        theta[0, 1, 1] = 0.5 * sy / self._rate
        grid = F.affine_grid(theta, [1, 1, sy, sx], align_corners=False)  # [1, H, W, 2]
        x = (grid.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # [N, H, W, C]
        x = torch.sin((x + phases.unsqueeze(1).unsqueeze(2)) * (np.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, channels={self.channels}, size={list(self.size)}, "
                f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}")


class SynthesisLayer(nn.Module):
    """One alias-free layer: input scaled by ``magnitude_ema ** -0.5``, modulated conv (``conv_kernel``,
    full padding), bias + filtered leaky ReLU (upsampled to ``max(in, out sampling rate) *
    lrelu_upsampling``, low-passed at ``out_cutoff`` and resampled to ``out_sampling_rate``), clamp.
    ToRGB (``is_torgb``): 1x1 conv without demodulation or nonlinearity (slope 1, gain 1).
    ``magnitude_ema`` tracks the mean square of the input when ``update_emas=True``."""

    def __init__(self, w_dim: int, is_torgb: bool, is_critically_sampled: bool, use_fp16: bool,
                 in_channels: int, out_channels: int, in_size: int, out_size: int,
                 in_sampling_rate: float, out_sampling_rate: float, in_cutoff: float, out_cutoff: float,
                 in_half_width: float, out_half_width: float, conv_kernel: int = 3, filter_size: int = 6,
                 lrelu_upsampling: int = 2, use_radial_filters: bool = False, conv_clamp: float | None = 256,
                 magnitude_ema_beta: float = 0.999):
        super().__init__()
        self.w_dim, self.is_torgb = w_dim, is_torgb
        self.is_critically_sampled, self.use_fp16 = is_critically_sampled, use_fp16
        self.in_channels, self.out_channels = in_channels, out_channels
        self.in_size = np.broadcast_to(np.asarray(in_size), [2])
        self.out_size = np.broadcast_to(np.asarray(out_size), [2])
        self.in_sampling_rate, self.out_sampling_rate = in_sampling_rate, out_sampling_rate
        self.tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.in_cutoff, self.out_cutoff = in_cutoff, out_cutoff
        self.in_half_width, self.out_half_width = in_half_width, out_half_width
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp, self.magnitude_ema_beta = conv_clamp, magnitude_ema_beta

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, self.conv_kernel, self.conv_kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))

        self.up_factor = int(np.rint(self.tmp_sampling_rate / in_sampling_rate))
        if in_sampling_rate * self.up_factor != self.tmp_sampling_rate:
            raise ValueError("the temporary sampling rate must be an integer multiple of the input rate")
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        self.register_buffer("up_filter", design_lowpass_filter(
            numtaps=self.up_taps, cutoff=in_cutoff, width=in_half_width * 2, fs=self.tmp_sampling_rate))
        self.down_factor = int(np.rint(self.tmp_sampling_rate / out_sampling_rate))
        if out_sampling_rate * self.down_factor != self.tmp_sampling_rate:
            raise ValueError("the temporary sampling rate must be an integer multiple of the output rate")
        self.down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        self.down_radial = use_radial_filters and not is_critically_sampled
        self.register_buffer("down_filter", design_lowpass_filter(
            numtaps=self.down_taps, cutoff=out_cutoff, width=out_half_width * 2, fs=self.tmp_sampling_rate,
            radial=self.down_radial))

        # Padding of the upsampled image so that the output has out_size samples, centred as in the
        # paper's symmetric interpretation (appendix C.3): the official formula.
        total = (self.out_size - 1) * self.down_factor + 1
        total = total - (self.in_size + self.conv_kernel - 1) * self.up_factor
        total = total + self.up_taps + self.down_taps - 2
        lo = (total + self.up_factor) // 2
        hi = total - lo
        self.padding = [int(lo[0]), int(hi[0]), int(lo[1]), int(hi[1])]

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", force_fp32: bool = False,
                update_emas: bool = False) -> torch.Tensor:
        if update_emas:
            with torch.no_grad():
                cur = x.detach().to(torch.float32).square().mean()
                self.magnitude_ema.copy_(cur.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        input_gain = self.magnitude_ema.rsqrt()
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / math.sqrt(self.in_channels * self.conv_kernel ** 2))
        use_half = self.use_fp16 and not force_fp32 and x.device.type in FP16_DEVICE_TYPES
        dtype = torch.float16 if use_half else torch.float32
        x = modulated_conv2d(x.to(dtype), self.weight, styles, demodulate=not self.is_torgb,
                             padding=self.conv_kernel - 1, input_gain=input_gain)
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias.to(dtype), up=self.up_factor,
                              down=self.down_factor, padding=self.padding,
                              gain=1.0 if self.is_torgb else math.sqrt(2),
                              slope=1.0 if self.is_torgb else 0.2, clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, is_torgb={self.is_torgb}, is_critically_sampled={self.is_critically_sampled}, "
                f"use_fp16={self.use_fp16}, in_sampling_rate={self.in_sampling_rate:g}, "
                f"out_sampling_rate={self.out_sampling_rate:g}, in_cutoff={self.in_cutoff:g}, "
                f"out_cutoff={self.out_cutoff:g}, in_size={list(self.in_size)}, out_size={list(self.out_size)}, "
                f"in_channels={self.in_channels}, out_channels={self.out_channels}")


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> images [N, img_channels, img_resolution, img_resolution] (fp32).

    ``num_ws = num_layers + 2``: the Fourier input, ``num_layers`` layers, ToRGB; the design of each is
    ``layer_schedule``. The output is multiplied by ``output_scale``. Layers whose sampling rate times
    ``2 ** num_fp16_res`` exceeds img_resolution compute in fp16 on CUDA (not with force_fp32)."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                 first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                 output_scale: float = 0.25, num_fp16_res: int = 4, **layer_kwargs: Any):
        super().__init__()
        self.w_dim, self.num_ws = w_dim, num_layers + 2
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.num_layers, self.num_critical = num_layers, num_critical
        self.margin_size, self.output_scale, self.num_fp16_res = margin_size, output_scale, num_fp16_res
        sched = layer_schedule(img_resolution, img_channels, channel_base, channel_max, num_layers, num_critical,
                               first_cutoff, first_stopband, last_stopband_rel, margin_size)
        self.schedule = sched
        cut, rate, half = sched["cutoffs"], sched["sampling_rates"], sched["half_widths"]
        size, chan = sched["sizes"], sched["channels"]
        self.input = SynthesisInput(w_dim=w_dim, channels=int(chan[0]), size=int(size[0]),
                                    sampling_rate=rate[0], bandwidth=cut[0])
        self.layer_names: list[str] = []
        for i in range(num_layers + 1):
            p = max(i - 1, 0)
            layer = SynthesisLayer(
                w_dim=w_dim, is_torgb=i == num_layers, is_critically_sampled=i >= num_layers - num_critical,
                use_fp16=bool(rate[i] * 2 ** num_fp16_res > img_resolution),
                in_channels=int(chan[p]), out_channels=int(chan[i]), in_size=int(size[p]), out_size=int(size[i]),
                in_sampling_rate=int(rate[p]), out_sampling_rate=int(rate[i]), in_cutoff=cut[p], out_cutoff=cut[i],
                in_half_width=half[p], out_half_width=half[i], **layer_kwargs)
            name = f"L{i}_{layer.out_size[0]}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", force_fp32: bool = False,
                update_emas: bool = False, **ignored: Any) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        wl = ws.to(torch.float32).unbind(dim=1)
        x = self.input(wl[0])
        for name, w in zip(self.layer_names, wl[1:]):
            x = getattr(self, name)(x, w, force_fp32=force_fp32, update_emas=update_emas)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, "
                f"img_channels={self.img_channels}, num_layers={self.num_layers}, num_critical={self.num_critical}, "
                f"margin_size={self.margin_size}, num_fp16_res={self.num_fp16_res}")


class Generator(nn.Module):
    """StyleGAN3 generator ``G(z, c) -> img`` [N, img_channels, img_resolution, img_resolution].

    ``mapping_kwargs`` go to ``MappingNetwork``, everything else to ``SynthesisNetwork`` /
    ``SynthesisLayer`` (official names and defaults). ``c``: None, int labels [N] or float [N, c_dim]."""

    has_noise = False

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
        """Per ws index, the sampling rate (image-size equivalent, margins excluded) of the layer reading
        it: the Fourier input's for ws[0], then each layer's output rate (img_resolution for the last)."""
        rates = self.synthesis.schedule["sampling_rates"]
        return [int(rates[0])] + [int(r) for r in rates]

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False, noise_mode: str = "const",
                force_fp32: bool = False, **ignored: Any) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32, update_emas=update_emas)
