"""Data-parallel training with several processes (torch.distributed, gloo on CPU, launched by torchrun
through ``ganforge train --nproc 2``): the same weights as one process at the same global batch, exact
resume at equal world size, equal metrics, and a killed or hung rank ending the whole job."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.cli import main
from ganforge.registry import RECIPES
from ganforge.training.checkpoint import load_latest_checkpoint
from ganforge.training.recipe import DatasetInfo, RunContext

SRC = str(Path(ganforge.__file__).resolve().parents[1])
# progan-tiny without the minibatch-stddev layer: no batchnorm and no statistic across the batch, so
# the only coupling between samples is the gradient average, which is what data parallelism splits.
COMMON = ["--preset", "progan-tiny", "--set", "model.mbstd_group=none", "--set", "train.progress=false"]


def _env(**extra) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra)
    env.pop("WORLD_SIZE", None)
    return env


def _train(out: Path, *args: str, nproc: int = 1, **env) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "ganforge", "train", "--out", str(out), *COMMON, *args]
    if nproc > 1:
        cmd += ["--nproc", str(nproc)]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(**env), timeout=300)


def _nets(run_root: Path) -> dict:
    run = next(p for p in run_root.iterdir() if p.is_dir())
    return load_latest_checkpoint(run)[1]


# ------------------------------------------------------------------------------------------------
# In one process: the rank slicing of per-sample draws, the launcher's flags.


def test_each_rank_draws_its_slice_of_the_global_batch(tiny_dataset):
    cfg = ganforge.get_preset("dcgan-tiny")
    draws = []
    for rank, world in ((0, 1), (0, 2), (1, 2)):
        r = RECIPES.get("gan")(cfg, DatasetInfo.of(tiny_dataset, cfg), RunContext.single("cpu", seed=5))
        r.rank, r.world_size = rank, world
        n = 4 if world == 1 else 2
        draws.append((r.sample_z(n), r.sample_uniform(n)))
    (z, u), (z0, u0), (z1, u1) = draws
    assert torch.equal(torch.cat([z0, z1]), z) and torch.equal(torch.cat([u0, u1]), u)


def test_launcher_flags_are_checked(capsys):
    assert main(["train", "--nproc", "0", "--preset", "dcgan-tiny"]) == 2
    assert "--nproc must be an integer >= 1, got 0" in capsys.readouterr().err
    assert main(["train", "--max-restarts", "2", "--preset", "dcgan-tiny"]) == 2
    assert "--max-restarts applies to --nproc N" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# Two processes.


@pytest.mark.distributed
def test_two_processes_train_what_one_process_trains(tmp_path):
    one = _train(tmp_path / "one", "--set", "metrics.names=swd1k")
    two = _train(tmp_path / "two", "--set", "metrics.names=swd1k", nproc=2)
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("run directory:") == 1  # rank 0 reports
    a, b = _nets(tmp_path / "one"), _nets(tmp_path / "two")
    assert a["counters"] == b["counters"]
    for net in a["nets"]:  # equal up to float rounding (two half-batch means averaged vs one mean)
        for k, v in a["nets"][net].items():
            if v.dtype.is_floating_point:
                assert torch.allclose(v, b["nets"][net][k], atol=1e-4, rtol=1e-4), (net, k)
    runs = [next(p for p in (tmp_path / d).iterdir()) for d in ("one", "two")]
    recs = [json.loads((r / "metrics.jsonl").read_text().splitlines()[-1]) for r in runs]
    assert recs[0]["metric"] == recs[1]["metric"] == "swd1k"
    assert recs[0]["value"]["avg"] == pytest.approx(recs[1]["value"]["avg"], rel=1e-3)
    assert len(b["rng_ranks"]) == 2  # every rank's random states are in the checkpoint


@pytest.mark.distributed
def test_resume_with_two_processes_is_bit_exact(tmp_path):
    whole = _train(tmp_path / "whole", nproc=2)
    first = _train(tmp_path / "split", "--kimg", "0.04", nproc=2)
    rest = _train(tmp_path / "split", "--resume", "auto", "--kimg", "0.08", nproc=2)
    for r in (whole, first, rest):
        assert r.returncode == 0, r.stderr[-3000:]
    a, b = _nets(tmp_path / "whole"), _nets(tmp_path / "split")
    assert a["counters"] == b["counters"] and a["counters"]["cur_nimg"] == 80
    for net in a["nets"]:
        for k, v in a["nets"][net].items():
            assert torch.equal(v, b["nets"][net][k]), (net, k)


@pytest.mark.distributed
def test_metrics_during_training_measure_rank_0s_snapshot_on_every_rank(tmp_path):
    """pix2pix re-estimates batchnorm with dropout on (at 64 px its U-Net has dropout layers), so each
    rank's snapshot would differ; rank 0's statistics are broadcast before measuring, so the recorded
    value is that of rank 0's export, which one process re-measures here (one thread, like each torchrun
    worker, so the sums agree exactly; without the broadcast they differ in the 7th digit)."""
    from dataclasses import replace

    from ganforge.data import load_dataset
    from ganforge.metrics.translation import evaluate_translation

    r = subprocess.run([sys.executable, "-m", "ganforge", "train", "--nproc", "2", "--preset", "pix2pix-tiny",
                        "--kimg", "0.016", "--set", "train.progress=false", "--set", "metrics.names=pair_l1",
                        "--set", "train.batch_size=8", "--resolution", "64", "--out", str(tmp_path)],
                       capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    run = next(p for p in tmp_path.iterdir() if p.is_dir())
    recorded = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["metric"] for x in recorded] == ["pair_l1/AtoB"] and recorded[0]["num_gen"] == 1000
    T = ganforge.load_generator(run, kind="translator")
    cfg = json.loads((run / "config.json").read_text())
    from ganforge.config import from_dict

    data = load_dataset(replace(from_dict(cfg).data, split="test"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        (again,) = evaluate_translation("pair_l1", T, data, ["AtoB"], seed=from_dict(cfg).train.seed)
    finally:
        torch.set_num_threads(threads)
    assert again.value == recorded[0]["value"]


def _worker_pid(out: Path, rank: int) -> int:
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            environ = (d / "environ").read_bytes().split(b"\0")
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ and b"TORCHELASTIC_RUN_ID" in b"".join(environ) and str(out).encode() in cmd:
            if f"LOCAL_RANK={rank}".encode() in environ:
                return int(d.name)
    raise AssertionError(f"no worker of rank {rank} found")


def _start_long_job(out: Path, **env) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "ganforge", "train", "--nproc", "2", "--preset", "dcgan-tiny", "--kimg", "1000",
           "--set", "train.tick_kimg=0.008", "--set", "train.progress=false", "--out", str(out)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(**env))
    t0 = time.time()
    while not list(out.glob("*/stats.jsonl")):  # training is under way
        assert p.poll() is None and time.time() - t0 < 120, "the job did not start"
        time.sleep(0.2)
    return p


@pytest.mark.distributed
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the workers through /proc")
def test_a_killed_rank_ends_the_job_and_is_named(tmp_path):
    p = _start_long_job(tmp_path / "runs")
    os.kill(_worker_pid(tmp_path / "runs", 1), signal.SIGKILL)
    t0 = time.time()
    text, _ = p.communicate(timeout=120)
    assert p.returncode != 0 and time.time() - t0 < 60
    assert "rank      : 1 (local_rank: 1)" in text and "SIGKILL" in text
    assert "ganforge: error: the 2-process training job failed" in text
    # Rank 0 says in one line that another process stopped, unless torchrun stopped it first (a race of the
    # launcher's monitor with rank 0's next collective, lost by rank 0 on a loaded machine); neither it nor
    # the launcher prints a traceback.
    assert ("ganforge: error: rank 0 of 2 stopped (another process of the job stopped or cannot be reached)" in text
            or "closing signal SIGTERM" in text), text[-4000:]
    assert "Traceback" not in text, text[-4000:]


@pytest.mark.distributed
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the workers through /proc")
def test_with_max_restarts_a_killed_rank_is_restarted_from_the_last_checkpoint(tmp_path):
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "ganforge", "train", "--nproc", "2", "--max-restarts", "1", "--resume", "auto",
           "--preset", "dcgan-tiny", "--kimg", "2.4", "--set", "train.tick_kimg=0.08", "--set", "train.snapshot_ticks=1",
           "--set", "train.progress=false", "--out", str(out)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
    t0 = time.time()
    while not list(out.glob("*/checkpoints/state-*.pt")):  # a checkpoint to come back from
        assert p.poll() is None and time.time() - t0 < 120, "no checkpoint was written"
        time.sleep(0.1)
    os.kill(_worker_pid(out, 1), signal.SIGKILL)
    text, _ = p.communicate(timeout=240)
    assert p.returncode == 0, text[-3000:]
    runs = [d for d in out.iterdir() if d.is_dir()]
    assert len(runs) == 1, runs  # the restart continued the run rather than starting another
    state = load_latest_checkpoint(runs[0])[1]
    assert state["counters"]["cur_nimg"] == 2400
    # torchrun saw a failure: the killed rank 1 (-9), or rank 0 when it noticed its dead peer first (then
    # torchrun names that one; which of the two it reports is a race of its monitor)
    assert re.search(r"failed \(exitcode: (-9|2|1)\) local_rank: [01]", text), text[-3000:]
    assert "(restart 1 of this torchrun job)" in text and "resuming " in text
    rows = [json.loads(x) for x in (runs[0] / "stats.jsonl").read_text().splitlines()]
    kimgs = [r["kimg"] for r in rows if "warning" not in r and "info" not in r and "kimg" in r]
    assert kimgs == sorted(set(kimgs)) and kimgs[-1] == pytest.approx(2.4)  # every tick once, in order


@pytest.mark.distributed
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the workers through /proc")
def test_a_hung_rank_ends_the_job_after_the_timeout(tmp_path):
    p = _start_long_job(tmp_path / "runs", GANFORGE_DIST_TIMEOUT="5")
    victim = _worker_pid(tmp_path / "runs", 1)
    os.kill(victim, signal.SIGSTOP)  # alive but silent
    try:
        t0 = time.time()
        text, _ = p.communicate(timeout=150)
    finally:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert p.returncode != 0 and time.time() - t0 < 90  # 5 s timeout + torchrun's 30 s grace to stop rank 1
    assert "ganforge: error: rank 0 of 2 stopped: RuntimeError" in text and "GANFORGE_DIST_TIMEOUT=5" in text


@pytest.mark.distributed
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the workers through /proc")
def test_a_signal_to_one_rank_stops_every_rank_after_the_same_step_and_the_resume_is_exact(tmp_path):
    """SIGTERM to rank 1 alone: the ranks agree at the next step boundary, stop together, write one whole
    checkpoint (every rank's collectives meet), and the resumed job equals the job left alone."""
    out = tmp_path / "split"
    cmd = [sys.executable, "-m", "ganforge", "train", "--nproc", "2", "--preset", "dcgan-tiny", "--kimg", "2",
           "--set", "train.tick_kimg=0.032", "--set", "train.progress=false", "--out", str(out)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
    t0 = time.time()
    while not list(out.glob("*/stats.jsonl")):
        assert p.poll() is None and time.time() - t0 < 120, p.communicate()
        time.sleep(0.05)
    os.kill(_worker_pid(out, 1), signal.SIGTERM)
    text, _ = p.communicate(timeout=120)
    assert p.returncode == 0, text[-3000:]  # a clean stop: torchrun neither kills a rank nor fails the job
    assert "Traceback" not in text and "interrupted at" in text and "writing a checkpoint" in text, text[-3000:]
    assert "interrupted; continue with: ganforge train --resume" in text
    run = next(d for d in out.iterdir() if d.is_dir())
    stopped = load_latest_checkpoint(run)[1]
    assert 0 < stopped["counters"]["cur_nimg"] < 2000 and len(stopped["rng_ranks"]) == 2

    whole = subprocess.run(cmd[:-1] + [str(tmp_path / "whole")], capture_output=True, text=True, env=_env(),
                           timeout=300)
    rest = subprocess.run(cmd + ["--resume", str(run)], capture_output=True, text=True, env=_env(), timeout=300)
    assert whole.returncode == 0 and rest.returncode == 0, (whole.stderr[-2000:], rest.stderr[-2000:])
    a, b = _nets(tmp_path / "whole"), load_latest_checkpoint(run)[1]
    assert a["counters"] == b["counters"] and a["counters"]["cur_nimg"] == 2000
    for net in a["nets"]:
        for k, v in a["nets"][net].items():
            assert torch.equal(v, b["nets"][net][k]), (net, k)


def test_a_normal_exit_tears_down_only_after_every_rank_left_the_last_barrier(monkeypatch):
    """shutdown(): barrier, then this rank's exit key in the store and a wait for every rank's key, then
    destroy; each exit uses fresh keys; a rank leaving on an error neither waits nor writes."""
    import datetime

    from ganforge import distributed as D

    calls = []

    class Store:
        def set(self, key, value):
            calls.append(("set", key))

        def wait(self, keys, timeout):
            assert isinstance(timeout, datetime.timedelta)
            calls.append(("wait", tuple(keys)))

    monkeypatch.setattr(D.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(D, "world", lambda: (1, 3))
    monkeypatch.setattr(D.dist, "barrier", lambda: calls.append(("barrier",)))
    monkeypatch.setattr(D.dist, "destroy_process_group", lambda: calls.append(("destroy",)))
    monkeypatch.setattr(D, "_EXITS", 0)
    for _ in range(2):
        monkeypatch.setattr(D, "_STORE", Store())
        D.shutdown()
    n = 1
    for k in (0, 4):
        assert calls[k:k + 4] == [("barrier",), ("set", f"exit{n}/1"), ("wait", (f"exit{n}/0", f"exit{n}/1", f"exit{n}/2")),
                                  ("destroy",)]
        n += 1
    assert D._STORE is None
    calls.clear()
    monkeypatch.setattr(D, "_STORE", Store())
    D.shutdown(wait_for_peers=False)
    assert calls == [("destroy",)]


def test_a_torchrun_worker_that_left_its_group_ends_without_the_interpreters_teardown(monkeypatch):
    """cli._entry: a worker that left its process group ends through os._exit with main's code (gloo's and
    the store client's teardown during finalization aborted now and then); anything else exits normally."""
    from ganforge import cli
    from ganforge import distributed as D

    class Ended(BaseException):
        pass

    ended = []

    def fake_exit(code):  # like os._exit, it does not return
        ended.append(("os._exit", code))
        raise Ended

    monkeypatch.setattr(cli, "main", lambda: 3)
    monkeypatch.setattr(cli.os, "_exit", fake_exit)
    monkeypatch.setattr(D, "launched", lambda: True)
    monkeypatch.setattr(D, "_LEFT", True)
    with pytest.raises(Ended):
        cli._entry()
    assert ended == [("os._exit", 3)]
    monkeypatch.setattr(D, "_LEFT", False)  # joined no group (or never left it): sys.exit as always
    with pytest.raises(SystemExit) as e:
        cli._entry()
    assert e.value.code == 3 and ended == [("os._exit", 3)]
