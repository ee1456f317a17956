"""The training state a checkpoint holds: captured from a trainer, and restored into a fresh one.

Everything a resumed run needs to continue exactly where it stopped: the networks, their EMA copies, the
optimizers, the recipe's own state (e.g. StyleGAN2's path-length mean), ADA's probability, the counters,
every random state (the trainer's generator, torch's CPU/CUDA streams, Python's, one set per rank when
several processes train), the data position, and the identity of the data it was trained on. Only
tensors, numbers, strings and lists: ``torch.load(weights_only=True)`` reads it back.
"""

from __future__ import annotations

import random
import sys
from typing import Any

import torch

from ganforge.config import to_json
from ganforge.version import __version__

FORMAT = "ganforge-train-state"


def rank_state(trainer: Any) -> dict[str, Any]:
    """This process's random states: the trainer's generator, torch's CPU (and CUDA) streams, Python's."""
    rng = {"torch_cpu": torch.get_rng_state(), "trainer": trainer.rng.get_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {"rng": rng, "python_random": list(random.getstate()[1])}


def capture(trainer: Any, ranks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The whole training state of ``trainer``; ``ranks``: every rank's ``rank_state`` (several processes),
    stored so a resume at the same world size continues each rank exactly."""
    own = rank_state(trainer)
    return {
        "format": FORMAT,
        "version": 1,
        "ganforge_version": __version__,
        "config": to_json(trainer.cfg),
        "nets": {k: v.state_dict() for k, v in trainer.recipe.nets.items()},
        "ema": {k: e.ema_net.state_dict() for k, e in trainer.emas.items()},
        "optimizers": {k: o.state_dict() for k, o in trainer.recipe.optimizers.items()},
        "recipe": trainer.recipe.state_dict(),
        "augment": trainer.augment.state_dict() if trainer.augment is not None else None,
        "counters": {"cur_nimg": trainer.cur_nimg, "step": trainer.step, "bad_steps_total": trainer.bad_steps_total},
        "rng": own["rng"],
        "python_random": own["python_random"],
        "sampler": trainer.feed.state_dict(),
        "rng_ranks": ranks,
        "dataset": dataset_identity(trainer.dataset, trainer.feed),
    }


def dataset_identity(dataset: Any, feed: Any) -> dict[str, Any]:
    """What a resume compares to see that the data changed (streamed and in-memory hashes of the same
    pixels differ, so only hashes of one kind are compared)."""
    return {"content_hash": str(getattr(dataset, "content_hash", "")),
            "streamed": getattr(feed, "workers", None) is not None, "images": len(dataset)}


def dataset_change(saved: Any, now: dict[str, Any], data_name: str) -> str | None:
    """The warning to give when the data differs from the data the checkpoint was trained on."""
    if not isinstance(saved, dict) or not saved.get("content_hash"):
        return None  # a checkpoint from before ganforge recorded it
    if saved.get("streamed") != now["streamed"] or saved["content_hash"] == now["content_hash"]:
        return None
    return (f"the training data changed since the checkpoint: content hash {saved['content_hash'][:16]} "
            f"({saved.get('images')} images) then, {now['content_hash'][:16]} ({now['images']} images) now "
            f"({data_name}); training goes on with the data as it is now, so this run is no longer the run it was")


def restore(trainer: Any, state: dict[str, Any]) -> str | None:
    """Load ``state`` into ``trainer`` (built from the same config). Returns the warning to give when the
    data changed since the checkpoint, else None."""
    for k, sd in state["nets"].items():
        trainer.recipe.nets[k].load_state_dict(sd)
    for k, sd in state["ema"].items():
        if k in trainer.emas:
            trainer.emas[k].ema_net.load_state_dict(sd)
    for k, sd in state["optimizers"].items():
        opt = trainer.recipe.optimizers[k]
        opt.load_state_dict(sd)
        for group in opt.param_groups:  # a graphed run saves capturable=True; eager steps need not
            group["capturable"] = False
    trainer.recipe.load_state_dict(state.get("recipe", {}))
    if trainer.augment is not None and state.get("augment") is not None:
        trainer.augment.load_state_dict(state["augment"])
    c = state["counters"]
    trainer.cur_nimg, trainer.step = int(c["cur_nimg"]), int(c["step"])
    trainer.bad_steps_total = int(c["bad_steps_total"])
    rng, pr = state["rng"], state.get("python_random")
    ranks = state.get("rng_ranks")
    if trainer.world_size > 1 or ranks:
        if ranks and len(ranks) == trainer.world_size:
            rng, pr = ranks[trainer.rank]["rng"], ranks[trainer.rank]["python_random"]
        else:  # another world size: weights, optimizers, data position and the shared stream carry on
            rng = {"trainer": state["rng"]["trainer"]}
            pr = None
            if trainer.is_main:
                print(f"ganforge: resuming {len(ranks) if ranks else 1}-process training with "
                      f"{trainer.world_size} processes: it continues, but not bit for bit (per-rank "
                      f"random states cannot be carried over)", file=sys.stderr)
    if "torch_cpu" in rng:
        torch.set_rng_state(rng["torch_cpu"])
    trainer.rng.set_state(rng["trainer"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    if pr is not None:
        random.setstate((3, tuple(int(x) for x in pr), None))
    trainer.feed.load_state_dict(state["sampler"])
    return dataset_change(state.get("dataset"), dataset_identity(trainer.dataset, trainer.feed), trainer.cfg.data.name)
