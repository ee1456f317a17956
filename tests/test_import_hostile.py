"""``ganforge import`` of hostile files, measured: each ends in one GanforgeError (exit 2, no
traceback) within seconds and without memory out of proportion to the file.

The files that once hung, crashed or allocated gigabytes are imported through ``ganforge.cli.main`` in
ONE child process (one torch start-up for all of them) under ``RLIMIT_AS`` (1.5 GiB, or 1 GiB more
than the child has mapped once torch is imported, whichever is larger) and a per-case alarm of 20 s,
with the peak resident memory of each case measured (``/proc/self/clear_refs`` resets the high-water
mark between cases) and required to stay under 1 GiB, torch's own ~300 MB included; the parent kills
the child after 60 s. A control case, the official anchor snapshot, must still import under the same
limits. On the code before the bounds, these cases ran into the alarm (the walks that copied shared
lists, open() of a FIFO), died in C (hashing nested tuples) or failed to allocate 1-2.4 GB.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers.official import ANCHORS, FakeOfficialCode, global_op, str_op, write_snapshot

pytestmark = pytest.mark.skipif(not (ANCHORS / "sg2-32gray.json").exists() or not sys.platform.startswith("linux"),
                                reason="needs shared/anchors and Linux (RLIMIT_AS, /proc)")

RLIMIT_AS_BYTES = 3 << 29  # 1.5 GiB of address space for the whole child, torch included (at least)
PEAK_LIMIT_KB = 1 << 20  # 1 GiB resident, torch included (about 300 MB of it)
CASE_SECONDS = 20  # per-case alarm in the child
CHILD_TIMEOUT = 60


# -- pickles written opcode by opcode --------------------------------------------------------------

def _get(i: int) -> bytes:
    return b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)


def laughs_lists(depth: int = 40) -> bytes:
    """Memoised lists, each holding the one before twice: 2**depth elements once expanded."""
    x: list = []
    for _ in range(depth):
        x = [x, x]
    return pickle.dumps({"training_set_kwargs": {"path": x}, "G_ema": x}, protocol=4)


def laughs_tuple_key(depth: int = 60) -> bytes:
    """The same with tuples, used as a dictionary key: hashing it walks 2**depth tuples."""
    body = b")\x94"  # EMPTY_TUPLE, MEMOIZE -> memo 0
    for i in range(depth):
        body += _get(i) + _get(i) + b"\x86\x94"  # TUPLE2, MEMOIZE -> memo i + 1
    return b"\x80\x04" + body + b"}" + _get(depth) + b"Ns."


def numpy_scalar(dtype_name: str) -> bytes:
    """numpy.core.multiarray.scalar(numpy.dtype(dtype_name, False, True)): no data, numpy zero-fills."""
    return (b"\x80\x02" + global_op("numpy.core.multiarray", "scalar") + global_op("numpy", "dtype")
            + str_op(dtype_name) + b"\x89\x88\x87R\x85R.")


def shared_storage(copies: int = 200, numel: int = 2 << 20) -> bytes:
    """One 8 MiB tensor storage (the bytes torch.save writes), memoised and rebuilt ``copies`` times."""
    raw = (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
           + pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
           + b"\x80\x02(X\x07\x00\x00\x00storage" + global_op("torch", "FloatStorage") + str_op("0") + str_op("cpu")
           + b"J" + struct.pack("<i", numel) + b"tQ." + pickle.dumps(["0"], protocol=2)
           + struct.pack("<q", numel) + bytes(4 * numel))
    body = b"\x80\x04" + global_op("torch.storage", "_load_from_bytes") + b"\x94" + b"B" + struct.pack("<I", len(raw)) \
        + raw + b"\x94" + b"0("  # memo 0: the function, memo 1: the bytes; POP, MARK
    body += (_get(0) + _get(1) + b"\x85R") * copies
    return body + b"l}" + str_op("G_ema") + b"Ns."  # LIST of the storages, then the snapshot dict


class _ShortObjectArray:
    """Pickles as numpy's own object array reduce, with 2 values for 3 elements (numpy reads past
    the end of the list it is given)."""

    def __reduce__(self):
        import numpy as np

        rebuild = np.zeros(0).__reduce__()[0]
        return rebuild, (np.ndarray, (0,), b"b"), (1, (3,), np.dtype("O"), False, [1, 2])


def object_array_short_list() -> bytes:
    return pickle.dumps({"G_ema": _ShortObjectArray()}, protocol=4)


def huge_memo_index() -> bytes:
    return b"\x80\x04]r\xf0\xff\xff\xff" + str_op("G_ema") + b"0."  # LONG_BINPUT 0xfffffff0


def huge_bytearray() -> bytes:
    return b"\x80\x05\x96" + struct.pack("<Q", 1 << 40) + b"."


# -- snapshots with hostile constructor arguments ----------------------------------------------

def _anchor_kwargs() -> dict:
    return json.loads((ANCHORS / "sg2-32gray.json").read_text())["G_kwargs"]


def _build_files(root: Path) -> list[tuple[str, list[str]]]:
    """Write every hostile file; -> [(case, ganforge argv)] in the order the child runs them."""
    files = root / "files"
    files.mkdir()
    cases: list[tuple[str, list[str]]] = []

    def add(name: str, path: Path) -> None:
        cases.append((name, ["import", str(path), "--out", str(root / "out" / name)]))

    fake = FakeOfficialCode(root / "official_code")
    try:
        add("control_official_anchor", write_snapshot(fake, files / "anchor.pkl"))
        x: list = []
        for _ in range(60):
            x = [x, x]
        kw = dict(_anchor_kwargs(), mapping_kwargs={"num_layers": 2, "layer_features": x})
        add("laughs_in_constructor_arguments", write_snapshot(fake, files / "laughs_kwargs.pkl", g_kwargs=kw))
        big = dict(_anchor_kwargs(), z_dim=8192, w_dim=8192, img_resolution=64, channel_base=1 << 20,
                   channel_max=8192)
        add("huge_declared_sizes", write_snapshot(fake, files / "huge_sizes.pkl", g_kwargs=big))
    finally:
        fake.unload()
    for name, data in [("laughs_lists", laughs_lists()),
                       ("numpy_scalar_V1000000000", numpy_scalar("V1000000000")),
                       ("numpy_scalar_S1000000000", numpy_scalar("S1000000000")),
                       ("numpy_scalar_U250000000", numpy_scalar("U250000000")),
                       ("shared_storage_rebuilt_200_times", shared_storage()),
                       ("huge_memo_index", huge_memo_index()),
                       ("huge_bytearray", huge_bytearray()),
                       ("object_array_short_list", object_array_short_list()),
                       ("opcode_bomb_of_sets", b"\x80\x04](" + b"\x8f" * 1_100_000 + b"e.")]:
        (files / f"{name}.pkl").write_bytes(data)
        add(name, files / f"{name}.pkl")
    fifo = files / "pipe.pkl"
    os.mkfifo(fifo)
    add("fifo", fifo)
    (files / "laughs_tuple_key.pkl").write_bytes(laughs_tuple_key())
    add("laughs_tuple_key", files / "laughs_tuple_key.pkl")  # last: it hung inside C, where no alarm reaches
    return cases


CHILD = textwrap.dedent("""
    import contextlib, io, json, resource, signal, sys, time, traceback
    from ganforge.cli import main
    import ganforge.families.stylegan2.importer  # everything imported before the limit and the first measurement

    def status_kb(field):
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])

    limit = max(int(sys.argv[1]), status_kb("VmSize") * 1024 + (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def alarm(signum, frame):
        raise TimeoutError("case still running after the alarm")

    signal.signal(signal.SIGALRM, alarm)

    for name, argv in json.loads(sys.argv[3]):
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the resident high-water mark
        except OSError:
            pass
        err = io.StringIO()
        t0 = time.perf_counter()
        signal.alarm(int(sys.argv[2]))
        try:
            with contextlib.redirect_stderr(err):
                rc, raised = main(argv), None
        except BaseException as e:
            rc, raised = None, traceback.format_exception_only(type(e), e)[-1].strip()[:500]
        finally:
            signal.alarm(0)
        print(json.dumps({"case": name, "rc": rc, "raised": raised, "stderr": err.getvalue()[-3000:],
                          "seconds": round(time.perf_counter() - t0, 3), "peak_kb": status_kb("VmHWM")}), flush=True)
""")


@pytest.fixture(scope="module")
def hostile_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    cases = _build_files(root)
    env = dict(os.environ, MALLOC_ARENA_MAX="2", OMP_NUM_THREADS="1")
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(RLIMIT_AS_BYTES), str(CASE_SECONDS), json.dumps(cases)],
                              capture_output=True, text=True, timeout=CHILD_TIMEOUT, env=env)
        stdout, stderr, ended = proc.stdout, proc.stderr, f"exit status {proc.returncode}"
    except subprocess.TimeoutExpired as e:
        stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        stderr = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        ended = f"killed after {CHILD_TIMEOUT} s"
    results = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            results[r["case"]] = r
    results["_ended"] = f"the child process ended ({ended}); its stderr ends: {stderr[-1500:]}"
    for r in results.values():
        if isinstance(r, dict):
            print(f"{r['case']}: rc={r['rc']} {r['seconds']} s, peak {r['peak_kb'] / 1024:.0f} MiB: "
                  f"{(r['stderr'] or r['raised'] or '').strip()[:300]}")
    return results


EXPECTED = {
    "laughs_lists": r"is not an official StyleGAN network snapshot: entry 'G_ema' is a list, not a network",
    "laughs_in_constructor_arguments": r"G_ema's constructor arguments hold more than 10,000 values",
    "laughs_tuple_key": r"it uses a tuple of more than 64 values as a dictionary key",
    "numpy_scalar_V1000000000": r"it rebuilds a numpy value with the numpy dtype '\|V1000000000', which official "
                                r"snapshots never hold",
    "numpy_scalar_S1000000000": r"'\|S1000000000', which has 1,000,000,000 bytes per item \(1 to 65,536 are read\)",
    "numpy_scalar_U250000000": r"'<U250000000', which has 1,000,000,000 bytes per item \(1 to 65,536 are read\)",
    "huge_declared_sizes": (r"G_ema's tensors do not fit the network its arguments describe \(skip, 1x64x64, z_dim "
                            r"8192, w_dim 8192, channel_base 1048576, channel_max 8192\): 19 tensors missing from "
                            r"the file: synthesis\.b64\.resample_filter, .*\(19 in all\); \d+ tensors of another "
                            r"shape: synthesis\.b4\.const \(file \[128, 4, 4\], network \[8192, 4, 4\]\)"),
    "shared_storage_rebuilt_200_times": r"it builds more data than the file holds \(a tensor storage: 8\.0 MiB",
    "huge_memo_index": r"is not an official StyleGAN network snapshot: it holds a list, not the dict",
    "huge_bytearray": r"is truncated: the file ends before the pickle does",
    "object_array_short_list": r"a numpy object array of shape \[3\] holds 2 values, not 3 values",
    "opcode_bomb_of_sets": r"it runs more than 1,000,000 pickle opcodes \(an official snapshot needs about "
                           r"100,000\), as a pickle bomb does",
    "fifo": r"pipe\.pkl'? is a named pipe",  # the CLI may refuse it before the reader does
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_hostile_import_is_one_error_fast_and_small(hostile_results, case):
    r = hostile_results.get(case)
    assert r is not None, f"no result for {case}: {hostile_results['_ended']}"
    assert r["raised"] is None and r["rc"] == 2, r
    err = r["stderr"]
    assert err.startswith("ganforge: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert re.search(EXPECTED[case], err), err
    assert "MemoryError" not in err, err
    assert r["seconds"] < 10, r
    assert r["peak_kb"] < PEAK_LIMIT_KB, r


def test_control_snapshot_imports_under_the_same_limits(hostile_results):
    r = hostile_results.get("control_official_anchor")
    assert r is not None, hostile_results["_ended"]
    assert r["rc"] == 0 and r["raised"] is None, r
    assert r["peak_kb"] < PEAK_LIMIT_KB, r
