"""``ganforge interpolate``: an interpolation between seeds of a style-based generator (lerp in W or
slerp in Z) as a GIF or MP4 and a strip of frames, written by
``ganforge.synthesis.figures.write_interpolation``."""

from __future__ import annotations

import argparse

from ganforge.args import bounded_int, choice, fps, parse_seeds, psi
from ganforge.commands._common import add_style_options, load_model
from ganforge.limits import FRAMES_MAX


def register(sub) -> argparse.ArgumentParser:
    i = sub.add_parser("interpolate", help="interpolation between seeds (lerp in W or slerp in Z) as GIF/MP4 + strip")
    add_style_options(i)
    i.add_argument("--seeds", default="0,1,2,3")
    i.add_argument("--space", default="w", type=choice("--space", ("w", "z"), "interpolation space"),
                   help="w (lerp) or z (slerp)")
    i.add_argument("--frames", type=bounded_int("--frames", 1, FRAMES_MAX), default=24,
                   help=f"frames per transition (at most {FRAMES_MAX} frames in all)")
    i.add_argument("--fps", type=fps("--fps"), default=24)
    i.add_argument("--format", default="gif", type=choice("--format", ("gif", "mp4"), fold_case=True),
                   help="gif or mp4 (mp4 needs imageio-ffmpeg)")
    i.add_argument("--loop", action="store_true", help="return to the first seed")
    i.add_argument("--psi", type=psi("--psi"), default=1.0)
    i.set_defaults(func=run)
    return i


def run(args: argparse.Namespace) -> int:
    from ganforge.synthesis.figures import interpolation_file_names, write_interpolation

    seeds = parse_seeds(args.seeds)
    # the frame count and the file names, before the model is loaded
    interpolation_file_names(seeds, args.frames, space=args.space, fmt=args.format, loop=args.loop)
    G, _ = load_model(args)
    done = write_interpolation(G, seeds, args.out, frames=args.frames, space=args.space, fmt=args.format,
                               fps=args.fps, loop=args.loop, psi=args.psi, class_idx=args.class_idx,
                               noise_mode=args.noise_mode, overwrite=args.overwrite)
    anim_path, strip_path = done.paths
    print(f"wrote {anim_path} ({done.frames} frames) and {strip_path}")
    return 0
