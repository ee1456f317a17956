"""StyleGAN3 training (Karras et al. 2021, "Alias-Free Generative Adversarial Networks"), as the official
code trains ``--cfg=stylegan3-t`` and ``--cfg=stylegan3-r``.

The loop is StyleGAN2's (``ganforge.families.stylegan2.recipe``: the non-saturating loss, lazy R1 on
StyleGAN2's discriminator, Adam (0, 0.99)) with the official StyleGAN3 settings: no path-length
regularization and no style mixing (unless ``loss.style_mixing_prob`` is set), the magnitude EMA of the
synthesis layers updated whenever fakes are generated for D with decay 0.5 ** (batch / 20000), and for
config R a Gaussian blur of every image D sees (reals, fakes and the R1 reals), sigma 10 at the start,
fading linearly to 0 over batch * 200 / 32 kimg. The blur is applied before D's augmentation, as
officially, and the R1 gradient is taken w.r.t. the unblurred reals. Its sigma is a pure function of the
images shown so far (``StepContext.cur_nimg``), so a run resumed mid-fade continues exactly.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.config import Experiment
from ganforge.errors import GanforgeError
from ganforge.families.stylegan2.recipe import (
    StyleGAN2Recipe,
    build_discriminator,
    lazy_adam,
    require_adam,
)
from ganforge.families.stylegan3.config import RULES, StyleGAN3Loss, StyleGAN3Model
from ganforge.training.recipe import Phase, Recipe, StepContext


def magnitude_ema_beta(m: StyleGAN3Model, batch_size: int) -> float:
    """The decay of the synthesis layers' input magnitude EMA: ``model.magnitude_ema_beta`` or the official
    0.5 ** (batch / 20000) for a global batch of ``batch_size``."""
    return m.magnitude_ema_beta if m.magnitude_ema_beta is not None else 0.5 ** (batch_size / 20_000)


# Refuse a generator whose convolutions alone would hold more weights than this (4 GiB in float32) before
# allocating it: the official 1024 px configs have about 25 M.
G_WEIGHTS_MAX = 1_000_000_000
_DESIGN_KEYS = ("model.first_cutoff", "model.first_stopband", "model.last_stopband_rel", "model.num_layers",
                "model.num_critical")


def check_design(m: StyleGAN3Model, resolution: int) -> None:
    """Refuse (GanforgeError, naming the keys) a schedule of cutoffs and stopbands the filters cannot be
    designed for at ``resolution``: every layer needs 0 < cutoff < stopband, a cutoff of at most half its
    sampling rate and a sampling rate of at least 1 (the official defaults give 2 -> res / 2 cutoffs)."""
    import numpy as np

    from ganforge.families.stylegan3.networks import layer_schedule

    k = 2 if m.cfg == "r" else 1
    with np.errstate(all="ignore"):
        sch = layer_schedule(resolution, 1, channel_base=m.cbase * k, channel_max=m.cmax * k,
                             num_layers=m.num_layers, num_critical=m.num_critical,
                             first_cutoff=m.first_cutoff, first_stopband=m.first_stopband,
                             last_stopband_rel=m.last_stopband_rel, margin_size=m.margin_size)
        c, t, sr = sch["cutoffs"], sch["stopbands"], sch["sampling_rates"]
        ok = (np.isfinite(c) & np.isfinite(t) & np.isfinite(sr) & (c > 0) & (t > c) & (sr >= 1) & (c <= sr / 2))
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise GanforgeError(
            f"the StyleGAN3 layer schedule at {resolution} px has no valid filters: layer {i} would have cutoff "
            f"{c[i]:.4g}, stopband {t[i]:.4g} and sampling rate {sr[i]:.4g} (every layer needs 0 < cutoff < "
            f"stopband and cutoff <= sampling rate / 2); check {', '.join(_DESIGN_KEYS)} (the official values: "
            f"2, 2 ** 2.1, 2 ** 0.3, 14, 2; first_cutoff={m.first_cutoff:g}, first_stopband={m.first_stopband:g})")
    ch, taps = sch["channels"], (1 if m.cfg == "r" else 3) ** 2
    if (ch[:-1] < 1).any():
        i = int(np.flatnonzero(ch[:-1] < 1)[0])
        raise GanforgeError(f"model.cbase={m.cbase} leaves StyleGAN3 layer {i} at {resolution} px with no feature maps "
                            f"(channels = min(cbase / 2 / cutoff, cmax) with cutoff {c[i]:.4g} rounds to 0); "
                            f"raise model.cbase (the official 32768)")
    weights = float(np.sum(ch[:-1] * ch[1:]) * taps + ch[0] * ch[0])  # the convolutions and the input's 1x1
    if weights > G_WEIGHTS_MAX:
        raise GanforgeError(f"the StyleGAN3 generator of model.cbase={m.cbase}, model.cmax={m.cmax}, model.num_layers="
                            f"{m.num_layers} at {resolution} px would have about {weights:,.0f} convolution weights, "
                            f"over the {G_WEIGHTS_MAX:,} this build accepts (the official 1024 px config has ~25 M)")


def build_generator(m: StyleGAN3Model, resolution: int, channels: int, num_classes: int,
                    batch_size: int = 32):
    """The alias-free generator of ``m`` (config T or R); ``batch_size`` only sets the magnitude EMA decay
    when ``m.magnitude_ema_beta`` is None (it does not change the network's structure or outputs).
    A schedule the filters cannot be designed for is refused first (``check_design``)."""
    from ganforge.families.stylegan3.networks import Generator

    check_design(m, resolution)
    try:
        G = _generator(Generator, m, resolution, channels, num_classes, batch_size)
    except (ArithmeticError, ValueError, AssertionError) as e:  # a filter design scipy or the layers refuse
        raise GanforgeError(f"the StyleGAN3 generator of this model section cannot be built at {resolution} px: "
                            f"{str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__}; "
                            f"check {', '.join(_DESIGN_KEYS)}, model.filter_size and model.lrelu_upsampling") from None
    G.arch = f"stylegan3-{m.cfg}"
    return G


def _generator(Generator, m: StyleGAN3Model, resolution: int, channels: int, num_classes: int, batch_size: int):
    r = m.cfg == "r"
    k = 2 if r else 1  # the official --cfg=stylegan3-r doubles G's channel_base and channel_max
    return Generator(z_dim=m.z_dim, c_dim=num_classes if m.conditional else 0, w_dim=m.w_dim,
                    img_resolution=resolution, img_channels=channels,
                    mapping_kwargs={"num_layers": m.map_layers},
                    channel_base=m.cbase * k, channel_max=m.cmax * k, num_layers=m.num_layers,
                    num_critical=m.num_critical, first_cutoff=m.first_cutoff, first_stopband=m.first_stopband,
                    last_stopband_rel=m.last_stopband_rel, margin_size=m.margin_size, output_scale=m.output_scale,
                    num_fp16_res=m.num_fp16_res, conv_kernel=1 if r else 3, filter_size=m.filter_size,
                    lrelu_upsampling=m.lrelu_upsampling, use_radial_filters=r, conv_clamp=m.conv_clamp,
                    magnitude_ema_beta=magnitude_ema_beta(m, batch_size))


def blur_schedule(lc: StyleGAN3Loss, cfg_name: str, batch_size: int) -> tuple[float, float]:
    """(initial sigma, fade kimg) of D's input blur: the loss section's values or the official ones."""
    sigma = lc.blur_sigma if lc.blur_sigma is not None else (10.0 if cfg_name == "r" else 0.0)
    fade = lc.blur_fade_kimg if lc.blur_fade_kimg is not None else batch_size * 200 / 32
    return float(sigma), float(fade)


def blur_sigma_at(cur_nimg: int, init_sigma: float, fade_kimg: float) -> float:
    """Sigma of the blur after ``cur_nimg`` images: ``init_sigma`` fading linearly to 0 over ``fade_kimg``
    (no blur when ``fade_kimg`` is 0), as the official StyleGAN2Loss computes it."""
    if fade_kimg <= 0:
        return 0.0
    return max(1.0 - cur_nimg / (fade_kimg * 1e3), 0.0) * init_sigma


def blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of ``img`` [N, C, H, W] with standard deviation ``sigma`` pixels, taps out to 3 sigma
    (floored), zero boundary, size kept; ``img`` unchanged while 3 sigma < 1 (the official rule). The
    filter is separable and applied as two 1-D convolutions (sigma 10 has 61 taps)."""
    size = math.floor(sigma * 3)
    if size <= 0:
        return img
    f = torch.arange(-size, size + 1, device=img.device, dtype=torch.float32).div(sigma).square().neg().exp2()
    f = (f / f.sum()).to(img.dtype)
    c = img.shape[1]
    x = F.pad(img, (size, size, size, size))
    x = F.conv2d(x, f.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)  # symmetric taps: no flip needed
    return F.conv2d(x, f.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


class StyleGAN3Recipe(StyleGAN2Recipe):
    """StyleGAN3 (config T or R): alias-free G on StyleGAN2's D, lazy R1, blurred D inputs for R."""

    config_sections = {"model": StyleGAN3Model, "loss": StyleGAN3Loss}

    config_rules = RULES

    @classmethod
    def validate_config(cls, cfg: Experiment) -> None:
        require_adam(cfg)
        m = cfg.model
        if m.num_critical >= m.num_layers:
            raise GanforgeError(f"model.num_critical={m.num_critical} must be smaller than model.num_layers="
                                f"{m.num_layers} (the critically sampled layers are the last ones)")

    @classmethod
    def describe_model(cls, model_cfg: Any, meta: dict[str, Any]) -> tuple[str, int]:
        return f"stylegan3-{model_cfg.cfg}", model_cfg.z_dim

    @classmethod
    def summary(cls, cfg: Experiment) -> tuple[str, str]:
        m, lc = cfg.model, cfg.loss
        parts = ["nonsat"]
        if lc.r1_gamma > 0:
            parts.append(f"R1 {lc.r1_gamma:g}/{lc.r1_interval}")
        sigma, fade = blur_schedule(lc, m.cfg, cfg.train.batch_size)
        if sigma > 0 and fade > 0:
            parts.append(f"blur {sigma:g}->0 over {fade:g} kimg")
        if lc.style_mixing_prob:
            parts.append(f"mix {lc.style_mixing_prob:g}")
        return f"sg3-{m.cfg} {m.d_arch} D", " + ".join(parts)

    @classmethod
    def build_generator(cls, model_cfg, resolution, channels, num_classes):
        return build_generator(model_cfg, resolution, channels, num_classes)

    def __init__(self, cfg, dataset_info, run):
        Recipe.__init__(self, cfg, dataset_info, run)
        device = self.device
        m, lc, oc = cfg.model, cfg.loss, cfg.optim
        self.check_labels(m.conditional)
        r = self.require_power_of_two_resolution()
        sizes = dict(resolution=r, channels=dataset_info.channels, num_classes=dataset_info.num_classes)
        G = build_generator(m, **sizes, batch_size=cfg.train.batch_size).to(device)
        D = build_discriminator(m, **sizes).to(device)  # StyleGAN2's D, official --cbase / --cmax as they are
        d_interval = lc.r1_interval if lc.r1_gamma > 0 else 0
        self.adopt(G, D, {"G": lazy_adam(G.parameters(), oc.g_lr, oc.beta1, oc.beta2, 0, device),
                          "D": lazy_adam(D.parameters(), oc.d_lr, oc.beta1, oc.beta2, d_interval, device)})
        self.blur_init_sigma, self.blur_fade_kimg = blur_schedule(lc, m.cfg, cfg.train.batch_size)
        self.blur_sigma = blur_sigma_at(0, self.blur_init_sigma, self.blur_fade_kimg)

    def begin_step(self, ctx: StepContext) -> None:
        super().begin_step(ctx)
        self.blur_sigma = blur_sigma_at(ctx.cur_nimg, self.blur_init_sigma, self.blur_fade_kimg)

    def d_view(self, img: torch.Tensor) -> torch.Tensor:
        return self.aug(blur(img, self.blur_sigma))

    def phases(self) -> list[Phase]:
        lc = self.cfg.loss
        out = [Phase("G", self.G, self.optimizers["G"], self.g_main, needs_reals=False),
               Phase("D", self.D, self.optimizers["D"], self.d_main, needs_reals=True)]
        if lc.r1_gamma > 0:
            out.append(Phase("D_r1", self.D, self.optimizers["D"], self.d_r1, interval=lc.r1_interval,
                             needs_reals=True))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {}  # the blur is a function of cur_nimg; the magnitude EMAs are buffers of G

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
