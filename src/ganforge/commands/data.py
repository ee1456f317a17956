"""``ganforge data check`` and ``ganforge data convert``: scan a dataset for bad images, or convert it
once into a zip of R x R PNGs (``ganforge.data.check_path``, ``ganforge.data.convert.convert``).
``ganforge data`` alone prints the two and exits with status 2."""

from __future__ import annotations

import argparse

from ganforge.args import check_not_special, optional_positive_int, path_text
from ganforge.errors import GanforgeError


def register(sub) -> argparse.ArgumentParser:
    d = sub.add_parser("data", help="dataset tools")
    dsub = d.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    dc = dsub.add_parser("check", help="scan a folder, zip or built-in dataset for bad images")
    dc.add_argument("path", type=path_text("the dataset path"))
    dc.add_argument("--max-file-bytes", default=None, metavar="N",
                    help="bytes per file / zip member above which it is a bad file (data.max_file_bytes)")
    dc.add_argument("--max-image-pixels", default=None, metavar="N",
                    help="pixels per image above which it is a bad file (data.max_image_pixels)")
    dc.set_defaults(func=run_check)
    dv = dsub.add_parser("convert", help="decode, resize and check a folder, zip or built-in dataset once into a "
                                         "zip of R x R PNGs with its labels (NVlabs dataset_tool layout)")
    dv.add_argument("src", type=path_text("the dataset path"),
                    help="image folder, zip archive or built-in name (fashion-mnist, mnist, emoji)")
    dv.add_argument("--out", required=True, type=path_text("--out"),
                    help="the .zip file to write (never replaced without --overwrite)")
    dv.add_argument("--resolution", required=True, metavar="R", help="side length of the written images")
    dv.add_argument("--resize", default="pad", choices=("crop", "pad", "stretch"),
                    help="how non-square or other-sized images reach R x R (data.resize; default pad)")
    dv.add_argument("--channels", default=None, metavar="{1,3}",
                    help="write every image gray (1) or RGB (3); default: each image's own")
    dv.add_argument("--on-bad-image", default="error", choices=("error", "skip"),
                    help="stop at bad files (default; nothing is written) or leave them out")
    dv.add_argument("--split", default="train", choices=("train", "test"), help="split of a built-in dataset")
    dv.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    dv.add_argument("--max-file-bytes", default=None, metavar="N", help="as for data check")
    dv.add_argument("--max-image-pixels", default=None, metavar="N", help="as for data check")
    dv.set_defaults(func=run_convert)
    d.set_defaults(func=lambda a: (d.print_help(), 2)[1])  # `ganforge data` alone: the two subcommands
    return d


def run_check(args: argparse.Namespace) -> int:
    from ganforge.config import DataConfig
    from ganforge.data import check_path

    report = check_path(
        args.path,
        max_file_bytes=optional_positive_int(args.max_file_bytes, "--max-file-bytes", DataConfig.max_file_bytes),
        max_pixels=optional_positive_int(args.max_image_pixels, "--max-image-pixels", DataConfig.max_image_pixels),
    )
    print(report.format())
    return 2 if report.bad else 0


def run_convert(args: argparse.Namespace) -> int:
    from ganforge.config import DataConfig
    from ganforge.data.convert import convert
    from ganforge.limits import RESOLUTION_MAX

    try:
        res = int(args.resolution)
    except ValueError:
        res = 0
    if not 1 <= res <= RESOLUTION_MAX:
        raise GanforgeError(f"bad --resolution {args.resolution!r}: expected an integer 1..{RESOLUTION_MAX} (the side "
                            f"of the square images written)")
    check_not_special(args.src, "the dataset path", "a folder, a zip archive or a built-in name")
    channels = None
    if args.channels is not None:
        if args.channels not in ("1", "3"):
            raise GanforgeError(f"bad --channels {args.channels!r}: valid choices: 1, 3 (default: each image's own)")
        channels = int(args.channels)
    done = convert(
        args.src, args.out, res, resize=args.resize, channels=channels, on_bad_image=args.on_bad_image,
        split=args.split, overwrite=args.overwrite,
        max_file_bytes=optional_positive_int(args.max_file_bytes, "--max-file-bytes", DataConfig.max_file_bytes),
        max_image_pixels=optional_positive_int(args.max_image_pixels, "--max-image-pixels", DataConfig.max_image_pixels),
    )
    print(done.summary())
    print(f"train on it: ganforge train --data {done.path} --resolution {done.resolution} ...")
    return 0

