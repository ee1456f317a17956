"""One run, one writer: a run directory is locked while it trains; a second trainer on it is refused with
one message (exit 2), and a lock left by a killed process is recognised as stale."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers.training import random_image_folder, tiny_cfg

import ganforge
from ganforge.errors import GanforgeError
from ganforge.training.runlock import LOCK_NAME, RunLock


def _cmd(runs, *extra):
    return [sys.executable, "-m", "ganforge", "train", "--preset", "dcgan-tiny", "--data", str(runs.parent / "imgs"), "--resolution",
            "16", "--set", "train.progress=false", "--set", "train.tick_kimg=0.032", "--out", str(runs), *extra]


def test_a_held_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    first = RunLock(tmp_path).acquire()
    try:
        with pytest.raises(GanforgeError, match=rf"is being trained by pid {os.getpid()} on "):
            RunLock(tmp_path).acquire()
    finally:
        first.release()
    RunLock(tmp_path).acquire().release()  # free again


def test_a_lock_file_left_by_a_dead_process_is_stale(tmp_path, tiny_dataset):
    r = ganforge.train(tiny_cfg(steps=2), out=tmp_path, dataset=tiny_dataset)
    # What a SIGKILLed trainer leaves: the file, naming a pid that no longer runs (and holding no flock).
    (r.run_dir / LOCK_NAME).write_text(json.dumps({"pid": 2**22 + 7, "host": "elsewhere", "started": 0}))
    again = ganforge.train(tiny_cfg(steps=4), out=tmp_path, resume=r.run_dir, dataset=tiny_dataset)
    assert again.steps == 4


def test_two_processes_on_one_run_the_second_is_refused_and_a_killed_one_leaves_no_lock(tmp_path):
    runs = tmp_path / "runs"
    random_image_folder(tmp_path / "imgs")
    first = subprocess.run(_cmd(runs, "--kimg", "0.064"), capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    (run,) = runs.iterdir()
    a = subprocess.Popen(_cmd(runs, "--resume", str(run), "--kimg", "1000"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.time()
        while not _locked_by(run, a.pid):
            assert a.poll() is None and time.time() - t0 < 120, a.communicate()
            time.sleep(0.05)
        rows = len((run / "stats.jsonl").read_text().splitlines())
        b = subprocess.run(_cmd(runs, "--resume", str(run), "--kimg", "1000"), capture_output=True, text=True,
                           timeout=300)
        assert b.returncode == 2, b.stderr
        assert "Traceback" not in b.stderr
        assert f"is being trained by pid {a.pid}" in b.stderr and len(b.stderr.strip().splitlines()) == 1, b.stderr
        assert a.poll() is None  # the first goes on
        assert len((run / "stats.jsonl").read_text().splitlines()) >= rows
    finally:
        a.send_signal(signal.SIGKILL)
        a.communicate()
    # SIGKILL: no clean-up ran, the lock file stays, but the lock went with the process.
    assert (run / LOCK_NAME).exists()
    c = subprocess.run(_cmd(runs, "--resume", str(run), "--kimg", "0.128"), capture_output=True, text=True,
                       timeout=300)
    assert c.returncode == 0, c.stderr
    ticks = [json.loads(line)["kimg"] for line in (run / "stats.jsonl").read_text().splitlines()
             if '"warning"' not in line]
    assert len(ticks) == len(set(ticks))  # every tick once


def _locked_by(run, pid) -> bool:
    try:
        return json.loads((run / LOCK_NAME).read_text() or "{}").get("pid") == pid
    except (OSError, ValueError):
        return False
