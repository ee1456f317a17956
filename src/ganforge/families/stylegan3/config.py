"""StyleGAN3's config sections (recipe ``stylegan3``) and their rules.

The generator's fields are the official ``training.networks_stylegan3.Generator`` arguments under
ganforge's names (``cbase`` = channel_base, ``cmax`` = channel_max, ``map_layers`` = the mapping depth);
``cfg`` picks config T (3x3 convolutions, Kaiser-windowed sinc filters) or R (1x1 convolutions,
radially symmetric jinc-based downsampling filters, twice the feature maps). ``cbase`` and ``cmax`` are
the official ``train.py``'s ``--cbase`` / ``--cmax``: the discriminator uses them as they are, the
generator too for config T and twice them for config R, as the official ``--cfg=stylegan3-r`` does.
The discriminator is StyleGAN2's (``d_arch``, ``mbstd_*``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ganforge.limits import BATCH_MAX, Z_DIM_MAX
from ganforge.validation import Choice, Flag, Int, Num, Positive

CONFIGS = ("t", "r")
D_ARCHITECTURES = ("orig", "skip", "resnet")


@dataclass(frozen=True)
class StyleGAN3Model:
    # Alias-free configuration: "t" (translation equivariant) or "r" (translation and rotation equivariant).
    cfg: str = "t"
    # Dimensionality of the input latent z.
    z_dim: int = 512
    # Dimensionality of the intermediate latent w.
    w_dim: int = 512
    # Fully connected layers of the mapping network (the official StyleGAN3 configs use 2).
    map_layers: int = 2
    # Channel budget (official --cbase): a G layer with cutoff frequency f has min(cbase / 2 / f, cmax)
    # feature maps (config R: twice cbase and cmax), D's block at resolution r has min(cbase // r, cmax).
    cbase: int = 32768
    # Cap on the feature maps of any layer (official --cmax; config R's G uses twice it).
    cmax: int = 512
    # Synthesis layers, the ToRGB layer not counted (the official 14).
    num_layers: int = 14
    # Critically sampled layers at the end (the official 2).
    num_critical: int = 2
    # Cutoff frequency of the first layer (cycles per unit length; the official 2).
    first_cutoff: float = 2.0
    # Minimum stopband of the first layer (the official 2 ** 2.1).
    first_stopband: float = 2 ** 2.1
    # Minimum stopband of the last layer, relative to its cutoff (the official 2 ** 0.3).
    last_stopband_rel: float = 2 ** 0.3
    # Extra pixels computed on each side of every layer's feature maps (the official 10).
    margin_size: int = 10
    # Scale of the ToRGB output (the official 0.25).
    output_scale: float = 0.25
    # Taps per sampling-rate unit of the lowpass filters (the official 6).
    filter_size: int = 6
    # Relative sampling rate at which the leaky ReLU is applied (the official 2).
    lrelu_upsampling: int = 2
    # Clamp every convolution's output to +-this value (the official 256); None disables clamping.
    conv_clamp: float | None = 256.0
    # Run the last N synthesis layers (and D's top N resolutions) in float16 on CUDA (official: 4); 0: fp32.
    num_fp16_res: int = 0
    # Decay of the magnitude EMA that normalises each layer's input; None: the official 0.5 ** (batch / 20000).
    magnitude_ema_beta: float | None = None
    # Discriminator architecture (StyleGAN2's): "resnet" (the official choice), "skip" or "orig".
    d_arch: str = "resnet"
    # Minibatch standard deviation group size in D (capped at the batch); None disables the layer.
    mbstd_group: int | None = 4
    # Feature maps the minibatch standard deviation layer adds.
    mbstd_channels: int = 1
    # Class-conditional G (label embedding into the mapping network) and D (projection); needs data.use_labels.
    conditional: bool = False


@dataclass(frozen=True)
class StyleGAN3Loss:
    # R1 penalty weight gamma on reals (the per-dataset knob; the official 1-GPU 256 px runs use 2).
    r1_gamma: float = 2.0
    # D steps between R1 computations (lazy regularization; 1 computes it every step).
    r1_interval: int = 16
    # Blur of the images D sees, Gaussian sigma in pixels at the start of training, fading linearly to 0
    # over ``blur_fade_kimg``. None: the official choice, 10 for config R and 0 (no blur) for config T.
    blur_sigma: float | None = None
    # kimg over which the blur fades out; None: the official batch * 200 / 32.
    blur_fade_kimg: float | None = None
    # Probability that a G batch mixes the styles of two latents (the official StyleGAN3 configs: none).
    style_mixing_prob: float | None = None


# One rule per key of the two sections (``StyleGAN3Recipe.config_rules``).
RULES = {
    "model.cfg": Choice(CONFIGS),
    "model.z_dim": Int(1, Z_DIM_MAX),
    "model.w_dim": Int(1, Z_DIM_MAX),
    "model.map_layers": Int(1, 64),
    "model.cbase": Int(1, 2**20),
    "model.cmax": Int(1, 8192),
    "model.num_layers": Int(3, 64),
    "model.num_critical": Int(1, 64),
    "model.first_cutoff": Positive(),
    "model.first_stopband": Positive(),
    "model.last_stopband_rel": Num(1.0, 16.0, lo_open=True),
    "model.margin_size": Int(0, 256),
    "model.output_scale": Positive(),
    "model.filter_size": Int(1, 64),
    "model.lrelu_upsampling": Int(1, 8),
    "model.conv_clamp": Positive(none_ok=True),
    "model.num_fp16_res": Int(0, 64),
    "model.magnitude_ema_beta": Num(0.0, 1.0, none_ok=True),
    "model.d_arch": Choice(D_ARCHITECTURES),
    "model.mbstd_group": Int(1, BATCH_MAX, none_ok=True),
    "model.mbstd_channels": Int(1, 64),
    "model.conditional": Flag(),
    "loss.r1_gamma": Num(0.0),
    "loss.r1_interval": Int(1, 10_000),
    "loss.blur_sigma": Num(0.0, 1000.0, none_ok=True),
    "loss.blur_fade_kimg": Num(0.0, 1e9, none_ok=True),
    "loss.style_mixing_prob": Num(0.0, 1.0, none_ok=True),
}
