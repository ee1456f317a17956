"""Data commands against hostile input: labels files that are huge, deeply nested, a pipe or a zip bomb;
file names that would forge report lines or drive the terminal; folder trees deeper than Python's recursion
limit or than a path may be long. Each ends in a report or one message (exit status 2), never a traceback,
a hang or unbounded memory."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from helpers.data import within

from ganforge.cli import main
from ganforge.config import DataConfig
from ganforge.data import load_dataset, scan_images
from ganforge.data.convert import convert
from ganforge.errors import GanforgeError


def _png(value: int = 0, size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _folder(root: Path, labels: bytes | None = None) -> Path:
    (root / "00000").mkdir(parents=True)
    (root / "00000" / "a.png").write_bytes(_png())
    if labels is not None:
        (root / "dataset.json").write_bytes(labels)
    return root


def _check_fails(capsys, path, *extra) -> str:
    with within(60):
        rc = main(["data", "check", str(path), *extra])
    out, err = capsys.readouterr()
    assert rc == 2 and "Traceback" not in err, err
    return err.strip().removeprefix("ganforge: error: ")


# ------------------------------------------------------------------------------------------------
# labels files


@pytest.mark.parametrize("labels,message", [
    (b"[" * 100_000, "not a labels file: its JSON is nested too deeply"),
    (b'{"labels": [["00000/a.png", ' + b"1" * 5000 + b"]]}", "not valid JSON (Exceeds the limit (4300 digits)"),
    (b'{"labels": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "not a labels file: its JSON is nested too deeply"),
    (b"\xff\xfe{}", "not valid JSON ('utf-8' codec can't decode byte 0xff"),
])
def test_malformed_labels_files_are_one_message(tmp_path, capsys, labels, message):
    root = _folder(tmp_path / "d", labels)
    assert _check_fails(capsys, root).startswith(f"{root / 'dataset.json'}: {message}")
    with pytest.raises(GanforgeError, match="dataset.json"):
        load_dataset(DataConfig(name=str(root), resolution=8))


def test_a_deeply_nested_bad_entry_is_named_briefly(tmp_path):
    entry = "[" * 500 + "]" * 500
    root = _folder(tmp_path / "d", f'{{"labels": [{entry}]}}'.encode())
    with pytest.raises(GanforgeError) as e:
        load_dataset(DataConfig(name=str(root), resolution=8))
    assert "bad entry '[[[[...]]]]'; each entry is [path, class index 0..999999]" in str(e.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_labels_file_that_is_a_pipe_is_never_opened(tmp_path, capsys):
    root = _folder(tmp_path / "d")
    os.mkfifo(root / "dataset.json")
    assert _check_fails(capsys, root) == f"labels file {root / 'dataset.json'}: not a regular file (named pipe)"


def test_labels_file_is_read_within_max_file_bytes(tmp_path, capsys):
    doc = {"labels": [["00000/a.png", 0]] + [[f"padding/{i:06d}.png", 0] for i in range(200)]}
    root = _folder(tmp_path / "d", json.dumps(doc).encode())  # about 6 KB
    msg = _check_fails(capsys, root, "--max-file-bytes", "4096")
    assert msg.startswith(f"labels file {root / 'dataset.json'}: too large: ") and "limit 4096 bytes (data.max_file_bytes)" in msg
    with pytest.raises(GanforgeError, match=r"labels file .*too large: .*limit 4096 bytes"):
        load_dataset(DataConfig(name=str(root), resolution=8, max_file_bytes=4096))


def test_labels_zip_bomb_is_refused_by_its_header(tmp_path, capsys):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("00000/a.png", _png())
        with z.open("dataset.json", "w", force_zip64=True) as f:  # 200 MB of spaces in about 200 KB
            chunk = b" " * (1 << 20)
            for _ in range(200):
                f.write(chunk)
    assert path.stat().st_size < 1 << 20
    msg = _check_fails(capsys, path)
    assert msg.startswith(f"labels file {path}:dataset.json is {200 << 20} bytes, more than a labels file for the 2 "
                          f"files here can need")
    msg = _check_fails(capsys, path, "--max-file-bytes", "1000")  # below what the files could need: it answers
    assert msg == f"labels file {path}:dataset.json: too large: {200 << 20} bytes, limit 1000 bytes (data.max_file_bytes)"


def test_labels_member_that_cannot_be_read_is_one_message(tmp_path, capsys):
    path = tmp_path / "enc.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("00000/a.png", _png())
        z.writestr("dataset.json", b'{"labels": null}')
    data = bytearray(path.read_bytes())  # mark it encrypted: zipfile refuses to read it without a password
    with zipfile.ZipFile(path) as z:
        data[z.getinfo("dataset.json").header_offset + 6] |= 1  # local header flags
    data[data.rfind(b"PK\x01\x02") + 8] |= 1  # its central directory record (the last one) flags
    path.write_bytes(bytes(data))
    msg = _check_fails(capsys, path)
    assert msg.startswith(f"cannot read labels file {path}:dataset.json: RuntimeError: ") and "encrypted" in msg


# ------------------------------------------------------------------------------------------------
# names


def test_names_that_would_forge_report_lines_are_escaped(tmp_path, capsys):
    root = tmp_path / "d"
    root.mkdir()
    (root / "good.png").write_bytes(_png())
    evil = os.fsencode(root) + b"/bad\xff\nname \x1b[2J\xe2\x80\xae.png"  # newline, escape, RLO, not UTF-8
    with open(evil, "wb") as f:
        f.write(b"not an image")
    (root / "caf\u00e9 \u65e5\u672c.png").write_bytes(_png(9))  # ordinary non-ASCII names are kept as they are
    with within(60):
        assert main(["data", "check", str(root)]) == 2  # a bad file: exit status 2, with the report
    out = capsys.readouterr().out
    bad = out.split("bad files:\n", 1)[1]
    assert bad == f"  {root}/bad\\xff\\nname \\x1b[2J\\u202e.png: not an image: the content is not a recognised image format\n"
    assert "\x1b" not in out and "\u202e" not in out
    report = scan_images(root)
    assert sorted(e.path for e in report.good) == [f"{root}/caf\u00e9 \u65e5\u672c.png", f"{root}/good.png"]
    with pytest.raises(GanforgeError) as e:
        load_dataset(DataConfig(name=str(root), resolution=8))
    assert "bad\\xff\\nname" in str(e.value) and "\x1b" not in str(e.value)
    str(e.value).encode("utf-8")  # printable: no lone surrogate left


def test_zip_member_names_are_escaped_too(tmp_path):
    path = tmp_path / "d.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ok.png", _png())
        z.writestr("x\ny\r.png", b"junk")
    report = scan_images(path)
    assert report.bad == [(f"{path}:x\\ny\\r.png", "not an image: the content is not a recognised image format")]


# ------------------------------------------------------------------------------------------------
# folder trees


def _chain(root: Path, levels: int, file: str | None = None) -> None:
    """``root/a/a/.../a`` (``levels`` deep, made by relative names: the whole may pass 4096 bytes), with
    ``file`` (a PNG) at the bottom."""
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(levels):
            os.mkdir("a", dir_fd=fd)
            nxt = os.open("a", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        if file is not None:
            with open(os.open(file, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
                f.write(_png(7))
    finally:
        os.close(fd)


@pytest.fixture
def deep_root(tmp_path):
    """A folder whose ``a/a/...`` chain is removed at the end by the test itself: shutil.rmtree (and so
    pytest's clean-up of old temporary folders, shared by every test run on the machine) recurses once per
    level in Python 3.11 and would fail on it."""
    root = tmp_path / "deep"
    root.mkdir()
    yield root
    import shutil
    import subprocess

    if shutil.which("rm") and subprocess.run(["rm", "-rf", str(root)]).returncode == 0:  # GNU rm: any depth
        return
    cwd = os.getcwd()
    try:
        os.chdir(root)
        depth = 0
        while os.path.isdir("a"):
            os.chdir("a")
            depth += 1
        for _ in range(depth):
            for name in os.listdir("."):
                os.unlink(name)
            os.chdir("..")
            os.rmdir("a")
    finally:
        os.chdir(cwd)


def test_a_tree_deeper_than_the_recursion_limit(deep_root, capsys):
    root = deep_root
    _chain(root, 1500, "deep.png")  # os.walk recursed once per level (RecursionError at about 1000)
    with within(60):
        report = scan_images(root)
    assert [e.rel for e in report.good] == ["a/" * 1500 + "deep.png"] and report.bad == []
    assert report.class_names == ("a",)  # the first-level folder is its class, as in any folder


def test_a_folder_too_deep_to_list_is_a_bad_entry(deep_root, capsys):
    """Past 4096 bytes of path a folder cannot be listed by name: reported, not skipped silently."""
    root = deep_root
    (root / "top.png").write_bytes(_png())
    _chain(root, 2100)
    with within(60):
        report = scan_images(root)
    assert [e.rel for e in report.good] == ["top.png"]
    assert len(report.bad) == 1 and report.bad[0][1] == "cannot list this folder: File name too long"
    with within(60):
        assert main(["data", "check", str(root)]) == 2
    assert "cannot list this folder: File name too long" in capsys.readouterr().out


def test_symlinks_out_of_the_folder_are_checked_like_any_file(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("password=hunter2")
    (outside / "photo.png").write_bytes(_png(3))
    root = tmp_path / "d"
    root.mkdir()
    (root / "own.png").write_bytes(_png())
    os.symlink(outside / "secret.txt", root / "stolen.png")
    os.symlink(outside, root / "linked-folder")  # never walked
    report = scan_images(root)
    assert [e.rel for e in report.good] == ["own.png"]
    assert report.bad == [(f"{root}/stolen.png", "not an image: the content is not a recognised image format")]
    out = convert(str(root), tmp_path / "c.zip", 8, on_bad_image="skip", progress=False)
    assert out.images == 1 and out.skipped == 1
    with zipfile.ZipFile(out.path) as z:
        assert b"hunter2" not in b"".join(z.read(n) for n in z.namelist())


def test_a_labels_file_far_larger_than_its_dataset_needs_is_refused_unparsed(tmp_path, capsys):
    """8 million entries in 61 MiB (under data.max_file_bytes) would take about 900 MB of Python objects to
    parse; a labels file can only need so many bytes for the files there are."""
    entries = b",".join([b'["00000/a.png",0]'] * 3_000_000)
    root = _folder(tmp_path / "d", b'{"labels": [' + entries + b"]}")
    size = (root / "dataset.json").stat().st_size
    msg = _check_fails(capsys, root)
    assert msg.startswith(f"labels file {root / 'dataset.json'} is {size} bytes, more than a labels file for the 2 "
                          f"files here can need (")
    real = _folder(tmp_path / "ok", json.dumps({"labels": [["00000/a.png", 1]], "class_names": ["x" * 200] * 2},
                                               indent=4).encode())
    assert load_dataset(DataConfig(name=str(real), resolution=8)).labels.tolist() == [1]


def test_only_the_allowed_decoders_ever_see_a_file(tmp_path, monkeypatch):
    """PIL identifies files by content: a "photo.png" holding PostScript would be handed to Ghostscript."""
    from PIL import EpsImagePlugin

    def ghostscript(*a, **k):
        raise AssertionError("an EPS file reached Ghostscript")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", ghostscript)
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "load", ghostscript)
    root = tmp_path / "d"
    root.mkdir()
    (root / "good.png").write_bytes(_png())
    (root / "photo.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buf, format="JPEG")
    (root / "really-a-jpeg.png").write_bytes(buf.getvalue())  # a misnamed allowed format still reads
    frame = Image.fromarray(np.zeros((8, 8, 3), np.uint8))
    frame.save(root / "phone.jpg", format="MPO", save_all=True, append_images=[frame])  # a phone's multi-picture JPEG
    report = scan_images(root)
    assert sorted(e.rel for e in report.good) == ["good.png", "phone.jpg", "really-a-jpeg.png"]
    assert report.bad == [(f"{root}/photo.png", "not an image: the content is not a recognised image format")]
