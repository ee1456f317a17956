"""Every file the data layer writes (converted zips, downloads, IDX files) goes through the project's one
writer, ``ganforge.outputs.atomic_write``: never a partial file, an ``OutputError`` naming the file on a full
disk, no temporary file left behind."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from helpers.data import deb_package, emoji_source, fake_spec, write_mnist_like

import ganforge.outputs
from ganforge.cli import main
from ganforge.data import emoji as em
from ganforge.data.builtin import download_builtin
from ganforge.data.convert import convert
from ganforge.data.idx import read_idx, write_idx
from ganforge.errors import GanforgeError, OutputError


def _images(root: Path, n: int = 4, size: int = 12) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def _emoji_source(tmp_path: Path, payload: bytes) -> tuple[em.SourceFile, bytes]:
    """An emoji source and its package (an uncompressed data.tar: the other form the reader takes)."""
    deb = deb_package("./usr/share/x/thing.txt", payload, xz=False)
    return emoji_source(tmp_path, payload, deb), deb


def test_every_data_layer_write_goes_through_the_one_writer(tmp_path, monkeypatch):
    written: list[Path] = []
    real = ganforge.outputs.atomic_write

    def recording(path, write, **kw):
        written.append(Path(path))
        return real(path, write, **kw)

    monkeypatch.setattr(ganforge.outputs, "atomic_write", recording)
    src = _images(tmp_path / "images")
    convert(str(src), tmp_path / "out" / "data.zip", 16, progress=False)
    write_idx(tmp_path / "x.idx", np.arange(6, dtype=np.uint8))
    write_mnist_like(tmp_path / "server")
    spec = fake_spec(tmp_path / "server")
    before = len(written)
    download_builtin(spec, tmp_path / "dl", split="test")
    downloads = written[before:]
    payload = b"emoji list\n"
    esrc, deb = _emoji_source(tmp_path, payload)
    em.download_source(esrc, tmp_path / "emoji", opener=lambda url, timeout=None: io.BytesIO(deb))
    assert tmp_path / "out" / "data.zip" in written and tmp_path / "x.idx" in written
    assert sorted(p.name for p in downloads) == sorted(spec.needed_files("test"))
    assert tmp_path / "emoji" / "thing.txt" in written
    assert (tmp_path / "emoji" / "thing.txt").read_bytes() == payload
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == sorted(spec.needed_files("test"))


def test_convert_temporary_file_follows_the_writers_naming(tmp_path, monkeypatch):
    """The zip is built under ``.<stem>.<random>.tmp.zip`` beside ``--out`` (outputs.atomic_write), and that
    name is gone once the zip has its own."""
    seen: list[list[str]] = []
    import ganforge.data.convert as convert_module

    real_folder = convert_module._write_folder

    def spy(cfg, path, writer, bar):
        seen.append(sorted(p.name for p in (tmp_path / "out").iterdir()))
        return real_folder(cfg, path, writer, bar)

    monkeypatch.setattr(convert_module, "_write_folder", spy)
    convert(str(_images(tmp_path / "images")), tmp_path / "out" / "data.zip", 16, progress=False)
    assert len(seen) == 1 and len(seen[0]) == 1
    name = seen[0][0]
    assert name.startswith(".data.") and name.endswith(".tmp.zip")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["data.zip"]


def test_convert_onto_a_full_disk_is_one_message_and_leaves_nothing(tmp_path, tiny_disk, capsys):
    disk = tiny_disk(64 * 1024)
    src = _images(tmp_path / "images", n=40, size=64)
    out = disk.path / "data.zip"
    assert main(["data", "convert", str(src), "--out", str(out), "--resolution", "64"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {str(out)!r}: No space left on device" in err and "Traceback" not in err
    assert list(disk.path.iterdir()) == []


def test_write_idx_onto_a_full_disk_leaves_no_partial_file(tiny_disk):
    disk = tiny_disk(64 * 1024)
    path = disk.path / "train-images-idx3-ubyte"
    with pytest.raises(OutputError) as e:
        write_idx(path, np.zeros((200, 28, 28), np.uint8))  # 157 KB on a 64 KB disk
    assert str(e.value) == f"cannot write {str(path)!r}: No space left on device"
    assert list(disk.path.iterdir()) == []
    write_idx(path, np.arange(12, dtype=np.uint8).reshape(3, 4))  # a small one fits, and reads back
    assert read_idx(path).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


def test_emoji_download_onto_a_full_disk_is_one_clean_error(tmp_path, tiny_disk):
    disk = tiny_disk(64 * 1024)
    payload = os.urandom(100 * 1024)  # does not fit
    src, deb = _emoji_source(tmp_path, payload)
    with pytest.raises(GanforgeError) as e:
        em.download_source(src, disk.path / "emoji", opener=lambda url, timeout=None: io.BytesIO(deb))
    assert str(e.value) == f"cannot write {str(disk.path / 'emoji' / 'thing.txt')!r}: No space left on device"
    assert list((disk.path / "emoji").iterdir()) == []


def test_builtin_download_onto_a_full_disk_names_the_reason_and_leaves_no_temporary_file(tmp_path, tiny_disk):
    disk = tiny_disk(64 * 1024)
    write_mnist_like(tmp_path / "server")
    spec = fake_spec(tmp_path / "server")
    disk.fill()
    with pytest.raises(GanforgeError, match="No space left on device"):
        download_builtin(spec, disk.path / "dl", split="train")
    assert list((disk.path / "dl").iterdir()) == []


def test_converted_zip_is_readable_after_the_writer_renamed_it(tmp_path):
    out = convert(str(_images(tmp_path / "images")), tmp_path / "data.zip", 16, progress=False).path
    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None and "dataset.json" in z.namelist()
