"""Presets of the classic family on Fashion-MNIST at 32 px (28 px padded with black).

Hyper-parameters follow each paper where it gives them: DCGAN (Adam 2e-4, beta1 0.5, batch 128,
z 100), WGAN (RMSprop 5e-5, c = 0.01, n_critic 5, batch 64), WGAN-GP (Adam 1e-4, betas (0, 0.9),
lambda 10, n_critic 5, batch 64), LSGAN (Adam 2e-4, beta1 0.5), SNGAN (hinge, Adam 2e-4, betas
(0, 0.9), n_critic 5, batch 64), R1 (gamma chosen for 32-px images in [-1, 1]). Lengths in kimg are
chosen so the default preset finishes on a 2-core CPU in a few minutes; on a GPU pass --kimg.
"""

from __future__ import annotations

from dataclasses import replace

from ganforge.config import DataConfig, Experiment, OptimConfig, TrainConfig
from ganforge.families.classic.config import LossConfig, ModelConfig
from ganforge.presets import EMOJI64, register_preset, register_with_augments

FMNIST32 = DataConfig(name="fashion-mnist", resolution=32, resize="pad")


def _dcgan_base() -> Experiment:
    return Experiment(
        recipe="gan",
        data=FMNIST32,
        model=ModelConfig(g_arch="dcgan", d_arch="dcgan", z_dim=100, g_width=64, d_width=64, d_norm="batch"),
        loss=LossConfig(kind="nonsat"),
        optim=OptimConfig(name="adam", g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999),
        train=TrainConfig(batch_size=128, total_kimg=140, tick_kimg=10, snapshot_ticks=5,
                          ema_halflife_kimg=10, ema_rampup=0.05),
    )


@register_preset("dcgan-fmnist32", "DCGAN, non-saturating loss, batchnorm in G and D")
def dcgan_fmnist32() -> Experiment:
    return _dcgan_base()


@register_preset("dcgan-fmnist32-cond", "class-conditional DCGAN (conditional BN in G, projection D)")
def dcgan_fmnist32_cond() -> Experiment:
    e = _dcgan_base()
    return replace(e, data=replace(e.data, use_labels=True), model=replace(e.model, conditional=True))


@register_preset("wgan-fmnist32", "WGAN with weight clipping (c=0.01, RMSprop, n_critic 5)")
def wgan_fmnist32() -> Experiment:
    e = _dcgan_base()
    return replace(e, loss=LossConfig(kind="wasserstein", clip_value=0.01, n_critic=5),
                   optim=OptimConfig(name="rmsprop", g_lr=5e-5, d_lr=5e-5),
                   train=replace(e.train, batch_size=64))


@register_preset("wgangp-fmnist32", "WGAN-GP, DCGAN-style critic without batchnorm, lambda 10")
def wgangp_fmnist32() -> Experiment:
    e = _dcgan_base()
    return replace(e, model=replace(e.model, d_norm=None),
                   loss=LossConfig(kind="wasserstein", gp_weight=10.0, n_critic=5),
                   optim=OptimConfig(name="adam", g_lr=1e-4, d_lr=1e-4, beta1=0.0, beta2=0.9),
                   train=replace(e.train, batch_size=64))


@register_preset("lsgan-fmnist32", "least-squares GAN on the DCGAN networks")
def lsgan_fmnist32() -> Experiment:
    e = _dcgan_base()
    return replace(e, loss=LossConfig(kind="lsgan"))


@register_preset("sngan-fmnist32", "SNGAN: ResNet networks, spectral norm in D, hinge loss, n_critic 5")
def sngan_fmnist32() -> Experiment:
    e = _dcgan_base()
    return replace(e, model=ModelConfig(g_arch="resnet", d_arch="resnet", z_dim=128, g_width=128,
                                        d_width=128, d_norm=None, spectral_norm=True),
                   loss=LossConfig(kind="hinge", n_critic=5),
                   optim=OptimConfig(name="adam", g_lr=2e-4, d_lr=2e-4, beta1=0.0, beta2=0.9),
                   train=replace(e.train, batch_size=64))


@register_preset("sagan-fmnist32", "SAGAN: ResNet nets with self-attention at 16 px, spectral norm in G and D, "
                                   "hinge, two time-scale lr (1e-4 / 4e-4)")
def sagan_fmnist32() -> Experiment:
    # Zhang et al. 2019: SN in both nets, hinge loss, one D step per G step, Adam (0, 0.9), lr 1e-4 (G) and
    # 4e-4 (D); attention on the middle feature maps (32 of 128 px there, 16 of 32 px here).
    e = _dcgan_base()
    return replace(e, model=ModelConfig(g_arch="resnet", d_arch="resnet", z_dim=128, g_width=128, d_width=128,
                                        d_norm=None, spectral_norm=True, g_spectral_norm=True, attention_res=16),
                   loss=LossConfig(kind="hinge", n_critic=1),
                   optim=OptimConfig(name="adam", g_lr=1e-4, d_lr=4e-4, beta1=0.0, beta2=0.9),
                   train=replace(e.train, batch_size=64))


