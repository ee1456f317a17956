"""Checking output locations before long work, and turning failed writes into one clear error.

``check_writable_dir`` is called before a command starts anything slow (loading data, training,
generating, computing metrics): it finds out, without leaving anything behind, whether files can be
created in a folder that may not exist yet. ``make_dir`` creates a folder, and ``write_file`` writes
one file, both reporting an ``OSError`` as an ``OutputError`` (a ``GanforgeError``) that names the
path and the operating system's reason (permission denied, read-only file system, not a directory,
no space left on device).
"""

from __future__ import annotations

import errno
import os
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


def write_file(path: str | Path, write: Callable[[object], None], *, overwrite: bool) -> Path:
    """Create ``path`` and call ``write(binary_file)``.

    Without ``overwrite`` the file is opened with exclusive creation, so an existing file is never
    replaced (``FileExistsError`` propagates for the caller to report). With ``overwrite`` the data
    goes to a temporary file renamed over ``path``, so a failed write leaves the old file as it was.
    A failed write removes the partial file and raises an ``OutputError`` naming the path.
    """
    path = Path(path)
    target = path.with_name(f".{path.name}.tmp-{os.getpid()}") if overwrite else path
    try:
        f = open(target, "wb" if overwrite else "xb")
    except FileExistsError:
        raise
    except OSError as e:
        raise output_error(path, e, "create") from None
    try:
        with f:
            write(f)
        if overwrite:
            os.replace(target, path)
    except OSError as e:
        target.unlink(missing_ok=True)
        raise output_error(path, e) from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return path
