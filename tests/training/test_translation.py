"""pix2pix and CycleGAN on the generic trainer: losses against their formulas, pools and the
learning-rate schedule across an exact resume, grids/exports/metrics behind the recipe, translate CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.config import apply_overrides
from ganforge.data.dataset import content_hash
from ganforge.data.translation import TranslationDataset
from ganforge.errors import GanforgeError
from ganforge.families.translation.recipe import adv_d_loss, adv_g_loss
from ganforge.registry import RECIPES
from ganforge.training.feed import make_feed
from ganforge.training.recipe import Batch, DatasetInfo, RunContext
from ganforge.training.trainer import Trainer, lr_factor


def _shapes(n: int, res: int, seed: int) -> torch.Tensor:
    """uint8 [n, 1, res, res]: bright rectangles of random size and place on black."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, res, res, dtype=torch.uint8)
    for i in range(n):
        h, w = (int(v) for v in torch.randint(3, res - 2, (2,), generator=g))
        y0, x0 = int(torch.randint(0, res - h, (1,), generator=g)), int(torch.randint(0, res - w, (1,), generator=g))
        x[i, 0, y0:y0 + h, x0:x0 + w] = int(torch.randint(120, 256, (1,), generator=g))
    return x


def make_pairs(n: int = 24, res: int = 16, paired: bool = True, nb: int | None = None,
               split: str = "train") -> TranslationDataset:
    b = _shapes(nb or n, res, 1)
    a = (255 - b[:n]) if paired else _shapes(n, res, 2)
    h = content_hash(torch.cat([a, b]) if paired else a, None) + ("p" if paired else "u")
    return TranslationDataset(a_u8=a.contiguous(), b_u8=b.contiguous(), paired=paired, name=f"synthetic:{split}",
                              content_hash=h, split=split)


POOL4 = "test-pool4"  # the metric-test extractor of tests/conftest.py


def tiny(name: str, **over):
    return apply_overrides(ganforge.get_preset(name), {"train.device": "cpu", **over})


def build(name: str, ds, **over):
    cfg = tiny(name, **over)
    recipe = RECIPES.get(cfg.recipe)(cfg, DatasetInfo.of(ds, cfg), RunContext.single("cpu", seed=0))
    recipe.attach_data(ds, from_config=False)
    return recipe


def batch_of(ds, n: int = 4) -> Batch:
    return Batch(ds.b_u8[:n].float() / 127.5 - 1, None, src=ds.a_u8[:n].float() / 127.5 - 1)


# ------------------------------------------------------------------------------------------------
# Losses.


def test_adversarial_losses_are_the_reference_gan_modes():
    real, fake = torch.tensor([[0.3, -1.2]]), torch.tensor([[2.0, -0.5]])
    bce = lambda x, t: float(np.mean([-(t * np.log(1 / (1 + np.exp(-v))) + (1 - t) * np.log(1 - 1 / (1 + np.exp(-v))))  # noqa: E731
                                      for v in x.flatten().tolist()]))
    assert float(adv_d_loss("vanilla", real, fake)) == pytest.approx(0.5 * (bce(real, 1) + bce(fake, 0)), rel=1e-6)
    assert float(adv_g_loss("vanilla", fake)) == pytest.approx(bce(fake, 1), rel=1e-6)
    mse = lambda x, t: float(np.mean([(v - t) ** 2 for v in x.flatten().tolist()]))  # noqa: E731
    assert float(adv_d_loss("lsgan", real, fake)) == pytest.approx(0.5 * (mse(real, 1) + mse(fake, 0)), rel=1e-6)
    assert float(adv_g_loss("lsgan", fake)) == pytest.approx(mse(fake, 1), rel=1e-6)


