"""``ganforge video``: a GIF or MP4 of an alias-free (StyleGAN3) generator's pictures while its input
turns or travels, as the official visualizer shows them; written by
``ganforge.synthesis.motion.write_video``."""

from __future__ import annotations

import argparse

from ganforge.args import (
    bounded_int,
    choice,
    finite_float,
    fps,
    parse_seeds,
    path_text,
    psi,
)
from ganforge.limits import FRAMES_MAX
from ganforge.synthesis.motion import (
    DEFAULT_DEGREES,
    DEFAULT_RADIUS,
    MOTIONS,
    TRANSLATE_MAX,
    VIDEO_SEEDS_MAX,
)


def register(sub) -> argparse.ArgumentParser:
    v = sub.add_parser("video", help="a GIF/MP4 of a StyleGAN3 model's pictures turning or moving (input transform)")
    v.add_argument("--model", required=True, type=path_text("--model"),
                   help="run directory, .safetensors export or model.json of an alias-free (StyleGAN3) model")
    v.add_argument("--out", required=True, type=path_text("--out"),
                   help="the video file, ending in .gif or .mp4 (mp4 needs imageio-ffmpeg)")
    v.add_argument("--motion", default="rotate", type=choice("--motion", MOTIONS, "motion"),
                   help="rotate (turn about the centre) or translate (travel around a circle)")
    v.add_argument("--seeds", default="0", help=f"seeds, tiled into a grid per frame (at most {VIDEO_SEEDS_MAX}); "
                                                "default 0")
    v.add_argument("--frames", type=bounded_int("--frames", 1, FRAMES_MAX), default=72,
                   help=f"frames in all (default 72, at most {FRAMES_MAX}); frame k shows k/frames of the motion, "
                        "so a full turn loops seamlessly")
    v.add_argument("--fps", type=fps("--fps"), default=24, help="frames per second (default 24)")
    v.add_argument("--degrees", type=finite_float("--degrees", describe="a finite number of degrees"), default=None,
                   help=f"--motion rotate: the turn in all, counter-clockwise (default {DEFAULT_DEGREES:g})")
    v.add_argument("--radius", type=finite_float("--radius", 0.0, TRANSLATE_MAX / 2, lo_open=True), default=None,
                   help=f"--motion translate: the circle's radius in image widths (default {DEFAULT_RADIUS:g}); "
                        "the circle passes through the unmoved picture")
    v.add_argument("--psi", type=psi("--psi"), default=1.0, help="truncation psi (1: none)")
    v.add_argument("--trunc-cutoff", type=bounded_int("--trunc-cutoff", 0), default=None,
                   help="truncate only the style layers below this index")
    v.add_argument("--class", dest="class_idx", type=bounded_int("--class", 0), default=None,
                   help="class index for conditional models")
    v.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    v.add_argument("--overwrite", action="store_true", help="replace an existing video file")
    v.set_defaults(func=run)
    return v


def run(args: argparse.Namespace) -> int:
    from ganforge.commands._common import load_model
    from ganforge.synthesis.motion import (
        check_video_file,
        check_video_options,
        write_video,
    )

    seeds = parse_seeds(args.seeds)
    # the options, the file name, the mp4 writer and the output folder, before the model is loaded
    check_video_options(seeds, args.motion, args.frames, args.fps, args.degrees, args.radius)
    check_video_file(args.out, args.overwrite)
    G, _ = load_model(args)
    done = write_video(G, seeds, args.out, motion=args.motion, frames=args.frames, fps=args.fps,
                       degrees=args.degrees, radius=args.radius, psi=args.psi, trunc_cutoff=args.trunc_cutoff,
                       class_idx=args.class_idx, overwrite=args.overwrite)
    print(f"wrote {done.path} ({done.frames} frames of {done.width} x {done.height}, {args.motion})")
    return 0
