"""Image-to-image translation: pix2pix (Isola et al. 2017) and CycleGAN (Zhu et al. 2017).

Both train on a translation dataset (``ganforge.data.translation``): batches carry domain-B images in
``Batch.real_img`` and domain-A images in ``Batch.src`` (partners for paired data). The trained
generators live in one ``Translator`` module (direction name -> network), which is what grids,
snapshots, exports, metrics and ``ganforge translate`` use; the discriminators live in one module
dict. As in the reference implementation, one Adam optimizer updates all generators and one all
discriminators.

pix2pix, per step on one paired batch (A -> B by default): phase D on (input, target) vs (input,
G(input)) pairs, 0.5 x (loss on real + loss on fake); phase G: adversarial loss on the same fake
(the graph of the D phase is kept, so G and D see one fake as in the reference) + ``l1_weight`` x
|G(input) - target|.

CycleGAN, per step on an unpaired batch: phase G (adversarial losses of both directions, cycle
losses lambda x |F(G(a)) - a| and |G(F(b)) - b|, identity losses identity_weight x lambda x |G(b) - b|
and |F(a) - a|), then phase D: each discriminator on reals vs a fake drawn through its image pool
(50 past fakes, half of the time an older one). The pools are saved in checkpoints.

Adversarial losses are the reference's ``gan_mode``: "vanilla" (BCE on logits) or "lsgan" (MSE), with
targets 1 (real) and 0 (fake); D's loss is halved.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.config import Experiment
from ganforge.errors import GanforgeError
from ganforge.families.translation.config import (
    CYCLEGAN_RULES,
    PIX2PIX_RULES,
    CycleGANLoss,
    CycleGANModel,
    Pix2PixLoss,
    Pix2PixModel,
)
from ganforge.training.optim import make_optimizer
from ganforge.training.recipe import Batch, Phase, Recipe


def adv_d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The reference's D loss: 0.5 x (crit(real logits, 1) + crit(fake logits, 0))."""
    return 0.5 * (_crit(kind, real, 1.0) + _crit(kind, fake, 0.0))


def adv_g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """The reference's G loss: crit(D(G(x)) logits, 1)."""
    return _crit(kind, fake, 1.0)


def _crit(kind: str, logits: torch.Tensor, target: float) -> torch.Tensor:
    t = torch.full_like(logits, target)
    if kind == "lsgan":
        return F.mse_loss(logits, t)
    return F.binary_cross_entropy_with_logits(logits, t)


class Translator(nn.Module):
    """Trained translation generators by direction ("AtoB", "BtoA"); what exports hold.

    ``forward(x, direction=None)``: x [N, C_in, H, W] in [-1, 1] -> [N, C_out, H, W]; the default
    direction is the first. ``channels[d]`` = (input channels, output channels) of direction d.
    ``z_dim`` and ``num_classes`` are 0: a translator has no latent and no classes.
    """

    z_dim = 0
    num_classes = 0

    def __init__(self, nets: dict[str, nn.Module], channels: dict[str, tuple[int, int]]):
        super().__init__()
        self.nets = nn.ModuleDict(nets)
        self.directions = tuple(nets)
        self.channels = dict(channels)

    def forward(self, x: torch.Tensor, direction: str | None = None) -> torch.Tensor:
        d = direction or self.directions[0]
        if d not in self.nets:
            raise GanforgeError(f"this model translates {', '.join(self.directions)}; got direction {d!r}")
        return self.nets[d](x)


def _build_g(m: Any, in_ch: int, out_ch: int, resolution: int) -> nn.Module:
    from ganforge.families.translation.networks import ResnetGenerator, UNetGenerator

    if m.g_arch == "unet":
        depth = m.unet_depth if m.unet_depth is not None else max(1, int(math.log2(resolution)))
        return UNetGenerator(in_ch, out_ch, depth, width=m.g_width, norm=m.norm, dropout=m.dropout,
                             resolution=resolution)
    return ResnetGenerator(in_ch, out_ch, blocks=m.resnet_blocks, width=m.g_width, norm=m.norm, dropout=m.dropout)


def _build_d(m: Any, in_ch: int) -> nn.Module:
    from ganforge.families.translation.networks import PatchDiscriminator

    return PatchDiscriminator(in_ch, layers=m.d_layers, width=m.d_width, norm=m.norm)


def _to_rgb_if(x: torch.Tensor, channels: int) -> torch.Tensor:
    return x.expand(-1, channels, -1, -1) if x.shape[1] != channels else x


