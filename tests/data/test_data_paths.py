"""Dataset paths the operating system refuses to look at (a name longer than the file system allows, a
symlink loop), and data.root pointing at a named pipe, a device, a missing path: each is one message naming
the key and the path, exit status 2, no traceback, no hang."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from helpers.data import within

from ganforge.cli import main
from ganforge.config import DataConfig
from ganforge.data import check_path, load_dataset
from ganforge.data.convert import convert
from ganforge.errors import GanforgeError

LONG_NAME = "x" * 300  # one name over the 255-byte NAME_MAX


def _cli(capsys, *argv) -> str:
    with within(30):
        assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("ganforge: error: ")
    return err.strip().removeprefix("ganforge: error: ")


def _names(msg: str, path: str, *reasons: str) -> None:
    """``msg`` is one line naming ``path`` (perhaps abbreviated) and one of ``reasons``."""
    assert "\n" not in msg and path[:30] in msg and any(r in msg for r in reasons), msg


def _long_path(tmp_path: Path) -> str:
    """A path of more than 4096 bytes whose every name is short."""
    return str(tmp_path) + "/a" * 2100


def _images(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(root / f"{i}.png")
    return root


def test_a_name_longer_than_the_file_system_allows(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GanforgeError) as e:  # the API, without the config validation in front
        load_dataset(DataConfig(name=LONG_NAME))
    assert str(e.value) == (f"cannot use data.name {LONG_NAME!r}: File name too long (file systems allow at most 255 "
                            f"bytes per file or folder name and 4096 per path)")
    with pytest.raises(GanforgeError, match=r"^cannot use dataset path 'x{300}': File name too long"):
        check_path(LONG_NAME)
    out = str(tmp_path / "o.zip")
    with pytest.raises(GanforgeError, match=r"^cannot use SRC 'x{300}': File name too long"):
        convert(LONG_NAME, out, 8, progress=False)
    src = str(_images(tmp_path / "imgs"))
    with pytest.raises(GanforgeError, match=r"^cannot use --out 'x{300}\.zip': File name too long"):
        convert(src, LONG_NAME + ".zip", 8, progress=False)
    # through the CLI (whose own argument checks may word it first): one line, the path, the reason
    for argv in (["data", "check", LONG_NAME], ["data", "convert", LONG_NAME, "--out", out, "--resolution", "8"],
                 ["data", "convert", src, "--out", LONG_NAME + ".zip", "--resolution", "8"],
                 ["eval", "--real", LONG_NAME, "--fake", src, "--metrics", "swd", "--device", "cpu"]):
        _names(_cli(capsys, *argv), LONG_NAME, "File name too long", "255 bytes")
    assert os.listdir(tmp_path) == ["imgs"]


def test_a_path_longer_than_the_file_system_allows_is_shown_abbreviated(tmp_path):
    path = _long_path(tmp_path)
    with pytest.raises(GanforgeError) as e:
        load_dataset(DataConfig(name=path))
    msg = str(e.value)
    assert msg.startswith(f"cannot use data.name {path[:200]!r}...{path[-60:]!r} ({len(path)} characters): File name "
                          f"too long") and len(msg) < 500
    with pytest.raises(GanforgeError, match=r"^cannot use data.root .* \(\d+ characters\): File name too long"):
        load_dataset(DataConfig(name="mnist", root=path))


def test_symlink_loops(tmp_path, capsys):
    loop = tmp_path / "loop"
    os.symlink(loop.name, loop)
    for call, key in ((lambda: load_dataset(DataConfig(name=str(loop))), "data.name"),
                      (lambda: load_dataset(DataConfig(name="mnist", root=str(loop))), "data.root"),
                      (lambda: load_dataset(DataConfig(name=str(loop), pairing="aligned")), "data.name"),
                      (lambda: check_path(loop), "dataset path")):
        with pytest.raises(GanforgeError) as e:
            call()
        assert str(e.value) == (f"cannot use {key} {str(loop)!r}: Too many levels of symbolic links (a symlink loop, "
                                f"or too many symlinks in a row)")
    zloop = tmp_path / "loop.zip"
    os.symlink(zloop.name, zloop)
    src = str(_images(tmp_path / "imgs"))
    with pytest.raises(GanforgeError, match=r"^cannot use --out '.*loop.zip': Too many levels of symbolic links"):
        convert(src, zloop, 8, progress=False)
    _names(_cli(capsys, "data", "convert", src, "--out", str(zloop), "--resolution", "8"), str(zloop),
           "Too many levels of symbolic links", "symlink loop")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_data_root_that_is_not_a_folder(tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    afile = tmp_path / "file.txt"
    afile.write_text("not a folder")
    cases = {
        str(fifo): f"data.root {str(fifo)!r} is a named pipe, not a folder",
        "/dev/zero": "data.root '/dev/zero' is a character device, not a folder",
        str(afile): f"data.root {str(afile)!r} is a file, not a folder",
        str(tmp_path / "missing"): f"data.root {str(tmp_path / 'missing')!r} does not exist",
    }
    for root, start in cases.items():
        for name in ("mnist", "fashion-mnist", "emoji"):
            with within(30), pytest.raises(GanforgeError) as e:
                load_dataset(DataConfig(name=name, root=root))
            assert str(e.value) == f"{start}; give the folder holding the dataset's files, or leave data.root at none"
    out = tmp_path / "run"
    msg = _cli(capsys, "train", "--preset", "dcgan-tiny", "--set", f"data.root={fifo}", "--set", "data.name=mnist",
               "--out", str(out))
    _names(msg, str(fifo), "named pipe")
    assert "data.root" in msg


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_data_name_that_is_a_fifo_or_a_device_does_not_hang(tmp_path, capsys):
    fifo = tmp_path / "pipe.zip"
    os.mkfifo(fifo)
    for path, kind in ((str(fifo), "named pipe"), ("/dev/zero", "character device")):
        with within(30), pytest.raises(GanforgeError, match=f"is a {kind}, not a folder or a zip archive"):
            load_dataset(DataConfig(name=path))
        with within(30), pytest.raises(GanforgeError, match=f"is a {kind}, not a folder or a zip archive"):
            convert(path, tmp_path / "o.zip", 8, progress=False)
        _names(_cli(capsys, "data", "check", path), path, kind)
        _names(_cli(capsys, "data", "convert", path, "--out", str(tmp_path / "o.zip"), "--resolution", "8"), path, kind)
    assert sorted(os.listdir(tmp_path)) == ["pipe.zip"]


def test_idx_file_paths(tmp_path):
    from ganforge.data.idx import read_idx

    with pytest.raises(GanforgeError, match=r"^cannot use IDX file 'x{300}': File name too long"):
        read_idx(LONG_NAME)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "t10k-images-idx3-ubyte")
        with within(30), pytest.raises(GanforgeError, match="does not exist or is not a file"):
            read_idx(tmp_path / "t10k-images-idx3-ubyte")  # never opened: a pipe would block


def test_ganforge_data_env_that_cannot_be_looked_at(tmp_path, monkeypatch):
    loop = tmp_path / "loop"
    os.symlink(loop.name, loop)
    monkeypatch.setenv("GANFORGE_DATA", str(loop))
    with pytest.raises(GanforgeError, match=r"^cannot use \$GANFORGE_DATA .*loop': Too many levels of symbolic links"):
        load_dataset(DataConfig(name="mnist"))


def test_converted_output_and_source_names_still_work(tmp_path):
    """Ordinary long-ish paths (a source folder name of 255 bytes) are fine."""
    src = _images(tmp_path / ("s" * 255))
    done = convert(str(src), tmp_path / ("o" * 200 + ".zip"), 8, progress=False)
    assert done.images == 3 and len(load_dataset(DataConfig(name=str(done.path), resolution=8))) == 3
