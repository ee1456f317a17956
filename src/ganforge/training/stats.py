"""Run observability: ``stats.jsonl``, optional TensorBoard scalars, messages and the progress bar.

Only rank 0 writes (``enabled=False`` elsewhere). Messages go through ``tqdm.write`` so they do not
break the progress bar.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ganforge.errors import GanforgeError
from ganforge.outputs import append_text

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
    def __init__(self, run_dir: Path, tensorboard: bool = False, enabled: bool = True):
        self.enabled = enabled
        self.path = Path(run_dir) / "stats.jsonl"
        self.tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise GanforgeError("train.tensorboard=true needs the tensorboard package: "
                                    "pip install 'ganforge[tensorboard]'") from None
            self.tb = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def progress(self, total_kimg: float, start_kimg: float, enabled: bool):
        return _Bar(total_kimg, start_kimg) if (enabled and self.enabled) else _NoBar()

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        append_text(self.path, json.dumps(row) + "\n")
        if self.tb is not None:
            step = int(row["kimg"] * 1000)
            for k, v in row.items():
                if isinstance(v, (int, float)) and k not in ("kimg", "time"):
                    self.tb.add_scalar(k, v, global_step=step)

    def info(self, msg: str) -> None:
        if self.enabled:
            tqdm.write(f"ganforge: {msg}", file=sys.stderr)

    def warn(self, msg: str, kimg: float) -> None:
        """Show ``msg`` and log it as a row ``{"warning": msg, "kimg": kimg}`` (training progress when
        it happened, so a resume can set it aside with the ticks of the same stretch)."""
        if self.enabled:
            tqdm.write(f"ganforge: warning: {msg}", file=sys.stderr)
            append_text(self.path, json.dumps({"warning": msg, "kimg": round(kimg, 3)}) + "\n")

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
