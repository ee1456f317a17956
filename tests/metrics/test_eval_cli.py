"""The ``eval`` subcommand (data layer and generator loader replaced by test doubles)."""

from __future__ import annotations

import argparse
import json
import sys
import types

import pytest
import torch

import ganforge.api
from ganforge.errors import GanforgeError
from ganforge.commands.eval import add_eval_parser, format_table, run_eval


def _blobs(n, seed=0, s=32):
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 1, 4, 4, generator=g)
    up = torch.nn.functional.interpolate(low, size=(s, s), mode="bicubic", align_corners=False)
    return (up.clamp(0, 1) * 255).to(torch.uint8)


@pytest.fixture
def parser():
    p = argparse.ArgumentParser(prog="ganforge")
    add_eval_parser(p.add_subparsers(dest="command"))
    return p


@pytest.fixture
def fake_data_layer(monkeypatch, helpers):
    """Replace ganforge.data.load_dataset: folder/dataset names map to in-memory datasets."""
    calls = []
    sets = {
        "fashion-mnist": helpers.make_dataset(_blobs(1100, 0), name="fashion-mnist"),
        "realdir": helpers.make_dataset(_blobs(1000, 1), name="realdir"),
        "fakedir": helpers.make_dataset(_blobs(1000, 2), name="fakedir"),
    }

    def load_dataset(cfg):
        calls.append(cfg)
        key = cfg.name.rstrip("/").split("/")[-1]
        return sets[key]

    import ganforge.data.stream  # noqa: F401  (the real sub-module stays importable under the stand-in package)

    mod = types.ModuleType("ganforge.data")
    mod.load_dataset = load_dataset
    monkeypatch.setitem(sys.modules, "ganforge.data", mod)
    return calls


def test_eval_folders_prints_table_and_writes_json(parser, fake_data_layer, tmp_path, capsys):
    (tmp_path / "realdir").mkdir()
    (tmp_path / "fakedir").mkdir()
    out = tmp_path / "m.json"
    args = parser.parse_args(
        ["eval", "--real", str(tmp_path / "realdir"), "--fake", str(tmp_path / "fakedir"), "--metrics", "fid1k",
         "--json", str(out), "--cache-dir", str(tmp_path / "cache"), "--device", "cpu"]
    )  # fmt: skip
    assert args.func is run_eval
    assert run_eval(args) == 0
    table = capsys.readouterr().out
    assert "fid1k" in table and "fmnist-cnn" in table
    recs = json.loads(out.read_text())
    assert recs[0]["metric"] == "fid1k" and recs[0]["num_gen"] == 1000 and recs[0]["value"] > 0
    # refuses to overwrite without --overwrite
    with pytest.raises(GanforgeError, match="already exists.*--overwrite"):
        run_eval(args)
    args.overwrite = True
    assert run_eval(args) == 0


def test_eval_model(parser, fake_data_layer, tmp_path, monkeypatch, helpers, capsys):
    G = helpers.TinyGenerator()
    seen = []
    monkeypatch.setattr(ganforge.api, "load_generator", lambda p: seen.append(p) or G)  # where `eval` finds it
    args = parser.parse_args(
        ["eval", "--model", "runs/x", "--metrics", "fid1k", "--split", "test", "--cache-dir", str(tmp_path), "--device", "cpu"]
    )
    assert run_eval(args) == 0
    assert seen == ["runs/x"]
    cfg = fake_data_layer[0]
    assert (cfg.name, cfg.split, cfg.resolution) == ("fashion-mnist", "test", 32)
    assert "fid1k" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--model", "m", "--metrics", "fid10k,bogus"], "unknown metric 'bogus'"),
        (["--real", "a"], "--real and --fake must be given together"),
        (["--metrics", "fid1k"], "nothing to evaluate"),
        (["--model", "m", "--real", "a", "--fake", "b"], "either --model or --real/--fake"),
        (["--model", "m", "--batch-size", "0"], "--batch-size"),
        (["--model", "m", "--device", "tpu"], "unknown device"),
        (["--model", "m", "--extractor", "nope"], "unknown feature extractor"),
        (["--model", "m", "--json", "/nonexistent-dir/x.json"], "does not exist"),
    ],
)
def test_eval_user_errors(parser, argv, match, fake_data_layer, monkeypatch, helpers):
    monkeypatch.setattr(ganforge.api, "load_generator", lambda p: helpers.TinyGenerator())
    with pytest.raises(GanforgeError, match=match):
        run_eval(parser.parse_args(["eval", *argv]))


