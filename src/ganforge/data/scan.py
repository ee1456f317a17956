"""Pre-flight scan of an image folder / zip archive (and validation of built-in datasets).

Every file is classified before any training starts, so a dataset with broken files fails in
seconds with the full list of problems instead of crashing hours into a run. A file is *bad* when
it is: not a regular file (pipe, device, socket, broken symlink; never opened), an unsafe or
overlapping zip member, a disallowed format (by extension), too large (more than ``max_file_bytes``
bytes, ``data.max_file_bytes``), zero bytes, unreadable, not an image, oversized (more than
``max_pixels`` pixels, ``data.max_image_pixels``) or truncated/corrupt (decoding fails).

There is ONE pixel limit. PIL has its own (``Image.MAX_IMAGE_PIXELS``, checked from the header when
an image is opened and again for frames/tiles while decoding); during a scan it is set to
``max_pixels`` and its warning made an error, so PIL and our own header check refuse exactly the
same images and every message quotes our limit and the key that raises it. PIL's setting is
process-global, so scans hold a lock while it is changed and restore it afterwards.

Results are consumed in file order while at most ``max_in_flight()`` files are in flight, so memory
does not grow with the number of files decoded ahead of a slow one.

``scan_images`` returns a ``ScanReport``; ``apply_bad_image_policy`` turns bad files into either a
``GanforgeError`` (``on_bad_image="error"``) or a skip count (``"skip"``). A dataset without any
usable image is always an error naming what was found instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import gzip
import os
import re
import threading
import warnings
import zipfile
import zlib
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from ganforge.config import DataConfig
from ganforge.data.folder import (
    ALLOWED_EXTENSIONS,
    MAX_FILE_BYTES,
    BadFile,
    ImageSource,
    decode_to_array,
    has_allowed_extension,
    printable,
    probe_path,
    too_large_reason,
)
from ganforge.errors import GanforgeError

# Default decompression-bomb limit (data.max_image_pixels, default in DataConfig): 8192 x 8192 =
# 67 Mpx (a 201 MB RGB buffer). Datasets for this toolkit are at most a few hundred pixels per side;
# anything beyond this is a mistake or an attack.
MAX_PIXELS: int = DataConfig.max_image_pixels
# MAX_FILE_BYTES (data.max_file_bytes, default 64 MiB) is re-exported from ganforge.data.folder. Real
# dataset images are far smaller (a 4096 x 4096 RGB BMP is 48 MiB, a 24 Mpx JPEG about 10 MiB),
# and with up to 8 reader threads the raw bytes in flight stay under 512 MiB.
# Guards PIL's process-global pixel limit and the warnings filter while a scan changes them.
_PIL_STATE_LOCK = threading.Lock()
_PIL_PIXELS = re.compile(r"\((\d+) pixels\)")
BAD_IMAGE_POLICIES = ("error", "skip")
# The PIL decoders a file may be read with, whatever its extension says: those of the allowed formats
# (JPEG's also opens the multi-picture JPEGs, MPO, that phones write). PIL identifies a file by its
# content, so without this a "photo.png" holding PostScript would be rendered by Ghostscript (an external
# interpreter, with a history of sandbox escapes) and rarely used decoders would see hostile bytes.
DECODERS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
# How many bad files an error message lists before summarising the rest.
MAX_LISTED = 20


@dataclass
class ScanEntry:
    """One usable image (or, for built-ins, one IDX image file holding ``count`` images)."""

    path: str  # shown to users: file path, or "archive.zip:member"
    rel: str  # path relative to the dataset root ("" parts stripped), or the split for built-ins
    width: int
    height: int
    mode: str  # PIL mode of the source ("L", "RGB", "I;16", ...)
    format: str  # PIL format ("PNG", "JPEG", ...) or "IDX"
    channels: int = 0  # native channels after mode handling: 1 gray, 3 color (0 = not decoded)
    label: int | None = None
    count: int = 1


@dataclass
class ScanReport:
    """Result of a pre-flight scan.

    Attributes:
        path: the dataset path or built-in name scanned.
        kind: ``"folder"``, ``"zip"`` or ``"builtin"``.
        good: usable images.
        bad: ``(path, reason)`` for each rejected file.
        ignored_litter: OS litter files skipped silently (.DS_Store, __MACOSX/, ...).
        class_names: class sub-folder names (or built-in class names); () when unlabelled.
    """

    path: str
    kind: str
    good: list[ScanEntry] = field(default_factory=list)
    bad: list[tuple[str, str]] = field(default_factory=list)
    ignored_litter: int = 0
    class_names: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.bad and bool(self.good)

    @property
    def num_images(self) -> int:
        return sum(e.count for e in self.good)

    def format(self, max_listed: int = MAX_LISTED) -> str:
        """Human-readable multi-line summary (what ``ganforge data check`` prints)."""
        lines = [
            f"{self.path} ({self.kind}): {self.num_images} usable images, {len(self.bad)} bad files, "
            f"{self.ignored_litter} OS litter files ignored"
        ]
        if self.class_names:
            lines.append(f"classes ({len(self.class_names)}): {', '.join(self.class_names)}")
        else:
            lines.append("unlabelled (no class sub-folders)")
        if self.good:
            sizes = Counter()
            modes = Counter()
            for e in self.good:
                sizes[f"{e.width}x{e.height}"] += e.count
                modes[e.mode] += e.count
            lines.append("sizes: " + _top(sizes))
            lines.append("modes: " + _top(modes))
        if self.bad:
            lines.append("bad files:")
            lines += [f"  {p}: {r}" for p, r in self.bad[:max_listed]]
            if len(self.bad) > max_listed:
                lines.append(f"  ... and {len(self.bad) - max_listed} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable view."""
        return {
            "path": self.path,
            "kind": self.kind,
            "num_images": self.num_images,
            "good": [asdict(e) for e in self.good],
            "bad": [{"path": p, "reason": r} for p, r in self.bad],
            "ignored_litter": self.ignored_litter,
            "class_names": list(self.class_names),
        }


