"""``ganforge truncation``: a truncation sweep of a style-based generator, one row per seed and one
column per psi, written by ``ganforge.synthesis.figures.write_truncation_sweep``."""

from __future__ import annotations

import argparse

from ganforge.args import bounded_int, parse_seeds, psi_list
from ganforge.commands._common import add_style_options, load_model


def register(sub) -> argparse.ArgumentParser:
    t = sub.add_parser("truncation", help="truncation sweep grid: one row per seed, one column per psi")
    add_style_options(t)
    t.add_argument("--seeds", default="0-5")
    t.add_argument("--psi", type=psi_list("--psi"), default="1,0.8,0.6,0.4,0.2,0", help="psi values, comma separated")
    t.add_argument("--cutoff", type=bounded_int("--cutoff", 0), default=None,
                   help="truncate only style layers below this index")
    t.set_defaults(func=run)
    return t


def run(args: argparse.Namespace) -> int:
    from ganforge.synthesis.figures import check_truncation, write_truncation_sweep

    seeds = parse_seeds(args.seeds)
    psis = check_truncation(seeds, args.psi)  # the grid's size, before the model is loaded
    G, _ = load_model(args)
    done = write_truncation_sweep(G, seeds, args.out, psis=psis, cutoff=args.cutoff, class_idx=args.class_idx,
                                  noise_mode=args.noise_mode, overwrite=args.overwrite)
    print(f"wrote {done.paths[0]} (rows: seeds {args.seeds}; columns: psi {', '.join(f'{p:g}' for p in psis)})")
    return 0
