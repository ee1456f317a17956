"""Memory checks before memory is spent: what a dataset, a resize or the streamed read-ahead would need,
against what this process may still allocate.

A too-large ``data.resolution`` (say 4096 on a folder of thousands of images) would otherwise be found out
by the kernel's OOM killer minutes into decoding. ``available_memory`` is ``MemAvailable`` in
``/proc/meminfo``, or the memory cgroup's headroom when smaller, else ``FALLBACK_AVAILABLE_BYTES``;
``ensure_fits`` refuses an allocation above it with both numbers and what to lower.
"""

from __future__ import annotations

from pathlib import Path

from ganforge.data.scan import max_in_flight
from ganforge.errors import GanforgeError

# Memory assumed available where /proc/meminfo has no MemAvailable (not Linux): a cautious laptop.
FALLBACK_AVAILABLE_BYTES = 8 * 1024**3


def available_memory(meminfo: str = "/proc/meminfo", proc_cgroup: str = "/proc/self/cgroup",
                     cgroup_root: str = "/sys/fs/cgroup") -> tuple[int, str]:
    """Bytes available for new allocations, and where that number comes from (for messages).

    The smaller of the machine's ``MemAvailable`` and the headroom of this process's memory cgroup
    (``cgroup_headroom``): in a container or a batch job the kernel kills a process at the cgroup's
    limit however much memory the machine has free.
    """
    host: tuple[int, str] | None = None
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    host = int(line.split()[1]) * 1024, f"MemAvailable in {meminfo}"
                    break
    except (OSError, ValueError, IndexError):
        pass
    group = cgroup_headroom(proc_cgroup, cgroup_root)
    candidates = [c for c in (host, group) if c is not None]
    if not candidates:
        return FALLBACK_AVAILABLE_BYTES, "assumed: this system reports no MemAvailable"
    return min(candidates, key=lambda c: c[0])


# cgroup v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages); anything above this is none.
_NO_LIMIT = 1 << 60


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value < _NO_LIMIT else None


def _inactive_file(stat: Path, key: str) -> int:
    """Reclaimable page cache (``inactive_file``) from a cgroup's memory.stat, 0 if unknown."""
    try:
        for line in stat.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def cgroup_headroom(proc_cgroup: str = "/proc/self/cgroup", cgroup_root: str = "/sys/fs/cgroup") -> tuple[int, str] | None:
    """Bytes this process's memory cgroup can still take: limit - usage + reclaimable page cache, the
    smallest over the cgroup and its ancestors that set a limit (cgroup v2 ``memory.max`` /
    ``memory.current``, v1 ``memory.limit_in_bytes`` / ``memory.usage_in_bytes``). None when no limit
    is set or nothing can be read."""
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        return None
    root = Path(cgroup_root)
    places: list[tuple[Path, str, str, str]] = []  # (folder, limit file, usage file, inactive key)
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        rel_parts = [x for x in rel.split("/") if x]
        if controllers == "":  # v2 unified hierarchy
            base, files = root, ("memory.max", "memory.current", "inactive_file")
        elif "memory" in controllers.split(","):
            base, files = root / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
        else:
            continue
        for k in range(len(rel_parts), -1, -1):  # the cgroup itself, then each ancestor up to the root
            places.append((base.joinpath(*rel_parts[:k]), *files))
    best: tuple[int, str] | None = None
    for folder, limit_name, usage_name, inactive_key in places:
        limit = _read_int(folder / limit_name)
        usage = _read_int(folder / usage_name)
        if limit is None or usage is None:
            continue
        room = max(0, limit - usage + _inactive_file(folder / "memory.stat", inactive_key))
        if best is None or room < best[0]:
            best = room, f"memory cgroup limit {folder / limit_name}"
    return best


def _size(n: int) -> str:
    return f"{n:,} bytes ({n / 1024**3:.2f} GiB)"


def ensure_fits(need: int, what: str, change: str) -> None:
    """Raise GanforgeError when ``need`` bytes exceed the available memory.

    Args:
        need: estimated bytes of new allocations (final tensor plus transient peak).
        what: what would be allocated, e.g. "60000 images of 3 x 1024 x 1024 uint8".
        change: what the user should change, e.g. "lower data.resolution".
    """
    avail, source = available_memory()
    if need > avail:
        raise GanforgeError(
            f"{what} would need about {_size(need)} of memory, but only {_size(avail)} is available "
            f"({source}); {change}"
        )


def folder_bytes_needed(n: int, resolution: int, channels: int | None) -> int:
    """Worst-case peak bytes for decoding ``n`` folder images to ``resolution`` (see module docstring).

    The final tensor ``n x C x R x R`` (C = 3 unless ``channels`` is 1); with ``channels`` None also
    a 1-channel copy, held while a gray-so-far buffer is widened once the first color image shows
    up; plus the resized images in flight in the scan.
    """
    c = 1 if channels == 1 else 3
    plane = resolution * resolution
    widen = n * plane if channels is None else 0
    return n * c * plane + widen + max_in_flight() * 3 * plane
