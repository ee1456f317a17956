"""Data is read with bounds: non-regular files are never opened, bytes per file / zip member and
pixels per image are capped, unsafe zip members are refused, and a dataset that would not fit in
memory is refused before it is decoded or resized.

Tests that could hang on a regression (a named pipe opened for reading blocks until a writer
appears) run the scan in a thread with a deadline; on timeout they open every pipe for writing so
the stuck reader gets EOF and the suite moves on, then fail.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from helpers.data import bad_reasons, png_bytes, save_image, solid, write_mnist_like

from ganforge.cli import main
from ganforge.config import DataConfig, Experiment, apply_overrides
from ganforge.data import dataset as dataset_mod
from ganforge.data import folder as folder_mod
from ganforge.data import memory as memory_mod
from ganforge.data import load_dataset, scan_images
from ganforge.data import scan as scan_mod
from ganforge.data.folder import ImageSource, decode_to_array, resize_array, to_channels
from ganforge.errors import GanforgeError

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")


def _release_fifos(root: Path) -> None:
    for p in root.rglob("*"):
        try:
            if stat.S_ISFIFO(os.stat(p).st_mode):
                os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


def _within(seconds: float, fn, root: Path):
    """fn() run in a thread; fails (instead of hanging the suite) when it takes longer than seconds."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the test thread
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        deadline = time.monotonic() + 10
        while t.is_alive() and time.monotonic() < deadline:
            _release_fifos(root)
            t.join(0.2)
        pytest.fail(f"did not finish within {seconds} s (blocked on a named pipe?)")
    if "error" in out:
        raise out["error"]
    return out["value"]


def _good_folder(root: Path) -> Path:
    save_image(root / "good.png", solid("L", (8, 8), 5))
    return root


# ---------------------------------------------------------------------------------------------
# Only regular files are opened.


@needs_fifo
def test_fifo_in_folder_is_reported_and_scan_finishes(tmp_path):
    d = _good_folder(tmp_path / "d")
    os.mkfifo(d / "pipe.png")
    os.mkfifo(d / "pipe")  # no extension: still "not a regular file", not merely a disallowed format
    report = _within(20, lambda: scan_images(d), d)
    assert [e.rel for e in report.good] == ["good.png"]
    assert bad_reasons(report) == {"pipe.png": "not a regular file (named pipe)",
                                "pipe": "not a regular file (named pipe)"}
    ds = _within(20, lambda: load_dataset(DataConfig(name=str(d), resolution=8, on_bad_image="skip")), d)
    assert len(ds) == 1 and ds.skipped == 2


@needs_fifo
def test_symlink_to_fifo_is_reported(tmp_path):
    d = _good_folder(tmp_path / "d")
    os.mkfifo(tmp_path / "outside.fifo")
    os.symlink(tmp_path / "outside.fifo", d / "link.png")
    report = _within(20, lambda: scan_images(d), tmp_path)
    assert bad_reasons(report) == {"link.png": "not a regular file (symlink to a named pipe)"}


def test_device_and_socket_are_reported(tmp_path, monkeypatch):
    d = _good_folder(tmp_path / "d")
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null")
    os.symlink("/dev/null", d / "null.png")  # opening it would "work" and read zero bytes
    expected = {"null.png": "not a regular file (symlink to a character device)"}
    if hasattr(socket, "AF_UNIX"):
        monkeypatch.chdir(d)  # relative bind: unix socket paths are limited to ~100 characters
        sock = socket.socket(socket.AF_UNIX)
        sock.bind("sock.png")
        expected["sock.png"] = "not a regular file (socket)"
    report = _within(20, lambda: scan_images(d), d)
    assert bad_reasons(report) == expected


def test_dangling_symlink_and_symlink_loop_are_reported(tmp_path):
    d = _good_folder(tmp_path / "d")
    os.symlink(d / "missing.png", d / "dangling.png")
    os.symlink("loop.png", d / "loop.png")
    os.symlink(".", d / "cycle")  # a folder symlink to itself: not walked, so the listing ends
    report = _within(20, lambda: scan_images(d), d)
    assert bad_reasons(report) == {
        "dangling.png": "not a regular file (dangling symlink: its target does not exist)",
        "loop.png": "not a regular file (symlink loop)",
    }
    assert len(report.good) == 1


@needs_fifo
def test_dataset_path_that_is_a_fifo_is_refused(tmp_path):
    os.mkfifo(tmp_path / "data.zip")
    with pytest.raises(GanforgeError, match="is a named pipe, not a folder or a zip archive"):
        _within(20, lambda: scan_images(tmp_path / "data.zip"), tmp_path)


# ---------------------------------------------------------------------------------------------
# Bytes per file.


