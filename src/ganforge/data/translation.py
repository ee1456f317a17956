"""Image-to-image translation datasets (pix2pix, CycleGAN): images of two domains, A (the input side)
and B (the target side), paired one to one or not at all.

Two sources, chosen by ``load_translation_dataset`` (which ``load_dataset`` calls for them):

* Built-in tasks, ``TRANSLATION_TASKS``, made from the built-in datasets' own files (looked up or
  downloaded exactly as for ``fashion-mnist`` and ``emoji``):

  - ``fmnist-edges`` (paired): B is a Fashion-MNIST garment at the final resolution, A its edge map
    computed from B at that resolution by ``sobel_edges`` (white 255 where the Sobel gradient
    magnitude exceeds ``EDGE_THRESHOLD`` = 1/4 of the image's largest magnitude, black 0 elsewhere).
    train: the 60,000 training images; test: the 10,000 test images.
  - ``fmnist-sneaker2boot`` (unpaired): A the Sneakers (class 7), B the Ankle boots (class 9) of the
    split: 6,000 each in train, 1,000 each in test.
  - ``emoji-gray2color`` (paired): B the colour emoji at the final resolution, A its ITU-R 601 luma
    (``0.299 R + 0.587 G + 0.114 B``, rounded). The emoji set is one list of glyphs; here glyph ``i``
    (in the set's order) is in ``test`` when ``i % 10 == 9`` (every 10th), else in ``train``.

  ``data.resolution`` and ``data.resize`` act as for the built-ins (the default 32 pads the 28 px
  garments with a 2 px black border). ``data.channels`` none keeps each domain's own channels
  (1 and 1, 1 and 1, 1 and 3); 1 or 3 forces both domains, after A has been computed.

* Folders, with ``data.pairing`` set (layouts in ``_aligned_folder`` / ``_domain_folders`` and
  docs/data.md): ``aligned`` (each image is A|B side by side), ``matched`` (two folders paired by file
  name without extension) or ``unpaired`` (two folders of any counts and sizes). Only the files
  directly in each folder are read (sub-folders are not; there are no labels). They go through the
  same pre-flight scan, bad-image policy, size limits, resize policies and memory check as any
  image folder.
"""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Callable, ClassVar

import numpy as np
import torch

from ganforge.config import DataConfig
from ganforge.data.base import TRANSLATION, DatasetKind, content_hash
from ganforge.data.builtin import BUILTIN_DATASETS, SPLITS, builtin_names, load_builtin_arrays
from ganforge.data.dataset import ImageDataset, _check_cfg, _Filler, _resize_square_batch, check_native_sizes
from ganforge.data.folder import (
    LABELS_FILE,
    BadFile,
    ImageSource,
    has_allowed_extension,
    probe_path,
    resize_array,
    to_channels,
)
from ganforge.data.memory import ensure_fits, folder_bytes_needed
from ganforge.data.scan import ScanEntry, ScanReport, apply_bad_image_policy, empty_error, scan_source
from ganforge.errors import GanforgeError

PAIRINGS = ("aligned", "matched", "unpaired")
# fmnist-edges: a pixel is an edge when its Sobel gradient magnitude is MORE than this fraction of the
# largest magnitude in the same image. 1/4 keeps the outline and the main interior lines (collars,
# seams, folds, the sole of a shoe); 0.4 already drops parts of the outline of dark garments, 0.1
# adds fabric texture.
EDGE_THRESHOLD = Fraction(1, 4)
# emoji-gray2color: glyph i is in the test split when i % EMOJI_TEST_EVERY == EMOJI_TEST_EVERY - 1.
EMOJI_TEST_EVERY = 10
# How many unmatched / duplicate file names an error lists per folder before "and N more".
MAX_LISTED_NAMES = 10
# Images per chunk of the edge computation (its int32 temporaries: about 10 x 4 x (R + 2)^2 bytes each).
_EDGE_CHUNK = 1024


