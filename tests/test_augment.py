"""Augmentation that D sees (DiffAugment, ADA): identity at p = 0, differentiable, ADA's controller,
exact resume with p, and the same mechanism in every family."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

import ganforge
from ganforge import augment as A
from ganforge.config import AugmentConfig, apply_overrides
from ganforge.errors import GanforgeError
from ganforge.presets import get_preset
from helpers.training import assert_states_equal, final_state, tiny_cfg


def _x(n=4, c=3, s=16, seed=0, grad=False):
    x = torch.rand(n, c, s, s, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return x.requires_grad_(grad)


def _g(seed=1):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- identity at p = 0


@pytest.mark.parametrize("pipe", ["b", "g", "c", "bgc"])
def test_ada_is_the_identity_at_p_zero(pipe):
    assert torch.equal(A.ada_geometry(5, 0.0, pipe, (16, 16), _g(), "cpu"), torch.eye(3).expand(5, 3, 3))
    assert torch.equal(A.ada_color(5, 0.0, _g(), "cpu"), torch.eye(4).expand(5, 4, 4))
    aug = A.Augment(AugmentConfig(kind="ada", pipe=pipe, p=1e-12, target=None), _g())
    x = _x()
    assert torch.equal(aug(x), x)  # every gate drawn, none fires: the images come back bit for bit


@pytest.mark.parametrize("op", A.DIFFAUGMENT_OPS)
def test_diffaugment_is_the_identity_at_p_zero(op):
    aug = A.Augment(AugmentConfig(kind="diffaugment", policy=op, p=1e-12), _g())
    x = _x()
    assert torch.equal(aug(x), x)
    assert not torch.equal(A.Augment(AugmentConfig(kind="diffaugment", policy=op, p=1.0), _g())(x), x)


# ---------------------------------------------------------------- differentiable


@pytest.mark.parametrize("kind,spec", [("diffaugment", "color"), ("diffaugment", "translation"),
                                       ("diffaugment", "cutout"), ("ada", "b"), ("ada", "g"), ("ada", "c")])
def test_each_augmentation_is_differentiable(kind, spec):
    field = "policy" if kind == "diffaugment" else "pipe"
    cfg = AugmentConfig(kind=kind, p=1.0, target=None, **{field: spec})

    def f(x):  # a fresh generator per call: the same transform every time, as gradcheck needs
        return A.Augment(cfg, _g(3))(x)

    x = _x(2, 3, 8, grad=True).double()
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5)
    y = f(x)
    (grad,) = torch.autograd.grad(y.square().sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


# ---------------------------------------------------------------- the transforms themselves


def test_geometry_matrices_do_what_they_say():
    x = _x(1, 3, 8)
    flip = A._scale(torch.tensor([-1.0]), torch.tensor([1.0]))
    assert torch.allclose(A.apply_geometry(x, flip), x.flip(-1), atol=1e-6)
    quarter = A._rotate(torch.tensor([math.pi / 2]))
    out = A.apply_geometry(x, quarter)
    assert torch.allclose(out, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5) or \
        torch.allclose(out, torch.rot90(x, -1, dims=(-2, -1)), atol=1e-5)


def test_diffaugment_translation_and_cutout_bounds():
    x = torch.ones(64, 1, 16, 16)
    t = A.diff_translation(x, _g())
    zero_rows = (t == 0).all(dim=3).sum(dim=(1, 2))  # rows shifted in are zero
    assert zero_rows.max() <= 2 and zero_rows.max() >= 1  # at most 1/8 of 16 = 2 pixels
    dy, dx = torch.tensor([1, -2]), torch.tensor([0, 1])
    img = torch.arange(16.0).view(1, 1, 4, 4).repeat(2, 1, 1, 1)
    s = A._shift(img, dy, dx)
    assert torch.equal(s[0, 0, 1:], img[0, 0, :3]) and torch.equal(s[0, 0, 0], torch.zeros(4))
    assert torch.equal(s[1, 0, :2, 1:], img[1, 0, 2:, :3])
    c = A.diff_cutout(x, _g())
    holes = (c == 0).sum(dim=(1, 2, 3))
    assert holes.max() == 64 and holes.min() > 0  # an 8x8 square, clipped at the borders


def test_color_matrices_on_gray_and_rgb():
    x = _x(3, 3, 4)
    brighter = torch.eye(4).expand(3, 4, 4).clone()
    brighter[:, :3, 3] = 0.25
    assert torch.allclose(A.apply_color(x, brighter), x + 0.25)
    gray = _x(3, 1, 4)
    assert torch.allclose(A.apply_color(gray, brighter), gray + 0.25)
    c = A.ada_color(64, 1.0, _g(), "cpu")  # luma flip, hue, saturation: all keep the luma axis an axis
    axis = torch.tensor([1.0, 1.0, 1.0, 0.0])
    moved = c @ axis
    assert torch.allclose(moved[:, 0], moved[:, 1], atol=1e-5) and torch.allclose(moved[:, 1], moved[:, 2], atol=1e-5)


# ---------------------------------------------------------------- ADA's controller


def _ada(p=0.0, target=0.6, kimg=500.0, interval=4):
    return A.Augment(AugmentConfig(kind="ada", p=p, target=target, ada_kimg=kimg, ada_interval=interval), _g())


def test_ada_p_rises_when_d_overfits_and_falls_when_it_does_not():
    batch, step = 64, 64 * 4 / (500.0 * 1000)
    up = _ada(p=0.3)
    for _ in range(8):  # D confident on every real: sign(D(real)) = +1 > 0.6
        up.observe(torch.tensor(1.0))
        up.end_step(batch)
    assert up.p == pytest.approx(0.3 + 2 * step)  # two adjustments, one per 4 steps
    down = _ada(p=0.3)
    for _ in range(8):  # D undecided: E[sign] = 0 < 0.6
        down.observe(torch.tensor(0.0))
        down.end_step(batch)
    assert down.p == pytest.approx(0.3 - 2 * step)
    floor = _ada(p=0.0)
    for _ in range(4):
        floor.observe(-1.0)
        floor.end_step(batch)
    assert floor.p == 0.0  # clamped
    fixed = _ada(p=0.3, target=None)
    for _ in range(8):
        fixed.observe(1.0)
        fixed.end_step(batch)
    assert fixed.p == 0.3


def test_ada_reaches_one_in_ada_kimg():
    a = _ada(kimg=1.0, interval=1)  # p may go from 0 to 1 in 1000 images
    for _ in range(1000 // 50):
        a.observe(1.0)
        a.end_step(50)
    assert a.p == pytest.approx(1.0)


# ---------------------------------------------------------------- in training


def test_ada_p_is_in_stats_checkpoint_and_resume_is_exact(tmp_path, tiny_dataset):
    over = {"augment.kind": "ada", "augment.p": 0.2, "augment.ada_kimg": 0.5, "augment.ada_interval": 1}
    full = ganforge.train(tiny_cfg("dcgan-tiny", steps=6, **over), out=tmp_path / "a", dataset=tiny_dataset)
    part = ganforge.train(tiny_cfg("dcgan-tiny", steps=2, **over), out=tmp_path / "b", dataset=tiny_dataset)
    resumed = ganforge.train(tiny_cfg("dcgan-tiny", steps=6, **over), out=tmp_path / "b", resume="auto",
                             dataset=tiny_dataset)
    a, b = final_state(full.run_dir), final_state(resumed.run_dir)
    assert_states_equal(a, b)
    assert a["augment"] == b["augment"] and a["augment"]["p"] != 0.2  # p moved, and resumed where it was
    import json

    rows = [json.loads(line) for line in (full.run_dir / "stats.jsonl").read_text().splitlines()]
    assert all("augment/p" in r and "D/real_sign" in r for r in rows)
    assert rows[-1]["augment/p"] == pytest.approx(a["augment"]["p"])


def test_diffaugment_resume_is_exact(tmp_path, tiny_dataset):
    over = {"augment.kind": "diffaugment"}
    full = ganforge.train(tiny_cfg("wgangp-tiny", steps=4, **over), out=tmp_path / "a", dataset=tiny_dataset)
    ganforge.train(tiny_cfg("wgangp-tiny", steps=2, **over), out=tmp_path / "b", dataset=tiny_dataset)
    resumed = ganforge.train(tiny_cfg("wgangp-tiny", steps=4, **over), out=tmp_path / "b", resume="auto",
                             dataset=tiny_dataset)
    assert_states_equal(final_state(full.run_dir), final_state(resumed.run_dir))


@pytest.mark.parametrize("preset", ["dcgan-tiny", "progan-tiny", "stylegan-tiny", "stylegan2-tiny", "stylegan3-t-tiny"])
def test_every_family_feeds_d_through_the_augmentation(tmp_path, tiny_dataset, preset, monkeypatch):
    seen = []
    real_call = A.Augment.__call__

    def spy(self, x):
        seen.append(tuple(x.shape))
        return real_call(self, x)

    monkeypatch.setattr(A.Augment, "__call__", spy)
    cfg = get_preset(preset)
    steps = 2
    cfg = apply_overrides(cfg, {"train.total_kimg": steps * cfg.train.batch_size / 1000,
                                "augment.kind": "ada", "augment.p": 0.5, "train.progress": False})
    r = ganforge.train(cfg, out=tmp_path, dataset=tiny_dataset)
    assert r.steps == steps
    assert len(seen) >= 3 * steps  # reals and fakes for D, fakes for G, every step


def test_no_augmentation_changes_nothing(tmp_path, tiny_dataset):
    # augment.kind none (the default) draws no random numbers: runs equal those of a config without the section
    a = ganforge.train(tiny_cfg("dcgan-tiny", steps=3), out=tmp_path / "a", dataset=tiny_dataset)
    cfg = tiny_cfg("dcgan-tiny", steps=3)
    b = ganforge.train(replace(cfg, augment=AugmentConfig(kind=None, p=0.9)), out=tmp_path / "b", dataset=tiny_dataset)
    assert_states_equal(final_state(a.run_dir), final_state(b.run_dir))


def test_bad_augment_config_is_refused_before_training(tmp_path, tiny_dataset):
    for over, match in [({"augment.kind": "ada", "augment.pipe": "bq"}, "augment.pipe 'bq'"),
                        ({"augment.kind": "diffaugment", "augment.policy": "color,zoom"}, "augment.policy 'color,zoom'"),
                        ({"augment.policy": ""}, "augment.policy must be a non-empty text"),
                        ({"augment.p": 1.5}, "augment.p must be a finite number >= 0 and <= 1"),
                        ({"augment.kind": "mixup"}, "augment.kind")]:
        with pytest.raises(GanforgeError, match=match):
            ganforge.train(tiny_cfg("dcgan-tiny", steps=2, **over), out=tmp_path, dataset=tiny_dataset)
    assert not any(tmp_path.iterdir())
