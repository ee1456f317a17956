"""The command line: happy paths and the one-clear-error contract (exit 2, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest
import torch

from ganforge.args import parse_seeds
from ganforge.cli import main

TINY = ["--preset", "dcgan-tiny", "--resolution", "16"]


def run_cli(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_parse_seeds():
    assert list(parse_seeds("0-3,7,10-11")) == [0, 1, 2, 3, 7, 10, 11]
    for bad in ("a-b", "5-2", "", "-3"):
        with pytest.raises(Exception, match="--seeds"):
            parse_seeds(bad)


def test_presets_table(capsys):
    code, out, _ = run_cli(["presets"], capsys)
    assert code == 0
    assert "dcgan-fmnist32" in out and "[default]" in out and "wgangp-fmnist32" in out
    assert "dcgan-tiny" not in out
    code, out, _ = run_cli(["presets", "--all"], capsys)
    assert "dcgan-tiny" in out


@pytest.mark.parametrize("args,needle", [
    (["train", "--preset", "nope"], "unknown preset 'nope'; valid choices: biggan-deep-fmnist32, biggan-deep-tiny, biggan-emoji64"),
    (["train", "--set", "train.bogus=1"], "unknown config key 'train.bogus'; valid keys:"),
    (["train", "--set", "train.batch_size=lots"], "expected an integer"),
    (["train", "--data", "/no/such/folder", "--dry-run"], "/no/such/folder"),
    (["train", "--set", "loss.kind=wat", "--dry-run"], None),
    (["generate", "--model", "/no/such/run", "--out", "x"], "does not exist"),
    (["train", "--resume", "/no/such/run"], "cannot resume"),
])
def test_bad_input_is_one_clear_error(args, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(args, capsys)
    assert code == 2
    assert err.startswith("ganforge: error: ") and "Traceback" not in err
    if needle:
        assert needle in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_unknown_loss_is_reported_with_choices(tmp_path, image_folder, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["train", *TINY, "--data", str(image_folder), "--set", "loss.kind=wat"], capsys)
    assert code == 2 and "unknown loss.kind 'wat'; valid choices: hinge, lsgan, minimax, nonsat, wasserstein" in err


def test_unreadable_model_file(tmp_path, capsys):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"not a safetensors file")
    code, _, err = run_cli(["generate", "--model", str(bad), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "cannot read model weights" in err
    pkl = tmp_path / "network.pkl"
    pkl.write_bytes(b"\x80\x04")
    code, _, err = run_cli(["generate", "--model", str(pkl), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "not loaded, by design" in err


def test_train_generate_resume_end_to_end(tmp_path, image_folder, capsys):
    out = tmp_path / "runs"
    code, stdout, _ = run_cli(["train", *TINY, "--data", str(image_folder), "--out", str(out), "--kimg", "0.016"], capsys)
    assert code == 0, stdout
    run = out / "00000-dcgan-tiny"
    assert (run / "generator.safetensors").exists()
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"]["name"] == str(image_folder) and cfg["data"]["resolution"] == 16
    # Resume without naming the preset continues the same run to a longer target.
    code, stdout, _ = run_cli(["train", "--resume", "auto", "--out", str(out), "--kimg", "0.032"], capsys)
    assert code == 0 and str(run) in stdout and "trained to 0.032 kimg in 4 steps" in stdout
    assert not (out / "00001-dcgan-tiny").exists()
    # Generate: files per seed, then refuse to overwrite.
    gen_out = tmp_path / "gen"
    code, stdout, _ = run_cli(["generate", "--model", str(run), "--seeds", "0-3", "--out", str(gen_out)], capsys)
    assert code == 0 and sorted(p.name for p in gen_out.iterdir()) == [f"seed{i:04d}.png" for i in range(4)]
    first = (gen_out / "seed0000.png").read_bytes()
    code, _, err = run_cli(["generate", "--model", str(run), "--seeds", "0-3", "--out", str(gen_out)], capsys)
    assert code == 2 and "already exist" in err and "--overwrite" in err
    assert (gen_out / "seed0000.png").read_bytes() == first
    # Same seed -> same image; a grid is one file.
    code, _, _ = run_cli(["generate", "--model", str(run / "generator.safetensors"), "--seeds", "0",
                          "--out", str(gen_out), "--overwrite"], capsys)
    assert (gen_out / "seed0000.png").read_bytes() == first
    code, _, _ = run_cli(["generate", "--model", str(run), "--seeds", "0-15", "--grid", "--out", str(tmp_path / "g")],
                         capsys)
    assert code == 0 and (tmp_path / "g" / "grid.png").exists()


def test_dry_run_writes_nothing(tmp_path, image_folder, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(["train", *TINY, "--data", str(image_folder), "--dry-run"], capsys)
    assert code == 0 and "dry run" in out and "24 images" in out and "parameters" in out
    assert not (tmp_path / "runs").exists()


def test_bad_images_stop_training_then_skip(tmp_path, image_folder, capsys):
    (image_folder / "class0" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "runs"
    code, _, err = run_cli(["train", *TINY, "--data", str(image_folder), "--out", str(out), "--kimg", "0.008"], capsys)
    assert code == 2 and "broken.png" in err
    code, _, err = run_cli(["data", "check", str(image_folder)], capsys)
    assert code == 2
    code, stdout, _ = run_cli(["train", *TINY, "--data", str(image_folder), "--out", str(out), "--kimg", "0.008",
                               "--on-bad-image", "skip"], capsys)
    assert code == 0


def test_module_entry_point_exit_code_without_traceback(tmp_path):
    p = subprocess.run([sys.executable, "-m", "ganforge.cli", "train", "--preset", "nope"], capture_output=True,
                       text=True, cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "unknown preset" in p.stderr


# ---------------------------------------------------------------- every bad value: one message, exit 2


def _one_error(err: str) -> str:
    """The single 'ganforge: error:' line of ``err`` (asserting there is exactly one, and no traceback)."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ganforge: error: "), err
    return lines[0]