@dataclass
class TranslationDataset:
    """Two decoded image domains for image-to-image translation (``kind == "translation"``; see
    ``ganforge.data.base.TranslationData``).

    Attributes:
        a_u8: uint8 ``[NA, CA, R, R]``, CPU, contiguous: domain A (the input side).
        b_u8: uint8 ``[NB, CB, R, R]``: domain B (the target side). CA may differ from CB.
        paired: True when ``a_u8[i]`` and ``b_u8[i]`` are one pair (then NA == NB).
        name: e.g. ``"fmnist-edges:train"``, or the folder as given + ``":train"``.
        content_hash: sha256 hex over both domains' pixels and the paired flag (not the path / name).
        names: per-pair names of paired folder data (aligned: the file name; matched: the file name
            without extension that paired the two files), else None.
        skipped: bad files skipped under ``on_bad_image="skip"`` (both folders together).
        split: ``"train"`` or ``"test"``.

    The properties make code written for ``ImageDataset`` see the target domain B, unlabelled.
    """

    a_u8: torch.Tensor
    b_u8: torch.Tensor
    paired: bool
    name: str
    content_hash: str
    names: tuple[str, ...] | None = None
    skipped: int = 0
    split: str = "train"
    # Per-domain content hashes, filled by the loaders (computed on first use otherwise).
    _domain_hashes: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    kind: ClassVar[DatasetKind] = TRANSLATION

    @property
    def streamed(self) -> bool:
        """Always False: both domains are decoded into memory."""
        return False

    @property
    def images_u8(self) -> torch.Tensor:
        return self.b_u8

    @property
    def labels(self) -> None:
        return None

    @property
    def class_names(self) -> tuple[str, ...]:
        return ()

    @property
    def num_classes(self) -> int:
        return 0

    def __len__(self) -> int:
        return int(self.b_u8.shape[0])

    @property
    def resolution(self) -> int:
        return int(self.b_u8.shape[-1])

    @property
    def channels(self) -> int:
        return self.channels_b

    @property
    def channels_a(self) -> int:
        return int(self.a_u8.shape[1])

    @property
    def channels_b(self) -> int:
        return int(self.b_u8.shape[1])

    def domain(self, which: str) -> ImageDataset:
        """Domain ``"A"`` or ``"B"`` as an unlabelled ``ImageDataset`` (e.g. an FID reference set), named
        ``f"{name}/A"``, with that domain's own content hash. Shares the pixel tensor (no copy)."""
        if which not in ("A", "B"):
            raise GanforgeError(f"unknown domain {which!r} of translation dataset {self.name!r}; valid choices: A, B")
        x = self.a_u8 if which == "A" else self.b_u8
        if which not in self._domain_hashes:
            self._domain_hashes[which] = content_hash(x, None)
        return ImageDataset(x, None, (), f"{self.name}/{which}", self._domain_hashes[which])


def translation_hash(a_u8: torch.Tensor, b_u8: torch.Tensor, paired: bool) -> tuple[str, str, str]:
    """``(dataset hash, hash of A, hash of B)``: A and B hashed as ``dataset.content_hash`` does (shape
    and pixels, no labels), then one sha256 over a version tag, the paired flag and the two hashes."""
    ha, hb = content_hash(a_u8, None), content_hash(b_u8, None)
    h = hashlib.sha256()
    h.update(b"ganforge-translation-v1\n")
    h.update(f"paired={int(bool(paired))}\nA={ha}\nB={hb}\n".encode())
    return h.hexdigest(), ha, hb


def _make(a: torch.Tensor, b: torch.Tensor, *, paired: bool, name: str, split: str,
          names: tuple[str, ...] | None = None, skipped: int = 0) -> TranslationDataset:
    a, b = a.contiguous(), b.contiguous()
    full, ha, hb = translation_hash(a, b, paired)
    ds = TranslationDataset(a, b, paired, name, full, names=names, skipped=skipped, split=split)
    ds._domain_hashes.update(A=ha, B=hb)
    return ds


# ------------------------------------------------------------------------------------------------
# Pixel operations of the built-in tasks.