def test_cycle_and_identity_losses_follow_their_formulas():
    ds = make_pairs(paired=False)
    r = build("cyclegan-tiny", ds)
    b = batch_of(ds)
    a_img, b_img = b.src, b.real_img
    G_ab, G_ba = r.G.nets["AtoB"], r.G.nets["BtoA"]
    _, terms = r.g_loss(b)
    with torch.no_grad():  # instance norm and no dropout: the same inputs give the same outputs
        fb, fa = G_ab(a_img), G_ba(b_img)
        lam, idt = r.cfg.loss.cycle_weight, r.cfg.loss.identity_weight
        want = {
            "G/adv_AtoB": ((r.D["B"](fb) - 1) ** 2).mean(),
            "G/adv_BtoA": ((r.D["A"](fa) - 1) ** 2).mean(),
            "G/cycle_A": lam * (G_ba(fb) - a_img).abs().mean(),
            "G/cycle_B": lam * (G_ab(fa) - b_img).abs().mean(),
            "G/identity_A": idt * lam * (G_ba(a_img) - a_img).abs().mean(),
            "G/identity_B": idt * lam * (G_ab(b_img) - b_img).abs().mean(),
        }
    assert set(terms) == set(want)
    for k in want:
        assert float(terms[k].detach()) == pytest.approx(float(want[k]), rel=1e-5), k
    assert float(want["G/identity_A"]) > 0 and lam == 10.0 and idt == 0.5
    r2 = build("cyclegan-tiny", ds, **{"loss.identity_weight": None})
    assert not any(k.startswith("G/identity") for k in r2.g_loss(b)[1])


def test_pix2pix_d_and_g_losses_and_one_fake_per_step():
    ds = make_pairs()
    r = build("pix2pix-tiny", ds, **{"model.dropout": False})
    b = batch_of(ds)
    _, d_terms = r.d_loss(b)
    x, y, fake = r._pending
    D = r.D["D"]
    with torch.no_grad():
        want_d = adv_d_loss("vanilla", D(torch.cat([x, y], 1)), D(torch.cat([x, fake], 1)))
    assert float(d_terms["D/adv"].detach()) == pytest.approx(float(want_d), rel=1e-5)
    assert fake.requires_grad  # its graph is kept for the G phase
    _, g_terms = r.g_loss(None)
    assert float(g_terms["G/l1"].detach()) == pytest.approx(float(100 * (fake - y).abs().mean().detach()), rel=1e-6)
    with torch.no_grad():
        assert float(g_terms["G/adv"].detach()) == pytest.approx(float(adv_g_loss("vanilla", D(torch.cat([x, fake], 1)))),
                                                        rel=1e-5)
    with pytest.raises(AssertionError, match="follows its D phase"):
        r.g_loss(None)


def test_pix2pix_btoa_swaps_input_and_target():
    ds = make_pairs()
    r = build("pix2pix-tiny", ds, **{"model.direction": "BtoA"})
    b = batch_of(ds)
    x, y = r._pair(b)
    assert torch.equal(x, b.real_img) and torch.equal(y, b.src)
    assert r.G.directions == ("BtoA",)


# ------------------------------------------------------------------------------------------------
# Data feed and family checks.


def test_paired_feed_keeps_partners_and_unpaired_feed_draws_domains_apart():
    cfg = tiny("pix2pix-tiny")
    paired = make_feed(make_pairs(), cfg, torch.device("cpu"), 0, 1).next(8)
    assert torch.allclose(paired.src, -paired.real_img, atol=1e-6)  # A = 255 - B, so partners mirror in [-1, 1]
    un = make_pairs(paired=False, nb=30)
    feed = make_feed(un, cfg, torch.device("cpu"), 0, 1)
    batch = feed.next(8)
    assert batch.src.shape == batch.real_img.shape == (8, 1, 16, 16)
    state = feed.state_dict()
    assert state["a"]["num_items"] == 24 and state["b"]["num_items"] == 30
    again = make_feed(un, cfg, torch.device("cpu"), 0, 1)
    again.load_state_dict(state)
    nxt, nxt2 = feed.next(8), again.next(8)
    assert torch.equal(nxt.src, nxt2.src) and torch.equal(nxt.real_img, nxt2.real_img)


