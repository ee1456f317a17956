"""An interrupt (Ctrl-C = SIGINT, or SIGTERM from `timeout`, systemd, a batch scheduler) at any moment
of a step, then ``--resume``: the same weights, optimizer states, EMA, batch-norm counters, RNG and data
position as the run left alone. The signal is sent for real (os.kill) from inside the step: the data
read, a forward pass, the backward pass, between two optimizers, the EMA update, and the sample grid
written between steps."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from helpers.data import make_dataset
from helpers.training import assert_states_equal, final_state, random_image_folder, tiny_cfg
from torch.optim.optimizer import register_optimizer_step_post_hook

import ganforge
from ganforge.training import checkpoint as ckpt
from ganforge.training.ema import EMA
from ganforge.training.trainer import Trainer

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")

STEPS = 8
AT_STEP = 3  # the step (0-based) during which the signal arrives


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The run left alone (dcgan-tiny: batch norm in G and D, Adam for each)."""
    out = tmp_path_factory.mktemp("alone")
    r = ganforge.train(tiny_cfg(steps=STEPS), out=out, dataset=make_dataset())
    assert not r.interrupted and r.steps == STEPS
    return final_state(r.run_dir)


class _Trap:
    """Sends ``sig`` to this process once, at the first ``kind`` event of step AT_STEP."""

    def __init__(self, sig: int):
        self.sig, self.trainer, self.fired = sig, None, False

    def fire(self) -> None:
        if not self.fired:
            self.fired = True
            os.kill(os.getpid(), self.sig)

    def in_step(self, offset: int = 0) -> bool:
        return self.trainer is not None and self.trainer.step == AT_STEP + offset


def _arm(kind: str, trap: _Trap, monkeypatch) -> list:
    """Install the hook for ``kind``; returns handles to remove."""
    real_step = Trainer.train_step

    def spy(self, acc):
        trap.trainer = self
        return real_step(self, acc)

    monkeypatch.setattr(Trainer, "train_step", spy)
    handles = []
    if kind == "data":
        real_next = Trainer.next_batch

        def next_batch(self):
            if trap.in_step():
                trap.fire()
            return real_next(self)

        monkeypatch.setattr(Trainer, "next_batch", next_batch)
    elif kind == "forward":  # inside a batch-norm layer's forward: its running statistics half updated
        def hook(module, args, output):
            if isinstance(module, torch.nn.BatchNorm2d) and trap.in_step():
                trap.fire()
        handles.append(torch.nn.modules.module.register_module_forward_hook(hook))
    elif kind == "backward":
        def bhook(module, grad_in, grad_out):  # (a hook on modules whose inputs need no gradient warns)
            if trap.in_step():
                trap.fire()
        handles.append(torch.nn.modules.module.register_module_full_backward_hook(bhook))
    elif kind == "between-optimizers":  # D has stepped, G has not
        def ohook(opt, args, kwargs):
            if trap.in_step():
                trap.fire()
        handles.append(register_optimizer_step_post_hook(ohook))
    elif kind == "ema":  # counters already advanced, EMA not yet
        real_update = EMA.update

        def update(self, *a, **k):
            if trap.in_step(offset=1):
                trap.fire()
            return real_update(self, *a, **k)

        monkeypatch.setattr(EMA, "update", update)
    elif kind == "grid":  # between steps, while a tick writes its sample grid
        real_write = Trainer.write_samples

        def write_samples(self, *a, **k):
            if self.step == 4:
                trap.fire()
            return real_write(self, *a, **k)

        monkeypatch.setattr(Trainer, "write_samples", write_samples)
    else:
        raise AssertionError(kind)
    return handles


