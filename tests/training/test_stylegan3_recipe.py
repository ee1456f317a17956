"""The StyleGAN3 recipe: the official --cfg=stylegan3-t/-r settings, D's input blur and its fade, the
magnitude EMA decay from the batch, exact resume mid-fade, the official parameter counts in --dry-run."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.training import assert_states_equal, final_state, tiny_cfg

import ganforge
from ganforge.config import apply_overrides
from ganforge.errors import GanforgeError
from ganforge.families.stylegan3.recipe import blur, blur_schedule, blur_sigma_at, magnitude_ema_beta
from ganforge.presets import get_preset
from ganforge.registry import RECIPES
from ganforge.training.recipe import DatasetInfo, RunContext, StepContext


def make_recipe(dataset, name="stylegan3-t-tiny", **over):
    cfg = apply_overrides(get_preset(name), over) if over else get_preset(name)
    return RECIPES.get("stylegan3")(cfg, DatasetInfo.of(dataset, cfg), RunContext.single("cpu", seed=0))


def test_blur_sigma_fades_linearly_from_the_initial_value_to_zero():
    assert blur_sigma_at(0, 10.0, 200.0) == 10.0
    assert blur_sigma_at(50_000, 10.0, 200.0) == pytest.approx(7.5)
    assert blur_sigma_at(200_000, 10.0, 200.0) == 0.0 and blur_sigma_at(10**9, 10.0, 200.0) == 0.0
    assert blur_sigma_at(0, 10.0, 0.0) == 0.0  # no fade length: no blur (as officially)


def test_the_official_blur_schedule_depends_on_the_config_and_the_batch():
    lc = get_preset("stylegan3-official-r-256").loss
    assert blur_schedule(lc, "r", 32) == (10.0, 200.0)  # sigma 10 over batch * 200 / 32 kimg
    assert blur_schedule(lc, "r", 64) == (10.0, 400.0)
    assert blur_schedule(lc, "t", 32)[0] == 0.0  # config T: no blur


def test_blur_is_the_official_normalised_gaussian_of_3_sigma_taps():
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    sigma = 2.5
    size = math.floor(sigma * 3)  # 7 taps each side
    taps = torch.tensor([2.0 ** (-((i / sigma) ** 2)) for i in range(-size, size + 1)])
    taps = taps / taps.sum()
    padded = torch.nn.functional.pad(x, (size, size, size, size))  # zero boundary, size kept
    kernel = (taps[:, None] * taps[None, :]).expand(3, 1, -1, -1)
    want = torch.nn.functional.conv2d(padded, kernel, groups=3)
    assert torch.allclose(blur(x, sigma), want, atol=1e-6)
    assert torch.equal(blur(x, 0.3), x)  # 3 sigma < 1: no taps, unchanged


def test_magnitude_ema_decay_is_half_per_20_kimg_of_batches_unless_set():
    m = get_preset("stylegan3-official-t-256").model
    assert magnitude_ema_beta(m, 32) == pytest.approx(0.5 ** (32 / 20_000))
    from dataclasses import replace

    assert magnitude_ema_beta(replace(m, magnitude_ema_beta=0.9), 32) == 0.9


def test_the_recipe_uses_the_official_stylegan3_settings(tiny_dataset):
    r = make_recipe(tiny_dataset)
    assert [p.name for p in r.phases()] == ["G", "D", "D_r1"]  # no path length, lazy R1
    g, d = r.optimizers["G"].param_groups[0], r.optimizers["D"].param_groups[0]
    cfg = get_preset("stylegan3-t-tiny")
    assert g["lr"] == cfg.optim.g_lr and g["betas"] == (0.0, 0.99)  # G is not lazily regularised
    k = cfg.loss.r1_interval / (cfg.loss.r1_interval + 1)
    assert d["lr"] == pytest.approx(cfg.optim.d_lr * k)
    assert r.G.arch == "stylegan3-t" and r.D.arch == "stylegan2-resnet"
    betas = [m.magnitude_ema_beta for m in r.G.modules() if hasattr(m, "magnitude_ema_beta")]
    assert betas and betas == [pytest.approx(0.5 ** (cfg.train.batch_size / 20_000))] * len(betas)


def test_config_r_doubles_gs_channels_only(tiny_dataset):
    t, rr = make_recipe(tiny_dataset), make_recipe(tiny_dataset, "stylegan3-r-tiny")
    assert rr.G.arch == "stylegan3-r"
    assert sum(p.numel() for p in rr.D.parameters()) == sum(p.numel() for p in t.D.parameters())
    assert max(p.shape[0] for n, p in rr.G.synthesis.named_parameters() if n.endswith("weight") and p.ndim == 4) \
        == 2 * max(p.shape[0] for n, p in t.G.synthesis.named_parameters() if n.endswith("weight") and p.ndim == 4)


def test_d_sees_blurred_images_while_the_fade_lasts(tiny_dataset):
    r = make_recipe(tiny_dataset, "stylegan3-r-tiny")
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    r.begin_step(StepContext(cur_nimg=0, step=0, batch_size=8, total_nimg=32))
    assert r.blur_sigma == 2.0 and torch.equal(r.d_view(x), blur(x, 2.0))
    r.begin_step(StepContext(cur_nimg=16, step=2, batch_size=8, total_nimg=32))
    assert r.blur_sigma == pytest.approx(1.0)
    r.begin_step(StepContext(cur_nimg=32, step=4, batch_size=8, total_nimg=32))
    assert r.blur_sigma == 0.0 and torch.equal(r.d_view(x), x)


def test_only_adam_is_accepted(tiny_dataset):
    cfg = apply_overrides(get_preset("stylegan3-t-tiny"), {"optim.name": "rmsprop"})
    with pytest.raises(GanforgeError, match="valid choices: adam"):
        RECIPES.get("stylegan3").validate_config(cfg)


def test_resume_mid_fade_is_bit_identical_including_the_magnitude_emas(tmp_path, tiny_dataset):
    over = {"loss.blur_fade_kimg": 0.032}  # the fade spans the stop at step 2 of 4 (batch 8)
    full = ganforge.train(tiny_cfg("stylegan3-r-tiny", steps=4, **over), out=tmp_path / "a", dataset=tiny_dataset)
    ganforge.train(tiny_cfg("stylegan3-r-tiny", steps=2, **over), out=tmp_path / "b", dataset=tiny_dataset)
    resumed = ganforge.train(tiny_cfg("stylegan3-r-tiny", steps=4, **over), out=tmp_path / "b", resume="auto",
                             dataset=tiny_dataset)
    a, b = final_state(full.run_dir), final_state(resumed.run_dir)
    assert_states_equal(a, b)
    emas = [k for k in a["nets"]["G"] if k.endswith("magnitude_ema")]
    assert emas and all(float(a["nets"]["G"][k]) != 1.0 for k in emas)  # they moved, and equally in both
    ga, gb = ganforge.load_generator(full.run_dir), ganforge.load_generator(resumed.run_dir)
    z = torch.randn(3, ga.z_dim)
    assert torch.equal(ga(z, None), gb(z, None))


def test_dry_run_prints_the_official_256_parameter_counts(image_folder, tmp_path, capsys, monkeypatch):
    """The official 256 px RGB networks: G 28,472,133 (T) and 18,816,387 (R), 16 ws each; StyleGAN2's D
    with --cbase 32768 --cmax 512 and minibatch-stddev group 4: 28,864,129."""
    from ganforge.cli import main

    monkeypatch.chdir(tmp_path)
    for cfg, g_params in (("t", "28,472,133"), ("r", "18,816,387")):
        code = main(["train", "--preset", f"stylegan3-official-{cfg}-256", "--data", str(image_folder), "--dry-run"])
        out = capsys.readouterr().out
        assert code == 0
        assert f"G: stylegan3-{cfg}, {g_params} parameters" in out
        assert "D: stylegan2-resnet, 28,864,129 parameters" in out
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("over,needle", [
    (["model.first_cutoff=1000"], "layer 0 would have cutoff 1000"),
    (["model.first_stopband=0.001"], "stopband 0.001"),
    (["model.first_stopband=1.5"], "0 < cutoff < stopband"),
    (["model.cbase=1"], "model.cbase=1 leaves StyleGAN3 layer 0 at 16 px with no feature maps"),
    (["model.cmax=8192", "model.cbase=1048576", "model.num_layers=64"], "convolution weights, over the 1,000,000,000"),
])
def test_a_generator_the_filters_or_memory_cannot_take_is_refused_before_building(over, needle, tmp_path,
                                                                                  capsys, monkeypatch):
    from ganforge.cli import main

    monkeypatch.chdir(tmp_path)
    sets = [x for o in over for x in ("--set", o)]
    assert main(["train", "--preset", "stylegan3-r-tiny", "--dry-run", *sets]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "model." in err  # names the keys to change
    assert not (tmp_path / "runs").exists()


def test_unusual_but_valid_designs_build_and_run():
    from dataclasses import replace

    from ganforge.families.stylegan3.recipe import build_generator

    m = get_preset("stylegan3-t-tiny").model
    for over in ({"lrelu_upsampling": 1}, {"lrelu_upsampling": 3}, {"filter_size": 1}, {"margin_size": 0},
                 {"num_layers": 3, "num_critical": 1}, {"last_stopband_rel": 1.0001}):
        G = build_generator(replace(m, **over), 16, 1, 0)
        assert torch.isfinite(G(torch.randn(2, G.z_dim))).all(), over