def sobel_edges(gray_u8: torch.Tensor, threshold: Fraction = EDGE_THRESHOLD) -> torch.Tensor:
    """Binary edge maps of uint8 ``[N, 1, H, W]`` images: uint8 ``[N, 1, H, W]`` of 0 and 255.

    ``Gx`` and ``Gy`` are the 3x3 Sobel responses (kernels ``[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]``
    and its transpose, i.e. right minus left and bottom minus top) of the pixel values 0..255, with
    zeros outside the image. A pixel is an edge (255) when ``sqrt(Gx^2 + Gy^2)`` is more than
    ``threshold`` times the largest value of it in the same image; an image without any gradient has
    no edge. Computed in integers (``Gx^2 + Gy^2`` against the maximum times the threshold squared),
    so the result is exact and the same on every machine.
    """
    n, c, h, w = gray_u8.shape
    if c != 1:
        raise ValueError(f"sobel_edges expects 1-channel images, got {c} channels")
    num2, den2 = threshold.numerator ** 2, threshold.denominator ** 2
    # Gx^2 + Gy^2 <= 2 * (4 * 255)^2; int32 holds it times the threshold's terms for any sane threshold.
    dtype = np.int32 if max(num2, den2) * 2 * 1020**2 < 2**31 else np.int64
    x = gray_u8.numpy()
    out = np.empty((n, 1, h, w), dtype=np.uint8)
    for i in range(0, n, _EDGE_CHUNK):
        p = np.pad(x[i : i + _EDGE_CHUNK, 0].astype(dtype), ((0, 0), (1, 1), (1, 1)))
        # The Sobel kernels are separable: [1, 2, 1] down the columns times [-1, 0, 1] along the rows
        # for Gx, and the other way round for Gy.
        smooth_y = p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]  # [n, h, w + 2]
        diff_y = p[:, 2:] - p[:, :-2]
        gx = smooth_y[:, :, 2:] - smooth_y[:, :, :-2]
        gy = diff_y[:, :, :-2] + 2 * diff_y[:, :, 1:-1] + diff_y[:, :, 2:]
        m2 = gx * gx + gy * gy
        peak = m2.max(axis=(1, 2), keepdims=True)
        out[i : i + _EDGE_CHUNK, 0] = np.where(m2 * den2 > peak * num2, 255, 0)
    return torch.from_numpy(out)


def with_channels(x: torch.Tensor, channels: int | None) -> torch.Tensor:
    """uint8 ``[N, C, R, R]`` with ``channels`` channels (None: unchanged): gray is repeated into R, G
    and B; colour becomes its ITU-R 601 luma, rounded (``folder.to_channels``)."""
    if channels is None or x.shape[1] == channels:
        return x
    n, _, h, w = x.shape
    if channels == 3:
        ensure_fits(n * 3 * h * w, f"{n} images of 3 x {h} x {w} uint8", "lower data.resolution, or leave "
                    "data.channels at none")
        return x.expand(-1, 3, -1, -1).contiguous()
    gray = to_channels(x.permute(0, 2, 3, 1).numpy(), 1)  # [N, H, W, 1]
    return torch.from_numpy(gray).permute(0, 3, 1, 2).contiguous()