class TranslationRecipe(Recipe):
    """What pix2pix and CycleGAN share: data checks, grids, snapshots, exports, metrics."""

    translates = True
    directions: tuple[str, ...] = ("AtoB",)
    # Preview pairs in the tick grid (and columns of samples per grid row).
    grid_samples = 16
    grid_per_row = 4

    @classmethod
    def describe_model(cls, model_cfg: Any, meta: dict[str, Any]) -> tuple[str, int]:
        return model_cfg.g_arch, 0

    def export_arch(self, net: nn.Module) -> str:
        return self.cfg.model.g_arch

    @classmethod
    def validate_config(cls, cfg: Experiment) -> None:
        if cfg.augment.kind is not None:
            raise GanforgeError(f"augment.kind={cfg.augment.kind} is not available for recipe {cfg.recipe} "
                                f"(D sees image pairs and domains of different channels); set augment.kind=none")
        if cfg.data.use_labels:
            raise GanforgeError(f"recipe {cfg.recipe} does not use class labels; set data.use_labels=false")
        if cfg.model.unet_depth is not None and cfg.model.g_arch != "unet":
            raise GanforgeError(f"model.unet_depth={cfg.model.unet_depth} applies to model.g_arch=unet, "
                                f"got model.g_arch={cfg.model.g_arch}")

    def _check_data(self, paired_needed: bool) -> None:
        info = self.info
        if not info.is_translation:
            raise GanforgeError(f"recipe {self.cfg.recipe} needs an image-to-image translation dataset: a built-in "
                                f"task (fmnist-edges, fmnist-sneaker2boot, emoji-gray2color) or a folder with "
                                f"data.pairing (aligned, matched, unpaired); got data.name={self.cfg.data.name!r}")
        if paired_needed and not info.paired:
            raise GanforgeError(f"recipe {self.cfg.recipe} needs paired data, but {self.cfg.data.name!r} is unpaired; "
                                f"use recipe cyclegan, or paired data (data.pairing aligned or matched)")

    def _adopt_translator(self, build_d: Callable[[], nn.Module]) -> None:
        """Build the ``Translator`` of this family for the data's channels, then the discriminators
        (``build_d``), and register them (``Recipe.adopt``): one Adam over all generators, one over all
        discriminators, as the reference. The networks start with the reference's N(0, 0.02) init."""
        oc, ch, device = self.cfg.optim, self._channels(), self.device
        G = self.build_generator(self.cfg.model, self.info.resolution, ch["B"], 0, in_channels=ch["A"]).to(device)
        D = build_d().to(device)
        self.adopt(G, D, {"G": make_optimizer(oc.name, G.parameters(), oc.g_lr, oc.beta1, oc.beta2, device),
                          "D": make_optimizer(oc.name, D.parameters(), oc.d_lr, oc.beta1, oc.beta2, device)})

    def _channels(self) -> dict[str, int]:
        return {"A": int(self.info.channels_a), "B": int(self.info.channels)}

    # -- data the recipe keeps: preview pairs for the grids, the evaluation split for metrics --

    def attach_data(self, dataset: Any, from_config: bool = True) -> None:
        """Grids and metrics use the test split when the data has one (and came from ``cfg.data``),
        else the training pairs; the records name the split."""
        self.train_data = dataset
        self.eval_data = dataset
        if from_config and getattr(dataset, "split", "train") == "train":
            from dataclasses import replace

            from ganforge.data import load_dataset

            try:
                self.eval_data = load_dataset(replace(self.cfg.data, split="test"))
            except GanforgeError:
                self.eval_data = dataset  # no test split: metrics on the training pairs (recorded as such)
        if self.cfg.metrics.names:  # before training, not at the first metrics tick
            from ganforge.metrics.translation import check_translation_metrics

            check_translation_metrics(list(self.cfg.metrics.names), self.eval_data, list(self.directions))

    def _domain(self, ds: Any, which: str) -> torch.Tensor:
        return ds.a_u8 if which == "A" else ds.b_u8

    def grid_inputs(self, n: int, seed: int) -> Any:
        k = min(n, self.grid_samples)
        ds = self.eval_data
        g = torch.Generator().manual_seed(seed)
        out = {}
        for d in self.directions:
            src, tgt = d[0], d[-1]
            pool = self._domain(ds, src)
            idx = torch.randperm(len(pool), generator=g)[:k]
            target = self._domain(ds, tgt)[idx] if ds.paired else None
            out[d] = (pool[idx], target)
        return out

    @torch.no_grad()
    def render_grid(self, net: nn.Module, inputs: Any) -> tuple[torch.Tensor, int | None]:
        """Per sample: input | output | target (paired data) or input | output | cycle back (CycleGAN)."""
        from ganforge.images import to_uint8

        cells = []
        channels = max(self._channels().values())
        for d, (src_u8, tgt_u8) in inputs.items():
            x = src_u8.to(self.device).float() / 127.5 - 1
            y = net(x, d)
            row = [src_u8, to_uint8(y).cpu()]
            if len(self.directions) > 1:
                row.append(to_uint8(net(y, self._reverse(d))).cpu())
            elif tgt_u8 is not None:
                row.append(tgt_u8)
            cells.append(torch.stack([_to_rgb_if(c, channels) for c in row], 1))  # [k, cols, C, H, W]
        per = cells[0].shape[1]
        imgs = torch.cat([c.flatten(0, 1) for c in cells])
        return imgs, per * self.grid_per_row

    @staticmethod
    def _reverse(d: str) -> str:
        return "BtoA" if d == "AtoB" else "AtoB"

    def snapshot_inputs(self, net: nn.Module, n: int, generator: torch.Generator):
        ds = self.train_data

        def inputs(i: int):
            d = self.directions[i % len(self.directions)]
            pool = self._domain(ds, d[0])
            idx = torch.randint(0, len(pool), (n,), generator=generator, device=generator.device).cpu()
            return pool[idx].to(self.device).float() / 127.5 - 1, d

        return inputs

    def export_interface(self, net: nn.Module) -> dict[str, Any]:
        return {"kind": "translator", "directions": list(self.directions), "in_channels": self._channels()["A"],
                "num_classes": 0, "class_names": [], "z_dim": 0, "paired": bool(self.info.paired)}

    def evaluate(self, names: list[str], net: nn.Module, dataset: Any, **kw: Any) -> list[Any]:
        from ganforge.metrics.translation import evaluate_translation

        return evaluate_translation(names, net, self.eval_data, list(self.directions), **kw)


