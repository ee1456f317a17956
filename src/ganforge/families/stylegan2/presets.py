"""Presets of the style-based family.

``stylegan2-fmnist32`` uses the settings of the official reference run in
shared/anchors/stylegan2-official/QUALITY.md (``--cfg=stylegan2 --batch=64 --gamma=0.01
--cbase=32768 --map-depth=2 --glr=0.0025 --dlr=0.0025 --mbstd-group=32 --aug=noaug``): Adam
(0, 0.99), lazy R1 every 16 D steps, path length weight 2 every 4 G steps on half batches, style
mixing 0.9, EMA half-life batch * 10 / 32 kimg with ramp-up 0.05.

``stylegan2-official-{32,64,256}`` mirror the official ``--cfg=stylegan2`` runs of the speed
benchmark (RGB; cbase 32768 / 16384 / 16384, cmax 512, map depth 2, mbstd group 8, batch 64 / 64 /
32, gamma 0.01 / 0.05 / 1; fp16 in the top 4 resolutions on CUDA as officially). They train on the
built-in Fashion-MNIST brought to RGB at that size unless ``--data`` names an image folder or zip.
"""

from __future__ import annotations

from dataclasses import replace

from ganforge.config import DataConfig, Experiment, OptimConfig, TrainConfig
from ganforge.families.stylegan2.recipe import StyleGAN2Loss, StyleGAN2Model
from ganforge.presets import EMOJI64, register_preset, register_with_augments


def _official_ema_kimg(batch: int) -> float:
    return batch * 10 / 32


def _stylegan2(resolution: int, channels: int | None, batch: int, gamma: float, cbase: int, mbstd: int,
               lr: float, kimg: float, fp16: int = 0, resize: str = "pad") -> Experiment:
    return Experiment(
        recipe="stylegan2",
        data=DataConfig(name="fashion-mnist", resolution=resolution, resize=resize, channels=channels),
        model=StyleGAN2Model(z_dim=512, w_dim=512, map_layers=2, cbase=cbase, cmax=512, g_arch="skip",
                             d_arch="resnet", mbstd_group=mbstd, mbstd_channels=1, conv_clamp=256.0,
                             num_fp16_res=fp16),
        loss=StyleGAN2Loss(r1_gamma=gamma, r1_interval=16, pl_weight=2.0, pl_interval=4, pl_batch_shrink=2,
                           pl_decay=0.01, style_mixing_prob=0.9),
        optim=OptimConfig(name="adam", g_lr=lr, d_lr=lr, beta1=0.0, beta2=0.99),
        train=TrainConfig(batch_size=batch, total_kimg=kimg, tick_kimg=4, snapshot_ticks=10,
                          ema_halflife_kimg=_official_ema_kimg(batch), ema_rampup=0.05),
    )


@register_preset("stylegan2-fmnist32", "StyleGAN2 (skip G, resnet D), settings of the official Fashion-MNIST run")
def stylegan2_fmnist32() -> Experiment:
    return _stylegan2(32, None, batch=64, gamma=0.01, cbase=32768, mbstd=32, lr=0.0025, kimg=160)


@register_preset("stylegan2-official-32", "official --cfg=stylegan2 at 32 px RGB (speed benchmark)")
def stylegan2_official_32() -> Experiment:
    return _stylegan2(32, 3, batch=64, gamma=0.01, cbase=32768, mbstd=8, lr=0.0025, kimg=1000, fp16=4)


@register_preset("stylegan2-official-64", "official --cfg=stylegan2 at 64 px RGB (speed benchmark)")
def stylegan2_official_64() -> Experiment:
    return _stylegan2(64, 3, batch=64, gamma=0.05, cbase=16384, mbstd=8, lr=0.0025, kimg=1000, fp16=4,
                      resize="crop")


@register_preset("stylegan2-official-256", "official --cfg=stylegan2 at 256 px RGB (speed benchmark)")
def stylegan2_official_256() -> Experiment:
    return _stylegan2(256, 3, batch=32, gamma=1.0, cbase=16384, mbstd=8, lr=0.0025, kimg=1000, fp16=4,
                      resize="crop")


# Image folders at 64 / 128 / 256 px: the official config's networks (cbase 16384 at these sizes,
# map depth 2), batch 64 / 32 / 32 and R1 gamma from the StyleGAN2-ADA heuristic 0.0002 * res^2 /
# batch (0.0128, 0.1024 and 0.4096, the last two rounded to 0.1 and 0.4); pass --data DIR.
for _res, _batch, _gamma in ((64, 64, 0.0128), (128, 32, 0.1), (256, 32, 0.4)):
    register_preset(f"stylegan2-folder{_res}", f"StyleGAN2 at {_res} px RGB for an image folder (pass --data DIR)")(
        (lambda r, b, g: lambda: _stylegan2(r, 3, batch=b, gamma=g, cbase=16384, mbstd=4, lr=0.0025, kimg=25000,
                                            fp16=4, resize="crop"))(_res, _batch, _gamma))


@register_preset("stylegan2-tiny", "tiny StyleGAN2 for tests")
def stylegan2_tiny() -> Experiment:
    e = _stylegan2(16, None, batch=8, gamma=0.01, cbase=256, mbstd=4, lr=0.0025, kimg=0.032)
    from dataclasses import replace

    return replace(e, model=replace(e.model, z_dim=16, w_dim=16, cmax=32),
                   loss=replace(e.loss, r1_interval=2, pl_interval=2),
                   train=replace(e.train, tick_kimg=0.016, grid_size=4))


@register_preset("stylegan2-cond-tiny", "tiny class-conditional StyleGAN2 for tests")
def stylegan2_cond_tiny() -> Experiment:
    from dataclasses import replace

    e = stylegan2_tiny()
    return replace(e, data=replace(e.data, use_labels=True), model=replace(e.model, conditional=True))


def stylegan2_emoji64() -> Experiment:
    """StyleGAN2 at 64 px with the official 64 px benchmark settings (cbase 16384, R1 gamma 0.05, mbstd
    group 8, batch 64, fp16 in the top 4 resolutions on CUDA)."""
    e = _stylegan2(64, 3, batch=64, gamma=0.05, cbase=16384, mbstd=8, lr=0.0025, kimg=2000, fp16=4)
    return replace(e, data=EMOJI64)


register_with_augments("stylegan2-emoji64", "StyleGAN2 on emoji 64 px, official 64 px settings", stylegan2_emoji64)
