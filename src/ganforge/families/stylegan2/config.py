"""StyleGAN2's config sections (recipe ``stylegan2``) and their rules."""

from __future__ import annotations

from dataclasses import dataclass

from ganforge.limits import BATCH_MAX, Z_DIM_MAX
from ganforge.validation import Choice, Flag, Int, Num, Positive

ARCHITECTURES = ("orig", "skip", "resnet")


@dataclass(frozen=True)
class StyleGAN2Model:
    # Dimensionality of the input latent z.
    z_dim: int = 512
    # Dimensionality of the intermediate latent w (and of each layer's style input).
    w_dim: int = 512
    # Fully connected layers of the mapping network (8 in the paper; the official small-data configs use 2).
    map_layers: int = 8
    # Learning-rate multiplier of the mapping network (equalized learning rate; 0.01 in the paper).
    map_lr_mult: float = 0.01
    # Channel budget: a layer at resolution r has min(cbase // r, cmax) feature maps.
    cbase: int = 32768
    # Cap on the feature maps of any layer.
    cmax: int = 512
    # Generator architecture: "skip" (output skips, the paper's choice), "resnet" or "orig".
    g_arch: str = "skip"
    # Discriminator architecture: "resnet" (the paper's choice), "skip" or "orig".
    d_arch: str = "resnet"
    # Minibatch standard deviation group size in D (capped at the batch); None disables the layer.
    mbstd_group: int | None = 4
    # Feature maps the minibatch standard deviation layer adds.
    mbstd_channels: int = 1
    # Clamp every convolution's output to +-this value (the official 256); None disables clamping.
    conv_clamp: float | None = 256.0
    # Run the top N resolutions of G and D in float16 on CUDA (official: 4); 0 keeps float32 everywhere.
    num_fp16_res: int = 0
    # Class-conditional G (label embedding into the mapping network) and D (projection); needs data.use_labels.
    conditional: bool = False


@dataclass(frozen=True)
class StyleGAN2Loss:
    # R1 penalty weight gamma on reals (the per-dataset knob: 0.01 for 32 px gray, 10 at 1024 px).
    r1_gamma: float = 10.0
    # D steps between R1 computations (lazy regularization; 1 computes it every step).
    r1_interval: int = 16
    # Path-length regularization weight; None disables it.
    pl_weight: float | None = 2.0
    # G steps between path-length computations (lazy regularization).
    pl_interval: int = 4
    # The path-length batch is the batch divided by this.
    pl_batch_shrink: int = 2
    # Decay of the running mean of path lengths (the penalty's target).
    pl_decay: float = 0.01
    # Probability that a G batch mixes the styles of two latents at a random layer; None disables.
    style_mixing_prob: float | None = 0.9


# One rule per key of the two sections (``StyleGAN2Recipe.config_rules``).
RULES = {
    "model.z_dim": Int(1, Z_DIM_MAX),
    "model.w_dim": Int(1, Z_DIM_MAX),
    "model.map_layers": Int(1, 64),
    "model.map_lr_mult": Positive(),
    "model.cbase": Int(1, 2**20),
    "model.cmax": Int(1, 8192),
    "model.g_arch": Choice(ARCHITECTURES),
    "model.d_arch": Choice(ARCHITECTURES),
    "model.mbstd_group": Int(1, BATCH_MAX, none_ok=True),
    "model.mbstd_channels": Int(1, 64),
    "model.conv_clamp": Positive(none_ok=True),
    "model.num_fp16_res": Int(0, 16),
    "model.conditional": Flag(),
    "loss.r1_gamma": Num(0.0),
    "loss.r1_interval": Int(1, 10_000),
    "loss.pl_weight": Positive(none_ok=True),
    "loss.pl_interval": Int(1, 10_000),
    "loss.pl_batch_shrink": Int(1, BATCH_MAX),
    "loss.pl_decay": Num(0.0, 1.0, lo_open=True),
    "loss.style_mixing_prob": Num(0.0, 1.0, none_ok=True),
}
