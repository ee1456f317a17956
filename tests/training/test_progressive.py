"""Recipes progan / stylegan: the growth schedule, staged reals, optimizer resets (also across a
resume), bit-exact resume mid-fade, the stage carried by EMA and exports, loss terms, validation."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.training import assert_states_equal, final_state

import ganforge
from ganforge.config import apply_overrides
from ganforge.errors import GanforgeError
from ganforge.families.progressive.growth import GrowthSchedule
from ganforge.families.progressive.recipe import stage_reals
from ganforge.presets import get_preset
from ganforge.registry import RECIPES
from ganforge.training.recipe import Batch, DatasetInfo, RunContext, StepContext
from ganforge.training.trainer import Trainer

BATCH = 8  # the tiny presets' batch; their schedule: 4 px at images 0-8, fade to 8 px at 16-24,
# 8 px at 32-40, fade to 16 px at 48-56, 16 px from 64 on (see families/progressive/presets.py).


@pytest.fixture(autouse=True)
def _one_thread():
    """The tiny networks run faster on one thread, and much faster on a shared, loaded CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def official_lod(kimg: float, res_log2: int, initial: int, training_kimg: float, transition_kimg: float) -> float:
    """The official training_schedule's fractional lod, written out independently."""
    phase_dur = training_kimg + transition_kimg
    phase_idx = int(math.floor(kimg / phase_dur))
    phase_kimg = kimg - phase_idx * phase_dur
    lod = res_log2 - math.floor(math.log2(initial)) - phase_idx
    if transition_kimg > 0:
        lod -= max(phase_kimg - training_kimg, 0.0) / transition_kimg
    return max(lod, 0.0)


def test_schedule_at_its_boundaries():
    s = GrowthSchedule(32, 4, 600, 600)
    assert s.initial_lod == 3 and s.grown_nimg == 3_600_000
    expect = {
        0: (3, 1.0, 0),              # first image: 4 px, fully in
        599_999: (3, 1.0, 0),        # end of the first plateau
        600_000: (3, 1.0, 0),        # first image of the fade: the new level still has weight 0
        600_001: (2, 1 / 600_000, 1),
        900_000: (2, 0.5, 1),        # mid-fade
        1_199_999: (2, 599_999 / 600_000, 1),
        1_200_000: (2, 1.0, 2),      # end of the fade: 8 px fully in
        2_399_999: (1, 599_999 / 600_000, 3),  # last image of the fade to 16 px
        2_999_999: (1, 1.0, 4),      # end of the 16 px plateau
        3_000_000: (1, 1.0, 4),      # 16 px fully in; the last fade begins
        3_300_000: (0, 0.5, 5),      # fading in the last level
        3_600_000: (0, 1.0, 6),      # after the last growth
        50_000_000: (0, 1.0, 6),
    }
    for nimg, (lod, alpha, stage) in expect.items():
        assert s.lod_alpha(nimg) == (lod, alpha), nimg
        assert (s.lod(nimg), s.alpha(nimg), s.stage(nimg)) == (lod, alpha, stage), nimg
        assert s.current_resolution(nimg) == 32 >> lod
        assert s.lod_frac(nimg) == pytest.approx(official_lod(nimg / 1000, 5, 4, 600, 600), abs=1e-9), nimg
    # The stage changes exactly where the official loop resets the optimizers: where floor or ceil
    # of the fractional lod changes.
    prev = None
    for nimg in range(0, 4_000_000, 1000):
        f = official_lod(nimg / 1000, 5, 4, 600, 600)
        key = (math.floor(f), math.ceil(f))
        if prev is not None:
            assert (s.stage(nimg) != s.stage(nimg - 1000)) == (key != prev), nimg
        prev = key


