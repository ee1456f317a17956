"""The public Python API: ``train``, ``load_generator``, ``list_presets``, ``get_preset``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from ganforge.config import Experiment, apply_overrides, from_dict
from ganforge.errors import GanforgeError
from ganforge.presets import DEFAULT_PRESET, get_preset, list_presets

__all__ = ["train", "load_generator", "list_presets", "get_preset", "resolve_resume", "validate_experiment"]


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


def train(config: Experiment | None = None, *, out: str | Path = "runs", resume: str | Path | None = None,
          overrides: list[str] | dict[str, Any] | None = None, dataset=None):
    """Train an experiment; returns a ``TrainResult`` (``run_dir``, ``cur_nimg``, ``stats``, ...).

    Args:
        config: the experiment (default: the default preset). When resuming and ``config`` is None,
            the run's saved config is used.
        out: parent folder of run directories; a new run gets ``out/NNNNN-<preset>``.
        resume: None (new run), "auto" (continue the newest resumable run of this preset under
            ``out``, or start one), a run directory, or a checkpoint file.
        overrides: ``key=value`` strings or a dict applied on top of the config.
        dataset: an already loaded ``ImageDataset`` (else loaded from ``config.data``).
    """
    from ganforge.training.trainer import Trainer, check_resume_compatible, new_run_dir

    state = None
    run_dir = None
    if resume is not None:
        found = resolve_resume(resume, out, config.preset if config is not None else None)
        if found is not None:
            run_dir, state = found
            saved = from_dict(json.loads(state["config"]))
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
    if dataset is None:
        from ganforge.data import load_dataset

        dataset = load_dataset(config.data)  # before any directory is made: bad data writes nothing
    fresh = run_dir is None
    if fresh:
        run_dir = new_run_dir(Path(out), config.preset)
    try:
        trainer = Trainer(config, run_dir, resume_state=state, dataset=dataset)
    except BaseException:
        if fresh:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return trainer.train()


def validate_experiment(cfg: Experiment) -> None:
    """Check every choice and range in ``cfg`` up front, so mistakes surface before any work."""
    from ganforge.recipes import RECIPES
    from ganforge.recipes.gan import OPTIMIZERS

    recipe = RECIPES.get(cfg.recipe)
    checks = [
        ("optim.name", cfg.optim.name, OPTIMIZERS),
        ("data.resize", cfg.data.resize, ("crop", "pad", "stretch")),
        ("data.on_bad_image", cfg.data.on_bad_image, ("error", "skip")),
    ]
    for key, value, valid in checks:
        if value not in valid:
            raise GanforgeError(f"unknown {key} {value!r}; valid choices: "
                                + ", ".join("none" if v is None else str(v) for v in valid))
    positive = [("train.batch_size", cfg.train.batch_size), ("train.total_kimg", cfg.train.total_kimg),
                ("train.tick_kimg", cfg.train.tick_kimg), ("train.snapshot_ticks", cfg.train.snapshot_ticks),
                ("train.grid_size", cfg.train.grid_size), ("optim.g_lr", cfg.optim.g_lr), ("optim.d_lr", cfg.optim.d_lr),
                ("train.max_bad_steps", cfg.train.max_bad_steps), ("train.keep_checkpoints", cfg.train.keep_checkpoints)]
    for key, value in positive:
        if not value > 0:
            raise GanforgeError(f"{key} must be > 0, got {value!r}")
    if cfg.metrics.names:
        from ganforge.metrics import EXTRACTORS, parse_metric

        for name in cfg.metrics.names:
            parse_metric(name)
        if cfg.metrics.extractor is not None:
            EXTRACTORS.get(cfg.metrics.extractor)
    if cfg.metrics.interval_kimg is not None and not cfg.metrics.interval_kimg > 0:
        raise GanforgeError(f"metrics.interval_kimg must be > 0 or none, got {cfg.metrics.interval_kimg!r}")
    bad_dev = [d for d in cfg.train.compile if d not in ("cuda", "cpu")]
    if bad_dev:
        raise GanforgeError(f"unknown device type {bad_dev[0]!r} in train.compile; valid choices: cuda, cpu")
    if cfg.train.ema_halflife_kimg is not None and not cfg.train.ema_halflife_kimg > 0:
        raise GanforgeError(f"train.ema_halflife_kimg must be > 0 or none (disabled), got "
                            f"{cfg.train.ema_halflife_kimg!r}")
    recipe.validate_config(cfg)  # the family's own sections


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Load an exported generator (a run directory, a ``.safetensors`` export or its ``model.json``).

    Returns the generator in eval mode with ``.meta`` holding the export's metadata. No pickle is
    involved: weights come from safetensors, the architecture from the registry.
    """
    from ganforge.config import family_sections
    from ganforge.recipes import RECIPES
    from ganforge.training.checkpoint import read_export

    meta, tensors = read_export(Path(path))
    if meta.get("format") != "ganforge-generator":
        raise GanforgeError(f"{str(path)!r} is not a ganforge generator export (format={meta.get('format')!r})")
    try:
        recipe = meta.get("recipe", "gan")
        mcfg = family_sections(recipe)["model"](**meta["model"])
        G = RECIPES.get(recipe).build_generator(mcfg, resolution=int(meta["resolution"]),
                                                channels=int(meta["channels"]),
                                                num_classes=int(meta["num_classes"]))
        G.load_state_dict(tensors, strict=True)
    except (KeyError, TypeError, RuntimeError) as e:
        raise GanforgeError(f"model {str(path)!r} does not match its metadata: {type(e).__name__}: {e}") from None
    G.meta = meta
    return G.to(device).eval().requires_grad_(False)
