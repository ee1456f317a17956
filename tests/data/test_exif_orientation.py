"""EXIF Orientation: a phone photo stored sideways with a "rotate" tag comes out the way viewers show it,
the same whether a folder is read for training, checked, converted, or streamed."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.cli import main
from ganforge.config import DataConfig
from ganforge.data import load_dataset, scan_images
from ganforge.data.convert import convert
from ganforge.data.folder import decode_to_array, resize_array

# EXIF orientation -> what a viewer does to the stored pixels (numpy, rows x columns)
SHOWN = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, k=-1),  # rotate 90 degrees clockwise
    7: lambda a: np.swapaxes(a[::-1, ::-1], 0, 1),  # transverse
    8: lambda a: np.rot90(a, k=1),
}


def _pattern(h: int = 6, w: int = 10, channels: int = 3) -> np.ndarray:
    """Non-square, asymmetric: every pixel differs, so any flip or turn shows."""
    a = (np.arange(h * w * channels, dtype=np.int64).reshape(h, w, channels) * 7 % 251).astype(np.uint8)
    return a[..., 0] if channels == 1 else a


def _orientation(img: Image.Image) -> int:
    return img.getexif().get(0x0112, 1)


def _save(path: Path, arr: np.ndarray, orientation: int, fmt: str = "PNG", **kw) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt, exif=exif, **kw)
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_decoding_applies_every_orientation(tmp_path, orientation):
    arr = _pattern()
    p = _save(tmp_path / "x.png", arr, orientation)
    with Image.open(p) as img:
        img.load()
        assert _orientation(img) == orientation
        got = decode_to_array(img)
    np.testing.assert_array_equal(got, SHOWN[orientation](arr))


def test_gray_png_rotated_90_clockwise(tmp_path):
    arr = _pattern(channels=1)  # 6 rows x 10 columns
    with Image.open(_save(tmp_path / "g.png", arr, 6)) as img:
        got = decode_to_array(img)
    assert got.shape == (10, 6, 1)
    np.testing.assert_array_equal(got[..., 0], np.rot90(arr, k=-1))


def test_jpeg_with_orientation_6_is_turned(tmp_path):
    # blocks of 8 px (JPEG's own) keep the lossy pixels close to the pattern
    arr = np.kron(_pattern(4, 6, 1), np.ones((8, 8), np.uint8))  # 32 x 48
    p = _save(tmp_path / "phone.jpg", arr, 6, fmt="JPEG", quality=100)
    with Image.open(p) as img:
        got = decode_to_array(img)[..., 0].astype(int)
    want = np.rot90(arr, k=-1).astype(int)
    assert got.shape == want.shape == (48, 32)
    assert np.abs(got - want).mean() < 3 < np.abs(got - np.rot90(arr, k=1).astype(int)).mean()


def test_a_broken_exif_block_is_ignored_not_a_bad_file(tmp_path):
    arr = _pattern()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", exif=b"Exif\x00\x00MM\x00\x2a\xff\xff\xff\xff")  # IFD past the end
    p = tmp_path / "d" / "x.png"
    p.parent.mkdir()
    p.write_bytes(buf.getvalue())
    report = scan_images(p.parent)
    assert report.bad == [] and (report.good[0].width, report.good[0].height) == (10, 6)


def test_folder_training_check_convert_and_stream_agree(tmp_path, capsys):
    arr = _pattern(12, 20)
    folder = tmp_path / "photos"
    _save(folder / "phone.png", arr, 6)  # stored 20 wide x 12 high, shown 12 wide x 20 high
    _save(folder / "plain.png", np.rot90(arr, k=-1).copy(), 1)  # the same photo, stored turned
    report = scan_images(folder)
    assert [(e.rel, e.width, e.height) for e in report.good] == [("phone.png", 12, 20), ("plain.png", 12, 20)]
    assert main(["data", "check", str(folder)]) == 0
    assert "sizes: 12x20 (2)" in capsys.readouterr().out

    cfg = DataConfig(name=str(folder), resolution=16, resize="stretch", channels=3)
    direct = load_dataset(cfg)
    want = resize_array(np.rot90(arr, k=-1).copy(), 16, "stretch")
    assert torch.equal(direct.images_u8[0], direct.images_u8[1])  # tag or turned pixels: the same image
    np.testing.assert_array_equal(direct.images_u8[0].permute(1, 2, 0).numpy(), want)

    out = convert(str(folder), tmp_path / "conv.zip", 16, resize="stretch", channels=3, progress=False).path
    conv = load_dataset(DataConfig(name=str(out), resolution=16, channels=3))
    streamed = load_dataset(DataConfig(name=str(folder), resolution=16, resize="stretch", channels=3, stream="always"))
    assert torch.equal(conv.images_u8, direct.images_u8) and conv.content_hash == direct.content_hash
    assert torch.equal(streamed.images_u8[torch.arange(2)], direct.images_u8)
    with zipfile.ZipFile(out) as z:  # the converted PNGs hold turned pixels and no orientation tag
        with Image.open(io.BytesIO(z.read("00000/img00000000.png"))) as img:
            assert _orientation(img) == 1 and img.size == (16, 16)


def test_native_size_of_a_turned_photo_is_its_shown_size(tmp_path):
    arr = _pattern(8, 8)
    _save(tmp_path / "sq" / "a.png", arr, 8)
    ds = load_dataset(DataConfig(name=str(tmp_path / "sq"), resolution=None))
    np.testing.assert_array_equal(ds.images_u8[0].permute(1, 2, 0).numpy(), np.rot90(arr, k=1))
    _save(tmp_path / "mixed" / "a.png", _pattern(8, 12), 6)  # stored 12 wide x 8 high, shown 8 x 12 ...
    _save(tmp_path / "mixed" / "b.png", _pattern(12, 8), 1)  # ... like this one: one size, not two
    from ganforge.errors import GanforgeError

    with pytest.raises(GanforgeError, match=r"are 8x12, not square"):
        load_dataset(DataConfig(name=str(tmp_path / "mixed"), resolution=None))