def _top(c: Counter, k: int = 5) -> str:
    items = c.most_common()
    s = ", ".join(f"{key} ({n})" for key, n in items[:k])
    return s + (f", ... ({len(items) - k} more)" if len(items) > k else "")


def check_bad_image_policy(policy: str) -> str:
    if policy not in BAD_IMAGE_POLICIES:
        raise GanforgeError(
            f"unknown on_bad_image policy {policy!r}; valid choices: {', '.join(BAD_IMAGE_POLICIES)}"
        )
    return policy


# ------------------------------------------------------------------------------------------------
# Per-file inspection.


@dataclass
class _Result:
    rel: str
    entry: ScanEntry | None = None
    reason: str | None = None
    array: np.ndarray | None = None


def oversized_reason(pixels: int | None, max_pixels: int, size: tuple[int, int] | None = None) -> str:
    """The "oversized" reason, naming our limit and its config key."""
    got = f"more than {max_pixels} pixels" if pixels is None else f"{pixels} pixels"
    if size is not None:
        got = f"{size[0]}x{size[1]} = {got}"
    return f"oversized: {got}, limit {max_pixels} pixels (data.max_image_pixels)"


def _bomb_reason(e: Exception, max_pixels: int) -> str:
    # PIL's message: "Image size (N pixels) exceeds limit of M pixels, ..." (M is PIL's, not quoted).
    m = _PIL_PIXELS.search(str(e))
    return oversized_reason(int(m.group(1)) if m else None, max_pixels)


