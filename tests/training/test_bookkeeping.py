"""The run directory's record survives a crash: after a resume from a checkpoint older than the last
tick, every tick is recorded once, the abandoned stretch is set aside in ``superseded/`` (never
overwritten or lost), output names never collide, and ``report`` overwrites nothing unasked."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.config import apply_overrides
from ganforge.errors import GanforgeError
from ganforge.training import bookkeeping as bk
from ganforge.training import checkpoint as ckpt
from ganforge.training.report import progress_gif, read_stats
from ganforge.training.trainer import Trainer


def one_step_ticks(total_steps: int, **over):
    """dcgan-tiny (batch 8) with a tick after every step: tick k ends at 0.008*k kimg."""
    overrides = {"train.total_kimg": total_steps * 0.008, "train.tick_kimg": 0.008, "train.progress": False}
    overrides.update(over)
    return apply_overrides(ganforge.get_preset("dcgan-tiny"), overrides)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def tick_kimgs(run_dir: Path) -> list[float]:
    return [r["kimg"] for r in rows(run_dir / "stats.jsonl") if "warning" not in r]


def kimgs(n: int) -> list[float]:
    return [round(0.008 * k, 3) for k in range(1, n + 1)]


class Killed(Exception):
    """Stands for SIGKILL / power loss: nothing in the trainer gets to react."""


def kill_at_step(monkeypatch, step: int):
    real = Trainer.train_step

    def step_or_die(self, acc):
        if self.step + 1 == step:
            raise Killed
        return real(self, acc)

    monkeypatch.setattr(Trainer, "train_step", step_or_die)


def test_kill_between_snapshots_then_resume_records_each_tick_once(tmp_path, tiny_dataset, monkeypatch, capsys):
    cfg = one_step_ticks(6, **{"train.snapshot_ticks": 2, "metrics.names": "kid1k",
                               "metrics.interval_kimg": 0.008, "metrics.extractor": "test-pool4"})
    kill_at_step(monkeypatch, 6)  # ticks 1-5 recorded, checkpoints at ticks 2 and 4
    with pytest.raises(Killed):
        ganforge.train(cfg, out=tmp_path / "runs", dataset=tiny_dataset)
    monkeypatch.undo()
    (run,) = (tmp_path / "runs").iterdir()
    assert tick_kimgs(run) == kimgs(5)
    assert [ckpt.CKPT_RE.match(p.name).group(1) for p in ckpt.list_checkpoints(run)] == ["000000016", "000000032"]

    r = ganforge.train(cfg, out=tmp_path / "runs", resume="auto", dataset=tiny_dataset)
    assert r.run_dir == run and r.steps == 6
    assert tick_kimgs(run) == kimgs(6)  # tick 5 once, not twice
    assert [m["kimg"] for m in rows(run / "metrics.jsonl")] == kimgs(6)
    # The first run's tick 5 is kept aside, tagged with the point the run went back to.
    side = run / bk.SUPERSEDED_DIR
    for name in ("stats.jsonl", "metrics.jsonl"):
        (old,) = rows(side / name)
        assert old["kimg"] == 0.04 and old["superseded_at_kimg"] == 0.032
    assert (side / "fakes000000.040.png").exists()
    assert (run / "samples" / "fakes000000.040.png").exists()  # the re-run's own grid
    err = capsys.readouterr().err
    assert "resumed at 0.032 kimg" in err and "1 row of stats.jsonl" in err and str(side) in err


def test_truncated_newest_checkpoint_sets_aside_what_followed_the_previous(tmp_path, tiny_dataset):
    first = ganforge.train(one_step_ticks(4, **{"train.snapshot_ticks": 2}), out=tmp_path, dataset=tiny_dataset)
    run = first.run_dir
    newest = ckpt.list_checkpoints(run)[-1]
    newest.write_bytes(newest.read_bytes()[:100])
    abandoned_export = (run / "exports" / "generator-000000.032kimg.safetensors").read_bytes()
    with pytest.warns(UserWarning, match="unreadable checkpoint"):
        r = ganforge.train(one_step_ticks(6, **{"train.snapshot_ticks": 2}), out=tmp_path, resume="auto",
                           dataset=tiny_dataset)
    assert r.run_dir == run
    assert tick_kimgs(run) == kimgs(6)
    side = run / bk.SUPERSEDED_DIR
    assert [row["kimg"] for row in rows(side / "stats.jsonl")] == [0.024, 0.032]
    for name in ("fakes000000.024.png", "fakes000000.032.png", "generator-000000.032kimg.json",
                 "state-000000032.pt"):
        assert (side / name).exists(), name
    # The export of the abandoned stretch was moved, not overwritten by the re-run's export.
    assert (side / "generator-000000.032kimg.safetensors").read_bytes() == abandoned_export
    assert [p.name for p in bk.export_files(run) if p.suffix == ".safetensors"] == [
        "generator-000000.016kimg.safetensors", "generator-000000.032kimg.safetensors",
        "generator-000000.048kimg.safetensors"]


def test_resume_from_an_explicit_older_checkpoint(tmp_path, tiny_dataset):
    cfg = one_step_ticks(6, **{"train.keep_checkpoints": 10})
    first = ganforge.train(cfg, out=tmp_path, dataset=tiny_dataset)
    run = first.run_dir
    older = ckpt.checkpoint_path(run, 16)
    ganforge.train(cfg, out=tmp_path, resume=older, dataset=tiny_dataset)
    assert tick_kimgs(run) == kimgs(6)
    side = run / bk.SUPERSEDED_DIR
    assert [(row["kimg"], row["superseded_at_kimg"]) for row in rows(side / "stats.jsonl")] == [
        (k, 0.016) for k in kimgs(6)[2:]]
    assert sorted(p.name for p in side.glob("fakes*.png")) == [bk.sample_name(n) for n in (24, 32, 40, 48)]
    assert sorted(p.name for p in side.glob("state-*.pt")) == [f"state-{n:09d}.pt" for n in (24, 32, 40, 48)]
    # Resuming from the same point again keeps both abandoned stretches: names taken get a ~N.
    ganforge.train(cfg, out=tmp_path, resume=older, dataset=tiny_dataset)
    assert tick_kimgs(run) == kimgs(6)
    assert len(rows(side / "stats.jsonl")) == 8
    assert (side / "fakes000000.024~1.png").exists()
    assert (side / "generator-000000.048kimg~1.safetensors").exists()
    assert (side / "generator-000000.048kimg~1.json").exists()


def test_checkpoints_of_an_abandoned_stretch_do_not_outrank_the_resumed_one(tmp_path, tiny_dataset, monkeypatch):
    # keep_checkpoints=2 leaves 0.016 and 0.032. Going back to 0.016 and stopping at 0.024 must leave
    # 0.024 as the newest checkpoint: pruning by name would otherwise delete it and keep 0.032.
    cfg = one_step_ticks(4, **{"train.tick_kimg": 0.016})
    run = ganforge.train(cfg, out=tmp_path, dataset=tiny_dataset).run_dir
    real = Trainer.train_step
    calls = {"n": 0}

    def one_step_then_ctrl_c(self, acc):  # Ctrl-C during the first step: training stops after it
        calls["n"] += 1
        if calls["n"] == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, acc)

    monkeypatch.setattr(Trainer, "train_step", one_step_then_ctrl_c)
    r = ganforge.train(cfg, out=tmp_path, resume=ckpt.checkpoint_path(run, 16), dataset=tiny_dataset)
    assert r.interrupted and r.cur_nimg == 24
    path, state = ckpt.load_latest_checkpoint(run)
    assert path.name == "state-000000024.pt" and state["counters"]["cur_nimg"] == 24
    assert (run / bk.SUPERSEDED_DIR / "state-000000032.pt").exists()


def test_warning_rows_carry_kimg_and_are_set_aside_with_their_stretch(tmp_path, tiny_dataset):
    cfg = one_step_ticks(4, **{"train.keep_checkpoints": 10})
    t = Trainer(cfg, tmp_path, dataset=tiny_dataset)
    d_phase = next(p for p in t.phases if p.name == "D")
    real_loss, calls = d_phase.loss, {"n": 0}

    def nan_on_third_call(batch):
        calls["n"] += 1
        loss, terms = real_loss(batch)
        return (loss * float("nan"), terms) if calls["n"] == 3 else (loss, terms)

    d_phase.loss = nan_on_third_call
    t.train()
    (warning,) = [r for r in rows(tmp_path / "stats.jsonl") if "warning" in r]
    assert warning["kimg"] == 0.024 and "step 3" in warning["warning"]

    ganforge.train(cfg, resume=ckpt.checkpoint_path(tmp_path, 16), dataset=tiny_dataset)
    assert not [r for r in rows(tmp_path / "stats.jsonl") if "warning" in r]  # the re-run had none
    (aside,) = [r for r in rows(tmp_path / bk.SUPERSEDED_DIR / "stats.jsonl") if "warning" in r]
    assert aside["kimg"] == 0.024 and aside["superseded_at_kimg"] == 0.016


def test_sub_kimg_ticks_write_distinct_grids_and_exports(tmp_path, tiny_dataset):
    r = ganforge.train(one_step_ticks(4), out=tmp_path, dataset=tiny_dataset)
    grids = [p.name for p in bk.sample_grids(r.run_dir)]
    assert grids == ["fakes000000.png", "fakes000000.008.png", "fakes000000.016.png", "fakes000000.024.png",
                     "fakes000000.032.png"]
    exports = [p.name for p in bk.export_files(r.run_dir)]
    assert Counter(Path(e).suffix for e in exports) == {".safetensors": 4, ".json": 4}
    meta = json.loads((r.run_dir / "exports" / "generator-000000.024kimg.json").read_text())
    assert meta["kimg"] == 0.024


def test_names_keep_whole_kimg_and_parse_back():
    assert bk.sample_name(140_000) == "fakes000140.png"
    assert bk.export_stem(140_000) == "generator-000140kimg"
    assert bk.sample_name(512) == "fakes000000.512.png"
    assert bk.export_stem(1_200) == "generator-000001.200kimg"
    for n in (0, 8, 512, 1000, 1_200, 140_000, 140_512, 12_345_678_901):
        assert bk.nimg_of(bk.sample_name(n)) == n
        assert bk.nimg_of(bk.export_stem(n) + ".safetensors") == n
    assert bk.nimg_of("fakes000000.5.png") is None and bk.nimg_of("reals.png") is None


def _solid(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), value).save(path)


def test_report_orders_frames_by_image_count(tmp_path):
    # In string order fakes000001.200.png comes before fakes000001.png.
    order = [0, 512, 1_000, 1_200, 2_000]
    for i, n in enumerate(order):
        _solid(tmp_path / "samples" / bk.sample_name(n), 40 * (i + 1))
    assert sorted(bk.sample_name(n) for n in order) != [bk.sample_name(n) for n in order]
    gif = Image.open(progress_gif(tmp_path))
    seen = []
    for i in range(gif.n_frames):
        gif.seek(i)
        seen.append(gif.convert("L").getpixel((0, 0)))
    assert seen == [40, 80, 120, 160, 200]
    with pytest.raises(GanforgeError, match="progress.gif already exists; pass overwrite=True"):
        progress_gif(tmp_path)
    assert progress_gif(tmp_path, overwrite=True) == tmp_path / "progress.gif"


def _fake_run(root: Path, frames: int = 2) -> Path:
    for i in range(frames):
        _solid(root / "samples" / bk.sample_name(8 * i), 60 * i)
    (root / "stats.jsonl").write_text("".join(
        json.dumps({"kimg": 0.008 * i, "G/adv": 1.0 / i, "D/adv": 0.5, "img_per_s": 100.0}) + "\n"
        for i in range(1, frames)) + json.dumps({"warning": "x", "kimg": 0.008}) + "\n")
    return root


def test_report_refuses_to_overwrite_and_replaces_with_the_flag(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    run = _fake_run(tmp_path / "run")
    assert main(["report", str(run)]) == 0
    gif, png = (run / "progress.gif").read_bytes(), (run / "losses.png").read_bytes()
    capsys.readouterr()

    _solid(run / "samples" / bk.sample_name(16), 200)  # training went on
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert str(run / "progress.gif") in err and str(run / "losses.png") in err and "--overwrite" in err
    assert "Traceback" not in err
    assert (run / "progress.gif").read_bytes() == gif and (run / "losses.png").read_bytes() == png

    assert main(["report", str(run), "--overwrite"]) == 0
    assert Image.open(run / "progress.gif").n_frames == 3
    assert not list(run.glob(".*tmp*"))


def test_report_writes_nothing_when_only_one_output_exists(tmp_path, capsys):
    run = _fake_run(tmp_path / "run")
    (run / "losses.png").write_bytes(b"mine")
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert str(run / "losses.png") in err and "progress.gif" not in err
    assert not (run / "progress.gif").exists() and (run / "losses.png").read_bytes() == b"mine"


def test_read_stats_skips_warning_rows(tmp_path):
    (tmp_path / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"kimg": 0.008, "G/adv": 1.0}, {"warning": "w", "kimg": 0.008}, {"kimg": 0.016, "G/adv": 0.5}]))
    assert [r["kimg"] for r in read_stats(tmp_path)] == [0.008, 0.016]


def test_a_row_cut_short_by_a_kill_is_set_aside_too(tmp_path):
    good = [{"kimg": 0.008, "G/adv": 1.0}, {"warning": "w", "kimg": 0.016}, {"kimg": 0.016, "G/adv": 2.0},
            {"kimg": 0.024, "G/adv": 3.0}]
    (tmp_path / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in good) + '{"kimg": 0.03')
    moved = bk.supersede_after(tmp_path, 16)
    assert moved.rows == {"stats.jsonl": 2, "metrics.jsonl": 0}
    assert rows(tmp_path / "stats.jsonl") == good[:3]
    assert (tmp_path / "stats.jsonl").read_text().endswith("\n")
    aside = rows(tmp_path / bk.SUPERSEDED_DIR / "stats.jsonl")
    assert aside == [{**good[3], "superseded_at_kimg": 0.016},
                     {"unparsed_line": '{"kimg": 0.03', "superseded_at_kimg": 0.016}]
    assert not bk.supersede_after(tmp_path, 16)  # nothing left to move: nothing rewritten


def test_cli_train_names_the_latest_grid_by_image_count(tmp_path, image_folder, capsys):
    code = main(["train", "--preset", "dcgan-tiny", "--resolution", "16", "--data", str(image_folder),
                 "--out", str(tmp_path / "runs"), "--kimg", "1.2", "--set", "train.batch_size=200",
                 "--set", "train.tick_kimg=0.2", "--set", "train.progress=false"])
    out = capsys.readouterr().out
    assert code == 0
    assert "latest samples: " + str(tmp_path / "runs" / "00000-dcgan-tiny" / "samples" / "fakes000001.200.png") in out
