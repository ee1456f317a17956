"""ganforge.nn.filtered_lrelu: the fast path against the reference formula (values and gradients), the
official filter design, output sizes, torch.compile, and the CPU benchmark's --check mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import scipy.special
import torch

from ganforge.nn.filtered_lrelu import (
    design_lowpass_filter,
    filtered_lrelu,
    filtered_lrelu_reference,
    output_size,
)

ROOT = Path(__file__).resolve().parents[2]

# (up, down, up taps, down taps, radial down filter, padding, clamp)
CASES = [
    (2, 2, 12, 12, False, [5, 6, 5, 6], None),       # T: a middle layer
    (4, 2, 24, 12, False, [9, 8, 7, 10], 256.0),     # T: the sampling rate doubles (lrelu_upsampling 2)
    (2, 1, 12, 1, False, [3, 4, 3, 4], 0.5),         # critically sampled: no down filter
    (1, 2, 1, 12, False, [-1, 4, 0, 3], None),       # no up filter, negative padding crops
    (2, 2, 12, 12, True, [11, 10, 11, 10], 0.7),     # R: radial down filter
    (4, 2, 24, 12, True, [9, 10, 9, 10], None),      # R with a rate change
    (1, 1, 1, 1, False, [-3, -2, 1, -1], 256.0),     # ToRGB-like identity filters
]


def _filters(up, down, nu, nd, radial, dtype):
    fs = 16 * max(up, down)
    fu = design_lowpass_filter(nu, 3.0, 5.0, fs)
    fd = design_lowpass_filter(nd, 3.0, 5.0, fs, radial=radial)
    return (None if fu is None else fu.to(dtype)), (None if fd is None else fd.to(dtype))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"up{c[0]}-down{c[1]}{'-radial' if c[4] else ''}-pad{c[5]}")
def test_fast_matches_reference_values_and_gradients(case):
    up, down, nu, nd, radial, pad, clamp = case
    fu, fd = _filters(up, down, nu, nd, radial, torch.float64)
    torch.manual_seed(0)
    x = torch.randn(2, 3, 13, 11, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    kw = {"fu": fu, "fd": fd, "up": up, "down": down, "padding": pad, "gain": 2 ** 0.5, "slope": 0.2, "clamp": clamp}
    ref = filtered_lrelu_reference(x, b=b, **kw)
    fast = filtered_lrelu(x, b=b, **kw)
    assert fast.shape == ref.shape == (2, 3, *output_size(11, 13, fu, fd, up, down, pad)[::-1])
    torch.testing.assert_close(fast, ref, rtol=0, atol=1e-12)
    g = torch.randn_like(ref)
    gx_ref, gb_ref = torch.autograd.grad(ref, (x, b), g)
    gx, gb = torch.autograd.grad(fast, (x, b), g)
    torch.testing.assert_close(gx, gx_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(gb, gb_ref, rtol=0, atol=1e-12)


def test_float32_and_gradcheck_small():
    fu, fd = _filters(2, 2, 12, 12, False, torch.float32)
    x = torch.randn(1, 2, 9, 9)
    kw = {"fu": fu, "fd": fd, "up": 2, "down": 2, "padding": [5, 6, 5, 6], "clamp": 1.0}
    torch.testing.assert_close(filtered_lrelu(x, **kw), filtered_lrelu_reference(x, **kw), rtol=0, atol=1e-5)
    # without autograd the nonlinearity runs in place; the caller's tensor must stay untouched
    x0 = x.clone()
    for kw_id in ({"clamp": 0.5}, {"padding": [-1, -2, 0, -1], "clamp": 0.5}):
        torch.testing.assert_close(filtered_lrelu(x, **kw_id), filtered_lrelu_reference(x, **kw_id), rtol=0, atol=0)
        assert torch.equal(x, x0)
    x64 = torch.randn(1, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    kw64 = {"fu": fu.double(), "fd": fd.double(), "up": 2, "down": 2, "padding": [5, 6, 5, 6]}
    assert torch.autograd.gradcheck(lambda t: filtered_lrelu(t, **kw64), (x64,))


def test_design_lowpass_filter_matches_official_formula():
    assert design_lowpass_filter(1, 4.0, 2.0, 16.0) is None
    f = design_lowpass_filter(12, 5.0, 6.0, 32.0)
    np.testing.assert_array_equal(f.numpy(), scipy.signal.firwin(12, 5.0, width=6.0, fs=32.0).astype(np.float32))
    r = design_lowpass_filter(12, 5.0, 6.0, 32.0, radial=True)
    assert r.shape == (12, 12)
    torch.testing.assert_close(r, r.t())
    torch.testing.assert_close(r, r.flip(0))
    assert abs(float(r.sum()) - 1) < 1e-6
    # independent jinc evaluation at one tap: J1(2 pi fc r) / (pi r) * w[i] * w[j] (normalised)
    pos = (np.arange(12) - 5.5) / 32.0
    win = np.kaiser(12, scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(12, 6.0 / 16.0)))
    rr = np.hypot(pos[:, None], pos[None, :])
    full = scipy.special.j1(2 * np.pi * 5.0 * rr) / (np.pi * rr) * np.outer(win, win)
    np.testing.assert_allclose(r.numpy(), full / full.sum(), rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_torch_compile_matches_eager():
    fu, fd = _filters(2, 2, 12, 12, True, torch.float32)
    fn = torch.compile(lambda t, b: filtered_lrelu(t, fu, fd, b, up=2, down=2, padding=[11, 10, 11, 10], clamp=1.0),
                       fullgraph=True)
    x = torch.randn(2, 3, 12, 12, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    out = fn(x, b)
    torch.testing.assert_close(out, filtered_lrelu(x, fu, fd, b, 2, 2, [11, 10, 11, 10], clamp=1.0),
                               rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert x.grad is not None and b.grad is not None


def test_benchmark_check_mode():
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "filtered_lrelu_cpu.py"), "--check"],
                         check=False, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "| check | L0_" in res.stdout and "**all layers**" in res.stdout
