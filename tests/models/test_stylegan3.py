"""StyleGAN3 generator: parity with the official anchors, parameter counts, the layer schedule against an
independent re-derivation of the official formula, the input transform, the magnitude EMA, interface."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge.families.stylegan3.networks import (
    Generator,
    SynthesisLayer,
    has_input_transform,
    layer_schedule,
    make_transform,
)

ANCHORS = Path("/work/shared/anchors/stylegan3-official")
TOL = 1e-4
OUTPUTS = ("ws", "ws_psi05", "img", "img_psi05", "img_transformed")


def _anchor(name: str) -> tuple[Generator, dict, dict[str, np.ndarray]]:
    if not (ANCHORS / f"{name}.safetensors").exists():
        pytest.skip(f"anchor {name} not available")
    from safetensors.torch import load_file

    cfg = json.loads((ANCHORS / f"{name}.json").read_text())
    G = Generator(**cfg["G_kwargs"]).eval()
    state = {k.removeprefix("G_ema."): v for k, v in load_file(str(ANCHORS / f"{name}.safetensors")).items()}
    G.load_state_dict(state, strict=True)
    expected = dict(np.load(ANCHORS / f"{name}.expected.npz"))
    return G, cfg, expected


@pytest.fixture(scope="module", params=["sg3t-32gray", "sg3r-32gray"])
def anchor(request):
    return (request.param, *_anchor(request.param))


def test_anchor_parity(anchor):
    name, G, cfg, e = anchor
    z = torch.from_numpy(e["z"])
    transform = G.synthesis.input.transform.clone()
    with torch.no_grad():
        got = {"ws": G.mapping(z, None), "ws_psi05": G.mapping(z, None, truncation_psi=0.5)}
        got["img"] = G.synthesis(got["ws"])
        got["img_psi05"] = G.synthesis(got["ws_psi05"])
        G.synthesis.input.transform.copy_(torch.from_numpy(e["transform"]))
        got["img_transformed"] = G.synthesis(got["ws"])
        G.synthesis.input.transform.copy_(transform)
    diffs = {k: float((got[k] - torch.from_numpy(e[k])).abs().max()) for k in OUTPUTS}
    print(f"\n{name} max abs diff: " + ", ".join(f"{k}={v:.3g}" for k, v in diffs.items()))
    assert all(v <= TOL for v in diffs.values()), diffs
    assert got["img"].shape == (4, 1, 32, 32)
    assert G.num_ws == cfg["num_ws"] == 16
    assert sum(p.numel() for p in G.parameters()) == cfg["G_params"]


def test_identity_filters_absent_from_state_dict(anchor):
    _, G, _, _ = anchor
    keys = set(G.state_dict())
    for name in G.synthesis.layer_names:
        layer = getattr(G.synthesis, name)
        assert (f"synthesis.{name}.up_filter" in keys) == (layer.up_taps > 1)
        assert (f"synthesis.{name}.down_filter" in keys) == (layer.down_taps > 1)
    torgb = getattr(G.synthesis, G.synthesis.layer_names[-1])
    assert torgb.up_filter is None and torgb.down_filter is None


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, 28_472_133),
    ({"channel_base": 65536, "channel_max": 1024, "conv_kernel": 1, "use_radial_filters": True}, 18_816_387),
])
def test_official_256px_parameter_counts(kwargs, expected):
    with torch.device("meta"):
        G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3,
                      mapping_kwargs={"num_layers": 2}, **kwargs)
    assert sum(p.numel() for p in G.parameters()) == expected
    assert G.num_ws == 16 and len(G.layer_resolutions) == 16


def _official_schedule(res, ch, cbase, cmax, n, ncrit, fc0, ft0, rel, margin):
    """Independent per-layer re-derivation (paper appendix F / official networks_stylegan3.py)."""
    rows = []
    fcN, ftN = res / 2, res / 2 * rel
    for i in range(n + 1):
        t = min(i / (n - ncrit), 1.0)
        fc = fc0 * (fcN / fc0) ** t
        ft = ft0 * (ftN / ft0) ** t
        s = 2.0 ** math.ceil(math.log2(min(2 * ft, res)))
        fh = max(ft, s / 2) - fc
        size = res if i >= n - 1 else s + 2 * margin
        c = ch if i == n else float(round(min(cbase / 2 / fc, cmax)))
        rows.append((fc, ft, s, fh, size, c))
    return np.array(rows, dtype=np.float64).T


@pytest.mark.parametrize("cfg", [
    (32, 1, 1024, 128, 14, 2, 2, 2 ** 2.1, 2 ** 0.3, 10),
    (256, 3, 32768, 512, 14, 2, 2, 2 ** 2.1, 2 ** 0.3, 10),
    (1024, 3, 65536, 1024, 14, 2, 2, 2 ** 2.1, 2 ** 0.3, 10),
    (64, 3, 16384, 256, 10, 3, 3, 2 ** 2.5, 2 ** 0.4, 6),
    (512, 3, 32768, 512, 8, 1, 2, 2 ** 2.1, 2 ** 0.3, 0),
])
def test_layer_schedule_matches_official_formula(cfg):
    got = layer_schedule(*cfg)
    want = _official_schedule(*cfg)
    for row, key in enumerate(("cutoffs", "stopbands", "sampling_rates", "half_widths", "sizes", "channels")):
        np.testing.assert_allclose(got[key], want[row], rtol=1e-12, err_msg=key)
    assert got["sampling_rates"][-1] == cfg[0] and got["sizes"][-1] == cfg[0]


def test_layer_padding_gives_out_size():
    """The official padding formula produces exactly out_size samples for every layer of a 256 px G."""
    with torch.device("meta"):
        G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=256, img_channels=3, channel_base=512, channel_max=8)
    for name in G.synthesis.layer_names:
        layer: SynthesisLayer = getattr(G.synthesis, name)
        px0, px1, py0, py1 = layer.padding
        n = int(layer.in_size[0]) + layer.conv_kernel - 1
        for p0, p1 in ((px0, px1), (py0, py1)):
            out = (n * layer.up_factor + p0 + p1 - (layer.up_taps - 1) - (layer.down_taps - 1)
                   + layer.down_factor - 1) // layer.down_factor
            assert out == int(layer.out_size[0]), name


def test_transform_identity_and_integer_translation(anchor):
    name, G, _, e = anchor
    ws = torch.from_numpy(e["ws"])[:2]
    saved = G.synthesis.input.transform.clone()
    try:
        with torch.no_grad():
            base = G.synthesis(ws)
            G.synthesis.input.transform.copy_(torch.from_numpy(np.linalg.inv(make_transform((0, 0), 0))))
            assert torch.equal(G.synthesis(ws), base)
            k, res = 2, G.img_resolution
            for axis, dim in ((0, 3), (1, 2)):
                shift = [0.0, 0.0]
                shift[axis] = k / res
                G.synthesis.input.transform.copy_(torch.from_numpy(np.linalg.inv(make_transform(shift, 0))))
                moved = G.synthesis(ws)
                # the image content moves by +k pixels along the axis; compare away from the borders
                a = moved.narrow(dim, k, res - k)[:, :, 6:-6, 6:-6]
                b = base.narrow(dim, 0, res - k)[:, :, 6:-6, 6:-6]
                err = float((a - b).abs().max())
                print(f"\n{name} translate {k}px axis {axis}: interior max abs diff {err:.3g}")
                assert err <= 1e-2 * float(base.abs().max())
                assert float((moved - base).abs().max()) > 10 * err  # it really moved
    finally:
        G.synthesis.input.transform.copy_(saved)


def test_magnitude_ema_updates_only_when_asked_and_deterministically(anchor):
    _, G, _, e = anchor
    ws = torch.from_numpy(e["ws"])[:2]
    before = {k: v.clone() for k, v in G.state_dict().items() if k.endswith("magnitude_ema")}
    with torch.no_grad():
        G.synthesis(ws)
        assert all(torch.equal(G.state_dict()[k], v) for k, v in before.items())
        G.synthesis(ws, update_emas=True)
        first = {k: G.state_dict()[k].clone() for k in before}
        assert all(not torch.equal(first[k], before[k]) for k in before)
        # expected value for the first layer: lerp(mean(x^2), ema, beta) of its input
        layer0 = getattr(G.synthesis, G.synthesis.layer_names[0])
        x0 = G.synthesis.input(ws[:, 0])
        k0 = f"synthesis.{G.synthesis.layer_names[0]}.magnitude_ema"
        want = x0.square().mean().lerp(before[k0], layer0.magnitude_ema_beta)
        torch.testing.assert_close(first[k0], want, rtol=1e-6, atol=0)
        G.load_state_dict({**G.state_dict(), **before})
        G.synthesis(ws, update_emas=True)
        assert all(torch.equal(G.state_dict()[k], first[k]) for k in before)
        G.load_state_dict({**G.state_dict(), **before})


def test_generator_interface():
    torch.manual_seed(0)
    G = Generator(z_dim=16, c_dim=3, w_dim=16, img_resolution=16, img_channels=3, channel_base=256, channel_max=16,
                  num_layers=6, margin_size=4)
    assert G.has_noise is False and G.num_classes == 3 and has_input_transform(G)
    assert G.synthesis.input.transform.shape == (3, 3)
    assert len(G.layer_resolutions) == G.num_ws == 8 and G.layer_resolutions[-1] == 16
    z = torch.randn(2, 16)
    with torch.no_grad():
        a = G(z, torch.tensor([0, 2]), noise_mode="random")
        b = G(z, torch.nn.functional.one_hot(torch.tensor([0, 2]), 3).float(), noise_mode="const")
    assert a.shape == (2, 3, 16, 16) and torch.equal(a, b)
    img = G(z, torch.tensor([1, 1]))
    img.square().mean().backward()
    assert G.synthesis.input.weight.grad is not None and G.mapping.fc0.weight.grad is not None
    assert all(p.grad is not None for p in G.synthesis.parameters())


def test_make_transform_matches_official_convention():
    m = make_transform((0.1, -0.2), 0.3)
    c, s = math.cos(0.3), math.sin(0.3)
    np.testing.assert_allclose(m, [[c, s, 0.1], [-s, c, -0.2], [0, 0, 1]])


def test_fp16_layers_where_enabled(monkeypatch):
    """Layers flagged use_fp16 compute in float16 where enabled (official: CUDA; here CPU is added to run
    the path without a GPU); the output stays float32 and close to fp32; force_fp32 restores fp32 exactly."""
    import ganforge.families.stylegan3.networks as sg3

    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=1, channel_base=64, channel_max=4,
                  num_layers=4, margin_size=2, num_fp16_res=1)
    flags = [getattr(G.synthesis, n).use_fp16 for n in G.synthesis.layer_names]
    assert flags == [bool(r * 2 > 16) for r in G.synthesis.schedule["sampling_rates"]] and any(flags)
    z = torch.randn(1, 8)
    with torch.no_grad():
        full = G(z)
        monkeypatch.setattr(sg3, "FP16_DEVICE_TYPES", ("cuda", "cpu"))
        half = G(z)
        forced = G(z, force_fp32=True)
    assert half.dtype == torch.float32 and torch.equal(forced, full)
    assert 0 < float((half - full).abs().max()) <= 2e-2 * max(1.0, float(full.abs().max()))


@pytest.mark.slow
def test_synthesis_under_torch_compile():
    """fullgraph torch.compile of the synthesis network (no numpy values traced in forward), with grads."""
    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=1, channel_base=64, channel_max=4,
                  num_layers=4, margin_size=2, use_radial_filters=True)
    ws = G.mapping(torch.randn(2, 8)).detach()
    eager = G.synthesis(ws)
    out = torch.compile(G.synthesis, fullgraph=True)(ws)
    torch.testing.assert_close(out, eager, rtol=1e-5, atol=1e-5)
    out.square().mean().backward()
    assert G.synthesis.input.weight.grad is not None
