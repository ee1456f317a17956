"""The classic GAN family: DCGAN, WGAN (weight clipping), WGAN-GP, LSGAN, hinge/SNGAN, R1/R2.

One recipe covers them all because they differ only in networks, the adversarial loss, penalties and
optimizer settings, all chosen by config: phase D (repeated ``n_critic`` times, each on fresh reals)
then phase G. Papers: Goodfellow et al. 2014; Radford et al. 2015 (DCGAN); Arjovsky et al. 2017
(WGAN); Gulrajani et al. 2017 (WGAN-GP); Mao et al. 2017 (LSGAN); Miyato et al. 2018 (SNGAN);
Mescheder et al. 2018 (R1/R2).

Conditional models get the real batch's labels for D's fake pass (so both passes see the same class
mix) and uniformly drawn labels in the G phase.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganforge.config import Experiment
from ganforge.errors import GanforgeError
from ganforge.families.classic.config import RULES, LossConfig, ModelConfig
from ganforge.families.classic.nets import build_discriminator, build_generator
from ganforge.losses import ADVERSARIAL_LOSSES, gradient_penalty, r1_penalty, r2_penalty
from ganforge.training.optim import make_optimizer
from ganforge.training.recipe import Batch, Phase, Recipe


class GANRecipe(Recipe):
    """The classic family: DCGAN, WGAN, WGAN-GP, LSGAN, hinge/SNGAN, R1/R2; phases D (n_critic) and G."""

    config_sections = {"model": ModelConfig, "loss": LossConfig}
    graphable = True

    config_rules = RULES

    @classmethod
    def validate_config(cls, cfg: Experiment) -> None:
        m = cfg.model
        with_attention = ("resnet", "biggan", "biggan-deep")
        if m.attention_res is not None and (m.g_arch not in with_attention or m.d_arch not in with_attention):
            raise GanforgeError(f"model.attention_res={m.attention_res} needs the ResNet or BigGAN networks (SAGAN); "
                                f"got model.g_arch={m.g_arch}, model.d_arch={m.d_arch}: valid are "
                                f"{', '.join(with_attention)}")
        if m.g_spectral_norm and m.g_arch not in with_attention:
            raise GanforgeError(f"model.g_spectral_norm=true is implemented for model.g_arch "
                                f"{', '.join(with_attention)}, got {m.g_arch}")
        if cfg.train.compile and (cfg.model.spectral_norm or cfg.model.g_spectral_norm):
            raise GanforgeError("train.compile does not work with model.spectral_norm=true (the spectral-norm "
                                "parametrization updates its power-iteration vectors in place); set train.compile=")

    @classmethod
    def critic_steps(cls, cfg: Experiment) -> int:
        return cfg.loss.n_critic

    @classmethod
    def describe_model(cls, model_cfg: Any, meta: dict[str, Any]) -> tuple[str, int]:
        return model_cfg.g_arch, model_cfg.z_dim

    def export_arch(self, net: nn.Module) -> str:
        return net.arch  # set by this family's builders

    @classmethod
    def summary(cls, cfg: Experiment) -> tuple[str, str]:
        parts = [cfg.loss.kind]
        for label, value in (("gp", cfg.loss.gp_weight), ("R1", cfg.loss.r1_gamma), ("R2", cfg.loss.r2_gamma),
                             ("clip", cfg.loss.clip_value), ("ortho", cfg.loss.ortho_weight)):
            if value is not None:
                parts.append(f"{label} {value:g}")
        if cfg.model.spectral_norm:
            parts.append("SN" if not cfg.model.g_spectral_norm else "SN in G and D")
        if cfg.model.attention_res is not None:
            parts.append(f"attention@{cfg.model.attention_res}")
        return f"{cfg.model.g_arch}/{cfg.model.d_arch}", " + ".join(parts)

    @classmethod
    def build_generator(cls, model_cfg, resolution, channels, num_classes):
        return build_generator(model_cfg, resolution, channels, num_classes)

    def __init__(self, cfg, dataset_info, run):
        super().__init__(cfg, dataset_info, run)
        device = self.device
        m, lc, oc = cfg.model, cfg.loss, cfg.optim
        self.check_labels(m.conditional)
        if lc.n_critic < 1:
            raise GanforgeError(f"loss.n_critic must be >= 1, got {lc.n_critic}")
        self.adv = ADVERSARIAL_LOSSES.get(lc.kind)
        sizes = dict(resolution=dataset_info.resolution, channels=dataset_info.channels,
                     num_classes=dataset_info.num_classes)
        G = build_generator(m, **sizes).to(device)
        D = build_discriminator(m, **sizes).to(device)
        self.adopt(G, D, {"G": make_optimizer(oc.name, G.parameters(), oc.g_lr, oc.beta1, oc.beta2, device),
                          "D": make_optimizer(oc.name, D.parameters(), oc.d_lr, oc.beta1, oc.beta2, device)})

    def d_loss(self, batch: Batch | None):
        assert batch is not None
        lc = self.cfg.loss
        G, D = self.fwd["G"], self.fwd["D"]
        D_eager = self.D  # penalties differentiate twice, which compiled graphs do not support
        n = batch.real_img.shape[0]
        c = batch.c if self.num_classes else None
        with torch.no_grad():
            gen_img = G(self.sample_z(n), c)
        real_logits = D(self.aug(batch.real_img), c)
        gen_logits = D(self.aug(gen_img), c)
        terms = {"D/adv": self.adv.d_loss(real_logits, gen_logits)}
        D_seen = lambda x: D_eager(self.aug(x), c)  # noqa: E731
        if lc.gp_weight is not None:
            terms["D/gp"] = gradient_penalty(D_seen, batch.real_img, gen_img, lc.gp_weight,
                                             eps=self.sample_uniform(n, batch.real_img.dtype))
        if lc.r1_gamma is not None:
            terms["D/r1"] = r1_penalty(D_seen, batch.real_img, lc.r1_gamma)
        if lc.r2_gamma is not None:
            terms["D/r2"] = r2_penalty(D_seen, gen_img, lc.r2_gamma)
        total = sum(terms.values())
        terms.update(self.logit_stats(real_logits, gen_logits))
        return total, terms

    def g_loss(self, batch: Batch | None):
        n = self.local_batch_size
        c = self.sample_c(n)
        gen_logits = self.fwd["D"](self.aug(self.fwd["G"](self.sample_z(n), c)), c)
        loss = self.adv.g_loss(gen_logits)
        terms = {"G/adv": loss}
        if self.cfg.loss.ortho_weight is not None:  # BigGAN's orthogonal regularisation of G
            from ganforge.families.classic.biggan import orthogonal_penalty

            terms["G/ortho"] = self.cfg.loss.ortho_weight * orthogonal_penalty(self.G)
        return sum(terms.values()), terms

    @torch.no_grad()
    def _clip(self) -> None:
        v = self.cfg.loss.clip_value
        for p in self.D.parameters():
            p.clamp_(-v, v)

    def phases(self) -> list[Phase]:
        lc = self.cfg.loss
        return [
            Phase("D", self.D, self.optimizers["D"], self.d_loss, repeats=lc.n_critic, needs_reals=True,
                  after_step=self._clip if lc.clip_value is not None else None),
            Phase("G", self.G, self.optimizers["G"], self.g_loss, needs_reals=False),
        ]
