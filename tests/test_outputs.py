"""The project's one writer (ganforge.outputs): temporary file, fsync, rename; never a half-written or
lost file, on a real full disk (a tiny tmpfs) and under interrupts."""

from __future__ import annotations

import os

import pytest

from ganforge.errors import OutputError
from ganforge.outputs import append_text, atomic_write, write_bytes, write_file, write_text


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name != ".filler")


def test_overwrite_on_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(tiny_disk):
    disk = tiny_disk(64 * 1024)
    target = disk.path / "grid.png"
    write_bytes(target, b"good")
    disk.fill()
    with pytest.raises(OutputError, match="No space left on device") as e:
        write_bytes(target, os.urandom(200_000), overwrite=True)
    assert str(target) in str(e.value)
    assert target.read_bytes() == b"good"
    assert _leftovers(disk.path) == ["grid.png"]


def test_a_new_file_on_a_full_disk_leaves_nothing(tiny_disk):
    disk = tiny_disk(64 * 1024)
    disk.fill()
    with pytest.raises(OutputError):
        write_text(disk.path / "stats.json", "x" * 200_000, overwrite=False)
    assert _leftovers(disk.path) == []


def test_without_overwrite_an_existing_file_is_never_replaced(tmp_path):
    target = tmp_path / "a.txt"
    write_text(target, "first", overwrite=False)
    with pytest.raises(FileExistsError):
        write_text(target, "second", overwrite=False)
    assert target.read_text() == "first"
    assert _leftovers(tmp_path) == ["a.txt"]
    write_text(target, "third", overwrite=True)
    assert target.read_text() == "third"


def test_an_interrupt_inside_the_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "x.bin"
    write_bytes(target, b"old")

    def interrupted(f):
        f.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_file(target, interrupted, overwrite=True)
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == ["x.bin"]


def test_the_temporary_keeps_the_extension_and_ordinary_permissions(tmp_path):
    seen = {}

    def write(tmp):
        seen["name"] = tmp.name
        tmp.write_bytes(b"x")

    old = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "clip.mp4", write)
    finally:
        os.umask(old)
    assert seen["name"].startswith(".clip.") and seen["name"].endswith(".tmp.mp4")
    assert (path.stat().st_mode & 0o777) == 0o644


def test_append_on_a_full_disk_cuts_back_to_whole_lines(tiny_disk):
    disk = tiny_disk(64 * 1024)
    log = disk.path / "stats.jsonl"
    append_text(log, '{"kimg": 1}\n')
    disk.fill()
    with pytest.raises(OutputError, match="No space left"):
        append_text(log, '{"kimg": 2, "pad": "' + "x" * 100_000 + '"}\n')
    assert log.read_text() == '{"kimg": 1}\n'


def test_a_name_at_the_file_systems_limit_can_be_written(tmp_path):
    target = tmp_path / ("n" * 251 + ".png")  # 255 bytes: the most a name may have
    write_bytes(target, b"x", overwrite=False)
    write_bytes(target, b"y", overwrite=True)
    assert target.read_bytes() == b"y" and _leftovers(tmp_path) == [target.name]
