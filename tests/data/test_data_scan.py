"""Pre-flight scan: every kind of bad file is reported with a reason; error / skip policies."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from PIL import Image
from helpers.data import bad_reasons, save_image, solid

from ganforge.config import DataConfig
from ganforge.data import check_path, load_dataset, scan_images
from ganforge.errors import GanforgeError


def png_with_header_size(width: int, height: int) -> bytes:
    """A tiny, syntactically valid PNG whose IHDR claims width x height (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture
def messy(tmp_path):
    """One good image plus one of each bad kind."""
    d = tmp_path / "messy"
    save_image(d / "good.png", solid("L", (16, 16), 7))
    save_image(d / "tmp.png", Image.effect_noise((64, 64), 50).convert("RGB"))
    (d / "truncated.png").write_bytes((d / "tmp.png").read_bytes()[:400])
    (d / "tmp.png").unlink()
    (d / "empty.png").write_bytes(b"")
    (d / "fake.png").write_text("this is not an image")
    (d / "notes.txt").write_text("hello")
    (d / "bomb.png").write_bytes(png_with_header_size(100_000, 100_000))
    return d


def test_scan_reports_every_bad_kind(messy):
    report = scan_images(messy)
    assert [e.rel for e in report.good] == ["good.png"]
    r = bad_reasons(report)
    assert set(r) == {"truncated.png", "empty.png", "fake.png", "notes.txt", "bomb.png"}
    assert r["truncated.png"].startswith("truncated or corrupt")
    assert r["empty.png"] == "zero-byte file"
    assert r["fake.png"].startswith("not an image")
    assert r["notes.txt"].startswith("disallowed format (.txt)") and "png" in r["notes.txt"]
    assert r["bomb.png"].startswith("oversized")
    assert all(p.startswith(str(messy)) for p, _ in report.bad)  # full paths


def test_oversized_by_header_with_small_limit(tmp_path):
    save_image(tmp_path / "d" / "a.png", solid("L", (64, 64), 1))
    save_image(tmp_path / "d" / "b.png", solid("L", (16, 16), 1))
    report = scan_images(tmp_path / "d", max_pixels=1000)
    assert bad_reasons(report) == {"a.png": "oversized: 4096 pixels, limit 1000 pixels (data.max_image_pixels)"}
    ds = load_dataset(DataConfig(name=str(tmp_path / "d"), resolution=16, on_bad_image="skip", max_image_pixels=1000))
    assert len(ds) == 1 and ds.skipped == 1


def test_one_pixel_limit_pil_follows_ours(tmp_path, monkeypatch):
    save_image(tmp_path / "d" / "a.png", solid("L", (40, 40), 1))  # 1600 px
    save_image(tmp_path / "d" / "b.png", solid("L", (50, 50), 1))  # 2500 px
    save_image(tmp_path / "d" / "c.png", solid("L", (8, 8), 1))
    # PIL's own limit lower than ours (it warns above 1000 px and refuses above 2000 px): ours rules.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert bad_reasons(scan_images(tmp_path / "d", max_pixels=5000)) == {}
    r = bad_reasons(scan_images(tmp_path / "d", max_pixels=1500))
    assert r == {"a.png": "oversized: 1600 pixels, limit 1500 pixels (data.max_image_pixels)",
                 "b.png": "oversized: 2500 pixels, limit 1500 pixels (data.max_image_pixels)"}
    assert Image.MAX_IMAGE_PIXELS == 1000  # restored after the scan


def test_policy_error_lists_files_and_hint(messy):
    with pytest.raises(GanforgeError) as e:
        load_dataset(DataConfig(name=str(messy), resolution=16))
    msg = str(e.value)
    assert "5 bad files" in msg and "1 usable images" in msg
    for name in ("truncated.png", "empty.png", "fake.png", "notes.txt", "bomb.png"):
        assert name in msg
    assert "zero-byte file" in msg and "--on-bad-image skip" in msg


def test_policy_error_lists_at_most_20(tmp_path):
    d = tmp_path / "d"
    save_image(d / "ok.png", solid("L", (8, 8), 1))
    for i in range(25):
        (d / f"bad{i:02d}.txt").write_text("x")
    with pytest.raises(GanforgeError) as e:
        scan_images(d, on_bad_image="error")
    msg = str(e.value)
    assert "bad19.txt" in msg and "bad20.txt" not in msg and "and 5 more" in msg


def test_policy_skip_trains_on_the_rest(messy):
    ds = load_dataset(DataConfig(name=str(messy), resolution=16, on_bad_image="skip"))
    assert len(ds) == 1 and ds.skipped == 5 and int(ds.images_u8.max()) == 7


def test_invalid_policy(messy):
    with pytest.raises(GanforgeError) as e:
        load_dataset(DataConfig(name=str(messy), on_bad_image="ignore"))
    assert "'ignore'" in str(e.value) and "error, skip" in str(e.value)


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanforgeError, match="folder is empty"):
        scan_images(tmp_path / "empty")
    (tmp_path / "empty" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(GanforgeError, match="empty .only 1 ignored OS litter"):
        load_dataset(DataConfig(name=str(tmp_path / "empty"), on_bad_image="skip"))


def test_no_usable_image_names_what_was_found(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "notes.txt").write_text("x")
    (d / "broken.jpg").write_bytes(b"")
    with pytest.raises(GanforgeError) as e:
        load_dataset(DataConfig(name=str(d), on_bad_image="skip"))
    msg = str(e.value)
    assert "found 2 files" in msg
    assert "notes.txt (disallowed format)" in msg and "broken.jpg (zero-byte file)" in msg


def test_missing_path_and_unknown_name(tmp_path):
    with pytest.raises(GanforgeError, match="does not exist"):
        scan_images(tmp_path / "nope")
    with pytest.raises(GanforgeError) as e:
        check_path("cifar-11")
    assert "unknown dataset 'cifar-11'" in str(e.value) and "fashion-mnist, mnist" in str(e.value)
    (tmp_path / "file.bin").write_bytes(b"abc")
    with pytest.raises(GanforgeError, match="not a zip archive"):
        scan_images(tmp_path / "file.bin")


def test_report_format_and_dict(messy):
    report = check_path(messy)
    text = report.format()
    assert "1 usable images, 5 bad files" in text and "truncated.png" in text and "16x16 (1)" in text
    d = json.loads(json.dumps(report.to_dict()))
    assert d["num_images"] == 1 and len(d["bad"]) == 5 and d["kind"] == "folder"
    assert {"path", "reason"} == set(d["bad"][0])
    assert not report.ok


def test_check_path_builtin(tmp_path, isolated_dirs):
    from helpers.data import write_mnist_like
    from ganforge.data.idx import write_idx

    folder = isolated_dirs["env"] / "mnist"
    write_mnist_like(folder)
    report = check_path("mnist")
    assert report.kind == "builtin" and report.ok and report.num_images == 10
    assert [e.rel for e in report.good] == ["train", "test"]
    import numpy as np

    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))  # 3 labels for 4 images
    report = check_path("mnist")
    assert not report.ok and "label count mismatch" in report.bad[0][1]
