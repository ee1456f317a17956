"""On-disk cache of real-data features.

Files live in ``cache_dir`` or ``$GANFORGE_METRICS_CACHE`` or ``$XDG_CACHE_HOME/ganforge/metrics`` or
``~/.cache/ganforge/metrics``. The key is the sha256 of the dataset's content hash (pixels + labels,
not its path), the extractor's name, weights hash and resize description, and the number of images,
so editing one image, changing weights or the sample count gives a new entry. Entries are
safetensors files (no pickle) written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    env = os.environ.get("GANFORGE_METRICS_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ganforge" / "metrics"


def cache_key(**fields) -> str:
    """sha256 hex of the canonical JSON of ``fields`` (plus the cache format version)."""
    blob = json.dumps({"v": CACHE_VERSION, **fields}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """Arrays of a cache file, or None if it is missing or unreadable (a warning is issued then)."""
    if not path.is_file():
        return None
    try:
        from safetensors.numpy import load_file

        return load_file(str(path))
    except Exception as e:
        warnings.warn(f"ignoring unreadable metrics cache file {path}: {e}", stacklevel=2)
        return None


def save_arrays(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write arrays atomically (temp file in the same folder, fsync, then rename)."""
    from safetensors.numpy import save_file

    from ganforge.outputs import atomic_write

    contiguous = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    atomic_write(Path(path), lambda tmp: save_file(contiguous, str(tmp), metadata=metadata))
