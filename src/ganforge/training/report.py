"""Looking at a run: loss curves from ``stats.jsonl`` and an animation of the sample grids.

``ganforge report RUN_DIR`` writes ``losses.png`` (needs matplotlib: the ``plot`` extra) and
``progress.gif`` (Pillow only) into the run directory. Neither replaces an existing file unless asked
to (``--overwrite``), and then atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from ganforge.errors import GanforgeError
from ganforge.outputs import atomic_write
from ganforge.training.bookkeeping import sample_grids

GIF_NAME = "progress.gif"
LOSSES_NAME = "losses.png"


def refuse_to_overwrite(paths: list[Path], how: str = "overwrite=True") -> None:
    """Raise naming those of ``paths`` that already exist (if any), and ``how`` to replace them."""
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing:
        them = "it" if len(existing) == 1 else "them"
        raise GanforgeError(f"{' and '.join(existing)} already exist{'s' * (len(existing) == 1)}; "
                            f"pass {how} to replace {them}")


def read_stats(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "stats.jsonl"
    if not path.exists():
        raise GanforgeError(f"{str(run_dir)!r} has no stats.jsonl; is it a ganforge run directory?")
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            if "kimg" in row and "warning" not in row:
                rows.append(row)
    return rows


def progress_gif(run_dir: Path, out: Path | None = None, frame_ms: int = 300,
                 overwrite: bool = False) -> Path:
    """Animate ``samples/fakes*.png`` in training order (by the image count in their names); the last
    frame is held longer."""
    frames_paths = sample_grids(run_dir)
    if not frames_paths:
        raise GanforgeError(f"{str(run_dir)!r} has no samples/fakes*.png to animate")
    out = Path(out or Path(run_dir) / GIF_NAME)
    if not overwrite:
        refuse_to_overwrite([out])
    frames = []
    for p in frames_paths:
        with Image.open(p) as im:
            frames.append(im.convert("L" if im.mode == "L" else "RGB"))
    durations = [frame_ms] * (len(frames) - 1) + [frame_ms * 6]
    atomic_write(out, lambda tmp: frames[0].save(tmp, format="GIF", save_all=True,
                                                      append_images=frames[1:], duration=durations, loop=0))
    return out


def plot_losses(run_dir: Path, out: Path | None = None, overwrite: bool = False) -> Path:
    """Plot every loss term and img/s against kimg."""
    out = Path(out or Path(run_dir) / LOSSES_NAME)
    if not overwrite:
        refuse_to_overwrite([out])
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise GanforgeError("plotting needs matplotlib: pip install 'ganforge[plot]'") from None
    rows = read_stats(run_dir)
    if not rows:
        raise GanforgeError(f"{str(run_dir)!r} has no ticks in stats.jsonl yet")
    kimg = [r["kimg"] for r in rows]
    keys = sorted({k for r in rows for k in r if "/" in k and isinstance(r[k], (int, float))})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k in keys:
        axes[0].plot(kimg, [r.get(k, float("nan")) for r in rows], label=k)
    axes[0].set_xlabel("kimg")
    axes[0].set_title("losses and logits (tick means)")
    axes[0].legend(fontsize=8)
    axes[1].plot(kimg, [r.get("img_per_s", float("nan")) for r in rows])
    axes[1].set_xlabel("kimg")
    axes[1].set_title("throughput (img/s)")
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return out