@pytest.mark.parametrize("kind", ["data", "forward", "backward", "between-optimizers", "ema", "grid"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_anywhere_in_a_step_then_resume_equals_the_run_left_alone(
        tmp_path, tiny_dataset, reference, kind, sig, monkeypatch, capfd):
    trap = _Trap(sig)
    handles = _arm(kind, trap, monkeypatch)
    try:
        stopped = ganforge.train(tiny_cfg(steps=STEPS), out=tmp_path, dataset=tiny_dataset)
    finally:
        for h in handles:
            h.remove()
        monkeypatch.undo()
    assert trap.fired and stopped.interrupted
    assert 0 < stopped.steps < STEPS  # it stopped early, at a step boundary ...
    _, state = ckpt.load_latest_checkpoint(stopped.run_dir)
    assert state["counters"]["step"] == stopped.steps  # ... and checkpointed there
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

    resumed = ganforge.train(tiny_cfg(steps=STEPS), out=tmp_path, resume="auto", dataset=tiny_dataset)
    assert resumed.run_dir == stopped.run_dir and resumed.steps == STEPS and not resumed.interrupted
    assert_states_equal(reference, final_state(resumed.run_dir))
    assert "finishing the current step" in capfd.readouterr().err


def test_a_second_interrupt_inside_a_step_stops_at_once_without_a_half_step_checkpoint(
        tmp_path, tiny_dataset, monkeypatch, capfd):
    trap = _Trap(signal.SIGINT)
    fired = {"n": 0}

    def twice(module, args, output):
        if isinstance(module, torch.nn.BatchNorm2d) and trap.in_step() and fired["n"] < 2:
            fired["n"] += 1
            os.kill(os.getpid(), signal.SIGINT)

    handle = torch.nn.modules.module.register_module_forward_hook(twice)
    real_step = Trainer.train_step

    def spy(self, acc):
        trap.trainer = self
        return real_step(self, acc)

    monkeypatch.setattr(Trainer, "train_step", spy)
    try:
        r = ganforge.train(tiny_cfg(steps=STEPS, **{"train.snapshot_ticks": 1}), out=tmp_path,
                           dataset=tiny_dataset)
    finally:
        handle.remove()
    assert r.interrupted and fired["n"] == 2
    err = capfd.readouterr().err
    assert f"stopped in the middle of step {AT_STEP}: no checkpoint written" in err
    # Only tick checkpoints exist (every 2 steps), none of the half step.
    _, state = ckpt.load_latest_checkpoint(r.run_dir)
    assert state["counters"]["step"] == 2


def _train_cmd(folder, runs, *extra):
    import sys

    return [sys.executable, "-m", "ganforge", "train", "--preset", "dcgan-tiny", "--data", str(folder),
            "--resolution", "16", "--kimg", "3", "--set", "data.stream=always", "--set", "data.workers=2",
            "--set", "train.progress=false", "--set", "train.tick_kimg=0.064", "--out", str(runs), *extra]


def test_sigterm_to_the_whole_process_group_while_streaming_checkpoints_and_resumes_exactly(tmp_path):
    """What `timeout`, systemd and batch schedulers do: SIGTERM to every process of the job, the data
    workers included. The workers outlive the signal, the step finishes, the checkpoint is written, the
    command exits 130 saying how to continue, and the resumed run equals the run left alone."""
    import subprocess
    import time

    folder = random_image_folder(tmp_path / "imgs")
    alone = subprocess.run(_train_cmd(folder, tmp_path / "alone"), capture_output=True, text=True, timeout=300)
    assert alone.returncode == 0, alone.stderr

    runs = tmp_path / "runs"
    p = subprocess.Popen(_train_cmd(folder, runs), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    t0 = time.time()
    while not list(runs.glob("*/stats.jsonl")):
        assert p.poll() is None and time.time() - t0 < 120, p.communicate()
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "memory" not in err and "data.workers" not in err, err
    assert "interrupted at" in err and "writing a checkpoint" in err, err
    (run,) = runs.iterdir()
    stopped_at = ckpt.load_latest_checkpoint(run)[1]["counters"]["step"]
    assert 0 < stopped_at < final_state(next((tmp_path / "alone").iterdir()))["counters"]["step"]

    again = subprocess.run(_train_cmd(folder, runs, "--resume", str(run)), capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert_states_equal(final_state(next((tmp_path / "alone").iterdir())), final_state(run))