def inspect_file(
    src: ImageSource,
    rel: str,
    *,
    max_pixels: int = MAX_PIXELS,
    max_file_bytes: int = MAX_FILE_BYTES,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> _Result:
    """Classify one file; when ``transform`` is given also decode it and keep ``transform(array)``.

    Args:
        src: the open folder / archive.
        rel: the file's relative path in ``src``.
        max_pixels: images whose header declares more pixels are "oversized" (not decoded).
        max_file_bytes: files (zip members: uncompressed) larger than this are "too large" (not read
            beyond ``max_file_bytes + 1`` bytes).
        transform: applied to the decoded uint8 ``[H, W, C]`` array (e.g. resizing); the result is
            kept in ``_Result.array``. None: only validate (``load()``), keep nothing. A transform
            that raises ``BadFile`` makes the file bad with that exception's text as the reason.
    """
    shown = src.display(rel)
    try:
        size = src.size(rel)  # stat / zip header only: pipes, devices, broken links are never opened
    except BadFile as e:
        return _Result(rel, reason=str(e))
    except Exception as e:  # noqa: BLE001 - permission errors, ...
        return _Result(rel, reason=f"unreadable: {type(e).__name__}: {e}")
    if not has_allowed_extension(rel):
        ext = Path(rel).suffix.lower() or "no extension"
        allowed = ", ".join(e.lstrip(".") for e in ALLOWED_EXTENSIONS)
        return _Result(rel, reason=f"disallowed format ({ext}); allowed: {allowed}")
    if size > max_file_bytes:
        return _Result(rel, reason=too_large_reason(size, max_file_bytes))
    try:
        data = b"" if (size == 0 and src.kind == "zip") else src.read(rel, max_file_bytes)
    except BadFile as e:
        return _Result(rel, reason=str(e))
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        return _Result(rel, reason=f"corrupt archive member: {type(e).__name__}: {e}")
    except Exception as e:  # noqa: BLE001 - permission errors, ...
        return _Result(rel, reason=f"unreadable: {type(e).__name__}: {e}")
    if not data:
        return _Result(rel, reason="zero-byte file")
    try:
        img = Image.open(io.BytesIO(data), formats=DECODERS)  # never EPS (Ghostscript), FITS, ... whatever the name
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        return _Result(rel, reason=_bomb_reason(e, max_pixels))
    except UnidentifiedImageError:
        return _Result(rel, reason="not an image: the content is not a recognised image format")
    except Exception as e:  # noqa: BLE001
        return _Result(rel, reason=f"unreadable: {type(e).__name__}: {e}")
    with img:
        w, h = img.size
        # Header-only size check: a 100000 x 100000 PNG is a few KB on disk; never decode it.
        if w * h > max_pixels:
            return _Result(rel, reason=oversized_reason(w * h, max_pixels, (w, h)))
        if w <= 0 or h <= 0:
            return _Result(rel, reason=f"empty image ({w}x{h})")
        try:
            img.load()
            arr = decode_to_array(img)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            return _Result(rel, reason=_bomb_reason(e, max_pixels))
        except Exception as e:  # noqa: BLE001 - PIL raises OSError/SyntaxError/ValueError/...
            return _Result(rel, reason=f"truncated or corrupt: {type(e).__name__}: {e}")
        # the size after EXIF orientation (a phone's portrait photo stored landscape is portrait)
        entry = ScanEntry(shown, rel, int(arr.shape[1]), int(arr.shape[0]), img.mode, img.format or "?",
                          channels=arr.shape[-1])
    kept = None
    if transform is not None:
        try:
            kept = transform(arr)
        except GanforgeError:
            raise
        except BadFile as e:  # the transform refuses this image (e.g. an odd-width A|B pair): its reason
            return _Result(rel, reason=str(e))
        except Exception as e:  # noqa: BLE001
            return _Result(rel, reason=f"cannot be resized: {type(e).__name__}: {e}")
    return _Result(rel, entry=entry, array=kept)


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def max_in_flight() -> int:
    """Most files in flight (being read/decoded, or done and waiting for their turn)."""
    return 2 * _workers()


def _ordered_map(fn: Callable[[str], _Result], items: Iterable[str]) -> Iterator[_Result]:
    """``map(fn, items)`` on a thread pool, in order, with at most ``max_in_flight()`` results pending."""
    with ThreadPoolExecutor(_workers()) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= max_in_flight():
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def scan_source(
    src: ImageSource,
    *,
    max_pixels: int = MAX_PIXELS,
    max_file_bytes: int = MAX_FILE_BYTES,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    consume: Callable[[ScanEntry, np.ndarray], None] | None = None,
) -> ScanReport:
    """Inspect every file of ``src`` (in sorted order, decoding in a thread pool).

    Args:
        src: the open folder / archive.
        max_pixels: per-image pixel limit (``data.max_image_pixels``).
        max_file_bytes: per-file byte limit (``data.max_file_bytes``).
        transform: applied to each decoded image (see ``inspect_file``).
        consume: called in file order, in the calling thread, with each usable image's entry and
            ``transform``-ed array; the scan keeps no array itself.

    Returns:
        The ``ScanReport``.
    """
    src.max_file_bytes = max_file_bytes  # the labels file is read within the same limit as every file
    class_names, label_map = src.labels()
    report = ScanReport(str(src.path), src.kind, ignored_litter=src.ignored_litter, class_names=class_names)
    report.bad += [(printable(f"{src.path}:{name}"), "unsafe path in archive") for name in src.unsafe]
    report.bad += [(src.display(rel), reason) for rel, reason in src.unlisted]

    def inspect(rel: str) -> _Result:
        return inspect_file(src, rel, max_pixels=max_pixels, max_file_bytes=max_file_bytes, transform=transform)

    with pil_limits(max_pixels):
        from ganforge.data.folder import LABELS_FILE

        # the labels file is metadata (``src.labels()`` has read and checked it), not a bad image
        files = [f for f in src.files if f != LABELS_FILE]
        for res in _ordered_map(inspect, files):
            if res.entry is not None:
                if label_map is not None:
                    res.entry.label = label_map[res.rel]
                report.good.append(res.entry)
                if consume is not None and res.array is not None:
                    consume(res.entry, res.array)
            else:
                report.bad.append((src.display(res.rel), res.reason or "unknown problem"))
    return report


@contextlib.contextmanager
def pil_limits(max_pixels: int) -> Iterator[None]:
    """PIL's pixel limit becomes ``max_pixels`` and its "too many pixels" warning an exception (so it is
    reported as oversized), restored afterwards. Both are process-global: set once around a whole scan
    or batch of reads (not per thread), under a lock."""
    with _PIL_STATE_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        pil_limit = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = pil_limit


def empty_error(report: ScanReport) -> GanforgeError:
    """The 'no usable image' error, naming what was found instead."""
    what = "zip archive" if report.kind == "zip" else "folder"
    if not report.bad:
        litter = f" (only {report.ignored_litter} ignored OS litter files)" if report.ignored_litter else ""
        return GanforgeError(f"no images in {report.path}: the {what} is empty{litter}")
    listed = ", ".join(f"{Path(p).name} ({r.split(':')[0].split(' (')[0]})" for p, r in report.bad[:MAX_LISTED])
    more = f", ... and {len(report.bad) - MAX_LISTED} more" if len(report.bad) > MAX_LISTED else ""
    return GanforgeError(
        f"no usable image in {report.path}: found {len(report.bad)} files: {listed}{more}\n"
        + "\n".join(f"  {p}: {r}" for p, r in report.bad[:MAX_LISTED])
    )


def apply_bad_image_policy(report: ScanReport, policy: str) -> int:
    """Enforce ``on_bad_image`` on a scan.

    Returns:
        The number of bad files skipped (0 when there are none).

    Raises:
        GanforgeError: no usable image at all; or bad files under ``policy="error"`` (listing up
            to ``MAX_LISTED`` of them with reasons); or an unknown policy.
    """
    check_bad_image_policy(policy)
    if not report.good:
        raise empty_error(report)
    if report.bad and policy == "error":
        lines = [f"{len(report.bad)} bad files in {report.path} ({report.num_images} usable images):"]
        lines += [f"  {p}: {r}" for p, r in report.bad[:MAX_LISTED]]
        if len(report.bad) > MAX_LISTED:
            lines.append(f"  ... and {len(report.bad) - MAX_LISTED} more (see `ganforge data check`)")
        lines.append(
            "Fix or remove them, or pass --on-bad-image skip (or --set data.on_bad_image=skip) to train on the "
            f"{report.num_images} usable images."
        )
        raise GanforgeError("\n".join(lines))
    return len(report.bad)


def scan_images(
    path: str | os.PathLike,
    *,
    on_bad_image: str | None = None,
    max_pixels: int = MAX_PIXELS,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> ScanReport:
    """Pre-flight scan of an image folder or zip archive.

    Args:
        path: folder or ``.zip`` archive.
        on_bad_image: None to only report; ``"error"`` / ``"skip"`` to also enforce that policy.
        max_pixels: pixel limit above which an image is "oversized" (``data.max_image_pixels``).
        max_file_bytes: byte limit above which a file / zip member is "too large"
            (``data.max_file_bytes``).

    Returns:
        The ``ScanReport`` (usable images, bad files with reasons, litter count, classes).

    Raises:
        GanforgeError: the path does not exist / is not a folder or zip; the dataset has no usable
            image; mixed top-level and class-folder images; or the policy rejects bad files.
    """
    with ImageSource(path) as src:
        report = scan_source(src, max_pixels=max_pixels, max_file_bytes=max_file_bytes)
    if on_bad_image is not None:
        apply_bad_image_policy(report, on_bad_image)
    elif not report.good:
        raise empty_error(report)
    return report


def _raw_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def check_builtin(name: str, root: str | os.PathLike | None = None, *, download: bool = False) -> ScanReport:
    """Validate a built-in dataset's IDX files: headers, sizes, label counts and ranges, checksums.

    Args:
        name: built-in name.
        root: optional folder searched first.
        download: allow fetching missing files (off by default: a check should not download).

    Returns:
        A ``ScanReport`` with one good entry per split (``count`` = images) or bad entries.

    Raises:
        GanforgeError: the files cannot be found (lists every place looked).
    """
    from ganforge.data.builtin import BUILTIN_DATASETS, SPLITS, find_file, locate_builtin, validate_arrays
    from ganforge.data.idx import read_idx

    spec = BUILTIN_DATASETS.get(name)
    folder = locate_builtin(spec, root, download=download)
    report = ScanReport(f"{name} ({folder})", "builtin", class_names=spec.class_names)
    for split in SPLITS:
        img_name, lab_name = spec.files[split]
        paths = [find_file(folder, img_name), find_file(folder, lab_name)]
        try:
            images, labels = (read_idx(p) for p in paths)  # type: ignore[arg-type]
            validate_arrays(spec, images, labels, paths[0], paths[1])  # type: ignore[arg-type]
        except GanforgeError as e:
            report.bad.append((str(paths[0]), str(e)))
            continue
        bad_sum = False
        for p in paths:
            want = spec.raw_sha256.get(p.name.removesuffix(".gz"))  # type: ignore[union-attr]
            if want and (got := _raw_sha256(p)) != want:  # type: ignore[arg-type]
                report.bad.append((str(p), f"content checksum mismatch: sha256 {got}, expected {want}"))
                bad_sum = True
        if not bad_sum:
            n, h, w = images.shape
            report.good.append(ScanEntry(str(paths[0]), split, w, h, "L", "IDX", channels=1, count=n))
    return report


def check_emoji(root: str | os.PathLike | None = None) -> ScanReport:
    """``ganforge data check emoji``: the two pinned source files (found, sha256) and the rendered glyphs.

    Never downloads (a check should not); a missing or other-version file raises the lookup's error."""
    from ganforge.data.emoji import load_emoji_arrays

    images, labels, groups, skipped = load_emoji_arrays(root, download=False)
    report = ScanReport("emoji (NotoColorEmoji.ttf 2.042, emoji-test.txt 15.0; sha256 verified)", "builtin",
                        class_names=groups)
    n, c, h, w = images.shape
    report.good.append(ScanEntry("emoji", "train", w, h, "RGB", "rendered", channels=c, count=n))
    if skipped:
        report.bad.append(("emoji", f"{skipped} listed sequences are not drawn as one glyph by this font"))
    return report


def check_path(
    path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS, max_file_bytes: int = MAX_FILE_BYTES
) -> ScanReport:
    """What ``ganforge data check PATH`` runs: a built-in name or a folder / zip archive.

    Bad files are reported in the returned report (not raised); a missing path or a dataset without
    any usable image raises ``GanforgeError``. The limits apply to folders / archives (built-in IDX
    files have their own header checks).
    """
    from ganforge.data.builtin import BUILTIN_DATASETS, builtin_names

    s = str(path)
    key = "dataset path"
    if s in BUILTIN_DATASETS and probe_path(s, key) is None:
        return check_builtin(s)
    if s == "emoji" and probe_path(s, key) is None:
        return check_emoji()
    if probe_path(Path(s).expanduser(), key) is None:  # too long, a loop: one error, not a traceback
        raise GanforgeError(
            f"unknown dataset {s!r}: not a built-in name ({', '.join(builtin_names())}) "
            f"and no such file or folder"
        )
    return scan_images(path, max_pixels=max_pixels, max_file_bytes=max_file_bytes)
