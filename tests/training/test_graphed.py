"""The sync-free step behind train.cuda_graph, run eagerly on the CPU (the capture itself: tests/gpu)."""

from __future__ import annotations

import json

import pytest
import torch
from helpers.training import DIFFAUGMENT, quiet_trainer
from torch.utils._python_dispatch import TorchDispatchMode

from ganforge.presets import get_preset
from ganforge.training import graphed
from ganforge.training.trainer import Trainer, TrainingDiverged


def _state(t: Trainer) -> dict[str, torch.Tensor]:
    out = {}
    for k, net in t.recipe.nets.items():
        out.update({f"{k}/{n}": v for n, v in net.state_dict().items()})
    for k, e in t.emas.items():
        out.update({f"{k}/{n}": v for n, v in e.ema_net.state_dict().items()})
    for k, opt in t.recipe.optimizers.items():
        for i, st in enumerate(opt.state.values()):
            out.update({f"opt{k}/{i}/{n}": torch.as_tensor(v) for n, v in st.items()})
    return out


def _assert_same(a: dict, b: dict, exact: bool = True):
    assert a.keys() == b.keys()
    for k in a:
        if exact or not a[k].dtype.is_floating_point:
            assert torch.equal(a[k], b[k]), k
        else:
            assert torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6), k


def _run_eager(t: Trainer, steps: int) -> dict:
    acc: dict = {}
    for _ in range(steps):
        t.train_step(acc)
    return acc


def _run_sync_free(t: Trainer, steps: int) -> dict:
    acc: dict = {}
    t.graphed = t.sync_free_step(capture=False)
    for _ in range(steps):
        t.graphed_step(acc)
    t.read_graphed_tick(acc)
    return acc


@pytest.mark.parametrize("preset,over", [(n, {}) for n in ["dcgan-tiny", "wgangp-tiny", "wgan-tiny", "sngan-tiny",
                                                           "dcgan-cond-tiny"]] + [("dcgan-tiny", DIFFAUGMENT)])
def test_sync_free_step_trains_what_the_eager_step_trains(tmp_path, tiny_dataset, preset, over):
    a, b = quiet_trainer(tmp_path / "a", preset, tiny_dataset, **over), quiet_trainer(tmp_path / "b", preset, tiny_dataset, **over)
    acc_a, acc_b = _run_eager(a, 6), _run_sync_free(b, 6)
    assert (a.step, a.cur_nimg, a.bad_steps_total) == (b.step, b.cur_nimg, b.bad_steps_total) == (6, 48, 0)
    _assert_same(_state(a), _state(b))  # weights, EMA, batchnorm statistics, optimizer states: bit for bit
    assert acc_a.keys() == acc_b.keys()
    for k, v in acc_a.items():
        assert float(v) == pytest.approx(float(acc_b[k]), rel=1e-5), k  # the tick's loss means


def _poison(t: Trainer, phase: str, at_steps: set[int]):
    """Make ``phase``'s loss NaN at the given steps (0-based)."""
    p = next(p for p in t.phases if p.name == phase)
    loss = p.loss

    def poisoned(batch):
        total, terms = loss(batch)
        if t.step in at_steps:
            total = total * float("nan")
            terms = {**terms, f"{phase}/adv": terms[f"{phase}/adv"] * float("nan")}
        return total, terms

    p.loss = poisoned


@pytest.mark.parametrize("phase", ["D", "G"])
def test_a_non_finite_phase_changes_nothing_as_in_the_eager_guard(tmp_path, tiny_dataset, phase):
    bad = {0, 3}  # the first step (no optimizer state yet) and a later one
    a, b = quiet_trainer(tmp_path / "a", "dcgan-tiny", tiny_dataset), quiet_trainer(tmp_path / "b", "dcgan-tiny", tiny_dataset)
    _poison(a, phase, bad)
    _poison(b, phase, bad)
    _run_eager(a, 6)
    _run_sync_free(b, 6)
    assert a.bad_steps_total == b.bad_steps_total == 2
    _assert_same(_state(a), _state(b))


