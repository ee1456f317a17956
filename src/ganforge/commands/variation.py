"""``ganforge variation``: one latent of a style-based generator under several noise draws, with the
per-pixel standard deviation (where noise acts), written by
``ganforge.synthesis.figures.write_variation``."""

from __future__ import annotations

import argparse

from ganforge.args import bounded_int, psi, seed
from ganforge.commands._common import add_style_options, load_model
from ganforge.limits import GRID_MAX


def register(sub) -> argparse.ArgumentParser:
    v = sub.add_parser("variation", help="one latent under several noise draws, with the per-pixel std")
    add_style_options(v)
    v.add_argument("--seed", type=seed("--seed"), default=0)
    v.add_argument("--draws", type=bounded_int("--draws", 2, GRID_MAX, describe=f">= 2 to show variation and <= "
                                                                          f"{GRID_MAX} (the images of one grid)"),
                   default=8)
    v.add_argument("--noise-seed", type=seed("--noise-seed"), default=0)
    v.add_argument("--psi", type=psi("--psi"), default=1.0)
    v.set_defaults(func=run)
    return v


def run(args: argparse.Namespace) -> int:
    from ganforge.synthesis.figures import write_variation

    G, _ = load_model(args)
    done = write_variation(G, args.seed, args.out, draws=args.draws, noise_seed=args.noise_seed, psi=args.psi,
                           class_idx=args.class_idx, overwrite=args.overwrite)
    grid_path, std_path = done.paths
    print(f"wrote {grid_path} ({args.draws} noise draws) and {std_path} (per-pixel standard deviation)")
    return 0
