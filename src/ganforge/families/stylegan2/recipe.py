"""StyleGAN2 training (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"),
as the official StyleGAN2-ADA / StyleGAN3 code trains ``--cfg=stylegan2``.

Phases per step, in the official order: ``G`` (non-saturating loss, style mixing), ``G_pl``
(path-length regularization every ``loss.pl_interval`` steps on ``batch / pl_batch_shrink`` samples,
its running mean kept as recipe state), ``D`` (non-saturating loss on reals and fakes) and ``D_r1``
(R1 on reals every ``loss.r1_interval`` steps). Lazy regularization scales each regularizer by its
interval and corrects Adam for it: lr * k / (k + 1), betas ** (k / (k + 1)) with k the interval.
Generating fakes for D updates the mapping network's W average (``update_emas``), as officially.

Deliberate differences from the official loop: each D phase draws its own real batch (the official
loop reuses one batch for D and D_r1 within a step), and conditional fakes get uniformly drawn
labels (officially they follow the training set's label frequencies).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ganforge.config import Experiment
from ganforge.errors import GanforgeError
from ganforge.families.stylegan2.config import RULES, StyleGAN2Loss, StyleGAN2Model
from ganforge.losses import ADVERSARIAL_LOSSES
from ganforge.training.recipe import Batch, Phase, Recipe

# StyleGAN2's objective: the non-saturating logistic loss (softplus of the logits).
NONSAT = ADVERSARIAL_LOSSES.get("nonsat")


def _num_classes(model: StyleGAN2Model, num_classes: int) -> int:
    return num_classes if model.conditional else 0


def build_generator(m: StyleGAN2Model, resolution: int, channels: int, num_classes: int):
    from ganforge.families.stylegan2.networks import Generator

    G = Generator(z_dim=m.z_dim, c_dim=_num_classes(m, num_classes), w_dim=m.w_dim, img_resolution=resolution,
                  img_channels=channels, mapping_kwargs={"num_layers": m.map_layers, "lr_multiplier": m.map_lr_mult},
                  architecture=m.g_arch, channel_base=m.cbase, channel_max=m.cmax, num_fp16_res=m.num_fp16_res,
                  conv_clamp=m.conv_clamp, fused_modconv_default="inference_only")
    G.arch = f"stylegan2-{m.g_arch}"
    return G


def build_discriminator(m: StyleGAN2Model, resolution: int, channels: int, num_classes: int):
    from ganforge.families.stylegan2.networks import Discriminator

    D = Discriminator(c_dim=_num_classes(m, num_classes), img_resolution=resolution, img_channels=channels,
                      architecture=m.d_arch, channel_base=m.cbase, channel_max=m.cmax, num_fp16_res=m.num_fp16_res,
                      conv_clamp=m.conv_clamp,
                      epilogue_kwargs={"mbstd_group_size": m.mbstd_group, "mbstd_num_channels": m.mbstd_channels})
    D.arch = f"stylegan2-{m.d_arch}"
    return D


def lazy_adam(params, lr: float, beta1: float, beta2: float, interval: int, device: torch.device):
    """Adam for a network regularized every ``interval`` steps: the regularizer's steps count as
    extra minibatches, so lr and betas are rescaled by k / (k + 1) as in the official code.
    ``interval`` 0 means the network has no lazy regularizer (plain Adam)."""
    ratio = interval / (interval + 1) if interval else 1.0
    return torch.optim.Adam(params, lr=lr * ratio, betas=(beta1 ** ratio, beta2 ** ratio), eps=1e-8,
                            fused=device.type == "cuda")


def require_adam(cfg: Experiment) -> None:
    """The style-based recipes train with (lazily corrected) Adam only."""
    if cfg.optim.name != "adam":
        raise GanforgeError(f"recipe {cfg.recipe} trains with Adam only; got optim.name={cfg.optim.name!r} "
                            f"(valid choices: adam)")


def path_lengths(gen_img: torch.Tensor, ws: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Per-sample path length |J_w^T y| for y = ``noise`` (already scaled by 1/sqrt(H*W)).

    Args:
        gen_img: [N, C, H, W] generated from ``ws`` (in the graph); ws: [N, num_ws, w_dim];
        noise: like gen_img. Returns [N], differentiable (create_graph=True).
    """
    (grads,) = torch.autograd.grad((gen_img * noise).sum(), ws, create_graph=True)
    return grads.square().sum(2).mean(1).sqrt()


