"""Several processes on torch.distributed: set-up from torchrun's environment, and the few collectives
the trainer and ``ganforge.train`` need.

A run is data-parallel: every process (rank) holds the same networks, takes its slice of each global
batch, and the gradients are averaged in one collective per phase (``Trainer._reduce_gradients``), so
the weights stay identical. Random draws that belong to samples (latents, labels, penalty weights) are
drawn for the whole global batch from one stream seeded alike on every rank and sliced
(``Recipe.sample_z``), so N processes compute what one process would at the same global batch;
draws inside the networks (noise inputs, dropout) come from torch's global RNG, seeded per rank.
Rank 0 alone writes (checkpoints, grids, exports, stats, metrics).

Launch: ``torchrun --nproc_per_node=N -m ganforge train ...`` (any torchrun options: several nodes,
``--max-restarts``), or ``ganforge train --nproc N`` on one machine. Backend: NCCL for CUDA devices,
gloo otherwise. Collectives time out after ``GANFORGE_DIST_TIMEOUT`` seconds (default 1800: longer
than a slow metric on rank 0, which the others wait for), so a rank that hangs ends the job with an
error rather than a silent wait; a rank that dies makes torchrun stop the others and report which
rank failed and how.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

import torch
import torch.distributed as dist

from ganforge.errors import GanforgeError

DEFAULT_TIMEOUT_S = 1800.0


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def launched() -> bool:
    """True in a process started by torchrun (or anything that sets WORLD_SIZE > 1)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def timeout_s() -> float:
    text = os.environ.get("GANFORGE_DIST_TIMEOUT", str(DEFAULT_TIMEOUT_S))
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise GanforgeError(f"GANFORGE_DIST_TIMEOUT={text!r}: expected a number of seconds > 0")
    return value


def init_from_env(device_name: str) -> torch.device | None:
    """Join the process group torchrun described in the environment (once); returns the device this
    rank trains on when that is a CUDA device (``cuda:LOCAL_RANK``), else None (use ``train.device``)."""
    if not launched() or (dist.is_available() and dist.is_initialized()):
        return None
    if not dist.is_available():
        raise GanforgeError("this torch build has no torch.distributed; run one process")
    device = local_cuda_device(device_name)
    if device is not None:
        torch.cuda.set_device(device)
    timeout = datetime.timedelta(seconds=timeout_s())
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    global _STORE
    store, _, _ = next(dist.rendezvous("env://", rank, size, timeout=timeout))
    _STORE = attempt_store(store)
    dist.init_process_group(backend="nccl" if device is not None else "gloo", store=_STORE,
                            rank=rank, world_size=size, timeout=timeout)
    return device


# The job's key-value store (torchrun's, under this attempt's prefix), kept for the exit handshake.
_STORE: Any = None
# How long a rank leaving normally waits for the others to have left the last barrier.
_EXIT_WAIT_S = 60.0
# Normal exits of this process so far: keys of one exit cannot be taken for another's.
_EXITS = 0
# Whether this process joined a process group and left it again (the CLI then ends it with os._exit).
_LEFT = False


