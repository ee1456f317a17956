"""Every dataset declares its kind; code outside the data layer asks it (``is_translation``), never probes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import DataConfig, Experiment, TrainConfig
from ganforge.data import (
    IMAGES,
    TRANSLATION,
    ImageData,
    ImageDataset,
    TranslationData,
    TranslationDataset,
    is_translation,
    load_dataset,
)
from ganforge.data.base import content_hash
from ganforge.training.feed import ImageFeed, StreamFeed, TranslationFeed, make_feed


def _images(root: Path, n: int = 4) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((8, 8, 3), 50 * i, np.uint8)).save(root / f"{i}.png")
    return root


def _pairs(root: Path, n: int = 3) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((8, 16), 60 * i, np.uint8)).save(root / f"{i}.png")  # A|B side by side
    return root


def _domains(root: Path) -> Path:
    _images(root / "trainA", 3)
    _images(root / "trainB", 5)
    return root


def _exp(**data) -> Experiment:
    return Experiment(data=DataConfig(**data), train=TrainConfig(seed=0))


def test_an_image_dataset_declares_images(tmp_path):
    mem = load_dataset(DataConfig(name=str(_images(tmp_path / "d")), resolution=8))
    streamed = load_dataset(DataConfig(name=str(tmp_path / "d"), resolution=8, stream="always"))
    for ds in (mem, streamed):
        assert type(ds) is ImageDataset and ds.kind == IMAGES == "images" and not is_translation(ds)
        assert isinstance(ds, ImageData) and not isinstance(ds, TranslationData)
    assert not mem.streamed and streamed.streamed
    assert "kind" not in {f.name for f in dataclasses.fields(ImageDataset)}  # a class attribute


@pytest.mark.parametrize("layout", ["aligned", "unpaired"])
def test_a_translation_dataset_declares_translation(tmp_path, layout):
    root = _pairs(tmp_path / "p") if layout == "aligned" else _domains(tmp_path / "p")
    ds = load_dataset(DataConfig(name=str(root), resolution=8, pairing=layout))
    assert type(ds) is TranslationDataset and ds.kind == TRANSLATION == "translation" and is_translation(ds)
    assert isinstance(ds, TranslationData) and isinstance(ds, ImageData)  # B, as an image dataset
    assert ds.paired == (layout == "aligned") and not ds.streamed
    assert ds.labels is None and ds.num_classes == 0 and ds.channels_a in (1, 3)
    for which in ("A", "B"):
        dom = ds.domain(which)
        assert dom.kind == IMAGES and not is_translation(dom)


def test_the_feed_follows_the_declared_kind(tmp_path):
    cpu = torch.device("cpu")
    mem = load_dataset(DataConfig(name=str(_images(tmp_path / "d")), resolution=8))
    streamed = load_dataset(DataConfig(name=str(tmp_path / "d"), resolution=8, stream="always"))
    pairs = load_dataset(DataConfig(name=str(_pairs(tmp_path / "p")), resolution=8, pairing="aligned"))
    assert type(make_feed(mem, _exp(), cpu, 0, 1)) is ImageFeed
    feed = make_feed(streamed, _exp(workers=0), cpu, 0, 1)
    assert type(feed) is StreamFeed
    feed.close()
    assert type(make_feed(pairs, _exp(), cpu, 0, 1)) is TranslationFeed


def test_the_kind_decides_not_the_attributes_a_dataset_happens_to_have():
    x = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    ds = ImageDataset(x, None, (), "images", content_hash(x, None))
    ds.a_u8 = x  # what make_feed and data convert once probed for
    assert not is_translation(ds)
    batch = make_feed(ds, _exp(), torch.device("cpu"), 0, 1).next(2)
    assert batch.src is None and batch.real_img.shape == (2, 1, 8, 8)

