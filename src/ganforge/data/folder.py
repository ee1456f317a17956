"""Image folders and zip archives: listing, class labels, decoding any PIL mode, resizing.

Listing (``ImageSource``):
  * Allowed formats, by extension: png, jpg/jpeg, bmp, gif, webp, tif/tiff. Other files are kept in
    the listing so the pre-flight scan can report them as "disallowed format".
  * OS litter is ignored and counted: ``.DS_Store``, ``Thumbs.db``, ``desktop.ini``, anything under a
    ``__MACOSX/`` tree, ``._*`` AppleDouble files and any other hidden (dot) file or folder.
  * A zip whose every entry sits under one top-level folder (the usual "zip of a folder") has that
    folder stripped, so it behaves exactly like the unpacked folder.
  * Labels: the first-level sub-folder names, sorted, are the classes; with no sub-folders the set
    is unlabelled; images both at the top level and in sub-folders is an error.

Decoding (``decode_to_array``), mode handling on purpose:
  * ``1`` (bilevel) -> L with values 0/255; ``L`` as is; ``I;16*`` / ``I`` (16-bit) -> L by ``>> 8``
    (values scaled, never clipped at 255; ``I`` is clamped to 0..65535 first); ``F`` -> clamped 0..255.
  * ``LA``, ``RGBA``, ``P``/``PA`` with transparency -> alpha composited over BLACK (``c * a / 255``),
    matching the black padding used elsewhere; palettes go through RGBA.
  * ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` ... -> RGB via PIL.
  * Animated images (GIF/WebP/TIFF pages): the first frame.
  * EXIF Orientation (2..8, set by phones and cameras) is applied (``PIL.ImageOps.exif_transpose``), so
    pixels come out the way viewers show the photo, whether the folder is read for training, checked or
    converted; sizes (and ``data check``'s report) are those after turning.
  An image counts as grayscale when its mode is gray-only or its palette only holds grays.

Resizing (``resize_image``), to ``resolution`` x ``resolution``:
  * ``crop``: scale the shorter side to ``resolution``, keep the centered square.
  * ``pad``: fit the whole image inside the square WITHOUT upscaling (only downscale when the longer
    side is larger than ``resolution``), centered on black. So a 28 px image at 32 gets a 2 px
    black border (as in the usual DCGAN-on-MNIST setup) instead of being blown up.
  * ``stretch``: resize both sides to ``resolution`` (aspect ratio not kept).
  Resampling is LANCZOS with ``reducing_gap=3``: for large downscales PIL first box-reduces by an
  integer factor (fast, alias-free), then LANCZOS does the remaining <= 3x step.

Bounds (a hostile folder or archive ends in a report, never a hang or an out-of-memory kill):
  * Only regular files are opened. A named pipe (opening one for reading blocks forever), a device,
    a socket, a dangling symlink or a symlink loop is a bad file, decided by ``stat`` (which follows
    symlinks) without opening it; after opening, ``fstat`` checks again in case the file was swapped.
    Symlinked folders are not walked (``os.walk``'s default), so link cycles cannot hang the listing;
    the listing is iterative (a tree thousands of levels deep cannot exhaust the recursion limit) and a
    sub-folder that cannot be listed is reported (``ImageSource.unlisted``).
  * The labels file ``dataset.json`` is read like any file (within ``max_bytes``; JSON nested too
    deeply or otherwise malformed is one ``GanforgeError`` naming it).
  * Names are shown escaped (``printable``): control characters, bytes that are not UTF-8 and
    bidirectional overrides cannot forge report lines or drive the terminal.
  * Paths that cannot even be looked at (longer than the file system allows, a symlink loop) are one
    ``GanforgeError`` naming the config key or option they came from (``probe_path``).
  * At most ``max_bytes`` (``data.max_file_bytes``) are read per file: the size is checked with
    ``stat`` first and the read stops at ``max_bytes + 1`` bytes, so a file that grows meanwhile (or
    whose reported size is wrong) is still bounded.
  * Zip members are read in memory only; nothing is ever extracted to disk. A member's uncompressed
    size is checked from its header before inflating, and the same byte limit is enforced while
    inflating (chunked reads), so a header that understates the size cannot inflate unboundedly.
    Members with an absolute path, a drive letter or a ``..`` component are reported as "unsafe
    path in archive" (never litter, class folders or part of the top-folder stripping); members
    whose data overlaps another member's (the trick behind small zips that inflate to terabytes)
    are reported too; an archive with more than ``MAX_ARCHIVE_ENTRIES`` entries is refused after
    counting its central directory records, before ``zipfile`` builds an object per entry.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
import threading
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from ganforge.config import DataConfig
from ganforge.errors import GanforgeError

ALLOWED_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
RESIZE_POLICIES = ("crop", "pad", "stretch")
_LITTER_NAMES = {".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db"}
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
# Default byte limit per file / zip member (data.max_file_bytes; the default lives in DataConfig).
MAX_FILE_BYTES: int = DataConfig.max_file_bytes
# Most entries read from one zip archive. Listing costs zipfile ~0.5 KB of memory and several us per
# entry, so a million is about half a GB and seconds; a bigger dataset can be unpacked into a folder.
MAX_ARCHIVE_ENTRIES = 1_000_000
# Reads from files and zip members go in chunks of this size once past the declared size.
_CHUNK = 1 << 20
_FILE_TYPES = (
    (stat.S_ISFIFO, "named pipe"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISDIR, "directory"),
)
_CD_LENGTHS = struct.Struct("<HHH")  # name, extra, comment lengths at offset 28 of a central record
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)


class BadFile(Exception):
    """A file ``ImageSource`` refuses to open or to finish reading; ``str(e)`` is the reason shown."""


def too_large_reason(size: int | None, limit: int) -> str:
    """The "too large" reason; ``size`` None when only "more than ``limit``" is known."""
    got = f"{size} bytes" if size is not None else f"more than {limit} bytes"
    return f"too large: {got}, limit {limit} bytes (data.max_file_bytes)"


def _file_type(mode: int) -> str:
    for test, name in _FILE_TYPES:
        if test(mode):
            return name
    return "special file"


# Paths longer than this are shown abbreviated in messages (with their length).
PATH_SHOWN_MAX = 512
# Characters escaped when a file name is shown: control characters (a newline in a name would forge a
# line of the report; an escape sequence would drive the terminal), undecodable bytes (kept by Python
# as lone surrogates, which cannot be printed as UTF-8), line / paragraph separators and the
# bidirectional overrides that make a name read other than it is.
_BIDI = {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x2028, 0x2029}


def printable(name: str) -> str:
    """``name`` with the characters above escaped (``\\n``, ``\\x1b``, ``\\xff`` for an undecodable byte,
    ``\\u202e``); ordinary names, accented and non-Latin ones included, come back unchanged."""
    if name.isprintable() and not any(ord(c) in _BIDI for c in name):
        return name
    out = []
    for c in name:
        o = ord(c)
        if 0xDC80 <= o <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o < 0x20 or o == 0x7F or 0x80 <= o < 0xA0 or 0xD800 <= o <= 0xDFFF or o in _BIDI:
            out.append(c.encode("unicode_escape").decode("ascii") if o < 0x100 else f"\\u{o:04x}")
        else:
            out.append(c)
    return "".join(out)


def shown_path(path: str | os.PathLike) -> str:
    """A path quoted for a message (``repr``), abbreviated with its length when longer than
    ``PATH_SHOWN_MAX`` characters."""
    s = str(path)
    if len(s) <= PATH_SHOWN_MAX:
        return repr(s)
    return f"{s[:200]!r}...{s[-60:]!r} ({len(s)} characters)"


_PATH_HINTS = {
    errno.ENAMETOOLONG: " (file systems allow at most 255 bytes per file or folder name and 4096 per path)",
    errno.ELOOP: " (a symlink loop, or too many symlinks in a row)",
}


def path_error(key: str, path: str | os.PathLike, e: OSError) -> GanforgeError:
    """The one message for a path that cannot even be looked at (too long, a symlink loop, no permission)."""
    reason = e.strerror or str(e) or type(e).__name__
    return GanforgeError(f"cannot use {key} {shown_path(path)}: {reason}{_PATH_HINTS.get(e.errno, '')}")


def probe_path(path: str | os.PathLike, key: str) -> os.stat_result | None:
    """``os.stat(path)`` (following symlinks), or None when nothing is there (a missing path, a dangling
    symlink, a file where a folder was expected on the way). Every other failure (a name longer than
    the file system allows, a symlink loop, a folder without permission, a NUL byte) is one
    ``GanforgeError`` naming ``key`` (the config key or option the path came from) and the path."""
    try:
        return os.stat(path)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise path_error(key, path, e) from None
    except ValueError as e:  # "embedded null byte"
        raise GanforgeError(f"cannot use {key} {shown_path(path)}: {e}") from None


def file_type(mode: int) -> str:
    """"named pipe", "character device", ... for a ``st_mode`` that is not a regular file."""
    return _file_type(mode)


def _walk(root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Relative POSIX paths of every non-folder entry under ``root``, and ``(folder, reason)`` for each
    sub-folder that could not be listed. Iterative (a tree thousands of folders deep cannot exhaust
    Python's recursion limit, as ``os.walk`` does in Python 3.11); symlinked folders are not walked,
    as ``os.walk``'s default, so link cycles cannot hang the listing."""
    names: list[str] = []
    unlisted: list[tuple[str, str]] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(root / rel if rel else root) as it:
                entries = list(it)
        except OSError as e:
            if not rel:
                raise GanforgeError(f"cannot read the folder {shown_path(root)}: {e.strerror or e}") from None
            unlisted.append((rel, f"cannot list this folder: {e.strerror or e}"))
            continue
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            try:
                is_dir = entry.is_dir()  # follows symlinks: a symlinked folder is a folder, not walked
            except OSError:
                is_dir = False
            if not is_dir:
                names.append(child)
            elif not entry.is_symlink():
                stack.append(child)
    return names, unlisted


