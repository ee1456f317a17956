"""Paths the studio may serve: only files inside the runs folder, reached without leaving it.

A request names a file by a relative path (``00003-dcgan-fmnist32/samples/fakes000004.096.png``). It is
refused (403) when it is absolute, holds ``..``, a NUL byte, a backslash or a drive, or when any of its
parts is a symbolic link whose target lies outside the runs folder; a missing file is a 404. The check is
on the resolved path (``realpath``), so a symlinked folder on the way is caught as well as a symlinked file.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from ganforge.studio.errors import forbidden, not_found

# Longest relative path accepted in a request (characters) and most parts in it.
MAX_PATH_CHARS = 1024
MAX_PATH_PARTS = 16


def check_relative(rel: str) -> PurePosixPath:
    """``rel`` as a relative POSIX path of plain names, or a 403 naming it."""
    if not isinstance(rel, str) or not rel or len(rel) > MAX_PATH_CHARS:
        raise forbidden(f"path {str(rel)[:80]!r}: expected a relative path of 1 to {MAX_PATH_CHARS} characters "
                        "inside the runs folder")
    if "\0" in rel or "\\" in rel or ":" in rel.split("/")[0]:
        raise forbidden(f"path {rel[:80]!r}: NUL bytes, backslashes and drive names are not allowed")
    p = PurePosixPath(rel)
    if p.is_absolute() or any(part in ("..", ".", "") for part in rel.split("/")):
        raise forbidden(f"path {rel[:80]!r} leaves the runs folder or is not a plain relative path")
    if len(p.parts) > MAX_PATH_PARTS:
        raise forbidden(f"path {rel[:80]!r} has more than {MAX_PATH_PARTS} parts")
    return p


def inside(root: Path, path: Path) -> bool:
    """True when ``path`` (resolved, symlinks followed) lies in ``root`` (resolved)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def safe_path(root: str | Path, rel: str, *, must_exist: bool = True) -> Path:
    """The file ``root/rel``, checked: inside ``root`` after every symlink is followed (403 otherwise),
    existing when ``must_exist`` (404 otherwise). Returns the path under ``root`` (not the resolved one)."""
    root = Path(root)
    p = check_relative(rel)
    path = root.joinpath(*p.parts)
    if not inside(root, path):
        raise forbidden(f"path {rel[:80]!r} points outside the runs folder (a symbolic link?)")
    if must_exist and not path.exists():
        raise not_found(f"no file {rel[:80]!r} in the runs folder")
    return path
