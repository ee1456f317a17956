"""The in-memory dataset the trainer uses, and ``load_dataset`` which builds it from a DataConfig.

The whole dataset is decoded once into a single uint8 tensor ``[N, C, H, W]``; GAN datasets at the
resolutions this toolkit targets fit comfortably in memory, and uint8 is 4x smaller than float.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.config import DataConfig
from ganforge.data.builtin import BUILTIN_DATASETS, SPLITS, load_builtin_arrays
from ganforge.data.folder import ImageSource, check_resize_policy, resize_array, to_channels
from ganforge.data.scan import apply_bad_image_policy, check_bad_image_policy, scan_source
from ganforge.errors import GanforgeError


@dataclass
class ImageDataset:
    """A decoded image dataset.

    Attributes:
        images_u8: uint8 ``[N, C, H, W]`` (H == W), CPU, contiguous.
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


def content_hash(images_u8: torch.Tensor, labels: torch.Tensor | None) -> str:
    """sha256 hex over a version tag, the shape, the pixel bytes and the label bytes.

    Args:
        images_u8: uint8 ``[N, C, H, W]``.
        labels: int64 ``[N]`` or None.

    Returns:
        64 hex characters; equal for equal content wherever it was loaded from.
    """
    h = hashlib.sha256()
    h.update(b"ganforge-dataset-v1\n")
    h.update(("shape=" + ",".join(str(int(s)) for s in images_u8.shape) + "\n").encode())
    # numpy arrays expose the buffer protocol: hash without another full copy of the pixels.
    h.update(np.ascontiguousarray(images_u8.numpy()))
    if labels is None:
        h.update(b"labels=none")
    else:
        h.update(b"labels=int64le\n")
        h.update(np.ascontiguousarray(labels.numpy().astype("<i8")))
    return h.hexdigest()


def _check_cfg(cfg: DataConfig) -> None:
    r = cfg.resolution
    if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r <= 0):
        raise GanforgeError(f"bad data.resolution {r!r}: expected a positive integer or none")
    check_resize_policy(cfg.resize)
    if cfg.channels not in (None, 1, 3):
        raise GanforgeError(f"bad data.channels {cfg.channels!r}: valid choices: 1, 3, none")
    check_bad_image_policy(cfg.on_bad_image)
    for key in ("max_file_bytes", "max_image_pixels"):
        v = getattr(cfg, key)
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise GanforgeError(f"bad data.{key} {v!r}: expected a positive integer")


def _resize_square_batch(x: torch.Tensor, r: int, resize: str) -> torch.Tensor:
    """Resize uint8 ``[N, C, s, s]`` square images to ``[N, C, r, r]`` without PIL.

    ``pad`` never upscales: a smaller image is centered on black (28 -> 32 adds a 2 px border).
    Otherwise (``crop``/``stretch``, or ``pad`` when shrinking) a square source makes every policy
    the same plain resize: antialiased bicubic, rounded and clamped back to uint8.
    """
    s = x.shape[-1]
    if s == r:
        return x
    if resize == "pad" and r > s:
        lo = (r - s) // 2
        return F.pad(x, (lo, r - s - lo, lo, r - s - lo), value=0).contiguous()
    out = torch.empty((x.shape[0], x.shape[1], r, r), dtype=torch.uint8)
    step = 4096  # bounded float32 temporaries
    for i in range(0, x.shape[0], step):
        chunk = x[i : i + step].float()
        y = F.interpolate(chunk, size=(r, r), mode="bicubic", antialias=True, align_corners=False)
        out[i : i + step] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


def _load_builtin(cfg: DataConfig) -> ImageDataset:
    if cfg.split not in SPLITS:
        raise GanforgeError(f"unknown split {cfg.split!r} for {cfg.name}; valid choices: {', '.join(SPLITS)}")
    images, labels, class_names, _ = load_builtin_arrays(cfg.name, cfg.split, cfg.root)
    x = torch.from_numpy(images)
    if cfg.resolution is not None:
        x = _resize_square_batch(x, cfg.resolution, cfg.resize)
    if cfg.channels == 3:
        x = x.expand(-1, 3, -1, -1)
    x = x.contiguous()
    y = torch.from_numpy(labels)
    return ImageDataset(x, y, class_names, f"{cfg.name}:{cfg.split}", content_hash(x, y))


def _load_folder(cfg: DataConfig, path: Path) -> ImageDataset:
    transform = partial(resize_array, resolution=cfg.resolution, resize=cfg.resize) if cfg.resolution else (lambda a: a)
    arrays: list[np.ndarray] = []
    with ImageSource(path) as src:
        report = scan_source(
            src, max_pixels=cfg.max_image_pixels, max_file_bytes=cfg.max_file_bytes, transform=transform,
            consume=lambda entry, array: arrays.append(array),
        )
    skipped = apply_bad_image_policy(report, cfg.on_bad_image)
    if cfg.resolution is None:
        sizes = {}
        for e in report.good:
            sizes.setdefault((e.width, e.height), e.path)
        if len(sizes) > 1:
            (s1, p1), (s2, p2) = list(sizes.items())[:2]
            raise GanforgeError(
                f"images in {path} differ in size ({s1[0]}x{s1[1]} {p1} vs {s2[0]}x{s2[1]} {p2}) and "
                f"data.resolution is none; set data.resolution (and data.resize: crop, pad, stretch)"
            )
        (w, h), p = next(iter(sizes.items()))
        if w != h:
            raise GanforgeError(
                f"images in {path} are {w}x{h}, not square, and data.resolution is none; set "
                f"data.resolution (and data.resize: crop, pad, stretch)"
            )
    channels = cfg.channels or (1 if all(e.channels == 1 for e in report.good) else 3)
    stacked = np.stack([to_channels(a, channels) for a in arrays])  # [N, H, W, C]
    x = torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()
    y = None
    if report.class_names:
        y = torch.tensor([e.label for e in report.good], dtype=torch.int64)
    return ImageDataset(x, y, report.class_names, str(cfg.name), content_hash(x, y), skipped=skipped)


def load_dataset(cfg: DataConfig) -> ImageDataset:
    """Load the dataset described by ``cfg``.

    Built-in names (``fashion-mnist``, ``mnist``) take precedence over a same-named local path;
    write ``./mnist`` to mean the folder. Folders / archives are read within ``cfg.max_file_bytes``
    per file and ``cfg.max_image_pixels`` per image.

    Args:
        cfg: the data section of the experiment config.

    Returns:
        An ``ImageDataset`` with uint8 ``[N, C, R, R]`` images (R = ``cfg.resolution``, or the native
        size when that is None).

    Raises:
        GanforgeError: invalid config values, an unknown name / missing path, missing built-in files,
            bad images under ``on_bad_image="error"``, no usable image, or ``use_labels`` on an
            unlabelled dataset.
    """
    _check_cfg(cfg)
    if cfg.name in BUILTIN_DATASETS:
        ds = _load_builtin(cfg)
    else:
        path = Path(cfg.name).expanduser()
        if not path.exists():
            raise GanforgeError(
                f"unknown dataset {cfg.name!r}: not a built-in name ({', '.join(BUILTIN_DATASETS.names())}) "
                f"and no such file or folder"
            )
        ds = _load_folder(cfg, path)
    if cfg.use_labels and ds.labels is None:
        raise GanforgeError(
            f"data.use_labels is true but dataset {ds.name!r} has no labels; put the images in one "
            f"sub-folder per class, or set data.use_labels=false"
        )
    return ds
