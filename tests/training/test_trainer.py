"""Trainer behaviour: exact resume, atomic checkpoints, the non-finite guard, EMA, exports."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from helpers.data import make_dataset
from helpers.training import assert_states_equal, final_state, quiet_trainer, tiny_cfg

import ganforge
from ganforge.errors import GanforgeError
from ganforge.training import checkpoint as ckpt
from ganforge.training.ema import ema_beta
from ganforge.training.trainer import Trainer, TrainingDiverged


@pytest.mark.parametrize("preset", ["dcgan-tiny", "wgangp-tiny", "sngan-tiny"])
def test_resume_is_bit_identical(tmp_path, tiny_dataset, preset):
    full = ganforge.train(tiny_cfg(preset, steps=6), out=tmp_path / "a", dataset=tiny_dataset)
    part = ganforge.train(tiny_cfg(preset, steps=2), out=tmp_path / "b", dataset=tiny_dataset)
    assert part.steps == 2
    resumed = ganforge.train(tiny_cfg(preset, steps=6), out=tmp_path / "b", resume="auto", dataset=tiny_dataset)
    assert resumed.run_dir == part.run_dir and resumed.steps == 6
    assert_states_equal(final_state(full.run_dir), final_state(resumed.run_dir))
    # The exported generators agree too.
    ga, gb = ganforge.load_generator(full.run_dir), ganforge.load_generator(resumed.run_dir)
    z = torch.randn(3, ga.z_dim)
    assert torch.equal(ga(z), gb(z))


def test_resume_with_other_architecture_stops_with_the_difference(tmp_path, tiny_dataset):
    ganforge.train(tiny_cfg(steps=2), out=tmp_path, dataset=tiny_dataset)
    with pytest.raises(GanforgeError) as e:
        ganforge.train(tiny_cfg(steps=4, **{"model.g_width": 16}), out=tmp_path, resume="auto",
                       dataset=tiny_dataset)
    assert "model.g_width" in str(e.value) and "8" in str(e.value) and "16" in str(e.value)


def test_resume_auto_without_a_run_starts_fresh(tmp_path, tiny_dataset):
    r = ganforge.train(tiny_cfg(steps=2), out=tmp_path, resume="auto", dataset=tiny_dataset)
    assert r.steps == 2 and r.run_dir.name == "00000-dcgan-tiny"
    r2 = ganforge.train(tiny_cfg(steps=2), out=tmp_path, dataset=tiny_dataset)
    assert r2.run_dir.name == "00001-dcgan-tiny"  # a new run never reuses a directory


def test_interrupted_save_leaves_previous_checkpoint_loadable(tmp_path, tiny_dataset, monkeypatch):
    r = ganforge.train(tiny_cfg(steps=2), out=tmp_path, dataset=tiny_dataset)
    before = ckpt.list_checkpoints(r.run_dir)
    assert before

    def dying_save(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # killed mid-write

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(r.run_dir, 999, {"format": "x"})
    monkeypatch.undo()
    assert ckpt.list_checkpoints(r.run_dir) == before
    assert not list((r.run_dir / ckpt.CKPT_DIR).glob(".*tmp*"))
    path, state = ckpt.load_latest_checkpoint(r.run_dir)
    assert state["counters"]["step"] == 2


def test_damaged_newest_checkpoint_falls_back_to_previous(tmp_path, tiny_dataset):
    r = ganforge.train(tiny_cfg(steps=4), out=tmp_path, dataset=tiny_dataset)
    cks = ckpt.list_checkpoints(r.run_dir)
    assert len(cks) == 2
    cks[-1].write_bytes(cks[-1].read_bytes()[:100])  # truncated
    with pytest.warns(UserWarning, match="unreadable checkpoint"):
        path, state = ckpt.load_latest_checkpoint(r.run_dir)
    assert path == cks[0]


def test_checkpoints_hold_no_code(tmp_path, tiny_dataset):
    r = ganforge.train(tiny_cfg(steps=2), out=tmp_path, dataset=tiny_dataset)
    path = ckpt.list_checkpoints(r.run_dir)[-1]
    state = torch.load(path, weights_only=True)  # raises if anything but data were pickled
    assert state["format"] == "ganforge-train-state"
    # A pickle carrying code is refused.
    evil = tmp_path / "evil.pt"
    torch.save({"format": "ganforge-train-state", "x": Trainer}, evil)
    with pytest.raises(GanforgeError, match="cannot read checkpoint"):
        ckpt.load_checkpoint(evil)


class _NaNAfter:
    """Wraps a phase loss: returns NaN on the steps listed."""

    def __init__(self, fn, bad_calls):
        self.fn, self.bad_calls, self.calls = fn, set(bad_calls), 0

    def __call__(self, batch):
        loss, terms = self.fn(batch)
        self.calls += 1
        if self.calls in self.bad_calls:
            loss = loss * float("nan")
            terms = {**terms, "G/adv": loss}
        return loss, terms


def test_non_finite_step_is_skipped_without_touching_state(tmp_path, tiny_dataset):
    cfg = tiny_cfg(steps=4)
    t = Trainer(cfg, tmp_path, dataset=tiny_dataset)
    d_phase = [p for p in t.phases if p.name == "D"][0]
    acc = {}
    t.train_step(acc)
    d_phase.loss = _NaNAfter(d_phase.loss, bad_calls={1})

    def snapshot():
        out = {f"{n}.{k}": v.clone() for n, net in t.recipe.nets.items() for k, v in net.state_dict().items()}
        out.update({f"ema.{k}": v.clone() for k, v in t.emas["G_ema"].ema_net.state_dict().items()})
        for n, opt in t.recipe.optimizers.items():
            for i, st in enumerate(opt.state.values()):
                out.update({f"opt.{n}.{i}.{k}": v.clone() for k, v in st.items()})
        return out

    before = snapshot()
    ok = t.train_step(acc)
    assert not ok and t.bad_steps_total == 1
    after = snapshot()
    assert after.keys() == before.keys()
    for k in before:  # weights, batchnorm statistics, optimizer moments and EMA untouched
        assert torch.equal(after[k], before[k]), k
    assert t.train_step(acc)  # and training goes on
    assert t.consecutive_bad == 0
    assert not torch.equal(snapshot()["G.output.weight"], before["G.output.weight"])
    log = (tmp_path / "stats.jsonl").read_text()
    assert "non-finite" in log and "G/adv" in log


def test_consecutive_non_finite_steps_stop_training(tmp_path, tiny_dataset):
    cfg = tiny_cfg(steps=50, **{"train.max_bad_steps": 3})
    t = Trainer(cfg, tmp_path, dataset=tiny_dataset)
    t.save_checkpoint()
    g_phase = [p for p in t.phases if p.name == "G"][0]
    g_phase.loss = _NaNAfter(g_phase.loss, bad_calls=range(1, 100))
    with pytest.raises(TrainingDiverged) as e:
        t.train()
    msg = str(e.value)
    newest = ckpt.list_checkpoints(tmp_path)[-1]
    assert "3 consecutive" in msg and "step 3" in msg and "G/adv" in msg and str(newest) in msg


def test_ema_beta_uses_half_life_in_images():
    # After half-life images the old weights keep half their influence, whatever the batch size.
    for batch in (8, 64, 500):
        steps = 10_000 // batch
        assert ema_beta(batch, 10**9, 10.0, None) ** steps == pytest.approx(0.5 ** (steps * batch / 10_000))
    # Ramp-up: early in training the half-life is capped at rampup * cur_nimg.
    assert ema_beta(64, 1000, 10.0, 0.05) == pytest.approx(0.5 ** (64 / 50))


def test_run_directory_contents(tmp_path, tiny_dataset):
    r = ganforge.train(tiny_cfg(steps=4), out=tmp_path, dataset=tiny_dataset)
    d = r.run_dir
    for name in ("config.json", "stats.jsonl", "generator.safetensors", "model.json", "samples/reals.png"):
        assert (d / name).exists(), name
    assert list((d / "samples").glob("fakes*.png"))
    rows = [line for line in (d / "stats.jsonl").read_text().splitlines() if '"kimg"' in line]
    assert len(rows) == 2  # a tick every 2 steps
    G = ganforge.load_generator(d)
    assert not G.training and G.meta["dataset_hash"] == tiny_dataset.content_hash
    out = G(torch.randn(2, G.z_dim))
    assert out.shape == (2, 1, 16, 16)


def test_conditional_needs_labels(tmp_path, tiny_dataset):
    cfg = tiny_cfg("dcgan-cond-tiny", steps=2, **{"data.use_labels": False})
    with pytest.raises(GanforgeError, match="data.use_labels"):
        Trainer(cfg, tmp_path, dataset=tiny_dataset)


def test_interrupt_writes_a_checkpoint(tmp_path, tiny_dataset):
    cfg = tiny_cfg(steps=20, **{"train.tick_kimg": 1.0})
    t = Trainer(cfg, tmp_path, dataset=tiny_dataset)
    calls = {"n": 0}
    real_step = t.train_step

    def step_then_ctrl_c(acc):  # Ctrl-C as the third step starts: that step is finished, then checkpointed
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(acc)

    t.train_step = step_then_ctrl_c
    r = t.train()
    assert r.interrupted and r.steps == 3
    path, state = ckpt.load_latest_checkpoint(tmp_path)
    assert state["counters"]["step"] == 3


def test_mixed_precision_trains_finite_on_cpu(tmp_path, tiny_dataset):
    r = ganforge.train(tiny_cfg(steps=2, **{"train.mixed_precision": True}), out=tmp_path, dataset=tiny_dataset)
    assert r.steps == 2 and r.bad_steps == 0
    row = r.stats[-1]
    assert all(torch.isfinite(torch.tensor(row[k])) for k in ("G/adv", "D/adv"))


def test_tensorboard_scalars_written(tmp_path, tiny_dataset):
    pytest.importorskip("tensorboard")
    r = ganforge.train(tiny_cfg(steps=2, **{"train.tensorboard": True}), out=tmp_path, dataset=tiny_dataset)
    assert list((r.run_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_bad_config_writes_no_run_directory(tmp_path, tiny_dataset):
    with pytest.raises(GanforgeError, match="train.batch_size must be an integer >= 1"):
        ganforge.train(tiny_cfg(steps=2, **{"train.batch_size": 0}), out=tmp_path, dataset=tiny_dataset)
    with pytest.raises(GanforgeError, match="data.use_labels"):
        ganforge.train(tiny_cfg("dcgan-cond-tiny", steps=2, **{"data.use_labels": False}), out=tmp_path,
                       dataset=tiny_dataset)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_sigterm_is_handled_like_ctrl_c(tmp_path, tiny_dataset):
    import os
    import signal

    cfg = tiny_cfg(steps=20, **{"train.tick_kimg": 1.0})
    t = Trainer(cfg, tmp_path, dataset=tiny_dataset)
    real_step = t.train_step
    calls = {"n": 0}

    def step_then_sigterm(acc):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(acc)

    t.train_step = step_then_sigterm
    before = signal.getsignal(signal.SIGTERM)
    r = t.train()
    assert r.interrupted and ckpt.load_latest_checkpoint(tmp_path)[1]["counters"]["step"] == r.steps
    assert signal.getsignal(signal.SIGTERM) == before  # handler restored


def test_resume_on_changed_data_warns_with_both_hashes_and_records_it(tmp_path, tiny_dataset, capsys):
    r = ganforge.train(tiny_cfg(steps=2), out=tmp_path, dataset=tiny_dataset)
    same = ganforge.train(tiny_cfg(steps=4), out=tmp_path, resume=r.run_dir, dataset=make_dataset())
    assert "training data changed" not in capsys.readouterr().err  # the same pixels: no warning
    other = make_dataset(seed=1)
    assert other.content_hash != tiny_dataset.content_hash
    ganforge.train(tiny_cfg(steps=6), out=tmp_path, resume=same.run_dir, dataset=other)
    err = capsys.readouterr().err
    assert (f"the training data changed since the checkpoint: content hash {tiny_dataset.content_hash[:16]}"
            in err and other.content_hash[:16] in err), err
    rows = [json.loads(line) for line in (r.run_dir / "stats.jsonl").read_text().splitlines()]
    assert any("training data changed" in row.get("warning", "") for row in rows)


def test_loading_an_export_that_is_a_named_pipe_is_refused_without_blocking(tmp_path):
    pipe = tmp_path / "generator.safetensors"
    os.mkfifo(pipe)
    with pytest.raises(GanforgeError, match="not a regular file"):
        ganforge.load_generator(pipe)
    with pytest.raises(GanforgeError, match="not a regular file"):
        ganforge.load_generator(tmp_path)  # a run directory whose weights are the pipe


@pytest.mark.parametrize("total_kimg, start_steps, end_kimg", [(0.02, 0, 0.024), (0.024, 0, 0.024), (0.02, 1, 0.024)])
def test_the_progress_bar_ends_where_training_ends(tmp_path, monkeypatch, total_kimg, start_steps, end_kimg):
    """Training stops at the first whole batch past train.total_kimg: the bar's total is that count, so it
    does not run past 100% (the bar of a 2.0 kimg run ended at 2.048: 102% and a negative time left)."""
    from ganforge.training.stats import StatsWriter

    totals = []
    real = StatsWriter.progress

    def spy(self, total_kimg, start_kimg, enabled):
        totals.append((round(total_kimg, 6), round(start_kimg, 6)))
        return real(self, total_kimg, start_kimg, enabled)

    monkeypatch.setattr(StatsWriter, "progress", spy)
    batch = 8  # dcgan-tiny
    if start_steps:  # a resumed run whose start is not a multiple of the remaining distance
        quiet_trainer(tmp_path / "r", "dcgan-tiny", make_dataset(), **{"train.total_kimg": start_steps * batch / 1000}).train()
        t = ganforge.train(resume=tmp_path / "r", overrides={"train.total_kimg": total_kimg, "train.progress": False},
                           dataset=make_dataset())
    else:
        t = quiet_trainer(tmp_path / "r", "dcgan-tiny", make_dataset(), **{"train.total_kimg": total_kimg}).train()
    assert totals[-1] == (end_kimg, start_steps * batch / 1000)
    assert t.cur_nimg == round(end_kimg * 1000)