def test_families_refuse_the_wrong_kind_of_data(tiny_dataset):
    with pytest.raises(GanforgeError, match="translation task; train it with recipe pix2pix"):
        build("dcgan-tiny", make_pairs())
    with pytest.raises(GanforgeError, match="needs paired data"):
        build("pix2pix-tiny", make_pairs(paired=False))
    with pytest.raises(GanforgeError, match="needs an image-to-image translation dataset"):
        build("cyclegan-tiny", tiny_dataset)
    rgb = make_pairs(paired=False)
    rgb.b_u8 = rgb.b_u8.expand(-1, 3, -1, -1).contiguous()
    with pytest.raises(GanforgeError, match="identity_weight=0.5 needs domains with equal channels"):
        build("cyclegan-tiny", rgb)
    assert build("cyclegan-tiny", rgb, **{"loss.identity_weight": None}).G.channels == {"AtoB": (1, 3), "BtoA": (3, 1)}


# ------------------------------------------------------------------------------------------------
# The learning-rate schedule and exact resume with pools.


def test_lr_factor_is_constant_then_linear_to_zero():
    assert lr_factor(0, 1.0, 3.0) == lr_factor(1000, 1.0, 3.0) == 1.0
    assert lr_factor(2000, 1.0, 3.0) == pytest.approx(0.5)
    assert lr_factor(3000, 1.0, 3.0) == 0.0 and lr_factor(4000, 1.0, 3.0) == 0.0
    assert lr_factor(500, 2.0, 2.0) == 1.0 and lr_factor(2500, 2.0, 2.0) == 0.0


def _state(tr: Trainer):
    return tr.state_dict()


@pytest.mark.parametrize("preset,paired", [("cyclegan-tiny", False), ("pix2pix-tiny", True)])
def test_resume_is_bit_identical_with_pools_and_lr_schedule(tmp_path, preset, paired):
    ds = make_pairs(paired=paired)
    cfg = tiny(preset, **{"train.total_kimg": 0.032, "train.tick_kimg": 0.008})  # 8 steps of 4 images
    whole = ganforge.train(cfg, out=tmp_path / "whole", dataset=ds)
    half = ganforge.train(replace(cfg, train=replace(cfg.train, total_kimg=0.016)), out=tmp_path / "half", dataset=ds)
    resumed = ganforge.train(cfg, out=tmp_path / "half", resume=half.run_dir, dataset=ds)
    assert whole.steps == resumed.steps == 8
    from ganforge.training.checkpoint import load_latest_checkpoint

    a = load_latest_checkpoint(whole.run_dir)[1]
    b = load_latest_checkpoint(resumed.run_dir)[1]
    for net in a["nets"]:
        for k, v in a["nets"][net].items():
            assert torch.equal(v, b["nets"][net][k]), (net, k)
    assert a["sampler"] == b["sampler"]
    for name, opt in a["optimizers"].items():
        for ga, gb in zip(opt["param_groups"], b["optimizers"][name]["param_groups"]):
            # the last step ran at 7 x 4 = 28 images: 1 - (28 - 16) / (32 - 16) of the initial rate
            assert ga["lr"] == gb["lr"] == pytest.approx(ga["initial_lr"] * 0.25)
    if not paired:
        pools = a["recipe"]["pools"]
        assert {k: len(p["images"]) for k, p in pools.items()} == {"A": 4, "B": 4}  # full (pool_size 4)
        for k in pools:
            assert torch.equal(pools[k]["images"], b["recipe"]["pools"][k]["images"])
    rows = [json.loads(x) for x in (whole.run_dir / "stats.jsonl").read_text().splitlines()]
    assert [r["lr_factor"] for r in rows] == [1.0, 1.0, 0.5, 0.0]


