"""``ganforge project``: invert an image into a style-based generator's W or W+, writing the latent,
the reconstruction, a comparison and the optimisation's progress
(``ganforge.synthesis.figures.write_projection``)."""

from __future__ import annotations

import argparse

from ganforge.args import bounded_int, path_text, positive_float, seed
from ganforge.commands._common import add_style_options, load_model
from ganforge.limits import PROJECT_LR_MAX, PROJECT_STEPS_MAX


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("project", help="invert an image into W or W+ (latent, reconstruction, progress GIF)")
    p.add_argument("image", type=path_text("the target image"), help="target image file")
    add_style_options(p)
    p.add_argument("--steps", type=bounded_int("--steps", 1, PROJECT_STEPS_MAX), default=500)
    p.add_argument("--w-plus", action="store_true", help="one w per layer (W+) instead of one w (W)")
    p.add_argument("--lr", type=positive_float("--lr", PROJECT_LR_MAX), default=0.1)
    p.add_argument("--resize", default="crop", help="crop, pad or stretch the target to the model's size")
    p.add_argument("--features", action="store_true",
                   help="add the evaluation extractor's feature distance to the pixel loss")
    p.add_argument("--seed", type=seed("--seed"), default=0)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ganforge.data.folder import check_resize_policy
    from ganforge.synthesis.figures import projection_file_names, read_target, write_projection

    check_resize_policy(args.resize)
    target = read_target(args.image)  # bounded read, before the model is loaded
    projection_file_names(args.image, args.w_plus)
    G, _ = load_model(args)
    done = write_projection(G, target, args.out, name=args.image, steps=args.steps, w_plus=args.w_plus, lr=args.lr,
                            resize=args.resize, features=args.features, seed=args.seed, class_idx=args.class_idx,
                            progress=args.progress, overwrite=args.overwrite)
    latent_path, img_path, cmp_path, video_path = done.paths
    print(f"final loss {done.projection.losses[-1]:.5f} ({done.projection.distance}); wrote {latent_path}, "
          f"{img_path}, {cmp_path}, {video_path}")
    return 0