def test_schedule_variants():
    fixed = GrowthSchedule(16, 16, 600, 600)
    assert all(fixed.lod_alpha(n) == (0, 1.0) and fixed.stage(n) == 0 for n in (0, 10**6, 10**8))
    jumps = GrowthSchedule(16, 4, 10, 0)  # no fades: the resolution doubles every 10 kimg
    assert [jumps.lod_alpha(n) for n in (0, 9_999, 10_000, 20_000)] == [(2, 1.0), (2, 1.0), (1, 1.0), (0, 1.0)]
    assert [jumps.stage(n) for n in (0, 10_000, 20_000)] == [0, 2, 4]
    tiny = GrowthSchedule(16, 4, 0.008, 0.024)
    assert [tiny.lod_alpha(n) for n in range(0, 72, 8)] == [
        (2, 1.0), (2, 1.0), (1, 1 / 3), (1, 2 / 3), (1, 1.0), (1, 1.0), (0, 1 / 3), (0, 2 / 3), (0, 1.0)]
    with pytest.raises(ValueError):
        GrowthSchedule(16, 32)
    with pytest.raises(ValueError):
        GrowthSchedule(16, 4, 0, 0)


def test_reals_are_staged_like_the_official_process_reals():
    x = torch.randn(2, 1, 8, 8)
    assert stage_reals(x, 0, 1.0) is x
    y = stage_reals(x, 1, 1.0)  # each 2x2 block replaced by its mean
    torch.testing.assert_close(y[:, :, ::2, ::2], torch.nn.functional.avg_pool2d(x, 2))
    assert torch.equal(y[:, :, 1::2, 1::2], y[:, :, ::2, ::2])
    # Mid-fade: lerp(x at 4 px, its 2x coarser version, 1 - alpha), enlarged to 8 px.
    a = 0.3
    lo = torch.nn.functional.avg_pool2d(x, 2)
    coarse = torch.nn.functional.avg_pool2d(lo, 2).repeat_interleave(2, 2).repeat_interleave(2, 3)
    expected = (coarse + a * (lo - coarse)).repeat_interleave(2, 2).repeat_interleave(2, 3)
    torch.testing.assert_close(stage_reals(x, 1, a), expected)


def tiny_cfg(name: str, steps: int, tick_steps: int = 1, **over):
    """The tiny preset for ``steps`` steps, a tick every ``tick_steps``, a checkpoint only at the end."""
    cfg = get_preset(name)
    overrides = {"train.total_kimg": steps * BATCH / 1000, "train.tick_kimg": tick_steps * BATCH / 1000,
                 "train.snapshot_ticks": 1000}
    overrides.update(over)
    return apply_overrides(cfg, overrides)


@pytest.fixture
def reset_log(monkeypatch):
    """The images seen at every optimizer reset, in order."""
    log = []
    base = RECIPES.get("progan").__mro__[1]
    orig = base.reset_optimizers

    def spy(self):
        log.append(self.ctx.cur_nimg)
        orig(self)

    monkeypatch.setattr(base, "reset_optimizers", spy)
    return log


@pytest.mark.parametrize("preset,part,ticks", [
    ("progan-tiny", 3, 2),     # checkpoint mid-fade (next step at alpha 2/3), past the boundary at 16
    ("progan-tiny", 2, 2),     # checkpoint just before the fade's first step: the reset comes after resume
    ("stylegan-tiny", 7, 3),   # mid-fade of the last level, off a tick boundary: the sample grids of
                               # the interrupted run must not shift the noise RNG
])
def test_resume_mid_fade_is_bit_identical(tmp_path, tiny_dataset, reset_log, preset, part, ticks):
    steps = 9
    full = ganforge.train(tiny_cfg(preset, steps, ticks), out=tmp_path / "a", dataset=tiny_dataset)
    straight_resets = list(reset_log)
    assert straight_resets == [16, 32, 48, 64]  # each stage change once: fade start/end, twice
    reset_log.clear()
    ganforge.train(tiny_cfg(preset, part, ticks), out=tmp_path / "b", dataset=tiny_dataset)
    resumed = ganforge.train(tiny_cfg(preset, steps, ticks), out=tmp_path / "b", resume="auto",
                             dataset=tiny_dataset)
    assert resumed.steps == steps
    assert reset_log == straight_resets  # no reset lost, none repeated at the resume
    a, b = final_state(full.run_dir), final_state(resumed.run_dir)
    assert_states_equal(a, b)
    assert a["recipe"] == {"stage": 4}
    ga, gb = ganforge.load_generator(full.run_dir), ganforge.load_generator(resumed.run_dir)
    z = torch.randn(3, ga.z_dim)
    kw = {"noise_mode": "const"} if preset.startswith("stylegan") else {}
    assert torch.equal(ga(z, **kw), gb(z, **kw))


