"""Built-in datasets: registry contents, search order, offline error, verified download, loading."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from helpers.data import DEBIAN_FMNIST, fake_spec, write_mnist_like

from ganforge.data.builtin import (
    BUILTIN_DATASETS,
    download_builtin,
    load_builtin_arrays,
    locate_builtin,
)
from ganforge.data.idx import write_idx
from ganforge.errors import GanforgeError



def offline_opener(url, timeout=None):
    raise OSError(f"network is unreachable (test): {url}")


def test_registry_entries():
    assert BUILTIN_DATASETS.names() == ["fashion-mnist", "mnist"]
    f = BUILTIN_DATASETS.get("fashion-mnist")
    assert f.class_names[0] == "T-shirt/top" and f.class_names[9] == "Ankle boot" and len(f.class_names) == 10
    assert f.base_urls[0].startswith("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com")
    m = BUILTIN_DATASETS.get("mnist")
    assert m.class_names == tuple("0123456789")
    for spec in (f, m):
        assert set(spec.md5) == set(spec.needed_files())
        assert all(len(v) == 32 and int(v, 16) >= 0 for v in spec.md5.values())
    assert m.md5["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    with pytest.raises(GanforgeError, match="fashion-mnist, mnist"):
        BUILTIN_DATASETS.get("cifar")


def _touch_all(folder: Path, unpacked: bool = False):
    folder.mkdir(parents=True, exist_ok=True)
    for f in BUILTIN_DATASETS.get("fashion-mnist").needed_files():
        (folder / (f.removesuffix(".gz") if unpacked else f)).write_bytes(b"x")


def test_search_order(isolated_dirs):
    d = isolated_dirs
    cache = d["xdg"] / "ganforge" / "datasets" / "fashion-mnist"
    places = [d["root"], d["env"] / "fashion-mnist", cache, d["system"] / "fashion-mnist"]
    for i, p in enumerate(places):
        _touch_all(p, unpacked=(i % 2 == 1))  # unpacked files count as well as .gz
    kw = dict(download=False)
    assert locate_builtin("fashion-mnist", d["root"], **kw) == d["root"]
    # without root: $GANFORGE_DATA/<name> beats the cache and the system folder
    assert locate_builtin("fashion-mnist", **kw) == d["env"] / "fashion-mnist"
    _touch_all(d["env"])  # files directly in $GANFORGE_DATA are found before $GANFORGE_DATA/<name>
    assert locate_builtin("fashion-mnist", **kw) == d["env"]
    for f in d["env"].glob("*.gz"):
        f.unlink()
    for f in (d["env"] / "fashion-mnist").iterdir():
        f.unlink()
    assert locate_builtin("fashion-mnist", **kw) == cache
    for f in cache.iterdir():
        f.unlink()
    assert locate_builtin("fashion-mnist", **kw) == d["system"] / "fashion-mnist"


def test_folder_with_only_some_files_is_not_enough(isolated_dirs):
    d = isolated_dirs["system"] / "fashion-mnist"
    _touch_all(d)
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    assert locate_builtin("fashion-mnist", split="train", download=False) == d
    with pytest.raises(GanforgeError, match="not found"):
        locate_builtin("fashion-mnist", split="test", download=False)


def test_offline_error_lists_every_place(isolated_dirs, monkeypatch):
    d = isolated_dirs
    with pytest.raises(GanforgeError) as e:
        locate_builtin("fashion-mnist", d["root"], opener=offline_opener)
    msg = str(e.value)
    for p in (d["root"], d["root"] / "fashion-mnist", d["env"], d["env"] / "fashion-mnist",
              d["xdg"] / "ganforge" / "datasets" / "fashion-mnist", d["system"] / "fashion-mnist"):
        assert f"  {p}\n" in msg + "\n"
    assert "network is unreachable" in msg
    assert "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" in msg
    assert "apt install dataset-fashion-mnist" in msg and "$GANFORGE_DATA" in msg
    # the failed download left nothing behind in the cache
    cache = d["xdg"] / "ganforge" / "datasets" / "fashion-mnist"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_download_file_url_verified(tmp_path, isolated_dirs):
    arrays = write_mnist_like(tmp_path / "server")
    spec = fake_spec(tmp_path / "server")
    dest = download_builtin(spec, tmp_path / "dl")
    assert sorted(p.name for p in dest.iterdir()) == sorted(spec.needed_files())  # no .part left
    x, y, names, files = load_builtin_arrays(spec, "train", root=dest, download=False)
    assert x.shape == (6, 1, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 0], arrays["train"][0])
    np.testing.assert_array_equal(y, arrays["train"][1])


def test_locate_downloads_into_cache_when_missing(tmp_path, isolated_dirs):
    write_mnist_like(tmp_path / "server")
    spec = fake_spec(tmp_path / "server")
    served = []

    def opener(url, timeout=None):  # monkeypatched opener serving the fixture bytes
        served.append(url)
        return io.BytesIO((tmp_path / "server" / url.rsplit("/", 1)[1]).read_bytes())

    got = locate_builtin(spec, opener=opener, base_urls=["https://example.invalid/mnist/"])
    assert got == isolated_dirs["xdg"] / "ganforge" / "datasets" / "fake-mnist"
    assert len(served) == 4 and served[0].startswith("https://example.invalid/mnist/")
    # second call finds the cached files and does not download again
    assert locate_builtin(spec, opener=offline_opener) == got and len(served) == 4


def test_download_checksum_mismatch_removes_temp_file(tmp_path, isolated_dirs):
    write_mnist_like(tmp_path / "server")
    spec = fake_spec(tmp_path / "server", corrupt="train-images-idx3-ubyte.gz")
    dest = tmp_path / "dl"
    with pytest.raises(GanforgeError, match="checksum mismatch") as e:
        download_builtin(spec, dest, split="train")
    assert "train-images-idx3-ubyte.gz" in str(e.value) and "0" * 32 in str(e.value)
    assert list(dest.iterdir()) == []  # neither the bad file nor its temp file remain


def test_download_falls_back_to_second_mirror(tmp_path):
    write_mnist_like(tmp_path / "server")
    spec = fake_spec(tmp_path / "server")
    dest = download_builtin(spec, tmp_path / "dl", split="test",
                            base_urls=[(tmp_path / "missing").as_uri(), (tmp_path / "server").as_uri()])
    assert sorted(p.name for p in dest.iterdir()) == sorted(spec.needed_files("test"))


def test_label_count_mismatch(tmp_path):
    write_mnist_like(tmp_path / "d")
    write_idx(tmp_path / "d" / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))  # 5 labels, 6 images
    with pytest.raises(GanforgeError, match="label count mismatch.*5 labels.*6 images"):
        load_builtin_arrays("mnist", "train", root=tmp_path / "d", download=False)


def test_labels_out_of_range(tmp_path):
    write_mnist_like(tmp_path / "d")
    write_idx(tmp_path / "d" / "train-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3, 4, 12], np.uint8))
    with pytest.raises(GanforgeError, match="outside the valid range 0..9.*12"):
        load_builtin_arrays("mnist", "train", root=tmp_path / "d", download=False)


def test_invalid_split(tmp_path):
    with pytest.raises(GanforgeError, match="valid splits: train, test"):
        load_builtin_arrays("mnist", "validation", root=tmp_path, download=False)


@pytest.mark.skipif(not DEBIAN_FMNIST.is_dir(), reason="Debian dataset-fashion-mnist not installed")
def test_debian_fashion_mnist_checksums():
    spec = BUILTIN_DATASETS.get("fashion-mnist")
    for f in spec.needed_files():
        p = DEBIAN_FMNIST / f
        if p.exists():
            import gzip

            assert hashlib.sha256(gzip.decompress(p.read_bytes())).hexdigest() == spec.raw_sha256[f[:-3]]
