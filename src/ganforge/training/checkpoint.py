"""Training checkpoints and generator exports, written atomically and loaded without pickle.

A training checkpoint is one ``torch.save`` file holding only tensors, numbers, strings, lists and
dicts (state_dicts, RNG states, counters, the config as JSON text); it is always read with
``torch.load(weights_only=True)``, so a checkpoint cannot carry code. Files are written to a
temporary name in the same folder, flushed and fsync'ed, then renamed over the final name; the
previous checkpoint stays on disk until the new one is complete, so a crash or Ctrl-C mid-write
never leaves a run without a loadable checkpoint.

An export is the generator's weights as safetensors plus ``model.json`` (architecture, model config,
dataset interface sizes); the same JSON is embedded in the safetensors metadata so the single file
is self-describing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors

from ganforge.errors import GanforgeError
from ganforge.outputs import atomic_write, write_bytes, write_text

CKPT_DIR = "checkpoints"
CKPT_RE = re.compile(r"^state-(\d{9})\.pt$")
EXPORT_WEIGHTS = "generator.safetensors"
EXPORT_JSON = "model.json"


def checkpoint_path(run_dir: Path, cur_nimg: int) -> Path:
    return Path(run_dir) / CKPT_DIR / f"state-{cur_nimg:09d}.pt"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints of a run, oldest first."""
    d = Path(run_dir) / CKPT_DIR
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if CKPT_RE.match(p.name))


def save_checkpoint(run_dir: Path, cur_nimg: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``state`` as the checkpoint for ``cur_nimg``; then delete all but the newest ``keep``."""
    path = checkpoint_path(run_dir, cur_nimg)

    def write(tmp: Path) -> None:
        # Through a Python file object: torch's own path writer reports a full disk as a RuntimeError
        # ("unexpected pos ..."); Python's file reports OSError(ENOSPC), which atomic_write names.
        with open(tmp, "wb") as f:
            torch.save(state, f)

    atomic_write(path, write)
    for old in list_checkpoints(run_dir)[:-max(keep, 1)]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a training checkpoint (data only, ``weights_only=True``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise GanforgeError(f"checkpoint {str(path)!r} does not exist") from None
    except Exception as e:  # truncated file, not a torch file, pickled code refused, ...
        raise GanforgeError(f"cannot read checkpoint {str(path)!r}: {type(e).__name__}: {e}") from None
    if not isinstance(state, dict) or state.get("format") != "ganforge-train-state":
        raise GanforgeError(f"{str(path)!r} is not a ganforge training checkpoint")
    return state


def load_latest_checkpoint(run_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """Newest checkpoint of a run that loads; a damaged newest one falls back to the previous (with a
    warning). None if the run has no checkpoint."""
    errors = []
    for path in reversed(list_checkpoints(run_dir)):
        try:
            return path, load_checkpoint(path)
        except GanforgeError as e:
            errors.append(str(e))
            import warnings

            warnings.warn(f"skipping unreadable checkpoint: {e}", stacklevel=2)
    if errors:
        raise GanforgeError("no loadable checkpoint in " + str(run_dir) + ": " + "; ".join(errors))
    return None


# ---------------------------------------------------------------------------------------------
# Generator exports.


def save_export(dest_dir: Path, net: torch.nn.Module, meta: dict[str, Any], stem: str | None = None) -> Path:
    """Write ``<stem>.safetensors`` (default ``generator``) and its JSON beside it; returns the weights path."""
    dest_dir = Path(dest_dir)
    weights = dest_dir / (f"{stem}.safetensors" if stem else EXPORT_WEIGHTS)
    jpath = dest_dir / (f"{stem}.json" if stem else EXPORT_JSON)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in net.state_dict().items()}
    text = json.dumps(meta, indent=2, sort_keys=True)
    data = save_safetensors(tensors, metadata={"ganforge": text})  # bytes; written by Python (OSError on failure)
    write_bytes(weights, data)
    write_text(jpath, text + "\n")
    return weights


def read_export(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Find and read an export: a run directory, a ``.safetensors`` file or a ``model.json``.

    Returns (meta, state_dict). Errors name what was looked for.
    """
    path = Path(path)
    if not path.exists():
        raise GanforgeError(f"model {str(path)!r} does not exist; give a run directory, a .safetensors "
                            f"export or its model.json")
    if path.is_dir():
        weights = path / EXPORT_WEIGHTS
        if not weights.exists():
            raise GanforgeError(f"{str(path)!r} has no {EXPORT_WEIGHTS}; is it a ganforge run directory "
                                f"that reached its first snapshot?")
    elif path.suffix == ".json":
        weights = path.with_suffix(".safetensors")
        if path.name == EXPORT_JSON:
            weights = path.parent / EXPORT_WEIGHTS
    elif path.suffix == ".safetensors":
        weights = path
    else:
        raise GanforgeError(f"cannot load model {str(path)!r}: expected a run directory, a .safetensors "
                            f"file or a model.json (got suffix {path.suffix!r}). Pickled .pt/.pkl "
                            f"networks are not loaded, by design")
    if weights.exists() and not weights.is_file():  # a named pipe would block the read for ever
        raise GanforgeError(f"model weights {str(weights)!r} are not a regular file (a folder, pipe or device); "
                            f"give a run directory, a .safetensors export or its model.json")
    try:
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as f:
            header = f.metadata() or {}
        tensors = load_file(str(weights))
    except FileNotFoundError:
        raise GanforgeError(f"weights file {str(weights)!r} not found") from None
    except Exception as e:
        raise GanforgeError(f"cannot read model weights {str(weights)!r}: {type(e).__name__}: {e}") from None
    if "ganforge" not in header:
        raise GanforgeError(f"{str(weights)!r} is a safetensors file without ganforge metadata")
    try:
        meta = json.loads(header["ganforge"])
    except json.JSONDecodeError as e:
        raise GanforgeError(f"{str(weights)!r} has corrupt ganforge metadata: {e}") from None
    return meta, tensors