def test_optimizer_moments_restart_at_a_boundary(tmp_path, tiny_dataset):
    cfg = tiny_cfg("progan-tiny", 3)
    t = Trainer(cfg, tmp_path, dataset=tiny_dataset)
    opt = t.recipe.optimizers["D"]

    def steps_done():
        return {int(s["step"]) for s in opt.state.values()}

    acc = {}
    t.train_step(acc)
    t.train_step(acc)
    assert steps_done() == {2}
    t.train_step(acc)  # the step at image 16 begins the first fade: moments cleared before it
    assert steps_done() == {1}
    assert t.recipe.stage == 1
    # Without the reset the moments carry on.
    cfg = apply_overrides(cfg, {"model.reset_optimizer": False})
    t = Trainer(cfg, tmp_path / "no", dataset=tiny_dataset)
    opt = t.recipe.optimizers["D"]
    for _ in range(3):
        t.train_step(acc)
    assert max(int(s["step"]) for s in opt.state.values()) == 3


@pytest.mark.parametrize("preset", ["progan-tiny", "stylegan-tiny"])
def test_stage_travels_with_ema_and_exports(tmp_path, tiny_dataset, preset):
    r = ganforge.train(tiny_cfg(preset, 3), out=tmp_path, dataset=tiny_dataset)
    state = final_state(r.run_dir)
    # The last step started at image 16: lod 1, alpha 1/3.
    G = ganforge.load_generator(r.run_dir)
    assert G.stage() == (1, pytest.approx(1 / 3))
    ema = {k: v for k, v in state["ema"]["G_ema"].items() if k.endswith(("lod", "alpha"))}
    assert sorted(float(v) for v in ema.values()) == [pytest.approx(1 / 3), 1.0]
    z = torch.randn(2, G.z_dim)
    kw = {"noise_mode": "const"} if preset.startswith("stylegan") else {}
    img = G(z, **kw)
    assert img.shape == (2, 1, 16, 16)
    assert torch.equal(img, G(z, lod=1, alpha=1 / 3, **kw))
    assert torch.equal(img[:, :, ::2, ::2].repeat_interleave(2, 2).repeat_interleave(2, 3), img)  # 8 px content


def _recipe(preset: str, tiny_dataset, **over):
    cfg = apply_overrides(get_preset(preset), over) if over else get_preset(preset)
    info = DatasetInfo.of(tiny_dataset, cfg)
    return RECIPES.get(cfg.recipe)(cfg, info, RunContext.single("cpu", seed=0))


def test_progan_loss_terms(tiny_dataset):
    recipe = _recipe("progan-tiny", tiny_dataset)
    recipe.begin_step(StepContext(24, 3, BATCH, 80))  # mid-fade: lod 1, alpha 2/3
    assert (recipe.lod, recipe.alpha) == (1, 2 / 3)
    real = tiny_dataset.images_u8[:BATCH].float() / 127.5 - 1
    total, terms = recipe.d_loss(Batch(real, None))
    assert set(terms) == {"D/adv", "D/gp", "D/drift", "D/real_logit", "D/gen_logit", "D/real_sign"}
    with torch.no_grad():
        real_logits = recipe.D(stage_reals(real, 1, 2 / 3), lod=1, alpha=2 / 3)
    torch.testing.assert_close(terms["D/drift"], 0.001 * real_logits.square().mean())
    torch.testing.assert_close(terms["D/real_logit"], real_logits.mean())
    torch.testing.assert_close(terms["D/adv"], terms["D/gen_logit"] - terms["D/real_logit"])
    torch.testing.assert_close(total, terms["D/adv"] + terms["D/gp"] + terms["D/drift"])
    loss, g_terms = recipe.g_loss(None)
    assert loss.shape == () and set(g_terms) == {"G/adv"}