def _resized(images: np.ndarray, cfg: DataConfig) -> torch.Tensor:
    """Square uint8 ``[N, C, s, s]`` -> ``[N, C, R, R]`` as the built-ins are resized."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    r = cfg.resolution if cfg.resolution is not None else x.shape[-1]
    return _resize_square_batch(x, r, cfg.resize).contiguous()


def _fashion_mnist(cfg: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    images, labels, _, _ = load_builtin_arrays("fashion-mnist", cfg.split, cfg.root)
    return images, labels


def _fmnist_edges(cfg: DataConfig) -> tuple[torch.Tensor, torch.Tensor]:
    images, _ = _fashion_mnist(cfg)
    b = _resized(images, cfg)
    n, _, r, _ = b.shape
    ensure_fits(n * r * r + 10 * 8 * min(n, _EDGE_CHUNK) * (r + 2) ** 2,  # int64 temporaries, worst case
                f"the edge maps of {n} images of {r} x {r} (data.resolution={r})", "lower data.resolution")
    return sobel_edges(b), b


def _fashion_class(name: str) -> int:
    return BUILTIN_DATASETS.get("fashion-mnist").class_names.index(name)


def _fmnist_sneaker2boot(cfg: DataConfig) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = _fashion_mnist(cfg)
    a = _resized(images[labels == _fashion_class("Sneaker")], cfg)
    b = _resized(images[labels == _fashion_class("Ankle boot")], cfg)
    return a, b


def emoji_split_indices(n: int, split: str) -> np.ndarray:
    """Indices of the glyphs of ``split`` among ``n``: test every 10th (i % 10 == 9), train the rest."""
    i = np.arange(n)
    test = i % EMOJI_TEST_EVERY == EMOJI_TEST_EVERY - 1
    return i[test] if split == "test" else i[~test]


def _emoji_gray2color(cfg: DataConfig) -> tuple[torch.Tensor, torch.Tensor]:
    from ganforge.data import emoji

    images, _, _, _ = emoji.load_emoji_arrays(cfg.root)
    b = _resized(images[emoji_split_indices(len(images), cfg.split)], cfg)
    return with_channels(b, 1), b


@dataclass(frozen=True)
class TranslationTask:
    """A built-in translation task.

    Attributes:
        name: the ``data.name`` that selects it.
        pairing: the ``data.pairing`` it implies: ``"aligned"`` for paired tasks (one A per B, as in
            pix2pix's aligned datasets), ``"unpaired"`` otherwise.
        source: the built-in dataset it is made from.
        domain_a, domain_b: what the two domains hold, in words.
        build: ``cfg -> (A, B)`` uint8 tensors at the final resolution with the task's own channels.
    """

    name: str
    pairing: str
    source: str
    domain_a: str
    domain_b: str
    build: Callable[[DataConfig], tuple[torch.Tensor, torch.Tensor]]

    @property
    def paired(self) -> bool:
        return self.pairing != "unpaired"


TRANSLATION_TASKS: dict[str, TranslationTask] = {
    t.name: t
    for t in (
        TranslationTask("fmnist-edges", "aligned", "fashion-mnist", "Sobel edge map of the garment (1 channel)",
                        "the garment (1 channel)", _fmnist_edges),
        TranslationTask("fmnist-sneaker2boot", "unpaired", "fashion-mnist", "Sneakers (class 7)",
                        "Ankle boots (class 9)", _fmnist_sneaker2boot),
        TranslationTask("emoji-gray2color", "aligned", "emoji", "luma of the emoji (1 channel)",
                        "the colour emoji (3 channels)", _emoji_gray2color),
    )
}


def is_translation_config(cfg: DataConfig) -> bool:
    """True when ``cfg`` names a translation dataset: a built-in task, or a folder with ``data.pairing``."""
    return cfg.name in TRANSLATION_TASKS or cfg.pairing is not None


def _load_task(task: TranslationTask, cfg: DataConfig) -> TranslationDataset:
    if cfg.pairing is not None and cfg.pairing != task.pairing:
        raise GanforgeError(
            f"data.pairing={cfg.pairing!r} conflicts with translation task {task.name!r}, which is "
            f"{'paired' if task.paired else 'unpaired'} (pairing {task.pairing!r}); leave data.pairing at none"
        )
    a, b = task.build(cfg)
    a, b = with_channels(a, cfg.channels), with_channels(b, cfg.channels)
    return _make(a, b, paired=task.paired, name=f"{task.name}:{cfg.split}", split=cfg.split)


# ------------------------------------------------------------------------------------------------
# Folders.


def _flat_source(path: Path) -> ImageSource:
    """An ``ImageSource`` of the files directly in ``path``: files in sub-folders and a labels file
    are left out (translation data has no classes)."""
    src = ImageSource(path)
    src.files = [f for f in src.files if "/" not in f and f != LABELS_FILE]
    src.unlisted = []  # sub-folders are not part of a flat folder, readable or not
    return src


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a folder; a path that cannot be looked at (too long, a symlink loop) is one
    ``GanforgeError`` naming data.name, not a traceback."""
    st = probe_path(path, "data.name")
    return st is not None and stat.S_ISDIR(st.st_mode)


def _aligned_folder(root: Path, split: str) -> Path:
    """``<root>/<split>/`` when it is a folder; for ``train`` else ``<root>`` itself."""
    if _is_dir(root / split):
        return root / split
    if split == "train":
        return root
    raise GanforgeError(
        f"no {split!r} split of aligned translation data: {root / split} is not a folder. Expected layout: "
        f"{root}/train/ and {root}/test/ holding images of A and B side by side (A on the left half), or "
        f"the train images directly in {root}"
    )


def _domain_folders(root: Path, split: str) -> tuple[Path, Path]:
    """``<root>/<split>A`` and ``<root>/<split>B``; for ``train`` else ``<root>/A`` and ``<root>/B``."""
    candidates = [(root / f"{split}A", root / f"{split}B")]
    if split == "train":
        candidates.append((root / "A", root / "B"))
    for a, b in candidates:
        if _is_dir(a) and _is_dir(b):
            return a, b

    def state(a: Path, b: Path) -> str:
        missing = [p.name for p in (a, b) if not _is_dir(p)]
        return "neither is a folder" if len(missing) == 2 else f"{missing[0]} is not a folder"

    tried = "; ".join(f"{a} and {b} ({state(a, b)})" for a, b in candidates)
    alt = f", or {root}/A/ and {root}/B/ for the train split" if split == "train" else ""
    raise GanforgeError(
        f"no domain folders for split {split!r} in {root}: tried {tried}. Expected layout: "
        f"{root}/{split}A/ (domain A images) and {root}/{split}B/ (domain B images), as CycleGAN's "
        f"trainA, trainB, testA, testB{alt}"
    )


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED_NAMES])
    return shown + (f" and {len(items) - MAX_LISTED_NAMES} more" if len(items) > MAX_LISTED_NAMES else "")