def attempt_store(store: Any) -> Any:
    """torchrun's store, seen through a prefix of this attempt (``TORCHELASTIC_RESTART_COUNT``).

    After ``--max-restarts`` brings the workers back, the store still holds the connection details of
    the processes that died (the store server outlives them), and the new ranks would read a dead
    peer's address before the live one is written: gloo then fails with "Connection refused" on every
    restart, so a restart could never succeed. Keys of one attempt cannot be confused with another's.
    All ranks of one machine share the count; the nodes of a multi-node job share it when they all
    restarted because of the same failure (a rank that dies breaks every node's collectives)."""
    return dist.PrefixStore(f"ganforge/attempt-{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


def local_cuda_device(device_name: str) -> torch.device | None:
    """``cuda:LOCAL_RANK`` when ``train.device`` (``device_name``) lets a rank take a CUDA device and
    there is one: one GPU per process. None otherwise."""
    if device_name in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return None


def shutdown(wait_for_peers: bool = True) -> None:
    """Leave the process group. With ``wait_for_peers`` (a rank that ended normally, an interrupt
    included) every rank first meets at a barrier: a rank that tore the group down while rank 0 was
    still writing the last checkpoint could abort in gloo's teardown (SIGABRT, seen under load). A rank
    leaving on an error does not wait (its peer may be dead or hung).

    The barrier alone was not enough: a rank may return from it while its peer is still completing its
    own side of it, and tearing the group down then closed the connection under the peer's pending
    operation (gloo aborts the peer: "terminate called without an active exception", seen in about one
    CI run in five). So each rank also says through torchrun's store (not through the group's
    connections) that it has left the barrier, and none tears down before all have."""
    global _STORE, _EXITS, _LEFT
    if dist.is_available() and dist.is_initialized():
        rank, size = world()
        if wait_for_peers and size > 1:
            try:
                dist.barrier()
                if _STORE is not None:
                    _EXITS += 1
                    _STORE.set(f"exit{_EXITS}/{rank}", "1")
                    _STORE.wait([f"exit{_EXITS}/{r}" for r in range(size)], datetime.timedelta(seconds=_EXIT_WAIT_S))
            except Exception:  # noqa: BLE001 - a peer gone meanwhile: leave anyway
                pass
        dist.destroy_process_group()
        _LEFT = True
    _STORE = None


def left_group() -> bool:
    """True once this process has left a process group it joined (``shutdown``)."""
    return _LEFT


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` of rank ``src`` on every rank (pickled by torch; only used for small plain values)."""
    if world()[1] == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if world()[1] == 1:
        return [obj]
    out: list[Any] = [None] * world()[1]
    dist.all_gather_object(out, obj)
    return out


def all_ok(ok: bool, device: torch.device) -> bool:
    """True on every rank when ``ok`` is true on every rank (one tiny all-reduce)."""
    if world()[1] == 1:
        return ok
    flag = torch.tensor([1.0 if ok else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item() > 0.5)


def run_on_rank0(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` on rank 0, its result (or its GanforgeError, raised again) on every
    rank: rank 0 decides (a new run directory, say) and nobody waits forever if it fails."""
    rank, size = world()
    if size == 1:
        return fn(*args, **kwargs)
    result, error = None, None
    if rank == 0:
        try:
            result = fn(*args, **kwargs)
        except GanforgeError as e:
            error = str(e)
    result, error = broadcast_object((result, error))
    if error is not None:
        raise GanforgeError(error)
    return result


_PEER_FAILURE = ("connection reset by peer", "connection closed by peer", "connection refused", "broken pipe",
                 "timed out", "timeout", "nccl communicator was aborted", "socket closed", "eof")


def is_peer_failure(e: BaseException) -> bool:
    """Whether ``e`` is a collective that failed because another rank died, hung or became unreachable
    (gloo's and NCCL's RuntimeErrors, torch's DistError): not a bug of this rank, so no traceback."""
    if isinstance(e, getattr(dist, "DistError", ())):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and any(s in text for s in _PEER_FAILURE) and (
        "gloo" in text or "nccl" in text or "c10d" in text or "pair.cc" in text or "store" in text)


def failed_rank_message(e: BaseException) -> str:
    """One line for a rank that stopped on an error, with the collective timeout that bounds the wait."""
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    why = " (another process of the job stopped or cannot be reached)" if is_peer_failure(e) else ""
    return (f"rank {os.environ.get('RANK', '?')} of {os.environ.get('WORLD_SIZE', '?')} stopped{why}: "
            f"{type(e).__name__}: {first} (a collective waits at most GANFORGE_DIST_TIMEOUT="
            f"{os.environ.get('GANFORGE_DIST_TIMEOUT', DEFAULT_TIMEOUT_S)} s for the other ranks)")
