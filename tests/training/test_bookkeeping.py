"""The run directory's record survives a crash: after a resume from a checkpoint older than the last
tick, every tick is recorded once, the abandoned stretch is set aside in ``superseded/`` (never
overwritten or lost), output names never collide, and ``report`` overwrites nothing unasked."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.config import apply_overrides
from ganforge.metrics import EXTRACTORS
from ganforge.metrics.extractors import TorchExtractor
from ganforge.training import bookkeeping as bk
from ganforge.training import checkpoint as ckpt
from ganforge.training.report import progress_gif
from ganforge.training.trainer import Trainer


class _Pool4(TorchExtractor):
    """A feature extractor that costs nothing, so metrics can run at every tick of a test."""

    name = "test-pool4"
    feature_dim = 16
    num_logits = 0
    resize = "adaptive average pool to 4x4"

    @property
    def weights_hash(self):
        return "0" * 16

    def _load(self):
        return torch.nn.Identity()

    def _forward(self, net, x):
        return torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1) / 255, None


if "test-pool4" not in EXTRACTORS:
    EXTRACTORS.add("test-pool4", _Pool4)


def one_step_ticks(total_steps: int, **over):
    """dcgan-tiny (batch 8) with a tick after every step: tick k ends at 0.008*k kimg."""
    overrides = {"train.total_kimg": total_steps * 0.008, "train.tick_kimg": 0.008, "train.progress": False}
    overrides.update(over)
    return apply_overrides(ganforge.get_preset("dcgan-tiny"), overrides)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def tick_kimgs(run_dir: Path) -> list[float]:
    return [r["kimg"] for r in rows(run_dir / "stats.jsonl") if "warning" not in r]


def kimgs(n: int) -> list[float]:
    return [round(0.008 * k, 3) for k in range(1, n + 1)]


def test_sub_kimg_ticks_write_distinct_grids_and_exports(tmp_path, tiny_dataset):
    r = ganforge.train(one_step_ticks(4), out=tmp_path, dataset=tiny_dataset)
    grids = [p.name for p in bk.sample_grids(r.run_dir)]
    assert grids == ["fakes000000.png", "fakes000000.008.png", "fakes000000.016.png", "fakes000000.024.png",
                     "fakes000000.032.png"]
    exports = [p.name for p in bk.export_files(r.run_dir)]
    assert Counter(Path(e).suffix for e in exports) == {".safetensors": 4, ".json": 4}
    meta = json.loads((r.run_dir / "exports" / "generator-000000.024kimg.json").read_text())
    assert meta["kimg"] == 0.024


def test_names_keep_whole_kimg_and_parse_back():
    assert bk.sample_name(140_000) == "fakes000140.png"
    assert bk.export_stem(140_000) == "generator-000140kimg"
    assert bk.sample_name(512) == "fakes000000.512.png"
    assert bk.export_stem(1_200) == "generator-000001.200kimg"
    for n in (0, 8, 512, 1000, 1_200, 140_000, 140_512, 12_345_678_901):
        assert bk.nimg_of(bk.sample_name(n)) == n
        assert bk.nimg_of(bk.export_stem(n) + ".safetensors") == n
    assert bk.nimg_of("fakes000000.5.png") is None and bk.nimg_of("reals.png") is None


def _solid(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), value).save(path)


def test_report_orders_frames_by_image_count(tmp_path):
    # In string order fakes000001.200.png comes before fakes000001.png.
    order = [0, 512, 1_000, 1_200, 2_000]
    for i, n in enumerate(order):
        _solid(tmp_path / "samples" / bk.sample_name(n), 40 * (i + 1))
    assert sorted(bk.sample_name(n) for n in order) != [bk.sample_name(n) for n in order]
    gif = Image.open(progress_gif(tmp_path))
    seen = []
    for i in range(gif.n_frames):
        gif.seek(i)
        seen.append(gif.convert("L").getpixel((0, 0)))
    assert seen == [40, 80, 120, 160, 200]
