"""Shared fixture builders (imported by the tests; named uniquely to avoid module clashes) for the data-layer tests (all data is generated at run time)."""

from __future__ import annotations

import contextlib
import signal
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from ganforge.data import builtin
from ganforge.data.idx import write_idx


def save_image(path: Path, img: Image.Image, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt)
    return path


def solid(mode: str, size: tuple[int, int], color) -> Image.Image:
    return Image.new(mode, size, color)


def png_with_header_size(width: int, height: int) -> bytes:
    """A tiny, syntactically valid PNG whose IHDR claims width x height (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def write_mnist_like(folder: Path, n_train: int = 6, n_test: int = 4, gz: bool = True, seed: int = 0) -> dict:
    """Write the four MNIST-named IDX files with random 28x28 images and labels 0..9."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    suffix = ".gz" if gz else ""
    for split, n, (img_name, lab_name) in (
        ("train", n_train, builtin._IDX_FILES["train"]),
        ("test", n_test, builtin._IDX_FILES["test"]),
    ):
        x = rng.integers(1, 256, size=(n, 28, 28), dtype=np.uint8)  # no zeros: borders are detectable
        y = rng.integers(0, 10, size=(n,), dtype=np.uint8)
        write_idx(folder / (img_name.removesuffix(".gz") + suffix), x)
        write_idx(folder / (lab_name.removesuffix(".gz") + suffix), y)
        arrays[split] = (x, y)
    return arrays


def offline_opener(url, timeout=None):
    raise OSError(f"network is unreachable (test): {url}")


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