def is_unsafe_member(name: str) -> bool:
    """True for an archive member name that points outside the archive's own tree: an absolute path,
    a Windows drive letter, or a ``..`` component (``\\`` counts as a separator too)."""
    s = name.replace("\\", "/")
    if s.startswith("/") or (len(s) >= 2 and s[1] == ":" and s[0].isalpha()):
        return True
    return ".." in s.split("/")


def _read_capped(f, declared: int, limit: int) -> bytes:
    """Read from binary file ``f`` until EOF or ``limit + 1`` bytes, whichever comes first.

    The first request is the declared size (+1 to notice growth), later ones ``_CHUNK``: no buffer
    is ever sized by the limit alone, and a stream longer than declared stops past the limit. A
    short read ends it: regular files and zip members return one only at the end, so a file that
    matches its declared size costs one read of that size.
    """
    parts: list[bytes] = []
    total, want = 0, min(declared, limit) + 1
    while total <= limit:
        ask = min(want, limit + 1 - total)
        chunk = f.read(ask)
        if chunk:
            parts.append(chunk)
            total += len(chunk)
        if len(chunk) < ask:
            break
        want = _CHUNK
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _count_zip_records(path: Path, stop_after: int) -> int:
    """Central-directory records of a zip, counted from their fixed headers without building any
    object per entry; stops counting once past ``stop_after``. 0 when the directory cannot be found
    (``zipfile`` then reports the archive as broken)."""
    end_record = getattr(zipfile, "_EndRecData", None)  # stable since Python 2; absent: do not count
    if end_record is None:
        return 0
    with open(path, "rb") as f:
        end = end_record(f)
        if not end:
            return 0
        size_cd, location = end[5], end[9]
        start = location - size_cd - (76 if end[0] == b"PK\x06\x06" else 0)  # zip64 record + locator
        if start < 0:
            return 0
        f.seek(start)
        count = consumed = pos = 0
        buf = b""
        while consumed + 46 <= size_cd and count <= stop_after:
            if pos + 46 > len(buf):  # refill: block reads, not one read per record
                if pos > len(buf):  # the previous record's name/extra/comment ran past the block
                    f.seek(pos - len(buf), os.SEEK_CUR)
                    buf = b""
                else:
                    buf = buf[pos:]
                buf += f.read(_CHUNK)
                pos = 0
                if len(buf) < 46:
                    break
            if not buf.startswith(b"PK\x01\x02", pos):
                break
            name_len, extra_len, comment_len = _CD_LENGTHS.unpack_from(buf, pos + 28)
            step = 46 + name_len + extra_len + comment_len
            pos += step
            consumed += step
            count += 1
    return count


