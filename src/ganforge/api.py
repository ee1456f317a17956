"""The public Python API: ``train``, ``load_generator``, ``list_presets``, ``get_preset``."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganforge.config import Experiment, apply_overrides, from_dict
from ganforge.errors import GanforgeError, OutputError, output_error
from ganforge.presets import DEFAULT_PRESET, get_preset, list_presets
from ganforge.validation import validate_experiment

__all__ = ["train", "load_generator", "list_presets", "get_preset", "resolve_resume", "validate_experiment",
           "plan_run", "RunPlan"]


def resolve_resume(resume: str | Path, out: str | Path, preset: str | None):
    """Find what to resume from.

    Returns (run_dir, checkpoint state) or None when ``resume == "auto"`` finds nothing to continue.
    ``resume`` is "auto" (newest run under ``out`` with a checkpoint, of ``preset`` if given), a run
    directory, or a checkpoint file inside a run's ``checkpoints/`` folder.
    """
    from ganforge.training import checkpoint as ckpt
    from ganforge.training.trainer import find_resumable_run

    if str(resume) == "auto":
        run_dir = find_resumable_run(Path(out), preset)
        if run_dir is None:
            return None
        found = ckpt.load_latest_checkpoint(run_dir)
        assert found is not None
        return run_dir, found[1]
    path = Path(resume)
    if path.is_dir():
        found = ckpt.load_latest_checkpoint(path)
        if found is None:
            raise GanforgeError(f"cannot resume from {str(path)!r}: it has no checkpoints/state-*.pt")
        return path, found[1]
    if path.is_file():
        state = ckpt.load_checkpoint(path)
        run_dir = path.parent.parent if path.parent.name == ckpt.CKPT_DIR else path.parent
        return run_dir, state
    raise GanforgeError(f"cannot resume from {str(resume)!r}: no such run directory or checkpoint "
                        f"(use --resume auto, a run directory, or a checkpoint file)")


@dataclass
class RunPlan:
    """What ``train`` would do: the validated config, and the run it continues (if any)."""

    config: Experiment
    run_dir: Path | None = None  # the run being resumed; None for a new run
    state: dict[str, Any] | None = None  # its checkpoint
    note: str | None = None  # e.g. that --resume auto found nothing and a new run starts

    @property
    def resume_kimg(self) -> float | None:
        return None if self.state is None else int(self.state["counters"]["cur_nimg"]) / 1000


def plan_run(config: Experiment | None = None, *, out: str | Path = "runs", resume: str | Path | None = None,
             overrides: list[str] | dict[str, Any] | None = None) -> RunPlan:
    """Resolve the config a ``train`` call would use, without writing anything.

    With ``resume``, the resumed run's saved config (or ``config``) gets the overrides, must keep the
    checkpoint's architecture and data (``check_resume_compatible``), and is validated like a new one.
    """
    from ganforge.training.trainer import check_resume_compatible

    state = None
    run_dir = None
    note = None
    if resume is not None:
        preset = config.preset if config is not None else None
        found = resolve_resume(resume, out, preset)
        if found is None:
            note = (f"--resume auto: no run with a checkpoint{f' of preset {preset!r}' if preset else ''} "
                    f"under {str(out)!r}; starting a new run")
        else:
            run_dir, state = found
            try:
                saved = from_dict(json.loads(state["config"]))
            except (KeyError, TypeError, ValueError) as e:
                raise GanforgeError(f"cannot resume {str(run_dir)!r}: its checkpoint holds no readable config "
                                    f"({type(e).__name__}: {e})") from None
            requested = config if config is not None else saved
            if overrides:
                requested = apply_overrides(requested, overrides)
            check_resume_compatible(saved, requested)
            config = requested
    if config is None:
        config = get_preset(DEFAULT_PRESET)
    if state is None and overrides:
        config = apply_overrides(config, overrides)
    validate_experiment(config)
    return RunPlan(config, run_dir, state, note)


def train(config: Experiment | None = None, *, out: str | Path = "runs", resume: str | Path | None = None,
          overrides: list[str] | dict[str, Any] | None = None, dataset=None):
    """Train an experiment; returns a ``TrainResult`` (``run_dir``, ``cur_nimg``, ``stats``, ...).

    Args:
        config: the experiment (default: the default preset). When resuming and ``config`` is None,
            the run's saved config is used.
        out: parent folder of run directories; a new run gets ``out/NNNNN-<preset>``.
        resume: None (new run), "auto" (continue the newest resumable run of this preset under
            ``out``, or start one, saying so on stderr), a run directory, or a checkpoint file.
        overrides: ``key=value`` strings or a dict applied on top of the config.
        dataset: an already loaded ``ImageDataset`` (else loaded from ``config.data``).

    Under torchrun (``WORLD_SIZE`` > 1 in the environment) every process calls this and they train one
    run together, data-parallel: see ``ganforge.distributed``.

    Every user mistake, including an output folder that cannot be written (checked before the data
    is loaded) and a write that fails during training (a full disk), is a ``GanforgeError``; the
    previous checkpoint of the run stays intact.
    """
    from ganforge import distributed

    joined = distributed.launched() and not distributed.world()[1] > 1
    if joined:  # under torchrun: join the process group (left again when this call ends)
        distributed.init_from_env(config.train.device if config is not None else "auto")
    try:
        result = _train(config, out=out, resume=resume, overrides=overrides, dataset=dataset)
    except BaseException:
        if joined:
            distributed.shutdown(wait_for_peers=False)
        raise
    if joined:
        distributed.shutdown()
    return result


def _train(config, *, out, resume, overrides, dataset):
    from ganforge import distributed
    from ganforge.outputs import check_writable_dir
    from ganforge.training.runlock import RunLock
    from ganforge.training.trainer import Trainer, new_run_dir

    rank, world_size = distributed.world()
    plan = plan_run(config, out=out, resume=resume, overrides=overrides)
    if world_size > 1:  # every rank has read its plan (and checkpoint) before rank 0 may write anything
        import torch.distributed as dist

        dist.barrier()
    if plan.note and rank == 0:
        print(f"ganforge: {plan.note}", file=sys.stderr)
    config, run_dir, state = plan.config, plan.run_dir, plan.state
    check_writable_dir(run_dir if run_dir is not None else out, "--out" if run_dir is None else "run directory")
    from_config = dataset is None
    if from_config:
        from ganforge.data import load_dataset

        dataset = load_dataset(config.data)  # before any directory is made: bad data writes nothing
    fresh = run_dir is None
    if fresh:
        def make_run_dir() -> Path:
            try:
                return new_run_dir(Path(out), config.preset)
            except OSError as e:
                raise output_error(e.filename or out, e, "create a run directory in") from None

        run_dir = distributed.run_on_rank0(make_run_dir)  # one directory, made by rank 0, for all ranks
    # One writer per run: rank 0 holds the run's lock while it trains (every rank hears a refusal).
    held: list[RunLock] = []
    distributed.run_on_rank0(lambda: held.append(RunLock(run_dir).acquire()))
    lock = held[0] if held else None
    try:
        try:
            trainer = Trainer(config, run_dir, resume_state=state, dataset=dataset, data_from_config=from_config)
        except BaseException as e:
            if fresh and lock is not None:
                lock.release()
                shutil.rmtree(run_dir, ignore_errors=True)
            if isinstance(e, OSError) and not isinstance(e, GanforgeError):
                raise output_error(e.filename or run_dir, e) from None
            raise
        try:
            return trainer.train()
        except OSError as e:
            raise _stopped_by_write_error(e, trainer, run_dir) from None
    finally:
        if lock is not None:
            lock.release()


def _stopped_by_write_error(e: OSError, trainer, run_dir: Path) -> GanforgeError:
    """The error for a write that failed mid-training, pointing at the newest complete checkpoint."""
    from ganforge.training import checkpoint as ckpt

    first = str(e) if isinstance(e, OutputError) else str(output_error(e.filename or run_dir, e))
    cks = ckpt.list_checkpoints(run_dir)
    if cks:
        then = (f"the newest complete checkpoint is {str(cks[-1])!r}; free space or fix the folder, then "
                f"continue with --resume {run_dir}")
    else:
        then = "no checkpoint was written; free space or fix the folder and start again"
    return OutputError(f"{first}; training stopped at {trainer.cur_nimg / 1000:g} kimg and {then}", e.errno,
                       getattr(e, "filename", None))


def _export_interface(meta: Any, path: str | Path) -> tuple[Any, int, int, int]:
    """Check an export's metadata (types and ranges, with the config's own rules for the recipe it
    names) -> (model config section, resolution, channels, num_classes)."""
    from ganforge.limits import NUM_CLASSES_MAX, RESOLUTION_MAX
    from ganforge.validation import Choice, Int, check_field, rules_for

    where = f"model {str(path)!r}"
    recipe = meta.get("recipe", "gan")
    try:
        rules = rules_for(recipe) if isinstance(recipe, str) else None
        if rules is None:
            raise GanforgeError(f"bad value {recipe!r} for recipe: expected a recipe name")
    except GanforgeError as e:
        raise GanforgeError(f"{where} has bad metadata: {e}") from None
    model = meta.get("model")
    if not isinstance(model, dict):
        raise GanforgeError(f"{where} has bad metadata: 'model' must be an object of model.* settings, "
                            f"got {model!r}")
    try:
        cfg = apply_overrides(Experiment(recipe=recipe), {f"model.{k}": v for k, v in model.items()})
        for key, value in vars(cfg.model).items():
            check_field(f"model.{key}", value, rules=rules)
    except GanforgeError as e:
        raise GanforgeError(f"{where} has bad metadata: {e}") from None
    sizes = []
    for key, rule in (("resolution", Int(1, RESOLUTION_MAX)), ("channels", Choice((1, 3))),
                      ("num_classes", Int(0, NUM_CLASSES_MAX))):
        if key not in meta:
            raise GanforgeError(f"{where} has bad metadata: {key!r} is missing")
        value = meta[key]
        try:
            if isinstance(value, bool) or not isinstance(value, int):
                raise GanforgeError(f"bad value {value!r} for {key}: expected int")
            rule.check(key, value)
        except GanforgeError as e:
            raise GanforgeError(f"{where} has bad metadata: {e}") from None
        sizes.append(value)
    want_z = getattr(cfg.model, "z_dim", 0)  # translators take no latent: 0
    z_dim = meta.get("z_dim", want_z)
    if z_dim != want_z or isinstance(z_dim, bool):
        raise GanforgeError(f"{where} has bad metadata: z_dim {z_dim!r} differs from model.z_dim "
                            f"{want_z!r}")
    return cfg.model, sizes[0], sizes[1], sizes[2]


def _translator_kwargs(meta: dict, path: str | Path) -> dict[str, int]:
    """A translator export's domain-A channels (``in_channels``), checked like the other sizes."""
    from ganforge.validation import Choice

    value = meta.get("in_channels")
    try:
        if isinstance(value, bool) or not isinstance(value, int):
            raise GanforgeError(f"bad value {value!r} for in_channels: expected int")
        Choice((1, 3)).check("in_channels", value)
    except GanforgeError as e:
        raise GanforgeError(f"model {str(path)!r} has bad metadata: {e}") from None
    return {"in_channels": value}


