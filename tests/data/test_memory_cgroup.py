"""The memory check counts a container's cgroup limit, not only the machine's MemAvailable."""

from __future__ import annotations

from pathlib import Path

from ganforge.data.memory import available_memory, cgroup_headroom

GIB = 1024**3


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _meminfo(tmp_path: Path, kib: int) -> str:
    _write(tmp_path / "meminfo", f"MemTotal: {2 * kib} kB\nMemAvailable: {kib} kB\n")
    return str(tmp_path / "meminfo")


def test_cgroup_v2_limit_below_meminfo_wins(tmp_path):
    _write(tmp_path / "cg", "0::/job/step\n")
    step = tmp_path / "sys/job/step"
    _write(step / "memory.max", str(4 * GIB))
    _write(step / "memory.current", str(3 * GIB))
    _write(step / "memory.stat", f"anon 123\ninactive_file {GIB // 2}\nactive_file 7\n")
    avail, source = available_memory(_meminfo(tmp_path, 20 * 1024**2), str(tmp_path / "cg"), str(tmp_path / "sys"))
    assert avail == GIB + GIB // 2  # limit - usage + reclaimable page cache
    assert source == f"memory cgroup limit {step / 'memory.max'}"


def test_cgroup_ancestor_limit_counts_and_max_means_none(tmp_path):
    _write(tmp_path / "cg", "0::/job/step\n")
    _write(tmp_path / "sys/job/step/memory.max", "max\n")
    _write(tmp_path / "sys/job/step/memory.current", str(GIB))
    _write(tmp_path / "sys/job/memory.max", str(2 * GIB))
    _write(tmp_path / "sys/job/memory.current", str(GIB + 5))
    assert cgroup_headroom(str(tmp_path / "cg"), str(tmp_path / "sys")) == (
        GIB - 5, f"memory cgroup limit {tmp_path / 'sys/job/memory.max'}")
    _write(tmp_path / "sys/job/memory.max", "max\n")
    assert cgroup_headroom(str(tmp_path / "cg"), str(tmp_path / "sys")) is None


def test_cgroup_v1_and_its_no_limit_value(tmp_path):
    _write(tmp_path / "cg", "5:cpu,cpuacct:/x\n4:memory:/docker/abc\n0::/\n")
    mem = tmp_path / "sys/memory/docker/abc"
    _write(mem / "memory.limit_in_bytes", str(8 * GIB))
    _write(mem / "memory.usage_in_bytes", str(6 * GIB))
    _write(mem / "memory.stat", f"cache 9\ntotal_inactive_file {GIB}\n")
    room, _ = cgroup_headroom(str(tmp_path / "cg"), str(tmp_path / "sys"))
    assert room == 3 * GIB
    _write(mem / "memory.limit_in_bytes", "9223372036854771712")  # what v1 reports without a limit
    assert cgroup_headroom(str(tmp_path / "cg"), str(tmp_path / "sys")) is None


def test_meminfo_wins_when_smaller_and_fallback_without_either(tmp_path):
    _write(tmp_path / "cg", "0::/\n")
    _write(tmp_path / "sys/memory.max", str(64 * GIB))
    _write(tmp_path / "sys/memory.current", "0")
    avail, source = available_memory(_meminfo(tmp_path, 1024**2), str(tmp_path / "cg"), str(tmp_path / "sys"))
    assert (avail, source) == (GIB, f"MemAvailable in {tmp_path / 'meminfo'}")
    avail, source = available_memory(str(tmp_path / "none"), str(tmp_path / "none"), str(tmp_path / "none"))
    assert source.startswith("assumed")
