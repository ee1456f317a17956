"""``ganforge train``: train a preset, resume a run, check one (``--dry-run``), or run it as several
processes on this machine (``--nproc N``, under torchrun).

The training itself is ``ganforge.api.train`` (``api.plan_run`` for what is checked first); this
module turns the flags into config overrides and, for ``--nproc``, checks in the launching process
that the batch splits evenly before any process starts, so a mistake is one message instead of one
per process and torchrun's traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ganforge.args import bounded_int, check_not_special, path_text
from ganforge.errors import GanforgeError
from ganforge.limits import MAX_RESTARTS_MAX, NPROC_MAX


def register(sub) -> argparse.ArgumentParser:
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
    t.set_defaults(func=run)
    return t


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


def run(args: argparse.Namespace) -> int:
    """Train (or only check, with --dry-run); -> 0, or 130 when interrupted (the checkpoint written)."""
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
    from ganforge.data import is_translation, load_dataset
    from ganforge.outputs import check_writable_dir
    from ganforge.registry import RECIPES
    from ganforge.training.recipe import DatasetInfo, RunContext

    plan = plan_run(cfg, out=args.out, resume=args.resume, overrides=overrides)
    cfg = plan.config
    if plan.run_dir is not None:
        check_writable_dir(plan.run_dir, "run directory", probe=False)
    else:
        check_writable_dir(args.out, "--out", probe=False)
    ds = load_dataset(cfg.data)
    # The recipe builds every network it trains (on the CPU, nothing written), so the counts are the
    # family's own: G and D here, more nets for families that have them.
    recipe = RECIPES.get(cfg.recipe)(cfg, DatasetInfo.of(ds, cfg), RunContext(torch.device("cpu"), torch.Generator()))
    recipe.attach_data(ds)  # a translation family's evaluation split and metric checks
    print(to_json(cfg))
    if plan.note:
        print(plan.note)
    if plan.run_dir is not None:
        print(f"resume: would continue {plan.run_dir} from {plan.resume_kimg:g} kimg to {cfg.train.total_kimg:g} kimg")
    if is_translation(ds):  # both domains
        print(f"dataset: {ds.name}: {'paired' if ds.paired else 'unpaired'}, A {len(ds.a_u8)} images "
              f"{ds.channels_a}x{ds.resolution}x{ds.resolution}, B {len(ds.b_u8)} images "
              f"{ds.channels}x{ds.resolution}x{ds.resolution}" + (f", {ds.skipped} skipped" if ds.skipped else ""))
    else:
        print(f"dataset: {ds.name}: {len(ds)} images, {ds.channels}x{ds.resolution}x{ds.resolution}, "
              f"{ds.num_classes} classes" + (f", {ds.skipped} skipped" if ds.skipped else "")
              + (", streamed from disk (data.stream)" if ds.streamed else ""))
    for name, net in recipe.nets.items():
        arch = getattr(net, "arch", type(net).__name__)
        print(f"{name}: {arch}, {sum(p.numel() for p in net.parameters()):,} parameters")
    if args.nproc is not None and args.nproc > 1:
        print(f"processes: {args.nproc} (--nproc), {cfg.train.batch_size // args.nproc} images each per step")
    print("dry run: nothing trained, nothing written")
    return 0


