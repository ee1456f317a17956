"""Real batches for the trainer: the dataset on the device, resumable samplers, uint8 -> [-1, 1].

The data layer hands over plain uint8 images (and labels); the ``Batch`` a training step consumes is
made here, the same way for every source. A streamed folder / zip (``ds.streamed``, ``data.stream``) is
served by ``StreamFeed``: worker processes read it from disk (``ganforge.data.stream.StreamLoader``),
with the same batches in the same order.

``ImageFeed`` serves an image dataset (images and optional labels, one sampler). ``TranslationFeed``
serves a translation dataset (``ganforge.data.translation``): one sampler over pairs for paired data,
so ``src[i]`` is the partner of ``real_img[i]``, or one sampler per domain for unpaired data (seeded
differently, so the two orders are independent). Either way a feed's state is its samplers' positions,
saved in every checkpoint, so a resumed run draws exactly the batches the uninterrupted one would.
"""

from __future__ import annotations

from typing import Any

import torch

from ganforge.config import Experiment
from ganforge.data import is_translation
from ganforge.data.sampler import InfiniteSampler
from ganforge.data.stream import StreamLoader
from ganforge.training.batch import Batch


def _to_float(img_u8: torch.Tensor, device: torch.device) -> torch.Tensor:
    return img_u8.to(device, non_blocking=True).to(torch.float32) / 127.5 - 1


def _storage_device(num_bytes: int, cfg: Experiment, device: torch.device) -> torch.device:
    """The training device when the data fits under ``data.device_cache_max_bytes``, else the host."""
    return device if num_bytes <= cfg.data.device_cache_max_bytes else torch.device("cpu")


class ImageFeed:
    def __init__(self, ds: Any, cfg: Experiment, device: torch.device, rank: int, world_size: int):
        self.device = device
        data_dev = _storage_device(ds.images_u8.numel(), cfg, device)
        self.images_u8 = ds.images_u8.to(data_dev)
        self.labels = ds.labels.to(data_dev) if (ds.labels is not None and cfg.data.use_labels) else None
        self.sampler = InfiniteSampler(len(ds), seed=cfg.train.seed, rank=rank, world_size=world_size,
                                       device=data_dev)

    def next(self, batch_size: int) -> Batch:
        idx = self.sampler.next(batch_size)
        c = self.labels[idx].to(self.device, non_blocking=True) if self.labels is not None else None
        return Batch(_to_float(self.images_u8[idx], self.device), c)

    def state_dict(self) -> dict[str, Any]:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state)

    def close(self) -> None:
        """Nothing to stop (a streamed feed stops its worker processes here)."""


class StreamFeed:
    """Training batches of a streamed image dataset: the same interface and the same batches as ``ImageFeed``
    on the same dataset in memory. Its state is the loader's sampler position (what training has taken,
    not what the workers read ahead)."""

    def __init__(self, ds: Any, cfg: Experiment, device: torch.device, rank: int, world_size: int):
        self.device = device
        self.labels = ds.labels if (ds.labels is not None and cfg.data.use_labels) else None
        self.loader = StreamLoader(ds.images_u8.reader, len(ds), seed=cfg.train.seed, rank=rank,
                                   world_size=world_size, workers=cfg.data.workers, prefetch=cfg.data.prefetch,
                                   pin_memory=device.type == "cuda")
        self.workers = self.loader.workers  # the trainer reports it (the in-memory feeds have no workers)

    def next(self, batch_size: int) -> Batch:
        got = self.loader.next(batch_size)
        c = self.labels[got.indices].to(self.device, non_blocking=True) if self.labels is not None else None
        return Batch(_to_float(got.images_u8, self.device), c)

    def state_dict(self) -> dict[str, Any]:
        return self.loader.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.loader.load_state_dict(state)

    def close(self) -> None:
        """Stop the loader's worker processes (a new ``next`` starts them again)."""
        self.loader.close()


class TranslationFeed:
    def __init__(self, ds: Any, cfg: Experiment, device: torch.device, rank: int, world_size: int):
        self.device, self.paired = device, bool(ds.paired)
        data_dev = _storage_device(ds.a_u8.numel() + ds.b_u8.numel(), cfg, device)
        self.a_u8, self.b_u8 = ds.a_u8.to(data_dev), ds.b_u8.to(data_dev)
        seed = cfg.train.seed

        def sampler(n: int, s: int) -> InfiniteSampler:
            return InfiniteSampler(n, seed=s, rank=rank, world_size=world_size, device=data_dev)

        self.samplers = {"b": sampler(len(self.b_u8), seed)}
        if not self.paired:
            self.samplers["a"] = sampler(len(self.a_u8), seed + 1)

    def next(self, batch_size: int) -> Batch:
        ib = self.samplers["b"].next(batch_size)
        ia = ib if self.paired else self.samplers["a"].next(batch_size)
        return Batch(_to_float(self.b_u8[ib], self.device), None, src=_to_float(self.a_u8[ia], self.device))

    def state_dict(self) -> dict[str, Any]:
        return {k: s.state_dict() for k, s in self.samplers.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, s in self.samplers.items():
            s.load_state_dict(state[k])

    def close(self) -> None:
        """Nothing to stop."""


def make_feed(ds: Any, cfg: Experiment, device: torch.device, rank: int, world_size: int):
    """The feed for ``ds``, by the kind it declares: a translation dataset, or an image dataset in memory or
    streamed from disk."""
    if is_translation(ds):
        cls = TranslationFeed
    else:
        cls = StreamFeed if ds.streamed else ImageFeed
    return cls(ds, cfg, device, rank, world_size)