def _compare_shapes(net: torch.nn.Module, tensors: dict[str, torch.Tensor], limit: int = 5) -> list[str]:
    """Differences between ``net``'s state_dict and ``tensors`` (names and shapes), first ``limit``."""
    want = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in tensors.items()}
    problems = [f"{k}: the file has shape {list(have[k])}, the metadata implies {list(want[k])}"
                for k in want if k in have and have[k] != want[k]]
    problems += [f"{k} is missing from the file" for k in want if k not in have]
    problems += [f"the file has an unexpected tensor {k}" for k in have if k not in want]
    if len(problems) > limit:
        problems = problems[:limit] + [f"... and {len(problems) - limit} more"]
    return problems


def load_generator(path: str | Path, device: str | torch.device = "cpu", *, kind: str = "generator") -> torch.nn.Module:
    """Load an exported generator (a run directory, a ``.safetensors`` export or its ``model.json``).

    ``kind``: "generator" (G(z, c): what ``generate``, ``eval`` and the style tools take) or
    "translator" (a pix2pix / CycleGAN ``Translator``, for ``ganforge translate``); an export of the
    other kind is refused with the command that takes it.

    Returns the generator in eval mode with ``.meta`` holding the export's metadata. No pickle is
    involved: weights come from safetensors, the architecture from the registry. The metadata is
    checked (types, ranges) and the generator it describes is first built on the ``meta`` device (no
    memory) and compared, tensor by tensor, with the file; only a match is built for real, so a
    corrupt or hostile ``model.json`` cannot make it allocate more than the file's own tensors.
    """
    from ganforge.devices import resolve_device
    from ganforge.interfaces import check_interface
    from ganforge.registry import RECIPES
    from ganforge.training.checkpoint import read_export

    if isinstance(device, str):
        device = resolve_device(device, "device")
    meta, tensors = read_export(Path(path))
    if not isinstance(meta, dict) or meta.get("format") != "ganforge-generator":
        fmt = meta.get("format") if isinstance(meta, dict) else None
        raise GanforgeError(f"{str(path)!r} is not a ganforge generator export (format={fmt!r})")
    has = "translator" if meta.get("kind") == "translator" else "generator"
    if has != kind:
        if has == "translator":
            what, use = f"an image-to-image translation model (recipe {meta.get('recipe')})", "ganforge translate"
        else:
            what, use = "a generator of images from noise", "ganforge generate, eval and the style tools"
        raise GanforgeError(f"model {str(path)!r} is {what}, not a {kind}; use it with {use}")
    mcfg, resolution, channels, num_classes = _export_interface(meta, path)
    recipe = RECIPES.get(meta.get("recipe", "gan"))
    extra = _translator_kwargs(meta, path) if recipe.translates else {}
    if recipe.translates != (has == "translator"):
        raise GanforgeError(f"model {str(path)!r} has bad metadata: kind {meta.get('kind')!r} does not fit recipe "
                            f"{meta.get('recipe')!r}")

    def build_generator(*a, **kw):
        return recipe.build_generator(*a, **kw, **extra)

    with torch.device("meta"):
        shell = build_generator(mcfg, resolution=resolution, channels=channels, num_classes=num_classes)
    problems = _compare_shapes(shell, tensors)
    if problems:
        arch, z_dim = recipe.describe_model(mcfg, meta)
        raise GanforgeError(f"model {str(path)!r} does not match its metadata ({arch}, z_dim "
                            f"{z_dim}, {channels}x{resolution}x{resolution}, {num_classes} classes): "
                            + "; ".join(problems))
    try:
        G = build_generator(mcfg, resolution=resolution, channels=channels, num_classes=num_classes)
        G.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise GanforgeError(f"model {str(path)!r} does not match its metadata: {type(e).__name__}: {e}") from None
    check_interface(G, kind, f"model {str(path)!r}")
    G.meta = meta
    return G.to(device).eval().requires_grad_(False)