def _pair_by_stem(files_a: list[str], files_b: list[str], dir_a: Path, dir_b: Path) -> list[tuple[str, str, str]]:
    """``(stem, file in A, file in B)`` for every name, ordered by stem; one GanforgeError for
    duplicate stems within a folder, then one for files without a partner (both folders listed)."""
    tables, dups = [], []
    for files, folder in ((files_a, dir_a), (files_b, dir_b)):
        groups: dict[str, list[str]] = {}
        for f in files:
            groups.setdefault(PurePosixPath(f).stem, []).append(f)
        twice = [" / ".join(fs) for fs in groups.values() if len(fs) > 1]
        if twice:
            dups.append(f"in {folder}: {_listing(twice)}")
        tables.append({s: fs[0] for s, fs in groups.items()})
    if dups:
        raise GanforgeError(
            "data.pairing=matched pairs files by their name without extension, so each name may appear once "
            "per folder; these appear more than once: " + "; ".join(dups)
        )
    by_a, by_b = tables
    unmatched = []
    for table, other, folder, other_dir in ((by_a, by_b, dir_a, dir_b), (by_b, by_a, dir_b, dir_a)):
        alone = sorted(s for s in table if s not in other)
        if alone:
            unmatched.append(f"{len(alone)} in {folder} without a partner in {other_dir}: "
                             f"{_listing([table[s] for s in alone])}")
    if unmatched:
        raise GanforgeError(
            "data.pairing=matched pairs files by their name without extension (a.png with a.jpg), but "
            + "; ".join(unmatched) + ". Add the missing partners or remove these files, or use data.pairing=unpaired"
        )
    return [(s, by_a[s], by_b[s]) for s in sorted(by_a)]


