"""Data helpers shared by several test files: synthetic datasets, image and IDX files, a stand-in Debian
package and download spec (all data is generated at run time)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import lzma
import signal
import tarfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganforge.data.builtin import BUILTIN_DATASETS, BuiltinSpec
from ganforge.data.dataset import ImageDataset, content_hash
from ganforge.data.idx import write_idx

DEBIAN_FMNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist

# -- in-memory datasets ------------------------------------------------------------------------


def make_dataset(n: int = 64, channels: int = 1, resolution: int = 16, num_classes: int = 10,
                 seed: int = 0) -> ImageDataset:
    """Blobs whose position depends on the class: learnable, deterministic, tiny."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % num_classes
    yy, xx = torch.meshgrid(torch.arange(resolution), torch.arange(resolution), indexing="ij")
    imgs = []
    for i in range(n):
        cy = 3 + (labels[i] * 7) % (resolution - 6)
        cx = 3 + (labels[i] * 3) % (resolution - 6)
        blob = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2).float() / 8.0)
        noise = torch.rand(resolution, resolution, generator=g) * 0.1
        img = ((blob + noise).clamp(0, 1) * 255).to(torch.uint8)
        imgs.append(img.expand(channels, -1, -1))
    images = torch.stack(imgs).contiguous()
    return ImageDataset(images, labels.long(), tuple(f"class{i}" for i in range(num_classes)), "synthetic",
                        content_hash(images, labels.long()))


def make_translation_dataset(base: ImageDataset, paired: bool = True, split: str = "train"):
    """A translation dataset from an image dataset: B = its images, A = their negatives (paired) or the
    negatives of the images in reverse order, one fewer (unpaired)."""
    from ganforge.data.translation import TranslationDataset, translation_hash

    b = base.images_u8
    a = (255 - b) if paired else (255 - b.flip(0)[1:]).contiguous()
    return TranslationDataset(a.contiguous(), b, paired, f"{base.name}-pairs:{split}",
                              translation_hash(a, b, paired)[0], split=split)


# -- image files -------------------------------------------------------------------------------


def save_image(path: Path, img: Image.Image, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt)
    return path


def solid(mode: str, size: tuple[int, int], color) -> Image.Image:
    return Image.new(mode, size, color)


def png_bytes(img: Image.Image) -> bytes:
    """``img`` encoded as a PNG."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def bad_reasons(report) -> dict[str, str]:
    """A scan report's refused files: {file name: reason}."""
    return {p.rsplit("/", 1)[-1]: r for p, r in report.bad}


# -- built-in datasets: IDX files, download specs, Debian packages -----------------------------


def write_mnist_like(folder: Path, n_train: int = 6, n_test: int = 4, gz: bool = True, seed: int = 0) -> dict:
    """Write the four MNIST-named IDX files with random 28x28 images and labels 0..9."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    suffix = ".gz" if gz else ""
    files = BUILTIN_DATASETS.get("mnist").files
    for split, n in (("train", n_train), ("test", n_test)):
        img_name, lab_name = files[split]
        x = rng.integers(1, 256, size=(n, 28, 28), dtype=np.uint8)  # no zeros: borders are detectable
        y = rng.integers(0, 10, size=(n,), dtype=np.uint8)
        write_idx(folder / (img_name.removesuffix(".gz") + suffix), x)
        write_idx(folder / (lab_name.removesuffix(".gz") + suffix), y)
        arrays[split] = (x, y)
    return arrays


def fake_spec(src: Path, *, corrupt: str | None = None) -> BuiltinSpec:
    """An MNIST-shaped spec served from ``src`` (a folder written by ``write_mnist_like``) whose md5s match
    its .gz files (one deliberately wrong if ``corrupt``)."""
    real = BUILTIN_DATASETS.get("mnist")
    md5 = {f: hashlib.md5((src / f).read_bytes()).hexdigest() for f in real.needed_files()}
    if corrupt:
        md5[corrupt] = "0" * 32
    return BuiltinSpec("fake-mnist", real.files, real.class_names, (src.as_uri() + "/",), md5)


def deb_package(member: str, payload: bytes, *, xz: bool = True) -> bytes:
    """A minimal Debian package holding ``member``: an ar archive with debian-binary, then control.tar.xz
    and data.tar.xz (``xz``, as Debian ships them) or only an uncompressed data.tar."""
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    if xz:
        members = [(b"debian-binary", b"2.0\n"), (b"control.tar.xz", lzma.compress(b"")),
                   (b"data.tar.xz", lzma.compress(tar_buf.getvalue()))]
    else:
        members = [(b"debian-binary", b"2.0\n"), (b"data.tar", tar_buf.getvalue())]
    out = b"!<arch>\n"
    for name, body in members:
        out += name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"100644".ljust(8)
        out += str(len(body)).encode().ljust(10) + b"`\n" + body + (b"\n" if len(body) & 1 else b"")
    return out


def emoji_source(tmp_path: Path, payload: bytes, deb: bytes | None = None):
    """An emoji ``SourceFile`` ``thing.txt`` (contents ``payload``) pinned to the package ``deb`` (by default
    ``deb_package`` of it), installed under ``tmp_path/system``."""
    from ganforge.data import emoji as em

    deb = deb if deb is not None else deb_package("./usr/share/x/thing.txt", payload)
    return em.SourceFile("thing.txt", hashlib.sha256(payload).hexdigest(), tmp_path / "system" / "thing.txt",
                         "https://deb.example/pool/thing.deb", hashlib.sha256(deb).hexdigest(),
                         "./usr/share/x/thing.txt", "thing-package")


# -- time limits -------------------------------------------------------------------------------


@contextlib.contextmanager
def within(seconds: int = 60):
    """Fail instead of hanging (a named pipe opened for reading blocks until a writer comes)."""
    def hang(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
