"""The studio reads run folders: it finds the runs (depth 1 and 2, newest first), tells their state apart
(running, finished, stopped, failed), and shows their stats, metrics, grids, exports and preset changes,
from files that may be half-written, huge, hostile, symlinked out of the runs folder or vanishing while
read, without ever raising on their content or loading a weight."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers.training import quiet_trainer

from ganforge.config import to_dict
from ganforge.presets import get_preset
from ganforge.studio import runs
from ganforge.studio.errors import StudioError

NOW = 1_800_000_000.0
HOST = socket.gethostname()


def tick(kimg: float, **extra) -> dict:
    return {"kimg": kimg, "step": int(kimg * 125), "D/adv": 1.0 + kimg, "G/adv": 2.0 - kimg, "img_per_s": 60.0,
            "sec_per_tick": 8.0, "bad_steps": 0, "time": NOW - 1000 + kimg * 100, **extra}


def write_lines(path: Path, rows: list, tail: str = "") -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)


def make_run(root: Path, name: str, *, preset="dcgan-tiny", recipe="gan", total=2.0, stats=(), metrics=(),
             status=None, grids=(), exports=(), config=None, age=10_000.0) -> Path:
    """A run folder written by hand; its stats.jsonl last modified ``age`` seconds before ``NOW``."""
    run = root / name
    run.mkdir(parents=True)
    cfg = config if config is not None else {"preset": preset, "recipe": recipe, "train": {"total_kimg": total}}
    (run / "config.json").write_text(json.dumps(cfg))
    if stats:
        write_lines(run / "stats.jsonl", list(stats))
        os.utime(run / "stats.jsonl", (NOW - age, NOW - age))
    if metrics:
        write_lines(run / "metrics.jsonl", list(metrics))
    if status is not None:
        (run / "status.json").write_text(json.dumps(status))
    if grids:
        (run / "samples").mkdir()
        for name_ in ("reals.png", *grids):
            (run / "samples" / name_).write_bytes(b"\x89PNG not really")
    if exports:
        (run / "exports").mkdir()
        for stem, meta in exports:
            (run / "exports" / f"{stem}.safetensors").write_bytes(b"not weights: never loaded")
            (run / "exports" / f"{stem}.json").write_text(json.dumps(meta))
    return run


def meta(kimg=0.5, **extra) -> dict:
    return {"format": "ganforge-generator", "recipe": "gan", "preset": "dcgan-tiny", "resolution": 16,
            "channels": 1, "num_classes": 0, "class_names": [], "kimg": kimg, **extra}


TWO_EXPORTS = [("generator-000000.512kimg", meta(0.512)), ("generator-000001kimg", meta(1.0))]


def by_name(root) -> dict[str, dict]:
    return {r["name"]: r for r in runs.list_runs(root, now=NOW)}


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# ---------------------------------------------------------------------------------------------
# Listing.


def test_runs_are_found_at_depth_one_and_two_newest_first_and_nothing_else(tmp_path):
    root = tmp_path / "runs"
    make_run(root, "00000-a")
    (root / "00001-b").mkdir(parents=True)
    write_lines(root / "00001-b" / "stats.jsonl", [tick(0.5)])  # stats alone make a run too
    make_run(root, "group/00002-c")
    make_run(root, "deep/er/00003-d")  # depth 3: not looked at
    make_run(root, ".hidden")
    (root / "notes").mkdir()
    (root / "readme.txt").write_text("not a run")
    sup = root / "00000-a" / "superseded"  # a run's own sub-folders are never runs
    sup.mkdir()
    write_lines(sup / "stats.jsonl", [tick(3.0)])
    assert [r["name"] for r in runs.list_runs(root, now=NOW)] == ["group/00002-c", "00001-b", "00000-a"]
    assert runs.list_runs(tmp_path / "missing") == []


def test_at_most_max_runs_are_listed_the_newest(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    for i in range(5):
        make_run(root, f"{i:05d}-x")
    monkeypatch.setattr(runs, "MAX_RUNS", 3)
    assert [r["name"] for r in runs.list_runs(root, now=NOW)] == ["00004-x", "00003-x", "00002-x"]


def test_summary_fields(tmp_path):
    root = tmp_path / "runs"
    make_run(root, "00000-dcgan",
             stats=[tick(0.5), {"warning": "loss spike", "kimg": 0.6}, tick(1.0, **{"augment/p": 0.2})],
             metrics=[{"metric": "fid1k", "value": 40.0, "kimg": 0.5}, {"metric": "fid1k", "value": 30.0, "kimg": 1.0},
                      {"metric": "pr1k", "value": {"precision": 0.5, "recall": 0.25}, "kimg": 1.0},
                      {"metric": "kid1k", "value": "NaN as text", "kimg": 1.0}],
             grids=["fakes000000.png", "fakes000000.512.png", "fakes000001.png"],
             exports=[("generator-000001kimg", meta(1.0))])
    make_run(root, "00001-renamed", preset="no-such-preset", recipe="stylegan2")  # family from the recipe
    make_run(root, "00002-alien", preset="no-such-preset", recipe="no-such-recipe")
    got = by_name(root)
    s = got["00000-dcgan"]
    assert s["preset"] == "dcgan-tiny" and s["recipe"] == "gan" and s["family"] == "classic"
    assert s["kimg"] == 1.0 and s["total_kimg"] == 2.0 and s["img_per_s"] == 60.0
    assert s["latest"] == {"D/adv": 2.0, "G/adv": 1.0}  # losses only: no augment/p, img_per_s, time
    assert s["metrics"] == {"fid1k": 30.0, "pr1k/precision": 0.5, "pr1k/recall": 0.25}
    assert s["grids"] == 3 and s["exports"] == 1
    assert s["started"] == pytest.approx(tick(0.5)["time"] - 8.0, abs=1e-3)
    assert s["updated"] == pytest.approx(NOW - 10_000.0)
    assert s["state"] == "stopped"
    assert got["00001-renamed"]["family"] == "stylegan2"
    assert got["00002-alien"]["family"] is None
    assert got["00002-alien"]["kimg"] == 0.0 and got["00002-alien"]["updated"] is None


def test_the_listing_follows_a_growing_stats_file(tmp_path):
    root = tmp_path / "runs"
    run = make_run(root, "00000-x", stats=[tick(0.5)])
    assert by_name(root)["00000-x"]["kimg"] == 0.5
    with open(run / "stats.jsonl", "a") as f:
        f.write(json.dumps(tick(0.75)) + "\n")
    assert by_name(root)["00000-x"]["kimg"] == 0.75  # not a stale cached digest


# ---------------------------------------------------------------------------------------------
# State.


@pytest.mark.parametrize("said", ["finished", "stopped", "failed"])
def test_an_ended_status_is_the_state(tmp_path, said):
    run = make_run(tmp_path, "r", status={"state": said, "pid": os.getpid(), "host": HOST})
    # even with recent stats and a live pid: the process said it ended
    assert runs.run_state(run, NOW - 1, 8.0, NOW) == said


def test_running_status_with_a_live_pid_on_this_host_is_running_even_without_recent_stats(tmp_path):
    run = make_run(tmp_path, "r", status={"state": "running", "pid": os.getpid(), "host": HOST})
    assert runs.run_state(run, NOW - 10_000, 8.0, NOW) == "running"
    assert runs.run_state(run, None, None, NOW) == "running"


def test_running_status_with_a_dead_pid_is_failed(tmp_path):
    run = make_run(tmp_path, "r", status={"state": "running", "pid": dead_pid(), "host": HOST})
    assert runs.run_state(run, NOW - 10_000, 8.0, NOW) == "failed"
    assert runs.run_state(run, NOW - 30, 8.0, NOW) == "running"  # but its stats still grow


def test_a_pid_of_another_host_is_not_asked(tmp_path):
    run = make_run(tmp_path, "r", status={"state": "running", "pid": os.getpid(), "host": HOST + "-elsewhere"})
    assert runs.run_state(run, NOW - 10_000, 8.0, NOW) == "failed"
    assert runs.run_state(run, NOW - 60, 8.0, NOW) == "running"


def test_hostile_status_values_do_not_raise(tmp_path):
    for i, status in enumerate([{"state": "running", "pid": 2**70, "host": HOST}, {"state": "running", "pid": "1"},
                                {"state": "running", "pid": True, "host": HOST},
                                {"state": "running", "pid": -1, "host": HOST},
                                {"state": 5}, [1, 2], "running"]):
        run = make_run(tmp_path, f"r{i}")
        (run / "status.json").write_text(json.dumps(status))
        expected = "failed" if isinstance(status, dict) and status.get("state") == "running" else "stopped"
        assert runs.run_state(run, NOW - 10_000, 8.0, NOW) == expected, status


def test_without_status_json_finished_running_or_stopped(tmp_path):
    run = make_run(tmp_path, "r")
    assert runs.run_state(run, NOW - 10_000, 8.0, NOW, kimg=2.0, total_kimg=2.0) == "finished"
    assert runs.run_state(run, NOW - 10_000, 8.0, NOW, kimg=1.999, total_kimg=2.0) == "stopped"
    assert runs.run_state(run, NOW - 60, 8.0, NOW, kimg=1.0, total_kimg=2.0) == "running"  # growing
    assert runs.run_state(run, NOW - 60, 8.0, NOW, kimg="2", total_kimg="2") == "running"  # strings: no kimg
    # the window is max(120 s, 3 ticks), and at most a day whatever a row claims
    assert runs.run_state(run, NOW - 200, 100.0, NOW) == "running"
    assert runs.run_state(run, NOW - 200, 10.0, NOW) == "stopped"
    assert runs.run_state(run, NOW - 3 * 86400, 1e300, NOW) == "stopped"
    assert runs.run_state(run, NOW - 60, float("nan"), NOW) == "running"
    # a run.lock naming a live process of this host: training has not written a tick yet
    (run / "run.lock").write_text(json.dumps({"pid": os.getpid(), "host": HOST, "started": NOW}))
    assert runs.run_state(run, None, None, NOW) == "running"
    (run / "run.lock").write_text(json.dumps({"pid": dead_pid(), "host": HOST, "started": NOW}))
    assert runs.run_state(run, None, None, NOW) == "stopped"
    (run / "run.lock").write_text("")  # released
    assert runs.run_state(run, None, None, NOW) == "stopped"


def test_state_in_the_listing(tmp_path):
    root = tmp_path / "runs"
    make_run(root, "00000-done", stats=[tick(1.0), tick(2.0)])
    make_run(root, "00001-growing", stats=[tick(1.0)], age=5)
    make_run(root, "00002-left", stats=[tick(1.0)])
    make_run(root, "00003-crashed", stats=[tick(1.0)], status={"state": "running", "pid": dead_pid(), "host": HOST})
    got = {n: s["state"] for n, s in by_name(root).items()}
    assert got == {"00000-done": "finished", "00001-growing": "running", "00002-left": "stopped",
                   "00003-crashed": "failed"}
    assert set(got.values()) == set(runs.STATES)


# ---------------------------------------------------------------------------------------------
# Tolerant, bounded reading.


def test_a_half_written_last_line_is_skipped(tmp_path):
    root = tmp_path / "runs"
    run = make_run(root, "00000-x")
    write_lines(run / "stats.jsonl", [tick(0.5), tick(1.0)], tail='{"kimg": 1.5, "D/ad')
    assert by_name(root)["00000-x"]["kimg"] == 1.0
    columns, rows = runs.stats_table(root, "00000-x")
    assert [r[columns.index("kimg")] for r in rows] == [0.5, 1.0]
    assert any("1 line " in n for n in runs.run_detail(root, "00000-x", now=NOW)["notes"])


def test_a_long_stats_file_is_read_whole_and_within_bounds(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    n = 2500
    make_run(root, "00000-x", stats=[tick(round(0.004 * (i + 1), 3)) for i in range(n)])
    columns, rows = runs.stats_table(root, "00000-x")
    kimgs = [r[columns.index("kimg")] for r in rows]
    assert len(rows) == n and kimgs == sorted(kimgs) and kimgs[-1] == 10.0
    assert by_name(root)["00000-x"]["kimg"] == 10.0
    assert runs.run_detail(root, "00000-x", now=NOW)["notes"] == []
    # over MAX_ROWS rows: the newest are kept, and the page says so
    monkeypatch.setattr(runs, "MAX_ROWS", 100)
    columns, rows = runs.stats_table(root, "00000-x")
    assert len(rows) == 100 and rows[-1][0] == 10.0 and rows[0][0] == pytest.approx(0.004 * (n - 99))
    assert any("only its last" in n_ for n_ in runs.run_detail(root, "00000-x", now=NOW)["notes"])
    # over MAX_ROWS_BYTES: its end is read, starting at a whole line
    monkeypatch.setattr(runs, "MAX_ROWS", 200_000)
    monkeypatch.setattr(runs, "MAX_ROWS_BYTES", 10_000)
    columns, rows = runs.stats_table(root, "00000-x")
    assert 10 < len(rows) < 100 and rows[-1][0] == 10.0 and all(None not in r[:2] for r in rows)
    notes = runs.run_detail(root, "00000-x", now=NOW)["notes"]
    assert len(notes) == 1 and "only its last" in notes[0]  # the line cut at the start is no skipped line
    # the listing reads only the file's end, and its start for when the run began
    monkeypatch.setattr(runs, "SUMMARY_TAIL_BYTES", 10_000)
    s = by_name(root)["00000-x"]
    assert s["kimg"] == 10.0 and s["started"] == pytest.approx(tick(0.004)["time"] - 8.0, abs=1e-3)


def test_hostile_rows_are_skipped_and_bad_numbers_are_null(tmp_path):
    root = tmp_path / "runs"
    run = make_run(root, "00000-x")
    lines = [json.dumps(tick(0.5)),
             '{"kimg": 0.6, "pad": "' + "x" * (runs.MAX_LINE_BYTES + 10) + '"}',  # a huge line
             "[" * 100_000 + "]" * 100_000,  # nested far beyond the recursion limit
             json.dumps({"kimg": 0.7, "deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}),
             "[1, 2]", "3", '"text"', "null",  # JSON, but no row
             "{\"kimg\": 0.8, \"x\": \"\xff\"}".encode("latin-1").decode("latin-1"),
             '{"kimg": 0.9, "D/adv": NaN, "G/adv": Infinity, "img_per_s": 1e999, "step": "4", "note": {"a": 1}}',
             "1" * 5000,  # an integer of 5000 digits
             json.dumps(tick(1.0))]
    (run / "stats.jsonl").write_bytes("\n".join(lines).encode() + b"\n" + b'{"kimg": 0.95, "bad": "\xff\xfe"}\n')
    (run / "metrics.jsonl").write_text('{"metric": "fid1k", "value": NaN, "details": {"std": -Infinity}}\n')
    columns, rows = runs.stats_table(root, "00000-x")
    table = {r[0]: dict(zip(columns, r)) for r in rows}
    assert sorted(table) == [0.5, 0.8, 0.9, 1.0]
    assert table[0.9]["D/adv"] is None and table[0.9]["G/adv"] is None and table[0.9]["img_per_s"] is None
    assert table[0.9]["step"] == "4" and table[0.9]["note"] is None  # a string stays as is, a dict is no cell
    assert by_name(root)["00000-x"]["kimg"] == 1.0
    detail = runs.run_detail(root, "00000-x", now=NOW)
    assert any("9 lines" in n for n in detail["notes"]), detail["notes"]
    assert detail["metrics"] == [{"metric": "fid1k", "value": None, "details": {"std": None}}]
    json.dumps(detail, allow_nan=False)  # what the app sends is plain JSON


def test_json_nesting_is_bounded_at_max_json_depth():
    def nested(depth):
        return json.dumps({"a": 1} if depth == 1 else {"a": json.loads(nested(depth - 1))})

    assert runs._loads(nested(runs.MAX_JSON_DEPTH)) != runs._BAD
    assert runs._loads(nested(runs.MAX_JSON_DEPTH + 1)) is runs._BAD
    assert runs._loads("[" * 100_000) is runs._BAD  # beyond the recursion limit: no RecursionError


def test_hostile_config_status_and_types_do_not_raise(tmp_path):
    root = tmp_path / "runs"
    deep = make_run(root, "00000-deep", config={})
    (deep / "config.json").write_text("{\"a\": " * 40 + "1" + "}" * 40)  # deeper than MAX_JSON_DEPTH
    huge = make_run(root, "00001-huge", config={})  # valid JSON, but over MAX_JSON_BYTES: not read at all
    (huge / "config.json").write_text(json.dumps({"preset": "dcgan-tiny"}) + " " * (2 << 20))
    make_run(root, "00002-list", config=[1, 2, 3])
    make_run(root, "00003-strings", config={"preset": 7, "recipe": ["gan"], "train": {"total_kimg": "2"}},
             stats=[{"kimg": "many", "D/adv": "low", "sec_per_tick": "8", "time": "now"}])
    (root / "00003-strings" / "status.json").write_text('{"state": "running", "started": "yesterday"}')
    make_run(root, "00004-train-list", config={"preset": "dcgan-tiny", "train": [1]})
    got = by_name(root)
    assert len(got) == 5
    assert got["00000-deep"]["preset"] is None and got["00001-huge"]["preset"] is None
    s = got["00003-strings"]
    assert s["preset"] is None and s["recipe"] is None and s["total_kimg"] is None and s["family"] is None
    assert s["kimg"] == 0.0 and s["latest"] == {} and s["started"] is None
    assert s["state"] == "failed"  # it said running; no pid, no recent stats
    assert got["00004-train-list"]["total_kimg"] is None and got["00004-train-list"]["family"] == "classic"
    for name in got:
        detail = runs.run_detail(root, name, now=NOW)
        assert isinstance(detail["config"], dict) and isinstance(detail["preset_diff"], list)
        json.dumps(detail, allow_nan=False)  # what the app sends is plain JSON
    assert runs.run_detail(root, "00000-deep")["config"] == {}
    assert any("config.json could not be read" in n for n in runs.run_detail(root, "00000-deep")["notes"])
    assert runs.run_detail(root, "00002-list")["preset_note"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_in_place_of_a_file_does_not_block(tmp_path):
    root = tmp_path / "runs"
    run = make_run(root, "00000-x")
    os.mkfifo(run / "stats.jsonl")  # no writer: opening it for reading would wait for one
    os.mkfifo(run / "status.json")  # a writer that says something, and never ends
    writer = os.open(run / "status.json", os.O_RDWR)
    os.write(writer, b'{"state": "finished"}')
    got = {}

    def read():  # in a thread: a blocking open of a pipe would hang the test run
        s = by_name(root)["00000-x"]
        got.update(kimg=s["kimg"], state=s["state"], rows=runs.stats_table(root, "00000-x")[1])

    try:
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout=20)
    finally:
        os.close(writer)
    assert not reader.is_alive(), "reading a named pipe blocked"
    assert got == {"kimg": 0.0, "state": "stopped", "rows": []}  # a pipe is no status.json


def test_symlinks_out_of_the_runs_folder_are_neither_listed_nor_read(tmp_path):
    root = tmp_path / "runs"
    outside = make_run(tmp_path / "elsewhere", "00009-secret", stats=[tick(9.0)])
    make_run(root, "00000-x")
    (root / "00005-link").symlink_to(outside, target_is_directory=True)
    (root / "group").mkdir()
    (root / "group" / "00006-link").symlink_to(outside, target_is_directory=True)
    (root / "00000-x" / "stats.jsonl").symlink_to(outside / "stats.jsonl")  # a file linked out
    assert [r["name"] for r in runs.list_runs(root, now=NOW)] == ["00000-x"]
    for name in ("00005-link", "group/00006-link", "../elsewhere/00009-secret", "/etc"):
        with pytest.raises(StudioError) as e:
            runs.run_detail(root, name)
        assert e.value.status == 403, name
    assert by_name(root)["00000-x"]["kimg"] == 0.0  # the linked stats are not read
    assert runs.stats_table(root, "00000-x")[1] == []
    # a link that stays inside the runs folder is fine
    (root / "00007-alias").symlink_to(root / "00000-x", target_is_directory=True)
    assert "00007-alias" in by_name(root)


def test_a_request_for_no_run_is_a_404_naming_it(tmp_path):
    root = tmp_path / "runs"
    run = make_run(root, "00000-x", stats=[tick(1.0)])
    (run / "superseded").mkdir()
    write_lines(run / "superseded" / "stats.jsonl", [tick(2.0)])
    (root / "empty").mkdir()
    for name in ("00001-missing", "empty", "00000-x/superseded", "00000-x/samples", "a/b/c", 5, None):
        with pytest.raises(StudioError) as e:
            runs.run_detail(root, name)
        assert e.value.status == 404 and str(name)[:10] in e.value.message, name
    with pytest.raises(StudioError) as e:
        runs.stats_csv(root, "00001-missing")
    assert e.value.status == 404 and "config.json or stats.jsonl" in e.value.message


def vanish_after_listing(monkeypatch, folder: Path, names: list[str]):
    """``os.scandir(folder)`` lists ``names``, every time, but they are gone right after the first listing,
    as if pruned or moved while the studio was reading the folder."""
    real = os.scandir
    listed: list = []

    class Listing:
        def __init__(self, entries):
            self.entries = entries

        def __enter__(self):
            return iter(self.entries)

        def __exit__(self, *exc):
            return False

    def scandir(path="."):
        if Path(path) == folder:
            if not listed:
                with real(path) as it:
                    listed.extend(it)
                for n in names:
                    (folder / n).unlink()
            return Listing(listed)
        return real(path)

    monkeypatch.setattr(runs.os, "scandir", scandir)


def test_a_grid_or_checkpoint_that_vanishes_while_listed_is_skipped(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    run = make_run(root, "00000-x", grids=["fakes000000.png", "fakes000000.512.png"])
    (run / "checkpoints").mkdir()
    for n in ("state-000000512.pt", "state-000001024.pt"):
        (run / "checkpoints" / n).write_bytes(b"x" * 7)
    vanish_after_listing(monkeypatch, run / "samples", ["fakes000000.512.png"])
    detail = runs.run_detail(root, "00000-x", now=NOW)
    assert [g["kimg"] for g in detail["grids"]] == [0.0]
    monkeypatch.undo()
    vanish_after_listing(monkeypatch, run / "checkpoints", ["state-000000512.pt"])
    assert runs.run_detail(root, "00000-x", now=NOW)["checkpoints"] == [
        {"name": "state-000001024.pt", "kimg": 1.024, "bytes": 7}]


def test_run_detail_lists_grids_exports_and_warnings_in_training_order(tmp_path):
    root = tmp_path / "runs"
    make_run(root, "g/00000-x", stats=[tick(0.5), {"warning": "D collapsed", "kimg": 0.7}, tick(1.0)],
             metrics=[{"metric": "fid1k", "value": 3.0, "protocol": {"extractor": "x"}, "kimg": 1.0}],
             grids=["fakes000001.png", "fakes000000.512.png", "fakes000001.200.png", "fakes000000.png"],
             exports=[("generator-000001kimg", meta(1.0)), ("generator-000000.512kimg", meta(0.512))])
    d = runs.run_detail(root, "g/00000-x", now=NOW)
    assert [g["kimg"] for g in d["grids"]] == [0.0, 0.512, 1.0, 1.2]  # not string order
    assert d["grids"][1]["url"] == "/files/g/00000-x/samples/fakes000000.512.png"
    assert d["reals"] == "/files/g/00000-x/samples/reals.png"
    assert [(e["name"], e["kimg"], e["kind"]) for e in d["exports"]] == [
        ("generator-000000.512kimg.safetensors", 0.512, "generator"),
        ("generator-000001kimg.safetensors", 1.0, "generator")]
    assert d["exports"][0]["model"] == "g/00000-x/exports/generator-000000.512kimg.safetensors"
    assert d["warnings"] == [{"warning": "D collapsed", "kimg": 0.7}]
    assert d["metrics"] == [{"metric": "fid1k", "value": 3.0, "protocol": {"extractor": "x"}, "kimg": 1.0}]
    assert d["summary"]["name"] == "g/00000-x" and d["status"] == {} and d["checkpoints"] == []


# ---------------------------------------------------------------------------------------------
# Stats table and CSV.


def test_stats_csv(tmp_path):
    root = tmp_path / "runs"
    make_run(root, "00000-x", stats=[tick(0.5), {"warning": "w", "kimg": 0.6},
                                     {"kimg": 1.0, "step": 8, "G/pl": 0.25, "D/adv": None, "note": "=HYPERLINK(1)"}])
    text = runs.stats_csv(root, "00000-x")
    table = list(csv.reader(io.StringIO(text)))
    header = table[0]
    assert header[:2] == ["kimg", "step"] and header.index("G/pl") > header.index("time")
    assert len(table) == 3  # header and two ticks: no warning row
    second = dict(zip(header, table[2]))
    assert second["kimg"] == "1.0" and second["G/pl"] == "0.25" and second["D/adv"] == "" and second["time"] == ""
    assert second["note"] == "'=HYPERLINK(1)"  # not a formula for a spreadsheet
    assert dict(zip(header, table[1]))["D/adv"] == "1.5"


# ---------------------------------------------------------------------------------------------
# Preset diff.


def test_preset_diff_shows_an_overridden_key(tmp_path):
    cfg = to_dict(get_preset("dcgan-tiny"))
    cfg["train"]["total_kimg"] = 2.0
    cfg["model"]["z_dim"] = str(cfg["model"]["z_dim"])  # "8" is not 8
    cfg["extra"] = {"new": 1}
    diff, note = runs.preset_diff(cfg)
    preset = to_dict(get_preset("dcgan-tiny"))
    assert note is None
    assert diff == [{"key": "extra.new", "value": 1, "preset": None},
                    {"key": "model.z_dim", "value": str(preset["model"]["z_dim"]), "preset": preset["model"]["z_dim"]},
                    {"key": "train.total_kimg", "value": 2.0, "preset": preset["train"]["total_kimg"]}]
    assert runs.preset_diff(to_dict(get_preset("dcgan-tiny"))) == ([], None)
    root = tmp_path / "runs"
    make_run(root, "00000-x", config=cfg)
    assert runs.run_detail(root, "00000-x")["preset_diff"] == diff


def test_an_unknown_preset_gives_no_diff_and_a_note():
    for cfg in ({"preset": "no-such-preset", "train": {"total_kimg": 1}}, {"preset": ["x"]}, [1], None):
        diff, note = runs.preset_diff(cfg)
        assert diff == [] and note, cfg
    assert "no-such-preset" in runs.preset_diff({"preset": "no-such-preset"})[1]


# ---------------------------------------------------------------------------------------------
# Models.


def test_models_are_listed_from_metadata_only(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    run = make_run(root, "00000-x", exports=TWO_EXPORTS)
    (run / "generator.safetensors").write_bytes(b"not weights")
    (run / "model.json").write_text(json.dumps(meta(1.0)))
    tr = make_run(root, "00001-t", recipe="pix2pix", exports=[("generator-000002kimg", meta(
        "x", recipe="pix2pix", kind="translator", class_names=["a", 5, "b"], resolution="16", channels=-3))])
    (tr / "exports" / "generator-000003kimg.safetensors").write_bytes(b"no json beside it")
    (tr / "exports" / "generator-000004kimg.safetensors").write_bytes(b"json of another kind")
    (tr / "exports" / "generator-000004kimg.json").write_text(json.dumps({"format": "something-else"}))
    (tr / "exports" / "generator-000005kimg.safetensors").write_bytes(b"deep json")
    (tr / "exports" / "generator-000005kimg.json").write_text("[" * 50 + "]" * 50)
    (tr / "superseded").mkdir()  # set aside by a resume: no model
    (tr / "superseded" / "generator-000009kimg.safetensors").write_bytes(b"x")
    (tr / "superseded" / "generator-000009kimg.json").write_text(json.dumps(meta(9.0)))
    imported = root / "imported" / "ffhq"  # an imported model's folder, 3 deep
    imported.mkdir(parents=True)
    (imported / "generator.safetensors").write_bytes(b"x")
    (imported / "model.json").write_text(json.dumps(meta(None, recipe="stylegan2", preset="imported",
                                                         num_classes=2, class_names=["0", "1"])))
    linked = make_run(root, "00002-linked")  # weights linked out of the runs folder
    (tmp_path / "outside.safetensors").write_bytes(b"x")
    (linked / "generator.safetensors").symlink_to(tmp_path / "outside.safetensors")
    (linked / "model.json").write_text(json.dumps(meta()))
    (root / "a" / "b" / "c").mkdir(parents=True)  # 4 deep: not looked at
    (root / "a" / "b" / "c" / "generator.safetensors").write_bytes(b"x")
    (root / "a" / "b" / "c" / "model.json").write_text(json.dumps(meta()))
    models = runs.list_models(root)
    assert [(m["path"], m["run"]) for m in models] == [
        ("00001-t/exports/generator-000002kimg.safetensors", "00001-t"),
        ("00000-x/generator.safetensors", "00000-x"),
        ("00000-x/exports/generator-000001kimg.safetensors", "00000-x"),
        ("00000-x/exports/generator-000000.512kimg.safetensors", "00000-x"),
        ("imported/ffhq/generator.safetensors", None)]
    t = models[0]
    assert t["kind"] == "translator" and t["recipe"] == "pix2pix" and t["class_names"] == ["a", "b"]
    assert t["resolution"] is None and t["channels"] is None and t["kimg"] is None
    assert models[1] == {"path": "00000-x/generator.safetensors", "run": "00000-x", "kind": "generator",
                         "recipe": "gan",
                         "preset": "dcgan-tiny", "resolution": 16, "channels": 1, "num_classes": 0, "class_names": [],
                         "kimg": 1.0}
    assert models[4]["num_classes"] == 2 and models[4]["class_names"] == ["0", "1"] and models[4]["kimg"] is None
    monkeypatch.setattr(runs, "MAX_MODELS", 2)
    assert len(runs.list_models(root)) == 2


def test_a_model_that_vanishes_while_listed_is_skipped(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    run = make_run(root, "00000-x", exports=TWO_EXPORTS)
    vanish_after_listing(monkeypatch, run / "exports",
                         ["generator-000001kimg.safetensors", "generator-000001kimg.json"])
    assert [m["path"] for m in runs.list_models(root)] == ["00000-x/exports/generator-000000.512kimg.safetensors"]


# ---------------------------------------------------------------------------------------------
# A real run.


def test_a_real_tiny_run(tmp_path, tiny_dataset):
    root = tmp_path / "runs"
    name = "00000-dcgan-tiny"
    over = {"train.total_kimg": 0.064, "train.tick_kimg": 0.032}  # two ticks of 4 steps, a snapshot each
    quiet_trainer(root / name, "dcgan-tiny", tiny_dataset, **over).train()
    (summary,) = runs.list_runs(root)
    assert summary["name"] == name and summary["state"] == "finished" and summary["family"] == "classic"
    assert summary["kimg"] == summary["total_kimg"] == 0.064
    assert summary["grids"] == 3 and summary["exports"] == 2 and set(summary["latest"]) >= {"G/adv", "D/adv"}
    assert time.time() - 600 < summary["started"] <= summary["updated"] <= time.time()
    d = runs.run_detail(root, name)
    assert [g["kimg"] for g in d["grids"]] == [0.0, 0.032, 0.064] and d["reals"]
    assert [e["kimg"] for e in d["exports"]] == [0.032, 0.064] and {e["kind"] for e in d["exports"]} == {"generator"}
    assert [c["kimg"] for c in d["checkpoints"]] == [0.032, 0.064] and all(c["bytes"] > 0 for c in d["checkpoints"])
    assert {x["key"] for x in d["preset_diff"]} >= {"train.total_kimg"} and d["notes"] == []
    for url in [g["url"] for g in d["grids"]] + [d["reals"]] + [e["url"] for e in d["exports"]]:
        assert (root / url.removeprefix("/files/")).is_file(), url
    columns, rows = runs.stats_table(root, name)
    assert len(rows) == 2 and columns[:2] == ["kimg", "step"] and "G/adv" in columns
    assert len(runs.stats_csv(root, name).splitlines()) == 3
    models = runs.list_models(root)
    assert [m["path"] for m in models] == [f"{name}/generator.safetensors",
                                           f"{name}/exports/generator-000000.064kimg.safetensors",
                                           f"{name}/exports/generator-000000.032kimg.safetensors"]
    assert all(m["resolution"] == tiny_dataset.resolution and m["recipe"] == "gan" for m in models)