def test_file_over_byte_cap_is_reported(tmp_path):
    d = _good_folder(tmp_path / "d")  # a few dozen bytes
    (d / "big.png").write_bytes(b"\x89PNG" + b"\x00" * 4996)
    r = bad_reasons(scan_images(d, max_file_bytes=1000))
    assert r == {"big.png": "too large: 5000 bytes, limit 1000 bytes (data.max_file_bytes)"}
    cfg = DataConfig(name=str(d), resolution=8, on_bad_image="skip", max_file_bytes=1000)
    ds = load_dataset(cfg)
    assert len(ds) == 1 and ds.skipped == 1
    with pytest.raises(GanforgeError, match=r"big.png: too large: 5000 bytes.*data.max_file_bytes"):
        load_dataset(DataConfig(name=str(d), resolution=8, max_file_bytes=1000))
    # at or under the cap it is read and goes on to the decoder (which finds it is no image)
    assert bad_reasons(scan_images(d, max_file_bytes=5000))["big.png"].startswith("not an image")


def test_read_stops_past_the_cap_when_stat_understates(tmp_path):
    # /proc files report st_size 0 but have content: the read itself must stop at cap + 1 bytes.
    if not os.path.isfile("/proc/self/status"):
        pytest.skip("no /proc")
    d = _good_folder(tmp_path / "d")
    os.symlink("/proc/self/status", d / "status.png")
    with ImageSource(d) as src:
        assert src.size("status.png") == 0
        with pytest.raises(folder_mod.BadFile, match=r"too large: more than 100 bytes, limit 100 bytes"):
            src.read("status.png", max_bytes=100)
    assert bad_reasons(scan_images(d, max_file_bytes=100)) == {
        "status.png": "too large: more than 100 bytes, limit 100 bytes (data.max_file_bytes)"}


# ---------------------------------------------------------------------------------------------
# Zip members.


def _central_records(data: bytes) -> dict[str, int]:
    """Member name -> offset of its central-directory record."""
    out, pos = {}, data.index(b"PK\x01\x02")
    while data[pos : pos + 4] == b"PK\x01\x02":
        n, m, k = struct.unpack_from("<HHH", data, pos + 28)
        out[data[pos + 46 : pos + 46 + n].decode()] = pos
        pos += 46 + n + m + k
    return out


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_zip_member_over_cap_by_header_is_not_inflated(tmp_path):
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ok.png", png_bytes(solid("L", (8, 8), 3)))
        zf.writestr("zeros.png", b"\x00" * (24 << 20))  # 24 MiB inflated, ~24 KB stored
    assert z.stat().st_size < 100_000
    report, peak = _peak_bytes(lambda: scan_images(z, max_file_bytes=1 << 20))
    assert bad_reasons(report) == {"bomb.zip:zeros.png": f"too large: {24 << 20} bytes, limit {1 << 20} bytes "
                                                       "(data.max_file_bytes)"}
    assert peak < 4 << 20  # never inflated


def test_zip_member_whose_header_understates_its_size_is_bounded(tmp_path):
    z = tmp_path / "liar.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ok.png", png_bytes(solid("L", (8, 8), 3)))
        zf.writestr("liar.png", b"\x00" * (32 << 20))
    with zipfile.ZipFile(z) as zf:
        local = zf.getinfo("liar.png").header_offset
    data = bytearray(z.read_bytes())
    struct.pack_into("<I", data, local + 22, 100)  # uncompressed size in the local header
    struct.pack_into("<I", data, _central_records(bytes(data))["liar.png"] + 24, 100)  # ... and the directory
    z.write_bytes(bytes(data))
    with zipfile.ZipFile(z) as zf:
        assert zf.getinfo("liar.png").file_size == 100  # the lie is what the header says
    report, peak = _peak_bytes(lambda: _within(20, lambda: scan_images(z, max_file_bytes=1 << 20), tmp_path))
    (path, reason), = report.bad
    assert path.endswith(":liar.png") and reason.startswith("corrupt archive member: BadZipFile")
    assert [e.rel for e in report.good] == ["ok.png"]
    assert peak < 8 << 20  # the 32 MiB behind the lie were never inflated in one piece


def test_unsafe_zip_paths_are_reported_not_litter_classes_or_prefix(tmp_path, monkeypatch):
    z = tmp_path / "evil.zip"
    unsafe = ["/abs.png", "../x.png", "a/../../x.png", "C:/drive.png", "..\\win.png", "../.DS_Store"]
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("top/a.png", png_bytes(solid("L", (8, 8), 1)))
        zf.writestr("top/b.png", png_bytes(solid("L", (8, 8), 2)))
        for name in unsafe:
            zf.writestr(zipfile.ZipInfo(name), png_bytes(solid("L", (8, 8), 9)))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    report = scan_images(z)
    assert sorted(p.split("evil.zip:", 1)[1] for p, _ in report.bad) == sorted(unsafe)
    assert {r for _, r in report.bad} == {"unsafe path in archive"}
    assert report.ignored_litter == 0 and report.class_names == ()
    assert [e.rel for e in report.good] == ["a.png", "b.png"]  # "top/" still stripped
    ds = load_dataset(DataConfig(name=str(z), resolution=8, on_bad_image="skip"))
    assert len(ds) == 2 and ds.skipped == len(unsafe) and ds.labels is None
    assert list(work.iterdir()) == [] and not (tmp_path / "x.png").exists()  # nothing extracted