def test_a_bad_step_leaves_every_tensor_as_it_was(tmp_path, tiny_dataset):
    t = quiet_trainer(tmp_path, "dcgan-tiny", tiny_dataset)
    t.graphed = t.sync_free_step(capture=False)
    t.graphed_step({})  # optimizer state exists now
    before = {k: v.clone() for k, v in _state(t).items()}
    _poison(t, "D", {1})
    t.graphed_step({})
    after = _state(t)
    for k, v in before.items():
        if "num_batches_tracked" in k:
            continue
        assert torch.equal(v, after[k]), k
    assert int(t.graphed.bad_steps) == 1 and int(t.graphed.consecutive) == 1


def test_divergence_is_reported_at_the_end_of_the_tick(tmp_path, tiny_dataset, monkeypatch):
    monkeypatch.setattr(graphed, "unsupported_reason", graphed.step_reason)  # run the graphed loop on the CPU

    class Eager(graphed.SyncFreeStep):
        def __init__(self, trainer, capture):
            super().__init__(trainer, capture=False)

    monkeypatch.setattr(graphed, "SyncFreeStep", Eager)
    t = quiet_trainer(tmp_path, "dcgan-tiny", tiny_dataset, **{"train.cuda_graph": True, "train.max_bad_steps": 3,
                                                          "train.tick_kimg": 0.032, "train.total_kimg": 0.2})
    _poison(t, "G", set(range(2, 100)))  # ticks of 4 steps: 2 bad in the first, all 4 in the second
    with pytest.raises(TrainingDiverged, match=r"6 consecutive non-finite steps before step 8 "):
        t.train()
    assert t.bad_steps_total == 6 and t.step == 8  # noticed at the end of the tick in which the run reached 3
    rows = [json.loads(x) for x in (tmp_path / "stats.jsonl").read_text().splitlines()]
    ticks = [r for r in rows if "bad_steps" in r]
    warnings = [r["warning"] for r in rows if "warning" in r]
    assert len(ticks) == 1 and ticks[0]["bad_steps"] == 2 and "G/adv" in ticks[0]  # means over the good phases
    assert warnings[0].startswith("2 non-finite steps skipped in this tick")


def test_unsupported_configurations_train_eagerly_and_say_why(tmp_path, tiny_dataset, capsys):
    t = quiet_trainer(tmp_path / "cpu", "dcgan-tiny", tiny_dataset, **{"train.cuda_graph": True, "train.total_kimg": 0.016})
    t.train()
    assert "train.cuda_graph: training eagerly: train.device is cpu" in capsys.readouterr().err
    assert t.graphed is None and t.step == 2
    cases = {
        "dcgan-tiny": ({"augment.kind": "ada"}, "ADA"),
        "wgangp-tiny": ({"optim.lr_decay_start_kimg": 0.01}, "lr_decay_start_kimg"),
        "sngan-tiny": ({"train.mixed_precision": True}, "mixed_precision"),
        "stylegan2-tiny": ({}, "every N steps"),
    }
    for preset, (over, needle) in cases.items():
        t = quiet_trainer(tmp_path / preset, preset, tiny_dataset, **over)
        assert needle in graphed.step_reason(t), preset
    t = quiet_trainer(tmp_path / "sg2", "stylegan2-tiny", tiny_dataset)
    assert "changes its step from the host" in graphed.unsupported_reason(
        type("T", (), {"cfg": t.cfg, "device": torch.device("cuda"), "recipe": t.recipe})())


def test_a_bad_step_draws_what_a_good_step_draws(tmp_path, tiny_dataset):
    """Eager guard: the phases after a non-finite one still take their batches and random draws (and
    change nothing), so later steps see the same data and latents as if the step had been good."""
    good = quiet_trainer(tmp_path / "good", "wgangp-tiny", tiny_dataset)  # 5 D repeats with reals, then G
    bad = quiet_trainer(tmp_path / "bad", "wgangp-tiny", tiny_dataset)
    _poison(bad, "D", {1})
    _run_eager(good, 3)
    _run_eager(bad, 3)
    assert bad.bad_steps_total == 1 and good.bad_steps_total == 0
    assert bad.feed.state_dict() == good.feed.state_dict()
    assert torch.equal(bad.rng.get_state(), good.rng.get_state())


# -- what a CUDA graph needs of the step, checked on the CPU ------------------------------------------
#
# A captured graph replays the kernels the step launched while it was captured, and nothing else. Two
# things therefore break it where a CPU test of the results cannot see: reading a value back to the host
# (``.item()``, ``bool(t)``, an output whose shape depends on values: capture fails, or worse, a branch is
# taken once for all replays), and Python-side state that the step changes (a counter in a loss: it would
# advance once, at capture, and never again). Every graphable preset's step body is run here under a
# dispatch mode that refuses the first kind, and the Python attributes of the recipe and the trainer are
# compared before and after it for the second.

