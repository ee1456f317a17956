"""The command line: happy paths and the one-clear-error contract (exit 2, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ganforge.cli import main, parse_seeds

TINY = ["--preset", "dcgan-tiny", "--resolution", "16"]


def run_cli(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_parse_seeds():
    assert parse_seeds("0-3,7,10-11") == [0, 1, 2, 3, 7, 10, 11]
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
    (["train", "--preset", "nope"], "unknown preset 'nope'; valid choices: dcgan-cond-tiny, dcgan-fmnist32"),
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
    assert code == 0 and str(run) in stdout and "0.0 kimg in 4 steps" in stdout
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
