"""Presets of the translation families: pix2pix (paired) and CycleGAN (unpaired).

Built-in tasks (``ganforge.data.translation``) at 32 px:
- ``pix2pix-fmnist-edges``: edge map -> garment, U-Net down to 1x1 (5 levels), a 2-layer PatchGAN
  (34x34 patches: the paper's 70x70 would see the whole 32 px image), batch norm, dropout, L1 100.
- ``cyclegan-fmnist-sneaker2boot``: sneakers <-> ankle boots, ResNet generators with 6 blocks, 70x70
  PatchGANs, instance norm, LSGAN, cycle 10, identity 0.5, pools of 50.
Both keep Adam(2e-4, 0.5, 0.999) constant for the first half and decay it linearly to 0, as the
papers' 100 + 100 epochs, and compute their metrics on the test split during training.

Folder presets follow the papers at 128 and 256 px (pix2pix: U-Net 7 / 8 levels; CycleGAN: 6 / 9
blocks) with the papers' batch of 1 and 100 + 100 epochs counted for a 1,000-image set (200 kimg).
They default to a built-in stand-in (``emoji-gray2color`` for pix2pix, sneakers <-> boots in RGB for
CycleGAN); pass ``--data DIR`` and, for folders, ``--set data.pairing=aligned|matched|unpaired``.
"""

from __future__ import annotations

from dataclasses import replace

from ganforge.config import (
    DataConfig,
    Experiment,
    MetricsConfig,
    OptimConfig,
    TrainConfig,
)
from ganforge.families.translation.recipe import (
    CycleGANLoss,
    CycleGANModel,
    Pix2PixLoss,
    Pix2PixModel,
)
from ganforge.presets import register_preset

ADAM = OptimConfig(name="adam", g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999)


def _train(batch: int, kimg: float, tick: float) -> TrainConfig:
    # No EMA: the papers export the trained generators themselves.
    return TrainConfig(batch_size=batch, total_kimg=kimg, tick_kimg=tick, snapshot_ticks=5, ema_halflife_kimg=None,
                       grid_size=16)


def _optim(kimg: float) -> OptimConfig:
    return replace(ADAM, lr_decay_start_kimg=kimg / 2)


@register_preset("pix2pix-fmnist-edges", "pix2pix: Fashion-MNIST edge maps -> garments, U-Net + PatchGAN, L1 100")
def pix2pix_fmnist_edges() -> Experiment:
    kimg = 300.0
    return Experiment(
        recipe="pix2pix", data=DataConfig(name="fmnist-edges", resolution=32),
        model=Pix2PixModel(d_layers=2), loss=Pix2PixLoss(), optim=_optim(kimg), train=_train(64, kimg, 10.0),
        metrics=MetricsConfig(names=("fid1k", "pair_l1", "pair_psnr", "pair_ssim", "pair_msssim"), interval_kimg=50.0))


@register_preset("cyclegan-fmnist-sneaker2boot", "CycleGAN: Fashion-MNIST sneakers <-> ankle boots, ResNet G (6 blocks)")
def cyclegan_fmnist_sneaker2boot() -> Experiment:
    kimg = 120.0
    return Experiment(
        recipe="cyclegan", data=DataConfig(name="fmnist-sneaker2boot", resolution=32),
        model=CycleGANModel(resnet_blocks=6), loss=CycleGANLoss(), optim=_optim(kimg), train=_train(16, kimg, 4.0),
        metrics=MetricsConfig(names=("fid1k", "kid1k"), interval_kimg=20.0))


@register_preset("pix2pix-emoji-gray2color", "pix2pix: emoji luma -> colour at 64 px, U-Net + 70x70 PatchGAN")
def pix2pix_emoji() -> Experiment:
    kimg = 200.0
    return Experiment(
        recipe="pix2pix", data=DataConfig(name="emoji-gray2color", resolution=64),
        model=Pix2PixModel(), loss=Pix2PixLoss(), optim=_optim(kimg), train=_train(16, kimg, 4.0),
        metrics=MetricsConfig(names=("pair_l1", "pair_psnr", "pair_ssim"), interval_kimg=20.0))


_PAPER_KIMG = 200.0  # 100 + 100 epochs of a 1,000-image set at batch 1

for _res, _depth, _blocks in ((128, 7, 6), (256, 8, 9)):
    register_preset(f"pix2pix-folder{_res}", f"pix2pix at {_res} px, paper settings (pass --data DIR and "
                                             f"--set data.pairing=aligned or matched)")(
        (lambda r, d: lambda: Experiment(
            recipe="pix2pix", data=DataConfig(name="emoji-gray2color", resolution=r),
            model=Pix2PixModel(unet_depth=d), loss=Pix2PixLoss(), optim=_optim(_PAPER_KIMG),
            train=_train(1, _PAPER_KIMG, 4.0)))(_res, _depth))
    register_preset(f"cyclegan-folder{_res}", f"CycleGAN at {_res} px, {_blocks} blocks, paper settings "
                                              f"(pass --data DIR holding trainA/ and trainB/)")(
        (lambda r, b: lambda: Experiment(
            recipe="cyclegan", data=DataConfig(name="fmnist-sneaker2boot", resolution=r, resize="stretch", channels=3,
                                               pairing="unpaired"),
            model=CycleGANModel(resnet_blocks=b), loss=CycleGANLoss(), optim=_optim(_PAPER_KIMG),
            train=_train(1, _PAPER_KIMG, 4.0)))(_res, _blocks))


# ---- tiny presets for tests: 16 px, width 8, a few steps; the decay starts half way -------------------

_TINY_TRAIN = TrainConfig(batch_size=4, total_kimg=0.032, tick_kimg=0.016, snapshot_ticks=1, ema_halflife_kimg=None,
                          grid_size=4, device="cpu", progress=False)


@register_preset("pix2pix-tiny", "tiny pix2pix for tests (16 px fmnist-edges, width 8)")
def pix2pix_tiny() -> Experiment:
    return Experiment(
        recipe="pix2pix", data=DataConfig(name="fmnist-edges", resolution=16),
        model=Pix2PixModel(g_width=8, d_width=8, d_layers=2), loss=Pix2PixLoss(),
        optim=replace(ADAM, lr_decay_start_kimg=0.016), train=_TINY_TRAIN)


@register_preset("cyclegan-tiny", "tiny CycleGAN for tests (16 px sneakers <-> boots, width 8, 2 blocks, pool 4)")
def cyclegan_tiny() -> Experiment:
    return Experiment(
        recipe="cyclegan", data=DataConfig(name="fmnist-sneaker2boot", resolution=16),
        model=CycleGANModel(g_width=8, d_width=8, resnet_blocks=2, d_layers=2), loss=CycleGANLoss(pool_size=4),
        optim=replace(ADAM, lr_decay_start_kimg=0.016), train=_TINY_TRAIN)
