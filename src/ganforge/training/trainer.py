"""The generic training loop.

The trainer runs the phases a recipe supplies (see ``ganforge.training.recipe.Phase``); it never asks
which model it is training. It owns the loop and the state that is the same for every family: data on
the device, the resumable sampler, RNG, gradient reduction, EMA, ticks, the learning-rate schedule,
interrupts. A step is run by an executor (``ganforge.training.step.EagerStep`` or, with
``train.cuda_graph``, ``ganforge.training.graphed.SyncFreeStep``) over the one phase implementation in
``ganforge.training.step``; what the run leaves on disk is written by ``ganforge.training.recorder``.

Progress is counted in images shown to G: one step = one pass over the phases = ``batch_size``
images. Every schedule is a function of ``cur_nimg``, so a resumed run continues exactly.
"""

from __future__ import annotations

import copy
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from ganforge.config import Experiment, diff, from_dict
from ganforge.data import load_dataset
from ganforge.devices import resolve_device
from ganforge.errors import GanforgeError
from ganforge.registry import RECIPES
from ganforge.signals import Interrupts
from ganforge.training import checkpoint as ckpt
from ganforge.training import state as train_state
from ganforge.training.ema import EMA, recalibrate_batchnorm
from ganforge.training.feed import make_feed
from ganforge.training.recipe import (
    Batch,
    DatasetInfo,
    Phase,
    Recipe,
    RunContext,
    StepContext,
)
from ganforge.training.recorder import RunRecorder
from ganforge.training.step import EagerStep
from ganforge.training.trackers import one_line

# Config sections whose change makes a checkpoint incompatible (network shapes / data interface).
ARCH_KEYS_PREFIXES = ("model.", "data.name", "data.resolution", "data.channels", "data.use_labels", "data.pairing",
                      "recipe")


class TrainingDiverged(GanforgeError):
    """Training stopped after too many consecutive non-finite steps."""

    exit_code = 3


@dataclass
class TrainResult:
    run_dir: Path
    cur_nimg: int
    steps: int
    bad_steps: int
    stats: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False
    # An interrupted run stopped between steps and wrote its checkpoint (False: stopped at once, mid-step).
    checkpointed: bool = False


def _dist_info() -> tuple[int, int]:
    from ganforge.distributed import world

    return world()


def new_run_dir(out_root: Path, desc: str) -> Path:
    """A fresh numbered run directory ``out_root/NNNNN-desc`` (never an existing one)."""
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    ids = [int(p.name.split("-", 1)[0]) for p in out_root.iterdir()
           if p.is_dir() and p.name.split("-", 1)[0].isdigit()]
    i = max(ids, default=-1) + 1
    while True:
        run_dir = out_root / f"{i:05d}-{desc}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            i += 1