class Pix2PixRecipe(TranslationRecipe):
    """pix2pix: conditional GAN on paired data, U-Net G, PatchGAN D on (input, output) pairs, + L1."""

    config_sections = {"model": Pix2PixModel, "loss": Pix2PixLoss}
    config_rules = PIX2PIX_RULES

    @classmethod
    def summary(cls, cfg: Experiment) -> tuple[str, str]:
        m = cfg.model
        return (f"{m.g_arch}/patch{m.d_layers}", f"{cfg.loss.kind} + L1 {cfg.loss.l1_weight:g} ({m.direction})")

    @classmethod
    def build_generator(cls, model_cfg, resolution, channels, num_classes, in_channels=None):
        ca, cb = (in_channels or channels), channels
        src, dst = (ca, cb) if model_cfg.direction == "AtoB" else (cb, ca)
        return Translator({model_cfg.direction: _build_g(model_cfg, src, dst, resolution)},
                          {model_cfg.direction: (src, dst)})

    def __init__(self, cfg, dataset_info, run):
        super().__init__(cfg, dataset_info, run)
        self._check_data(paired_needed=True)
        m = cfg.model
        self.directions = (m.direction,)
        ch = self._channels()
        self.src_ch, self.dst_ch = (ch["A"], ch["B"]) if m.direction == "AtoB" else (ch["B"], ch["A"])
        self._adopt_translator(lambda: nn.ModuleDict({"D": _build_d(m, self.src_ch + self.dst_ch)}))
        self._pending: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def _pair(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        assert batch.src is not None, "pix2pix needs translation batches (Batch.src)"
        return (batch.src, batch.real_img) if self.cfg.model.direction == "AtoB" else (batch.real_img, batch.src)

    def d_loss(self, batch: Batch | None):
        assert batch is not None
        kind = self.cfg.loss.kind
        x, y = self._pair(batch)
        fake = self.fwd["G"](x)  # with its graph: the G phase reuses this fake, as the reference does
        D = self.D["D"]
        real_logits = D(torch.cat([x, y], 1))
        fake_logits = D(torch.cat([x, fake.detach()], 1))
        self._pending = (x, y, fake)
        terms = {"D/adv": adv_d_loss(kind, real_logits, fake_logits)}
        total = terms["D/adv"]
        terms.update(self.logit_stats(real_logits, fake_logits))
        return total, terms

    def g_loss(self, batch: Batch | None):
        assert self._pending is not None, "pix2pix's G phase follows its D phase"
        x, y, fake = self._pending
        self._pending = None
        terms = {"G/adv": adv_g_loss(self.cfg.loss.kind, self.D["D"](torch.cat([x, fake], 1)))}
        l1 = (fake - y).abs().mean()
        terms["G/l1"] = self.cfg.loss.l1_weight * l1
        total = terms["G/adv"] + terms["G/l1"]
        return total, terms

    def phases(self) -> list[Phase]:
        return [Phase("D", self.D, self.optimizers["D"], self.d_loss, needs_reals=True),
                Phase("G", self.G, self.optimizers["G"], self.g_loss, needs_reals=False)]


class CycleGANRecipe(TranslationRecipe):
    """CycleGAN: two generators and two PatchGAN discriminators, cycle + identity losses, image pools."""

    directions = ("AtoB", "BtoA")
    config_sections = {"model": CycleGANModel, "loss": CycleGANLoss}
    config_rules = CYCLEGAN_RULES

    @classmethod
    def summary(cls, cfg: Experiment) -> tuple[str, str]:
        lc, m = cfg.loss, cfg.model
        parts = [lc.kind, f"cycle {lc.cycle_weight:g}"]
        if lc.identity_weight:
            parts.append(f"identity {lc.identity_weight:g}x")
        parts.append(f"pool {lc.pool_size}")
        return f"2x {m.g_arch}/patch{m.d_layers}", " + ".join(parts)

    @classmethod
    def build_generator(cls, model_cfg, resolution, channels, num_classes, in_channels=None):
        ca, cb = (in_channels or channels), channels
        return Translator({"AtoB": _build_g(model_cfg, ca, cb, resolution),
                           "BtoA": _build_g(model_cfg, cb, ca, resolution)},
                          {"AtoB": (ca, cb), "BtoA": (cb, ca)})

    def __init__(self, cfg, dataset_info, run):
        super().__init__(cfg, dataset_info, run)
        from ganforge.families.translation.networks import ImagePool

        self._check_data(paired_needed=False)
        m, lc = cfg.model, cfg.loss
        ch = self._channels()
        if lc.identity_weight and ch["A"] != ch["B"]:
            raise GanforgeError(f"loss.identity_weight={lc.identity_weight:g} needs domains with equal channels "
                                f"(G(b) is compared with b), but A has {ch['A']} and B {ch['B']}; set "
                                f"loss.identity_weight=none")
        self._adopt_translator(lambda: nn.ModuleDict({"A": _build_d(m, ch["A"]), "B": _build_d(m, ch["B"])}))
        # pools["B"] holds fakes of domain B (G_AB's outputs), judged by D["B"].
        self.pools = {k: ImagePool(lc.pool_size, self.rng) for k in ("A", "B")}
        self._pending: dict[str, torch.Tensor] | None = None

    def g_loss(self, batch: Batch | None):
        assert batch is not None and batch.src is not None, "cyclegan needs translation batches (Batch.src)"
        lc, kind = self.cfg.loss, self.cfg.loss.kind
        a, b = batch.src, batch.real_img
        G = self.fwd["G"]
        fake_b = G(a, "AtoB")
        fake_a = G(b, "BtoA")
        terms = {"G/adv_AtoB": adv_g_loss(kind, self.D["B"](fake_b)),
                 "G/adv_BtoA": adv_g_loss(kind, self.D["A"](fake_a)),
                 "G/cycle_A": lc.cycle_weight * (G(fake_b, "BtoA") - a).abs().mean(),
                 "G/cycle_B": lc.cycle_weight * (G(fake_a, "AtoB") - b).abs().mean()}
        if lc.identity_weight:
            w = lc.identity_weight * lc.cycle_weight
            terms["G/identity_A"] = w * (G(a, "BtoA") - a).abs().mean()
            terms["G/identity_B"] = w * (G(b, "AtoB") - b).abs().mean()
        self._pending = {"A": a, "B": b, "fake_A": fake_a.detach(), "fake_B": fake_b.detach()}
        return sum(terms.values()), terms

    def d_loss(self, batch: Batch | None):
        assert self._pending is not None, "cyclegan's D phase follows its G phase"
        p, kind = self._pending, self.cfg.loss.kind
        self._pending = None
        terms: dict[str, torch.Tensor] = {}
        logits = {}
        for dom in ("A", "B"):
            fake = self.pools[dom].query(p[f"fake_{dom}"])
            real_logits, fake_logits = self.D[dom](p[dom]), self.D[dom](fake)
            terms[f"D/adv_{dom}"] = adv_d_loss(kind, real_logits, fake_logits)
            logits[dom] = (real_logits, fake_logits)
        total = terms["D/adv_A"] + terms["D/adv_B"]
        terms.update(self.logit_stats(torch.cat([logits["A"][0].flatten(), logits["B"][0].flatten()]),
                                      torch.cat([logits["A"][1].flatten(), logits["B"][1].flatten()])))
        return total, terms

    def phases(self) -> list[Phase]:
        return [Phase("G", self.G, self.optimizers["G"], self.g_loss, needs_reals=True),
                Phase("D", self.D, self.optimizers["D"], self.d_loss, needs_reals=False)]

    def state_dict(self) -> dict[str, Any]:
        return {"pools": {k: p.state_dict() for k, p in self.pools.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, s in state.get("pools", {}).items():
            self.pools[k].load_state_dict(s)