def _overlapping(infos: list[zipfile.ZipInfo]) -> set[str]:
    """Names of members whose local header + data range runs into the next member's header.

    A well-formed archive stores members one after another; overlapping ranges let a few KB of
    compressed data be inflated once per entry (a "non-recursive zip bomb"). 30 bytes is the fixed
    local header; names and extras only make the real range longer, so this never flags a sane zip.
    """
    ordered = sorted(infos, key=lambda i: i.header_offset)
    bad: set[str] = set()
    for a, b in zip(ordered, ordered[1:]):
        if a.header_offset + 30 + a.compress_size > b.header_offset:
            bad.update((a.filename, b.filename))
    return bad


def is_litter(rel: str) -> bool:
    """True for OS-generated junk that is never part of a dataset (see module docstring)."""
    parts = PurePosixPath(rel).parts
    if any(p == "__MACOSX" or p.startswith(".") for p in parts):
        return True  # hidden folders/files, AppleDouble "._x", .DS_Store, macOS zip resource forks
    return parts[-1].lower() in _LITTER_NAMES


def has_allowed_extension(rel: str) -> bool:
    return PurePosixPath(rel).suffix.lower() in ALLOWED_EXTENSIONS


class ImageSource:
    """Uniform, bounded read access to the files of an image folder or zip archive.

    Attributes:
        path: the folder or archive given.
        kind: ``"folder"`` or ``"zip"``.
        files: sorted relative POSIX paths of every non-litter file (images and non-images); for a
            folder this includes non-regular entries (pipes, devices, broken links), which ``size``
            and ``read`` refuse.
        unsafe: zip member names with an absolute path, drive letter or ``..`` component (never
            read, never in ``files``); empty for folders.
        unlisted: ``(sub-folder, reason)`` for folders that could not be listed (no permission, a
            path too long); the scan reports them as bad. Empty for zips.
        ignored_litter: how many litter files were skipped.
        prefix: top-level folder stripped from every zip entry ("" if none).

    Use as a context manager (closes the zip).
    """

    def __init__(self, path: str | os.PathLike, *, max_entries: int = MAX_ARCHIVE_ENTRIES, key: str = "dataset path"):
        self.path = Path(path).expanduser()
        st = probe_path(self.path, key)
        if st is None:
            raise GanforgeError(f"dataset path {str(self.path)!r} does not exist")
        self._zip: zipfile.ZipFile | None = None
        self._infos: dict[str, zipfile.ZipInfo] = {}
        self._overlap: set[str] = set()
        self._lock = threading.Lock()
        self.prefix = ""
        self.unsafe: list[str] = []
        self.unlisted: list[tuple[str, str]] = []
        self.max_file_bytes = MAX_FILE_BYTES  # what ``labels`` reads of the labels file at most
        names: list[str]
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            self.kind = "folder"
            names, self.unlisted = _walk(self.path)
        elif not stat.S_ISREG(mode):
            raise GanforgeError(
                f"dataset path {str(self.path)!r} is a {_file_type(mode)}, not a folder or a zip archive; give "
                f"a folder of images, a .zip of images, or a built-in name"
            )
        elif zipfile.is_zipfile(self.path):
            self.kind = "zip"
            names = self._open_zip(max_entries)
        else:
            raise GanforgeError(
                f"dataset path {str(self.path)!r} is a file but not a zip archive; give a folder of "
                f"images, a .zip of images, or a built-in name"
            )
        kept = [n for n in names if not is_litter(n)]
        self.ignored_litter = len(names) - len(kept)
        if self.kind == "zip":
            tops = {PurePosixPath(n).parts[0] for n in kept}
            if len(tops) == 1 and all(len(PurePosixPath(n).parts) > 1 for n in kept):
                self.prefix = tops.pop() + "/"
        self._full = {n[len(self.prefix):]: n for n in kept}
        self.files = sorted(self._full)

    def _open_zip(self, max_entries: int) -> list[str]:
        """Open the archive (after bounding its entry count); return the safe file member names."""
        try:
            records = _count_zip_records(self.path, max_entries)
            if records > max_entries:
                raise GanforgeError(
                    f"zip archive {str(self.path)!r} has more than {max_entries} entries, the most ganforge "
                    f"reads from one archive; unpack it and give the folder instead"
                )
            self._zip = zipfile.ZipFile(self.path)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError, NotImplementedError) as e:
            raise GanforgeError(f"cannot read zip archive {str(self.path)!r}: {e}") from None
        self._overlap = _overlapping(infos)
        names = []
        for info in infos:
            if info.is_dir():
                continue
            if is_unsafe_member(info.filename):
                self.unsafe.append(info.filename)
            else:
                names.append(info.filename)
                self._infos[info.filename] = info  # duplicates: the last one wins, as in zipfile
        self.unsafe.sort()
        return names

    def __enter__(self) -> "ImageSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def display(self, rel: str) -> str:
        """Path shown to users: the real file path, or ``archive.zip:member``; control characters and
        bytes that are not UTF-8 escaped (``printable``), so a name cannot forge or break a line."""
        if self.kind == "folder":
            return printable(str(self.path / rel))
        return printable(f"{self.path}:{self._full.get(rel, rel)}")

    def size(self, rel: str) -> int:
        """Size in bytes from ``stat`` / the zip header, without opening anything.

        Raises:
            BadFile: not a regular file (pipe, device, socket, dangling symlink, symlink loop), or a
                zip member overlapping another one.
            OSError: other failures to stat.
        """
        if self.kind == "zip":
            name = self._full[rel]
            if name in self._overlap:
                raise BadFile("overlaps another member of the archive (a zip bomb construction)")
            return self._infos[name].file_size
        p = self.path / rel
        try:
            st = os.stat(p)  # follows symlinks
        except FileNotFoundError:
            if os.path.islink(p):
                raise BadFile("not a regular file (dangling symlink: its target does not exist)") from None
            raise
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise BadFile("not a regular file (symlink loop)") from None
            raise
        if not stat.S_ISREG(st.st_mode):
            via = "symlink to a " if os.path.islink(p) else ""
            raise BadFile(f"not a regular file ({via}{_file_type(st.st_mode)})")
        return st.st_size

    def read(self, rel: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
        """Raw bytes of one file, at most ``max_bytes`` of them.

        Raises:
            BadFile: what ``size`` refuses, or more than ``max_bytes`` bytes (by the size checked
                first, or by what was actually read / inflated).
            OSError, zipfile.BadZipFile, zlib.error, EOFError: unreadable or corrupt data.
        """
        declared = self.size(rel)
        if declared > max_bytes:
            raise BadFile(too_large_reason(declared, max_bytes))
        if self.kind == "folder":
            fd = os.open(self.path / rel, _OPEN_FLAGS)  # O_NONBLOCK: a pipe swapped in cannot block
            with open(fd, "rb", buffering=0) as f:
                mode = os.fstat(fd).st_mode  # the file opened may not be the one stat-ed
                if not stat.S_ISREG(mode):
                    raise BadFile(f"not a regular file ({_file_type(mode)})")
                data = _read_capped(f, declared, max_bytes)
        else:
            assert self._zip is not None
            with self._lock:  # one shared file handle: serialize member reads across threads
                with self._zip.open(self._infos[self._full[rel]]) as f:
                    data = _read_capped(f, declared, max_bytes)
        if len(data) > max_bytes:
            raise BadFile(too_large_reason(None, max_bytes))
        return data

    def labels(self, max_bytes: int | None = None) -> tuple[tuple[str, ...], dict[str, int] | None]:
        """Class names and rel path -> label index: from a labels file ``dataset.json`` at the top level
        when there is one, else from first-level sub-folders of image files.

        ``dataset.json`` is the format of NVlabs' ``dataset_tool.py``: ``{"labels": [["rel/path.png", 3],
        ...]}`` (or ``"labels": null`` for none); it takes precedence over sub-folders (those zips keep
        images in ``00000/``-style folders that are not classes). Classes are then named by its
        ``"class_names"`` when it has them (``ganforge data convert`` writes them), else "0".."K-1".
        Returns ``((), None)`` when there is no labels file and no image lives in a sub-folder.

        The labels file is read like any file (at most ``max_bytes``, default ``self.max_file_bytes``, which
        ``scan_source`` sets to ``data.max_file_bytes``; only a regular file or a sound zip member).

        Raises:
            GanforgeError: a labels file that cannot be read or is malformed (not JSON, nested too deeply,
                too large), an image it does not label, or images both at the top level and inside
                sub-folders (without labels file).
        """
        images = [f for f in self.files if has_allowed_extension(f)]  # unsafe members are not in files
        if LABELS_FILE in self.files:
            return self._labels_from_file(images, self.max_file_bytes if max_bytes is None else max_bytes)
        top = [f for f in images if "/" not in f]
        nested = [f for f in images if "/" in f]
        if not nested:
            return (), None
        if top:
            raise GanforgeError(
                f"{self.path}: images both at the top level (e.g. {top[0]!r}) and in class sub-folders "
                f"(e.g. {nested[0]!r}); put every image in a class sub-folder, or none of them"
            )
        classes = tuple(sorted({f.split("/", 1)[0] for f in nested}))
        index = {c: i for i, c in enumerate(classes)}
        return classes, {f: index[f.split("/", 1)[0]] for f in nested}

    def _labels_from_file(self, images: list[str], max_bytes: int) -> tuple[tuple[str, ...], dict[str, int] | None]:
        where = self.display(LABELS_FILE)
        budget = labels_file_budget(self.files)
        try:
            size = self.size(LABELS_FILE)
        except BadFile as e:
            raise GanforgeError(f"labels file {where}: {e}") from None
        except OSError as e:
            raise GanforgeError(f"cannot read labels file {where}: {e.strerror or e}") from None
        if budget < max_bytes and size > budget:  # parsed JSON takes ~15x its bytes in Python objects
            raise GanforgeError(f"labels file {where} is {size} bytes, more than a labels file for the "
                                f"{len(self.files)} files here can need ({budget} bytes); it is not a labels file "
                                f"of this dataset")
        try:
            data = self.read(LABELS_FILE, min(max_bytes, budget))
        except BadFile as e:
            raise GanforgeError(f"labels file {where}: {e}") from None
        except Exception as e:  # noqa: BLE001 - permission, corrupt or encrypted member, unsupported compression
            raise GanforgeError(f"cannot read labels file {where}: {type(e).__name__}: {e}") from None
        table, names = _parse_labels_file(data, where)
        if table is None:
            return (), None
        missing = [f for f in images if f not in table]
        if missing:
            raise GanforgeError(f"{where} labels {len(images) - len(missing)} of the {len(images)} images; "
                                f"{len(missing)} have none, e.g. {missing[0]!r}")
        labels = {f: table[f] for f in images}
        k = max(labels.values(), default=-1) + 1
        if names is not None:
            if len(names) < k:
                raise GanforgeError(f'{where}: "class_names" names {len(names)} classes but the labels go up to '
                                    f"{k - 1}; give one name per class index")
            return tuple(names), labels
        return tuple(str(i) for i in range(k)), labels


LABELS_FILE = "dataset.json"
MAX_LABEL = 1_000_000


def labels_file_budget(files: list[str]) -> int:
    """Most bytes a labels file for ``files`` can need: each file labelled once, its name escaped twice
    over, 64 bytes of brackets, label and indentation per entry, and 1 MiB for the class names and the
    rest. A larger "labels file" would only cost memory: JSON parsed into Python objects takes about
    15 times its size (a 64 MiB one about 900 MB and seconds), so the bound follows the dataset, not a
    fixed number of bytes."""
    import json

    return (1 << 20) + sum(2 * len(json.dumps(f)) + 64 for f in files)


def _parse_labels_file(data: bytes, where: str) -> tuple[dict[str, int] | None, list[str] | None]:
    """The path -> class index table of a ``dataset.json`` (None for ``"labels": null``) and its optional
    ``"class_names"`` (a list of strings, index -> name; ganforge's ``data convert`` writes it, NVlabs'
    tools ignore it)."""
    import json

    try:
        doc = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise GanforgeError(f"{where}: not a labels file: its JSON is nested too deeply") from None
    except ValueError as e:  # not UTF-8, not JSON, a number of more than 4300 digits
        raise GanforgeError(f"{where}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or "labels" not in doc:
        raise GanforgeError(f'{where}: expected {{"labels": [["path/in/dataset.png", class_index], ...]}} or '
                            '{"labels": null}')
    names = doc.get("class_names")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise GanforgeError(f'{where}: "class_names" must be a list of strings (index -> class name)')
    if doc["labels"] is None:
        return None, None
    if not isinstance(doc["labels"], list):
        raise GanforgeError(f'{where}: "labels" must be a list of [path, class_index] pairs or null')
    out: dict[str, int] = {}
    for item in doc["labels"]:
        ok = (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], int)
              and not isinstance(item[1], bool) and 0 <= item[1] < MAX_LABEL)
        if not ok:
            raise GanforgeError(f"{where}: bad entry {_brief(item)!r}; each entry is [path, class index "
                                f"0..{MAX_LABEL - 1}]")
        out[item[0].replace("\\", "/")] = item[1]
    return out, names


