"""Run observability: ``stats.jsonl``, the experiment tracker (``train.tracker``), messages and the progress bar.

Only rank 0 writes and tracks (``enabled=False`` elsewhere). Messages go through ``tqdm.write`` so they
do not break the progress bar. Every call to the tracker goes through ``track``: its first failure is one
warning, and the tracker is off for the rest of the run (``ganforge.training.trackers``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ganforge.outputs import append_text
from ganforge.training.trackers import Tracker, one_line, scalars_of

# Shown in the progress bar's postfix, in this order, when present.
_BAR_KEYS = ("img_per_s", "G/adv", "D/adv", "D/gp", "D/r1", "D/r2")


class _NoBar:
    def update(self, n: float) -> None: ...
    def set_postfix(self, row: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


class _Bar:
    def __init__(self, total_kimg: float, start_kimg: float):
        fmt = "{l_bar}{bar}| {n:.1f}/{total:.1f} kimg [{elapsed}<{remaining}{postfix}]"
        self.bar = tqdm(total=total_kimg, initial=start_kimg, bar_format=fmt, file=sys.stderr,
                        dynamic_ncols=True, mininterval=0.5, smoothing=0.1)

    def update(self, n: float) -> None:
        self.bar.update(n)

    def set_postfix(self, row: dict[str, Any]) -> None:
        shown = {}
        for k in _BAR_KEYS:
            if k in row:
                v = row[k]
                shown[k.replace("/adv", "")] = f"{v:.0f}" if k == "img_per_s" else f"{v:.3f}"
        for k, v in row.items():
            if k.startswith("metrics/") and isinstance(v, (int, float)):
                shown[k[len("metrics/"):]] = f"{v:.3f}"
        self.bar.set_postfix(shown, refresh=True)

    def close(self) -> None:
        self.bar.close()


class StatsWriter:
    """``stats.jsonl`` and messages of one run; ``tracker``: the run's open tracker (None: none)."""

    def __init__(self, run_dir: Path, enabled: bool = True, tracker: Tracker | None = None):
        self.enabled = enabled
        self.path = Path(run_dir) / "stats.jsonl"
        self.tracker = tracker if enabled else None

    def progress(self, total_kimg: float, start_kimg: float, enabled: bool):
        return _Bar(total_kimg, start_kimg) if (enabled and self.enabled) else _NoBar()

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        append_text(self.path, json.dumps(row) + "\n")
        if self.tracker is not None and "kimg" in row:
            nimg = int(round(row["kimg"] * 1000))
            self.track("log_scalars", scalars_of(row), nimg, row.get("time"), nimg=nimg)

    def track(self, method: str, *args: Any, nimg: int) -> None:
        """``tracker.<method>(*args)``, if there is a tracker. A failure (anything but an interrupt) is a
        warning, once: the tracker is then off for the rest of the run, and training goes on."""
        tracker = self.tracker
        if tracker is None:
            return
        try:
            getattr(tracker, method)(*args)
        except Exception as e:
            self.tracker = None
            self.warn(f"train.tracker={tracker.name} failed ({one_line(e)}); tracking is off for the rest of this "
                      f"run, which goes on (stats.jsonl, metrics.jsonl and samples/ in the run folder are "
                      f"complete)", kimg=nimg / 1000)
            try:
                tracker.close("failed")
            except Exception:
                pass

    def info(self, msg: str) -> None:
        if self.enabled:
            tqdm.write(f"ganforge: {msg}", file=sys.stderr)

    def warn(self, msg: str, kimg: float) -> None:
        """Show ``msg`` and log it as a row ``{"warning": msg, "kimg": kimg}`` (training progress when
        it happened, so a resume can set it aside with the ticks of the same stretch)."""
        if self.enabled:
            tqdm.write(f"ganforge: warning: {msg}", file=sys.stderr)
            append_text(self.path, json.dumps({"warning": msg, "kimg": round(kimg, 3)}) + "\n")

    def close(self, state: str = "finished") -> None:
        """End the tracker's run (``state``: how training ended); a failure is only said."""
        tracker, self.tracker = self.tracker, None
        if tracker is None:
            return
        try:
            tracker.close(state)
        except Exception as e:
            self.info(f"warning: train.tracker={tracker.name} could not end its run ({one_line(e)})")