def test_pool_state_is_what_a_resume_needs(tmp_path):
    """Without the pools in the checkpoint a resumed CycleGAN would start with empty pools."""
    ds = make_pairs(paired=False)
    cfg = tiny("cyclegan-tiny", **{"train.total_kimg": 0.016, "train.tick_kimg": 0.008})
    run = ganforge.train(cfg, out=tmp_path, dataset=ds)
    state = __import__("ganforge.training.checkpoint", fromlist=["x"]).load_latest_checkpoint(run.run_dir)[1]
    r = build("cyclegan-tiny", ds)
    assert len(r.pools["A"]) == 0
    r.load_state_dict(state["recipe"])
    assert len(r.pools["A"]) == 4 and len(r.pools["B"]) == 4


# ------------------------------------------------------------------------------------------------
# Grids, exports and metrics behind the recipe.


@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory):
    ds = make_pairs()
    test = make_pairs(split="test")
    out = tmp_path_factory.mktemp("p2p")
    cfg = tiny("pix2pix-tiny", **{"metrics.names": "pair_l1,pair_psnr,pair_ssim,pair_msssim,swd",
                                  "metrics.interval_kimg": 0.016, "metrics.extractor": POOL4})
    r = ganforge.train(cfg, out=out, dataset=ds)
    return r, ds, test


def test_translation_run_writes_side_by_side_grids(pix2pix_run):
    r, ds, _ = pix2pix_run
    grids = sorted((r.run_dir / "samples").glob("fakes*.png"))
    assert len(grids) == 3  # start + two ticks
    img = Image.open(grids[-1])
    # 4 samples (grid_size 4) x (input, output, target) in one row of 16 px cells, pad 2, doubled
    assert img.size == ((12 * 18 + 2) * 2, (1 * 18 + 2) * 2)
    cells = np.asarray(img.convert("L"))[::2, ::2]
    first_input = cells[2:18, 2:18]
    first_target = cells[2:18, 2 + 2 * 18:2 + 2 * 18 + 16]
    assert ((first_input.astype(int) + first_target.astype(int)) == 255).all()  # the pair A = 255 - B


def test_metrics_during_translation_training(pix2pix_run):
    r, ds, _ = pix2pix_run
    records = [json.loads(x) for x in (r.run_dir / "metrics.jsonl").read_text().splitlines()]
    names = {rec["metric"] for rec in records}
    assert names == {"pair_l1/AtoB", "pair_psnr/AtoB", "pair_ssim/AtoB", "pair_msssim/AtoB", "swd/AtoB"}
    by = {rec["metric"]: rec for rec in records if rec["kimg"] == 0.032}
    assert all(rec["details"]["direction"] == "AtoB" for rec in records)
    assert by["pair_l1/AtoB"]["num_gen"] == 24 and by["pair_l1/AtoB"]["dataset_hash"] == ds.content_hash
    assert 0 < by["pair_l1/AtoB"]["value"] < 1 and by["pair_psnr/AtoB"]["value"] > 0
    rows = [json.loads(x) for x in (r.run_dir / "stats.jsonl").read_text().splitlines()]
    assert "metrics/pair_ssim/AtoB" in rows[-1]
    # the record's value is what the exported model gives on the evaluation pairs
    from ganforge.metrics.translation import l1, translate_images

    G = ganforge.load_generator(r.run_dir, kind="translator")
    out = translate_images(G, ds.a_u8, "AtoB")
    assert by["pair_l1/AtoB"]["value"] == pytest.approx(float(l1(out, ds.b_u8).mean()), rel=1e-6)


def test_translator_exports_are_refused_where_a_generator_is_expected(pix2pix_run, tmp_path, capsys):
    r, _, _ = pix2pix_run
    with pytest.raises(GanforgeError, match="is an image-to-image translation model .*use it with ganforge translate"):
        ganforge.load_generator(r.run_dir)
    assert main(["generate", "--model", str(r.run_dir), "--out", str(tmp_path / "g")]) == 2
    assert "ganforge translate" in capsys.readouterr().err
    meta = json.loads((r.run_dir / "model.json").read_text())
    assert meta["kind"] == "translator" and meta["directions"] == ["AtoB"] and meta["in_channels"] == 1
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("over,needle", [
    ({"metrics.names": "ppl_z"}, "'ppl_z' needs a generator of images from noise; recipe pix2pix is scored"),
    ({"metrics.names": "ifid1k"}, "'ifid1k' needs a generator of images from noise"),
    ({"metrics.names": "fid1k", "metrics.extractor": POOL4}, "needs 1000 translated images but"),
])
def test_translation_metrics_are_checked_before_training(tmp_path, over, needle):
    cfg = tiny("pix2pix-tiny", **over)
    with pytest.raises(GanforgeError, match=needle):
        ganforge.train(cfg, out=tmp_path, dataset=make_pairs())
    assert not any(tmp_path.iterdir())


