"""Metrics computed by every process of a group together: each generates and embeds its share of the
batches, and all receive every batch's result, in batch order.

The work of a metric (generating images, passing them and the reference images through a feature
network) is split at batch granularity: batch ``i`` of ``B`` is computed by rank ``i mod world``,
and the results are gathered in order. A batch is the same batch whichever rank computes it (its
latents come from one up-front draw, its noise from a seed of its own), so N processes give the
numbers one process gives, bit for bit on the same kind of device. Everything after the features
(statistics, square roots, KID's subsets, precision/recall's neighbours) runs on every rank, so every
rank returns the same values and no rank ever takes a different path through the code (which would
deadlock). A batch that fails on one rank (out of memory, say) fails the metric on every rank, with
that rank's error, at the same collective: the others do not wait for a partner that is gone.

``Shard(False)`` (or outside a process group) is one process doing every batch: the same code path.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from typing import Any, Callable

import torch


class Shard:
    """Which batches this process computes, and the collectives that put the results together."""

    def __init__(self, distributed: bool = False) -> None:
        from ganforge.distributed import world

        self.rank, self.size = world() if distributed else (0, 1)

    @property
    def writes_cache(self) -> bool:
        """Whether this process writes metric cache files: one per machine (local rank 0), so every
        machine of a job that keeps its own cache folder gets one, and nothing is written twice by one."""
        if self.size == 1:
            return True
        try:
            return int(os.environ.get("LOCAL_RANK", self.rank)) == 0
        except ValueError:
            return self.rank == 0

    def map(self, count: int, fn: Callable[[int], Any]) -> list[Any]:
        """``[fn(0), ..., fn(count - 1)]`` on every rank, each rank computing its share.

        Gathered in rounds of one batch per rank: a collective of objects stages every rank's pickled
        share in one buffer (on the GPU under NCCL), so gathering whole shares of generated images at
        once (SWD, MS-SSIM) would need the whole image set N times over on the device."""
        if self.size == 1:
            return [fn(i) for i in range(count)]
        from ganforge.distributed import all_gather_object
        from ganforge.errors import GanforgeError

        out: list[Any] = []
        for start in range(0, count, self.size):  # the same rounds on every rank
            i = start + self.rank
            mine: tuple[str, Any] = ("none", None)
            if i < count:
                try:
                    mine = ("ok", fn(i))
                except Exception as e:  # noqa: BLE001 - every rank must hear of it, or they wait forever
                    mine = ("error", f"{type(e).__name__}: {e}" if not isinstance(e, GanforgeError) else str(e))
            parts = all_gather_object(mine)
            for rank, (kind, value) in enumerate(parts):
                if kind == "error":
                    raise GanforgeError(f"a metric batch failed on rank {rank} of {self.size}: {value}")
            out.extend(value for kind, value in parts if kind == "ok")
        return out

    def all(self, ok: bool) -> bool:
        """True on every rank when ``ok`` is true on every rank (a cache every rank has, say)."""
        if self.size == 1:
            return ok
        from ganforge.distributed import all_gather_object

        return all(all_gather_object(bool(ok)))


def batch_seed(seed: int, label: int | None, index: int) -> int:
    """The seed of the random draws inside the generator (noise inputs) for one batch of a metric."""
    digest = hashlib.sha256(f"ganforge-metric-batch/{seed}/{label}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


@contextlib.contextmanager
def seeded_forward(seed: int, device: Any):
    """Run a generator's forward pass with torch's global RNG seeded by ``seed``, and restore it after:
    draws inside the network (StyleGAN's noise) then depend on the batch alone, not on which process
    computes it or what ran before."""
    dev = torch.device(device)
    devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)
        if devices:
            with torch.cuda.device(devices[0]):
                torch.cuda.manual_seed(seed)
        yield