def _biggan(deep: bool = False) -> Experiment:
    # Brock et al. 2019 at this size: hinge, SN in G and D, D lr = 4 x G lr, Adam (0, 0.999), 2 D steps per G
    # step, orthogonal regularisation 1e-4, shared class embedding 128, hierarchical z (128 = 4 x 32 at 32 px),
    # self-attention on the middle maps, EMA of G; class-conditional (Fashion-MNIST's 10 classes).
    e = _dcgan_base()
    arch = "biggan-deep" if deep else "biggan"
    return replace(e, data=replace(e.data, use_labels=True),
                   model=ModelConfig(g_arch=arch, d_arch=arch, z_dim=128, g_width=128, d_width=128, d_norm=None,
                                     spectral_norm=True, g_spectral_norm=True, conditional=True,
                                     attention_res=16, shared_dim=128),
                   loss=LossConfig(kind="hinge", n_critic=2, ortho_weight=1e-4),
                   optim=OptimConfig(name="adam", g_lr=1e-4, d_lr=4e-4, beta1=0.0, beta2=0.999),
                   train=replace(e.train, batch_size=64))


@register_preset("biggan-fmnist32", "BigGAN: class-conditional BN from a shared embedding + hierarchical z, "
                                    "projection D, attention, SN, orthogonal reg., EMA")
def biggan_fmnist32() -> Experiment:
    return _biggan()


@register_preset("biggan-deep-fmnist32", "BigGAN-deep: bottleneck blocks, two per resolution, z to every block")
def biggan_deep_fmnist32() -> Experiment:
    return _biggan(deep=True)


@register_preset("dcgan-r1-fmnist32", "DCGAN networks, no batchnorm in D, zero-centred R1 penalty")
def dcgan_r1_fmnist32() -> Experiment:
    e = _dcgan_base()
    return replace(e, model=replace(e.model, d_norm=None), loss=LossConfig(kind="nonsat", r1_gamma=1.0))


# ---- tiny presets for tests: 16 px, narrow networks, a few steps -------------------------------

_TINY_TRAIN = TrainConfig(batch_size=8, total_kimg=0.032, tick_kimg=0.016, snapshot_ticks=1,
                          ema_halflife_kimg=0.01, ema_rampup=0.05, grid_size=4, device="cpu",
                          progress=False)


def _tiny(e: Experiment) -> Experiment:
    return replace(e, data=replace(e.data, resolution=16),
                   model=replace(e.model, z_dim=8, g_width=8, d_width=8), train=_TINY_TRAIN)


for _name, _fn in [("dcgan", dcgan_fmnist32), ("dcgan-cond", dcgan_fmnist32_cond), ("wgan", wgan_fmnist32),
                   ("wgangp", wgangp_fmnist32), ("lsgan", lsgan_fmnist32), ("sngan", sngan_fmnist32),
                   ("dcgan-r1", dcgan_r1_fmnist32)]:
    register_preset(f"{_name}-tiny", f"tiny {_name} for tests (16 px, width 8)")(
        (lambda fn: lambda: _tiny(fn()))(_fn))


def _biggan_tiny(deep: bool) -> Experiment:
    e = _tiny(_biggan(deep))  # 16 px: hierarchical z in 3 chunks (input + 2 blocks)
    return replace(e, model=replace(e.model, z_dim=9, attention_res=8, shared_dim=8))


register_preset("biggan-tiny", "tiny biggan for tests (16 px, width 8, z 3 x 3)")(lambda: _biggan_tiny(False))
register_preset("biggan-deep-tiny", "tiny biggan-deep for tests (16 px, width 8)")(lambda: _biggan_tiny(True))


@register_preset("sagan-tiny", "tiny sagan for tests (16 px, width 8, attention at 8 px)")
def sagan_tiny() -> Experiment:
    e = _tiny(sagan_fmnist32())
    return replace(e, model=replace(e.model, attention_res=8))


def sngan_emoji64() -> Experiment:
    """SNGAN's ResNet networks (spectral norm in D, hinge loss, n_critic 5) on emoji 64 px, batch 64."""
    e = sngan_fmnist32()
    return replace(e, data=EMOJI64, train=replace(e.train, total_kimg=2000, tick_kimg=20))


def biggan_emoji64() -> Experiment:
    """BigGAN (``biggan-fmnist32``'s settings) conditional on the nine Unicode groups, z 160 in 5 chunks,
    attention on the 32 px maps."""
    e = biggan_fmnist32()  # conditional on the nine Unicode groups; z 128 = 5 chunks would not divide: 160
    return replace(e, data=replace(EMOJI64, use_labels=True), model=replace(e.model, z_dim=160, attention_res=32),
                   train=replace(e.train, total_kimg=2000, tick_kimg=20))


register_with_augments("biggan-emoji64", "BigGAN on emoji 64 px, conditional on the 9 groups", biggan_emoji64)
register_with_augments("sngan-emoji64", "SNGAN (ResNet, spectral norm, hinge) on emoji 64 px", sngan_emoji64)
