"""Presets of the progressive family: ProGAN (recipe ``progan``) and StyleGAN (recipe ``stylegan``).

Settings from the papers and the official code (NVlabs progressive_growing_of_gans, NVlabs/stylegan):
networks at the paper's widths (fmap_base 8192, fmap_max 512, z and w 512, 8 mapping layers with
learning-rate multiplier 0.01), Adam lr 0.001 with betas (0, 0.99), n_critic 1, WGAN-GP lambda 10 +
drift 0.001 (ProGAN), non-saturating loss + R1 gamma 10 + style mixing 0.9 (StyleGAN), generator EMA
with a half-life of 10 kimg and no ramp-up (StyleGAN's G_smoothing_kimg; ProGAN's 0.999 per
minibatch of 16 is about 11 kimg), growth starting at 4 px (ProGAN) or 8 px (StyleGAN).

Growth length on Fashion-MNIST at 32 px: the papers spend 600 kimg at each resolution and 600 kimg
on each fade, which at 32 px would be 3.6 million images before full resolution. These presets use
30 + 30 kimg (half an epoch each): ProGAN (4 -> 32 px, three growths) is fully grown at 180 kimg,
StyleGAN (8 -> 32 px, two growths) at 120 kimg; both run 300 kimg, so at least 120 kimg are spent at
full resolution. The batch is 64 throughout (the official one-GPU batch at 32 px; the official
schedule uses 128 below 32 px, which a constant-batch trainer does not do).

``*-folder{64,128,256}`` train at that size in RGB with the papers' 600 + 600 kimg per level (at 256
px grown after 7.2 M images for ProGAN, 6 M for StyleGAN) and the official one-GPU batch for the
size (32 at 64 px, 16 at 128 and 256 px); the built-in Fashion-MNIST enlarged to that size is the
default data, pass ``--data DIR`` for a real folder.
"""

from __future__ import annotations

from dataclasses import replace

from ganforge.config import DataConfig, Experiment, OptimConfig, TrainConfig
from ganforge.families.progressive.recipe import (
    ProGANLoss,
    ProGANModel,
    StyleGANLoss,
    StyleGANModel,
)
from ganforge.presets import register_preset

FMNIST32 = DataConfig(name="fashion-mnist", resolution=32, resize="pad")
OFFICIAL_ADAM = OptimConfig(name="adam", g_lr=0.001, d_lr=0.001, beta1=0.0, beta2=0.99)
# Plateau and fade lengths (kimg) of the 32 px presets; see the module docstring.
FMNIST_GROWTH = dict(lod_training_kimg=30.0, lod_transition_kimg=30.0)


def _train(batch: int, kimg: float, tick_kimg: float = 10.0) -> TrainConfig:
    return TrainConfig(batch_size=batch, total_kimg=kimg, tick_kimg=tick_kimg, snapshot_ticks=5,
                       ema_halflife_kimg=10.0, ema_rampup=None)


@register_preset("progan-fmnist32", "ProGAN grown 4 -> 32 px, WGAN-GP + drift, paper widths")
def progan_fmnist32() -> Experiment:
    return Experiment(recipe="progan", data=FMNIST32,
                      model=ProGANModel(lod_initial_resolution=4, **FMNIST_GROWTH),
                      loss=ProGANLoss(kind="wasserstein", gp_weight=10.0, drift=0.001),
                      optim=OFFICIAL_ADAM, train=_train(64, 300))


@register_preset("stylegan-fmnist32", "StyleGAN grown 8 -> 32 px, non-saturating + R1 10, mixing 0.9")
def stylegan_fmnist32() -> Experiment:
    return Experiment(recipe="stylegan", data=FMNIST32,
                      model=StyleGANModel(lod_initial_resolution=8, **FMNIST_GROWTH),
                      loss=StyleGANLoss(kind="nonsat", r1_gamma=10.0, style_mixing_prob=0.9),
                      optim=OFFICIAL_ADAM, train=_train(64, 300))


@register_preset("stylegan-fmnist32-fixed", "StyleGAN at 32 px from the start (no growing)")
def stylegan_fmnist32_fixed() -> Experiment:
    e = stylegan_fmnist32()
    return replace(e, model=replace(e.model, progressive=False))


def _folder(resolution: int) -> DataConfig:
    return DataConfig(name="fashion-mnist", resolution=resolution, resize="crop", channels=3)


# Batch per resolution as in the official one-GPU schedules (ProGAN's minibatch_base 16 gives 16 at
# 128-256 px; 32 at 64 px).
_FOLDER_BATCH = {64: 32, 128: 16, 256: 16}

for _res, _batch in _FOLDER_BATCH.items():
    register_preset(f"progan-folder{_res}", f"ProGAN at {_res} px RGB, paper schedule (pass --data DIR)")(
        (lambda r, b: lambda: Experiment(recipe="progan", data=_folder(r), model=ProGANModel(), loss=ProGANLoss(),
                                         optim=OFFICIAL_ADAM, train=_train(b, 12000, tick_kimg=40)))(_res, _batch))
    register_preset(f"stylegan-folder{_res}", f"StyleGAN at {_res} px RGB, paper schedule (pass --data DIR)")(
        (lambda r, b: lambda: Experiment(recipe="stylegan", data=_folder(r), model=StyleGANModel(),
                                         loss=StyleGANLoss(), optim=OFFICIAL_ADAM,
                                         train=_train(b, 12000, tick_kimg=40)))(_res, _batch))


# ---- tiny presets for tests: 16 px, narrow networks, grown within eight steps of 8 images -----------
#
# Steps start at 0, 8, 16, ... images. Phases of 32 images: 8 at the current resolution, 24 fading
# (alpha 0 at image 8, i.e. still the old level, then 1/3 and 2/3). So: 4 px (steps 0-1), fade to
# 8 px (steps 2-3), 8 px (steps 4-5), fade to 16 px (steps 6-7), 16 px from step 8 (image 64) on.

_TINY_GROWTH = dict(lod_initial_resolution=4, lod_training_kimg=0.008, lod_transition_kimg=0.024)
_TINY_TRAIN = TrainConfig(batch_size=8, total_kimg=0.08, tick_kimg=0.016, snapshot_ticks=1,
                          ema_halflife_kimg=0.01, ema_rampup=0.05, grid_size=4, device="cpu", progress=False)


@register_preset("progan-tiny", "tiny ProGAN for tests (16 px, grown after 8 steps)")
def progan_tiny() -> Experiment:
    e = progan_fmnist32()
    return replace(e, data=replace(e.data, resolution=16), train=_TINY_TRAIN,
                   model=replace(e.model, z_dim=16, fmap_base=64, fmap_max=16, **_TINY_GROWTH))


@register_preset("stylegan-tiny", "tiny StyleGAN for tests (16 px, grown after 8 steps)")
def stylegan_tiny() -> Experiment:
    e = stylegan_fmnist32()
    return replace(e, data=replace(e.data, resolution=16), train=_TINY_TRAIN,
                   model=replace(e.model, z_dim=16, w_dim=16, map_layers=2, fmap_base=64, fmap_max=16,
                                 **_TINY_GROWTH))
