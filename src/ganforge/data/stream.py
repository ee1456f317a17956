"""Data that does not fit on the device: a folder or zip read from disk batch by batch.

A folder or zip archive whose decoded pixels would exceed ``data.device_cache_max_bytes``
(``data.stream=auto``), or any with ``data.stream=always``, is not decoded into one tensor. The
pre-flight scan still checks every file (and hashes the decoded, resized pixels in file order, for the
dataset's content hash), and the dataset's ``images_u8`` is a ``StreamedImages``: it has the shape,
dtype and indexing of a uint8 ``[N, C, R, R]`` tensor, but ``images_u8[idx]`` reads and decodes those
images when asked (a thread pool in the calling process). Metrics and grids use it as they use a
tensor; ``StreamedImages.take(idx)`` selects rows without reading them, so the reference images of a
metric are read one batch at a time.

Training reads through ``StreamLoader``: a ``torch.utils.data.DataLoader`` whose worker processes decode
whole batches (``data.workers`` processes, ``data.prefetch`` batches ahead each), into pinned memory
when training on CUDA, in the order the sampler gives. It hands over plain data, a ``StreamedBatch`` of
the sampled indices and their uint8 images; the trainer's feed (``ganforge.training.feed.StreamFeed``)
makes the training batch of it. The sampler that is saved in checkpoints counts only the batches
``next`` has *handed over*; the loader runs on a copy of it, ahead. So a resumed run reads exactly the
batches the uninterrupted one would, however far the workers had read ahead.

Every read goes through the same bounded reader as the scan (``inspect_file``: size, pixel and format
limits), so a file that changed after the scan is refused by name, never decoded without limits.
"""

from __future__ import annotations

import hashlib
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Iterator, NamedTuple

import numpy as np
import torch

from ganforge.data.base import hash_labels
from ganforge.data.folder import ImageSource, resize_array, to_channels
from ganforge.data.memory import ensure_fits
from ganforge.data.sampler import InfiniteSampler
from ganforge.data.scan import inspect_file, max_in_flight, pil_limits
from ganforge.errors import GanforgeError

_HASH_TAG = b"ganforge-dataset-stream-v1\n"


@dataclass(frozen=True)
class StreamSpec:
    """Everything needed to read image ``i`` of a streamed dataset, in any process (picklable)."""

    path: str
    rels: tuple[str, ...]  # the usable images, in dataset order
    resolution: int
    resize: str | None  # None: native size (every image is resolution x resolution already)
    channels: int  # 1 or 3: every image is brought to this
    max_file_bytes: int
    max_pixels: int