def test_stylegan_training_mixes_styles_within_the_layers_in_use(tiny_dataset, monkeypatch):
    recipe = _recipe("stylegan-tiny", tiny_dataset, **{"loss.style_mixing_prob": 1.0})
    recipe.begin_step(StepContext(16, 2, BATCH, 80))  # lod 1: 4 of the 6 styles in use
    G = recipe.G
    seen = {}
    orig_mapping, orig_synthesis = G.mapping.forward, G.synthesis.forward

    def mapping(z, c=None, *a, **k):
        ws = orig_mapping(z, c, *a, **k)
        seen.setdefault("ws", []).append(ws)
        return ws

    def synthesis(ws, *a, **k):
        seen["mixed"] = ws
        return orig_synthesis(ws, *a, **k)

    monkeypatch.setattr(G.mapping, "forward", mapping)
    monkeypatch.setattr(G.synthesis, "forward", synthesis)
    cutoffs = set()
    for _ in range(20):
        w_avg = G.mapping.w_avg.clone()
        seen.clear()
        recipe._generate(recipe.sample_z(4), None)
        ws1, ws2 = seen["ws"]
        mixed = seen["mixed"]
        cut = next(i for i in range(G.num_ws) if not torch.equal(mixed[:, i], ws1[:, i]))
        assert 1 <= cut < 4  # never beyond the layers of the levels in use
        assert torch.equal(mixed[:, :cut], ws1[:, :cut]) and torch.equal(mixed[:, cut:], ws2[:, cut:])
        cutoffs.add(cut)
        # The W average moved towards the first latents' mean (beta 0.995), not the mixing ones'.
        torch.testing.assert_close(G.mapping.w_avg, ws1[:, 0].mean(0).lerp(w_avg, 0.995))
    assert cutoffs == {1, 2, 3}


def test_validation_names_the_key(tiny_dataset):
    from ganforge.api import validate_experiment

    bad = [
        ("progan-fmnist32", {"model.lod_initial_resolution": 6}, "model.lod_initial_resolution"),
        ("progan-fmnist32", {"model.lod_initial_resolution": 64}, "exceeds data.resolution"),
        ("progan-fmnist32", {"model.lod_training_kimg": 0.0, "model.lod_transition_kimg": 0.0}, "not both 0"),
        ("progan-fmnist32", {"loss.kind": "hinge"}, "loss.kind"),
        ("progan-fmnist32", {"loss.drift": -1.0}, "loss.drift"),
        ("progan-fmnist32", {"train.compile": ("cpu",)}, "train.compile"),
        ("stylegan-fmnist32", {"loss.style_mixing_prob": 1.5}, "loss.style_mixing_prob"),
        ("stylegan-fmnist32", {"model.truncation_cutoff": 0}, "model.truncation_cutoff"),
        ("stylegan-fmnist32", {"model.map_lr_mult": 0.0}, "model.map_lr_mult"),
    ]
    for preset, over, msg in bad:
        with pytest.raises(GanforgeError, match=msg):
            validate_experiment(apply_overrides(get_preset(preset), over))
    # A fixed-size StyleGAN may be compiled.
    validate_experiment(apply_overrides(get_preset("stylegan-fmnist32-fixed"), {"train.compile": ("cpu",)}))
    with pytest.raises(GanforgeError, match="needs class labels"):
        _recipe("progan-tiny", tiny_dataset, **{"model.conditional": True})


def test_conditional_tiny_run(tmp_path, tiny_dataset):
    cfg = tiny_cfg("stylegan-tiny", 3, **{"model.conditional": True, "data.use_labels": True})
    r = ganforge.train(cfg, out=tmp_path, dataset=tiny_dataset)
    assert r.steps == 3 and r.bad_steps == 0
    G = ganforge.load_generator(r.run_dir)
    assert G.num_classes == 10
    assert G(torch.randn(2, G.z_dim), torch.tensor([0, 9])).shape == (2, 1, 16, 16)
