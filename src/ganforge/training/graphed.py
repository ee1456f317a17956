"""The whole training step without a host sync, and captured in a CUDA graph (``train.cuda_graph``).

Small GANs are launch-bound: a DCGAN step at 32 px is a few hundred kernels of a few microseconds
each, and the trainer's eager guard waits for the GPU twice per step (is this phase's loss finite?).
``SyncFreeStep`` is the same step (every phase and repeat, optimizer steps, weight clipping, EMA, the
loss sums), over the same phase implementation as the eager executor (``ganforge.training.step``),
driven so that nothing is read back to the host:

* **Non-finite guard on the device.** Each phase backs up what it may change (its network's
  parameters, its optimizer's state, every buffer of every network), steps, and then keeps the new
  values only where ``ok`` (loss and gradient norms finite, and every earlier phase of the step ok)
  is true: ``torch.where(ok, new, old)``. A bad phase therefore changes nothing, and the phases after
  it change nothing either, which is exactly what the eager guard does by stopping the step there.
  Batchnorm statistics (and the spectral-norm vectors) are buffers, so their bookkeeping is restored
  the same way, on the device.
* **EMA on the device**: the weight ``1 - beta`` of each step is written into a device scalar before
  the step (``beta`` depends on ``cur_nimg``, which the host knows) and multiplied by ``ok``.
* **Counters on the device**: loss sums and counts, bad steps, the current and the longest run of
  consecutive bad steps. The trainer reads them once per tick: it warns with the number of skipped
  steps and stops (``TrainingDiverged``) when the longest run reached ``train.max_bad_steps``, so
  divergence is noticed at the end of the tick rather than at the step.

On a CUDA device the step is captured once into a ``torch.cuda.CUDAGraph`` (after a few warm-up
steps, which are real steps run the same way) and replayed: one launch per step. The real batches are
copied into fixed input tensors before each replay; random draws (latents, WGAN-GP's weights) come
from the trainer's generator, registered with the graph so that every replay draws what the eager
step would. Elsewhere (and in the CPU tests) ``SyncFreeStep`` runs the same code eagerly.

Where a configuration changes the step from the host between steps, capture is not possible and
``unsupported_reason`` says why; the trainer then logs that reason and trains eagerly.
"""

from __future__ import annotations

from typing import Any

import torch

from ganforge.training.recipe import Phase
from ganforge.training.step import apply_update, forward_backward, trainable

WARMUP_STEPS = 3


class CaptureFailed(RuntimeError):
    """Capturing the step failed; the step's inputs are filled but nothing of it ran."""


def unsupported_reason(trainer: Any) -> str | None:
    """Why ``trainer``'s step cannot run sync-free / captured, or None when it can."""
    cfg = trainer.cfg
    if trainer.device.type != "cuda":
        return f"train.device is {trainer.device.type}, CUDA graphs need a CUDA device"
    if not getattr(trainer.recipe, "graphable", False):
        return f"recipe {cfg.recipe!r} changes its step from the host (only the classic family is captured)"
    return step_reason(trainer)


def step_reason(trainer: Any) -> str | None:
    """The device-independent part of ``unsupported_reason`` (what the step itself allows)."""
    cfg = trainer.cfg
    if trainer.world_size > 1:
        return "several processes (the gradient all-reduce is not captured)"
    aug = trainer.augment
    if aug is not None and aug.kind != "diffaugment":  # DiffAugment: fixed p, random draws only
        return "ADA (its probability is adjusted on the host, and its transforms skip work by host decisions)"
    if cfg.optim.lr_decay_start_kimg is not None:
        return "optim.lr_decay_start_kimg (the learning rate changes every step)"
    if cfg.train.mixed_precision:
        return "train.mixed_precision (autocast's cast cache)"
    if trainer.device.type in cfg.train.compile:
        return "train.compile (compiled graphs are captured by torch.compile's own cudagraphs mode)"
    if any(p.interval != 1 for p in trainer.phases):
        return "phases that run every N steps (lazy regularisation)"
    for opt in trainer.recipe.optimizers.values():
        if not isinstance(opt, (torch.optim.Adam, torch.optim.RMSprop)):
            return f"optimizer {type(opt).__name__} (Adam and RMSprop are captured)"
    return None


