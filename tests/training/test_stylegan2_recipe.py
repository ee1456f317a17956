"""The StyleGAN2 recipe: lazy regularization, path length, style mixing, recipe state, exact resume."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.training import assert_states_equal, final_state, tiny_cfg

import ganforge
from ganforge.config import apply_overrides
from ganforge.errors import GanforgeError
from ganforge.families.stylegan2.recipe import lazy_adam, path_lengths
from ganforge.presets import get_preset
from ganforge.registry import RECIPES
from ganforge.training.recipe import DatasetInfo, RunContext


def make_recipe(dataset, name="stylegan2-tiny", **over):
    cfg = apply_overrides(get_preset(name), over) if over else get_preset(name)
    return RECIPES.get("stylegan2")(cfg, DatasetInfo.of(dataset, cfg), RunContext.single("cpu", seed=0))


def test_lazy_adam_is_corrected_for_the_interval():
    p = [torch.nn.Parameter(torch.zeros(2))]
    opt = lazy_adam(p, 0.0025, 0.0, 0.99, 16, torch.device("cpu"))
    g = opt.param_groups[0]
    assert g["lr"] == pytest.approx(0.0025 * 16 / 17)
    assert g["betas"] == pytest.approx((0.0, 0.99 ** (16 / 17)))
    plain = lazy_adam(p, 0.0025, 0.5, 0.99, 0, torch.device("cpu")).param_groups[0]
    assert plain["lr"] == 0.0025 and plain["betas"] == (0.5, 0.99)


def test_path_lengths_match_a_manual_vector_jacobian_product(tiny_dataset):
    r = make_recipe(tiny_dataset)
    G = r.G
    z = torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(1))
    ws = G.mapping(z, None).detach().requires_grad_(True)
    img = G.synthesis(ws, noise_mode="const")
    y = torch.randn(img.shape, generator=torch.Generator().manual_seed(2)) / math.sqrt(16 * 16)
    got = path_lengths(img, ws, y)
    for i in range(3):  # per sample: |J_i^T y_i| averaged over the num_ws rows, as officially
        _, jt_y = torch.autograd.functional.vjp(
            lambda w: G.synthesis(w[None], noise_mode="const")[0], ws[i].detach(), y[i])
        want = jt_y.square().sum(1).mean().sqrt()
        assert got[i].item() == pytest.approx(want.item(), rel=1e-5)
    assert got.requires_grad  # the penalty differentiates through it


def test_pl_mean_is_committed_only_after_a_successful_step(tiny_dataset):
    r = make_recipe(tiny_dataset)
    assert float(r.pl_mean) == 0
    loss, terms = r.g_pl(None)
    assert float(r.pl_mean) == 0  # not yet: the step could still be skipped as non-finite
    (pl_phase,) = [p for p in r.phases() if p.name == "G_pl"]
    pl_phase.after_step()
    assert float(r.pl_mean) == pytest.approx(float(terms["G/pl_mean"]))
    assert float(r.pl_mean) > 0
    # The penalty enters the loss multiplied by its interval (lazy regularization).
    assert float(loss) == pytest.approx(float(terms["G/pl"]) * r.cfg.loss.pl_interval, rel=1e-6)


def test_r1_is_half_gamma_squared_gradient_norm_times_interval(tiny_dataset):
    from ganforge.losses import r1_penalty
    from ganforge.training.recipe import Batch

    r = make_recipe(tiny_dataset)
    real = tiny_dataset.images_u8[:8].float() / 127.5 - 1
    loss, terms = r.d_r1(Batch(real, None))
    want = r1_penalty(lambda x: r.D(x, None), real, r.cfg.loss.r1_gamma)
    assert float(terms["D/r1"]) == pytest.approx(float(want), rel=1e-5)
    assert float(loss) == pytest.approx(float(want) * r.cfg.loss.r1_interval, rel=1e-5)


def test_phases_in_official_order_with_their_intervals(tiny_dataset):
    r = make_recipe(tiny_dataset)
    assert [(p.name, p.interval) for p in r.phases()] == [("G", 1), ("G_pl", 2), ("D", 1), ("D_r1", 2)]
    assert r.phases()[0].optimizer is r.phases()[1].optimizer  # one Adam per network
    none = make_recipe(tiny_dataset, **{"loss.pl_weight": None, "loss.r1_gamma": 0.0})
    assert [p.name for p in none.phases()] == ["G", "D"]


def test_style_mixing_takes_the_layers_after_one_cutoff_from_a_second_latent(tiny_dataset):
    r = make_recipe(tiny_dataset, **{"loss.style_mixing_prob": 1.0})
    z = torch.randn(4, r.G.z_dim, generator=torch.Generator().manual_seed(3))
    plain = r.G.mapping(z, None)
    mixed = r._mapping(z, None, update_emas=False)
    same = (mixed == plain).all(dim=2).all(dim=0)  # per layer: unchanged for the whole batch?
    k = int((~same).nonzero()[0])  # first mixed layer
    assert 1 <= k < r.G.num_ws
    assert same[:k].all() and not same[k:].any()  # one crossover point, everything after it mixed
    never = make_recipe(tiny_dataset, **{"loss.style_mixing_prob": 0.0})
    assert torch.equal(never._mapping(z, None, update_emas=False), never.G.mapping(z, None))


def test_generating_fakes_for_d_tracks_the_w_average(tiny_dataset):
    from ganforge.training.recipe import Batch

    r = make_recipe(tiny_dataset)
    before = r.G.mapping.w_avg.clone()
    r.d_main(Batch(tiny_dataset.images_u8[:8].float() / 127.5 - 1, None))
    assert not torch.equal(before, r.G.mapping.w_avg)


@pytest.mark.parametrize("key,value,needle", [
    ("model.g_arch", "fancy", "unknown model.g_arch 'fancy'; valid choices: orig, skip, resnet"),
    ("loss.pl_decay", 0.0, "loss.pl_decay must be a finite number > 0 and <= 1, got 0.0"),
    ("loss.style_mixing_prob", 1.5, "loss.style_mixing_prob must be a finite number >= 0 and <= 1"),
    ("loss.r1_interval", 0, "loss.r1_interval must be an integer >= 1"),
    ("train.batch_size", 1, "smaller than loss.pl_batch_shrink=2"),
    ("optim.name", "rmsprop", "trains with Adam only"),
])
def test_bad_family_values_are_one_clear_error(key, value, needle):
    cfg = apply_overrides(get_preset("stylegan2-tiny"), {key: value})
    with pytest.raises(GanforgeError) as e:
        ganforge.api.validate_experiment(cfg)
    assert needle in str(e.value)


def test_non_power_of_two_resolution_is_refused(dataset_factory):
    ds = dataset_factory(resolution=24)
    with pytest.raises(GanforgeError, match="power-of-two resolution >= 4, got 24"):
        make_recipe(ds)


def test_resume_is_bit_identical_including_path_length_mean(tmp_path, tiny_dataset):
    full = ganforge.train(tiny_cfg("stylegan2-tiny", steps=6), out=tmp_path / "a", dataset=tiny_dataset)
    part = ganforge.train(tiny_cfg("stylegan2-tiny", steps=2), out=tmp_path / "b", dataset=tiny_dataset)
    resumed = ganforge.train(tiny_cfg("stylegan2-tiny", steps=6), out=tmp_path / "b", resume="auto",
                             dataset=tiny_dataset)
    a, b = final_state(full.run_dir), final_state(resumed.run_dir)
    assert_states_equal(a, b)
    assert float(a["recipe"]["pl_mean"]) > 0 and torch.equal(a["recipe"]["pl_mean"], b["recipe"]["pl_mean"])
    ga, gb = ganforge.load_generator(full.run_dir), ganforge.load_generator(resumed.run_dir)
    z = torch.randn(3, ga.z_dim)
    assert torch.equal(ga(z, None, noise_mode="const"), gb(z, None, noise_mode="const"))


def test_how_often_a_run_is_observed_does_not_change_it(tmp_path, tiny_dataset):
    """Sample grids of StyleGAN2 draw per-layer noise from the global RNG; the trainer gives that back,
    so ticking every step or every third step trains the same networks."""
    every = ganforge.train(tiny_cfg("stylegan2-tiny", steps=3, **{"train.tick_kimg": 0.008}),
                           out=tmp_path / "a", dataset=tiny_dataset)
    rare = ganforge.train(tiny_cfg("stylegan2-tiny", steps=3, **{"train.tick_kimg": 0.024}),
                          out=tmp_path / "b", dataset=tiny_dataset)
    assert len(every.stats) == 3 and len(rare.stats) == 1
    assert_states_equal(final_state(every.run_dir), final_state(rare.run_dir))


def test_dry_run_prints_the_official_256_parameter_counts(image_folder, tmp_path, capsys, monkeypatch):
    """The official --cfg=stylegan2 256 px networks: G 23.19 M and D 24.00 M parameters."""
    from ganforge.cli import main

    monkeypatch.chdir(tmp_path)
    code = main(["train", "--preset", "stylegan2-official-256", "--data", str(image_folder), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert "G: stylegan2-skip, 23,191,522 parameters" in out and "D: stylegan2-resnet, 24,001,089 parameters" in out
    assert not (tmp_path / "runs").exists()


def test_stylegan2_trains_under_bf16_autocast_with_path_length_regularisation(tmp_path, tiny_dataset):
    # the path-length step mixed the float pl_mean with bf16 lengths ('expected dtype float for end')
    cfg = tiny_cfg("stylegan2-tiny", steps=2, **{"train.mixed_precision": True, "loss.pl_interval": 1})
    r = ganforge.train(cfg, out=tmp_path, dataset=tiny_dataset)
    assert r.steps == 2 and r.bad_steps == 0 and "G/pl" in r.stats[-1]