def test_pair_metrics_need_paired_data_and_a_translation_recipe(tmp_path, tiny_dataset):
    with pytest.raises(GanforgeError, match="is unpaired"):
        ganforge.train(tiny("cyclegan-tiny", **{"metrics.names": "pair_l1"}), out=tmp_path,
                       dataset=make_pairs(paired=False))
    with pytest.raises(GanforgeError, match="compares translated images with their ground truth"):
        ganforge.train(tiny("dcgan-tiny", **{"metrics.names": "pair_psnr"}), out=tmp_path, dataset=tiny_dataset)
    assert not any(tmp_path.iterdir())


def test_cyclegan_grid_shows_both_directions_and_cycles(tmp_path):
    ds = make_pairs(paired=False)
    cfg = tiny("cyclegan-tiny", **{"train.total_kimg": 0.008, "train.tick_kimg": 0.008})
    r = ganforge.train(cfg, out=tmp_path, dataset=ds)
    img = Image.open(sorted((r.run_dir / "samples").glob("fakes*.png"))[-1])
    assert img.size == ((12 * 18 + 2) * 2, (2 * 18 + 2) * 2)  # a row of A -> B -> A, a row of B -> A -> B
    G = ganforge.load_generator(r.run_dir, kind="translator")
    assert G.directions == ("AtoB", "BtoA")


# ------------------------------------------------------------------------------------------------
# ganforge translate.


def _write_inputs(folder: Path, ds: TranslationDataset, n: int = 5) -> list[str]:
    names = []
    for i in range(n):
        rel = f"sub/img{i}.png" if i == 0 else f"img{i}.png"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ds.a_u8[i, 0].numpy(), mode="L").save(folder / rel)
        names.append(rel)
    return names


def test_translate_keeps_names_and_matches_the_model(pix2pix_run, tmp_path, capsys):
    r, ds, _ = pix2pix_run
    inp, out = tmp_path / "in", tmp_path / "out"
    names = _write_inputs(inp, ds)
    assert main(["translate", "--model", str(r.run_dir), "--input", str(inp), "--out", str(out),
                 "--device", "cpu", "--grid", "2"]) == 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.png") if p.name != "translate-grid.png") == sorted(names)
    G = ganforge.load_generator(r.run_dir, kind="translator")
    from ganforge.metrics.translation import translate_images

    want = translate_images(G, ds.a_u8[:5], "AtoB")
    for i, rel in enumerate(names):
        got = torch.from_numpy(np.array(Image.open(out / rel)))
        assert torch.equal(got, want[i, 0]), rel
    assert (out / "translate-grid.png").exists()
    assert "wrote 5 translated images" in capsys.readouterr().out


