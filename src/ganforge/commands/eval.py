"""``ganforge eval``: named metrics (FID, KID, PR, IS, PPL, ...) for a trained generator, or between a
folder of real and a folder of generated images.

The metrics are ``ganforge.metrics.protocol.compute`` / ``compute_between``; this module checks the
flags and the ``--json`` target before the (long) computation, loads the model or the folders, prints
the records as a table and writes them as JSON. ``add_eval_parser`` adds the sub-parser with
``run_eval`` as its handler (tests build a parser of their own with it); ``register`` puts the path
checks in front.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ganforge.args import check_paths_first
from ganforge.errors import GanforgeError
from ganforge.limits import BATCH_MAX, SEED_MAX  # train.batch_size's bound; KID seeds numpy's RandomState

# `ganforge eval --help` shows this text above the options.
DESCRIPTION = '''``ganforge eval``: compute named metrics for a trained generator or for two image folders.

    ganforge eval --model runs/000-dcgan --metrics fid10k,kid10k --json out.json
    ganforge eval --real data/real_png --fake samples/ --metrics fid10k,pr10k3

The top-level CLI calls ``add_eval_parser(subparsers)`` and dispatches to ``run_eval(args)``.
'''

PATH_FLAGS = (("model", "--model"), ("real", "--real"), ("fake", "--fake"), ("json", "--json"),
              ("inception_weights", "--inception-weights"), ("cache_dir", "--cache-dir"))


def register(sub) -> argparse.ArgumentParser:
    return check_paths_first(add_eval_parser(sub), *PATH_FLAGS)


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "eval",
        help="compute metrics (FID, intra-class FID, KID, PR, IS, PPL, SWD, MS-SSIM, StyleGAN3's EQ-T/EQ-R) for a generator or two "
             "image folders",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", help="run directory or exported generator file")
    p.add_argument("--data", default="fashion-mnist", help="reference dataset: built-in name or image folder/zip (default: fashion-mnist)")
    p.add_argument("--split", default="train", help="split of a built-in reference dataset (default: train)")
    p.add_argument("--metrics", default="fid10k", help="comma-separated metric names, e.g. fid10k,kid10k,pr10k3,is10k,ppl_z,swd,msssim; "
                                                       "ifid10k (intra-class FID) for a conditional model and labelled data")
    p.add_argument("--extractor", default=None, help="feature extractor (default: fmnist-cnn for 1-channel 28/32 px data, else inception-v3-fid)")
    p.add_argument("--inception-weights", default=None, metavar="PATH",
                   help="pt_inception-2015-12-05-6726825d.pth (or a `ganforge convert-inception` file) to use "
                        "instead of the torch hub copy")
    from ganforge.metrics.inception import PROTOCOLS

    p.add_argument("--protocol", default=None, choices=PROTOCOLS,
                   help="input pipeline of the inception-v3-fid extractor. tf (the default): TensorFlow 1's "
                        "bilinear resize and (x-128)/128, as the TF graph behind published FIDs and NVlabs' "
                        "metrics; pytorch-fid: torch's half-pixel bilinear resize and 2x/255-1, as pytorch-fid. "
                        "Statistics of the two must not be mixed (7 FID apart for the same 28 px images); every "
                        "record names its protocol")
    p.add_argument("--real", default=None, metavar="DIR", help="folder of real images (with --fake; no generator)")
    p.add_argument("--fake", default=None, metavar="DIR", help="folder of generated images (with --real)")
    p.add_argument("--num-real", type=int, default=None, help="cap on the number of reference images")
    p.add_argument("--json", default=None, metavar="OUT", help="write the records as JSON to this file")
    p.add_argument("--overwrite", action="store_true", help="allow --json to replace an existing file")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default=None, help="where real-data features are cached")
    p.set_defaults(func=run_eval)
    return p


def _fmt(v) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else str(v)
    return str(v)


def format_table(records) -> str:
    rows = [("metric", "value", "extractor", "protocol", "gen", "real")]
    for r in records:
        rows.append((r.metric, _fmt(r.value), r.extractor or "-", r.protocol or "-", str(r.num_gen), str(r.num_real)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _load_folder(path: str, resolution, what: str = "image folder"):
    from ganforge.config import DataConfig
    from ganforge.data import load_dataset
    from ganforge.data.folder import probe_path

    if probe_path(Path(path).expanduser(), what) is None:  # too long, a symlink loop: one error naming it
        raise GanforgeError(f"image folder {path!r} does not exist")
    return load_dataset(DataConfig(name=path, resolution=resolution, resize="pad"))


def _json_target(args) -> Path | None:
    """``--json`` checked before the (long) computation: a file name in an existing, writable folder, and
    no file there yet without ``--overwrite``."""
    if not args.json:
        return None
    out = Path(args.json)
    if out.is_dir():
        raise GanforgeError(f"--json {str(out)!r} is a folder; give a file name, e.g. {str(out / 'metrics.json')!r}")
    if out.exists() and not args.overwrite:
        raise GanforgeError(f"--json {str(out)!r} already exists; pass --overwrite to replace it")
    if not out.parent.exists():
        raise GanforgeError(f"--json: folder {str(out.parent)!r} does not exist")
    from ganforge.outputs import check_writable_dir

    check_writable_dir(out.parent, "--json", shown=out)
    return out


def _write_json(out: Path, records, overwrite: bool) -> None:
    from ganforge.outputs import write_file

    text = json.dumps([r.to_dict() for r in records], indent=2) + "\n"
    try:  # a failed write (full disk) leaves no partial file and an --overwrite target as it was
        write_file(out, lambda f: f.write(text.encode()), overwrite=overwrite)
    except FileExistsError:
        raise GanforgeError(f"--json {str(out)!r} already exists; pass --overwrite to replace it") from None


def run_eval(args) -> int:
    """Run the ``eval`` subcommand; returns the exit status (errors are GanforgeError)."""
    from ganforge.devices import resolve_device
    from ganforge.metrics.protocol import check_image_set_metrics, compute, compute_between, parse_metrics

    parsed = parse_metrics(args.metrics)  # validate names before loading anything
    if not 1 <= args.batch_size <= BATCH_MAX:
        raise GanforgeError(f"--batch-size must be an integer >= 1 and <= {BATCH_MAX}, got {args.batch_size}")
    if not 0 <= args.seed <= SEED_MAX:
        raise GanforgeError(f"--seed must be an integer >= 0 and <= {SEED_MAX}, got {args.seed}")
    if args.num_real is not None and args.num_real < 2:
        raise GanforgeError(f"--num-real must be an integer >= 2, got {args.num_real}")
    out = _json_target(args)
    folders = (args.real is not None, args.fake is not None)
    if any(folders) and not all(folders):
        raise GanforgeError("--real and --fake must be given together")
    if all(folders) and args.model:
        raise GanforgeError("give either --model or --real/--fake, not both")
    if not all(folders) and not args.model:
        raise GanforgeError("nothing to evaluate: pass --model RUN_DIR_OR_FILE or --real DIR --fake DIR")
    if all(folders):
        check_image_set_metrics(parsed)  # PPL, intra-class FID: refused before the folders are read
    device = str(resolve_device(args.device, "--device"))
    common = dict(
        extractor=args.extractor, device=device, batch_size=args.batch_size, seed=args.seed,
        num_real=args.num_real, cache_dir=args.cache_dir, inception_weights=args.inception_weights,
        protocol=args.protocol,
    )  # fmt: skip
    if args.extractor is not None:
        from ganforge.metrics.extractors import EXTRACTORS, check_protocol

        EXTRACTORS.get(args.extractor)  # unknown name -> GanforgeError listing the choices
        check_protocol(args.extractor, args.protocol, "--protocol")

    if all(folders):
        real = _load_folder(args.real, None, "--real")
        fake = _load_folder(args.fake, None, "--fake")
        records = compute_between(args.metrics, real, fake.images_u8, **common)
    else:
        import torch

        from ganforge.api import load_generator
        from ganforge.config import DataConfig
        from ganforge.data import load_dataset

        G = load_generator(args.model)
        res = int(getattr(G, "img_resolution", 0)) or None
        dataset = load_dataset(DataConfig(name=args.data, split=args.split, resolution=res, resize="pad"))
        G = G.to(device) if isinstance(G, torch.nn.Module) else G
        records = compute(args.metrics, G, dataset, **common)

    print(format_table(records))
    if out is not None:
        _write_json(out, records, args.overwrite)
        print(f"wrote {out}", file=sys.stderr)
    return 0