# aten ops (leading underscores stripped) that read a value back, or size their output by values
_HOST_READS = {"local_scalar_dense", "nonzero", "masked_select", "unique", "unique2", "equal", "is_nonzero",
               "allclose", "repeat_interleave"}


class _NoHostReads(TorchDispatchMode):
    """Raise on any op that reads a device value back to the host (or makes a value-dependent shape).
    ``paused`` skips ops inside the optimizer's step: on the CPU torch's Adam reads its step count
    (``capturable=False``); on CUDA the trainer sets ``capturable=True`` and that read is not made."""

    def __init__(self):
        super().__init__()
        self.paused = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if not self.paused and name.strip("_") in _HOST_READS:
            raise AssertionError(f"the step reads a value back to the host: aten.{name}")
        return func(*args, **(kwargs or {}))


def _python_state(obj, depth: int = 2) -> dict:
    """The plain Python values reachable from ``obj``'s attributes (numbers, strings, containers of
    them), a few levels deep: what a step must not change if it is to be replayed."""
    out = {}
    for k, v in vars(obj).items():
        if isinstance(v, (bool, int, float, str, type(None))):
            out[k] = v
        elif isinstance(v, (tuple, list)) and all(isinstance(x, (bool, int, float, str)) for x in v):
            out[k] = tuple(v)
        elif depth and hasattr(v, "__dict__") and not isinstance(v, (torch.Tensor, torch.nn.Module, type)) \
                and not callable(v):
            out[k] = _python_state(v, depth - 1)
    return out


def _graphable_tiny_presets() -> list[str]:
    from ganforge.presets import PRESETS
    from ganforge.registry import RECIPES

    names = [n for n in PRESETS.names() if n.endswith("-tiny") and RECIPES.get(get_preset(n).recipe).graphable]
    assert len(names) >= 8, names  # the classic family: dcgan, cond, r1, wgan, wgangp, lsgan, sngan, sagan, biggan
    return names


@pytest.mark.parametrize("preset,over", [(n, {}) for n in _graphable_tiny_presets()] + [("sngan-tiny", DIFFAUGMENT)])
def test_every_graphable_step_is_free_of_host_reads_and_python_state(tmp_path, tiny_dataset, preset, over):
    t = quiet_trainer(tmp_path, preset, tiny_dataset, **over)
    assert graphed.step_reason(t) is None, (preset, graphed.step_reason(t))
    step = graphed.SyncFreeStep(t, capture=False)
    for _ in range(2):  # what the trainer's warm-up does: optimizer states exist from the first step on
        step.step()
    step.fill_inputs()
    mode = _NoHostReads()
    for opt in t.recipe.optimizers.values():
        real = opt.step

        def paused(*a, _real=real, **k):
            mode.paused = True
            try:
                return _real(*a, **k)
            finally:
                mode.paused = False

        opt.step = paused
    before = (_python_state(t.recipe), _python_state(t), _python_state(step))
    with mode:
        step.body()
    assert (_python_state(t.recipe), _python_state(t), _python_state(step)) == before
    assert not mode.paused


def test_the_host_read_check_catches_a_read_and_a_python_counter(tmp_path, tiny_dataset):
    """The check above is not vacuous: a loss that calls .item(), or counts its calls, fails it."""
    t = quiet_trainer(tmp_path, "dcgan-tiny", tiny_dataset)
    step = graphed.SyncFreeStep(t, capture=False)
    step.step()
    step.fill_inputs()
    d = next(p for p in t.phases if p.name == "D")
    loss = d.loss

    def reads(batch):
        total, terms = loss(batch)
        if total.item() > 1e9:  # a host branch on a device value
            total = total * 0
        return total, terms

    d.loss = reads
    with pytest.raises(AssertionError, match="_local_scalar_dense"), _NoHostReads():
        step.body()
    t.recipe.calls = 0

    def counts(batch):
        t.recipe.calls += 1
        return loss(batch)

    d.loss = counts
    before = _python_state(t.recipe)
    step.body()
    assert _python_state(t.recipe) != before