def test_translate_refuses_to_overwrite_and_bad_directions(pix2pix_run, tmp_path, capsys):
    r, ds, _ = pix2pix_run
    inp, out = tmp_path / "in", tmp_path / "out"
    _write_inputs(inp, ds, 2)
    out.mkdir()
    Image.new("L", (3, 3), 7).save(out / "img1.png")
    before = (out / "img1.png").read_bytes()
    assert main(["translate", "--model", str(r.run_dir), "--input", str(inp), "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "already exist" in err and "Traceback" not in err
    assert (out / "img1.png").read_bytes() == before and not (out / "sub").exists()
    assert main(["translate", "--model", str(r.run_dir), "--input", str(inp), "--out", str(tmp_path / "o2"),
                 "--direction", "BtoA"]) == 2
    assert "valid choices: AtoB" in capsys.readouterr().err
    assert main(["translate", "--model", str(r.run_dir), "--input", str(inp), "--out", str(inp)]) == 2
    assert "is the input folder" in capsys.readouterr().err


def test_translate_checks_every_input_before_writing(pix2pix_run, tmp_path, capsys):
    r, ds, _ = pix2pix_run
    inp, out = tmp_path / "in", tmp_path / "out"
    _write_inputs(inp, ds, 3)
    (inp / "zz-broken.png").write_bytes(b"not a png")
    assert main(["translate", "--model", str(r.run_dir), "--input", str(inp), "--out", str(out), "--device", "cpu"]) == 2
    assert "zz-broken.png" in capsys.readouterr().err
    assert not out.exists() or not any(out.rglob("*.png"))
    assert main(["translate", "--model", str(r.run_dir), "--input", str(inp), "--out", str(out), "--device", "cpu",
                 "--on-bad-image", "skip"]) == 0
    assert "skipped 1 bad file" in capsys.readouterr().out


def test_lr_schedule_applies_to_every_family(tmp_path, tiny_dataset):
    cfg = tiny("dcgan-tiny", **{"train.total_kimg": 0.048, "train.tick_kimg": 0.048, "optim.lr_decay_start_kimg": 0.016})
    tr = Trainer(cfg, tmp_path, dataset=tiny_dataset)
    seen = []
    acc: dict = {}
    for _ in range(6):  # batch 8: steps start at 0, 8, ..., 40 images
        tr.train_step(acc)
        seen.append(tr.recipe.optimizers["G"].param_groups[0]["lr"] / cfg.optim.g_lr)
    assert seen == pytest.approx([1, 1, 1, 1 - 8 / 32, 1 - 16 / 32, 1 - 24 / 32])
    constant = Trainer(tiny("dcgan-tiny"), tmp_path / "c", dataset=tiny_dataset)
    constant.train_step(acc)
    assert constant.recipe.optimizers["D"].param_groups[0]["lr"] == cfg.optim.d_lr


def test_translator_metadata_is_checked(pix2pix_run, tmp_path):
    import shutil

    r, _, _ = pix2pix_run
    dst = tmp_path / "m"
    dst.mkdir()
    shutil.copy(r.run_dir / "generator.safetensors", dst / "generator.safetensors")
    from ganforge.training.checkpoint import read_export, save_export

    meta, tensors = read_export(dst / "generator.safetensors")
    G = ganforge.load_generator(r.run_dir, kind="translator")
    for bad, needle in (({"in_channels": 2}, "in_channels"), ({"kind": None}, "kind None does not fit recipe")):
        save_export(dst, G, {**meta, **bad})
        with pytest.raises(GanforgeError, match=needle):
            ganforge.load_generator(dst, kind="translator" if "kind" not in bad else "generator")


def test_built_in_task_is_evaluated_on_its_test_split(tmp_path):
    """Loaded from the config, a task's grids and metrics use its test split (records say so)."""
    cfg = tiny("pix2pix-tiny", **{"train.total_kimg": 0.004, "train.tick_kimg": 0.004,
                                  "metrics.names": "pair_l1,pair_ssim"})
    r = ganforge.train(cfg, out=tmp_path)
    recs = [json.loads(x) for x in (r.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {x["metric"] for x in recs} == {"pair_l1/AtoB", "pair_ssim/AtoB"}
    assert all(x["real_split"] == "test" and x["num_gen"] == 1000 and x["dataset"] == "fmnist-edges:test/B"
               for x in recs)


def test_resume_refuses_another_pairing():
    """The same folder read as aligned pairs or as two domains is different data: no resume across."""
    from ganforge.training.trainer import check_resume_compatible

    cfg = tiny("cyclegan-tiny")
    other = apply_overrides(cfg, {"data.pairing": "unpaired"})
    with pytest.raises(GanforgeError, match="data.pairing: checkpoint has None, requested 'unpaired'"):
        check_resume_compatible(cfg, other)
