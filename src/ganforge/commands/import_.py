"""``ganforge import``: an official StyleGAN2 / StyleGAN2-ADA / StyleGAN3 ``network-snapshot-*.pkl`` as a ganforge
model folder through ``ganforge.api.import_official`` (the importer a family registers), without running any
code from the pickle.

(The module is ``import_`` because ``import`` is a Python keyword.)
"""

from __future__ import annotations

import argparse

from ganforge.args import check_input_file, check_not_special, path_text


def register(sub) -> argparse.ArgumentParser:
    im = sub.add_parser("import", help="convert an official StyleGAN2 / StyleGAN2-ADA / StyleGAN3 network-snapshot-*.pkl "
                                       "into a ganforge model folder (no code from the pickle runs)")
    im.add_argument("pkl", type=path_text("the official pickle"), help="the official .pkl snapshot")
    im.add_argument("--out", required=True, type=path_text("--out"),
                    help="folder to write generator.safetensors and model.json into")
    im.add_argument("--overwrite", action="store_true", help="replace an existing model in --out")
    im.set_defaults(func=run)
    return im


def run(args: argparse.Namespace) -> int:
    from ganforge.api import import_official

    check_input_file(args.pkl, "official pickle")  # a named pipe would block the reader
    check_not_special(args.out, "--out", "a folder")
    path = import_official(args.pkl, args.out, overwrite=args.overwrite)
    print(f"wrote {path} and {path.with_name('model.json')}; try: ganforge generate --model {args.out} "
          f"--seeds 0-15 --grid --out samples")
    return 0
