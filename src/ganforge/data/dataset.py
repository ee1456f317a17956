"""The in-memory image dataset and ``load_image_dataset``, which builds it from a DataConfig.

The whole dataset is decoded once into a single uint8 tensor ``[N, C, H, W]`` (uint8 is 4x smaller
than float), except a folder / zip too large for the training device (``should_stream``): that one is
scanned and then read from disk batch by batch (``ganforge.data.stream``).

Memory is checked before it is spent (``ganforge.data.memory``). So before decoding a folder, and before
resizing a built-in, the bytes of the final tensor plus the transient peak are estimated (worst case:
3 channels unless ``data.channels`` is 1, every candidate image file usable) and compared with the
memory available; a dataset that cannot fit is refused with both numbers and what to lower. Folder
images are copied into one preallocated tensor as the scan yields them (no list of arrays plus a
stacked copy), so the peak is about one copy of the dataset.

``ganforge.data.load.load_dataset`` (``ganforge.data.load_dataset``) hands translation configs to
``ganforge.data.translation`` and every other config to ``load_image_dataset``; this module knows
nothing of translation data (``translation`` builds on it, not the other way round).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.config import DataConfig
from ganforge.data.base import IMAGES, DatasetKind, content_hash
from ganforge.data.builtin import BUILTIN_DATASETS, SPLITS, builtin_names, load_builtin_arrays
from ganforge.data.folder import (
    ImageSource,
    check_resize_policy,
    has_allowed_extension,
    probe_path,
    resize_array,
    to_channels,
)
from ganforge.data.memory import ensure_fits, folder_bytes_needed
from ganforge.data.scan import ScanEntry, apply_bad_image_policy, check_bad_image_policy, scan_source
from ganforge.data.stream import ImageReader, PixelHasher, StreamedImages, StreamSpec
from ganforge.errors import GanforgeError

# Budget for the float32 temporaries of one chunk of the built-in resize.
_RESIZE_TEMP_BYTES = 256 * 1024**2


@dataclass
class ImageDataset:
    """A decoded image dataset (``kind == "images"``; see ``ganforge.data.base.ImageData``).

    Attributes:
        images_u8: uint8 ``[N, C, H, W]`` (H == W), CPU, contiguous; for a streamed folder / zip
            (``data.stream``) a ``ganforge.data.stream.StreamedImages``, which reads rows when indexed.
        labels: int64 ``[N]`` class indices, or None when unlabelled.
        class_names: label index -> name; ``()`` when unlabelled.
        name: e.g. ``"fashion-mnist:train"`` or the path given.
        content_hash: sha256 hex of shape + pixels + labels (independent of the path / name).
        skipped: bad images skipped under ``on_bad_image="skip"``.
    """

    images_u8: torch.Tensor
    labels: torch.Tensor | None
    class_names: tuple[str, ...]
    name: str
    content_hash: str
    skipped: int = 0
    kind: ClassVar[DatasetKind] = IMAGES

    @property
    def streamed(self) -> bool:
        """Whether the images are read from disk when indexed (``data.stream``), not held in memory."""
        return isinstance(self.images_u8, StreamedImages)

    @property
    def resolution(self) -> int:
        return int(self.images_u8.shape[-1])

    @property
    def channels(self) -> int:
        return int(self.images_u8.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.labels is not None else 0

    def __len__(self) -> int:
        return int(self.images_u8.shape[0])


def _check_cfg(cfg: DataConfig) -> None:
    r = cfg.resolution
    if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r <= 0):
        raise GanforgeError(f"bad data.resolution {r!r}: expected a positive integer or none")
    check_resize_policy(cfg.resize)
    if cfg.channels not in (None, 1, 3):
        raise GanforgeError(f"bad data.channels {cfg.channels!r}: valid choices: 1, 3, none")
    check_bad_image_policy(cfg.on_bad_image)
    if cfg.stream not in ("auto", "always", "never"):
        raise GanforgeError(f"bad data.stream {cfg.stream!r}: valid choices: auto, always, never")
    for key in ("max_file_bytes", "max_image_pixels"):
        v = getattr(cfg, key)
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise GanforgeError(f"bad data.{key} {v!r}: expected a positive integer")


# ------------------------------------------------------------------------------------------------
# Memory estimate (``ganforge.data.memory``).


def _check_folder_fits(n: int, resolution: int, channels: int | None, path: Path, native: bool) -> None:
    c = 1 if channels == 1 else 3
    at = f"their native {resolution}x{resolution} (data.resolution is none)" if native else (
        f"data.resolution={resolution}")
    change = ("set data.resolution to a smaller size" if native else "lower data.resolution") + (
        "" if channels == 1 else ", or set data.channels=1 for grayscale") + (
        ", or use fewer images, or read it from disk batch by batch (data.stream=always)")
    ensure_fits(
        folder_bytes_needed(n, resolution, channels),
        f"loading {n} image files from {path} at {at} ({c} x {resolution} x {resolution} uint8 each, "
        f"worst case)",
        change,
    )


# ------------------------------------------------------------------------------------------------
# Built-ins.


def _resize_square_batch(x: torch.Tensor, r: int, resize: str, *, channels_out: int | None = None) -> torch.Tensor:
    """Resize uint8 ``[N, C, s, s]`` square images to ``[N, channels_out or C, r, r]`` without PIL.

    ``pad`` never upscales: a smaller image is centered on black (28 -> 32 adds a 2 px border).
    Otherwise (``crop``/``stretch``, or ``pad`` when shrinking) a square source makes every policy
    the same plain resize: antialiased bicubic, rounded and clamped back to uint8. ``channels_out=3``
    on 1-channel input repeats the gray plane, written straight into the output (no extra copy).

    Raises:
        GanforgeError: the output plus the float32 temporaries would not fit in the available
            memory (checked before anything is allocated).
    """
    n, c, s = x.shape[0], x.shape[1], x.shape[-1]
    co = channels_out or c
    if co not in (c, 3):
        raise ValueError(f"cannot turn {c} channels into {co}")
    if s == r and co == c:
        return x
    upscale_pad = resize == "pad" and r > s
    per_image_temp = c * (4 * s * s + 5 * r * r)  # float32 input and output, uint8 result, per image
    step = max(1, min(4096, _RESIZE_TEMP_BYTES // per_image_temp))  # bounded float32 temporaries
    temp = 0 if (s == r or upscale_pad) else min(step, n) * per_image_temp
    ensure_fits(
        n * co * r * r + temp,
        f"resizing {n} images to {co} x {r} x {r} uint8 (data.resolution={r})",
        "lower data.resolution" + (", or leave data.channels at none" if co != c else ""),
    )
    out = torch.empty((n, co, r, r), dtype=torch.uint8)
    if s == r:
        out.copy_(x.expand(-1, co, -1, -1))
    elif upscale_pad:
        lo = (r - s) // 2
        out.zero_()
        out[:, :, lo : lo + s, lo : lo + s] = x
    else:
        for i in range(0, n, step):
            chunk = x[i : i + step].float()
            y = F.interpolate(chunk, size=(r, r), mode="bicubic", antialias=True, align_corners=False)
            out[i : i + step] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


def _load_builtin(cfg: DataConfig) -> ImageDataset:
    if cfg.split not in SPLITS:
        raise GanforgeError(f"unknown split {cfg.split!r} for {cfg.name}; valid choices: {', '.join(SPLITS)}")
    images, labels, class_names, _ = load_builtin_arrays(cfg.name, cfg.split, cfg.root)
    x = torch.from_numpy(images)
    r = cfg.resolution if cfg.resolution is not None else x.shape[-1]
    x = _resize_square_batch(x, r, cfg.resize, channels_out=3 if cfg.channels == 3 else None).contiguous()
    y = torch.from_numpy(labels)
    return ImageDataset(x, y, class_names, f"{cfg.name}:{cfg.split}", content_hash(x, y))


def _load_emoji(cfg: DataConfig) -> ImageDataset:
    from ganforge.data.emoji import NAME, SPLITS as EMOJI_SPLITS, load_emoji_arrays
    from ganforge.data.folder import to_channels

    if cfg.split not in EMOJI_SPLITS:
        raise GanforgeError(f"unknown split {cfg.split!r} for {NAME}; valid choices: {', '.join(EMOJI_SPLITS)} "
                            "(one set of glyphs: train and evaluate on it)")
    images, labels, class_names, _ = load_emoji_arrays(cfg.root)
    if cfg.channels == 1:
        images = to_channels(images.transpose(0, 2, 3, 1), 1).transpose(0, 3, 1, 2).copy()
    x = torch.from_numpy(images)
    r = cfg.resolution if cfg.resolution is not None else x.shape[-1]
    x = _resize_square_batch(x, r, cfg.resize).contiguous()
    y = torch.from_numpy(labels)
    return ImageDataset(x, y, class_names, f"{NAME}:{cfg.split}", content_hash(x, y))


class _Filler:
    """Copies each usable image, as the scan yields it, into one preallocated ``[N, C, H, W]`` buffer.

    ``capacity`` is the number of candidate image files (an upper bound on usable images). With
    ``channels`` None the buffer starts with the first image's channels and is widened to 3 once, at
    the first color image (earlier gray rows repeated, as ``to_channels`` would). With native sizes
    (``resolution`` None) the buffer is sized by the first image, after the memory check; an image
    of another size (or a non-square first image) stops the filling, and ``_load_folder`` reports
    the mismatch after the scan, as before.
    """

    def __init__(self, capacity: int, channels: int | None, resolution: int | None, path: Path):
        self.capacity, self.channels, self.resolution, self.path = capacity, channels, resolution, path
        self.buf: np.ndarray | None = None
        self.n = 0
        self.stopped = False

    def __call__(self, entry: ScanEntry, arr: np.ndarray) -> None:
        if self.stopped:
            return
        h, w, c = arr.shape
        if self.buf is None:
            if h != w:
                self.stopped = True
                return
            if self.resolution is None:
                _check_folder_fits(self.capacity, h, self.channels, self.path, native=True)
            self.buf = np.empty((self.capacity, self.channels or c, h, w), dtype=np.uint8)
        elif (h, w) != self.buf.shape[2:]:
            self.stopped, self.buf = True, None
            return
        if self.channels is None and c == 3 and self.buf.shape[1] == 1:
            wide = np.empty((self.capacity, 3, h, w), dtype=np.uint8)
            wide[: self.n] = self.buf[: self.n]  # broadcast: gray repeated into R, G and B
            self.buf = wide
        self.buf[self.n] = to_channels(arr, self.buf.shape[1]).transpose(2, 0, 1)
        self.n += 1

    def result(self) -> np.ndarray:
        """The filled rows: a view, not a copy. Rows past ``n`` (skipped files) were never
        written, so in a large buffer their pages were never committed either."""
        assert self.buf is not None and not self.stopped
        return self.buf[: self.n]


def check_native_sizes(sizes: Iterable[tuple[int, int, str]], where: str | Path, what: str = "images") -> None:
    """With ``data.resolution`` none every image must have one square size: raise GanforgeError naming
    the first two sizes that differ (with an example file of each), or the non-square size.

    Args:
        sizes: ``(width, height, shown path)`` of every usable image (at least one).
        where: the folder(s), for the message.
        what: what the sizes are of, for the message ("images", "image halves", ...).
    """
    first: dict[tuple[int, int], str] = {}
    for w, h, p in sizes:
        first.setdefault((w, h), p)
    if len(first) > 1:
        (s1, p1), (s2, p2) = list(first.items())[:2]
        raise GanforgeError(
            f"{what} in {where} differ in size ({s1[0]}x{s1[1]} {p1} vs {s2[0]}x{s2[1]} {p2}) and "
            f"data.resolution is none; set data.resolution (and data.resize: crop, pad, stretch)"
        )
    (w, h), _ = next(iter(first.items()))
    if w != h:
        raise GanforgeError(
            f"{what} in {where} are {w}x{h}, not square, and data.resolution is none; set "
            f"data.resolution (and data.resize: crop, pad, stretch)"
        )


def should_stream(cfg: DataConfig, candidates: int) -> bool:
    """Whether a folder / zip of ``candidates`` image files is streamed from disk (``data.stream``): always,
    never, or (auto) when its decoded pixels, worst case (3 channels unless ``data.channels`` is 1), would
    exceed ``data.device_cache_max_bytes``. Auto never streams native sizes (``data.resolution`` none):
    their size is unknown before decoding."""
    if cfg.stream in ("always", "never"):
        return cfg.stream == "always"
    if cfg.resolution is None:
        return False
    c = 1 if cfg.channels == 1 else 3
    return candidates * c * cfg.resolution**2 > cfg.device_cache_max_bytes


def _load_folder_streamed(cfg: DataConfig, path: Path, src: ImageSource, transform) -> ImageDataset:
    """Scan ``src`` (hashing the pixels) and describe it for reading from disk: see ``data.stream``."""
    hasher = PixelHasher()
    report = scan_source(src, max_pixels=cfg.max_image_pixels, max_file_bytes=cfg.max_file_bytes,
                         transform=transform, consume=hasher)
    skipped = apply_bad_image_policy(report, cfg.on_bad_image)
    if cfg.resolution is None:
        check_native_sizes(((e.width, e.height, e.path) for e in report.good), path)
    r = cfg.resolution or report.good[0].width
    c = cfg.channels or (3 if any(e.channels == 3 for e in report.good) else 1)
    spec = StreamSpec(str(path), tuple(e.rel for e in report.good), r, cfg.resize if cfg.resolution else None, c,
                      cfg.max_file_bytes, cfg.max_image_pixels)
    y = torch.tensor([e.label for e in report.good], dtype=torch.int64) if report.class_names else None
    images = StreamedImages(ImageReader(spec))
    digest = hasher.digest(tuple(images.shape), y, f"channels={c} resize={spec.resize}")
    return ImageDataset(images, y, report.class_names, str(cfg.name), digest, skipped=skipped)  # type: ignore[arg-type]


def _load_folder(cfg: DataConfig, path: Path) -> ImageDataset:
    transform = partial(resize_array, resolution=cfg.resolution, resize=cfg.resize) if cfg.resolution else (lambda a: a)
    with ImageSource(path, key="data.name") as src:
        candidates = sum(1 for f in src.files if has_allowed_extension(f))
        if should_stream(cfg, candidates):
            return _load_folder_streamed(cfg, path, src, transform)
        if cfg.resolution is not None:
            _check_folder_fits(candidates, cfg.resolution, cfg.channels, path, native=False)
        filler = _Filler(candidates, cfg.channels, cfg.resolution, path)
        report = scan_source(
            src, max_pixels=cfg.max_image_pixels, max_file_bytes=cfg.max_file_bytes, transform=transform,
            consume=filler,
        )
    skipped = apply_bad_image_policy(report, cfg.on_bad_image)
    if cfg.resolution is None:
        check_native_sizes(((e.width, e.height, e.path) for e in report.good), path)
    x = torch.from_numpy(filler.result())  # [N, C, H, W], contiguous
    y = None
    if report.class_names:
        y = torch.tensor([e.label for e in report.good], dtype=torch.int64)
    return ImageDataset(x, y, report.class_names, str(cfg.name), content_hash(x, y), skipped=skipped)


def load_image_dataset(cfg: DataConfig) -> ImageDataset:
    """Load the image dataset described by ``cfg`` (not a translation config: ``ganforge.data.load_dataset``
    hands those to ``ganforge.data.translation``).

    Built-in names (``fashion-mnist``, ``mnist``, ``emoji``) take precedence over a same-named local path;
    write ``./mnist`` to mean the folder. Folders / archives are read within ``cfg.max_file_bytes``
    per file and ``cfg.max_image_pixels`` per image.

    Args:
        cfg: the data section of the experiment config.

    Returns:
        An ``ImageDataset`` with uint8 ``[N, C, R, R]`` images (R = ``cfg.resolution``, or the native
        size when that is None).

    Raises:
        GanforgeError: invalid config values, an unknown name / missing path, missing built-in files,
            bad images under ``on_bad_image="error"``, no usable image, a dataset that would not
            fit in the available memory, or ``use_labels`` on an unlabelled dataset.
    """
    _check_cfg(cfg)
    if cfg.name in BUILTIN_DATASETS:
        ds = _load_builtin(cfg)
    elif cfg.name == "emoji":
        ds = _load_emoji(cfg)
    else:
        path = Path(cfg.name).expanduser()
        if probe_path(path, "data.name") is None:  # too long, a symlink loop: one error naming data.name
            raise GanforgeError(
                f"unknown dataset {cfg.name!r}: not a built-in name ({', '.join(builtin_names())}) "
                f"and no such file or folder"
            )
        ds = _load_folder(cfg, path)
    if cfg.use_labels and ds.labels is None:
        raise GanforgeError(
            f"data.use_labels is true but dataset {ds.name!r} has no labels; put the images in one "
            f"sub-folder per class, or set data.use_labels=false"
        )
    return ds