def find_resumable_run(out_root: Path, preset: str | None) -> Path | None:
    """Newest run directory under ``out_root`` with a checkpoint (and the given preset, if any)."""
    out_root = Path(out_root)
    if not out_root.is_dir():
        return None
    runs = sorted((p for p in out_root.iterdir() if p.is_dir() and ckpt.list_checkpoints(p)),
                  key=lambda p: p.name, reverse=True)
    for run in runs:
        if preset is None:
            return run
        try:
            saved = json.loads((run / "config.json").read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if saved.get("preset") == preset:
            return run
    return None


def check_resume_compatible(saved: Experiment, requested: Experiment) -> None:
    """Stop with the config difference if the requested config changes network shapes or data."""
    d = diff(saved, requested)
    bad = {k: v for k, v in d.items() if k.startswith(ARCH_KEYS_PREFIXES)}
    if bad:
        lines = "\n".join(f"  {k}: checkpoint has {a!r}, requested {b!r}" for k, (a, b) in bad.items())
        raise GanforgeError("cannot resume: the requested config differs from the checkpoint's in "
                            "architecture or data:\n" + lines +
                            "\nstart a new run (omit --resume) or drop those overrides")


class Trainer:
    """Trains one experiment in one run directory.

    Args:
        cfg: the resolved experiment.
        run_dir: the run directory (created by the caller; see ``ganforge.api.train``).
        resume_state: a loaded checkpoint to continue from, or None for a fresh start.
        dataset: an already loaded dataset (else loaded from ``cfg.data``).
        data_from_config: whether ``dataset`` is what ``cfg.data`` names (default: when it is loaded
            here); a recipe may then load other splits of it (translation: the test split).
    """

    def __init__(self, cfg: Experiment, run_dir: Path, resume_state: dict[str, Any] | None = None,
                 dataset=None, data_from_config: bool | None = None):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.rank, self.world_size = _dist_info()
        self.is_main = self.rank == 0
        tc = cfg.train
        if tc.batch_size % self.world_size != 0:
            raise GanforgeError(f"train.batch_size={tc.batch_size} is not divisible by the "
                                f"{self.world_size} processes")
        from ganforge.distributed import local_cuda_device

        self.device = (self.world_size > 1 and local_cuda_device(tc.device)) or resolve_device(tc.device, "train.device")
        torch.manual_seed(tc.seed)  # alike on every rank: the networks start equal
        random.seed(tc.seed)

        self.dataset = dataset if dataset is not None else load_dataset(cfg.data)
        ds = self.dataset
        if cfg.metrics.names and cfg.metrics.protocol is not None:  # before training, not at the first metric
            from ganforge.metrics.extractors import (
                check_protocol,
                default_extractor_name,
            )

            name = cfg.metrics.extractor or default_extractor_name(int(ds.images_u8.shape[1]),
                                                                   int(ds.images_u8.shape[-1]))
            check_protocol(name, cfg.metrics.protocol, "metrics.protocol")
        self.feed = make_feed(ds, cfg, self.device, self.rank, self.world_size)

        # One generator owns every random draw of training (latents, penalties' interpolation); seeded
        # alike on every rank, which takes its slice of each global draw (Recipe.sample_z).
        self.rng = torch.Generator(device=self.device)
        self.rng.manual_seed(tc.seed)
        self.augment = None
        if cfg.augment.kind is not None:  # D's view of every image, for every family (ganforge.augment)
            from ganforge.augment import Augment

            self.augment = Augment(cfg.augment, self.rng)
        run = RunContext(self.device, self.rng, self.rank, self.world_size, tc.batch_size // self.world_size,
                         self.augment)
        self.recipe: Recipe = RECIPES.get(cfg.recipe)(cfg, DatasetInfo.of(ds, cfg), run)
        if self.world_size > 1:
            # Draws inside the networks (noise inputs, dropout) differ per rank, like their images.
            torch.manual_seed(tc.seed + 1_000_003 * self.rank)
            random.seed(tc.seed + 1_000_003 * self.rank)
            with torch.no_grad():  # the same start everywhere, whatever a family's init did
                for net in self.recipe.nets.values():
                    for t in list(net.parameters()) + list(net.buffers()):
                        dist.broadcast(t, src=0)
        self.recipe.attach_data(ds, from_config=dataset is None if data_from_config is None else data_from_config)
        self.emas = {name: EMA(self.recipe.nets[src], tc.ema_halflife_kimg, tc.ema_rampup)
                     for name, src in self.recipe.ema_sources.items()}
        if self.device.type in tc.compile:
            for name, net in self.recipe.nets.items():
                self.recipe.fwd[name] = torch.compile(net)
        self.phases: list[Phase] = self.recipe.phases()
        for opt in self.recipe.optimizers.values():  # the learning-rate schedule scales these (optim.lr_decay_start_kimg)
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])

        self.mixed_precision = tc.mixed_precision
        self.eager = EagerStep(self, observe=self._observe)
        self.graphed = None  # the captured step (train.cuda_graph), set up by train()
        self._pending: list[Batch] = []
        self.cur_nimg = 0
        self.step = 0
        self.bad_steps_total = 0
        self.consecutive_bad = 0
        self.resumed = resume_state is not None
        self._end_message: str | None = None  # the status.json message of how training ended
        self._data_warning: str | None = None
        if resume_state is not None:
            self._data_warning = train_state.restore(self, resume_state)
        self.recipe.begin_step(self.context())

        self.grid_inputs = self.recipe.grid_inputs(tc.grid_size, tc.seed + 7)
        try:  # opens the tracker (train.tracker): a tracker that cannot start stops the run here
            self.recorder = RunRecorder(self.run_dir, cfg, ds, is_main=self.is_main)
        except BaseException:
            self.feed.close()
            raise
        self.stats = self.recorder.stats
        if getattr(self.feed, "workers", None) is not None:
            self.stats.info(f"{ds.name}: {len(ds)} images streamed from disk by {self.feed.workers} worker "
                            f"processes (data.stream={cfg.data.stream}, data.device_cache_max_bytes="
                            f"{cfg.data.device_cache_max_bytes})")

    # ------------------------------------------------------------------------------------------
    # State.

    @property
    def last_checkpoint(self) -> Path | None:
        return self.recorder.last_checkpoint

    def all_buffers(self) -> list[torch.Tensor]:
        """Every floating-point and int64 buffer of every network: what a skipped phase puts back."""
        return [b for net in self.recipe.nets.values() for b in net.buffers()
                if b.dtype.is_floating_point or b.dtype == torch.int64]

    def state_dict(self, ranks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The whole training state (``ganforge.training.state.capture``)."""
        return train_state.capture(self, ranks)

    def save_checkpoint(self) -> Path | None:
        ranks = None
        if self.world_size > 1:  # every rank takes part: rank 0 stores each one's random states
            from ganforge.distributed import all_gather_object

            ranks = all_gather_object(train_state.rank_state(self))
        if not self.is_main:
            return None
        return self.recorder.save_checkpoint(self.state_dict(ranks), self.cur_nimg)

    # ------------------------------------------------------------------------------------------
    # Sampling and exports.

    def _sample_source(self) -> torch.nn.Module:
        if self.emas:
            return next(iter(self.emas.values())).ema_net
        return self.recipe.nets[self.recipe.generator]

    def snapshot_generator(self) -> torch.nn.Module:
        """A copy of the generator used for samples, exports and metrics (EMA if enabled), with its
        batchnorm statistics re-estimated, in eval mode. Training state is not touched."""
        net = copy.deepcopy(self._sample_source())
        g = torch.Generator(device=self.device).manual_seed(self.cfg.train.seed + 99)
        n = min(self.recipe.local_batch_size, 256)
        with self._rng_fork():
            return recalibrate_batchnorm(net, self.recipe.snapshot_inputs(net, n, g))

    def _rng_fork(self):
        """A context in which sampling for grids, batchnorm recalibration and metrics draws from a
        copy of torch's global RNG state: generators with random inputs inside the forward pass
        (StyleGAN's noise) would otherwise advance the training stream, and a resumed run would
        depend on where the ticks of the interrupted one fell."""
        devices = []
        if self.device.type == "cuda":
            devices = [self.device.index if self.device.index is not None else torch.cuda.current_device()]
        return torch.random.fork_rng(devices=devices)

    @torch.no_grad()
    def write_samples(self, net: torch.nn.Module | None = None) -> Path | None:
        """The tick's grid of ``net`` (default: a fresh snapshot) on the run's fixed inputs."""
        if not self.is_main:
            return None
        net = net or self.snapshot_generator()
        with self._rng_fork():
            imgs, cols = self.recipe.render_grid(net, self.grid_inputs)
        return self.recorder.write_samples(imgs, cols, self.cur_nimg)

    def export_meta(self) -> dict[str, Any]:
        return self.recorder.export_meta(self.recipe, self._sample_source(), self.cur_nimg, bool(self.emas))

    def export(self, net: torch.nn.Module | None = None) -> Path | None:
        if not self.is_main:
            return None
        return self.recorder.export(net or self.snapshot_generator(), self.export_meta(), self.cur_nimg)

    # ------------------------------------------------------------------------------------------
    # The step.

    def next_batch(self) -> Batch:
        """The next global batch (this rank's share of it) from the feed."""
        if self._pending:  # batches drawn for a step the CUDA graph could not run (see graphed_step)
            return self._pending.pop(0)
        return self.feed.next(self.cfg.train.batch_size)

    def reduce_gradients(self, module: torch.nn.Module) -> None:
        """Average ``module``'s gradients over the ranks (one all-reduce of them all, flattened)."""
        if self.world_size == 1:
            return
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if grads:
            flat = torch.cat([g.flatten() for g in grads])
            dist.all_reduce(flat)
            flat /= self.world_size
            offset = 0
            for g in grads:
                g.copy_(flat[offset:offset + g.numel()].view_as(g))
                offset += g.numel()

    def _observe(self, terms: dict[str, torch.Tensor]) -> None:
        if self.augment is not None and "D/real_sign" in terms:  # ADA steers p by E[sign D(real)]
            self.augment.observe(terms["D/real_sign"])

    def context(self) -> StepContext:
        """Where training stands, as the recipe sees it before each step."""
        tc = self.cfg.train
        return StepContext(self.cur_nimg, self.step, tc.batch_size, int(round(tc.total_kimg * 1000)))

    def _apply_lr_schedule(self) -> None:
        """``optim.lr_decay_start_kimg``: every optimizer's learning rates stay at their initial values
        until then and fall linearly to zero at ``train.total_kimg`` (CycleGAN's schedule, per step
        rather than per epoch). A pure function of ``cur_nimg``, so a resumed run continues it exactly."""
        start = self.cfg.optim.lr_decay_start_kimg
        if start is None:
            return
        f = lr_factor(self.cur_nimg, start, self.cfg.train.total_kimg)
        for opt in self.recipe.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * f

    def train_step(self, acc: dict[str, torch.Tensor]) -> bool:
        """One step: every phase due at this step, with its repeats. Returns False if skipped."""
        self.recipe.begin_step(self.context())
        self._apply_lr_schedule()
        ok = self.eager.run(self.step, acc)
        self.cur_nimg += self.cfg.train.batch_size
        self.step += 1
        if self.augment is not None:
            self.augment.end_step(self.cfg.train.batch_size)
        if ok:
            for ema in self.emas.values():
                ema.update(self.cur_nimg, self.cfg.train.batch_size)
            self.consecutive_bad = 0
        else:
            self.bad_steps_total += 1
            self.consecutive_bad += 1
            self.stats.warn(f"non-finite {self.eager.bad_term} at step {self.step}: step skipped "
                            f"({self.consecutive_bad} in a row)", kimg=self.cur_nimg / 1000)
            if self.consecutive_bad >= self.cfg.train.max_bad_steps:
                where = str(self.last_checkpoint) if self.last_checkpoint else "none written yet"
                raise TrainingDiverged(
                    f"training diverged: {self.consecutive_bad} consecutive non-finite steps, the last at "
                    f"step {self.step} (kimg {self.cur_nimg / 1000:.1f}) in loss term {self.eager.bad_term!r}; "
                    f"last good checkpoint: {where}. Try a lower learning rate, mixed_precision=false, "
                    f"or a penalty (loss.r1_gamma / loss.gp_weight)")
        return ok

    # ------------------------------------------------------------------------------------------
    # The step as one CUDA graph (train.cuda_graph; ganforge.training.graphed).

    def sync_free_step(self, capture: bool = True):
        """The captured step, or None (with the reason said) where this run cannot use one."""
        from ganforge.training.graphed import SyncFreeStep, unsupported_reason

        reason = unsupported_reason(self) if capture else None
        if reason is not None:
            self.stats.info(f"train.cuda_graph: training eagerly: {reason}")
            return None
        self.stats.info("train.cuda_graph: the step runs as one CUDA graph (captured after a few warm-up steps); "
                        "non-finite steps are counted on the device and reported once per tick")
        return SyncFreeStep(self, capture=capture)

    def graphed_step(self, acc: dict[str, Any]) -> None:
        """One step by ``self.graphed`` (a ``SyncFreeStep``); on a failed capture, this step eagerly and
        eager training from then on."""
        from ganforge.training.graphed import CaptureFailed

        try:
            self.graphed.step()
        except CaptureFailed as e:  # this step's batches were drawn: run it eagerly on them, then go on eagerly
            self.stats.info(f"train.cuda_graph: capture failed ({e}); training eagerly from step {self.step}")
            torch.cuda.synchronize(self.device)
            self.read_graphed_tick(acc)
            slots, self.graphed = list(self.graphed.slots), None
            self._pending = slots
            self.train_step(acc)
            return
        self.cur_nimg += self.cfg.train.batch_size
        self.step += 1

    def read_graphed_tick(self, acc: dict[str, Any]) -> None:
        """The device-side guard's counts of the tick: warn about skipped steps, stop on divergence."""
        bad, longest = self.graphed.read_tick(acc)
        self.consecutive_bad = int(self.graphed.consecutive)
        if not bad:
            return
        self.bad_steps_total += bad
        self.stats.warn(f"{bad} non-finite steps skipped in this tick (longest run {longest})", kimg=self.cur_nimg / 1000)
        if longest >= self.cfg.train.max_bad_steps:
            where = str(self.last_checkpoint) if self.last_checkpoint else "none written yet"
            raise TrainingDiverged(
                f"training diverged: {longest} consecutive non-finite steps before step {self.step} (kimg "
                f"{self.cur_nimg / 1000:.1f}); last good checkpoint: {where}. Try a lower learning rate, or a "
                f"penalty (loss.r1_gamma / loss.gp_weight)")

    # ------------------------------------------------------------------------------------------
    # The loop.

    def train(self) -> TrainResult:
        """Train to ``train.total_kimg`` (or until interrupted). ``status.json`` says "running" from the start
        and, at the end, "finished", "stopped" (an interrupt) or "failed" (an exception, re-raised, whose
        text is the status' message); the tracker's run ends with the same state."""
        state, message = "failed", None
        try:
            result = self._train()
            state = "stopped" if result.interrupted else "finished"
            message = self._end_message
            return result
        except KeyboardInterrupt:  # an interrupt that got past the loop's handler (e.g. while checkpointing)
            state, message = "stopped", f"interrupted at {self.cur_nimg / 1000:g} kimg"
            raise
        except BaseException as e:
            message = one_line(e)
            raise
        finally:  # neither call raises (a failed write is said), so the error on its way out stays the error
            self.recorder.write_status_end(state, self.cur_nimg, message)
            self.recorder.close(state)

    def _train(self) -> TrainResult:
        tc = self.cfg.train
        total_nimg = int(round(tc.total_kimg * 1000))
        tick_nimg = max(1, int(round(tc.tick_kimg * 1000)))
        mc = self.cfg.metrics
        metric_nimg = int(round(mc.interval_kimg * 1000)) if (mc.names and mc.interval_kimg) else None
        self._end_message = f"reached train.total_kimg={tc.total_kimg:g}"
        self.recorder.write_config()
        self.recorder.write_status_start(self.cur_nimg)
        self.recorder.write_reals(self.cur_nimg)
        result = TrainResult(self.run_dir, self.cur_nimg, self.step, self.bad_steps_total)
        if self.cur_nimg >= total_nimg:
            self.stats.info(f"run already at {self.cur_nimg / 1000:.1f} kimg >= target {tc.total_kimg} kimg; "
                            f"nothing to do")
            self._end_message = f"already at {self.cur_nimg / 1000:g} kimg >= train.total_kimg={tc.total_kimg:g}"
            self.feed.close()
            return result
        if self.resumed:
            restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
            again = f" (restart {restart} of this torchrun job)" if restart not in ("", "0") else ""
            self.stats.info(f"resuming {self.run_dir} at {self.cur_nimg / 1000:g} kimg{again}")
            self.recorder.supersede_after(self.cur_nimg)
            if self._data_warning:
                self.stats.warn(self._data_warning, kimg=self.cur_nimg / 1000)
        # Every step adds a whole batch, so training ends at the first multiple past train.total_kimg: the
        # bar's total is that (a bar of 2.0 kimg ending at 2.048 showed 102% and a negative time left).
        end_nimg = self.cur_nimg + -(-(total_nimg - self.cur_nimg) // tc.batch_size) * tc.batch_size
        bar = self.stats.progress(total_kimg=end_nimg / 1000, start_kimg=self.cur_nimg / 1000,
                                  enabled=tc.progress and self.is_main)
        tick = 0
        tick_start_nimg, tick_start_time = self.cur_nimg, time.time()
        next_metric = (self.cur_nimg // metric_nimg + 1) * metric_nimg if metric_nimg else None
        acc: dict[str, torch.Tensor] = {}
        self.graphed = self.sync_free_step() if tc.cuda_graph else None
        interrupted = False
        interrupts = Interrupts().install()
        in_step = False
        try:
            if self.cur_nimg == 0 and self.is_main:
                self.write_samples()
            while self.cur_nimg < total_nimg:
                if self._stop_requested(interrupts):
                    raise KeyboardInterrupt
                in_step = True
                if self.graphed is not None:
                    self.graphed_step(acc)
                else:
                    self.train_step(acc)
                in_step = False
                bar.update(self.cfg.train.batch_size / 1000)
                done = self.cur_nimg >= total_nimg
                if self.cur_nimg >= tick_start_nimg + tick_nimg or done:
                    tick += 1
                    if self.graphed is not None:
                        self.read_graphed_tick(acc)
                    now = time.time()
                    row = self._tick_row(acc, tick_start_nimg, now - tick_start_time)
                    acc = {}
                    snap = done or tick % tc.snapshot_ticks == 0
                    measure = bool(mc.names) and (done or (next_metric is not None and self.cur_nimg >= next_metric))
                    if snap:
                        self.save_checkpoint()
                    # every rank computes its share of the metrics, so every rank needs the snapshot then
                    net = self.snapshot_generator() if (self.is_main or measure) else None
                    self.write_samples(net)
                    if snap:
                        self.export(net)
                    if measure:
                        row.update(self._metrics(net))
                        if next_metric is not None:
                            next_metric = (self.cur_nimg // metric_nimg + 1) * metric_nimg
                    self.stats.write(row)
                    result.stats.append(row)
                    bar.set_postfix(row)
                    tick_start_nimg, tick_start_time = self.cur_nimg, time.time()
        except KeyboardInterrupt:
            interrupted = True
            where = str(self.last_checkpoint) if self.last_checkpoint else "none written yet"
            if in_step:  # a second interrupt (or one from outside the handler) inside a step: its state is half done
                self._end_message = (f"stopped in the middle of step {self.step}: no checkpoint written (it would "
                                     f"not resume exactly); --resume continues from the last one: {where}")
                self.stats.info(self._end_message)
            elif self.world_size > 1 and not interrupts.pending_agreed:
                self._end_message = (f"stopped at once at {self.cur_nimg / 1000:g} kimg: no checkpoint written (the "
                                     f"other processes may be elsewhere); --resume continues from the last one: "
                                     f"{where}")
                self.stats.info(self._end_message)
            else:
                self.stats.info(f"interrupted at {self.cur_nimg / 1000:g} kimg: writing a checkpoint")
                self._end_message = f"interrupted at {self.cur_nimg / 1000:g} kimg"
                self.save_checkpoint()
                result.checkpointed = True
                self._end_message += f"; checkpoint {self.last_checkpoint}" if self.last_checkpoint else ""
        finally:
            interrupts.restore()
            bar.close()
            self.feed.close()  # a streamed feed's worker processes end with the training, not with the Trainer
        result.cur_nimg, result.steps, result.bad_steps = self.cur_nimg, self.step, self.bad_steps_total
        result.interrupted = interrupted
        return result

    def _stop_requested(self, interrupts: Interrupts) -> bool:
        """Whether to stop before the next step: a signal arrived (on any rank: every rank stops after the
        same step, so the checkpoint's collectives meet)."""
        stop = interrupts.pending
        if self.world_size > 1:
            from ganforge.distributed import all_ok

            stop = not all_ok(not stop, self.device)
        interrupts.pending_agreed = stop
        return stop

    def _tick_row(self, acc: dict[str, torch.Tensor], tick_start_nimg: int, seconds: float) -> dict[str, Any]:
        row: dict[str, Any] = {"kimg": round(self.cur_nimg / 1000, 3), "step": self.step}
        for k, v in acc.items():
            if not k.startswith("#"):
                row[k] = float(v) / acc["#" + k]
        nimg = self.cur_nimg - tick_start_nimg
        row["img_per_s"] = round(nimg / max(seconds, 1e-9), 1)
        row["sec_per_tick"] = round(seconds, 2)
        row["bad_steps"] = self.bad_steps_total
        if self.augment is not None:
            row["augment/p"] = round(self.augment.p, 6)
        if self.cfg.optim.lr_decay_start_kimg is not None:
            row["lr_factor"] = round(lr_factor(self.cur_nimg, self.cfg.optim.lr_decay_start_kimg,
                                               self.cfg.train.total_kimg), 6)
        if self.device.type == "cuda":
            row["gpu_mem_gb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**30, 3)
        row["time"] = time.time()
        return row

    def _metrics(self, net: torch.nn.Module) -> dict[str, Any]:
        """Every rank computes its share (``metrics.shard``) and gets the same records; rank 0 writes them."""
        if self.world_size > 1:  # rank 0's recalibrated statistics everywhere (forward noise differs per rank)
            with torch.no_grad():
                for b in net.buffers():
                    dist.broadcast(b, src=0)
        with self._rng_fork():
            records = self.recipe.evaluate(list(self.cfg.metrics.names), net, self.dataset,
                                           extractor=self.cfg.metrics.extractor, device=str(self.device),
                                           seed=self.cfg.train.seed, protocol=self.cfg.metrics.protocol,
                                           distributed=self.world_size > 1)
        self.recorder.write_metrics(records, self.cur_nimg)
        out: dict[str, Any] = {}
        for r in records:
            if isinstance(r.value, dict):
                for k, v in r.value.items():
                    out[f"metrics/{r.metric}/{k}"] = v
            else:
                out[f"metrics/{r.metric}"] = r.value
        return out


def lr_factor(cur_nimg: int, decay_start_kimg: float, total_kimg: float) -> float:
    """1 before ``decay_start_kimg``, then linear down to 0 at ``total_kimg`` (clamped at 0 beyond)."""
    start, end = decay_start_kimg * 1000, total_kimg * 1000
    if cur_nimg <= start:
        return 1.0
    if end <= start:
        return 0.0
    return max(0.0, 1.0 - (cur_nimg - start) / (end - start))


def load_config_of_run(run_dir: Path) -> Experiment:
    try:
        return from_dict(json.loads((Path(run_dir) / "config.json").read_text()))
    except FileNotFoundError:
        raise GanforgeError(f"{str(run_dir)!r} has no config.json; is it a ganforge run directory?") from None


__all__ = ["Trainer", "TrainResult", "TrainingDiverged", "new_run_dir", "find_resumable_run",
           "check_resume_compatible", "load_config_of_run"]
