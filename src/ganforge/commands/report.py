"""``ganforge report``: a run's progress.gif (its sample grids over time) and losses.png, made by
``ganforge.training.report``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.args import path_kind, path_text
from ganforge.errors import GanforgeError


def register(sub) -> argparse.ArgumentParser:
    rp = sub.add_parser("report", help="write progress.gif (sample grids over time) and losses.png for a run")
    rp.add_argument("run", type=path_text("the run directory"), help="run directory")
    rp.add_argument("--overwrite", action="store_true", help="replace an existing progress.gif / losses.png")
    rp.set_defaults(func=run)
    return rp


def run(args: argparse.Namespace) -> int:
    from ganforge.training.report import GIF_NAME, LOSSES_NAME, plot_losses, progress_gif, refuse_to_overwrite

    run_dir = Path(args.run)
    kind = path_kind(run_dir)
    if kind is None:
        raise GanforgeError(f"run directory {args.run!r} does not exist")
    if kind != "folder":
        raise GanforgeError(f"run directory {args.run!r} is a {kind}, not a folder")
    if not args.overwrite:
        refuse_to_overwrite([run_dir / GIF_NAME, run_dir / LOSSES_NAME], how="--overwrite")  # before writing either
    print(f"wrote {progress_gif(run_dir, overwrite=args.overwrite)}")
    try:
        print(f"wrote {plot_losses(run_dir, overwrite=args.overwrite)}")
    except GanforgeError as e:
        if "matplotlib" not in str(e):
            raise
        print(f"skipped losses.png: {e}")
    return 0
