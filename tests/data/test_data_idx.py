"""IDX reader/writer: round trips and every header/payload failure mode."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from ganforge.data.idx import read_idx, write_idx
from ganforge.errors import GanforgeError


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, dtype, suffix):
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((3, 5, 7)) * 100).astype(dtype)
    p = write_idx(tmp_path / f"a.idx{suffix}", a)
    if suffix:
        assert p.read_bytes()[:2] == b"\x1f\x8b"  # really compressed
    b = read_idx(p)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    np.testing.assert_array_equal(a, b)


def test_header_layout_is_big_endian(tmp_path):
    p = write_idx(tmp_path / "x.idx", np.arange(6, dtype=np.int16).reshape(2, 3))
    raw = p.read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0B, 2])
    assert struct.unpack(">II", raw[4:12]) == (2, 3)
    assert struct.unpack(">h", raw[12 + 2 * 5 : 12 + 2 * 6]) == (5,)


def _write_raw(path, data: bytes, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_bad_magic(tmp_path):
    p = _write_raw(tmp_path / "bad.idx", b"\x12\x34\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(GanforgeError, match="bad magic") as e:
        read_idx(p)
    assert "bad.idx" in str(e.value)


def test_bad_type_code(tmp_path):
    p = _write_raw(tmp_path / "t.idx", bytes([0, 0, 0x0A, 1]) + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(GanforgeError, match="unknown type code 0x0A") as e:
        read_idx(p)
    assert "0x08" in str(e.value) and "t.idx" in str(e.value)  # lists valid codes


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_payload(tmp_path, gz):
    full = bytes([0, 0, 0x08, 2]) + struct.pack(">II", 10, 10) + bytes(100)
    p = _write_raw(tmp_path / "trunc.idx", full[:-30], gz=gz)
    with pytest.raises(GanforgeError, match=r"truncated: 30 bytes missing") as e:
        read_idx(p)
    assert "[10, 10]" in str(e.value)


@pytest.mark.parametrize("gz", [False, True])
def test_extra_bytes(tmp_path, gz):
    full = bytes([0, 0, 0x08, 1]) + struct.pack(">I", 4) + bytes(4) + b"junk!"
    p = _write_raw(tmp_path / "extra.idx", full, gz=gz)
    with pytest.raises(GanforgeError, match="5 extra bytes"):
        read_idx(p)


def test_truncated_header(tmp_path):
    p = _write_raw(tmp_path / "h.idx", bytes([0, 0, 0x08, 3]) + struct.pack(">I", 4))
    with pytest.raises(GanforgeError, match="truncated inside its header"):
        read_idx(p)
    with pytest.raises(GanforgeError, match="too short"):
        read_idx(_write_raw(tmp_path / "s.idx", b"\x00\x00"))


def test_declared_size_limit_rejected_before_reading(tmp_path):
    # Header claims 65535^3 float64 (~2 PB) with a 16-byte payload: must fail on the header alone.
    p = _write_raw(tmp_path / "huge.idx.gz", bytes([0, 0, 0x0E, 3]) + struct.pack(">III", 65535, 65535, 65535) + bytes(16), gz=True)
    with pytest.raises(GanforgeError, match="more than the limit"):
        read_idx(p)
    small = write_idx(tmp_path / "ok.idx", np.zeros(100, np.uint8))
    with pytest.raises(GanforgeError, match="limit of 50 bytes"):
        read_idx(small, max_bytes=50)


def test_too_many_dims_and_missing_file(tmp_path):
    p = _write_raw(tmp_path / "d.idx", bytes([0, 0, 0x08, 200]))
    with pytest.raises(GanforgeError, match="declares 200 dimensions"):
        read_idx(p)
    with pytest.raises(GanforgeError, match="does not exist"):
        read_idx(tmp_path / "nope.idx")


def test_corrupt_gzip(tmp_path):
    good = gzip.compress(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 1000) + bytes(1000))
    p = _write_raw(tmp_path / "c.idx.gz", good[: len(good) // 2])
    with pytest.raises(GanforgeError, match="c.idx.gz"):
        read_idx(p)


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(GanforgeError, match="uint8"):
        write_idx(tmp_path / "x.idx", np.zeros(3, np.uint16))
