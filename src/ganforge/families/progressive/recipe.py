"""Progressive growing and the first style-based generator: recipes ``progan`` (Karras et al. 2018)
and ``stylegan`` (Karras et al. 2019), trained as the official TensorFlow code trains them.

Both grow their networks on the schedule of ``ganforge.families.progressive.growth`` (``model.progressive``,
``model.lod_*``). Before every step ``begin_step`` computes (lod, alpha) from the images seen and
stores them in G's and D's ``lod``/``alpha`` buffers (so the EMA copy and exports carry them); the
losses pass them to the networks explicitly. Reals are brought to the stage as the official
``process_reals`` does: averaged down to the newest level's resolution, blended with their 2x
coarser version by ``1 - alpha`` during a fade, and enlarged back (nearest) to full resolution, the
size G's output always has. With ``model.reset_optimizer`` the Adam moments (and step counts) of G
and D are cleared whenever the schedule enters a new stage: at the start and at the end of every
fade (official ``reset_opt_for_new_lod``). The stage last seen is recipe state saved in
checkpoints, so a resumed run resets exactly when an uninterrupted one would.

Phases per step, in the official order: ``D`` (``loss.n_critic`` times, fresh reals each) then
``G``. Objectives: ``wasserstein`` (D: E[D(fake)] - E[D(real)], G: -E[D(fake)]) with the WGAN-GP
penalty (lambda 10, target norm 1) and the drift term epsilon * E[D(real)^2] (ProGAN), or
``nonsat`` (logistic, non-saturating G loss) with R1 on reals (StyleGAN, gamma 10). StyleGAN
generates with style mixing (probability 0.9: the styles from a random layer in [1, layers in use)
on come from a second latent) and updates the mapping network's W average whenever G generates for
training, in the D and in the G phase, as the official G does while training.

Not reproduced from the official schedules: per-resolution minibatch sizes and learning rates
(the batch and the learning rates stay ``train.batch_size`` / ``optim.*`` throughout) and the fused
upsampling convolutions used at 128 px and above (nearest upsampling + 3x3 convolution is the same
function).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ganforge.config import Experiment
from ganforge.errors import GanforgeError
from ganforge.families.progressive.config import (
    _PROGRESSIVE_RULES,
    _STYLE_RULES,
    ProGANLoss,
    ProGANModel,
    StyleGANLoss,
    StyleGANModel,
)
from ganforge.families.progressive.growth import GrowthSchedule
from ganforge.losses import ADVERSARIAL_LOSSES, gradient_penalty, r1_penalty
from ganforge.nn.equalized import downsample, upsample
from ganforge.training.optim import make_optimizer
from ganforge.training.recipe import Batch, Phase, Recipe, StepContext


def _classes(m: Any, num_classes: int) -> int:
    return num_classes if m.conditional else 0


def build_progan_generator(m: ProGANModel, resolution: int, channels: int, num_classes: int) -> nn.Module:
    from ganforge.families.progressive.progan import ProGANGenerator

    G = ProGANGenerator(m.z_dim, resolution, channels, _classes(m, num_classes), m.fmap_base, m.fmap_max)
    G.arch = "progan"
    return G


def build_progan_discriminator(m: ProGANModel, resolution: int, channels: int, num_classes: int) -> nn.Module:
    from ganforge.families.progressive.progan import ProGANDiscriminator

    D = ProGANDiscriminator(resolution, channels, _classes(m, num_classes), m.fmap_base, m.fmap_max, m.mbstd_group,
                            m.mbstd_channels)
    D.arch = "progan"
    return D


def build_stylegan_generator(m: StyleGANModel, resolution: int, channels: int, num_classes: int) -> nn.Module:
    from ganforge.families.progressive.stylegan import StyleGANGenerator

    G = StyleGANGenerator(m.z_dim, m.w_dim, resolution, channels, _classes(m, num_classes), m.map_layers,
                          m.map_lr_mult, m.fmap_base, m.fmap_max, m.w_avg_beta, m.truncation_cutoff)
    G.arch = "stylegan"
    return G


def build_stylegan_discriminator(m: StyleGANModel, resolution: int, channels: int, num_classes: int) -> nn.Module:
    from ganforge.families.progressive.stylegan import StyleGANDiscriminator

    D = StyleGANDiscriminator(resolution, channels, _classes(m, num_classes), m.fmap_base, m.fmap_max, m.mbstd_group,
                              m.mbstd_channels)
    D.arch = "stylegan"
    return D


def schedule_for(m: Any, resolution: int) -> GrowthSchedule:
    """The growth schedule of a model section at the dataset's resolution (a fixed one, starting at
    full resolution, when ``model.progressive`` is false)."""
    initial = m.lod_initial_resolution if m.progressive else resolution
    return GrowthSchedule(resolution, initial, m.lod_training_kimg, m.lod_transition_kimg)


def stage_reals(img: torch.Tensor, lod: int, alpha: float) -> torch.Tensor:
    """Reals as D sees them at (lod, alpha): averaged down by 2**lod, blended with their 2x coarser
    version by 1 - alpha, enlarged back to the input size (nearest). The identity at (0, 1)."""
    if lod == 0 and alpha >= 1:
        return img
    x = downsample(img, 2 ** lod)
    if alpha < 1:
        x = torch.lerp(upsample(downsample(x, 2)), x, alpha)
    return upsample(x, 2 ** lod)


def _check_common(cfg: Experiment, recipe: str) -> None:
    """Rules between fields (each field alone is checked by ``config_rules``)."""
    m = cfg.model
    r0 = m.lod_initial_resolution
    if r0 < 4 or r0 & (r0 - 1):
        raise GanforgeError(f"model.lod_initial_resolution must be a power of two >= 4, got {r0!r}")
    if m.progressive:
        res = cfg.data.resolution
        if res is not None and r0 > res:
            raise GanforgeError(f"model.lod_initial_resolution={r0} exceeds data.resolution={res}")
        t, f = m.lod_training_kimg, m.lod_transition_kimg
        if not (math.isfinite(t) and math.isfinite(f) and t >= 0 and f >= 0 and round(t * 1000) + round(f * 1000) > 0):
            raise GanforgeError(f"model.lod_training_kimg and model.lod_transition_kimg must be >= 0 and not both 0, "
                                f"got {t!r} and {f!r}")
        if cfg.train.compile:
            raise GanforgeError(f"train.compile does not work with recipe {recipe} while model.progressive=true "
                                f"(every new fade-in weight would recompile the networks); set train.compile= "
                                f"or model.progressive=false")


class _ProgressiveRecipe(Recipe):
    """Shared by ``progan`` and ``stylegan``: growth schedule, staged reals, losses, phases."""

    name = ""

    @classmethod
    def critic_steps(cls, cfg: Experiment) -> int:
        return cfg.loss.n_critic

    @classmethod
    def describe_model(cls, model_cfg: Any, meta: dict[str, Any]) -> tuple[str, int]:
        return str(meta.get("arch") or meta.get("recipe")), model_cfg.z_dim

    def export_arch(self, net: nn.Module) -> str:
        return net.arch  # set by this family's builders

    @classmethod
    def _builders(cls):
        raise NotImplementedError

    @classmethod
    def build_generator(cls, model_cfg, resolution, channels, num_classes):
        return cls._builders()[0](model_cfg, resolution, channels, num_classes)

    @classmethod
    def _loss_summary(cls, cfg: Experiment) -> list[str]:
        lc = cfg.loss
        parts = [lc.kind]
        for label, value in (("gp", lc.gp_weight), ("drift", lc.drift), ("R1", lc.r1_gamma)):
            if value is not None:
                parts.append(f"{label} {value:g}")
        return parts

    @classmethod
    def _arch_summary(cls, cfg: Experiment) -> str:
        m = cfg.model
        if not m.progressive:
            return f"{cls.name}, fixed size"
        return f"{cls.name}, grows from {m.lod_initial_resolution} px ({m.lod_training_kimg:g}+{m.lod_transition_kimg:g} kimg)"

    def __init__(self, cfg, dataset_info, run):
        super().__init__(cfg, dataset_info, run)
        device = self.device
        m, oc = cfg.model, cfg.optim
        self.check_labels(m.conditional)
        r = self.require_power_of_two_resolution()
        if m.progressive and m.lod_initial_resolution > r:
            raise GanforgeError(f"model.lod_initial_resolution={m.lod_initial_resolution} exceeds the dataset's "
                                f"resolution {r}")
        self.schedule = schedule_for(m, r)
        build_g, build_d = self._builders()
        sizes = dict(resolution=r, channels=dataset_info.channels, num_classes=dataset_info.num_classes)
        G = build_g(m, **sizes).to(device)
        D = build_d(m, **sizes).to(device)
        self.adopt(G, D, {"G": make_optimizer(oc.name, G.parameters(), oc.g_lr, oc.beta1, oc.beta2, device),
                          "D": make_optimizer(oc.name, D.parameters(), oc.d_lr, oc.beta1, oc.beta2, device)})
        # The stage whose optimizer state is current; set the networks to the first step's stage now,
        # so the EMA copy the trainer makes next starts from it.
        self.stage = self.schedule.stage(0)
        self.lod, self.alpha = self.schedule.lod_alpha(0)
        self._set_stage()

    # -- schedule --

    def _set_stage(self) -> None:
        for net in (self.G, self.D):
            net.set_stage(self.lod, self.alpha)

    def begin_step(self, ctx: StepContext) -> None:
        super().begin_step(ctx)
        self.lod, self.alpha = self.schedule.lod_alpha(ctx.cur_nimg)
        self._set_stage()
        stage = self.schedule.stage(ctx.cur_nimg)
        if stage != self.stage:
            if self.cfg.model.reset_optimizer:
                self.reset_optimizers()
            self.stage = stage

    def reset_optimizers(self) -> None:
        """Forget every optimizer's per-parameter state (Adam: moments and step counts), as a fresh
        optimizer would start."""
        for opt in self.optimizers.values():
            opt.state.clear()

    def state_dict(self) -> dict[str, Any]:
        return {"stage": int(self.stage)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "stage" in state:
            self.stage = int(state["stage"])

    # -- sampling --

    def _generate(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return self.fwd["G"](z, c, lod=self.lod, alpha=self.alpha)

    def _D(self, img: torch.Tensor, c: torch.Tensor | None, eager: bool = False) -> torch.Tensor:
        D = self.D if eager else self.fwd["D"]
        return D(self.aug(img), c, lod=self.lod, alpha=self.alpha)

    # -- phases --

    def d_loss(self, batch: Batch | None):
        assert batch is not None
        lc = self.cfg.loss
        c = batch.c if self.num_classes else None
        real = stage_reals(batch.real_img, self.lod, self.alpha)
        with torch.no_grad():
            gen = self._generate(self.sample_z(real.shape[0]), c)
        real_logits = self._D(real, c)
        gen_logits = self._D(gen, c)
        terms = {"D/adv": ADVERSARIAL_LOSSES.get(lc.kind).d_loss(real_logits, gen_logits)}
        D_eager = lambda x: self._D(x, c, eager=True)  # noqa: E731  (penalties differentiate twice)
        if lc.gp_weight is not None:
            terms["D/gp"] = gradient_penalty(D_eager, real, gen, lc.gp_weight,
                                             eps=self.sample_uniform(real.shape[0], real.dtype))
        if lc.drift is not None:
            terms["D/drift"] = lc.drift * real_logits.square().mean()
        if lc.r1_gamma is not None:
            terms["D/r1"] = r1_penalty(D_eager, real, lc.r1_gamma)
        total = sum(terms.values())
        terms.update(self.logit_stats(real_logits, gen_logits))
        return total, terms

    def g_loss(self, batch: Batch | None):
        n = self.local_batch_size
        c = self.sample_c(n)
        logits = self._D(self._generate(self.sample_z(n), c), c)
        loss = ADVERSARIAL_LOSSES.get(self.cfg.loss.kind).g_loss(logits)
        return loss, {"G/adv": loss}

    def phases(self) -> list[Phase]:
        return [
            Phase("D", self.D, self.optimizers["D"], self.d_loss, repeats=self.cfg.loss.n_critic, needs_reals=True),
            Phase("G", self.G, self.optimizers["G"], self.g_loss, needs_reals=False),
        ]


class ProGANRecipe(_ProgressiveRecipe):
    """ProGAN: progressive growing, equalized LR, pixel norm, minibatch stddev, WGAN-GP + drift."""

    name = "progan"
    config_sections = {"model": ProGANModel, "loss": ProGANLoss}
    config_rules = _PROGRESSIVE_RULES

    @classmethod
    def _builders(cls):
        return build_progan_generator, build_progan_discriminator

    @classmethod
    def validate_config(cls, cfg: Experiment) -> None:
        _check_common(cfg, "progan")

    @classmethod
    def summary(cls, cfg: Experiment) -> tuple[str, str]:
        return cls._arch_summary(cfg), " + ".join(cls._loss_summary(cfg))


class StyleGANRecipe(_ProgressiveRecipe):
    """StyleGAN: mapping network, AdaIN styles, noise, style mixing, progressive growing, R1."""

    name = "stylegan"
    config_sections = {"model": StyleGANModel, "loss": StyleGANLoss}
    config_rules = _STYLE_RULES

    @classmethod
    def _builders(cls):
        return build_stylegan_generator, build_stylegan_discriminator

    @classmethod
    def validate_config(cls, cfg: Experiment) -> None:
        _check_common(cfg, "stylegan")

    @classmethod
    def summary(cls, cfg: Experiment) -> tuple[str, str]:
        parts = cls._loss_summary(cfg)
        if cfg.loss.style_mixing_prob:
            parts.append(f"mix {cfg.loss.style_mixing_prob:g}")
        return cls._arch_summary(cfg), " + ".join(parts)

    def _generate(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        """Fakes for training: W average updated, styles mixed with probability style_mixing_prob at
        a cutoff drawn in [1, layers in use), as the official G does while training. Drawn on the
        device, without a host sync."""
        G = self.G
        ws = G.mapping(z, c, update_w_avg=True)
        p = self.cfg.loss.style_mixing_prob
        cur_layers = 2 * (G.num_levels - self.lod)
        if p and cur_layers > 1:
            cutoff = torch.randint(1, cur_layers, (), device=self.device, generator=self.rng)
            keep = torch.rand((), device=self.device, generator=self.rng) >= p
            cutoff = torch.where(keep, torch.full_like(cutoff, cur_layers), cutoff)
            ws2 = G.mapping(self.sample_z(z.shape[0]), c)
            mix = (torch.arange(ws.shape[1], device=self.device) >= cutoff)[None, :, None]
            ws = torch.where(mix, ws2, ws)
        return G.synthesis(ws, lod=self.lod, alpha=self.alpha)
