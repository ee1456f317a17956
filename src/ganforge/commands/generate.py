"""``ganforge generate``: images from seeds with a trained generator, one file per seed or one grid.

The work is ``ganforge.synthesis.generate.generate_images``; here the seeds and the flag combinations
are checked before the model is loaded, and the result is printed.
"""

from __future__ import annotations

import argparse

from ganforge.args import (
    NOISE_MODES,
    bounded_int,
    choice,
    finite_float,
    parse_seeds,
    path_text,
    psi,
)
from ganforge.commands._common import load_model
from ganforge.limits import FORWARD_BATCH_MAX, Z_TRUNC_MAX, Z_TRUNC_MIN
from ganforge.synthesis.generate import CLASS_GRID_NAME, GRID_NAME
from ganforge.synthesis.motion import TRANSLATE_MAX, parse_translate


def _translate(text: str) -> tuple[float, float]:
    return parse_translate(text, "--translate")


def register(sub) -> argparse.ArgumentParser:
    g = sub.add_parser("generate", help="generate images from a trained generator")
    g.add_argument("--model", required=True, type=path_text("--model"),
                   help="run directory, .safetensors export or model.json")
    g.add_argument("--seeds", default="0-63", help="seeds, e.g. 0-63 or 1,5,9-12 (default 0-63)")
    g.add_argument("--out", required=True, type=path_text("--out"), help="output folder")
    g.add_argument("--grid", action="store_true", help=f"write one {GRID_NAME} instead of one file per seed")
    g.add_argument("--class", dest="class_idx", type=bounded_int("--class", 0), default=None,
                   help="class index for conditional models")
    g.add_argument("--class-grid", action="store_true",
                   help=f"write one {CLASS_GRID_NAME} with a row per class and a column per seed (conditional "
                        f"models); a seed's latent is the same in every row, so the rows differ only by class")
    g.add_argument("--classes", default=None, metavar="LIST",
                   help="the rows of --class-grid, e.g. 0,3,5 or 0-4 (default: every class)")
    g.add_argument("--psi", type=psi("--psi"), default=None,
                   help="truncation psi for style-based models (1: none, 0: the W-mean image)")
    g.add_argument("--trunc-cutoff", type=bounded_int("--trunc-cutoff", 0), default=None,
                   help="truncate only the style layers below this index (style-based models)")
    g.add_argument("--noise-mode", default=None, type=choice("--noise-mode", NOISE_MODES, "noise mode"),
                   help="random, const (default for style-based models) or none")
    g.add_argument("--z-trunc", type=finite_float("--z-trunc", Z_TRUNC_MIN, Z_TRUNC_MAX,
                                                   describe=f"a number >= {Z_TRUNC_MIN:g} and <= {Z_TRUNC_MAX:g}"),
                   default=None, metavar="T",
                   help="truncation in z by resampling (BigGAN): entries of z beyond +-T are drawn again; "
                        "smaller T trades variety for fidelity (any family that takes z)")
    g.add_argument("--translate", type=_translate, default=None, metavar="X,Y",
                   help="move the picture by X,Y image widths (x right, y down; 1/resolution is one pixel), "
                        f"each within +-{TRANSLATE_MAX:g}, as official gen_images.py (alias-free StyleGAN3 "
                        "models only)")
    g.add_argument("--rotate", type=finite_float("--rotate", describe="a finite number of degrees"), default=None,
                   metavar="DEG", help="turn the picture by DEG degrees, counter-clockwise, as official "
                                       "gen_images.py (alias-free StyleGAN3 models only)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    g.add_argument("--overwrite", action="store_true", help="replace existing output files")
    g.add_argument("--batch-size", type=bounded_int("--batch-size", 1, FORWARD_BATCH_MAX), default=1,
                   help="images per forward pass (default 1: each seed's image is then bit-identical whatever "
                        "other seeds are generated with it; larger batches are faster but may differ in the "
                        "last bit, i.e. by one level in a few pixels)")
    g.set_defaults(func=run)
    return g


def run(args: argparse.Namespace) -> int:
    from ganforge.synthesis.generate import check_generate_options, generate_images

    seeds = parse_seeds(args.seeds)
    rows = check_generate_options(seeds, grid=args.grid, class_grid=args.class_grid, classes=args.classes,
                                  class_idx=args.class_idx)
    G, device = load_model(args)
    done = generate_images(G, seeds, args.out, grid=args.grid, class_grid=args.class_grid, classes=rows,
                           class_idx=args.class_idx, psi=args.psi, trunc_cutoff=args.trunc_cutoff,
                           noise_mode=args.noise_mode, z_trunc=args.z_trunc, translate=args.translate,
                           rotate=args.rotate, batch_size=args.batch_size,
                           overwrite=args.overwrite, device=device)
    if done.grid is None:
        print(f"wrote {done.written} images to {done.out}")
    else:
        shape = f"{len(done.rows)} classes x {done.cols} seeds" if done.rows is not None else f"{done.count} images"
        print(f"wrote {done.grid} ({shape})")
    return 0