def test_eval_missing_folder(parser, fake_data_layer, tmp_path):
    args = parser.parse_args(["eval", "--real", str(tmp_path / "nope"), "--fake", str(tmp_path), "--metrics", "fid1k"])
    with pytest.raises(GanforgeError, match="does not exist"):
        run_eval(args)


def test_eval_folders_refuse_generator_only_metrics_before_reading_them(parser, fake_data_layer, tmp_path):
    for name, needle in (("ifid1k", "needs a class-conditional generator"), ("ppl_z", "needs a generator")):
        args = parser.parse_args(["eval", "--real", str(tmp_path / "nope"), "--fake", str(tmp_path / "nope2"),
                                  "--metrics", f"fid1k,{name}"])
        with pytest.raises(GanforgeError, match=f"metric '{name}' {needle}.*cannot be computed from image folders"):
            run_eval(args)  # not "folder does not exist": refused before the folders are looked at
    assert fake_data_layer == []


def test_format_table_handles_dict_values():
    from ganforge.metrics import MetricRecord

    r = MetricRecord("pr1k3", {"precision": 0.5, "recall": 0.25}, "x", "h", "r", 1000, 1000, "d", "test", "hash", 0)
    t = format_table([r])
    assert "precision=0.5, recall=0.25" in t and t.splitlines()[0].startswith("metric")


