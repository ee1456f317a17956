"""Train a translation preset for a while and summarise it: final side-by-side grid, metric curves
(metrics.jsonl) as a plot, img/s from stats.jsonl, and a Markdown block for docs/benchmarks.md.

    python benchmarks/translation_curves.py --preset pix2pix-fmnist-edges --kimg 20 --interval 5 \
        --out runs/bench --images docs/images
    python benchmarks/translation_curves.py --preset cyclegan-fmnist-sneaker2boot --kimg 8 --interval 2 \
        --out runs/bench --images docs/images

Everything else is the preset's (its metrics, evaluated on the task's test split); ``--set`` adds
overrides. The learning-rate decay of the preset is rescaled to the shortened run (half constant,
half linear decay), so a short run still ends at lr 0 like the full one.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shutil
from pathlib import Path

import torch

import ganforge
from ganforge.config import apply_overrides


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", required=True)
    ap.add_argument("--kimg", type=float, required=True)
    ap.add_argument("--interval", type=float, required=True, help="metrics interval in kimg")
    ap.add_argument("--tick", type=float, default=None, help="tick in kimg (default: the interval)")
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--images", default=None, help="copy the final grid and the curve plot here")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()

    over = {"train.total_kimg": args.kimg, "train.tick_kimg": args.tick or args.interval,
            "metrics.interval_kimg": args.interval, "optim.lr_decay_start_kimg": args.kimg / 2,
            "train.progress": False}
    cfg = apply_overrides(apply_overrides(ganforge.get_preset(args.preset), over), args.set)
    result = ganforge.train(cfg, out=args.out)
    run = result.run_dir
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines() if '"kimg"' in x]
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    speeds = [r["img_per_s"] for r in rows[1:]] or [rows[0]["img_per_s"]]  # the first tick includes warm-up
    grid = sorted((run / "samples").glob("fakes*.png"))[-1]
    curves: dict[str, list[tuple[float, float]]] = {}
    for rec in records:
        if isinstance(rec["value"], (int, float)):
            curves.setdefault(rec["metric"], []).append((rec["kimg"], rec["value"]))
    plot = run / "metric-curves.png"
    _plot(curves, plot, f"{args.preset} ({args.kimg:g} kimg)")
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({platform.processor() or platform.machine()})"
    lines = [f"{args.preset}: {args.kimg:g} kimg, {device}, torch {torch.__version__}, {datetime.date.today()}",
             f"img/s (median of ticks after the first): {sorted(speeds)[len(speeds) // 2]:.1f}",
             "| kimg | " + " | ".join(curves) + " |", "|---" * (len(curves) + 1) + "|"]
    kimgs = sorted({k for c in curves.values() for k, _ in c})
    for k in kimgs:
        vals = [dict(c).get(k) for c in curves.values()]
        lines.append(f"| {k:g} | " + " | ".join("" if v is None else f"{v:.4g}" for v in vals) + " |")
    print("\n".join(lines))
    (run / "summary.md").write_text("\n".join(lines) + "\n")
    if args.images:
        dest = Path(args.images)
        dest.mkdir(parents=True, exist_ok=True)
        tag = f"{args.preset}-{'gpu' if torch.cuda.is_available() else 'cpu'}-{args.kimg:g}kimg"
        shutil.copyfile(grid, dest / f"{tag}.png")
        shutil.copyfile(plot, dest / f"{tag}-metrics.png")
        print(f"copied {dest / (tag + '.png')} and {dest / (tag + '-metrics.png')}")


def _plot(curves: dict[str, list[tuple[float, float]]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(curves), 1)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 2.8), squeeze=False)
    for ax, (name, pts) in zip(axes[0], sorted(curves.items())):
        ax.plot([k for k, _ in pts], [v for _, v in pts], marker="o")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("kimg", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