def test_overlapping_zip_members_are_reported(tmp_path):
    z = tmp_path / "overlap.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.png", png_bytes(solid("L", (8, 8), 1)))
        zf.writestr("b.png", png_bytes(solid("L", (8, 8), 1)))
        zf.writestr("c.png", png_bytes(solid("L", (8, 8), 4)))
    data = bytearray(z.read_bytes())
    struct.pack_into("<I", data, _central_records(bytes(data))["b.png"] + 42, 0)  # b's data = a's data
    z.write_bytes(bytes(data))
    r = bad_reasons(scan_images(z))
    assert set(r) == {"overlap.zip:a.png", "overlap.zip:b.png"}
    assert all(v.startswith("overlaps another member of the archive") for v in r.values())


def test_zip_with_too_many_entries_is_refused_before_listing(tmp_path, monkeypatch):
    z = tmp_path / "many.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for i in range(30):
            zf.writestr(f"{i}.txt", b"")

    def no_listing(*a, **k):
        raise AssertionError("zipfile.ZipFile must not be built for a refused archive")

    monkeypatch.setattr(zipfile, "ZipFile", no_listing)
    with pytest.raises(GanforgeError, match=r"more than 10 entries.*unpack it"):
        ImageSource(z, max_entries=10)
    monkeypatch.undo()
    with ImageSource(z, max_entries=30) as src:
        assert len(src.files) == 30


# ---------------------------------------------------------------------------------------------
# Memory estimate before decoding / resizing, and a single preallocated copy.


def _tiny_memory(monkeypatch, n=10_000):
    monkeypatch.setattr(memory_mod, "available_memory", lambda: (n, "test"))


def test_folder_resolution_refused_before_decoding(tmp_path, monkeypatch):
    d = tmp_path / "d"
    for i in range(3):
        save_image(d / f"{i}.png", solid("RGB", (8, 8), (i, 0, 0)))
    (d / "notes.txt").write_text("not a candidate image")
    _tiny_memory(monkeypatch)

    def decoded(*a, **k):
        raise AssertionError("nothing may be decoded before the memory check")

    monkeypatch.setattr(scan_mod, "inspect_file", decoded)
    with pytest.raises(GanforgeError) as e:
        load_dataset(DataConfig(name=str(d), resolution=64))
    need = memory_mod.folder_bytes_needed(3, 64, None)
    assert need >= 3 * 3 * 64 * 64 + 3 * 64 * 64  # final (3 channels, worst case) + widening copy
    msg = str(e.value)
    assert f"loading 3 image files from {d} at data.resolution=64" in msg
    assert f"{need:,} bytes" in msg and "10,000 bytes" in msg and "lower data.resolution" in msg
    assert memory_mod.folder_bytes_needed(3, 64, 1) < need  # data.channels=1 needs less


def test_folder_native_size_refused_at_first_image(tmp_path, monkeypatch):
    d = tmp_path / "d"
    for i in range(3):
        save_image(d / f"{i}.png", solid("L", (64, 64), i))
    _tiny_memory(monkeypatch)
    with pytest.raises(GanforgeError, match=r"native 64x64 .data.resolution is none.*set data.resolution"):
        load_dataset(DataConfig(name=str(d), resolution=None))


def test_builtin_resize_refused_before_allocating(tmp_path, monkeypatch, isolated_dirs):
    x = torch.zeros((10, 1, 28, 28), dtype=torch.uint8)
    _tiny_memory(monkeypatch)
    with pytest.raises(GanforgeError) as e:
        dataset_mod._resize_square_batch(x, 64, "crop")
    msg = str(e.value)
    assert "resizing 10 images to 1 x 64 x 64 uint8 (data.resolution=64)" in msg
    assert "bytes" in msg and "lower data.resolution" in msg and "10,000 bytes" in msg
    write_mnist_like(isolated_dirs["env"] / "mnist")
    with pytest.raises(GanforgeError, match=r"resizing 6 images to 3 x 256 x 256 .*data.channels"):
        load_dataset(DataConfig(name="mnist", resolution=256, channels=3))
    monkeypatch.undo()
    assert dataset_mod._resize_square_batch(x, 64, "crop").shape == (10, 1, 64, 64)


