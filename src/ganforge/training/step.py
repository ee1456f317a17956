"""One training step: a single phase implementation and the eager executor that runs it.

A step runs the recipe's phases in order (each due phase, ``repeats`` times). What one phase does is
written once, in ``forward_backward`` and ``apply_update``: take the loss under autocast, backpropagate,
average gradients over the ranks, measure whether loss and gradients are finite, step the optimizer. Two
executors run it and differ only in how they guard against a non-finite phase:

- ``EagerStep`` (here) asks the host after each phase: a bad phase is undone (gradients dropped,
  buffers restored) and the phases after it only make their random draws, so a bad step changes
  nothing but what it would have drawn.
- ``ganforge.training.graphed.SyncFreeStep`` never asks the host: every phase runs and keeps its update
  only where the device-side flag says the step is still good, so the step can be captured in a CUDA
  graph. Both give the same result (tests/training/test_graphed.py).

The executors reach the trainer through ``StepEnv``: its batches, its buffers and its settings.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import torch
from torch import nn

from ganforge.training.batch import Batch
from ganforge.training.recipe import Phase


class StepEnv(Protocol):
    """What an executor needs from the trainer."""

    device: torch.device
    world_size: int
    phases: list[Phase]
    mixed_precision: bool

    def next_batch(self) -> Batch: ...

    def all_buffers(self) -> list[torch.Tensor]: ...

    def reduce_gradients(self, module: nn.Module) -> None: ...


def trainable(phase: Phase) -> list[torch.Tensor]:
    """The parameters ``phase`` updates."""
    return [p for p in phase.module.parameters() if p.requires_grad]


def forward_backward(env: StepEnv, phase: Phase, batch: Batch | None, *, keep_grad_tensors: bool = False
                     ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The phase's loss and gradients: returns (its loss terms, a device bool that loss and gradients
    are finite). ``keep_grad_tensors`` zeroes gradients in place instead of dropping them (a captured
    graph needs the same gradient tensors every replay); both give the same gradients."""
    params = trainable(phase)
    if keep_grad_tensors:
        for p in params:
            if p.grad is not None:
                p.grad.zero_()
    else:
        phase.optimizer.zero_grad(set_to_none=True)
    with torch.autocast(env.device.type, dtype=torch.bfloat16, enabled=env.mixed_precision):
        loss, terms = phase.loss(batch)
    loss = loss.float()
    loss.backward()
    env.reduce_gradients(phase.module)
    grads = [p.grad for p in params if p.grad is not None]
    check = loss.detach()
    if grads:
        check = check + torch.stack(torch._foreach_norm(grads)).sum()
    return terms, torch.isfinite(check)


def apply_update(phase: Phase) -> None:
    """The phase's optimizer step and what follows it (e.g. WGAN's weight clipping)."""
    phase.optimizer.step()
    if phase.after_step is not None:
        phase.after_step()


def due_phases(phases: list[Phase], step: int) -> list[Phase]:
    """Each phase due at ``step`` once per repeat, in order (lazy regularisation: every ``interval`` steps)."""
    return [p for p in phases if step % p.interval == 0 for _ in range(p.repeats)]


class EagerStep:
    """Runs a step's phases with the host-side non-finite guard.

    ``observe``: called with each good phase's loss terms (the trainer feeds ADA's statistic from it).
    After a bad step, ``bad_term`` names the loss term (or gradients) that was not finite.
    """

    def __init__(self, env: StepEnv, observe: Callable[[dict[str, torch.Tensor]], None] | None = None):
        self.env = env
        self.observe = observe
        self.bad_term = ""

    def run(self, step: int, acc: dict[str, Any]) -> bool:
        """Every phase due at ``step``; loss terms summed into ``acc``. False if the step was skipped."""
        ok = True
        for phase in due_phases(self.env.phases, step):
            if ok:
                ok = self._run_phase(phase, acc)
            else:  # the rest of a bad step changes nothing but draws what it would have drawn
                self._draw_only(phase)
        return ok

    def _run_phase(self, phase: Phase, acc: dict[str, Any]) -> bool:
        """One optimizer step of ``phase``. Returns False (and changes nothing) if it was non-finite."""
        env = self.env
        batch = env.next_batch() if phase.needs_reals else None
        buffers = env.all_buffers()
        saved = [b.clone() for b in buffers]
        terms, finite_t = forward_backward(env, phase, batch)
        finite = bool(finite_t)
        if env.world_size > 1:  # every rank skips a step together (a rank's loss alone may be non-finite)
            from ganforge.distributed import all_ok

            finite = all_ok(finite, env.device)
        if not finite:
            phase.optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                for b, s in zip(buffers, saved):
                    b.copy_(s)  # forward passes may have put NaN into batchnorm statistics
            self.bad_term = next((k for k, v in terms.items() if not bool(torch.isfinite(v).all())),
                                 f"{phase.name} gradients")
            return False
        apply_update(phase)
        for k, v in terms.items():
            acc[k] = acc.get(k, 0) + v.detach().float()
            acc["#" + k] = acc.get("#" + k, 0) + 1
        if self.observe is not None:
            self.observe(terms)
        return True

    def _draw_only(self, phase: Phase) -> None:
        """Take the real batch and compute the loss of ``phase`` (so its random draws are made), then put
        every buffer back: the phases after a non-finite one in a step change nothing, but the data
        position and the random streams advance as in a good step. So a bad step does not shift what
        later steps see, and the sync-free step, which runs every phase and discards, stays equal to this."""
        env = self.env
        batch = env.next_batch() if phase.needs_reals else None
        buffers = env.all_buffers()
        saved = [b.clone() for b in buffers]
        with torch.autocast(env.device.type, dtype=torch.bfloat16, enabled=env.mixed_precision):
            phase.loss(batch)
        with torch.no_grad():
            for b, s in zip(buffers, saved):
                b.copy_(s)
