"""Infinite, resumable, rank-aware index sampler.

Indices come from one random permutation per epoch, drawn from a seeded CPU generator so the order is
the same on every device and rank. The sampler's whole state is the number of indices consumed
(``position``), so a resumed run continues the same sequence exactly. With several ranks each global
batch is split into contiguous per-rank slices, so ranks never see the same image in a step.
"""

from __future__ import annotations

import torch


class InfiniteSampler:
    """Yield batches of dataset indices forever.

    Args:
        num_items: dataset size N.
        seed: seed of the permutation stream.
        rank, world_size: this process's slice of each global batch.
        shuffle: False gives 0, 1, ..., N-1 repeated (useful for tests).
        device: where the index tensors are returned (the device the dataset lives on).
    """

    def __init__(self, num_items: int, seed: int = 0, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True, device: torch.device | str = "cpu"):
        if num_items <= 0:
            raise ValueError("sampler needs a non-empty dataset")
        self.num_items, self.seed, self.shuffle = num_items, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.device = torch.device(device)
        self.position = 0  # global indices consumed so far, all ranks together
        self._epoch = -1
        self._perm: torch.Tensor | None = None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            if self.shuffle:
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                perm = torch.randperm(self.num_items, generator=g)
            else:
                perm = torch.arange(self.num_items)
            self._perm, self._epoch = perm.to(self.device), epoch
        assert self._perm is not None
        return self._perm

    def next(self, global_batch: int) -> torch.Tensor:
        """Indices [global_batch // world_size] for this rank; advances the shared position."""
        assert global_batch % self.world_size == 0, "global batch must divide by world size"
        local = global_batch // self.world_size
        start = self.position + self.rank * local
        pieces, need = [], local
        while need > 0:
            epoch, offset = divmod(start, self.num_items)
            take = min(need, self.num_items - offset)
            pieces.append(self._permutation(epoch)[offset:offset + take])
            start += take
            need -= take
        self.position += global_batch
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces)

    def state_dict(self) -> dict[str, int]:
        return {"position": self.position, "seed": self.seed, "num_items": self.num_items}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if int(state["num_items"]) != self.num_items:
            raise ValueError(f"sampler state is for {state['num_items']} items, dataset has {self.num_items}")
        self.position, self.seed = int(state["position"]), int(state["seed"])
        self._epoch = -1
