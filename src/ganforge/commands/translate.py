"""``ganforge translate``: a folder of images through a trained pix2pix / CycleGAN model, written with
the same relative paths (``ganforge.synthesis.translate.translate_folder`` does the work)."""

from __future__ import annotations

import argparse

from ganforge.args import bounded_int, path_text
from ganforge.commands._common import load_model
from ganforge.limits import FORWARD_BATCH_MAX, TRANSLATE_GRID_MAX


def register(sub) -> argparse.ArgumentParser:
    tr = sub.add_parser("translate", help="translate a folder of images with a trained pix2pix / CycleGAN model")
    tr.add_argument("--model", required=True, type=path_text("--model"),
                    help="run directory, .safetensors export or model.json")
    tr.add_argument("--input", required=True, type=path_text("--input"),
                    help="folder or zip of input images (sub-folders kept)")
    tr.add_argument("--out", required=True, type=path_text("--out"),
                    help="output folder: same relative paths and file names as the input")
    tr.add_argument("--direction", default=None, help="AtoB or BtoA (CycleGAN models have both; default: the "
                                                      "model's first, AtoB for CycleGAN, the trained one for pix2pix)")
    tr.add_argument("--resize", default="pad", help="crop, pad (default) or stretch: how inputs of another size "
                                                    "are brought to the model's resolution")
    tr.add_argument("--on-bad-image", default="error", help="error (default: nothing is written) or skip")
    tr.add_argument("--grid", type=bounded_int("--grid", 1, TRANSLATE_GRID_MAX), default=None, metavar="N",
                    help="also write translate-grid.png: the first N inputs beside their outputs")
    tr.add_argument("--batch-size", type=bounded_int("--batch-size", 1, FORWARD_BATCH_MAX), default=16,
                    help="images per forward pass (default 16)")
    tr.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    tr.add_argument("--overwrite", action="store_true", help="replace existing output files")
    tr.set_defaults(func=run)
    return tr


def run(args: argparse.Namespace) -> int:
    from ganforge.synthesis.translate import check_translate_args, translate_folder

    # --grid and --batch-size: checked by their argparse types
    check_translate_args(args.input, args.out, resize=args.resize, on_bad_image=args.on_bad_image)
    model, device = load_model(args, kind="translator")
    result = translate_folder(model, args.input, args.out, direction=args.direction, device=device,
                              batch_size=args.batch_size, resize=args.resize, overwrite=args.overwrite,
                              on_bad_image=args.on_bad_image, grid=args.grid or 0)
    skipped = f", skipped {result.skipped} bad file(s)" if result.skipped else ""
    grid = f"; side by side: {result.grid}" if result.grid else ""
    print(f"wrote {result.written} translated images to {result.out}{skipped}{grid}")
    return 0
