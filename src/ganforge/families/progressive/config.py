"""The progressive family's config sections (recipes ``progan`` and ``stylegan``) and their rules."""

from __future__ import annotations

from dataclasses import dataclass

from ganforge.limits import BATCH_MAX, KIMG_MAX, N_CRITIC_MAX, RESOLUTION_MAX, Z_DIM_MAX
from ganforge.validation import Choice, Flag, Int, Num, Positive

LOSS_KINDS = ("wasserstein", "nonsat")


@dataclass(frozen=True)
class ProGANModel:
    # Dimensionality of the latent z (pixel-normalised before the first layer).
    z_dim: int = 512
    # Channel budget: a level at resolution r has min(2 * fmap_base / r, fmap_max) feature maps.
    fmap_base: int = 8192
    # Cap on the feature maps of any layer.
    fmap_max: int = 512
    # Minibatch standard deviation group size in D (lowered to a divisor of the batch); None disables the layer.
    mbstd_group: int | None = 4
    # Feature maps the minibatch standard deviation layer adds.
    mbstd_channels: int = 1
    # Class-conditional G (one-hot label joined to z) and D (one output per class); needs data.use_labels.
    conditional: bool = False
    # Grow the networks from model.lod_initial_resolution; false trains at full resolution from the start.
    progressive: bool = True
    # Resolution training starts at (a power of two >= 4; official ProGAN: 4).
    lod_initial_resolution: int = 4
    # Thousands of images shown at each resolution before the next level starts fading in (paper: 600).
    lod_training_kimg: float = 600.0
    # Thousands of images over which a new level fades in linearly (paper: 600).
    lod_transition_kimg: float = 600.0
    # Clear the Adam moments of G and D when a fade starts and when it ends (official reset_opt_for_new_lod).
    reset_optimizer: bool = True


@dataclass(frozen=True)
class ProGANLoss:
    # Adversarial loss: "wasserstein" (the paper's WGAN-GP) or "nonsat" (logistic, non-saturating G loss).
    kind: str = "wasserstein"
    # WGAN-GP penalty weight lambda on real/fake interpolates (target gradient norm 1); None disables it.
    gp_weight: float | None = 10.0
    # Drift penalty weight epsilon on E[D(real)^2], keeping critic outputs near 0; None disables it.
    drift: float | None = 0.001
    # Zero-centred R1 penalty weight gamma on reals; None disables it.
    r1_gamma: float | None = None
    # Discriminator updates per generator update (official: 1).
    n_critic: int = 1


@dataclass(frozen=True)
class StyleGANModel:
    # Dimensionality of the input latent z.
    z_dim: int = 512
    # Dimensionality of the intermediate latent w (and of every mapping layer).
    w_dim: int = 512
    # Fully connected layers of the mapping network (paper: 8).
    map_layers: int = 8
    # Learning-rate multiplier of the mapping network (equalized learning rate; paper: 0.01).
    map_lr_mult: float = 0.01
    # Channel budget: a level at resolution r has min(2 * fmap_base / r, fmap_max) feature maps.
    fmap_base: int = 8192
    # Cap on the feature maps of any layer.
    fmap_max: int = 512
    # Minibatch standard deviation group size in D (lowered to a divisor of the batch); None disables the layer.
    mbstd_group: int | None = 4
    # Feature maps the minibatch standard deviation layer adds.
    mbstd_channels: int = 1
    # Decay of the tracked average of w used by truncation (official dlatent_avg_beta).
    w_avg_beta: float = 0.995
    # Styles (from the 4x4 one) that truncation_psi affects when a caller gives no cutoff; None: all.
    truncation_cutoff: int | None = 8
    # Class-conditional G (label embedding joined to z) and D (one output per class); needs data.use_labels.
    conditional: bool = False
    # Grow the networks from model.lod_initial_resolution; false trains at full resolution from the start.
    progressive: bool = True
    # Resolution training starts at (a power of two >= 4; official StyleGAN: 8).
    lod_initial_resolution: int = 8
    # Thousands of images shown at each resolution before the next level starts fading in (official: 600).
    lod_training_kimg: float = 600.0
    # Thousands of images over which a new level fades in linearly (official: 600).
    lod_transition_kimg: float = 600.0
    # Clear the Adam moments of G and D when a fade starts and when it ends (official reset_opt_for_new_lod).
    reset_optimizer: bool = True


@dataclass(frozen=True)
class StyleGANLoss:
    # Adversarial loss: "nonsat" (the paper's logistic loss) or "wasserstein".
    kind: str = "nonsat"
    # WGAN-GP penalty weight lambda on real/fake interpolates (target gradient norm 1); None disables it.
    gp_weight: float | None = None
    # Drift penalty weight epsilon on E[D(real)^2]; None disables it (the official WGAN-GP option uses 0.001).
    drift: float | None = None
    # Zero-centred R1 penalty weight gamma on reals, every step (paper: 10); None disables it.
    r1_gamma: float | None = 10.0
    # Discriminator updates per generator update (official: 1).
    n_critic: int = 1
    # Probability that a batch mixes the styles of two latents at a random layer (paper: 0.9); None disables.
    style_mixing_prob: float | None = 0.9


_PROGRESSIVE_RULES = {
    "model.z_dim": Int(1, Z_DIM_MAX),
    "model.fmap_base": Int(1, 2**20),
    "model.fmap_max": Int(1, 8192),
    "model.mbstd_group": Int(1, BATCH_MAX, none_ok=True),
    "model.mbstd_channels": Int(1, 64),
    "model.conditional": Flag(),
    "model.progressive": Flag(),
    "model.lod_initial_resolution": Int(4, RESOLUTION_MAX),
    "model.lod_training_kimg": Num(0.0, KIMG_MAX),
    "model.lod_transition_kimg": Num(0.0, KIMG_MAX),
    "model.reset_optimizer": Flag(),
    "loss.kind": Choice(LOSS_KINDS),
    "loss.gp_weight": Positive(none_ok=True),
    "loss.drift": Positive(none_ok=True),
    "loss.r1_gamma": Positive(none_ok=True),
    "loss.n_critic": Int(1, N_CRITIC_MAX),
}
_STYLE_RULES = {
    **_PROGRESSIVE_RULES,
    "model.w_dim": Int(1, Z_DIM_MAX),
    "model.map_layers": Int(1, 64),
    "model.map_lr_mult": Positive(),
    "model.w_avg_beta": Num(0.0, 1.0),
    "model.truncation_cutoff": Int(1, 1024, none_ok=True),
    "loss.style_mixing_prob": Num(0.0, 1.0, none_ok=True),
}
