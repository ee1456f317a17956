"""Reading and writing IDX files (the MNIST / Fashion-MNIST container format), plain or gzipped.

An IDX file is a 4-byte magic ``00 00 TT NN`` (``TT`` the element type code, ``NN`` the number of
dimensions), ``NN`` big-endian uint32 dimension sizes, then the elements in C order, big-endian.

``read_idx`` checks everything it can from the header *before* it allocates the payload, so a
corrupt or hostile header (say, one declaring a 10^12-element array) fails with a short
``GanforgeError`` naming the file instead of exhausting memory.
"""

from __future__ import annotations

import gzip
import math
import os
import stat
import struct
from pathlib import Path

import numpy as np

from ganforge.errors import GanforgeError

# IDX type code -> big-endian numpy dtype.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_FOR_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_TYPES.items()}

# Largest payload read_idx accepts by default (4 GiB): the biggest real IDX files (MNIST-style
# training sets) are ~50 MB, so anything near this is a corrupt header, not data.
MAX_IDX_BYTES = 4 * 1024**3
# No real IDX file has more than a handful of dimensions; a large NN means a garbage header.
MAX_IDX_DIMS = 8

_GZIP_MAGIC = b"\x1f\x8b"


def _is_gzip(path: Path) -> bool:
    # Sniff the content rather than trusting the suffix: unpacked files are sometimes left named .gz.
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _fmt_type_choices() -> str:
    return ", ".join(f"0x{c:02X} ({IDX_TYPES[c].name.lstrip('>')})" for c in sorted(IDX_TYPES))


def read_idx(path: str | os.PathLike, *, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed) into a numpy array.

    Args:
        path: the ``.idx*`` / ``-ubyte`` file, optionally gzipped (detected from the content).
        max_bytes: upper bound on the declared payload size; larger headers are rejected unread.

    Returns:
        An array of shape ``dims`` (e.g. ``[N, 28, 28]`` for images, ``[N]`` for labels) in the
        file's element type converted to native byte order (uint8 for MNIST files).

    Raises:
        GanforgeError: missing file, bad magic, unknown type code, implausible dimensions, or a
            payload shorter/longer than the header declares. The message names the file.
    """
    from ganforge.data.folder import probe_path

    path = Path(path)
    st = probe_path(path, "IDX file")  # too long, a symlink loop: one error naming the path
    if st is None or not stat.S_ISREG(st.st_mode):  # a pipe or device is never opened (it could block)
        raise GanforgeError(f"IDX file {str(path)!r} does not exist or is not a file")
    try:
        compressed = _is_gzip(path)
        opener = gzip.open if compressed else open
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4:
                raise GanforgeError(
                    f"IDX file {str(path)!r} is too short ({len(head)} bytes) to hold the 4-byte magic"
                )
            if head[0] != 0 or head[1] != 0:
                raise GanforgeError(
                    f"IDX file {str(path)!r} has a bad magic number {head.hex()}: the first two bytes "
                    f"must be zero (is it an IDX file?)"
                )
            code, ndim = head[2], head[3]
            if code not in IDX_TYPES:
                raise GanforgeError(
                    f"IDX file {str(path)!r} has unknown type code 0x{code:02X}; valid codes: "
                    f"{_fmt_type_choices()}"
                )
            if not 1 <= ndim <= MAX_IDX_DIMS:
                raise GanforgeError(
                    f"IDX file {str(path)!r} declares {ndim} dimensions; expected 1 to {MAX_IDX_DIMS}"
                )
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise GanforgeError(
                    f"IDX file {str(path)!r} is truncated inside its header: {ndim} dimension sizes "
                    f"declared but only {len(raw_dims)} of {4 * ndim} header bytes present"
                )
            dims = struct.unpack(f">{ndim}I", raw_dims)
            dtype = IDX_TYPES[code]
            # Python ints: no overflow, so a hostile header cannot wrap around to a small size.
            expected = math.prod(dims) * dtype.itemsize
            if expected > max_bytes:
                raise GanforgeError(
                    f"IDX file {str(path)!r} declares dims {list(dims)} = {expected} bytes, more than "
                    f"the limit of {max_bytes} bytes; the header is probably corrupt"
                )
            header_len = 4 + 4 * ndim
            if not compressed:
                # Plain file: the exact payload length is known from the file size, no read needed.
                actual = path.stat().st_size - header_len
                if actual != expected:
                    raise GanforgeError(_size_msg(path, dims, expected, actual))
                payload = f.read(expected)
            else:
                # Gzip: read at most one byte more than declared, so extra data is detected but a
                # huge stream is never pulled into memory.
                payload = f.read(expected + 1)
                if len(payload) != expected:
                    actual = len(payload)
                    if actual > expected:
                        # Count the surplus by streaming (bounded chunks), only for the message.
                        extra = 1
                        while chunk := f.read(1 << 20):
                            extra += len(chunk)
                        actual = expected + extra
                    raise GanforgeError(_size_msg(path, dims, expected, actual))
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise GanforgeError(f"cannot read IDX file {str(path)!r}: {e}") from None
    arr = np.frombuffer(payload, dtype=dtype).reshape(dims)
    # Native byte order, writable copy (frombuffer on bytes is read-only).
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _size_msg(path: Path, dims: tuple[int, ...], expected: int, actual: int) -> str:
    if actual < expected:
        what = f"truncated: {expected - actual} bytes missing"
    else:
        what = f"{actual - expected} extra bytes after the data"
    return (
        f"IDX file {str(path)!r} payload is {actual} bytes but its header declares dims {list(dims)} "
        f"= {expected} bytes ({what})"
    )


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file; gzip-compressed when ``path`` ends in ``.gz``.

    Args:
        path: destination file.
        array: any-shape array (1 to 8 dims) of uint8, int8, int16, int32, float32 or float64.

    Returns:
        The path written.
    """
    path = Path(path)
    array = np.asarray(array)
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in _CODE_FOR_KIND or array.ndim < 1 or array.ndim > MAX_IDX_DIMS:
        raise GanforgeError(
            f"cannot write {array.dtype} array with {array.ndim} dims as IDX; valid element types: "
            f"{_fmt_type_choices()}, 1 to {MAX_IDX_DIMS} dims"
        )
    code = _CODE_FOR_KIND[key]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    if path.name.endswith(".gz"):
        # mtime=0: byte-identical output for identical input (reproducible fixtures).
        data = gzip.compress(data, mtime=0)
    from ganforge.outputs import write_bytes

    return write_bytes(path, data)  # the one writer: never a partial file; OSError -> OutputError