class SyncFreeStep:
    """One training step with no host sync; captured into a CUDA graph when ``capture`` is true."""

    def __init__(self, trainer: Any, capture: bool):
        self.t = trainer
        self.capture = capture
        dev = trainer.device
        self.ok_all = torch.ones((), dtype=torch.bool, device=dev)  # every phase of this step ok
        self.bad_steps = torch.zeros((), dtype=torch.int64, device=dev)
        self.consecutive = torch.zeros((), dtype=torch.int64, device=dev)
        self.longest = torch.zeros((), dtype=torch.int64, device=dev)  # longest run since the last tick
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, torch.Tensor] = {}
        self.ema_weight = {name: torch.zeros((), device=dev) for name in trainer.emas}
        # fixed real-batch inputs, one per phase repeat that takes reals (filled before each step)
        self.slots: list[Any] = []
        self.graph: Any = None
        self.steps_run = 0
        self._buffers = trainer.all_buffers()
        if capture:  # optimizer step counts live on the device, where a graph can increment them
            for opt in trainer.recipe.optimizers.values():
                for group in opt.param_groups:
                    group["capturable"] = True
                for p, state in opt.state.items():
                    if isinstance(state.get("step"), torch.Tensor):
                        state["step"] = state["step"].to(p.device)

    # -- the step body (eager, or the code a graph captures) --------------------------------------

    @staticmethod
    def _optimizer_state(phase: Phase, params: list[torch.Tensor]) -> list[torch.Tensor]:
        return [v for p in params for v in phase.optimizer.state.get(p, {}).values() if isinstance(v, torch.Tensor)]

    def _run_phase(self, phase: Phase, batch) -> None:
        params = trainable(phase)
        old_params = [p.detach().clone() for p in params]
        old_state = [v.clone() for v in self._optimizer_state(phase, params)]
        old_buffers = [b.clone() for b in self._buffers]
        # Gradients are zeroed, not dropped: a captured graph needs the same gradient tensors every replay.
        terms, finite = forward_backward(self.t, phase, batch, keep_grad_tensors=True)
        ok = self.ok_all & finite
        apply_update(phase)  # optimizer state exists from here on (the first call creates it)
        with torch.no_grad():
            state = self._optimizer_state(phase, params)
            if not old_state:  # created by this (first) step: a skipped first step leaves it at zero, which
                old_state = [torch.zeros_like(v) for v in state]  # steps on as an absent state would
            for new, old in zip(params + state + self._buffers, old_params + old_state + old_buffers):
                new.copy_(torch.where(ok, new, old))
            self.ok_all.copy_(ok)
            for k, v in terms.items():
                v = v.detach().float()
                if k not in self.sums:
                    self.sums[k] = torch.zeros((), device=v.device)
                    self.counts[k] = torch.zeros((), device=v.device)
                self.sums[k].add_(torch.where(ok, v, torch.zeros_like(v)))
                self.counts[k].add_(ok.float())

    def body(self) -> None:
        """The step's device work: what runs eagerly, or what a graph captures and replays."""
        t = self.t
        self.ok_all.fill_(True)
        slot = 0
        for phase in t.phases:
            for _ in range(phase.repeats):
                batch = self.slots[slot] if phase.needs_reals else None
                slot += phase.needs_reals
                self._run_phase(phase, batch)
        with torch.no_grad():
            ok = self.ok_all
            for name, ema in t.emas.items():
                w = self.ema_weight[name] * ok.float()
                torch._foreach_lerp_(ema._dst, ema._src, [w] * len(ema._dst))
                for dst, src in zip(ema._dst_buffers, ema._src_buffers):
                    dst.copy_(torch.where(ok, src, dst))
            bad = (~ok).long()
            self.bad_steps.add_(bad)
            self.consecutive.copy_((self.consecutive + bad) * bad)
            self.longest.copy_(torch.maximum(self.longest, self.consecutive))

    # -- driving it ------------------------------------------------------------------------------

    def fill_inputs(self) -> None:
        """Draw the step's real batches and copy them into the fixed input slots."""
        t = self.t
        batches = [t.next_batch() for p in t.phases if p.needs_reals for _ in range(p.repeats)]
        if not self.slots:
            from ganforge.training.recipe import Batch

            self.slots = [Batch(b.real_img.clone(), b.c.clone() if b.c is not None else None) for b in batches]
            return
        for slot, b in zip(self.slots, batches):
            slot.real_img.copy_(b.real_img, non_blocking=True)
            if b.c is not None:
                slot.c.copy_(b.c, non_blocking=True)

    def step(self) -> None:
        """One training step (the trainer advances ``cur_nimg`` and ``step`` afterwards)."""
        t = self.t
        t.recipe.begin_step(t.context())
        bs = t.cfg.train.batch_size
        from ganforge.training.ema import ema_beta

        for name, ema in t.emas.items():  # the weight of the step's EMA update, as the eager update computes it
            beta = ema_beta(bs, t.cur_nimg + bs, ema.halflife_kimg, ema.rampup)
            self.ema_weight[name].fill_(1.0 - beta)
        self.fill_inputs()
        if self.graph is not None:
            self.graph.replay()
        elif self.capture and self.steps_run >= WARMUP_STEPS:
            try:
                self._capture()
            except RuntimeError as e:  # an op that cannot be captured: nothing of this step has run
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise CaptureFailed(first) from e
            self.graph.replay()
        elif self.capture:  # warm-up on a side stream, as capture requires
            side = torch.cuda.Stream(t.device)
            side.wait_stream(torch.cuda.current_stream(t.device))
            with torch.cuda.stream(side):
                self.body()
            torch.cuda.current_stream(t.device).wait_stream(side)
        else:
            self.body()
        self.steps_run += 1

    def _capture(self) -> None:
        t = self.t
        graph = torch.cuda.CUDAGraph()
        if hasattr(graph, "register_generator_state"):
            graph.register_generator_state(t.rng)
        torch.cuda.synchronize(t.device)
        # "thread_local": only this thread is held to capture's rules. A streamed feed's pin-memory thread
        # allocates pinned host memory while it prefetches; under the default "global" mode that call
        # would break the capture and fail the loader. Its work is not on the captured stream either way.
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self.body()
        self.graph = graph

    def read_tick(self, acc: dict[str, Any]) -> tuple[int, int]:
        """Move this tick's loss sums into ``acc`` (as the eager step accumulates them) and return (bad
        steps, longest run of consecutive bad steps) since the last call; resets the tick's counters."""
        for k, s in self.sums.items():
            n = int(round(float(self.counts[k])))
            if n:
                acc[k] = s.clone()
                acc["#" + k] = n
            s.zero_()
            self.counts[k].zero_()
        bad, longest = int(self.bad_steps), int(self.longest)
        self.bad_steps.zero_()
        self.longest.copy_(self.consecutive)  # a run that goes on into the next tick is still counted
        return bad, longest
