"""Presets on the built-in colour dataset ``emoji`` (3,655 images, 64 px RGB): the small-data benchmark.

Each comes plain and with the discriminator augmentations of ``ganforge.augment``, at equal settings
otherwise, so their FID curves compare the augmentation alone: ``-diffaugment`` (colour, translation,
cutout, always on) and ``-ada`` (bgc pipeline, p steered toward E[sign D(real)] = 0.6, able to move 0 -> 1
in 100 kimg, faster than the paper's 500 because the runs are short).

``sngan-emoji64``: SNGAN's ResNet networks (spectral norm in D, hinge loss, n_critic 5), batch 64.
``biggan-emoji64``: BigGAN (``biggan-fmnist32``'s settings) conditional on the nine Unicode groups,
z 160 in 5 chunks, attention on the 32 px maps.
``stylegan2-emoji64``: StyleGAN2 at 64 px with the official 64 px benchmark settings (cbase 16384, R1
gamma 0.05, mbstd group 8, batch 64, fp16 in the top 4 resolutions on CUDA).
"""

from __future__ import annotations

from dataclasses import replace

from ganforge.config import AugmentConfig, DataConfig, Experiment
from ganforge.presets import register_preset
from ganforge.presets.classic import sngan_fmnist32
from ganforge.presets.stylegan import _stylegan2

EMOJI64 = DataConfig(name="emoji", resolution=64, channels=3, use_labels=False)
AUGMENTS = {
    "diffaugment": AugmentConfig(kind="diffaugment", policy="color,translation,cutout"),
    "ada": AugmentConfig(kind="ada", pipe="bgc", target=0.6, ada_kimg=100.0),
}


def sngan_emoji64() -> Experiment:
    e = sngan_fmnist32()
    return replace(e, data=EMOJI64, train=replace(e.train, total_kimg=2000, tick_kimg=20))


def stylegan2_emoji64() -> Experiment:
    e = _stylegan2(64, 3, batch=64, gamma=0.05, cbase=16384, mbstd=8, lr=0.0025, kimg=2000, fp16=4)
    return replace(e, data=EMOJI64)


def biggan_emoji64() -> Experiment:
    from ganforge.presets.classic import biggan_fmnist32

    e = biggan_fmnist32()  # conditional on the nine Unicode groups; z 128 = 5 chunks would not divide: 160
    return replace(e, data=replace(EMOJI64, use_labels=True), model=replace(e.model, z_dim=160, attention_res=32),
                   train=replace(e.train, total_kimg=2000, tick_kimg=20))


for _name, _fn, _what in [("biggan-emoji64", biggan_emoji64, "BigGAN on emoji 64 px, conditional on the 9 groups"),
                          ("sngan-emoji64", sngan_emoji64, "SNGAN (ResNet, spectral norm, hinge) on emoji 64 px"),
                          ("stylegan2-emoji64", stylegan2_emoji64, "StyleGAN2 on emoji 64 px, official 64 px settings")]:
    register_preset(_name, _what)(_fn)
    for _kind, _aug in AUGMENTS.items():
        register_preset(f"{_name}-{_kind}", f"{_what}, {_kind} on what D sees")(
            (lambda fn, aug: lambda: replace(fn(), augment=aug))(_fn, _aug))
