"""The translation family's config sections (recipes ``pix2pix`` and ``cyclegan``) and their rules."""

from __future__ import annotations

from dataclasses import dataclass

from ganforge.validation import Choice, Flag, Int, Num

G_ARCHS = ("unet", "resnet")
DIRECTIONS = ("AtoB", "BtoA")
GAN_MODES = ("vanilla", "lsgan")
NORMS = ("batch", "instance", "none")


@dataclass(frozen=True)
class TranslationModel:
    """The networks both translation families share (pix2pix's defaults)."""

    # Generator: "unet" (U-Net with skips, pix2pix's) or "resnet" (CycleGAN's residual generator).
    g_arch: str = "unet"
    # U-Net: stride-2 levels (8 at 256 px, 7 at 128 px); None goes down to 1x1: log2(resolution).
    unet_depth: int | None = None
    # ResNet generator: residual blocks at the bottleneck (CycleGAN: 6 at 128 px, 9 at 256 px).
    resnet_blocks: int = 9
    # Feature maps of G's first layer (the reference's ngf).
    g_width: int = 64
    # Feature maps of D's first layer (the reference's ndf).
    d_width: int = 64
    # PatchGAN discriminator: stride-2 layers; 3 gives 70x70 patches (1: 16x16, 2: 34x34, 4: 142x142).
    d_layers: int = 3
    # Normalisation in G and D: "batch", "instance" or "none".
    norm: str = "batch"
    # Dropout 0.5 in G (the U-Net's inner levels, the ResNet's blocks): pix2pix's noise source in training.
    dropout: bool = True


@dataclass(frozen=True)
class Pix2PixModel(TranslationModel):
    # Which way G translates: "AtoB" (A is the input) or "BtoA".
    direction: str = "AtoB"


@dataclass(frozen=True)
class Pix2PixLoss:
    # Adversarial loss: "vanilla" (cross-entropy on logits) or "lsgan" (least squares).
    kind: str = "vanilla"
    # Weight of the L1 distance between G's output and the target (lambda; the paper's 100).
    l1_weight: float = 100.0


@dataclass(frozen=True)
class CycleGANModel(TranslationModel):
    """The same fields with CycleGAN's defaults: ResNet generators, instance norm, no dropout."""

    # Generators: "resnet" (the paper's) or "unet".
    g_arch: str = "resnet"
    # Normalisation in G and D: "instance" (the paper's), "batch" or "none".
    norm: str = "instance"
    # Dropout 0.5 inside G's residual blocks / inner U-Net levels.
    dropout: bool = False


@dataclass(frozen=True)
class CycleGANLoss:
    # Adversarial loss: "lsgan" (the paper's) or "vanilla".
    kind: str = "lsgan"
    # Weight lambda of each cycle-consistency loss |F(G(a)) - a|, |G(F(b)) - b|.
    cycle_weight: float = 10.0
    # Identity loss |G(b) - b| + |F(a) - a| weight, as a multiple of cycle_weight; None disables it.
    identity_weight: float | None = 0.5
    # Past generated images each discriminator draws from (Shrivastava et al. 2017); 0 disables the pools.
    pool_size: int = 50


_MODEL_RULES = {
    "g_arch": Choice(G_ARCHS),
    "unet_depth": Int(1, 12, none_ok=True),
    "resnet_blocks": Int(0, 64),
    "g_width": Int(1, 1024),
    "d_width": Int(1, 1024),
    "d_layers": Int(1, 8),
    "norm": Choice(NORMS),
    "dropout": Flag(),
}


PIX2PIX_RULES = {
    **{f"model.{k}": r for k, r in _MODEL_RULES.items()},
    "model.direction": Choice(DIRECTIONS),
    "loss.kind": Choice(GAN_MODES),
    "loss.l1_weight": Num(0.0, 1e6),
}

CYCLEGAN_RULES = {
    **{f"model.{k}": r for k, r in _MODEL_RULES.items()},
    "loss.kind": Choice(GAN_MODES),
    "loss.cycle_weight": Num(0.0, 1e6),
    "loss.identity_weight": Num(0.0, 1e6, none_ok=True),
    "loss.pool_size": Int(0, 100000),
}