def _tree(root):
    """{relative path: (size, mtime_ns)} of every file and folder under ``root``."""
    from pathlib import Path

    root = Path(root)
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))} if root.exists() else None


@pytest.mark.parametrize("setting,needle", [
    ("train.total_kimg=nan", "train.total_kimg must be a finite number >= 0.001 and <= 10000000, got nan"),
    ("train.total_kimg=inf", "train.total_kimg must be a finite number >= 0.001 and <= 10000000, got inf"),
    ("train.total_kimg=1e8", "got 100000000.0"),
    ("train.tick_kimg=nan", "train.tick_kimg must be a finite number > 0 and <= 10000000, got nan"),
    ("optim.g_lr=0", "optim.g_lr must be a finite number > 0, got 0.0"),
    ("optim.d_lr=nan", "optim.d_lr must be a finite number > 0, got nan"),
    ("optim.beta1=1", "optim.beta1 must be a finite number >= 0 and < 1, got 1.0"),
    ("optim.beta2=-0.5", "optim.beta2 must be a finite number >= 0 and < 1, got -0.5"),
    ("train.ema_rampup=-1", "train.ema_rampup must be a finite number >= 0, or none (disabled), got -1.0"),
    ("train.ema_halflife_kimg=inf", "train.ema_halflife_kimg must be a finite number > 0 and <= 10000000, or none"),
    ("train.seed=-1", "train.seed must be an integer >= 0 and <= 4294967295, got -1"),
    ("train.seed=18446744073709551616", "train.seed must be an integer >= 0 and <= 4294967295, got 18446744073709551616"),
    ("train.device=cuda:3", "device 'cuda:3' (train.device) is not available"),
    ("train.device=gpu", "unknown device 'gpu' (train.device); valid choices on this machine: auto, cpu"),
    ("train.grid_size=5000", "train.grid_size must be an integer >= 1 and <= 4096, got 5000"),
    ("train.batch_size=0", "train.batch_size must be an integer >= 1 and <= 65536, got 0"),
    ("train.keep_checkpoints=0", "train.keep_checkpoints must be an integer >= 1, got 0"),
    ("train.max_bad_steps=0", "train.max_bad_steps must be an integer >= 1, got 0"),
    ("data.device_cache_max_bytes=-1", "data.device_cache_max_bytes must be an integer >= 0, got -1"),
    ("model.z_dim=1000000000", "model.z_dim must be an integer >= 1 and <= 8192, got 1000000000"),
    ("model.g_width=0", "model.g_width must be an integer >= 1 and <= 1024, got 0"),
    ("loss.n_critic=1000", "loss.n_critic must be an integer >= 1 and <= 100, got 1000"),
    ("metrics.interval_kimg=nan", "metrics.interval_kimg must be a finite number > 0 and <= 10000000, or none"),
    ("data.split=val", "unknown data.split 'val'; valid choices: train, test"),
    ("preset=../x", "preset must be 1-100 letters"),
])
@pytest.mark.parametrize("dry", [True, False])
def test_bad_setting_is_one_error_and_writes_nothing(setting, needle, dry, tmp_path, image_folder, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path)
    code, out, err = run_cli(["train", *TINY, "--data", str(image_folder), "--set", setting]
                             + (["--dry-run"] if dry else []), capsys)
    assert code == 2 and needle in _one_error(err)
    assert not (tmp_path / "runs").exists() and _tree(tmp_path) == before


