"""The classic family's config sections (recipe ``gan``) and the rule of each of their keys."""

from __future__ import annotations

from dataclasses import dataclass

from ganforge.limits import N_CRITIC_MAX, RESOLUTION_MAX, WIDTH_MAX, Z_DIM_MAX
from ganforge.validation import Choice, Flag, Int, Positive, Registered, Rule


@dataclass(frozen=True)
class ModelConfig:
    """The classic family's networks (recipe ``gan``: DCGAN, ResNet/SNGAN, conditional variants)."""

    # Registered generator architecture (see `ganforge.families.classic.nets.GENERATORS`).
    g_arch: str = "dcgan"
    # Registered discriminator architecture (see `ganforge.families.classic.nets.DISCRIMINATORS`).
    d_arch: str = "dcgan"
    # Dimensionality of the latent z ~ N(0, I).
    z_dim: int = 100
    # Base channel width of G (the widest layer has a small multiple of this).
    g_width: int = 64
    # Base channel width of D.
    d_width: int = 64
    # Normalisation inside D: "batch", "layer" or None (WGAN-GP critics must not use batchnorm).
    d_norm: str | None = "batch"
    # Spectral normalisation of every D weight (Miyato et al. 2018).
    spectral_norm: bool = False
    # Class-conditional G (conditional batchnorm) and D (projection); needs data.use_labels.
    conditional: bool = False
    # SAGAN: a self-attention block in G and D on the feature maps of this side length (ResNet nets only).
    attention_res: int | None = None
    # SAGAN: spectral norm on G's convolutions and linear layers too.
    g_spectral_norm: bool = False
    # BigGAN: size of G's shared class embedding (conditions every batch norm together with z).
    shared_dim: int = 128


@dataclass(frozen=True)
class LossConfig:
    """The classic family's objective (recipe ``gan``)."""

    # Adversarial loss: "minimax", "nonsat", "wasserstein", "lsgan" or "hinge".
    kind: str = "nonsat"
    # BigGAN's orthogonal regularisation of G's weights (off-diagonal form), beta; None disables it.
    ortho_weight: float | None = None
    # WGAN-GP gradient penalty weight lambda on real/fake interpolates; None disables it.
    gp_weight: float | None = None
    # Zero-centred R1 penalty weight gamma on reals; None disables it.
    r1_gamma: float | None = None
    # Zero-centred R2 penalty weight gamma on generated images; None disables it.
    r2_gamma: float | None = None
    # WGAN weight clipping bound c for every D parameter; None disables clipping.
    clip_value: float | None = None
    # Discriminator updates per generator update (n_critic).
    n_critic: int = 1



# One rule per key of the two sections (``GANRecipe.config_rules``).
RULES: dict[str, Rule] = {
    "model.g_arch": Registered("ganforge.families.classic.nets:GENERATORS"),
    "model.d_arch": Registered("ganforge.families.classic.nets:DISCRIMINATORS"),
    "model.z_dim": Int(1, Z_DIM_MAX),
    "model.g_width": Int(1, WIDTH_MAX),
    "model.d_width": Int(1, WIDTH_MAX),
    "model.d_norm": Choice(("batch", "layer", None)),
    "model.spectral_norm": Flag(),
    "model.conditional": Flag(),
    "model.attention_res": Int(4, RESOLUTION_MAX, none_ok=True),
    "model.g_spectral_norm": Flag(),
    "model.shared_dim": Int(1, Z_DIM_MAX),
    "loss.ortho_weight": Positive(none_ok=True),
    "loss.kind": Registered("ganforge.losses:ADVERSARIAL_LOSSES"),
    "loss.gp_weight": Positive(none_ok=True),
    "loss.r1_gamma": Positive(none_ok=True),
    "loss.r2_gamma": Positive(none_ok=True),
    "loss.clip_value": Positive(none_ok=True),
    "loss.n_critic": Int(1, N_CRITIC_MAX),
}
