"""SAGAN: the self-attention block, where it sits in the ResNet G/D, and spectral norm in G."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils import parametrize

from ganforge.errors import GanforgeError
from ganforge.families.classic.resnet import ResNetDiscriminator, ResNetGenerator
from ganforge.nn.layers import SelfAttention


def test_attention_shapes_and_identity_at_init():
    torch.manual_seed(0)
    att = SelfAttention(16)
    x = torch.randn(3, 16, 8, 8)
    assert att.gamma.item() == 0.0
    assert torch.equal(att(x), x)  # gamma starts at 0: the block is the identity
    a = att.attention(x)
    assert a.shape == (3, 64, 64)  # every query position over every key position
    assert torch.allclose(a.sum(-1), torch.ones(3, 64))
    assert att.query.out_channels == att.key.out_channels == 2 and att.value.out_channels == 16


def test_attention_output_against_its_formula_and_gradients():
    torch.manual_seed(1)
    att = SelfAttention(8)
    with torch.no_grad():
        att.gamma.fill_(0.7)
    x = torch.randn(2, 8, 4, 4, requires_grad=True)
    q = att.query(x).flatten(2)
    k = att.key(x).flatten(2)
    v = att.value(x).flatten(2)
    beta = torch.softmax(torch.einsum("nci,ncj->nij", q, k), dim=-1)  # beta[i, j]: query i attends key j
    expected = x + 0.7 * torch.einsum("ncj,nij->nci", v, beta).view(2, 8, 4, 4)
    y = att(x)
    assert torch.allclose(y, expected, atol=1e-5)
    y.square().sum().backward()
    for p in (att.gamma, att.query.weight, att.key.weight, att.value.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


def _spy(module, seen):
    return module.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))


def test_attention_sits_on_the_asked_resolution_in_g_and_d():
    G = ResNetGenerator(16, 32, 3, 16, attention_res=16)
    D = ResNetDiscriminator(32, 3, 16, None, True, attention_res=16)
    seen_g, seen_d = [], []
    _spy(G.attention, seen_g)
    (att_d,) = [m for m in D.modules() if isinstance(m, SelfAttention)]
    _spy(att_d, seen_d)
    img = G(torch.randn(2, 16))
    D(img)
    assert seen_g == [(2, 16, 16, 16)] and seen_d == [(2, 16, 16, 16)]
    assert G.attention is not None and ResNetGenerator(16, 32, 3, 16).attention is None


@pytest.mark.parametrize("net", ["G", "D"])
def test_attention_resolution_that_does_not_exist_names_the_valid_ones(net):
    with pytest.raises(GanforgeError, match=r"model.attention_res=64: .* sides 8, 16"):
        if net == "G":
            ResNetGenerator(16, 16, 3, 8, attention_res=64)
        else:
            ResNetDiscriminator(32, 3, 8, None, True, attention_res=64)


def test_spectral_norm_in_g_spares_the_class_embeddings():
    G = ResNetGenerator(16, 32, 3, 16, num_classes=4, attention_res=16, spectral=True)
    convs = [m for m in G.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    embeds = [m for m in G.modules() if isinstance(m, torch.nn.Embedding)]
    assert convs and all(parametrize.is_parametrized(m, "weight") for m in convs)
    assert embeds and not any(parametrize.is_parametrized(m, "weight") for m in embeds)
    assert not parametrize.is_parametrized(ResNetGenerator(16, 32, 3, 16).input, "weight")


def test_attention_and_g_spectral_norm_need_the_resnet_networks():
    from ganforge.config import apply_overrides
    from ganforge.presets import get_preset
    from ganforge.validation import validate_experiment

    with pytest.raises(GanforgeError, match="model.attention_res=16 needs the ResNet or BigGAN networks.*valid are resnet, biggan, biggan-deep"):
        validate_experiment(apply_overrides(get_preset("dcgan-tiny"), {"model.attention_res": 16}))
    with pytest.raises(GanforgeError, match="model.g_spectral_norm=true is implemented for model.g_arch resnet, biggan, biggan-deep, got dcgan"):
        validate_experiment(apply_overrides(get_preset("dcgan-tiny"), {"model.g_spectral_norm": True}))
    cfg = get_preset("sagan-fmnist32")
    validate_experiment(cfg)
    assert (cfg.model.attention_res, cfg.model.g_spectral_norm, cfg.loss.kind) == (16, True, "hinge")
    assert (cfg.optim.g_lr, cfg.optim.d_lr, cfg.loss.n_critic) == (1e-4, 4e-4, 1)
