"""Image-to-image translation datasets: the built-in tasks on the real local data, and the three folder
layouts (aligned, matched, unpaired) on small PNG folders made here."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import DataConfig, Experiment
from ganforge.data import emoji as em
from ganforge.data import load_dataset, translation
from ganforge.data.builtin import locate_builtin
from ganforge.data.dataset import ImageDataset, content_hash
from ganforge.data.translation import (
    TRANSLATION_TASKS,
    TranslationDataset,
    is_translation_config,
    load_translation_dataset,
)
from ganforge.errors import GanforgeError
from ganforge.validation import check_field, validate_experiment


def _have_fmnist() -> bool:
    try:
        locate_builtin("fashion-mnist", download=False)
    except GanforgeError:
        return False
    return True


needs_fmnist = pytest.mark.skipif(not _have_fmnist(), reason="Fashion-MNIST files not installed (make data)")
needs_emoji = pytest.mark.skipif(not all(s.system_path.is_file() for s in em.SOURCES),
                                 reason="Debian's fonts-noto-color-emoji and unicode-data are not installed")


def _save(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(path)
    return path


def _const(h: int, w: int, color) -> np.ndarray:
    return np.broadcast_to(np.array(color, dtype=np.uint8), (h, w, len(color))).copy()


def _aligned(h: int, half_w: int, left, right) -> np.ndarray:
    return np.concatenate([_const(h, half_w, left), _const(h, half_w, right)], axis=1)


def _colours(x: torch.Tensor) -> list[tuple[int, ...]]:
    """The one colour of each (constant) image of uint8 [N, C, R, R]; fails on a non-constant image."""
    out = []
    for img in x:
        flat = img.reshape(img.shape[0], -1)
        assert (flat == flat[:, :1]).all(), "image is not one constant colour"
        out.append(tuple(int(v) for v in flat[:, 0]))
    return out


# ------------------------------------------------------------------------------------------------
# Built-in tasks, real data.


def _numpy_sobel_edges(b: np.ndarray) -> np.ndarray:
    """The documented rule written out plainly: 3x3 Sobel with zeros outside, magnitude, > 1/4 of the max."""
    n, h, w = b.shape
    p = np.pad(b.astype(np.float64), ((0, 0), (1, 1), (1, 1)))
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
    gx = np.zeros((n, h, w))
    gy = np.zeros((n, h, w))
    for dy in range(3):
        for dx in range(3):
            window = p[:, dy : dy + h, dx : dx + w]
            gx += kx[dy, dx] * window
            gy += kx.T[dy, dx] * window
    mag = np.sqrt(gx**2 + gy**2)
    return np.where(mag > 0.25 * mag.max(axis=(1, 2), keepdims=True), 255, 0).astype(np.uint8)


@needs_fmnist
def test_fmnist_edges_is_the_sobel_edge_map_of_the_garment():
    ds = load_dataset(DataConfig(name="fmnist-edges", resolution=32))
    assert isinstance(ds, TranslationDataset) and ds.paired and ds.names is None
    assert ds.name == "fmnist-edges:train" and ds.split == "train"
    assert ds.a_u8.shape == ds.b_u8.shape == (60000, 1, 32, 32)
    assert ds.a_u8.dtype == ds.b_u8.dtype == torch.uint8 and ds.a_u8.is_contiguous() and ds.b_u8.is_contiguous()
    assert (ds.channels_a, ds.channels_b, ds.resolution, len(ds)) == (1, 1, 32, 60000)
    # B is the garment exactly as the plain built-in loads it (28 px padded to 32)
    fm = load_dataset(DataConfig(name="fashion-mnist", resolution=32))
    assert torch.equal(ds.b_u8, fm.images_u8)
    assert set(ds.a_u8.unique().tolist()) == {0, 255}
    # A equals the documented rule, recomputed independently (every 10th image)
    b = ds.b_u8[::10, 0].numpy()
    assert np.array_equal(ds.a_u8[::10, 0].numpy(), _numpy_sobel_edges(b))
    # outlines and interior lines, not the whole garment: a fraction of the garment's pixels
    share = (ds.a_u8 > 0).float().mean().item()
    assert 0.1 < share < 0.35


@needs_fmnist
def test_fmnist_edges_test_split_is_deterministic():
    one = load_dataset(DataConfig(name="fmnist-edges", split="test"))
    two = load_translation_dataset(DataConfig(name="fmnist-edges", split="test"))
    assert len(one) == 10000 and one.a_u8.shape == (10000, 1, 32, 32) and one.name == "fmnist-edges:test"
    assert one.content_hash == two.content_hash and torch.equal(one.a_u8, two.a_u8)
    # the hash covers both domains and the paired flag
    full, ha, hb = translation.translation_hash(one.a_u8, one.b_u8, True)
    assert one.content_hash == full and ha == content_hash(one.a_u8, None) and hb == content_hash(one.b_u8, None)
    assert translation.translation_hash(one.a_u8, one.b_u8, False)[0] != full
    assert translation.translation_hash(one.b_u8, one.a_u8, True)[0] != full
    # channels=3 forces both domains, computed from the 1-channel garment
    rgb = load_dataset(DataConfig(name="fmnist-edges", split="test", channels=3))
    assert rgb.a_u8.shape == rgb.b_u8.shape == (10000, 3, 32, 32)
    assert torch.equal(rgb.a_u8, one.a_u8.expand(-1, 3, -1, -1)) and torch.equal(rgb.b_u8[:, 2:], one.b_u8)


@needs_fmnist
def test_fmnist_sneaker2boot_domains_are_the_two_classes():
    ds = load_dataset(DataConfig(name="fmnist-sneaker2boot", resolution=32))
    assert not ds.paired and ds.name == "fmnist-sneaker2boot:train"
    assert ds.a_u8.shape == (6000, 1, 32, 32) and ds.b_u8.shape == (6000, 1, 32, 32)
    fm = load_dataset(DataConfig(name="fashion-mnist", resolution=32))
    assert fm.class_names[7] == "Sneaker" and fm.class_names[9] == "Ankle boot"
    assert torch.equal(ds.a_u8, fm.images_u8[fm.labels == 7])
    assert torch.equal(ds.b_u8, fm.images_u8[fm.labels == 9])
    test = load_dataset(DataConfig(name="fmnist-sneaker2boot", split="test", pairing="unpaired"))
    assert (len(test.a_u8), len(test.b_u8)) == (1000, 1000)
    with pytest.raises(GanforgeError, match="conflicts with translation task 'fmnist-sneaker2boot'.*'unpaired'"):
        load_dataset(DataConfig(name="fmnist-sneaker2boot", pairing="matched"))


@pytest.fixture(scope="module")
def emoji_rendered_once():
    """The emoji set is rendered once for this module (several seconds a render)."""
    real, kept = em.load_emoji_arrays, {}

    def once(root=None, **kw):
        if "arrays" not in kept:
            kept["arrays"] = real(root, **kw)
        return kept["arrays"]

    mp = pytest.MonkeyPatch()
    mp.setattr(em, "load_emoji_arrays", once)
    yield
    mp.undo()


@needs_emoji
def test_emoji_gray2color_luma_and_split(emoji_rendered_once):
    train = load_dataset(DataConfig(name="emoji-gray2color", resolution=16))
    test = load_dataset(DataConfig(name="emoji-gray2color", resolution=16, split="test"))
    whole = load_dataset(DataConfig(name="emoji", resolution=16)).images_u8
    for ds in (train, test):
        assert ds.paired and (ds.channels_a, ds.channels_b, ds.resolution) == (1, 3, 16)
        b = ds.b_u8.numpy()
        luma = np.clip(np.round(b[:, 0] * 0.299 + b[:, 1] * 0.587 + b[:, 2] * 0.114), 0, 255).astype(np.uint8)
        assert np.array_equal(ds.a_u8[:, 0].numpy(), luma)
    # every 10th glyph (index 9, 19, ...) is test, the rest train: disjoint, together the whole set
    n = len(whole)
    is_test = np.arange(n) % 10 == 9
    assert len(test) == is_test.sum() and len(train) + len(test) == n
    assert torch.equal(test.b_u8, whole[torch.from_numpy(is_test)])
    assert torch.equal(train.b_u8, whole[torch.from_numpy(~is_test)])
    # data.channels forces both domains
    gray = load_dataset(DataConfig(name="emoji-gray2color", resolution=16, split="test", channels=1))
    assert gray.b_u8.shape[1] == 1 and torch.equal(gray.a_u8, test.a_u8) and torch.equal(gray.b_u8, test.a_u8)
    rgb = load_dataset(DataConfig(name="emoji-gray2color", resolution=16, split="test", channels=3))
    assert torch.equal(rgb.a_u8, test.a_u8.expand(-1, 3, -1, -1)) and torch.equal(rgb.b_u8, test.b_u8)


# ------------------------------------------------------------------------------------------------
# aligned


def test_aligned_halves_are_split_and_resized_each(tmp_path):
    root = tmp_path / "facades"
    # halves of 20x20 (left red-ish, right blue-ish, the green value numbers the image), resized to 10
    for i, name in enumerate(["b.png", "a.png", "c.png"]):
        _save(root / "train" / name, _aligned(20, 20, (200, 10 * i, 0), (0, 10 * i, 200)))
    _save(root / "stray.png", _aligned(20, 20, (1, 1, 1), (2, 2, 2)))  # ignored: <root>/train exists
    ds = load_dataset(DataConfig(name=str(root), pairing="aligned", resolution=10, resize="stretch"))
    assert isinstance(ds, TranslationDataset) and ds.paired and ds.name == f"{root}:train"
    assert ds.names == ("a.png", "b.png", "c.png")
    assert ds.a_u8.shape == ds.b_u8.shape == (3, 3, 10, 10)
    # every pixel of A is the left colour and of B the right one: no blending across the split
    assert _colours(ds.a_u8) == [(200, 10, 0), (200, 0, 0), (200, 20, 0)]
    assert _colours(ds.b_u8) == [(0, 10, 200), (0, 0, 200), (0, 20, 200)]
    # non-square halves: each half is padded on its own (pad never upscales: 20x12 -> centred in 24x24)
    wide = tmp_path / "wide"
    _save(wide / "x.png", _aligned(12, 20, (255, 255, 255), (90, 90, 90)))
    w = load_dataset(DataConfig(name=str(wide), pairing="aligned", resolution=24, channels=1))
    assert w.a_u8.shape == (1, 1, 24, 24)
    for x, v in ((w.a_u8[0, 0], 255), (w.b_u8[0, 0], 90)):
        assert (x[6:18, 2:22] == v).all() and x[:6].sum() == 0 and x[:, :2].sum() == 0
    # the content hash does not depend on where the folder is
    copy = tmp_path / "elsewhere"
    shutil.copytree(root, copy)
    again = load_dataset(DataConfig(name=str(copy), pairing="aligned", resolution=10, resize="stretch"))
    assert again.content_hash == ds.content_hash


def test_aligned_root_fallback_and_missing_test_split(tmp_path):
    flat = tmp_path / "flat"
    _save(flat / "0.png", _aligned(8, 8, (30,), (60,)))
    _save(flat / "ignored" / "1.png", _aligned(8, 8, (1,), (2,)))  # sub-folders are not read
    ds = load_dataset(DataConfig(name=str(flat), pairing="aligned", resolution=8))
    assert len(ds) == 1 and _colours(ds.a_u8) == [(30,)] and _colours(ds.b_u8) == [(60,)]
    with pytest.raises(GanforgeError, match=f"no 'test' split of aligned translation data: {flat / 'test'} is not "
                                            f"a folder. Expected layout: {flat}/train/ and {flat}/test/"):
        load_dataset(DataConfig(name=str(flat), pairing="aligned", split="test"))
    split = tmp_path / "split"
    _save(split / "train" / "0.png", _aligned(8, 8, (10,), (20,)))
    _save(split / "test" / "0.png", _aligned(8, 8, (110,), (120,)))
    test = load_dataset(DataConfig(name=str(split), pairing="aligned", split="test", resolution=8))
    assert test.name == f"{split}:test" and test.split == "test" and _colours(test.a_u8) == [(110,)]


def test_aligned_native_size_odd_width_and_bad_image_policy(tmp_path):
    root = tmp_path / "al"
    _save(root / "0.png", _aligned(8, 8, (10,), (20,)))
    _save(root / "1.png", _const(8, 17, (5,)))
    with pytest.raises(GanforgeError, match=r"(?s)1 bad files.*1\.png: odd width 17: an aligned image holds A and B"):
        load_dataset(DataConfig(name=str(root), pairing="aligned", resolution=None))
    ds = load_dataset(DataConfig(name=str(root), pairing="aligned", resolution=None, on_bad_image="skip"))
    assert ds.skipped == 1 and ds.names == ("0.png",) and ds.a_u8.shape == (1, 1, 8, 8)
    _save(root / "1.png", _aligned(8, 6, (5,), (6,)))  # halves 6x8: not square
    with pytest.raises(GanforgeError, match="image halves in .* differ in size"):
        load_dataset(DataConfig(name=str(root), pairing="aligned", resolution=None))


# ------------------------------------------------------------------------------------------------
# matched


def test_matched_pairs_by_stem_across_extensions_in_stem_order(tmp_path):
    root = tmp_path / "m"
    # file-name order ("a-1.png" < "a.png") differs from stem order ("a" < "a-1")
    stems = {"a": 10, "a-1": 20, "b10": 30, "b2": 40}
    for stem, v in stems.items():
        _save(root / "trainA" / f"{stem}.png", _const(6, 6, (v, 0, 0)))
        ext = {"a": "jpg", "a-1": "bmp", "b10": "png", "b2": "tif"}[stem]
        _save(root / "trainB" / f"{stem}.{ext}", _const(6, 6, (0, 0, v + 100)))
    ds = load_dataset(DataConfig(name=str(root), pairing="matched", resolution=6))
    assert ds.paired and ds.names == ("a", "a-1", "b10", "b2") and ds.name == f"{root}:train"
    assert _colours(ds.a_u8) == [(v, 0, 0) for v in stems.values()]
    b = ds.b_u8[:, 2, 0, 0].tolist()
    assert abs(b[0] - 110) <= 3 and b[1:] == [120, 130, 140]  # a.jpg: lossy, nearly its colour
    # <root>/A and <root>/B are the train fallback
    plain = tmp_path / "plain"
    _save(plain / "A" / "z.png", _const(4, 4, (7,)))
    _save(plain / "B" / "z.png", _const(4, 4, (8,)))
    assert load_dataset(DataConfig(name=str(plain), pairing="matched", resolution=4)).names == ("z",)


def test_matched_unmatched_files_are_named_before_decoding(tmp_path, monkeypatch):
    root = tmp_path / "m"
    for stem in ["shared"] + [f"lonely{i:02d}" for i in range(12)]:
        _save(root / "trainA" / f"{stem}.png", _const(4, 4, (1,)))
    _save(root / "trainB" / "shared.png", _const(4, 4, (2,)))
    _save(root / "trainB" / "only_b.jpg", _const(4, 4, (3,)))

    def no_decoding(*a, **kw):
        raise AssertionError("decoded before the names were checked")

    monkeypatch.setattr(translation, "scan_source", no_decoding)
    with pytest.raises(GanforgeError) as e:
        load_dataset(DataConfig(name=str(root), pairing="matched"))
    msg = str(e.value)
    assert f"12 in {root / 'trainA'} without a partner in {root / 'trainB'}: lonely00.png, " in msg
    assert "lonely09.png and 2 more" in msg and "lonely10.png" not in msg
    assert f"1 in {root / 'trainB'} without a partner in {root / 'trainA'}: only_b.jpg" in msg


def test_matched_duplicate_stems_and_bad_image_drops_the_pair(tmp_path):
    root = tmp_path / "m"
    for stem in "abcd":
        _save(root / "trainA" / f"{stem}.png", _const(4, 4, (ord(stem),)))
        _save(root / "trainB" / f"{stem}.png", _const(4, 4, (ord(stem) + 100,)))
    _save(root / "trainB" / "a.bmp", _const(4, 4, (0,)))
    with pytest.raises(GanforgeError, match=f"appear more than once: in {root / 'trainB'}: a.bmp / a.png"):
        load_dataset(DataConfig(name=str(root), pairing="matched"))
    (root / "trainB" / "a.bmp").unlink()
    (root / "trainA" / "b.png").write_bytes(b"not a png")  # a bad image on each side, in different pairs
    (root / "trainB" / "c.png").write_bytes(b"")
    with pytest.raises(GanforgeError, match="(?s)2 bad files .*b.png: not an image.*c.png: zero-byte file"):
        load_dataset(DataConfig(name=str(root), pairing="matched", resolution=4))
    ds = load_dataset(DataConfig(name=str(root), pairing="matched", resolution=4, on_bad_image="skip"))
    assert ds.names == ("a", "d") and ds.skipped == 2
    assert _colours(ds.a_u8) == [(97,), (100,)] and _colours(ds.b_u8) == [(197,), (200,)]


# ------------------------------------------------------------------------------------------------
# unpaired, errors, dispatch


def test_unpaired_counts_and_sizes_differ(tmp_path):
    root = tmp_path / "u"
    for i in range(3):
        _save(root / "trainA" / f"{i}.png", _const(12, 20, (50 + i,)))
    for i, (h, w) in enumerate([(9, 7), (30, 30), (5, 40), (16, 16), (8, 8)]):
        _save(root / "trainB" / f"x{i}.png", _const(h, w, (0, 100 + i, 0)))
    ds = load_dataset(DataConfig(name=str(root), pairing="unpaired", resolution=8, resize="crop"))
    assert not ds.paired and ds.names is None and ds.skipped == 0
    assert ds.a_u8.shape == (3, 1, 8, 8) and ds.b_u8.shape == (5, 3, 8, 8)
    assert (ds.channels_a, ds.channels_b, ds.channels, len(ds)) == (1, 3, 3, 5)
    assert _colours(ds.a_u8) == [(50,), (51,), (52,)] and _colours(ds.b_u8)[4] == (0, 104, 0)
    forced = load_dataset(DataConfig(name=str(root), pairing="unpaired", resolution=8, channels=3))
    assert forced.a_u8.shape == (3, 3, 8, 8)
    # ImageDataset-like view of the target domain, and each domain as an FID reference set
    assert ds.images_u8 is ds.b_u8 and ds.labels is None and ds.class_names == () and ds.num_classes == 0
    a = ds.domain("A")
    assert isinstance(a, ImageDataset) and a.images_u8 is ds.a_u8 and a.labels is None
    assert a.name == f"{root}:train/A" and a.content_hash == content_hash(ds.a_u8, None)
    assert ds.domain("B").content_hash == content_hash(ds.b_u8, None) != a.content_hash
    with pytest.raises(GanforgeError, match="unknown domain 'C'"):
        ds.domain("C")


def test_missing_domain_folders_name_the_paths_tried(tmp_path):
    root = tmp_path / "u"
    _save(root / "trainA" / "0.png", _const(4, 4, (1,)))
    with pytest.raises(GanforgeError) as e:
        load_dataset(DataConfig(name=str(root), pairing="unpaired"))
    msg = str(e.value)
    assert f"tried {root / 'trainA'} and {root / 'trainB'} (trainB is not a folder); {root / 'A'} and " \
           f"{root / 'B'} (neither is a folder). Expected layout: {root}/trainA/" in msg
    with pytest.raises(GanforgeError, match=f"{root / 'testA'} and {root / 'testB'} \\(neither is a folder\\)"):
        load_dataset(DataConfig(name=str(root), pairing="matched", split="test"))
    with pytest.raises(GanforgeError, match="not a built-in task .* and no such folder"):
        load_dataset(DataConfig(name=str(tmp_path / "nope"), pairing="unpaired"))
    _save(root / "trainB" / "sub" / "0.png", _const(4, 4, (1,)))  # only in a sub-folder: not read
    with pytest.raises(GanforgeError, match=f"no images in {root / 'trainB'}"):
        load_dataset(DataConfig(name=str(root), pairing="unpaired"))


def test_dispatch_and_config_rules(tmp_path):
    folder = tmp_path / "plain"
    _save(folder / "0.png", _const(4, 4, (9,)))
    _save(folder / "trainA" / "0.png", _const(4, 4, (9,)))
    _save(folder / "trainB" / "0.png", _const(4, 4, (9,)))
    assert type(load_dataset(DataConfig(name=str(folder / "trainA"), resolution=4))) is ImageDataset
    assert type(load_dataset(DataConfig(name=str(folder), pairing="unpaired", resolution=4))) is TranslationDataset
    assert set(TRANSLATION_TASKS) == {"fmnist-edges", "fmnist-sneaker2boot", "emoji-gray2color"}
    assert is_translation_config(DataConfig(name="fmnist-edges"))
    assert is_translation_config(DataConfig(name="x", pairing="matched"))
    assert not is_translation_config(DataConfig(name="fashion-mnist"))
    with pytest.raises(GanforgeError, match="unknown data.pairing 'sideways'; valid choices: aligned, matched, "
                                            "unpaired, none"):
        load_dataset(DataConfig(name=str(folder), pairing="sideways"))
    with pytest.raises(GanforgeError, match="unknown data.pairing 'sideways'; valid choices: aligned, matched, "
                                            "unpaired, none"):
        check_field("data.pairing", "sideways")
    for p in ("aligned", "matched", "unpaired", None):
        check_field("data.pairing", p)
    for cfg in (DataConfig(name=str(folder), pairing="unpaired", use_labels=True),
                DataConfig(name="fmnist-edges", use_labels=True)):
        with pytest.raises(GanforgeError, match="data.use_labels is true but translation dataset .* has no labels"):
            load_dataset(cfg)
        with pytest.raises(GanforgeError, match="data.use_labels=true, but .* is a translation dataset"):
            validate_experiment(Experiment(data=cfg))
    with pytest.raises(GanforgeError, match="conflicts with translation task 'fmnist-edges', which is paired "
                                            r"\(pairing 'aligned'\)"):
        load_dataset(DataConfig(name="fmnist-edges", pairing="unpaired"))
    with pytest.raises(GanforgeError, match="needs a folder, but 'fashion-mnist' is a built-in image dataset"):
        load_dataset(DataConfig(name="fashion-mnist", pairing="aligned"))
    with pytest.raises(GanforgeError, match="unknown data.split 'val'"):
        load_dataset(DataConfig(name="fmnist-edges", split="val"))