def import_official(pkl: str | Path, out: str | Path, *, overwrite: bool = False) -> Path:
    """Convert an official NVlabs network snapshot (``network-snapshot-*.pkl``) into a ganforge model folder
    ``out`` (``generator.safetensors`` + ``model.json``) that ``load_generator`` reads; no code from the
    pickle runs. The families that can read official snapshots register an importer
    (``FamilySpec.importer``) carrying a predicate ``importer.claims(snapshot) -> bool``; the file is read
    once (``read_official_pickle``) and handed to the first family, in registration order, whose predicate
    claims it (today StyleGAN2 / StyleGAN2-ADA and StyleGAN3, told apart by G_ema's recorded classes).

    Returns:
        The path of the written weights file.

    Raises:
        GanforgeError: the file cannot be read safely, no family claims its generator (the message names the
            classes found), or the claiming importer refuses it.
    """
    import re

    from ganforge.io.official_pickle import NetRecord, read_official_pickle, short_repr
    from ganforge.registry import FAMILIES
    from ganforge.training.checkpoint import EXPORT_JSON, EXPORT_WEIGHTS

    def describe(rec: Any) -> str:
        """What an unclaimed G_ema is: its class, its sub-networks' classes and the classes its module defines."""
        if not isinstance(rec, NetRecord):
            return f"G_ema is {short_repr(rec, 60)}, not a network"
        subs = [f"{short_repr(k, 40)}: {short_repr(c.class_name, 40)}" for k, c in list(rec.children.items())[:6]]
        defined = re.findall(r"^class (\w{1,60})", (rec.module_src or "")[:1 << 20], flags=re.MULTILINE)[:12]
        return (f"G_ema is a {short_repr(rec.class_name, 60)}"
                + (f" with sub-networks {{{', '.join(subs)}}}" if subs else " without sub-networks")
                + (f", from a module defining classes {', '.join(defined)}" if defined
                   else " from a module that defines no class" if rec.persistent else f" ({rec.module_name})"))

    importers = [(name, FAMILIES.get(name).importer) for name in FAMILIES.names() if FAMILIES.get(name).importer]
    if not importers:
        raise GanforgeError("no registered family can import official snapshots")
    out_path = Path(out)
    existing = [t for t in (out_path / EXPORT_WEIGHTS, out_path / EXPORT_JSON) if t.exists()]
    if existing and not overwrite:  # before reading a file of hundreds of MB (the importer checks again)
        raise GanforgeError(f"{existing[0]} already exists; pass --overwrite or choose another --out")
    snap = read_official_pickle(pkl)
    for _name, importer in importers:
        claims = getattr(importer, "claims", None)
        if claims is not None and claims(snap):
            return importer(pkl, out, overwrite=overwrite, snapshot=snap)
    raise GanforgeError(f"{str(pkl)!r}: {describe(snap.get('G_ema'))}; no family imports it (importers: "
                        f"{', '.join(name for name, _ in importers)}: the official StyleGAN2 / StyleGAN2-ADA generator "
                        "of training/networks_stylegan2.py and the StyleGAN3 one of training/networks_stylegan3.py)")

