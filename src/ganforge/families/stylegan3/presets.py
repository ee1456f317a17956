"""Presets of the alias-free family (recipe ``stylegan3``).

``stylegan3-official-{t,r}-256`` mirror the official 1-GPU 256 px configurations of the StyleGAN3
docs/configs.md (``--cfg=stylegan3-t|r --gpus=1 --batch=32 --gamma=2``, RGB): z = w = 512, mapping depth 2,
--cbase 32768 --cmax 512 (G of config R doubles both), G lr 0.0025, D lr 0.002, Adam (0, 0.99), lazy R1
every 16 D steps, minibatch-stddev group 4, EMA half-life batch * 10 / 32 kimg with ramp-up 0.05,
magnitude EMA 0.5 ** (batch / 20000), for R D's input blur from sigma 10 faded over batch * 200 / 32 kimg,
fp16 in the last 4 synthesis layers and D's top 4 resolutions on CUDA. They train on the built-in
Fashion-MNIST brought to RGB at 256 px unless ``--data`` names an image folder or zip.

``stylegan3-{t,r}-folder{256,512}`` are the same networks for your own images (``--data DIR``), R1 gamma
2 at 256 px and 8 at 512 px as the official recommendations. ``stylegan3-{t,r}-fmnist32`` use the
settings of ``stylegan2-fmnist32`` (batch 64, gamma 0.01, minibatch-stddev group 32, both lr 0.0025) so
the two families compare at equal kimg; ``stylegan3-t-emoji64`` those of ``stylegan2-emoji64``.
``stylegan3-{t,r}-tiny`` are small twins for tests.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from ganforge.config import DataConfig, Experiment, OptimConfig, TrainConfig
from ganforge.families.stylegan3.config import StyleGAN3Loss, StyleGAN3Model
from ganforge.presets import EMOJI64, register_preset, register_with_augments


def _stylegan3(cfg: str, resolution: int, channels: int | None, batch: int, gamma: float, mbstd: int,
               kimg: float, g_lr: float = 0.0025, d_lr: float = 0.002, cbase: int = 32768, fp16: int = 0,
               resize: str = "pad") -> Experiment:
    return Experiment(
        recipe="stylegan3",
        data=DataConfig(name="fashion-mnist", resolution=resolution, resize=resize, channels=channels),
        model=StyleGAN3Model(cfg=cfg, z_dim=512, w_dim=512, map_layers=2, cbase=cbase, cmax=512,
                             conv_clamp=256.0, num_fp16_res=fp16, d_arch="resnet", mbstd_group=mbstd,
                             mbstd_channels=1),
        loss=StyleGAN3Loss(r1_gamma=gamma, r1_interval=16),
        optim=OptimConfig(name="adam", g_lr=g_lr, d_lr=d_lr, beta1=0.0, beta2=0.99),
        train=TrainConfig(batch_size=batch, total_kimg=kimg, tick_kimg=4, snapshot_ticks=10,
                          ema_halflife_kimg=batch * 10 / 32, ema_rampup=0.05),
    )


def _register(cfg: str) -> None:
    name = cfg.upper()
    register_preset(f"stylegan3-official-{cfg}-256",
                    f"official --cfg=stylegan3-{cfg} at 256 px RGB, 1 GPU (batch 32, gamma 2)")(
        lambda: _stylegan3(cfg, 256, 3, batch=32, gamma=2.0, mbstd=4, kimg=25000, fp16=4, resize="crop"))
    for res, gamma in ((256, 2.0), (512, 8.0)):
        register_preset(f"stylegan3-{cfg}-folder{res}",
                        f"StyleGAN3-{name} at {res} px RGB for an image folder (pass --data DIR)")(
            partial(_stylegan3, cfg, res, 3, batch=32, gamma=gamma, mbstd=4, kimg=25000, fp16=4, resize="crop"))
    register_preset(f"stylegan3-{cfg}-fmnist32",
                    f"StyleGAN3-{name} on Fashion-MNIST 32 px, the settings of stylegan2-fmnist32")(
        lambda: _stylegan3(cfg, 32, None, batch=64, gamma=0.01, mbstd=32, kimg=160, d_lr=0.0025))


_register("t")
_register("r")


def stylegan3_t_emoji64() -> Experiment:
    """StyleGAN3-T at 64 px with stylegan2-emoji64's settings (cbase 16384, gamma 0.05, mbstd group 8,
    batch 64, both lr 0.0025, fp16 on CUDA)."""
    e = _stylegan3("t", 64, 3, batch=64, gamma=0.05, mbstd=8, kimg=2000, d_lr=0.0025, cbase=16384, fp16=4)
    return replace(e, data=EMOJI64)


register_with_augments("stylegan3-t-emoji64", "StyleGAN3-T on emoji 64 px, stylegan2-emoji64's settings",
                       stylegan3_t_emoji64)


def _tiny(cfg: str) -> Experiment:
    e = _stylegan3(cfg, 16, None, batch=8, gamma=0.01, mbstd=4, kimg=0.032)
    return replace(e, model=replace(e.model, z_dim=16, w_dim=16, cbase=256, cmax=16, num_layers=4,
                                    margin_size=4),
                   loss=replace(e.loss, r1_interval=2),
                   train=replace(e.train, tick_kimg=0.016, grid_size=4))


register_preset("stylegan3-t-tiny", "tiny StyleGAN3-T for tests")(lambda: _tiny("t"))
register_preset("stylegan3-r-tiny", "tiny StyleGAN3-R for tests (blur fading over the first 0.032 kimg)")(
    lambda: replace(_tiny("r"), loss=replace(_tiny("r").loss, blur_sigma=2.0, blur_fade_kimg=0.032)))
