"""StyleGAN2 networks: parity with the official NVlabs networks, and the maths behind them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.official import ANCHORS, anchor_nets

from ganforge.families.stylegan2 import networks as sg2
from ganforge.families.stylegan2.networks import Discriminator, Generator, MappingNetwork, labels_to_c
from ganforge.nn.stylegan_ops import (
    Conv2dLayer,
    FullyConnectedLayer,
    MinibatchStdLayer,
    conv2d_resample,
    downsample2d,
    filter2d,
    modulated_conv2d,
    normalize_2nd_moment,
    setup_filter,
    upfirdn2d,
    upsample2d,
)

TOL = 1e-4


def small_nets(res=16, c_dim=0, g_arch="skip", d_arch="resnet", seed=0, **kw):
    """Tiny G and D (channels 16-32) with non-trivial biases, noise strengths and w_avg."""
    torch.manual_seed(seed)
    G = Generator(z_dim=16, c_dim=c_dim, w_dim=16, img_resolution=res, img_channels=1,
                  mapping_kwargs=dict(num_layers=2), channel_base=128, channel_max=32, architecture=g_arch, **kw)
    D = Discriminator(c_dim=c_dim, img_resolution=res, img_channels=1, channel_base=128, channel_max=32,
                      architecture=d_arch, mapping_kwargs=dict(num_layers=2))
    with torch.no_grad():
        for name, p in list(G.named_parameters()) + list(D.named_parameters()):
            if name.endswith("bias") or name.endswith("noise_strength"):
                p.add_(0.3 * torch.randn_like(p))
        G.mapping.w_avg.normal_()
    return G, D


# ---------------------------------------------------------------------------------------------------
# (a) parity with the official networks


@pytest.fixture(scope="module")
def official():
    if not ANCHORS.is_dir():
        pytest.skip(f"official StyleGAN2 anchors not found at {ANCHORS.resolve()} (shared/anchors is not checked out)")
    cfg, G, D = anchor_nets()
    exp = {k: torch.from_numpy(np.asarray(v)) for k, v in np.load(ANCHORS / "sg2-32gray.expected.npz").items()}
    return cfg, G, D, exp


def _max_diff(a, b):
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def test_official_state_dict_loads_strictly_with_official_param_counts(official):
    cfg, G, D, _ = official
    assert G.num_ws == cfg["num_ws"] == 8
    assert sum(p.numel() for p in G.parameters()) == cfg["G_params"] == 748_715
    assert sum(p.numel() for p in D.parameters()) == cfg["D_params"] == 871_521
    names = set(G.state_dict())
    assert {"mapping.fc0.weight", "mapping.w_avg", "synthesis.b4.const", "synthesis.b4.conv1.noise_const",
            "synthesis.b8.torgb.affine.weight", "synthesis.b32.conv0.resample_filter"} <= names
    d_names = set(D.state_dict())
    assert {"b32.fromrgb.weight", "b16.skip.weight", "b4.conv.weight", "b4.fc.weight", "b4.out.bias"} <= d_names


@torch.no_grad()
def test_mapping_matches_official(official):
    _, G, _, e = official
    assert _max_diff(G.mapping(e["z"], e["c"]), e["ws"]) <= TOL
    assert _max_diff(G.mapping(e["z"], e["c"], truncation_psi=0.5), e["ws_psi05"]) <= TOL
    assert _max_diff(G.mapping(e["z"], None, truncation_psi=0.5), e["ws_psi05"]) <= TOL  # c may be None


@pytest.mark.parametrize("fused", [True, False])
@torch.no_grad()
def test_synthesis_matches_official(official, fused):
    _, G, _, e = official
    k = int(e["mix_cutoff"])
    ws_mix = torch.cat([e["ws"][:, :k], G.mapping(e["z2"], e["c"])[:, k:]], dim=1)
    cases = {
        "img_const": G.synthesis(e["ws"], noise_mode="const", fused_modconv=fused),
        "img_nonoise": G.synthesis(e["ws"], noise_mode="none", fused_modconv=fused),
        "img_psi05_const": G.synthesis(e["ws_psi05"], noise_mode="const", fused_modconv=fused),
        "img_mix_const": G.synthesis(ws_mix, noise_mode="const", fused_modconv=fused),
    }
    diffs = {name: _max_diff(img, e[name]) for name, img in cases.items()}
    assert all(d <= TOL for d in diffs.values()), diffs
    # The whole generator (eval mode: fused by 'inference_only') gives the same image.
    assert _max_diff(G(e["z"], e["c"], noise_mode="const"), e["img_const"]) <= TOL


@torch.no_grad()
def test_discriminator_matches_official(official):
    _, _, D, e = official
    assert _max_diff(D(e["reals"], e["c"]), e["d_logits_reals"]) <= TOL
    assert _max_diff(D(e["img_const"], e["c"]), e["d_logits_img_const"]) <= TOL
    assert _max_diff(D(e["reals"]), e["d_logits_reals"]) <= TOL  # c may be None when c_dim == 0


# ---------------------------------------------------------------------------------------------------
# (b) equalized learning rate and resampling


@pytest.mark.parametrize("activation", ["linear", "lrelu"])
def test_fully_connected_layer_equals_formula(activation):
    torch.manual_seed(0)
    lr = 0.01
    fc = FullyConnectedLayer(7, 5, activation=activation, lr_multiplier=lr, bias_init=0.5)
    assert fc.weight.std().item() == pytest.approx(1 / lr, rel=0.5)  # stored as N(0, 1) / lr_multiplier
    assert torch.equal(fc.bias.detach(), torch.full([5], 0.5))
    with torch.no_grad():
        fc.bias.add_(torch.randn(5))
    x = torch.randn(3, 7)
    y = x @ (fc.weight * lr / math.sqrt(7)).T + fc.bias * lr
    if activation == "lrelu":
        y = F.leaky_relu(y, 0.2) * math.sqrt(2)
    torch.testing.assert_close(fc(x), y)


def test_conv2d_layer_equals_formula_with_gain_and_clamp():
    torch.manual_seed(0)
    conv = Conv2dLayer(4, 6, kernel_size=3, activation="lrelu", conv_clamp=0.5)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, 4, 8, 8)
    pre = F.conv2d(x, conv.weight / math.sqrt(4 * 9), padding=1) + conv.bias[:, None, None]
    expected = (F.leaky_relu(pre, 0.2) * math.sqrt(2) * 0.7).clamp(-0.5 * 0.7, 0.5 * 0.7)
    torch.testing.assert_close(conv(x, gain=0.7), expected)
    assert (conv(x).abs().max() <= 0.5) and (pre.abs().max() * math.sqrt(2) > 0.5)  # the clamp bites


def test_upfirdn2d_matches_scipy_upfirdn_along_both_axes():
    scipy_signal = pytest.importorskip("scipy.signal")
    taps = np.array([1.0, 3.0, 3.0, 1.0])
    f = setup_filter(taps)
    x = np.random.default_rng(0).standard_normal((5, 6))
    ref = scipy_signal.upfirdn(taps / taps.sum(), x, up=2, axis=0)
    ref = scipy_signal.upfirdn(taps / taps.sum(), ref, up=2, axis=1)  # full convolution, [2*5+2, 2*6+2]
    out = upfirdn2d(torch.tensor(x, dtype=torch.float32)[None, None], f, up=2, padding=3)[0, 0]
    assert out.shape == (2 * 5 + 3, 2 * 6 + 3)  # + one trailing sample per axis from the last inserted zero
    np.testing.assert_allclose(out[:-1, :-1].numpy(), ref, atol=1e-6)
    assert out[-1].abs().max() == 0 and out[:, -1].abs().max() == 0


def test_fir_resampling_shapes_and_dc_gain():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and f.sum().item() == pytest.approx(1.0)
    x = torch.ones(1, 2, 8, 8)
    up, down, same = upsample2d(x, f), downsample2d(x, f), filter2d(x, f)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4) and same.shape == x.shape
    # A constant stays constant away from the zero-padded border.
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.ones_like(up[..., 2:-2, 2:-2]))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.ones_like(down[..., 1:-1, 1:-1]))
    torch.testing.assert_close(same[..., 2:-2, 2:-2], torch.ones_like(same[..., 2:-2, 2:-2]))


@pytest.mark.parametrize("k", [1, 3])
def test_resampling_conv_equals_pad_once_reference(k):
    """conv2d_resample pads once, as if conv and filter were one kernel: compare it with the plain
    'upsample-and-filter, then convolve' (up) and 'convolve, then filter-and-decimate' (down) forms."""
    torch.manual_seed(0)
    f = setup_filter([1, 3, 3, 1])
    x, w = torch.randn(2, 3, 8, 8), torch.randn(5, 3, k, k)
    p = k // 2
    # Up: the transposed conv is a true convolution with w (correlation with the flipped kernel).
    up_ref = F.conv2d(upfirdn2d(x, f, up=2, padding=(p + 2, p + 1, p + 2, p + 1), gain=4), w.flip([2, 3]))
    torch.testing.assert_close(conv2d_resample(x, w, f, up=2, padding=p), up_ref, atol=1e-5, rtol=1e-5)
    down_ref = upfirdn2d(F.conv2d(x, w, padding=p + 1), f, down=2)
    torch.testing.assert_close(conv2d_resample(x, w, f, down=2, padding=p), down_ref, atol=1e-5, rtol=1e-5)
    assert up_ref.shape[-1] == 16 and down_ref.shape[-1] == 4


# ---------------------------------------------------------------------------------------------------
# (c) modulated convolution


@pytest.mark.parametrize("up,demodulate", [(1, True), (2, True), (1, False)])
def test_modulated_conv_fused_and_non_fused_equal_per_sample_formula(up, demodulate):
    torch.manual_seed(0)
    f = setup_filter([1, 3, 3, 1])
    x, weight, styles = torch.randn(3, 4, 8, 8), torch.randn(5, 4, 3, 3), torch.randn(3, 4)
    noise = torch.randn(3, 1, 8 * up, 8 * up)
    kw = dict(up=up, padding=1, resample_filter=f, demodulate=demodulate, noise=noise)
    fused = modulated_conv2d(x, weight, styles, fused_modconv=True, **kw)
    split = modulated_conv2d(x, weight, styles, fused_modconv=False, **kw)
    expected = []
    for n in range(3):
        w = weight * styles[n][None, :, None, None]
        if demodulate:
            w = w * (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).rsqrt()
        expected.append(conv2d_resample(x[n:n + 1], w, f, up=up, padding=1) + noise[n:n + 1])
    expected = torch.cat(expected)
    torch.testing.assert_close(fused, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(split, expected, atol=1e-5, rtol=1e-5)
    if demodulate and up == 1:  # demodulated outputs have unit variance for unit-variance inputs
        assert 0.7 < (fused - noise).std().item() < 1.3


def test_normalize_2nd_moment_and_minibatch_std():
    x = torch.randn(4, 10) * 5
    assert torch.allclose(normalize_2nd_moment(x).square().mean(dim=1), torch.ones(4), atol=1e-5)
    torch.manual_seed(0)
    x = torch.randn(8, 6, 3, 3)
    y = MinibatchStdLayer(group_size=4, num_channels=2)(x)
    assert y.shape == (8, 8, 3, 3)
    # Group j holds samples j, j + 2, j + 4, j + 6; channel group f holds channels 3f .. 3f + 2.
    for j in range(2):
        for fi in range(2):
            members = x[j::2, 3 * fi: 3 * fi + 3]
            std = (members.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
            assert torch.allclose(y[j::2, 6 + fi], std.expand(4, 3, 3), atol=1e-6)
    with pytest.raises(ValueError, match="not divisible"):
        MinibatchStdLayer(group_size=4)(torch.randn(6, 2, 3, 3))


# ---------------------------------------------------------------------------------------------------
# (d) truncation and w_avg


@torch.no_grad()
def test_psi_zero_maps_every_z_to_w_avg():
    G, _ = small_nets()
    G.eval()
    z = torch.randn(5, 16)
    ws = G.mapping(z, None, truncation_psi=0)
    assert torch.equal(ws, G.mapping.w_avg.expand(5, G.num_ws, -1))
    img = G(z, None, truncation_psi=0, noise_mode="const")
    # Every seed gives the same image (up to float rounding: the batched convs may sum in different orders).
    torch.testing.assert_close(img, img[:1].expand_as(img), atol=1e-5, rtol=0)
    assert img.std() > 0
    # With a cutoff only the first layers are truncated.
    ws_cut = G.mapping(z, None, truncation_psi=0, truncation_cutoff=2)
    assert torch.equal(ws_cut[:, :2], G.mapping.w_avg.expand(5, 2, -1))
    assert torch.equal(ws_cut[:, 2:], G.mapping(z, None)[:, 2:])


def test_w_avg_tracks_the_mean_w_only_when_asked():
    G, _ = small_nets()
    z = torch.randn(6, 16)
    old = G.mapping.w_avg.clone()
    G.mapping(z, None)
    assert torch.equal(G.mapping.w_avg, old)
    ws = G.mapping(z, None, update_emas=True)
    torch.testing.assert_close(G.mapping.w_avg, ws[:, 0].mean(dim=0).lerp(old, 0.998))


# ---------------------------------------------------------------------------------------------------
# (e) style mixing: which ws index drives which layer


def test_ws_layout_and_style_mixing():
    G, _ = small_nets(res=16)
    G.eval()
    layout = G.synthesis.ws_layout()
    assert layout == {"b4.conv1": 0, "b4.torgb": 1, "b8.conv0": 1, "b8.conv1": 2, "b8.torgb": 3,
                      "b16.conv0": 3, "b16.conv1": 4, "b16.torgb": 5}
    assert G.num_ws == 6

    seen, outputs = {}, {}
    hooks = []
    for name in layout:
        layer = G.synthesis.get_submodule(name)
        hooks.append(layer.affine.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, i[0])))
        hooks.append(layer.register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o)))
    torch.manual_seed(1)
    ws1, ws2 = torch.randn(2, 6, 16), torch.randn(2, 6, 16)
    with torch.no_grad():
        img1 = G.synthesis(ws1, noise_mode="const")
        for name, idx in layout.items():
            assert torch.equal(seen[name], ws1[:, idx]), name
        out1 = dict(outputs)
        for k in range(1, 6):
            # Mixing at cutoff k: layers reading ws[:, :k] (and their inputs, which come from layers
            # with smaller indices) are untouched; every layer reading ws[:, k:] changes.
            img_mix = G.synthesis(torch.cat([ws1[:, :k], ws2[:, k:]], dim=1), noise_mode="const")
            for name, idx in layout.items():
                assert torch.equal(outputs[name], out1[name]) == (idx < k), (k, name)
            assert not torch.equal(img_mix, img1)
    for h in hooks:
        h.remove()


# ---------------------------------------------------------------------------------------------------
# (f) noise modes


@torch.no_grad()
def test_noise_modes():
    G, _ = small_nets()
    G.eval()
    ws = G.mapping(torch.randn(3, 16), None)
    const1, const2 = G.synthesis(ws, noise_mode="const"), G.synthesis(ws, noise_mode="const")
    assert torch.equal(const1, const2)
    assert not torch.equal(G.synthesis(ws, noise_mode="random"), G.synthesis(ws, noise_mode="random"))
    none = G.synthesis(ws, noise_mode="none")
    assert not torch.equal(none, const1)
    for m in G.modules():
        if isinstance(m, sg2.SynthesisLayer):
            m.noise_const.zero_()
    torch.testing.assert_close(G.synthesis(ws, noise_mode="const"), none, atol=0, rtol=0)
    for m in G.modules():
        if isinstance(m, sg2.SynthesisLayer):
            m.noise_strength.zero_()
    torch.testing.assert_close(G.synthesis(ws, noise_mode="random"), none, atol=0, rtol=0)
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(ws, noise_mode="fixed")


# ---------------------------------------------------------------------------------------------------
# (g) gradients


@pytest.mark.parametrize("fused,g_arch,d_arch", [("inference_only", "skip", "resnet"), (True, "orig", "skip"),
                                                  (True, "resnet", "orig")])
def test_gradients_reach_every_trainable_parameter(fused, g_arch, d_arch):
    G, D = small_nets(c_dim=3, g_arch=g_arch, d_arch=d_arch, fused_modconv_default=fused)
    G.train(), D.train()
    c = torch.tensor([0, 1, 2, 1])
    img = G(torch.randn(4, 16), c)
    (D(img, c).sum() + D(torch.randn(4, 1, 16, 16), c).sum()).backward()
    for name, p in list(G.named_parameters(prefix="G")) + list(D.named_parameters(prefix="D")):
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"


def test_double_backward_for_r1_and_path_length():
    G, D = small_nets()
    G.train(), D.train()
    reals = torch.randn(4, 1, 16, 16, requires_grad=True)
    (grad,) = torch.autograd.grad(D(reals).sum(), reals, create_graph=True)
    grad.square().sum().backward()
    assert D.b16.conv0.weight.grad.abs().sum() > 0
    ws = G.mapping(torch.randn(4, 16), None)
    img = G.synthesis(ws)
    (gw,) = torch.autograd.grad((img * torch.randn_like(img)).sum(), ws, create_graph=True)
    gw.square().sum().backward()
    assert G.synthesis.b16.conv1.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------------
# (h) architectures, conditioning, fp16 path


@pytest.mark.parametrize("arch", ["orig", "skip", "resnet"])
def test_architectures_build_and_run(arch):
    G, D = small_nets(g_arch=arch, d_arch=arch)
    img = G(torch.randn(4, 16), None)
    assert img.shape == (4, 1, 16, 16) and img.dtype == torch.float32
    assert D(img).shape == (4, 1)
    g_names, d_names = set(G.state_dict()), set(D.state_dict())
    assert ("synthesis.b8.torgb.weight" in g_names) == (arch == "skip")
    assert "synthesis.b16.torgb.weight" in g_names
    assert ("synthesis.b8.skip.weight" in g_names) == (arch == "resnet")
    assert ("b8.fromrgb.weight" in d_names) == (arch == "skip") and "b16.fromrgb.weight" in d_names
    assert ("b4.fromrgb.weight" in d_names) == (arch == "skip")
    assert ("b16.skip.weight" in d_names) == (arch == "resnet")
    assert G.num_ws == 6


@torch.no_grad()
def test_conditional_int_labels_equal_one_hot():
    G, D = small_nets(c_dim=3)
    G.eval()
    assert G.num_classes == D.num_classes == 3 and G.z_dim == 16
    labels = torch.tensor([2, 0, 1, 2])
    onehot = F.one_hot(labels, 3).float()
    z = torch.randn(4, 16)
    torch.testing.assert_close(G(z, labels, noise_mode="const"), G(z, onehot, noise_mode="const"), atol=0, rtol=0)
    img = G(z, labels, noise_mode="const")
    torch.testing.assert_close(D(img, labels), D(img, onehot), atol=0, rtol=0)
    assert not torch.equal(D(img, labels), D(img, torch.tensor([0, 1, 2, 0])))
    assert "mapping.embed.weight" in G.state_dict() and "mapping.embed.weight" in D.state_dict()
    with pytest.raises(ValueError, match="needs labels"):
        G(z, None)
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        D(img, torch.zeros(4, 5))
    assert labels_to_c(labels, 0) is None


def test_discriminator_label_mapping_defaults_to_eight_layers():
    D = Discriminator(c_dim=3, img_resolution=8, img_channels=1, channel_base=64, channel_max=16)
    assert D.mapping.num_layers == 8 and D.mapping.w_dim == 16 and not hasattr(D.mapping, "w_avg")
    assert isinstance(D.mapping, MappingNetwork) and D.b4.cmap_dim == 16


@torch.no_grad()
def test_fp16_blocks(monkeypatch):
    """num_fp16_res: fp32 on CPU as official; with fp16 allowed on CPU the selected blocks compute in
    float16 and the output stays float32 and close to the fp32 result."""
    G, D = small_nets(num_fp16_res=2)
    G.eval()
    assert [G.synthesis.get_submodule(f"b{r}").use_fp16 for r in (4, 8, 16)] == [False, True, True]
    assert [D.get_submodule(f"b{r}").use_fp16 for r in (8, 16)] == [True, True]  # D: 4 fp16 res, never below 8
    ws, reals = G.mapping(torch.randn(4, 16), None), torch.randn(4, 1, 16, 16)
    img32, logits32 = G.synthesis(ws, noise_mode="const"), D(reals)
    dtypes = {}
    hook = G.synthesis.b16.conv1.register_forward_hook(lambda m, i, o: dtypes.__setitem__("g", o.dtype))
    G.synthesis(ws, noise_mode="const")
    assert dtypes["g"] == torch.float32
    monkeypatch.setattr(sg2, "FP16_DEVICE_TYPES", ("cuda", "cpu"))
    img16, logits16 = G.synthesis(ws, noise_mode="const"), D(reals)
    assert dtypes["g"] == torch.float16 and img16.dtype == logits16.dtype == torch.float32
    assert (img16 - img32).abs().max() < 0.05 * img32.abs().max()
    assert (logits16 - logits32).abs().max() < 0.05 * logits32.abs().max() + 1e-3
    torch.testing.assert_close(G.synthesis(ws, noise_mode="const", force_fp32=True), img32, atol=0, rtol=0)
    hook.remove()


# ---------------------------------------------------------------------------------------------------
# (i) parameter counts of the official 256 px configuration


def test_param_counts_of_official_256px_config():
    with torch.device("meta"):
        G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3,
                      mapping_kwargs=dict(num_layers=2), channel_base=16384, channel_max=512)
        D = Discriminator(c_dim=0, img_resolution=256, img_channels=3, channel_base=16384, channel_max=512,
                          epilogue_kwargs=dict(mbstd_group_size=4, mbstd_num_channels=1))
    assert round(sum(p.numel() for p in G.parameters()) / 1e6, 2) == 23.19
    assert round(sum(p.numel() for p in D.parameters()) / 1e6, 2) == 24.00
    assert G.num_ws == 14