def _check_fits(counts: tuple[int, int], cfg: DataConfig, where: str) -> None:
    """The memory check of a folder load, for both domains (with native sizes each ``_Filler``
    checks its own domain once the first image's size is known)."""
    if cfg.resolution is None:
        return
    r, c = cfg.resolution, 1 if cfg.channels == 1 else 3
    ensure_fits(
        sum(folder_bytes_needed(n, r, cfg.channels) for n in counts),
        f"loading {counts[0]} domain A and {counts[1]} domain B images from {where} at data.resolution={r} "
        f"({c} x {r} x {r} uint8 each, worst case)",
        "lower data.resolution" + ("" if cfg.channels == 1 else ", or set data.channels=1 for grayscale")
        + ", or use fewer images",
    )


def _split_aligned(arr: np.ndarray, resolution: int | None, resize: str) -> tuple[np.ndarray, np.ndarray]:
    """An A|B image -> (A, B): the left and right halves, each resized on its own."""
    w = arr.shape[1]
    if w % 2:
        raise BadFile(f"odd width {w}: an aligned image holds A and B side by side, so its width must be even")
    halves = (arr[:, : w // 2], arr[:, w // 2 :])
    if resolution is None:
        return halves
    a, b = (resize_array(np.ascontiguousarray(x), resolution, resize) for x in halves)
    return a, b


def _one_domain(arr: np.ndarray, resolution: int | None, resize: str) -> tuple[np.ndarray]:
    return (arr if resolution is None else resize_array(arr, resolution, resize),)


def _scan(src: ImageSource, cfg: DataConfig, transform: Callable, fillers: tuple[_Filler, ...]) -> ScanReport:
    """Scan ``src``; each usable image's transformed parts go to ``fillers`` (one part each)."""

    def consume(entry: ScanEntry, parts: tuple[np.ndarray, ...]) -> None:
        for filler, part in zip(fillers, parts):
            filler(entry, part)

    return scan_source(src, max_pixels=cfg.max_image_pixels, max_file_bytes=cfg.max_file_bytes,
                       transform=transform, consume=consume)


def _apply_policy(cfg: DataConfig, reports: list[ScanReport], where: str) -> int:
    """Empty folders are errors (each named); then ``on_bad_image`` over the bad files of all of them."""
    for rep in reports:
        if not rep.good:
            raise empty_error(rep)
    merged = ScanReport(where, "folder", good=[e for r in reports for e in r.good],
                        bad=[b for r in reports for b in r.bad])
    return apply_bad_image_policy(merged, cfg.on_bad_image)


def _load_aligned(cfg: DataConfig, root: Path) -> TranslationDataset:
    folder = _aligned_folder(root, cfg.split)
    with _flat_source(folder) as src:
        n = sum(1 for f in src.files if has_allowed_extension(f))
        _check_fits((n, n), cfg, str(folder))
        fillers = (_Filler(n, cfg.channels, cfg.resolution, folder), _Filler(n, cfg.channels, cfg.resolution, folder))
        report = _scan(src, cfg, partial(_split_aligned, resolution=cfg.resolution, resize=cfg.resize), fillers)
    skipped = _apply_policy(cfg, [report], str(folder))
    if cfg.resolution is None:
        check_native_sizes(((e.width // 2, e.height, e.path) for e in report.good), folder, "image halves")
    a, b = (torch.from_numpy(f.result()) for f in fillers)
    return _make(a, b, paired=True, name=f"{cfg.name}:{cfg.split}", split=cfg.split,
                 names=tuple(e.rel for e in report.good), skipped=skipped)


def _load_two_folders(cfg: DataConfig, root: Path) -> TranslationDataset:
    dir_a, dir_b = _domain_folders(root, cfg.split)
    matched = cfg.pairing == "matched"
    with _flat_source(dir_a) as src_a, _flat_source(dir_b) as src_b:
        sources = (src_a, src_b)
        images = [[f for f in s.files if has_allowed_extension(f)] for s in sources]
        if matched:
            pairs = _pair_by_stem(images[0], images[1], dir_a, dir_b)
            for k, src in enumerate(sources):  # decode in stem order; other files stay, as bad files
                src.files = [p[1 + k] for p in pairs] + [f for f in src.files if not has_allowed_extension(f)]
        counts = (len(images[0]), len(images[1]))
        _check_fits(counts, cfg, f"{dir_a} and {dir_b}")
        transform = partial(_one_domain, resolution=cfg.resolution, resize=cfg.resize)
        fillers, reports = [], []
        for src, folder, n in zip(sources, (dir_a, dir_b), counts):
            fillers.append(_Filler(n, cfg.channels, cfg.resolution, folder))
            reports.append(_scan(src, cfg, transform, (fillers[-1],)))
    where = f"{dir_a} and {dir_b}"
    skipped = _apply_policy(cfg, reports, where)
    if cfg.resolution is None:
        check_native_sizes(((e.width, e.height, e.path) for r in reports for e in r.good), where)
    a, b = (torch.from_numpy(f.result()) for f in fillers)
    if not matched:
        return _make(a, b, paired=False, name=f"{cfg.name}:{cfg.split}", split=cfg.split, skipped=skipped)
    row_a, row_b = ({e.rel: i for i, e in enumerate(r.good)} for r in reports)
    kept = [(s, row_a[fa], row_b[fb]) for s, fa, fb in pairs if fa in row_a and fb in row_b]
    if not kept:
        raise GanforgeError(f"no usable pair in {where}: every pair has a bad image")
    if len(kept) < len(a):  # a pair whose other image was bad is dropped
        a = a[torch.tensor([i for _, i, _ in kept])]
    if len(kept) < len(b):
        b = b[torch.tensor([j for _, _, j in kept])]
    return _make(a, b, paired=True, name=f"{cfg.name}:{cfg.split}", split=cfg.split,
                 names=tuple(s for s, _, _ in kept), skipped=skipped)


# ------------------------------------------------------------------------------------------------
# Entry point.


def load_translation_dataset(cfg: DataConfig) -> TranslationDataset:
    """Load the translation dataset described by ``cfg``: a built-in task (``TRANSLATION_TASKS``) or a
    folder laid out as ``cfg.pairing`` says.

    Task names take precedence over a same-named local path (write ``./fmnist-edges`` for the folder).

    Raises:
        GanforgeError: invalid config values (including ``data.pairing``, a pairing that conflicts
            with the task's, ``data.use_labels=true``); an unknown name, a missing folder or split;
            duplicate or unmatched names under ``matched``; bad images under
            ``on_bad_image="error"``; an empty folder; sizes that differ with ``data.resolution``
            none; a dataset that would not fit in memory; missing built-in files.
    """
    if cfg.pairing not in (*PAIRINGS, None):
        raise GanforgeError(f"unknown data.pairing {cfg.pairing!r}; valid choices: {', '.join(PAIRINGS)}, none")
    _check_cfg(cfg)
    if cfg.split not in SPLITS:
        raise GanforgeError(f"unknown data.split {cfg.split!r} for translation dataset {cfg.name!r}; valid "
                            f"choices: {', '.join(SPLITS)}")
    if cfg.use_labels:
        raise GanforgeError(f"data.use_labels is true but translation dataset {cfg.name!r} has no labels (it has "
                            f"two domains, A and B, not classes); set data.use_labels=false")
    task = TRANSLATION_TASKS.get(cfg.name)
    if task is not None:
        return _load_task(task, cfg)
    tasks = ", ".join(TRANSLATION_TASKS)
    if cfg.name in builtin_names():
        raise GanforgeError(f"data.pairing={cfg.pairing!r} needs a folder, but {cfg.name!r} is a built-in image "
                            f"dataset; built-in translation tasks: {tasks} (write ./{cfg.name} for a folder of "
                            f"that name)")
    root = Path(cfg.name).expanduser()
    st = probe_path(root, "data.name")
    if st is None:
        raise GanforgeError(f"unknown translation dataset {cfg.name!r}: not a built-in task ({tasks}) and no such "
                            f"folder")
    if not stat.S_ISDIR(st.st_mode):
        raise GanforgeError(f"data.pairing={cfg.pairing!r} needs a folder; {str(root)!r} is not one (archives are "
                            f"not read as translation data)")
    return _load_aligned(cfg, root) if cfg.pairing == "aligned" else _load_two_folders(cfg, root)
