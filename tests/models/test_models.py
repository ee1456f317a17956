"""Contract tests over the model registries: shapes, ranges, gradients reach every parameter."""

import pytest
import torch

from ganforge.families.classic.config import ModelConfig
from ganforge.errors import GanforgeError
from ganforge.families.classic.nets import GENERATORS, build_discriminator, build_generator

CASES = [(arch, res, ch, ncls, sn, norm)
         for arch in GENERATORS.names()
         for res in (16, 32, 64)
         for ch in (1, 3)
         for ncls in (0, 10)
         for sn, norm in ((False, "batch"), (True, None))
         if not (res == 64 and ch == 1 and ncls == 10)]


@pytest.mark.parametrize("arch,res,ch,ncls,sn,norm", CASES)
def test_generator_and_discriminator_contract(arch, res, ch, ncls, sn, norm):
    torch.manual_seed(0)
    z_dim = 60 if arch.startswith("biggan") else 16  # BigGAN splits z into 3, 4 or 5 chunks at 16-64 px
    width = 16 if arch == "biggan-deep" else 8  # bottlenecks of width/4 = 2 channels can start all dead
    cfg = ModelConfig(g_arch=arch, d_arch=arch, z_dim=z_dim, g_width=width, d_width=width, d_norm=norm,
                      spectral_norm=sn, conditional=ncls > 0, shared_dim=8)
    G = build_generator(cfg, res, ch, ncls)
    D = build_discriminator(cfg, res, ch, ncls)
    assert (G.z_dim, G.num_classes, G.img_resolution, G.img_channels) == (z_dim, ncls, res, ch)
    n = 4
    c = torch.randint(0, 10, (n,)) if ncls else None
    img = G(torch.randn(n, z_dim), c)
    assert img.shape == (n, ch, res, res)
    assert img.min() >= -1 and img.max() <= 1
    logits = D(img, c)
    assert logits.shape == (n,)
    (logits.square().mean()).backward()
    for name, p in list(G.named_parameters()) + list(D.named_parameters()):
        if ncls and ("gain" in name or "bias.weight" in name or "embed" in name):
            # Class embeddings: only rows of the sampled classes receive gradient.
            assert p.grad is not None, name
            continue
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"


def test_spectral_norm_bounds_discriminator_weights():
    cfg = ModelConfig(d_arch="dcgan", d_width=8, d_norm=None, spectral_norm=True)
    D = build_discriminator(cfg, 32, 1, 0)
    D.train()
    for _ in range(30):  # power iterations converge during forward passes
        D(torch.randn(2, 1, 32, 32))
    conv = D.features[0]
    sigma = torch.linalg.matrix_norm(conv.weight.flatten(1), ord=2)
    assert sigma.item() == pytest.approx(1.0, abs=0.05)


def test_unsupported_resolution_names_choices():
    with pytest.raises(GanforgeError, match="supported: 16, 32, 64, 128"):
        build_generator(ModelConfig(g_arch="dcgan"), 48, 1, 0)
    with pytest.raises(GanforgeError, match="unknown generator architecture 'stylegan9'"):
        build_generator(ModelConfig(g_arch="stylegan9"), 32, 1, 0)


def test_dcgan_follows_the_guidelines():
    cfg = ModelConfig()
    G, D = build_generator(cfg, 32, 1, 0), build_discriminator(cfg, 32, 1, 0)
    kinds = {type(m).__name__ for m in list(G.modules()) + list(D.modules())}
    assert "Linear" not in kinds and "MaxPool2d" not in kinds and "AvgPool2d" not in kinds
    assert "ConvTranspose2d" in kinds and "LeakyReLU" in kinds
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.features[:2])  # no BN on D's input layer
    critic = build_discriminator(ModelConfig(d_norm=None), 32, 1, 0)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules())
