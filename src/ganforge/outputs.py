"""Checking output locations before long work, and turning failed writes into one clear error.

``check_writable_dir`` is called before a command starts anything slow (loading data, training,
generating, computing metrics): it finds out, without leaving anything behind, whether files can be
created in a folder that may not exist yet. ``make_dir`` creates a folder; ``atomic_write`` (the
project's one writer: temporary file, fsync, rename; ``write_file``, ``write_bytes`` and
``write_text`` are its forms) writes one file, and ``append_text`` appends whole lines to a log. All
of them report an ``OSError`` as an ``OutputError`` (a ``GanforgeError``) that names the path and the
operating system's reason (permission denied, read-only file system, not a directory, no space left
on device).
"""

from __future__ import annotations

import errno
import os
import secrets
import tempfile
from pathlib import Path
from typing import Callable

from ganforge.errors import OutputError, output_error


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable_dir(path: str | Path, what: str, probe: bool = True, shown: str | Path | None = None) -> None:
    """Raise ``OutputError`` unless files can be created in folder ``path`` (created later if missing).

    An existing ``path`` must be a folder in which a probe file can be created, written, synced and
    removed; a missing one needs its nearest existing parent to be such a folder. Nothing is left on
    disk either way. ``what`` names the option in the message (``--out``, ``--json``). With
    ``probe=False`` (dry runs, which must not even touch a folder's modification time) only the
    permission bits are asked (``os.access``), which cannot see a full disk or a read-only mount.
    ``shown`` is the path named in messages when it is not ``path`` (a file to be written in it).
    """
    path = Path(path)
    shown = str(shown if shown is not None else path)
    base = _nearest_existing(path.absolute())
    if not base.is_dir():
        raise OutputError(f"cannot use {what} {shown!r}: {str(base)!r} is a file, not a folder "
                          f"({os.strerror(errno.ENOTDIR)})", errno.ENOTDIR, str(base))

    def error(err: int | None, reason: str) -> OutputError:
        where = "" if str(base) == str(path.absolute()) and shown == str(path) else f" (in {str(base)!r})"
        return OutputError(f"cannot write to {what} {shown!r}: {reason}{where}", err, str(base))

    if not probe:
        if not os.access(base, os.W_OK | os.X_OK):
            raise error(errno.EACCES, os.strerror(errno.EACCES))
        return
    try:
        fd, name = tempfile.mkstemp(prefix=".ganforge-write-test-", dir=base)
    except OSError as e:
        raise error(e.errno, e.strerror or str(e)) from None
    try:
        try:
            os.write(fd, b"ganforge")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise error(e.errno, e.strerror or str(e)) from None
    finally:
        try:
            os.unlink(name)
        except OSError:
            pass


def make_dir(path: str | Path, what: str) -> Path:
    """``mkdir -p path``; an ``OSError`` becomes an ``OutputError`` naming ``what`` and the path."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {what} folder {str(path)!r}: {e.strerror or e}", e.errno,
                          str(path)) from None
    return path


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows opening a folder)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _link_new(tmp: Path, path: Path) -> None:
    """Give the finished ``tmp`` the name ``path``, never replacing a file that is there (``FileExistsError``).

    A hard link fails atomically if ``path`` exists. File systems without hard links (FAT, exFAT, some
    network and FUSE mounts) refuse the link itself; there the existence check and the rename are two
    steps, which leaves a tiny window in which a file created by someone else could be replaced."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK, errno.EXDEV):
            raise
        if path.exists():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
        os.rename(tmp, path)
        return
    tmp.unlink()


def atomic_write(path: str | Path, write: Callable[[Path], None], *, overwrite: bool = True) -> Path:
    """The project's one writer: every file ganforge writes goes through here (or ``write_file``).

    ``write(tmp)`` fills a new temporary file beside ``path``, named ``.<stem>.<random>.tmp<suffix>`` so
    that writers choosing a format by extension (PIL, imageio) still do; the file is then fsync'ed and
    given its final name, and the folder is fsync'ed. With ``overwrite`` the rename replaces an existing
    file in one step; without, a hard link does, which fails with ``FileExistsError`` (propagated for the
    caller to word) if ``path`` exists, so a file that exists is never replaced. On any failure or
    interrupt the temporary file is removed and ``path`` is as it was: never half-written, never
    lost. An ``OSError`` (full disk, read-only folder) becomes an ``OutputError`` naming ``path``.

    The temporary name is chosen before the file exists and the file is created with ``O_EXCL`` inside
    the ``try``, so an interrupt (Ctrl-C, SIGTERM turned into ``KeyboardInterrupt``) at any moment
    leaves nothing behind; ``O_CREAT`` applies the usual umask, so the file gets ordinary permissions.
    """
    path = Path(path)
    tag, suffix = secrets.token_hex(6), path.suffix
    room = 255 - len(f"..{tag}.tmp{suffix}".encode())  # a name that fits leaves a temporary name that fits
    stem = path.stem.encode()[:max(room, 0)].decode("utf-8", "ignore")
    tmp = path.with_name(f".{stem}.{tag}.tmp{suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    except BaseException as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if isinstance(e, OSError) and not isinstance(e, (OutputError, FileExistsError)):
            raise output_error(path, e) from None
        raise
    _fsync_dir(path.parent)
    return path


def write_file(path: str | Path, write: Callable[[object], None], *, overwrite: bool) -> Path:
    """``atomic_write`` for writers that take an open binary file: ``write(f)``.

    Without ``overwrite`` an existing file is never replaced (``FileExistsError`` propagates for the
    caller to report); with it, the old file stays as it was until the new one is complete."""

    def to_file(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            write(f)

    return atomic_write(path, to_file, overwrite=overwrite)


def write_bytes(path: str | Path, data: bytes, *, overwrite: bool = True) -> Path:
    return write_file(path, lambda f: f.write(data), overwrite=overwrite)


def write_text(path: str | Path, text: str, *, overwrite: bool = True) -> Path:
    return write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def append_text(path: str | Path, text: str) -> None:
    """Append ``text`` (whole lines) to ``path``, all or nothing: a failed write (full disk) cuts the file
    back to its previous length, so a log never ends in half a line, and raises an ``OutputError``. The
lines are fsync'ed before it returns."""
    path = Path(path)
    data = text.encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as e:
        raise output_error(path, e, "open") from None
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        except BaseException as e:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            if isinstance(e, OSError):
                raise output_error(path, e) from None
            raise
        try:
            os.fsync(fd)
        except OSError:  # some file systems cannot sync; the bytes were written
            pass
    finally:
        os.close(fd)
