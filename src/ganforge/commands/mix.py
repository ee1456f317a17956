"""``ganforge mix``: the style-mixing grid of a style-based generator (row seeds take the chosen styles
of column seeds), written by ``ganforge.synthesis.figures.write_style_mixing``."""

from __future__ import annotations

import argparse

from ganforge.args import parse_seeds, psi
from ganforge.commands._common import add_style_options, load_model


def register(sub) -> argparse.ArgumentParser:
    m = sub.add_parser("mix", help="style-mixing grid (row seeds take the chosen styles of column seeds)")
    add_style_options(m)
    m.add_argument("--rows", required=True, help="row seeds, e.g. 0-4")
    m.add_argument("--cols", required=True, help="column seeds, e.g. 10-14")
    m.add_argument("--styles", default="coarse", help="coarse, middle, fine (combinable) or layers like 0-3,6")
    m.add_argument("--psi", type=psi("--psi"), default=1.0, help="truncation psi (default 1: none)")
    m.set_defaults(func=run)
    return m


def run(args: argparse.Namespace) -> int:
    from ganforge.synthesis.figures import mix_file_name, write_style_mixing

    rows, cols = parse_seeds(args.rows, "--rows"), parse_seeds(args.cols, "--cols")
    mix_file_name(rows, cols, args.styles)  # the grid's size and the file name, before the model is loaded
    G, _ = load_model(args)
    done = write_style_mixing(G, rows, cols, args.out, styles=args.styles, psi=args.psi, class_idx=args.class_idx,
                              noise_mode=args.noise_mode, overwrite=args.overwrite)
    print(f"wrote {done.paths[0]} (styles {args.styles}: layers {','.join(map(str, done.layers))} from the column "
          f"seeds)")
    return 0
