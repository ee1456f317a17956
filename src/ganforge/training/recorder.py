"""What a run leaves on disk: config, stats, sample grids, exports, checkpoints, metric records.

The trainer decides when (ticks, snapshots, the end, an interrupt); the ``RunRecorder`` decides where
and how, and is the only part of training that writes into the run directory. Every file goes through
``ganforge.outputs`` (atomic writes, whole appended lines). On ranks other than 0 it writes nothing.

Layout of a run directory (names in ``ganforge.training.bookkeeping``)::

    config.json           the resolved experiment
    status.json           running / finished / stopped / failed, with pid, host, times, kimg and a message
    stats.jsonl           one line per tick (losses, img/s, metrics), also to the tracker (train.tracker)
    metrics.jsonl         one metric record per line, with its protocol
    samples/reals.png     a grid of training images; samples/fakes<kimg>.png: the fixed-latent grid per tick
    generator.safetensors + model.json     the newest export; exports/: one per snapshot
    checkpoints/state-<nimg>.pt            training state (the newest ``train.keep_checkpoints``)
    tensorboard/, wandb/  the tracker's own files (train.tracker tensorboard, wandb)

``status.json`` is what tells a run that is training from one that finished, was stopped or failed
(the studio reads it). Training writes it when it starts (also on a resume)::

    {"state": "running", "pid": ..., "host": ..., "started": <unix time>, "kimg": <kimg at the start>}

and when it ends, the same with ``state`` "finished" (reached ``train.total_kimg``), "stopped" (an
interrupt: Ctrl-C, SIGTERM), or "failed" (an exception left training), plus ``ended`` (unix time),
``kimg`` (where it ended) and ``message`` (what ended it; for "failed", the exception's text on one
line). Only rank 0 writes it, through ``ganforge.outputs`` (atomic). A process that is killed
outright leaves "running" with a pid that no longer lives. Writing the end state never hides the error
that ended training: a failure to write it is only said.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from pathlib import Path
from typing import Any

import torch

from ganforge.version import __version__
from ganforge.config import Experiment, resolved_tracker, to_dict, to_json
from ganforge.distributed import run_on_rank0
from ganforge.outputs import append_text, write_text
from ganforge.images import save_grid
from ganforge.training import bookkeeping as bk
from ganforge.training import checkpoint as ckpt
from ganforge.training.stats import StatsWriter
from ganforge.training.trackers import ENDED_STATES, one_line, open_tracker


STATUS_NAME = "status.json"


class RunRecorder:
    """Writes one run's files. ``dataset``: the training data (grid sizes, the reals grid, export metadata)."""

    def __init__(self, run_dir: Path, cfg: Experiment, dataset: Any, *, is_main: bool):
        self.run_dir = Path(run_dir)
        self.cfg, self.dataset, self.is_main = cfg, dataset, is_main
        # Rank 0 opens the tracker; a failure to start is every rank's error (none waits at a collective).
        opened: list = []
        run_on_rank0(lambda: opened.append(open_tracker(resolved_tracker(cfg.train), self.run_dir, to_dict(cfg)))
                     if is_main else None)
        self.stats = StatsWriter(self.run_dir, enabled=is_main, tracker=opened[0] if opened else None)
        self.last_checkpoint: Path | None = None
        self._status: dict[str, Any] | None = None

    # -- at the start --

    def write_config(self) -> None:
        if self.is_main:
            write_text(self.run_dir / "config.json", to_json(self.cfg) + "\n")

    def write_reals(self, cur_nimg: int = 0) -> None:
        """A grid of ``train.grid_size`` training images, drawn from the run's seed (kept when resuming),
        also to the tracker (every session: each one is a run of its own there)."""
        path = self.run_dir / bk.SAMPLES_DIR / "reals.png"
        if not self.is_main:
            return
        if not path.exists():
            n = self.cfg.train.grid_size
            g = torch.Generator().manual_seed(self.cfg.train.seed + 5)
            idx = torch.randperm(len(self.dataset), generator=g)[:n]
            save_grid(self.dataset.images_u8[idx], path, scale=self.grid_scale(math.ceil(math.sqrt(n))))
        self.stats.track("log_image", "samples/reals", path, cur_nimg, nimg=cur_nimg)

    def write_status_start(self, cur_nimg: int) -> None:
        """``status.json``: training is running (from ``cur_nimg``), in this process on this host."""
        if not self.is_main:
            return
        self._status = {"state": "running", "pid": os.getpid(), "host": socket.gethostname(),
                        "started": time.time(), "kimg": cur_nimg / 1000}
        write_text(self.run_dir / STATUS_NAME, json.dumps(self._status, indent=2) + "\n")

    def write_status_end(self, state: str, cur_nimg: int, message: str | None = None) -> None:
        """``status.json``: how training ended (``state`` in ``ENDED_STATES``). Never raises: it runs while
        the error that ended training is on its way out; a failure to write is only said."""
        if not self.is_main:
            return
        assert state in ENDED_STATES, state
        base = self._status or {"pid": os.getpid(), "host": socket.gethostname(), "started": None}
        status = {**base, "state": state, "ended": time.time(), "kimg": cur_nimg / 1000, "message": message}
        try:
            write_text(self.run_dir / STATUS_NAME, json.dumps(status, indent=2) + "\n")
        except Exception as e:
            try:
                self.stats.info(f"warning: could not write {self.run_dir / STATUS_NAME} ({one_line(e)})")
            except Exception:
                pass

    def supersede_after(self, cur_nimg: int) -> None:
        """Set aside what the run recorded after the checkpoint it resumes from (see bookkeeping)."""
        if not self.is_main:
            return
        moved = bk.supersede_after(self.run_dir, cur_nimg)
        if moved:
            self.stats.info(f"resumed at {cur_nimg / 1000:g} kimg, earlier than the run had got: moved "
                            f"what was written after it ({moved.describe()}) to "
                            f"{self.run_dir / bk.SUPERSEDED_DIR}")

    # -- every tick --

    def grid_scale(self, cols: int) -> int:
        """Nearest-neighbour enlargement shared by the fakes and reals grids: small grids are blown
        up towards ~256 px wide, and images of 32 px or less at least doubled, so they can be seen."""
        side = self.dataset.resolution * cols
        return max(256 // side, 2 if self.dataset.resolution <= 32 else 1, 1)

    def write_samples(self, imgs: torch.Tensor, cols: int | None, cur_nimg: int) -> Path | None:
        """The tick's grid: uint8 images [N, C, H, W], ``cols`` columns (None: square)."""
        if not self.is_main:
            return None
        path = save_grid(imgs, self.run_dir / bk.SAMPLES_DIR / bk.sample_name(cur_nimg), cols=cols,
                         scale=self.grid_scale(cols or math.ceil(math.sqrt(len(imgs)))))
        self.stats.track("log_image", "samples/fakes", path, cur_nimg, nimg=cur_nimg)
        return path

    def write_metrics(self, records: list[Any], cur_nimg: int) -> None:
        """Append metric records (``MetricRecord``) with the kimg they were measured at."""
        if not self.is_main:
            return
        for r in records:
            record = {**r.to_dict(), "kimg": cur_nimg / 1000}
            append_text(self.run_dir / "metrics.jsonl", json.dumps(record) + "\n")
            self.stats.track("log_metric_record", record, cur_nimg, nimg=cur_nimg)

    # -- every snapshot --

    def export_meta(self, recipe: Any, net: torch.nn.Module, cur_nimg: int, ema: bool) -> dict[str, Any]:
        """``model.json`` of an export of ``net``: what ``load_generator`` rebuilds it from."""
        ds = self.dataset
        return {
            "format": "ganforge-generator",
            "version": 1,
            "ganforge_version": __version__,
            "recipe": self.cfg.recipe,
            "preset": self.cfg.preset,
            "arch": recipe.export_arch(net),
            "model": to_dict(self.cfg)["model"],
            "resolution": ds.resolution,
            "channels": ds.channels,
            **recipe.export_interface(net),
            "dataset": ds.name,
            "dataset_hash": ds.content_hash,
            "kimg": cur_nimg / 1000,
            "ema": ema,
        }

    def export(self, net: torch.nn.Module, meta: dict[str, Any], cur_nimg: int) -> Path | None:
        """``exports/generator-<kimg>`` and the run's newest ``generator.safetensors`` + ``model.json``."""
        if not self.is_main:
            return None
        ckpt.save_export(self.run_dir / bk.EXPORTS_DIR, net, meta, stem=bk.export_stem(cur_nimg))
        return ckpt.save_export(self.run_dir, net, meta)

    def save_checkpoint(self, state: dict[str, Any], cur_nimg: int) -> Path | None:
        if not self.is_main:
            return None
        self.last_checkpoint = ckpt.save_checkpoint(self.run_dir, cur_nimg, state,
                                                    keep=self.cfg.train.keep_checkpoints)
        return self.last_checkpoint

    def close(self, state: str = "finished") -> None:
        """End the tracker's run (``state``: how training ended). Never raises."""
        self.stats.close(state)