def default_workers() -> int:
    """Decoding processes when ``data.workers`` is none: one per core, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


class ImageReader:
    """Reads and decodes images of a ``StreamSpec``; opens the folder / archive lazily, once per process."""

    def __init__(self, spec: StreamSpec):
        self.spec = spec
        self._src: Any = None
        self._pid = -1

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"])

    def _source(self):
        if self._src is None or self._pid != os.getpid():  # a forked worker opens its own zip handle
            self._src, self._pid = ImageSource(self.spec.path), os.getpid()
        return self._src

    def _transform(self, arr: np.ndarray) -> np.ndarray:
        s = self.spec
        if s.resize is not None:
            arr = resize_array(arr, s.resolution, s.resize)
        return arr

    def read(self, i: int) -> np.ndarray:
        """Image ``i`` as uint8 ``[C, R, R]``. Call inside ``pil_limits`` (``read_batch`` does)."""
        s = self.spec
        src = self._source()
        rel = s.rels[int(i)]
        res = inspect_file(src, rel, max_pixels=s.max_pixels, max_file_bytes=s.max_file_bytes,
                           transform=self._transform)
        if res.entry is None or res.array is None:
            raise GanforgeError(f"{src.display(rel)}: {res.reason} (it changed after the pre-flight scan; "
                                f"restore it, or start again so the scan sees it)")
        arr = res.array
        if arr.shape[:2] != (s.resolution, s.resolution):
            raise GanforgeError(f"{src.display(rel)} is now {arr.shape[1]}x{arr.shape[0]}, not "
                                f"{s.resolution}x{s.resolution} (it changed after the pre-flight scan)")
        return to_channels(arr, s.channels).transpose(2, 0, 1)

    def read_batch(self, indices, threads: int = 1) -> torch.Tensor:
        """Images ``indices`` as one uint8 ``[B, C, R, R]`` tensor, decoded by ``threads`` threads."""
        s = self.spec
        idx = [int(i) for i in indices]
        out = np.empty((len(idx), s.channels, s.resolution, s.resolution), dtype=np.uint8)

        def one(k: int) -> None:
            out[k] = self.read(idx[k])

        with pil_limits(s.max_pixels):
            if threads > 1 and len(idx) > 1:
                with ThreadPoolExecutor(min(threads, len(idx))) as pool:
                    list(pool.map(one, range(len(idx))))
            else:
                for k in range(len(idx)):
                    one(k)
        return torch.from_numpy(out)


class StreamedImages:
    """A uint8 ``[N, C, R, R]`` image tensor on disk: ``shape``, ``dtype``, ``numel()``, ``len()``, and
    indexing that reads and decodes the selected images into a real tensor. ``take(idx)`` selects rows
    without reading them (a view; index it or slice it to read)."""

    dtype = torch.uint8

    def __init__(self, reader: ImageReader, rows: np.ndarray | None = None):
        self.reader = reader
        self.rows = np.arange(len(reader.spec.rels), dtype=np.int64) if rows is None else rows

    @property
    def shape(self) -> torch.Size:
        s = self.reader.spec
        return torch.Size((len(self.rows), s.channels, s.resolution, s.resolution))

    def __len__(self) -> int:
        return len(self.rows)

    def dim(self) -> int:
        return 4

    def numel(self) -> int:
        return int(np.prod(self.shape))

    def _select(self, key) -> np.ndarray:
        if isinstance(key, slice):
            return self.rows[key]
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        return self.rows[np.asarray(key, dtype=np.int64)]

    def take(self, key) -> "StreamedImages":
        """The rows ``key`` (indices or a slice), not read yet."""
        return StreamedImages(self.reader, self._select(key))

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, (int, np.integer)):
            return self.reader.read_batch([self.rows[int(key)]])[0]
        return self.reader.read_batch(self._select(key), threads=max_in_flight() // 2)


def take_rows(images, idx):
    """``images[idx]`` for a tensor; the unread rows for ``StreamedImages`` (read later, batch by batch)."""
    return images.take(idx) if isinstance(images, StreamedImages) else images[idx]


class PixelHasher:
    """Hashes the decoded (resized) pixels of a streamed dataset in file order, image by image, for its
    content hash; the channels are not yet known then (gray and color images may mix), so each image is
    hashed with its own shape and the final channel count goes into ``digest``."""

    def __init__(self) -> None:
        self._h = hashlib.sha256(_HASH_TAG)

    def __call__(self, _entry, arr: np.ndarray) -> None:
        self._h.update(("x".join(str(int(d)) for d in arr.shape) + "\n").encode())
        self._h.update(np.ascontiguousarray(arr))

    def digest(self, shape: tuple[int, ...], labels: torch.Tensor | None, spec_note: str) -> str:
        h = self._h.copy()
        h.update(("shape=" + ",".join(str(int(d)) for d in shape) + f"\n{spec_note}\n").encode())
        hash_labels(h, labels)
        return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# The loader training reads through


class _Batches(torch.utils.data.Dataset):
    """Map-style dataset whose keys are whole batches of indices (the loader's ``batch_size`` is None)."""

    def __init__(self, reader: ImageReader):
        self.reader = reader

    def __len__(self) -> int:  # not used for sampling (the sampler is infinite); DataLoader asks for it
        return len(self.reader.spec.rels)

    def __getitem__(self, key: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor | str]:
        """(indices, images), or (indices, the message) when a file cannot be read: the training process
        raises it as one clean error (an exception raised in a worker would arrive wrapped in its
        traceback)."""
        try:
            images: torch.Tensor | str = self.reader.read_batch(key)
        except GanforgeError as e:
            images = str(e)
        return torch.tensor(key, dtype=torch.int64), images


class _AheadIndices(torch.utils.data.Sampler):
    """Batches of indices from a copy of the feed's sampler, forever (the loader's prefetch reads ahead)."""

    def __init__(self, sampler, batch_size: int):
        self.sampler, self.batch_size = sampler, batch_size

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        while True:
            yield tuple(self.sampler.next(self.batch_size).tolist())


def is_dead_worker(e: BaseException) -> bool:
    """Whether ``e`` is torch's report of a DataLoader worker that died. Its SIGCHLD handler raises it
    wherever the main process happens to be, so the CLI recognises it too, not only ``StreamFeed``."""
    return isinstance(e, RuntimeError) and "DataLoader worker" in str(e)


def data_worker_error(e: BaseException, workers: int | None = None, prefetch: int | None = None) -> GanforgeError:
    """The one error for reading streamed data that stopped (a worker killed for lack of memory, mostly)."""
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    now = (lambda v: f" (now {v})" if v is not None else "")
    return GanforgeError(f"reading the streamed data stopped ({type(e).__name__}: {first}); if a data worker "
                         f"process was killed for lack of memory, lower data.workers{now(workers)} or "
                         f"data.prefetch{now(prefetch)}; continue with --resume")


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)
    # Ctrl-C and SIGTERM reach the whole process group (a terminal, `timeout`, systemd and batch
    # schedulers signal every process of the job). A worker that died of them would end training as a
    # dead worker before the main process could finish its step and checkpoint; the workers ignore
    # them and end when the main process shuts the loader down (or, if it dies, when they see it gone).
    for name in ("SIGINT", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


class StreamedBatch(NamedTuple):
    """One batch a ``StreamLoader`` hands over: ``indices`` int64 ``[B]`` (the sampler's, CPU), and
    ``images_u8`` uint8 ``[B, C, R, R]`` on the host (pinned when the loader pins memory)."""

    indices: torch.Tensor
    images_u8: torch.Tensor


class StreamLoader:
    """Batches of a streamed image dataset read by worker processes, in the order of a resumable sampler
    (see the module docstring); the same indices, in the same order, as a sampler over the dataset in
    memory with the same ``seed``, ``rank`` and ``world_size``.

    Args:
        reader: the dataset's reader (``StreamedImages.reader``).
        num_items: the number of images sampled (the dataset's length).
        seed, rank, world_size: the sampler's (``ganforge.data.sampler.InfiniteSampler``).
        workers: decoding processes (0: in this process); None for ``default_workers()``.
        prefetch: batches each worker reads ahead.
        pin_memory: read into pinned host memory (for a CUDA device).
    """

    def __init__(self, reader: ImageReader, num_items: int, *, seed: int, rank: int, world_size: int,
                 workers: int | None, prefetch: int, pin_memory: bool):
        self.reader = reader
        self._new_sampler = partial(InfiniteSampler, num_items, seed=seed, rank=rank, world_size=world_size)
        self.sampler = self._new_sampler()
        self.workers = default_workers() if workers is None else int(workers)
        self.prefetch = int(prefetch)
        self.pin_memory = pin_memory
        self._it: Iterator | None = None
        self._batch_size: int | None = None

    def read_ahead_bytes(self, batch_size: int) -> int:
        """Host memory the loader holds at most: every worker's ``prefetch`` batches (pinned when training
        on CUDA) and the batch being handed over."""
        s = self.reader.spec
        batches = max(1, self.workers) * (self.prefetch if self.workers > 0 else 1) + 1
        return batches * batch_size * s.channels * s.resolution * s.resolution

    def _start(self, batch_size: int) -> None:
        s = self.reader.spec
        ensure_fits(self.read_ahead_bytes(batch_size),
                    f"reading ahead {self.prefetch} batch(es) of {batch_size} images of {s.channels} x {s.resolution} x "
                    f"{s.resolution} in each of {self.workers} data worker process(es)",
                    "lower data.workers or data.prefetch (or train.batch_size, or data.resolution)")
        ahead = self._new_sampler()
        ahead.load_state_dict(self.sampler.state_dict())
        loader = torch.utils.data.DataLoader(
            _Batches(self.reader), batch_size=None, sampler=_AheadIndices(ahead, batch_size),
            num_workers=self.workers, pin_memory=self.pin_memory,
            prefetch_factor=self.prefetch if self.workers > 0 else None,
            worker_init_fn=_worker_init if self.workers > 0 else None,
            # The loader draws its workers' base seed when it starts; from its own generator, not the
            # global one, so a loader started again (after a resume or an interrupt) leaves the global
            # RNG where a run left alone has it. Reading draws nothing, so the seed does not matter.
            generator=torch.Generator().manual_seed(0),
        )
        self._it, self._batch_size = iter(loader), batch_size

    def next(self, batch_size: int) -> StreamedBatch:
        """The next batch of ``batch_size`` (this rank's share of it with several ranks)."""
        if self._it is None or batch_size != self._batch_size:
            self.close()
            self._start(batch_size)
        assert self._it is not None
        try:
            got, imgs = next(self._it)
        except BaseException as e:
            # Ctrl-C / SIGTERM usually lands here, in the wait for the workers: the saved position has
            # not moved, and the loader (which may have half-taken a batch) is started afresh from it.
            self.close()
            # A worker that died (the OOM killer's SIGKILL) shows as torch's RuntimeError or as its pipe's
            # ConnectionResetError / EOFError; an OSError here is a read, never a failed write of ours.
            if isinstance(e, (OSError, EOFError)) or is_dead_worker(e):
                raise data_worker_error(e, self.workers, self.prefetch) from None
            raise
        idx = self.sampler.next(batch_size)  # the position moves once the batch is here
        if isinstance(imgs, str):
            self.close()
            raise GanforgeError(imgs)
        if not torch.equal(got, idx):  # cannot happen unless the loader reorders; never train on the wrong batch
            raise RuntimeError("streamed batch out of order")
        return StreamedBatch(idx, imgs)

    def close(self) -> None:
        """Stop the worker processes (a new ``next`` starts them again)."""
        it, self._it = self._it, None
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()

    def state_dict(self) -> dict[str, Any]:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.close()
        self.sampler.load_state_dict(state)