def test_kimg_flag_nan_is_refused(tmp_path, image_folder, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["train", *TINY, "--data", str(image_folder), "--kimg", "nan"], capsys)
    assert code == 2 and "train.total_kimg must be a finite number" in _one_error(err)
    assert not (tmp_path / "runs").exists()


def test_device_message_is_the_same_for_train_generate_and_eval(tmp_path, image_folder, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    msgs = []
    for argv in (["train", *TINY, "--data", str(image_folder), "--device", "gpu", "--dry-run"],
                 ["generate", "--model", str(tmp_path / "nope"), "--out", "o", "--device", "gpu"],
                 ["eval", "--model", str(tmp_path / "nope"), "--device", "gpu"]):
        code, _, err = run_cli(argv, capsys)
        assert code == 2
        msgs.append(_one_error(err))
    assert msgs[0].endswith("unknown device 'gpu' (train.device); valid choices on this machine: auto, cpu")
    assert msgs[1].endswith("unknown device 'gpu' (--device); valid choices on this machine: auto, cpu")
    assert msgs[2] == msgs[1]
    assert not (tmp_path / "o").exists() and not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- --dry-run with --resume


@pytest.fixture
def trained_run(tmp_path, image_folder, capsys):
    out = tmp_path / "runs"
    code, stdout, _ = run_cli(["train", *TINY, "--data", str(image_folder), "--out", str(out), "--kimg", "0.016"],
                              capsys)
    assert code == 0, stdout
    return out / "00000-dcgan-tiny"


@pytest.mark.parametrize("how", ["auto", "run", "checkpoint"])
def test_dry_run_resume_prints_the_resumed_config_and_writes_nothing(how, trained_run, tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = trained_run.parent
    target = {"auto": "auto", "run": str(trained_run),
              "checkpoint": str(sorted((trained_run / "checkpoints").glob("state-*.pt"))[-1])}[how]
    before = _tree(tmp_path)
    code, stdout, err = run_cli(["train", "--resume", target, "--out", str(out), "--dry-run",
                                 "--set", "train.total_kimg=0.064", "--set", "optim.g_lr=0.001"], capsys)
    assert code == 0, err
    cfg = json.loads(stdout[:stdout.index("\n}\n") + 2])
    # the run's own config (its data folder and 16 px), with the overrides applied
    assert cfg["preset"] == "dcgan-tiny" and cfg["data"]["resolution"] == 16
    assert cfg["data"]["name"] == str(tmp_path / "images")
    assert cfg["train"]["total_kimg"] == 0.064 and cfg["optim"]["g_lr"] == 0.001
    assert f"resume: would continue {trained_run} from 0.016 kimg to 0.064 kimg" in stdout
    assert "dry run: nothing trained, nothing written" in stdout
    assert _tree(tmp_path) == before


def test_dry_run_resume_checks_compatibility_and_ranges(trained_run, tmp_path, capsys):
    before = _tree(tmp_path)
    code, _, err = run_cli(["train", "--resume", str(trained_run), "--dry-run", "--set", "model.g_width=16"], capsys)
    assert code == 2 and "model.g_width: checkpoint has 8, requested 16" in err and "Traceback" not in err
    code, _, err = run_cli(["train", "--resume", str(trained_run), "--dry-run", "--set", "train.total_kimg=nan"],
                           capsys)
    assert code == 2 and "train.total_kimg must be a finite number" in _one_error(err)
    assert _tree(tmp_path) == before


def test_resume_auto_that_finds_nothing_says_it_starts_a_new_run(tmp_path, image_folder, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs"
    code, stdout, _ = run_cli(["train", *TINY, "--data", str(image_folder), "--out", str(out), "--resume", "auto",
                               "--dry-run"], capsys)
    note = f"--resume auto: no run with a checkpoint of preset 'dcgan-tiny' under {str(out)!r}; starting a new run"
    assert code == 0 and note in stdout and not out.exists()
    code, stdout, err = run_cli(["train", *TINY, "--data", str(image_folder), "--out", str(out), "--resume", "auto",
                                 "--kimg", "0.008"], capsys)
    assert code == 0 and f"ganforge: {note}" in err and (out / "00000-dcgan-tiny").is_dir()


# ---------------------------------------------------------------- output paths that cannot be written


@pytest.fixture
def unwritable_dir(tmp_path):
    """A folder in which files cannot be created (read-only for a normal user; /sys when root)."""
    import os
    from pathlib import Path

    if os.geteuid() != 0:
        d = tmp_path / "readonly"
        d.mkdir()
        d.chmod(0o500)
        yield d
        d.chmod(0o700)
        return
    d = Path("/sys")
    try:  # root ignores permission bits; sysfs refuses new files even to root
        (d / "ganforge-probe").touch()
    except OSError:
        yield d
        return
    pytest.skip("no unwritable folder available")


def test_train_out_is_a_file(tmp_path, image_folder, capsys):
    blocker = tmp_path / "somefile"
    blocker.write_text("keep me")
    for target in (blocker, blocker / "runs"):
        code, _, err = run_cli(["train", *TINY, "--data", str(image_folder), "--out", str(target), "--kimg", "0.008"],
                               capsys)
        line = _one_error(err)
        assert code == 2 and str(blocker) in line and "is a file, not a folder (Not a directory)" in line
    assert blocker.read_text() == "keep me"
    code, _, err = run_cli(["train", *TINY, "--data", str(image_folder), "--out", str(blocker), "--dry-run"], capsys)
    assert code == 2 and "is a file, not a folder" in _one_error(err)


def test_train_out_not_writable(unwritable_dir, image_folder, tmp_path, capsys):
    target = unwritable_dir / "runs"
    code, _, err = run_cli(["train", *TINY, "--data", str(image_folder), "--out", str(target), "--kimg", "0.008"],
                           capsys)
    line = _one_error(err)
    assert code == 2 and str(target) in line and ("Permission denied" in line or "Read-only" in line)
    assert not target.exists()


def test_training_that_hits_a_full_disk_keeps_the_previous_checkpoint(tmp_path, image_folder, capsys, monkeypatch):
    import errno

    import torch

    from ganforge.training import checkpoint as ckpt

    real_save = torch.save
    calls = []

    def save_until_full(obj, f, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            f.write(b"part of a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", save_until_full)
    out = tmp_path / "runs"
    code, _, err = run_cli(["train", *TINY, "--data", str(image_folder), "--out", str(out), "--kimg", "0.032"], capsys)
    run = out / "00000-dcgan-tiny"
    first = run / "checkpoints" / "state-000000016.pt"
    line = _one_error(err)
    assert code == 2
    assert f"cannot write {str(run / 'checkpoints' / 'state-000000032.pt')!r}: No space left on device" in line
    assert f"the newest complete checkpoint is {str(first)!r}" in line and f"--resume {run}" in line
    monkeypatch.undo()
    assert ckpt.list_checkpoints(run) == [first]
    assert not list((run / "checkpoints").glob(".*tmp*"))
    assert ckpt.load_checkpoint(first)["counters"]["cur_nimg"] == 16


def test_generate_out_is_a_file_or_not_writable(trained_run, tmp_path, unwritable_dir, capsys):
    blocker = tmp_path / "somefile"
    blocker.write_text("keep me")
    code, _, err = run_cli(["generate", "--model", str(trained_run), "--seeds", "0-3", "--out", str(blocker)], capsys)
    line = _one_error(err)
    assert code == 2 and str(blocker) in line and "is a file, not a folder" in line
    assert blocker.read_text() == "keep me"
    target = unwritable_dir / "gen"
    code, _, err = run_cli(["generate", "--model", str(trained_run), "--seeds", "0-3", "--out", str(target)], capsys)
    line = _one_error(err)
    assert code == 2 and str(target) in line and ("Permission denied" in line or "Read-only" in line)


def test_generate_full_disk_stops_with_the_path_and_keeps_what_was_written(trained_run, tmp_path, capsys,
                                                                            monkeypatch):
    import errno

    from PIL import Image

    real_save = Image.Image.save
    calls = []

    def save_until_full(self, fp, *a, **k):
        calls.append(1)
        if len(calls) == 3:
            fp.write(b"\x89PNG partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, fp, *a, **k)

    monkeypatch.setattr(Image.Image, "save", save_until_full)
    gen = tmp_path / "gen"
    code, _, err = run_cli(["generate", "--model", str(trained_run), "--seeds", "0-9", "--out", str(gen)], capsys)
    line = _one_error(err)
    assert code == 2
    assert f"cannot write {str(gen / 'seed0002.png')!r}: No space left on device" in line
    assert "(2 of 10 images were written before it)" in line
    assert sorted(p.name for p in gen.iterdir()) == ["seed0000.png", "seed0001.png"]  # no partial file


# ---------------------------------------------------------------- generate: huge seed ranges


def test_seeds_are_ranges_counted_without_a_list():
    seeds = parse_seeds("0-9999999,5")
    assert hasattr(seeds, "ranges"), "seeds must not be materialised as a list"
    assert len(seeds) == 10_000_001 and 5 in seeds and 10_000_000 not in seeds
    huge = parse_seeds("0-4294967295")
    assert len(huge) == 2**32 and huge.ranges == [range(0, 2**32)]
    assert list(parse_seeds("5-7,0-5").unique()) == [0, 1, 2, 3, 4, 5, 6, 7]
    with pytest.raises(Exception, match=r"seeds must be in 0..4294967295"):
        parse_seeds("0-4294967296")


def test_generate_grid_refuses_too_many_images(trained_run, tmp_path, capsys):
    assert hasattr(parse_seeds("0"), "ranges")  # guard: the old list-building parser would take hours below
    for seeds, count in (("0-4096", 4097), ("0-4294967295", 2**32)):
        code, _, err = run_cli(["generate", "--model", str(trained_run), "--seeds", seeds, "--grid",
                                "--out", str(tmp_path / "g")], capsys)
        line = _one_error(err)
        assert code == 2 and f"--grid with {count} seeds" in line and "at most 4096 images" in line
    assert not (tmp_path / "g").exists()


def test_generate_huge_range_checks_existing_files_cheaply_and_streams(trained_run, tmp_path, capsys, monkeypatch):
    assert hasattr(parse_seeds("0"), "ranges")  # guard: the old list-building parser would take hours below
    gen = tmp_path / "gen"
    gen.mkdir()
    (gen / "seed0005.png").write_bytes(b"mine")
    (gen / "seed4000000000.png").write_bytes(b"mine too")
    (gen / "seed00007.png").write_bytes(b"not an output name")  # seed 7 is written as seed0007.png
    code, _, err = run_cli(["generate", "--model", str(trained_run), "--seeds", "0-4294967295", "--out", str(gen)],
                           capsys)
    line = _one_error(err)
    assert code == 2 and f"2 output file(s) already exist, e.g. {gen / 'seed0005.png'}" in line
    assert sorted(p.name for p in gen.iterdir()) == ["seed00007.png", "seed0005.png", "seed4000000000.png"]
    assert (gen / "seed0005.png").read_bytes() == b"mine"
    # Images are written as they are generated: stop the endless range after a few files.
    import ganforge.outputs

    real_write = ganforge.outputs.write_file
    on_disk_at_write = []

    def write_then_stop(path, write, *, overwrite):
        on_disk_at_write.append(len(list((tmp_path / "new").iterdir())))
        if len(on_disk_at_write) > 3:
            raise KeyboardInterrupt
        return real_write(path, write, overwrite=overwrite)

    monkeypatch.setattr(ganforge.outputs, "write_file", write_then_stop)
    code, _, err = run_cli(["generate", "--model", str(trained_run), "--seeds", "0-4294967295", "--batch-size", "2",
                            "--out", str(tmp_path / "new")], capsys)
    assert code == 130 and on_disk_at_write == [0, 1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["seed0000.png", "seed0001.png", "seed0002.png"]


def test_generate_batches_match_single_images_and_repeated_seeds(trained_run, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli(["generate", "--model", str(trained_run), "--seeds", "3,0-2,1", "--out", str(a)], capsys)[0] == 0
    assert sorted(p.name for p in a.iterdir()) == [f"seed{i:04d}.png" for i in range(4)]
    code, stdout, _ = run_cli(["generate", "--model", str(trained_run), "--seeds", "0-3", "--batch-size", "3",
                               "--out", str(b)], capsys)
    assert code == 0 and "wrote 4 images" in stdout
    from PIL import Image
    import numpy as np

    for i in range(4):  # dcgan-tiny: batching does not change a pixel
        x = np.asarray(Image.open(a / f"seed{i:04d}.png"), dtype=int)
        y = np.asarray(Image.open(b / f"seed{i:04d}.png"), dtype=int)
        assert np.abs(x - y).max() <= 1


# ---------------------------------------------------------------- generate --class-grid


class _ClassModel(torch.nn.Module):
    """A 1x8x8 'model' for the CLI: pixels from z; conditional models add a brightness step per class
    unless ``blind`` (then the class is taken but ignored)."""

    def __init__(self, num_classes=3, blind=False):
        super().__init__()
        self.z_dim, self.num_classes, self.img_channels, self.img_resolution = 4, num_classes, 1, 8
        self.blind = blind
        self.calls = []

    def forward(self, z, c=None):
        self.calls.append(None if c is None else c.tolist())
        x = torch.tanh(z.repeat_interleave(16, dim=1).view(-1, 1, 8, 8) / 2) * 0.6
        if c is not None and not self.blind:
            x = x + 0.2 * (c.view(-1, 1, 1, 1).float() - 1)
        return x


@pytest.fixture
def class_model(monkeypatch):
    """``use(model)`` makes `generate --model anything` load ``model``; ``loads`` counts the loads."""
    import ganforge.api

    state = types.SimpleNamespace(model=_ClassModel(), loads=0)

    def load(path, device="cpu"):
        state.loads += 1
        return state.model

    monkeypatch.setattr(ganforge.api, "load_generator", load)
    return state


def _cells(path, rows, cols, res, scale):
    """The [rows, cols] cells (native resolution) of a grid PNG written with pad 2 and ``scale``."""
    import numpy as np
    from PIL import Image

    im = np.asarray(Image.open(path))
    assert im.shape == (((res + 2) * rows + 2) * scale, ((res + 2) * cols + 2) * scale)  # rows = classes
    step = (res + 2) * scale
    return [[im[2 * scale + r * step:][:res * scale:scale, 2 * scale + c * step:][:, :res * scale:scale]
             for c in range(cols)] for r in range(rows)]


def test_class_grid_has_a_row_per_class_and_a_latent_per_column(class_model, tmp_path, capsys):
    import numpy as np

    out = tmp_path / "g"
    code, stdout, _ = run_cli(["generate", "--model", "m", "--class-grid", "--seeds", "0-4", "--out", str(out)],
                              capsys)
    assert code == 0 and stdout.strip() == f"wrote {out / 'class-grid.png'} (3 classes x 5 seeds)"
    assert sorted(p.name for p in out.iterdir()) == ["class-grid.png"]
    cells = _cells(out / "class-grid.png", 3, 5, 8, 8)  # 8 px images are shown 8x enlarged, as --grid does
    diff = lambda a, b: int(np.abs(a.astype(int) - b.astype(int)).max())  # noqa: E731
    for c in range(5):
        assert diff(cells[0][c], cells[1][c]) > 20 and diff(cells[1][c], cells[2][c]) > 20  # rows: classes
    assert all(diff(cells[0][0], cells[0][c]) > 0 for c in range(1, 5))  # columns: seeds
    assert [cs for cs in class_model.model.calls] == [[k] for k in range(3) for _ in range(5)]

    # A model that ignores the class: every row is the same, so each column has one latent.
    class_model.model = _ClassModel(blind=True)
    blind = tmp_path / "blind"
    assert run_cli(["generate", "--model", "m", "--class-grid", "--seeds", "7,3,9", "--out", str(blind)], capsys)[0] == 0
    cells = _cells(blind / "class-grid.png", 3, 3, 8, 8)
    for r in (1, 2):
        assert all((cells[r][c] == cells[0][c]).all() for c in range(3))
    # and a seed's column is the image `generate --seeds S` writes for that seed (same latent)
    single = tmp_path / "single"
    assert run_cli(["generate", "--model", "m", "--seeds", "7,3,9", "--class", "2", "--out", str(single)],
                   capsys)[0] == 0
    from PIL import Image

    for c, s in enumerate((7, 3, 9)):
        assert (np.asarray(Image.open(single / f"seed{s:04d}.png")) == cells[2][c]).all()


def test_class_grid_rows_chosen_with_classes(class_model, tmp_path, capsys):
    import numpy as np

    class_model.model = _ClassModel(num_classes=6)
    out = tmp_path / "g"
    code, stdout, _ = run_cli(["generate", "--model", "m", "--class-grid", "--classes", "5,0-1", "--seeds", "0-1",
                               "--out", str(out), "--batch-size", "2"], capsys)
    assert code == 0 and "(3 classes x 2 seeds)" in stdout
    _cells(out / "class-grid.png", 3, 2, 8, 8)
    assert class_model.model.calls == [[5, 5], [0, 0], [1, 1]]  # rows in the order given
    full = tmp_path / "full"
    assert run_cli(["generate", "--model", "m", "--class-grid", "--seeds", "0-1", "--out", str(full)], capsys)[0] == 0
    picked, every = _cells(out / "class-grid.png", 3, 2, 8, 8), _cells(full / "class-grid.png", 6, 2, 8, 8)
    for r, k in enumerate((5, 0, 1)):
        assert all(np.array_equal(picked[r][c], every[k][c]) for c in range(2))


@pytest.mark.parametrize("argv,needle,loads", [
    (["--class-grid"], "--class-grid needs a class-conditional model, but this model is unconditional", 1),
    (["--class-grid", "--classes", "0,3"], "--classes 3 out of range: the model has classes 0..2", 1),
    (["--class-grid", "--classes", "1,x"], "bad --classes '1,x': expected class indices and ranges like 0,3,5 or 0-4",
     0),
    (["--class-grid", "--classes", "2-1"], "bad --classes '2-1'", 0),
    (["--class-grid", "--classes", "0-4294967295"], "a grid holds at most 4096 rows", 0),
    (["--classes", "0"], "--classes chooses the rows of --class-grid; add --class-grid", 0),
    (["--class-grid", "--grid"], "--grid and --class-grid cannot be combined", 0),
    (["--class-grid", "--class", "1"], "--class 1 and --class-grid cannot be combined", 0),
    (["--class-grid", "--seeds", "0-4096"], "--class-grid with 4097 seeds ('0-4096'): a grid holds at most 4096", 0),
    (["--class-grid", "--seeds", "0-1999"], "--class-grid with 3 classes x 2000 seeds = 6000 images: a grid holds "
                                            "at most 4096 images; give fewer seeds or choose rows with --classes", 1),
])
def test_class_grid_refusals(argv, needle, loads, class_model, tmp_path, capsys):
    if "unconditional" in needle:
        class_model.model = _ClassModel(num_classes=0)
    out = tmp_path / "g"
    code, _, err = run_cli(["generate", "--model", "m", "--seeds", "0-3", *argv, "--out", str(out)], capsys)
    line = _one_error(err)
    assert code == 2 and needle in line
    assert class_model.loads == loads and class_model.model.calls == []  # nothing generated
    assert not out.exists()  # nothing written, not even the folder


def test_class_grid_never_overwrites_without_overwrite(class_model, tmp_path, capsys):
    out = tmp_path / "g"
    out.mkdir()
    (out / "class-grid.png").write_bytes(b"mine")
    (out / "grid.png").write_bytes(b"a --grid, not ours")
    code, _, err = run_cli(["generate", "--model", "m", "--class-grid", "--seeds", "0-3", "--out", str(out)], capsys)
    assert code == 2 and f"1 output file(s) already exist, e.g. {out / 'class-grid.png'}; pass --overwrite" in _one_error(err)
    assert (out / "class-grid.png").read_bytes() == b"mine" and class_model.model.calls == []
    code, _, _ = run_cli(["generate", "--model", "m", "--class-grid", "--seeds", "0-3", "--out", str(out),
                          "--overwrite"], capsys)
    assert code == 0 and (out / "class-grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "grid.png").read_bytes() == b"a --grid, not ours"
    # and a --grid beside it does not count as a class grid (nor the other way round)
    (out / "class-grid.png").write_bytes(b"mine again")
    (out / "grid.png").unlink()
    assert run_cli(["generate", "--model", "m", "--grid", "--seeds", "0-3", "--out", str(out)], capsys)[0] == 0
    assert (out / "class-grid.png").read_bytes() == b"mine again"


def test_class_grid_of_a_trained_conditional_run(tmp_path, image_folder, capsys):
    """End to end with a real conditional DCGAN (2 classes): rows are classes, and each cell is the image
    `generate --seeds S --class K` writes."""
    import numpy as np
    from PIL import Image

    code, stdout, _ = run_cli(["train", "--preset", "dcgan-cond-tiny", "--resolution", "16", "--data",
                               str(image_folder), "--out", str(tmp_path / "runs"), "--kimg", "0.016"], capsys)
    assert code == 0, stdout
    run = tmp_path / "runs" / "00000-dcgan-cond-tiny"
    code, stdout, _ = run_cli(["generate", "--model", str(run), "--class-grid", "--seeds", "0-5",
                               "--out", str(tmp_path / "g")], capsys)
    assert code == 0 and "(2 classes x 6 seeds)" in stdout
    cells = _cells(tmp_path / "g" / "class-grid.png", 2, 6, 16, 4)
    for k in (0, 1):
        single = tmp_path / f"class{k}"
        assert run_cli(["generate", "--model", str(run), "--seeds", "0-5", "--class", str(k), "--out", str(single)],
                       capsys)[0] == 0
        for s in range(6):
            assert np.array_equal(np.asarray(Image.open(single / f"seed{s:04d}.png")), cells[k][s])


# ---------------------------------------------------------------- train --nproc: checked before any process starts


@pytest.fixture
def launches(monkeypatch):
    """The torchrun command lines `train --nproc N` would start (none is started)."""
    calls = []

    def call(cmd, *a, **k):
        calls.append(cmd)
        return 0

    monkeypatch.setattr(subprocess, "call", call)
    return calls


def test_nproc_that_does_not_divide_the_batch_is_one_message_before_any_process(tmp_path, image_folder, capsys,
                                                                                launches):
    out = tmp_path / "runs"
    for extra in ([], ["--dry-run"]):
        code, _, err = run_cli(["train", *TINY, "--data", str(image_folder), "--out", str(out), "--nproc", "3",
                                *extra], capsys)
        line = _one_error(err)
        assert code == 2 and "--nproc 3: train.batch_size=8 is not divisible by the 3 processes" in line
        assert "use --nproc 2 or 4 or 8" in line
    # the batch size as training resolves it: the preset's, then --set in order
    code, _, err = run_cli(["train", *TINY, "--data", str(image_folder), "--out", str(out), "--nproc", "2",
                            "--set", "train.batch_size=6", "--set", "train.batch_size=9"], capsys)
    assert code == 2 and "train.batch_size=9 is not divisible by the 2 processes" in _one_error(err)
    assert launches == [] and not out.exists()
    code, _, err = run_cli(["train", *TINY, "--data", str(image_folder), "--out", str(out), "--nproc", "3",
                            "--set", "train.batch_size=9"], capsys)
    assert code == 0 and len(launches) == 1 and "--nproc_per_node=3" in launches[0]
    code, stdout, _ = run_cli(["train", *TINY, "--data", str(image_folder), "--out", str(out), "--nproc", "2",
                               "--dry-run"], capsys)
    assert code == 0 and "processes: 2 (--nproc), 4 images each per step" in stdout and len(launches) == 1
    assert not out.exists()


def test_nproc_with_resume_uses_the_run_s_batch_size(trained_run, tmp_path, capsys, launches):
    before = _tree(tmp_path)
    code, _, err = run_cli(["train", "--resume", str(trained_run), "--nproc", "3", "--kimg", "0.032"], capsys)
    assert code == 2 and "--nproc 3: train.batch_size=8 is not divisible by the 3 processes" in _one_error(err)
    code, _, err = run_cli(["train", "--resume", str(trained_run), "--nproc", "2", "--kimg", "nan"], capsys)
    assert code == 2 and "train.total_kimg must be a finite number" in _one_error(err)  # once, from this process
    assert launches == [] and _tree(tmp_path) == before


def test_nproc_bounds_and_cuda_devices(tmp_path, image_folder, capsys, launches, monkeypatch):
    argv = ["train", *TINY, "--data", str(image_folder), "--out", str(tmp_path / "runs")]
    code, _, err = run_cli([*argv, "--nproc", "4096"], capsys)
    assert code == 2 and "--nproc 4096: at most 1024 processes on one machine" in _one_error(err)
    code, _, err = run_cli([*argv, "--nproc", "x"], capsys)
    assert code == 2 and "--nproc must be an integer >= 1, got 'x'" in _one_error(err)
    code, _, err = run_cli([*argv, "--nproc", "2", "--max-restarts", "-1"], capsys)
    assert code == 2 and "--max-restarts must be an integer >= 0 and <= 100, got -1" in _one_error(err)
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 1)
    code, _, err = run_cli([*argv, "--nproc", "2", "--device", "auto"], capsys)
    line = _one_error(err)
    assert code == 2 and "--nproc 2: each process trains on its own CUDA device and this machine has 1" in line
    assert launches == [] and not (tmp_path / "runs").exists()


def test_nproc_refusal_from_the_command_line_is_one_line_and_no_torchrun(tmp_path, image_folder):
    """The reported bug end to end: a batch of 8 over 3 processes printed the message three times, then
    torchrun's traceback, and exited 1."""
    p = subprocess.run([sys.executable, "-m", "ganforge", "train", *TINY, "--data", str(image_folder), "--out",
                        str(tmp_path / "runs"), "--nproc", "3"], capture_output=True, text=True, cwd=tmp_path,
                       timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    assert "--nproc 3: train.batch_size=8 is not divisible by the 3 processes" in _one_error(p.stderr)
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- argparse's own errors: one line too


@pytest.mark.parametrize("argv,needle", [
    (["generate", "--out", "o"], "the following arguments are required: --model (see `ganforge generate --help`)"),
    (["generate", "--model", "m", "--out", "o", "--bogus"], "unrecognized arguments: --bogus"),
    (["nope"], "argument COMMAND: invalid choice: 'nope'"),
    (["generate", "--model", "m", "--out", "o", "--batch-size", "x"],
     "--batch-size must be an integer >= 1 and <= 4096, got 'x'"),
    (["generate", "--model", "m", "--out", ""], "--out must be a path, got ''"),
])
def test_usage_errors_are_one_line_and_exit_2(argv, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and needle in _one_error(err) and out == ""
    assert list(tmp_path.iterdir()) == []


def test_generate_out_empty_never_writes_into_the_current_folder(trained_run, tmp_path, capsys, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    code, _, err = run_cli(["generate", "--model", str(trained_run), "--seeds", "0", "--out", ""], capsys)
    assert code == 2 and "--out must be a path, got ''" in _one_error(err)
    assert list(here.iterdir()) == []
