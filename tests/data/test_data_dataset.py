"""load_dataset dispatch, built-in loading and resizing, content hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from helpers.data import DEBIAN_FMNIST, save_image, solid, write_mnist_like

from ganforge.config import DataConfig
from ganforge.data import ImageDataset, load_dataset
from ganforge.errors import GanforgeError


def test_builtin_pad_adds_black_border(isolated_dirs):
    arrays = write_mnist_like(isolated_dirs["env"] / "mnist")
    ds = load_dataset(DataConfig(name="mnist", resolution=32, resize="pad"))
    assert isinstance(ds, ImageDataset) and ds.name == "mnist:train"
    assert ds.images_u8.shape == (6, 1, 32, 32) and ds.images_u8.dtype == torch.uint8
    assert ds.images_u8.is_contiguous() and ds.labels.dtype == torch.int64
    x = ds.images_u8.numpy()
    np.testing.assert_array_equal(x[:, 0, 2:30, 2:30], arrays["train"][0])  # untouched center
    assert x[:, :, :2].max() == 0 and x[:, :, 30:].max() == 0 and x[:, :, :, :2].max() == 0
    np.testing.assert_array_equal(ds.labels.numpy(), arrays["train"][1])
    assert ds.num_classes == 10 and ds.class_names[3] == "3" and ds.resolution == 32 and ds.channels == 1


def test_builtin_other_policies_and_channels(isolated_dirs):
    write_mnist_like(isolated_dirs["env"] / "mnist", gz=False)  # unpacked files work too
    for resize in ("crop", "stretch"):
        ds = load_dataset(DataConfig(name="mnist", split="test", resolution=16, resize=resize, channels=3))
        assert ds.images_u8.shape == (4, 3, 16, 16) and ds.name == "mnist:test"
        assert torch.equal(ds.images_u8[:, 0], ds.images_u8[:, 2])
        assert ds.images_u8.is_contiguous()
    native = load_dataset(DataConfig(name="mnist", resolution=None))
    assert native.images_u8.shape == (6, 1, 28, 28)
    same = load_dataset(DataConfig(name="mnist", resolution=28, resize="crop"))
    assert torch.equal(native.images_u8, same.images_u8)
    # pad to a smaller size downsizes (nothing to pad): a constant image stays constant
    shrunk = load_dataset(DataConfig(name="mnist", resolution=14, resize="pad"))
    assert shrunk.images_u8.shape == (6, 1, 14, 14)


def test_builtin_root_and_invalid_split(tmp_path, isolated_dirs):
    write_mnist_like(tmp_path / "mine")
    ds = load_dataset(DataConfig(name="mnist", root=str(tmp_path / "mine")))
    assert len(ds) == 6
    with pytest.raises(GanforgeError) as e:
        load_dataset(DataConfig(name="mnist", root=str(tmp_path / "mine"), split="val"))
    assert "'val'" in str(e.value) and "train, test" in str(e.value)


def test_unknown_dataset_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GanforgeError) as e:
        load_dataset(DataConfig(name="imagenet"))
    assert str(e.value) == (
        "unknown dataset 'imagenet': not a built-in name (fashion-mnist, mnist, emoji) and no such file or folder"
    )


def _folder(root: Path, pixel: int = 0) -> Path:
    for i in range(3):
        a = np.full((8, 8), 10 * i, np.uint8)
        if i == 1:
            a[4, 4] = pixel
        save_image(root / f"{i}.png", Image.fromarray(a))
    return root


def test_content_hash_depends_on_pixels_not_path(tmp_path):
    a = load_dataset(DataConfig(name=str(_folder(tmp_path / "a")), resolution=8))
    b_path = tmp_path / "renamed"
    (tmp_path / "a").rename(b_path)
    b = load_dataset(DataConfig(name=str(b_path), resolution=8))
    assert a.name != b.name and a.content_hash == b.content_hash and len(a.content_hash) == 64
    c = load_dataset(DataConfig(name=str(_folder(tmp_path / "c", pixel=1)), resolution=8))
    assert c.content_hash != a.content_hash  # exactly one pixel differs
    assert int((c.images_u8 != a.images_u8).sum()) == 1


def test_content_hash_depends_on_labels_and_shape(tmp_path):
    save_image(tmp_path / "x" / "a" / "1.png", solid("L", (8, 8), 5))
    save_image(tmp_path / "y" / "b" / "1.png", solid("L", (8, 8), 5))
    save_image(tmp_path / "z" / "1.png", solid("L", (8, 8), 5))
    hx = load_dataset(DataConfig(name=str(tmp_path / "x"), resolution=8)).content_hash
    hy = load_dataset(DataConfig(name=str(tmp_path / "y"), resolution=8)).content_hash
    hz = load_dataset(DataConfig(name=str(tmp_path / "z"), resolution=8)).content_hash
    h3 = load_dataset(DataConfig(name=str(tmp_path / "z"), resolution=8, channels=3)).content_hash
    assert hx == hy  # same pixels, same label index
    assert hz != hx  # unlabelled vs labelled
    assert h3 != hz  # same pixel values repeated, different shape


@pytest.mark.skipif(not DEBIAN_FMNIST.is_dir(), reason="Debian dataset-fashion-mnist not installed")
def test_real_fashion_mnist_pad_32(monkeypatch, tmp_path):
    monkeypatch.delenv("GANFORGE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    ds = load_dataset(DataConfig(name="fashion-mnist", resolution=32, resize="pad"))
    assert ds.images_u8.shape == (60000, 1, 32, 32) and ds.labels.shape == (60000,)
    assert ds.images_u8[:, :, :2].max() == 0 and ds.images_u8[:, :, :, 30:].max() == 0
    assert ds.images_u8.max() == 255 and ds.num_classes == 10
    assert torch.bincount(ds.labels).tolist() == [6000] * 10  # Fashion-MNIST is balanced
    assert ds.class_names[9] == "Ankle boot"