def test_eval_folders_with_real_data_layer(tmp_path, capsys):
    """End to end through ganforge's CLI and data layer with two small PNG folders."""
    data = pytest.importorskip("ganforge.data")
    if not hasattr(data, "load_dataset"):
        pytest.skip("ganforge.data.load_dataset is not available")
    from PIL import Image

    from ganforge.cli import main

    def folder(name, n, seed):
        d = tmp_path / name
        d.mkdir()
        for i, img in enumerate(_blobs(n, seed=seed, s=28)):
            Image.fromarray(img[0].numpy(), mode="L").save(d / f"{i:04d}.png")

    folder("real", 30, 0)
    folder("few", 30, 1)
    folder("fake", 1000, 1)
    out = tmp_path / "r.json"
    common = ["--metrics", "kid1k,pr1k3", "--json", str(out), "--cache-dir", str(tmp_path / "cache"), "--device", "cpu"]
    # kid1k promises 1000 generated images: 30 are refused, not silently used
    assert main(["eval", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "few"), *common]) == 2
    err = capsys.readouterr().err
    assert "metric 'kid1k' needs 1000 generated images but the generated set has 30" in err
    assert not out.exists()
    argv = ["eval", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"), *common]
    assert main(argv) == 0
    recs = json.loads(out.read_text())
    assert [r["metric"] for r in recs] == ["kid1k", "pr1k3"]
    assert recs[0]["num_gen"] == 1000 and recs[0]["num_real"] == 30 and recs[0]["extractor"] == "fmnist-cnn"
    assert recs[1]["num_gen"] == 1000 and recs[1]["num_real"] == 30  # PR: N generated, min(N, |data|) reals
    assert main(argv) == 2  # existing --json without --overwrite: a user error, exit status 2
    assert "--overwrite" in capsys.readouterr().err


# ---------------------------------------------------------------- outputs and counts


def _no_compute(monkeypatch):
    """Fail the test if a metric computation starts (errors must come before any long work)."""
    import ganforge.metrics.protocol as protocol

    def boom(*a, **k):
        raise AssertionError("computation started")

    monkeypatch.setattr(protocol, "compute", boom)
    monkeypatch.setattr(protocol, "compute_between", boom)


def test_eval_json_path_that_cannot_be_written_fails_before_computing(parser, fake_data_layer, tmp_path, monkeypatch):
    import os

    (tmp_path / "realdir").mkdir()
    (tmp_path / "fakedir").mkdir()
    folders = ["--real", str(tmp_path / "realdir"), "--fake", str(tmp_path / "fakedir"), "--metrics", "fid1k"]
    _no_compute(monkeypatch)
    with pytest.raises(GanforgeError, match=r"--json '.*/out' is a folder; give a file name"):
        (tmp_path / "out").mkdir()
        run_eval(parser.parse_args(["eval", *folders, "--json", str(tmp_path / "out")]))
    blocker = tmp_path / "somefile"
    blocker.write_text("keep me")
    with pytest.raises(GanforgeError, match=r"is a file, not a folder"):
        run_eval(parser.parse_args(["eval", *folders, "--json", str(blocker / "m.json")]))
    assert blocker.read_text() == "keep me"
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
    else:  # root ignores permission bits; sysfs refuses new files even to root
        from pathlib import Path

        ro = Path("/sys")
    with pytest.raises(GanforgeError) as e:
        run_eval(parser.parse_args(["eval", *folders, "--json", str(ro / "m.json")]))
    assert str(ro / "m.json") in str(e.value) and "Permission denied" in str(e.value)


def test_eval_json_full_disk_leaves_no_partial_file(parser, fake_data_layer, tmp_path, monkeypatch, capsys):
    import errno

    import ganforge.outputs

    (tmp_path / "realdir").mkdir()
    (tmp_path / "fakedir").mkdir()
    out = tmp_path / "m.json"
    argv = ["eval", "--real", str(tmp_path / "realdir"), "--fake", str(tmp_path / "fakedir"), "--metrics", "fid1k",
            "--json", str(out), "--cache-dir", str(tmp_path / "cache"), "--device", "cpu"]

    class FullFile:
        def __init__(self, path, mode):
            self.f = open(path, mode)

        def write(self, data):
            self.f.write(data[:10])
            raise OSError(errno.ENOSPC, "No space left on device")

        def fileno(self):  # the writer fsyncs what it wrote (the metrics cache is written, and synced, first)
            return self.f.fileno()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(ganforge.outputs, "open", FullFile, raising=False)
    with pytest.raises(GanforgeError) as e:
        run_eval(parser.parse_args(argv))
    assert str(e.value) == f"cannot write {str(out)!r}: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "fakedir", "realdir"]  # no partial file
    out.write_text("old results\n")
    with pytest.raises(GanforgeError, match="No space left on device"):
        run_eval(parser.parse_args([*argv, "--overwrite"]))
    assert out.read_text() == "old results\n"  # --overwrite replaces only with a complete file
    assert not list(tmp_path.glob(".m.json.tmp*"))


@pytest.mark.parametrize("argv,match", [
    (["--seed", "-1"], r"--seed must be an integer >= 0 and <= 4294967295, got -1"),
    (["--seed", "4294967296"], r"--seed must be an integer >= 0 and <= 4294967295"),
    (["--num-real", "1"], r"--num-real must be an integer >= 2, got 1"),
    (["--batch-size", "100000"], r"--batch-size must be an integer >= 1 and <= 65536"),
])
def test_eval_numeric_options_out_of_range(parser, fake_data_layer, monkeypatch, argv, match):
    _no_compute(monkeypatch)
    with pytest.raises(GanforgeError, match=match):
        run_eval(parser.parse_args(["eval", "--model", "m", *argv]))


def test_eval_folders_too_few_fakes_for_the_name(parser, fake_data_layer, tmp_path):
    (tmp_path / "realdir").mkdir()
    (tmp_path / "fakedir").mkdir()
    args = parser.parse_args(["eval", "--real", str(tmp_path / "realdir"), "--fake", str(tmp_path / "fakedir"),
                              "--metrics", "fid1k,kid2k", "--json", str(tmp_path / "m.json"), "--device", "cpu",
                              "--cache-dir", str(tmp_path / "cache")])
    with pytest.raises(GanforgeError, match=r"metric 'kid2k' needs 2000 generated images but the generated set has "
                                            r"1000; add images, or name a count the set can give, e.g. 'kid1k'"):
        run_eval(args)
    assert not (tmp_path / "m.json").exists()