def test_builtin_resize_with_channels_matches_expand(monkeypatch):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8, generator=g)
    for r, resize in ((32, "pad"), (14, "crop"), (28, "stretch"), (40, "stretch")):
        one = dataset_mod._resize_square_batch(x, r, resize)
        three = dataset_mod._resize_square_batch(x, r, resize, channels_out=3)
        assert torch.equal(three, one.expand(-1, 3, -1, -1))
    big_chunks = dataset_mod._resize_square_batch(x, 40, "crop")
    monkeypatch.setattr(dataset_mod, "_RESIZE_TEMP_BYTES", 1)  # one image per chunk: same pixels
    assert torch.equal(dataset_mod._resize_square_batch(x, 40, "crop"), big_chunks)


def _reference(d: Path, resolution, channels, resize="pad"):
    """The dataset as the former list-then-stack code built it (sorted files, all good)."""
    arrays = []
    for p in sorted(d.iterdir()):
        with Image.open(p) as img:
            img.load()
            a = decode_to_array(img)
        arrays.append(a if resolution is None else resize_array(a, resolution, resize))
    c = channels or (1 if all(a.shape[-1] == 1 for a in arrays) else 3)
    return torch.from_numpy(np.stack([to_channels(a, c) for a in arrays])).permute(0, 3, 1, 2).contiguous()


def test_preallocated_fill_matches_stacking(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "d"
    # gray first, color later: the buffer is widened from 1 to 3 channels mid-scan
    for i in range(4):
        save_image(d / f"{i}g.png", Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8), "L"))
    save_image(d / "5c.png", Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8), "RGB"))
    save_image(d / "6g.png", Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8), "L"))
    for resolution in (None, 8, 20):
        for channels in (None, 1, 3):
            ds = load_dataset(DataConfig(name=str(d), resolution=resolution, channels=channels))
            ref = _reference(d, resolution, channels)
            assert ds.images_u8.is_contiguous() and torch.equal(ds.images_u8, ref), (resolution, channels)


def test_folder_load_holds_one_copy(tmp_path):
    d = tmp_path / "d"
    n, r = 160, 64
    for i in range(n):
        save_image(d / f"{i:03d}.png", solid("RGB", (r, r), (i, 255 - i, 7)))
    final = n * 3 * r * r  # 1.9 MiB
    load_dataset(DataConfig(name=str(d), resolution=r))  # warm up: PIL imports its plugins lazily
    ds, peak = _peak_bytes(lambda: load_dataset(DataConfig(name=str(d), resolution=r)))
    assert ds.images_u8.shape == (n, 3, r, r)
    # a list of every array plus a stacked copy would peak at 2x final or more
    assert peak < 1.5 * final


# ---------------------------------------------------------------------------------------------
# Configuration and CLI.


def test_limit_config_keys_are_validated():
    assert DataConfig().max_file_bytes == 64 * 1024**2 == folder_mod.MAX_FILE_BYTES
    assert DataConfig().max_image_pixels == 8192 * 8192 == scan_mod.MAX_PIXELS
    for key in ("max_file_bytes", "max_image_pixels"):
        for bad in (0, -5, True, 2.5, "64"):
            with pytest.raises(GanforgeError) as e:
                load_dataset(DataConfig(name="fashion-mnist", **{key: bad}))
            assert f"bad data.{key} {bad!r}: expected a positive integer" in str(e.value)
        cfg = apply_overrides(Experiment(), [f"data.{key}=1234"])
        assert getattr(cfg.data, key) == 1234
        with pytest.raises(GanforgeError, match=f"data.{key}: expected an integer"):
            apply_overrides(Experiment(), [f"data.{key}=lots"])


def test_data_check_limit_flags(tmp_path, capsys):
    d = _good_folder(tmp_path / "d")
    noise = np.random.default_rng(0).integers(0, 256, (40, 40), dtype=np.uint8)
    save_image(d / "wide.png", Image.fromarray(noise, "L"))  # > 1000 bytes as PNG
    assert main(["data", "check", str(d)]) == 0
    capsys.readouterr()
    assert main(["data", "check", str(d), "--max-file-bytes", "1000"]) == 2
    out = capsys.readouterr().out
    assert "wide.png: too large:" in out and "limit 1000 bytes (data.max_file_bytes)" in out
    assert main(["data", "check", str(d), "--max-image-pixels", "100"]) == 2
    out = capsys.readouterr().out
    assert "wide.png: oversized: 1600 pixels, limit 100 pixels (data.max_image_pixels)" in out
    assert "good.png" not in out
    for flag in ("--max-file-bytes", "--max-image-pixels"):
        assert main(["data", "check", str(d), flag, "lots"]) == 2
        err = capsys.readouterr().err
        assert f"bad {flag} 'lots': expected a positive integer" in err and "Traceback" not in err
