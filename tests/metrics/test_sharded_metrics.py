"""Metrics computed by several processes together (``compute(..., distributed=True)``): each process
generates and embeds its share of the batches, and the records equal one process's, bit for bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.metrics.generation import generated_batches
from ganforge.presets import get_preset
from ganforge.families.stylegan2.recipe import build_generator

WORKER = str(Path(__file__).with_name("sharded_worker.py"))
SRC = str(Path(ganforge.__file__).resolve().parents[1])


def _noisy_generator():
    torch.manual_seed(0)
    G = build_generator(get_preset("stylegan2-tiny").model, 16, 1, 0).eval()
    with torch.no_grad():  # StyleGAN2 starts its noise strengths at 0: make the noise show
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.5)
    return G


def test_a_generated_batch_does_not_depend_on_order_or_the_global_rng():
    G = _noisy_generator()
    batches = generated_batches(G, 10, batch_size=4, seed=7)
    assert len(batches) == 3
    forward = [b() for b in batches]
    torch.manual_seed(12345)  # whatever ran before
    backward = [b() for b in reversed(batches)][::-1]
    for a, b in zip(forward, backward):
        assert torch.equal(a, b)
    assert [len(b) for b in forward] == [4, 4, 2]
    # the generator's noise inputs are random, seeded per batch: another seed moves the images
    other = generated_batches(G, 10, batch_size=4, seed=8)[0]()
    assert not torch.equal(other, forward[0])
    state = torch.get_rng_state()
    batches[1]()
    assert torch.equal(torch.get_rng_state(), state)  # the caller's stream is left where it was


def _start(cmd: list[str], **env: str) -> subprocess.Popen:
    full = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), **env)
    full.pop("WORLD_SIZE", None)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full)


@pytest.mark.distributed
def test_two_processes_compute_the_metrics_one_process_computes(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for d in (one, two, tmp_path / "cache1", tmp_path / "cache2"):
        d.mkdir()
    # torchrun gives each process one thread; the single process gets one too, so that every
    # convolution sums in the same order and the comparison can be exact
    jobs = [_start([sys.executable, WORKER, str(one), str(tmp_path / "cache1")], OMP_NUM_THREADS="1"),
            _start([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", WORKER, str(two),
                    str(tmp_path / "cache2"), "--distributed"])]
    for job in jobs:  # side by side: three one-thread processes
        _, err = job.communicate(timeout=600)
        assert job.returncode == 0, err[-4000:]
    single = json.loads((one / "rank0.json").read_text())
    rank0, rank1 = (json.loads((two / f"rank{r}.json").read_text()) for r in (0, 1))
    batches = [r.pop("generator_batches") for r in (single, rank0, rank1)]
    assert batches[1] + batches[2] == batches[0] and abs(batches[1] - batches[2]) <= 7  # the work was shared
    single, rank0, rank1 = single["records"], rank0["records"], rank1["records"]
    assert [r["metric"] for r in single] == ["fid1k", "kid1k", "pr1k3", "is1k", "ppl1k_z", "swd1k", "ifid1k",
                                             "fid1k", "pr1k3", "swd1k", "fid1k/AtoB", "pair_l1/AtoB", "pair_ssim/AtoB"]
    assert rank0 == rank1 == single  # every value, count and detail, exactly
    # the reference features were extracted in shares too, and one process wrote each cache entry
    from safetensors.numpy import load_file

    names = sorted(p.name for p in (tmp_path / "cache1").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "cache2").iterdir()) and len(names) >= 5
    for name in names:
        a, b = load_file(str(tmp_path / "cache1" / name)), load_file(str(tmp_path / "cache2" / name))
        assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def _two_ranks(monkeypatch, rank1):
    """This process as rank 0 of 2; ``rank1(obj)`` says what the other rank contributes to each gather."""
    from ganforge import distributed

    monkeypatch.setattr(distributed, "world", lambda: (0, 2))
    monkeypatch.setattr(distributed, "all_gather_object", lambda obj: [obj, rank1(obj)])


def test_shares_are_gathered_round_by_round_in_batch_order(monkeypatch):
    from ganforge.metrics.shard import Shard

    rounds = []

    def rank1(mine):
        rounds.append(mine)
        i = 2 * (len(rounds) - 1) + 1  # the batch rank 1 computes in this round
        return ("ok", i * 10) if i < 5 else ("none", None)

    _two_ranks(monkeypatch, rank1)
    assert Shard(True).map(5, lambda i: i * 10) == [0, 10, 20, 30, 40]
    assert rounds == [("ok", 0), ("ok", 20), ("ok", 40)]  # one batch of each rank per collective


def test_a_batch_that_fails_on_another_rank_fails_it_here_too(monkeypatch):
    from ganforge.errors import GanforgeError
    from ganforge.metrics.shard import Shard

    _two_ranks(monkeypatch, lambda mine: ("error", "RuntimeError: CUDA out of memory"))
    with pytest.raises(GanforgeError, match="a metric batch failed on rank 1 of 2: RuntimeError: CUDA out of memory"):
        Shard(True).map(4, lambda i: i)
    _two_ranks(monkeypatch, lambda mine: ("ok", 1))
    with pytest.raises(GanforgeError, match="on rank 0 of 2: ValueError: bad batch 0"):
        Shard(True).map(4, lambda i: (_ for _ in ()).throw(ValueError(f"bad batch {i}")))