def _brief(item: object) -> str:
    """A short text of a JSON value for a message: bounded in length and depth however large or deeply
    nested the value is (``str`` of it would build the whole text first, or recurse)."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxdict, r.maxstring, r.maxother, r.maxlong = 3, 4, 4, 60, 40, 40
    return printable(r.repr(item))[:100]


def _is_gray_palette(img: Image.Image) -> bool:
    pal = img.getpalette() or []
    rgb = np.asarray(pal, dtype=np.int32).reshape(-1, 3)
    return bool(np.all((rgb[:, 0] == rgb[:, 1]) & (rgb[:, 1] == rgb[:, 2])))


def _composite_black(arr: np.ndarray) -> np.ndarray:
    """[H, W, C+1] uint8 with alpha last -> [H, W, C] composited over black, rounded."""
    color = arr[..., :-1].astype(np.uint16)
    alpha = arr[..., -1:].astype(np.uint16)
    return ((color * alpha + 127) // 255).astype(np.uint8)


_ORIENTATION = 0x0112  # the EXIF Orientation tag


def exif_orientation(img: Image.Image) -> int:
    """The image's EXIF Orientation (1..8; 1 = as stored), 1 when it has none or its EXIF cannot be read."""
    try:
        value = img.getexif().get(_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make a decodable image bad
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def apply_orientation(img: Image.Image) -> Image.Image:
    """``img`` turned the way its EXIF Orientation says it is shown (phone photos store the sensor's
    pixels and a tag saying "rotate 90 degrees"); ``img`` itself when there is nothing to turn."""
    if exif_orientation(img) == 1:
        return img
    from PIL import ImageOps

    return ImageOps.exif_transpose(img)


def decode_to_array(img: Image.Image) -> np.ndarray:
    """Convert a loaded PIL image of any mode to uint8 ``[H, W, 1]`` (gray) or ``[H, W, 3]`` (color),
    turned as its EXIF Orientation says (``apply_orientation``), as every viewer shows it.

    Args:
        img: an opened PIL image (already ``load()``-ed or lazily loadable).

    Returns:
        A uint8 array; 1 channel when the source is grayscale (incl. gray palettes), else 3.
    """
    img = apply_orientation(img)
    mode = img.mode
    if mode == "1":
        arr = np.asarray(img.convert("L"))
    elif mode == "L":
        arr = np.asarray(img)
    elif mode.startswith("I;16") or mode == "I":
        # 16-bit gray: keep the full range by shifting, instead of PIL's clip-at-255 conversion.
        wide = np.asarray(img).astype(np.int64)
        arr = (np.clip(wide, 0, 65535) >> 8).astype(np.uint8)
    elif mode == "F":
        arr = np.clip(np.rint(np.asarray(img, dtype=np.float64)), 0, 255).astype(np.uint8)
    elif mode in ("LA", "La"):
        arr = _composite_black(np.asarray(img.convert("LA")))
    elif mode == "RGB":
        arr = np.asarray(img)
    elif mode in ("P", "PA"):
        gray = mode == "P" and _is_gray_palette(img)
        rgb = _composite_black(np.asarray(img.convert("RGBA")))
        arr = rgb[..., :1] if gray else rgb
    elif mode in ("RGBA", "RGBa") or "A" in mode:
        arr = _composite_black(np.asarray(img.convert("RGBA")))
    else:  # CMYK, YCbCr, LAB, HSV, RGBX, ...
        arr = np.asarray(img.convert("RGB"))
    if arr.ndim == 2:
        arr = arr[..., None]
    return np.ascontiguousarray(arr, dtype=np.uint8)


def check_resize_policy(resize: str) -> str:
    if resize not in RESIZE_POLICIES:
        raise GanforgeError(f"unknown resize policy {resize!r}; valid choices: {', '.join(RESIZE_POLICIES)}")
    return resize


def resize_array(arr: np.ndarray, resolution: int, resize: str) -> np.ndarray:
    """Bring a uint8 ``[H, W, C]`` image to ``[resolution, resolution, C]`` with a resize policy.

    Args:
        arr: uint8 image, C in {1, 3}.
        resolution: target side length (> 0).
        resize: ``crop``, ``pad`` or ``stretch`` (see module docstring).

    Returns:
        uint8 ``[resolution, resolution, C]``.
    """
    check_resize_policy(resize)
    h, w, c = arr.shape
    r = resolution
    if (h, w) == (r, r):
        return arr
    img = Image.fromarray(arr[..., 0] if c == 1 else arr)
    if resize == "stretch":
        out = img.resize((r, r), Image.Resampling.LANCZOS, reducing_gap=3.0)
    elif resize == "crop":
        # Resample only the centered square of the source straight to r x r: one interpolation,
        # exactly "scale the shorter side to r, then center-crop".
        s = min(w, h)
        left, top = (w - s) / 2, (h - s) / 2
        out = img.resize((r, r), Image.Resampling.LANCZOS, box=(left, top, left + s, top + s), reducing_gap=3.0)
    else:  # pad
        scale = min(1.0, r / max(w, h))
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        inner = img if (nw, nh) == (w, h) else img.resize((nw, nh), Image.Resampling.LANCZOS, reducing_gap=3.0)
        out = Image.new(img.mode, (r, r), 0)
        out.paste(inner, ((r - nw) // 2, (r - nh) // 2))
    res = np.asarray(out)
    return np.ascontiguousarray(res[..., None] if res.ndim == 2 else res)


def to_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    """uint8 ``[..., H, W, C]`` -> ``[..., H, W, channels]``: gray is repeated; RGB -> gray uses
    ITU-R 601 luma (the same weights as PIL's ``convert("L")``)."""
    c = arr.shape[-1]
    if c == channels:
        return arr
    if channels == 3:
        return np.repeat(arr, 3, axis=-1)
    luma = arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]
