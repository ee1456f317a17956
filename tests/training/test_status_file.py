"""``status.json``: "running" (with pid, host, start time and kimg) while training, then "finished",
"stopped" (an interrupt) or "failed" (an exception, with its text); a failure to write it never hides
the error that ended training."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest
from helpers.training import tiny_cfg

import ganforge
from ganforge.errors import OutputError
from ganforge.training import recorder as recorder_module
from ganforge.training.trainer import Trainer, TrainingDiverged


def _train(tmp_path, dataset, steps=4, resume=None, **over):
    cfg = tiny_cfg(steps=steps, **{"train.progress": False, **over})
    return ganforge.train(cfg, out=tmp_path, dataset=dataset, resume=resume)


def _status(run_dir) -> dict:
    return json.loads((run_dir / "status.json").read_text())


def _only_run(tmp_path):
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    return run_dir


def _spy_steps(monkeypatch, at_step):
    """Calls ``at_step(trainer)`` before every step; returns what each call returned."""
    real = Trainer.train_step
    seen = []

    def step(self, acc):
        seen.append(at_step(self))
        return real(self, acc)

    monkeypatch.setattr(Trainer, "train_step", step)
    return seen


def test_finished_after_a_run_with_running_while_it_trains(tmp_path, tiny_dataset, monkeypatch):
    t0 = time.time()
    seen = _spy_steps(monkeypatch, lambda t: _status(t.run_dir))
    r = _train(tmp_path, tiny_dataset)
    assert len(seen) == 4
    running = seen[0]
    assert running == {"state": "running", "pid": os.getpid(), "host": socket.gethostname(),
                       "started": running["started"], "kimg": 0.0}
    assert t0 <= running["started"] <= time.time()
    assert all(s == running for s in seen)  # written once, at the start
    end = _status(r.run_dir)
    assert end["state"] == "finished" and end["kimg"] == 0.032
    assert end["pid"] == os.getpid() and end["host"] == socket.gethostname()
    assert end["started"] == running["started"] <= end["ended"] <= time.time()
    assert end["message"] == "reached train.total_kimg=0.032"
    assert not list(r.run_dir.glob(".status*"))  # atomic writes leave no temporary file


def test_stopped_after_an_interrupt_then_running_and_finished_on_resume(tmp_path, tiny_dataset, monkeypatch):
    def ctrl_c(t):
        if t.step == 1:
            os.kill(os.getpid(), signal.SIGINT)

    _spy_steps(monkeypatch, ctrl_c)
    r = _train(tmp_path, tiny_dataset, steps=6)
    assert r.interrupted and r.steps == 2
    stopped = _status(r.run_dir)
    assert stopped["state"] == "stopped" and stopped["kimg"] == 0.016
    assert stopped["message"].startswith("interrupted at 0.016 kimg; checkpoint ")
    assert stopped["message"].endswith("state-000000016.pt")
    monkeypatch.undo()

    seen = _spy_steps(monkeypatch, lambda t: _status(t.run_dir))
    resumed = _train(tmp_path, tiny_dataset, steps=6, resume="auto")
    assert resumed.run_dir == r.run_dir
    assert seen[0]["state"] == "running" and seen[0]["kimg"] == 0.016  # where the resume started
    assert seen[0]["started"] > stopped["started"]
    assert "ended" not in seen[0] and "message" not in seen[0]
    end = _status(r.run_dir)
    assert end["state"] == "finished" and end["kimg"] == 0.048


def test_stopped_at_once_by_a_second_interrupt_inside_a_step(tmp_path, tiny_dataset, monkeypatch):
    def twice(t):
        if t.step == 1:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # the second one raises KeyboardInterrupt inside the step

    _spy_steps(monkeypatch, twice)
    r = _train(tmp_path, tiny_dataset, steps=6)
    assert r.interrupted
    s = _status(r.run_dir)
    assert s["state"] == "stopped" and s["message"].startswith("stopped in the middle of step 1: no checkpoint")


def test_failed_when_a_step_raises_with_its_message(tmp_path, tiny_dataset, monkeypatch):
    def boom(t):
        if t.step == 2:
            raise RuntimeError("CUDA error: an illegal memory access\n  (second line)")

    _spy_steps(monkeypatch, boom)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        _train(tmp_path, tiny_dataset, steps=6)
    s = _status(_only_run(tmp_path))
    assert s["state"] == "failed" and s["kimg"] == 0.016
    assert s["message"] == "CUDA error: an illegal memory access (second line)"
    assert s["pid"] == os.getpid() and s["started"] <= s["ended"]


def test_failed_when_training_diverges(tmp_path, tiny_dataset, monkeypatch):
    def diverge(t):
        if t.step == 1:
            raise TrainingDiverged("training diverged: 5 consecutive non-finite steps")

    _spy_steps(monkeypatch, diverge)
    with pytest.raises(TrainingDiverged):
        _train(tmp_path, tiny_dataset)
    s = _status(_only_run(tmp_path))
    assert s["state"] == "failed" and s["message"] == "training diverged: 5 consecutive non-finite steps"


def test_a_status_file_that_cannot_be_written_never_hides_the_error(tmp_path, tiny_dataset, monkeypatch, capfd):
    real_write = recorder_module.write_text

    def write_text(path, text, **k):
        if path.name == "status.json" and json.loads(text)["state"] != "running":
            raise OutputError(f"cannot write {str(path)!r}: No space left on device", 28, str(path))
        return real_write(path, text, **k)

    monkeypatch.setattr(recorder_module, "write_text", write_text)

    def boom(t):
        if t.step == 1:
            raise ValueError("the original error")

    _spy_steps(monkeypatch, boom)
    with pytest.raises(ValueError, match="the original error"):
        _train(tmp_path, tiny_dataset)
    assert "warning: could not write" in capfd.readouterr().err
    assert _status(_only_run(tmp_path))["state"] == "running"  # what it could write


def test_a_finished_run_whose_end_status_cannot_be_written_still_returns(tmp_path, tiny_dataset, monkeypatch, capfd):
    real_write = recorder_module.write_text

    def write_text(path, text, **k):
        if path.name == "status.json" and json.loads(text)["state"] == "finished":
            raise OutputError("No space left on device", 28, str(path))
        return real_write(path, text, **k)

    monkeypatch.setattr(recorder_module, "write_text", write_text)
    r = _train(tmp_path, tiny_dataset)
    assert r.steps == 4 and _status(r.run_dir)["state"] == "running"
    assert "status.json (No space left on device)" in capfd.readouterr().err


def test_nothing_to_do_is_finished(tmp_path, tiny_dataset):
    r = _train(tmp_path, tiny_dataset, steps=2)
    again = _train(tmp_path, tiny_dataset, steps=2, resume="auto")
    assert again.run_dir == r.run_dir and again.steps == 2
    s = _status(r.run_dir)
    assert s["state"] == "finished" and s["message"] == "already at 0.016 kimg >= train.total_kimg=0.016"