class StyleGAN2Recipe(Recipe):
    """StyleGAN2: mapping + modulated synthesis, lazy R1 and path-length regularization, style mixing."""

    config_sections = {"model": StyleGAN2Model, "loss": StyleGAN2Loss}

    config_rules = RULES

    @classmethod
    def validate_config(cls, cfg: Experiment) -> None:
        require_adam(cfg)
        lc = cfg.loss
        if lc.pl_weight is not None and cfg.train.batch_size < lc.pl_batch_shrink:
            raise GanforgeError(f"train.batch_size={cfg.train.batch_size} is smaller than loss.pl_batch_shrink="
                                f"{lc.pl_batch_shrink}: the path-length batch would be empty")

    @classmethod
    def describe_model(cls, model_cfg: Any, meta: dict[str, Any]) -> tuple[str, int]:
        return model_cfg.g_arch, model_cfg.z_dim

    def export_arch(self, net: nn.Module) -> str:
        return net.arch  # set by this family's builders

    @classmethod
    def summary(cls, cfg: Experiment) -> tuple[str, str]:
        m, lc = cfg.model, cfg.loss
        parts = ["nonsat"]
        if lc.r1_gamma > 0:
            parts.append(f"R1 {lc.r1_gamma:g}/{lc.r1_interval}")
        if lc.pl_weight is not None:
            parts.append(f"PL {lc.pl_weight:g}/{lc.pl_interval}")
        if lc.style_mixing_prob:
            parts.append(f"mix {lc.style_mixing_prob:g}")
        return f"sg2 {m.g_arch}/{m.d_arch}", " + ".join(parts)

    @classmethod
    def build_generator(cls, model_cfg, resolution, channels, num_classes):
        return build_generator(model_cfg, resolution, channels, num_classes)

    def __init__(self, cfg, dataset_info, run):
        super().__init__(cfg, dataset_info, run)
        device = self.device
        m, lc, oc = cfg.model, cfg.loss, cfg.optim
        self.check_labels(m.conditional)
        r = self.require_power_of_two_resolution()
        sizes = dict(resolution=r, channels=dataset_info.channels, num_classes=dataset_info.num_classes)
        G = build_generator(m, **sizes).to(device)
        D = build_discriminator(m, **sizes).to(device)
        g_interval = lc.pl_interval if lc.pl_weight is not None else 0
        d_interval = lc.r1_interval if lc.r1_gamma > 0 else 0
        self.adopt(G, D, {"G": lazy_adam(G.parameters(), oc.g_lr, oc.beta1, oc.beta2, g_interval, device),
                          "D": lazy_adam(D.parameters(), oc.d_lr, oc.beta1, oc.beta2, d_interval, device)})
        self.pl_mean = torch.zeros([], device=device)
        self._pl_mean_next: torch.Tensor | None = None

    # -- sampling --

    def _mapping(self, z: torch.Tensor, c: torch.Tensor | None, update_emas: bool) -> torch.Tensor:
        """ws [N, num_ws, w_dim] with style mixing: with probability ``style_mixing_prob`` the layers
        from a random cutoff in [1, num_ws) on take the styles of a second latent (one cutoff per
        batch, as officially). Drawn on the device, without a host sync."""
        ws = self.G.mapping(z, c, update_emas=update_emas)
        p = self.cfg.loss.style_mixing_prob
        if p:
            num_ws = ws.shape[1]
            cutoff = torch.randint(1, num_ws, (), device=self.device, generator=self.rng)
            keep = torch.rand((), device=self.device, generator=self.rng) >= p
            cutoff = torch.where(keep, torch.full_like(cutoff, num_ws), cutoff)
            ws2 = self.G.mapping(self.sample_z(z.shape[0]), c, update_emas=False)
            mix = (torch.arange(num_ws, device=self.device) >= cutoff)[None, :, None]
            ws = torch.where(mix, ws2, ws)
        return ws

    def _generate(self, z, c, update_emas: bool = False):
        ws = self._mapping(z, c, update_emas)
        return self.G.synthesis(ws, update_emas=update_emas), ws

    # -- phases --

    def d_view(self, img: torch.Tensor) -> torch.Tensor:
        """What D sees of ``img`` (real or generated): the augmentation, if any. StyleGAN3 blurs first."""
        return self.aug(img)

    def g_main(self, batch: Batch | None):
        n = self.local_batch_size
        c = self.sample_c(n)
        gen_img, _ = self._generate(self.sample_z(n), c)
        loss = NONSAT.g_loss(self.fwd["D"](self.d_view(gen_img), c))
        return loss, {"G/adv": loss}

    def g_pl(self, batch: Batch | None):
        lc = self.cfg.loss
        n = max(1, self.local_batch_size // lc.pl_batch_shrink)
        c = self.sample_c(n)
        gen_img, ws = self._generate(self.sample_z(n), c)
        noise = torch.randn(gen_img.shape, device=self.device, generator=self.rng) / math.sqrt(
            gen_img.shape[2] * gen_img.shape[3])
        lengths = path_lengths(gen_img, ws, noise).float()  # under bf16 autocast the lengths come as bf16
        with torch.autocast(self.device.type, enabled=False):  # the running mean stays float32
            pl_mean = self.pl_mean.lerp(lengths.mean().detach(), lc.pl_decay)
        self._pl_mean_next = pl_mean  # committed only if this phase's step succeeds
        penalty = (lengths - pl_mean).square().mean() * lc.pl_weight
        # Lazy regularization: the penalty stands for pl_interval steps.
        return penalty * lc.pl_interval, {"G/pl": penalty, "G/pl_mean": pl_mean}

    def _commit_pl_mean(self) -> None:
        if self._pl_mean_next is not None:
            self.pl_mean.copy_(self._pl_mean_next)
            self._pl_mean_next = None

    def d_main(self, batch: Batch | None):
        assert batch is not None
        c = batch.c if self.num_classes else None
        with torch.no_grad():
            gen_img, _ = self._generate(self.sample_z(batch.real_img.shape[0]), c, update_emas=True)
        D = self.fwd["D"]
        gen_logits = D(self.d_view(gen_img), c)
        real_logits = D(self.d_view(batch.real_img), c)
        loss = NONSAT.d_loss(real_logits, gen_logits)
        return loss, {"D/adv": loss, **self.logit_stats(real_logits, gen_logits)}

    def d_r1(self, batch: Batch | None):
        assert batch is not None
        lc = self.cfg.loss
        c = batch.c if self.num_classes else None
        real = batch.real_img.detach().requires_grad_(True)
        logits = self.D(self.d_view(real), c)  # eager: R1 differentiates twice; the gradient is w.r.t. the clean reals
        (grads,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
        penalty = grads.square().sum([1, 2, 3]).mean() * (lc.r1_gamma / 2)
        return penalty * lc.r1_interval, {"D/r1": penalty}

    def phases(self) -> list[Phase]:
        lc = self.cfg.loss
        out = [Phase("G", self.G, self.optimizers["G"], self.g_main, needs_reals=False)]
        if lc.pl_weight is not None:
            out.append(Phase("G_pl", self.G, self.optimizers["G"], self.g_pl, interval=lc.pl_interval,
                             needs_reals=False, after_step=self._commit_pl_mean))
        out.append(Phase("D", self.D, self.optimizers["D"], self.d_main, needs_reals=True))
        if lc.r1_gamma > 0:
            out.append(Phase("D_r1", self.D, self.optimizers["D"], self.d_r1, interval=lc.r1_interval,
                             needs_reals=True))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"pl_mean": self.pl_mean.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "pl_mean" in state:
            self.pl_mean.copy_(state["pl_mean"].to(self.device))
