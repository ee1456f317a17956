"""Training helpers shared by several test files: tiny configurations, quiet trainers, final checkpoints
and the comparison of two training states."""

from __future__ import annotations

from pathlib import Path

import torch

from ganforge.config import apply_overrides
from ganforge.presets import get_preset
from ganforge.training import checkpoint as ckpt

DIFFAUGMENT = {"augment.kind": "diffaugment", "augment.policy": "color,translation,cutout"}


def tiny_cfg(name="dcgan-tiny", steps=4, **over):
    cfg = get_preset(name)
    batch = cfg.train.batch_size
    overrides = {"train.total_kimg": steps * batch / 1000, "train.tick_kimg": 2 * batch / 1000}
    overrides.update(over)
    return apply_overrides(cfg, overrides)


def quiet_trainer(run_dir: Path, preset: str, dataset, **over):
    """A ``Trainer`` of ``preset`` (with ``over``) on ``dataset`` in a new ``run_dir``: no progress bar, no
    metrics."""
    from ganforge.training.trainer import Trainer

    cfg = apply_overrides(get_preset(preset), {"train.progress": False, "metrics.names": "", **over})
    run_dir.mkdir(parents=True, exist_ok=True)
    return Trainer(cfg, run_dir, dataset=dataset)


def final_state(run_dir: Path) -> dict:
    path, state = ckpt.load_latest_checkpoint(run_dir)
    return state


def assert_states_equal(a: dict, b: dict):
    """Two training checkpoints hold the same state: networks, EMA, optimizers, recipe state (e.g. a
    path-length mean or a growth stage), every RNG, counters and the sampler position."""
    for group in ("nets", "ema", "optimizers", "recipe", "rng"):
        fa, fb = _flatten(a[group]), _flatten(b[group])
        assert fa.keys() == fb.keys(), group
        for k in fa:
            if isinstance(fa[k], torch.Tensor):
                assert torch.equal(fa[k], fb[k]), f"{group}/{k} differs"
            else:
                assert fa[k] == fb[k], f"{group}/{k} differs"
    assert a["counters"] == b["counters"]
    assert a["sampler"] == b["sampler"]
    assert a.get("augment") == b.get("augment")  # ADA's p and its running sums


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        elif isinstance(v, (list, tuple)):
            out.update(_flatten(dict(enumerate(v)), f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def random_image_folder(path, n=48, res=16):
    """``n`` random grayscale PNGs of ``res`` px in a new folder ``path`` (the ``image_folder`` fixture of
    tests/conftest.py holds class sub-folders of blobs instead)."""
    import numpy as np
    from PIL import Image

    path.mkdir()
    g = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(g.integers(0, 256, (res, res), dtype=np.uint8)).save(path / f"{i:03d}.png")
    return path
