"""Image folders and zip archives: modes, channels, resize policies, litter, labels."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from PIL import Image
from helpers.data import png_bytes, save_image, solid

from ganforge.config import DataConfig
from ganforge.data import load_dataset, scan_images
from ganforge.errors import GanforgeError


def load(path, **kw):
    return load_dataset(DataConfig(name=str(path), **kw))


# ---------------------------------------------------------------------------------------------
# Modes


def test_mode_L(tmp_path):
    save_image(tmp_path / "d" / "a.png", solid("L", (8, 8), 100))
    ds = load(tmp_path / "d", resolution=None)
    assert ds.images_u8.shape == (1, 1, 8, 8) and ds.channels == 1
    assert int(ds.images_u8.min()) == int(ds.images_u8.max()) == 100


def test_mode_LA_composited_over_black(tmp_path):
    a = np.zeros((8, 8, 2), np.uint8)
    a[..., 0] = 200
    a[:, :4, 1] = 255  # left half opaque
    a[:, 4:, 1] = 0  # right half fully transparent -> black
    save_image(tmp_path / "d" / "a.png", Image.fromarray(a, "LA"))
    x = load(tmp_path / "d", resolution=None).images_u8[0, 0]
    assert x.shape == (8, 8)
    assert (x[:, :4] == 200).all() and (x[:, 4:] == 0).all()


def test_mode_RGB_and_RGBA(tmp_path):
    save_image(tmp_path / "rgb" / "a.png", solid("RGB", (8, 8), (10, 20, 30)))
    x = load(tmp_path / "rgb", resolution=None).images_u8
    assert x.shape == (1, 3, 8, 8) and x[0, :, 0, 0].tolist() == [10, 20, 30]
    save_image(tmp_path / "rgba" / "a.png", solid("RGBA", (8, 8), (200, 100, 50, 128)))
    x = load(tmp_path / "rgba", resolution=None).images_u8
    # 128/255 alpha over black: 200 -> 100, 100 -> 50, 50 -> 25
    assert x.shape == (1, 3, 8, 8) and x[0, :, 3, 3].tolist() == [100, 50, 25]


def test_mode_P_color_and_gray_palette(tmp_path):
    color = solid("RGB", (8, 8), (255, 0, 0)).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    assert color.mode == "P"
    save_image(tmp_path / "c" / "a.png", color)
    x = load(tmp_path / "c", resolution=None).images_u8
    assert x.shape == (1, 3, 8, 8) and x[0, :, 0, 0].tolist() == [255, 0, 0]

    gray = Image.new("P", (8, 8), 1)
    gray.putpalette([0, 0, 0, 77, 77, 77] + [0] * (254 * 3))
    save_image(tmp_path / "g" / "a.png", gray)
    x = load(tmp_path / "g", resolution=None).images_u8
    assert x.shape == (1, 1, 8, 8) and int(x[0, 0, 0, 0]) == 77

    # palette transparency (tRNS) is composited over black too
    t = Image.new("P", (8, 8), 1)
    t.putpalette([0, 0, 0, 0, 255, 0] + [0] * (254 * 3))
    t.info["transparency"] = 1
    save_image(tmp_path / "t" / "a.png", t)
    x = load(tmp_path / "t", resolution=None).images_u8
    assert int(x.max()) == 0


def test_mode_I16_scaled_not_clipped(tmp_path):
    a = np.array([[0, 256, 32768, 65535]] * 4, dtype=np.uint16)
    img = Image.fromarray(a)
    assert img.mode.startswith("I;16")
    save_image(tmp_path / "d" / "a.png", img)
    src_mode = scan_images(tmp_path / "d").good[0].mode
    assert src_mode.startswith("I")  # really a 16-bit source
    x = load(tmp_path / "d", resolution=None).images_u8
    assert x.shape == (1, 1, 4, 4) and x[0, 0, 0].tolist() == [0, 1, 128, 255]


def test_mode_1_bilevel(tmp_path):
    a = np.zeros((8, 8), bool)
    a[:, 4:] = True
    save_image(tmp_path / "d" / "a.png", Image.fromarray(a))
    x = load(tmp_path / "d", resolution=None).images_u8
    assert x.shape == (1, 1, 8, 8)
    assert set(np.unique(x.numpy()).tolist()) == {0, 255} and int(x[0, 0, 0, 7]) == 255


def test_mode_CMYK_becomes_rgb(tmp_path):
    save_image(tmp_path / "d" / "a.jpg", solid("CMYK", (8, 8), (0, 255, 255, 0)))  # pure red in CMYK
    x = load(tmp_path / "d", resolution=None).images_u8
    assert x.shape == (1, 3, 8, 8)
    r, g, b = x[0, :, 4, 4].tolist()
    assert r > 200 and g < 60 and b < 60


def test_channels_auto_and_forced(tmp_path):
    save_image(tmp_path / "d" / "a.png", solid("L", (8, 8), 50))
    save_image(tmp_path / "d" / "b.png", solid("RGB", (8, 8), (255, 0, 0)))
    ds = load(tmp_path / "d", resolution=None)
    assert ds.channels == 3  # one colour image -> all RGB
    assert ds.images_u8[0, :, 0, 0].tolist() == [50, 50, 50]  # gray repeated
    ds1 = load(tmp_path / "d", resolution=None, channels=1)
    assert ds1.channels == 1 and int(ds1.images_u8[1, 0, 0, 0]) == 76  # 0.299 * 255 luma
    with pytest.raises(GanforgeError, match="valid choices: 1, 3"):
        load(tmp_path / "d", channels=2)


# ---------------------------------------------------------------------------------------------
# Resize policies


def _three_bands(w=30, h=10):
    """Left third red, middle third green, right third blue."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 3, 0] = 255
    a[:, w // 3 : 2 * w // 3, 1] = 255
    a[:, 2 * w // 3 :, 2] = 255
    return Image.fromarray(a)


def test_resize_pad_downscale_keeps_aspect_with_black_borders(tmp_path):
    save_image(tmp_path / "d" / "a.png", solid("L", (40, 20), 255))
    x = load(tmp_path / "d", resolution=16, resize="pad").images_u8[0, 0]
    assert x.shape == (16, 16)
    assert (x[:4] == 0).all() and (x[12:] == 0).all()  # 16x8 content centered vertically
    assert (x[4:12] == 255).all()


def test_resize_pad_never_upscales(tmp_path):
    save_image(tmp_path / "d" / "a.png", solid("L", (10, 10), 255))
    x = load(tmp_path / "d", resolution=16, resize="pad").images_u8[0, 0]
    assert (x[3:13, 3:13] == 255).all()
    assert int(x.sum()) == 100 * 255  # everything outside the 10x10 center is black


def test_resize_crop_keeps_center(tmp_path):
    save_image(tmp_path / "d" / "a.png", _three_bands())
    x = load(tmp_path / "d", resolution=8, resize="crop").images_u8[0]
    assert x.shape == (3, 8, 8)
    # only the green middle survives (LANCZOS may sample a pixel beyond the crop box at the edges)
    assert (x[1] >= 240).all() and (x[0] <= 16).all() and (x[2] <= 16).all()
    assert (x[1, :, 1:-1] == 255).all() and (x[0, :, 1:-1] == 0).all()


def test_resize_stretch_fills_square(tmp_path):
    save_image(tmp_path / "d" / "a.png", _three_bands(30, 10))
    x = load(tmp_path / "d", resolution=12, resize="stretch").images_u8[0]
    assert x.shape == (3, 12, 12)
    assert (x[0, :, :3] >= 250).all() and (x[1, :, 5:7] >= 250).all() and (x[2, :, -3:] >= 250).all()


def test_large_downscale(tmp_path):
    save_image(tmp_path / "d" / "a.png", solid("RGB", (1000, 500), (0, 0, 255)))
    x = load(tmp_path / "d", resolution=32, resize="crop").images_u8
    assert x.shape == (1, 3, 32, 32) and (x[0, 2] == 255).all() and (x[0, :2] == 0).all()


def test_invalid_resize_policy(tmp_path):
    save_image(tmp_path / "d" / "a.png", solid("L", (8, 8), 1))
    with pytest.raises(GanforgeError) as e:
        load(tmp_path / "d", resize="squash")
    assert "'squash'" in str(e.value) and "crop, pad, stretch" in str(e.value)


def test_native_resolution_requires_one_square_size(tmp_path):
    save_image(tmp_path / "d" / "a.png", solid("L", (8, 8), 1))
    save_image(tmp_path / "d" / "b.png", solid("L", (16, 16), 1))
    with pytest.raises(GanforgeError) as e:
        load(tmp_path / "d", resolution=None)
    assert "8x8" in str(e.value) and "16x16" in str(e.value)
    save_image(tmp_path / "r" / "a.png", solid("L", (8, 4), 1))
    with pytest.raises(GanforgeError, match="not square"):
        load(tmp_path / "r", resolution=None)
    with pytest.raises(GanforgeError, match="positive integer"):
        load(tmp_path / "r", resolution=0)


# ---------------------------------------------------------------------------------------------
# Litter, labels, zips


def _litter(root):
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "Thumbs.db").write_bytes(b"junk")
    (root / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (root / ".hidden").mkdir(exist_ok=True)
    (root / ".hidden" / "x.png").write_bytes(b"not really")
    (root / "__MACOSX").mkdir(exist_ok=True)
    (root / "__MACOSX" / "._b.png").write_bytes(b"junk")


def test_litter_ignored(tmp_path):
    d = tmp_path / "d"
    save_image(d / "a.png", solid("L", (8, 8), 9))
    _litter(d)
    report = scan_images(d)
    assert report.ignored_litter == 5 and report.bad == [] and len(report.good) == 1
    ds = load(d, resolution=8, on_bad_image="error")  # litter never counts as a bad file
    assert len(ds) == 1 and ds.skipped == 0


def test_labels_from_subfolders(tmp_path):
    d = tmp_path / "d"
    save_image(d / "dog" / "1.png", solid("L", (8, 8), 1))
    save_image(d / "cat" / "1.png", solid("L", (8, 8), 2))
    save_image(d / "cat" / "deeper" / "2.png", solid("L", (8, 8), 3))  # label = first level
    ds = load(d, resolution=8, use_labels=True)
    assert ds.class_names == ("cat", "dog") and ds.num_classes == 2
    # sorted file order: cat/1, cat/deeper/2, dog/1
    assert ds.labels.tolist() == [0, 0, 1]
    assert ds.images_u8[:, 0, 0, 0].tolist() == [2, 3, 1]


def test_unlabelled_folder(tmp_path):
    save_image(tmp_path / "d" / "a.png", solid("L", (8, 8), 1))
    ds = load(tmp_path / "d", resolution=8)
    assert ds.labels is None and ds.class_names == () and ds.num_classes == 0
    with pytest.raises(GanforgeError, match="use_labels is true.*no labels"):
        load(tmp_path / "d", resolution=8, use_labels=True)


def test_top_level_images_with_subfolders_is_an_error(tmp_path):
    save_image(tmp_path / "d" / "a.png", solid("L", (8, 8), 1))
    save_image(tmp_path / "d" / "cls" / "b.png", solid("L", (8, 8), 1))
    with pytest.raises(GanforgeError, match="both at the top level.*a.png.*cls/b.png"):
        load(tmp_path / "d")


def test_zip_archive_with_macosx_and_wrapper_folder(tmp_path):
    z = tmp_path / "pets.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("pets/cat/a.png", png_bytes(solid("L", (8, 8), 10)))
        zf.writestr("pets/dog/b.png", png_bytes(solid("L", (8, 8), 20)))
        zf.writestr("pets/dog/.DS_Store", b"junk")
        zf.writestr("__MACOSX/pets/cat/._a.png", b"junk")
        zf.writestr("pets/", b"")  # explicit directory entry
    report = scan_images(z)
    assert report.kind == "zip" and report.ignored_litter == 2 and report.bad == []
    assert report.good[0].path == f"{z}:pets/cat/a.png"
    ds = load(z, resolution=8, use_labels=True)
    assert ds.class_names == ("cat", "dog") and ds.labels.tolist() == [0, 1]
    assert ds.images_u8[:, 0, 0, 0].tolist() == [10, 20]


def test_zip_flat(tmp_path):
    z = tmp_path / "flat.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.png", png_bytes(solid("RGB", (8, 8), (1, 2, 3))))
    ds = load(z, resolution=8)
    assert ds.labels is None and ds.images_u8.shape == (1, 3, 8, 8)


def test_many_formats_decode(tmp_path):
    d = tmp_path / "d"
    img = solid("RGB", (8, 8), (0, 128, 255))
    for ext in ("png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"):
        save_image(d / f"a.{ext}", img)
    report = scan_images(d)
    assert report.bad == [] and len(report.good) == 8
    ds = load(d, resolution=8)
    assert ds.images_u8.shape == (8, 3, 8, 8)
    assert (ds.images_u8[:, 2].float().mean(dim=(1, 2)) > 230).all()  # blue survives every codec
