"""ProGAN / StyleGAN networks and their layers: shapes and gradients at every level of detail, fade-in,
equalized learning rate, pixel norm, minibatch stddev, blur, noise, AdaIN, truncation, mixing."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganforge.families.progressive.progan import ProGANDiscriminator, ProGANGenerator
from ganforge.families.progressive.stylegan import StyleGANDiscriminator, StyleGANGenerator
from ganforge.nn.equalized import (AdaIN, EqualizedConv2d, EqualizedLinear, NoiseInjection, blur, downsample,
                                   minibatch_stddev, pixel_norm, upsample)

WIDTHS = dict(fmap_base=64, fmap_max=16)


def make_nets(kind: str, res: int = 16, ch: int = 1, ncls: int = 0):
    torch.manual_seed(0)
    if kind == "progan":
        G = ProGANGenerator(8, res, ch, ncls, **WIDTHS)
        D = ProGANDiscriminator(res, ch, ncls, **WIDTHS)
    else:
        G = StyleGANGenerator(8, 8, res, ch, ncls, map_layers=2, **WIDTHS)
        D = StyleGANDiscriminator(res, ch, ncls, **WIDTHS)
    return G, D


def _level_of(name: str) -> tuple[str, int] | None:
    """('G'|'D' module list, level index) a parameter belongs to, None for shared parameters."""
    parts = name.split(".")
    for i, p in enumerate(parts[:-1]):
        if p in ("blocks", "to_rgb", "from_rgb", "levels") and parts[i + 1].isdigit():
            return p, int(parts[i + 1])
    return None


def _active(listname: str, k: int, level: int, alpha: float) -> bool:
    if listname in ("blocks", "levels"):
        return k <= level  # D's blocks[0] is an Identity without parameters
    if listname in ("to_rgb", "from_rgb"):
        return k == level or (alpha < 1 and k == level - 1)
    raise AssertionError(listname)


@pytest.mark.parametrize("kind", ["progan", "stylegan"])
@pytest.mark.parametrize("ch,ncls", [(1, 0), (3, 10)])
def test_shapes_and_gradients_at_every_level(kind, ch, ncls):
    res = 16
    G, D = make_nets(kind, res, ch, ncls)
    assert (G.z_dim, G.num_classes, G.img_resolution, G.img_channels) == (8, ncls, res, ch)
    n = 4
    for lod in range(G.num_levels):
        for alpha in (1.0, 0.5):
            level = G.num_levels - 1 - lod
            if level == 0 and alpha < 1:
                continue
            G.zero_grad(set_to_none=True)
            D.zero_grad(set_to_none=True)
            c = torch.randint(0, ncls, (n,)) if ncls else None
            img = G(torch.randn(n, 8), c, lod=lod, alpha=alpha)
            assert img.shape == (n, ch, res, res)
            # The output is the level's image enlarged by nearest neighbour.
            f = 2 ** lod
            assert torch.equal(img, upsample(img[:, :, ::f, ::f], f))
            logits = D(img, c, lod=lod, alpha=alpha)
            assert logits.shape == (n,)
            logits.square().mean().backward()
            for net in (G, D):
                for name, p in net.named_parameters():
                    where = _level_of(name)
                    if where is None or _active(*where, level, alpha):
                        assert p.grad is not None and torch.isfinite(p.grad).all(), f"no gradient: {name} at {lod}/{alpha}"
                    else:
                        assert p.grad is None, f"inactive {name} got a gradient at lod {lod}, alpha {alpha}"
            # Every active level learns something.
            for net in (G, D):
                assert any(p.grad.abs().sum() > 0 for name, p in net.named_parameters()
                           if _level_of(name) == ("to_rgb" if net is G else "from_rgb", level))


@pytest.mark.parametrize("kind", ["progan", "stylegan"])
def test_fade_in_is_the_alpha_blend_of_the_two_paths(kind):
    G, D = make_nets(kind)
    z = torch.randn(4, 8)
    kw = {} if kind == "progan" else {"noise_mode": "const"}
    for lod in range(G.num_levels - 1):
        new = G(z, lod=lod, alpha=1.0, **kw)
        old = G(z, lod=lod + 1, alpha=1.0, **kw)
        for alpha in (0.0, 0.25, 0.7):
            torch.testing.assert_close(G(z, lod=lod, alpha=alpha, **kw), torch.lerp(old, new, alpha),
                                       rtol=1e-6, atol=1e-6)
        # D: a new level with weight 0 is the previous level alone.
        img = torch.randn(4, 1, 16, 16)
        torch.testing.assert_close(D(img, lod=lod, alpha=0.0), D(img, lod=lod + 1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["progan", "stylegan"])
def test_stage_buffers_drive_plain_calls_and_travel_in_the_state_dict(kind):
    G, D = make_nets(kind)
    G.set_stage(1, 0.25)
    D.set_stage(1, 0.25)
    sd = G.state_dict()
    assert any(k.endswith("lod") for k in sd) and any(k.endswith("alpha") for k in sd)
    kw = {} if kind == "progan" else {"noise_mode": "const"}
    z = torch.randn(3, 8)
    assert torch.equal(G(z, **kw), G(z, lod=1, alpha=0.25, **kw))
    img = torch.randn(3, 1, 16, 16)
    assert torch.equal(D(img), D(img, lod=1, alpha=0.25))
    G2, _ = make_nets(kind)
    torch.manual_seed(1)
    G2.load_state_dict(sd)
    assert G2.stage() == (1, 0.25)
    assert torch.equal(G2(z, **kw), G(z, **kw))
    with pytest.raises(ValueError, match="lod must be"):
        G.set_stage(G.num_levels, 1.0)


def test_equalized_linear_matches_the_direct_formula():
    torch.manual_seed(0)
    layer = EqualizedLinear(300, 200, gain=1.7, lr_mult=0.01, bias_init=0.5)
    # Stored weights are N(0, 1 / lr_mult^2); the bias is stored divided by lr_mult.
    assert abs(layer.weight.std().item() * 0.01 - 1) < 0.02
    assert torch.allclose(layer.bias * 0.01, torch.full((200,), 0.5))
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(5, 300)
    w = layer.weight * (1.7 / math.sqrt(300) * 0.01)
    torch.testing.assert_close(layer(x), x @ w.t() + layer.bias * 0.01)
    # The effective weight's gradient is the stored weight's divided by the runtime scale.
    layer(x).sum().backward()
    w_eff = (layer.weight.detach() * (1.7 / math.sqrt(300) * 0.01)).requires_grad_(True)
    (x @ w_eff.t()).sum().backward()
    torch.testing.assert_close(layer.weight.grad, w_eff.grad * (1.7 / math.sqrt(300) * 0.01))


def test_equalized_conv_matches_the_direct_formula():
    torch.manual_seed(0)
    conv = EqualizedConv2d(6, 4, 3)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, 6, 5, 5)
    scale = math.sqrt(2) / math.sqrt(6 * 9)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * scale, conv.bias, padding=1))
    assert abs(conv.weight.std().item() - 1) < 0.15


def test_pixel_norm_matches_the_direct_formula():
    x = torch.randn(3, 7, 2, 2)
    expected = torch.empty_like(x)
    for n in range(3):
        for i in range(2):
            for j in range(2):
                v = x[n, :, i, j]
                expected[n, :, i, j] = v / math.sqrt(float((v ** 2).sum()) / 7 + 1e-8)
    torch.testing.assert_close(pixel_norm(x), expected)


@pytest.mark.parametrize("n,group,channels", [(8, 4, 1), (6, 4, 1), (3, 4, 1), (8, 2, 2)])
def test_minibatch_stddev_matches_the_direct_formula(n, group, channels):
    torch.manual_seed(0)
    x = torch.randn(n, 4, 3, 3)
    out = minibatch_stddev(x, group, channels)
    assert out.shape == (n, 4 + channels, 3, 3)
    assert torch.equal(out[:, :4], x)
    g = min(group, n)
    while n % g:
        g -= 1  # the group size lowered to a divisor of the batch
    m = n // g
    per = 4 // channels
    for i in range(n):
        members = [j for j in range(n) if j % m == i % m]  # the official [G, M] reshape
        assert len(members) == g
        xs = x[members]  # [G, C, H, W]
        std = (xs.var(dim=0, unbiased=False) + 1e-8).sqrt()  # [C, H, W]
        for k in range(channels):
            expected = std[k * per:(k + 1) * per].mean()
            torch.testing.assert_close(out[i, 4 + k], expected.expand(3, 3))


def test_blur_upsample_downsample():
    x = torch.randn(2, 3, 6, 6)
    k = torch.tensor([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=torch.float32) / 16
    expected = F.conv2d(F.pad(x, (1, 1, 1, 1)).reshape(6, 1, 8, 8), k[None, None]).reshape(2, 3, 6, 6)
    torch.testing.assert_close(blur(x), expected)
    const = torch.full((1, 1, 6, 6), 3.0)
    assert torch.allclose(blur(const)[..., 1:-1, 1:-1], const[..., 1:-1, 1:-1])
    up = upsample(x, 2)
    assert up.shape == (2, 3, 12, 12) and torch.equal(up[:, :, 1::2, ::2], x)
    assert torch.equal(downsample(up, 2), x)
    torch.testing.assert_close(downsample(x, 3)[0, 0, 0, 0], x[0, 0, :3, :3].mean())


def test_noise_injection_modes():
    torch.manual_seed(0)
    layer = NoiseInjection(3, 4)
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(layer(x), x)  # weights start at zero
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.0, 1.0, -2.0]))
    assert torch.equal(layer(x, "none"), x)
    const = layer(x, "const")
    assert torch.equal(const, layer(x, "const"))
    torch.testing.assert_close(const, x + layer.noise_const * layer.weight.view(1, 3, 1, 1))
    r1, r2 = layer(x, "random"), layer(x, "random")
    assert not torch.equal(r1, r2)
    assert torch.equal(r1[:, 0], x[:, 0])  # a zero scale adds nothing
    # One noise map per sample, shared by the channels (scaled by their weights).
    torch.testing.assert_close((r1[:, 2] - x[:, 2]), -2 * (r1[:, 1] - x[:, 1]))
    with pytest.raises(ValueError, match="noise_mode"):
        layer(x, "bogus")


def test_adain_matches_the_direct_formula():
    torch.manual_seed(0)
    layer = AdaIN(3, 5)
    with torch.no_grad():
        layer.affine.bias.normal_()
    x, w = torch.randn(2, 3, 4, 4), torch.randn(2, 5)
    style = layer.affine(w)
    mean = x.mean(dim=[2, 3], keepdim=True)
    std = ((x - mean).square().mean(dim=[2, 3], keepdim=True) + 1e-8).sqrt()
    expected = (x - mean) / std * (style[:, :3, None, None] + 1) + style[:, 3:, None, None]
    torch.testing.assert_close(layer(x, w), expected)


def test_truncation_psi_zero_gives_the_w_mean_image_for_every_seed():
    G, _ = make_nets("stylegan")
    with torch.no_grad():
        G.mapping.w_avg.normal_()
    assert G.num_ws == 6 and G.mapping.truncation_cutoff == 8
    imgs = G(torch.randn(5, 8), truncation_psi=0, noise_mode="const")
    mean_img = G.synthesis(G.mapping.w_avg.expand(1, G.num_ws, -1), noise_mode="const")
    assert torch.equal(G.mapping(torch.randn(5, 8), truncation_psi=0), G.mapping.w_avg.expand(5, G.num_ws, -1))
    for i in range(5):
        torch.testing.assert_close(imgs[i:i + 1], mean_img, rtol=1e-4, atol=1e-5)
    # A cutoff limits truncation to the first styles; psi interpolates towards w_avg.
    z = torch.randn(3, 8)
    ws, ws_t = G.mapping(z), G.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(ws_t[:, :2], G.mapping.w_avg + 0.5 * (ws[:, :2] - G.mapping.w_avg))
    assert torch.equal(ws_t[:, 2:], ws[:, 2:])


def test_w_avg_tracks_the_batch_mean_with_beta():
    G, _ = make_nets("stylegan")
    old = torch.randn(8)
    G.mapping.w_avg.copy_(old)
    z = torch.randn(6, 8)
    ws = G.mapping(z, update_w_avg=True)
    torch.testing.assert_close(G.mapping.w_avg, ws[:, 0].mean(0) + 0.995 * (old - ws[:, 0].mean(0)))
    before = G.mapping.w_avg.clone()
    G.mapping(z)
    assert torch.equal(G.mapping.w_avg, before)  # only training calls update it


def test_style_mixing_changes_only_the_layers_from_the_crossover():
    G, _ = make_nets("stylegan")
    ws1, ws2 = G.mapping(torch.randn(2, 8)), G.mapping(torch.randn(2, 8))
    k = 4  # styles 0-3 drive the 4 and 8 px levels
    mixed = torch.cat([ws1[:, :k], ws2[:, k:]], dim=1)
    # Levels below the crossover see only ws1: at 8 px (lod 1) the images agree ...
    a = G.synthesis(ws1, noise_mode="const", lod=1)
    b = G.synthesis(mixed, noise_mode="const", lod=1)
    assert torch.equal(a, b)
    # ... and the 16 px level, driven by styles 4-5, differs from both sources.
    full1 = G.synthesis(ws1, noise_mode="const", lod=0)
    fullm = G.synthesis(mixed, noise_mode="const", lod=0)
    full2 = G.synthesis(ws2, noise_mode="const", lod=0)
    assert not torch.allclose(fullm, full1) and not torch.allclose(fullm, full2)
    # Swapping styles below the crossover instead changes the coarse image.
    other = torch.cat([ws2[:, :k], ws1[:, k:]], dim=1)
    assert not torch.allclose(G.synthesis(other, noise_mode="const", lod=1), a)


def test_conditional_networks_need_labels():
    for kind in ("progan", "stylegan"):
        G, D = make_nets(kind, ncls=3)
        with pytest.raises(ValueError, match="class-conditional"):
            G(torch.randn(2, 8))
        with pytest.raises(ValueError, match="class-conditional"):
            D(torch.randn(2, 1, 16, 16))
    with pytest.raises(ValueError, match="power-of-two"):
        ProGANGenerator(8, 24, 1)
