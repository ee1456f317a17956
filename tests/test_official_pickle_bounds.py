"""The official-pickle reader's bounds: hostile files end in one GanforgeError, quickly.

Each file here is small; what it asks for is not (a pipe that never ends, a 3 GB file, millions of
opcodes, nesting without end, data rebuilt from one shared argument over and over, numpy values
larger or other than their bytes, tensors that overlap themselves). Cases that once ran for minutes
or took gigabytes are measured in a child process by tests/test_import_hostile.py; the ones here
finish in well under a second each.
"""

from __future__ import annotations

import os
import pickle
import random
import struct
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.official import global_op, str_op

from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.io import official_pickle as op
from ganforge.io import read_official_pickle

# -- pickles written opcode by opcode (protocol 4 unless the bytes say otherwise) --------------


def _snapshot_of(value_ops: bytes) -> bytes:
    """``{"G_ema": <value>}`` around the opcodes of one value."""
    return b"\x80\x04}" + str_op("G_ema") + value_ops + b"s."


def _write(tmp_path: Path, data: bytes, name: str = "hostile.pkl") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _error(path) -> str:
    with pytest.raises(GanforgeError) as info:
        read_official_pickle(path)
    return str(info.value)


# -- what is opened ----------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_named_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "network-snapshot.pkl"
    os.mkfifo(fifo)
    outcome: list = []

    def read():
        try:
            read_official_pickle(fifo)
        except BaseException as e:  # noqa: BLE001 - reported below
            outcome.append(e)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # it blocked in open(): release it so the test run can go on
        fd = os.open(fifo, os.O_WRONLY)
        os.close(fd)
        reader.join(10)
        pytest.fail("reading a named pipe blocked")
    assert len(outcome) == 1 and isinstance(outcome[0], GanforgeError), outcome
    assert str(outcome[0]) == (f"{fifo} is a named pipe (FIFO), not a file; official StyleGAN network pickles are "
                               "read from regular files only")


def test_folders_and_devices_are_refused(tmp_path):
    assert _error(tmp_path) == (f"{tmp_path} is a folder, not a file; official StyleGAN network pickles are read "
                                "from regular files only")
    if os.path.exists("/dev/zero"):
        assert "/dev/zero is a character device, not a file" in _error("/dev/zero")


def test_file_larger_than_the_cap_names_its_size_and_the_cap(tmp_path):
    big = tmp_path / "huge.pkl"
    with open(big, "wb") as f:  # sparse: no disk space used
        f.write(b"\x80\x04N.")
        f.truncate(3 << 30)
    assert _error(big) == (f"{big} is 3.0 GiB (3,221,225,472 bytes), more than the 2.0 GiB (2,147,483,648 bytes) an "
                           "official StyleGAN network pickle can be (the largest official snapshots are a few hundred "
                           "MB)")


def test_path_with_a_nul_byte(tmp_path):
    assert "cannot open official StyleGAN pickle" in _error(str(tmp_path / "a\0b.pkl"))


def test_nothing_past_the_stated_size_is_read(tmp_path):
    with open(_write(tmp_path, b"\x80\x04N.extra"), "rb") as f:
        reader = op._BoundedReader(f, 4)
        assert reader.read(4) == b"\x80\x04N."
        with pytest.raises(EOFError):
            reader.read(1)


# -- the unpickler: opcodes, nesting, memo, lengths ------------------------------------------


def test_opcode_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(op, "MAX_PICKLE_OPS", 10_000)
    path = _write(tmp_path, b"\x80\x04](" + b"N" * 20_000 + b"e.")
    assert _error(path).endswith("is not a readable official StyleGAN network pickle: it runs more than 10,000 "
                                 "pickle opcodes (an official snapshot needs about 100,000), as a pickle bomb does")


def test_opcode_budget_covers_the_storages_pickles(tmp_path, monkeypatch):
    # 50 tensors; the small pickles inside their storages' bytes need some 40 opcodes each
    data = pickle.dumps({"G_ema": [torch.zeros(1) for _ in range(50)]}, protocol=4)
    monkeypatch.setattr(op, "MAX_PICKLE_OPS", len(list(__import__("pickletools").genops(data))) + 100)
    assert "pickle opcodes" in _error(_write(tmp_path, data))


def test_mark_nesting_is_bounded(tmp_path):
    assert _error(_write(tmp_path, b"\x80\x04" + b"(" * 100_000 + b"N.")).endswith(
        "is not a readable official StyleGAN network pickle: it nests deeper than 100 levels")


def test_nesting_without_marks_is_bounded(tmp_path):
    err = _error(_write(tmp_path, _snapshot_of(b")" + b"\x85" * 100_000)))  # tuples in tuples, TUPLE1 only
    assert "is not an official StyleGAN network snapshot: G_ema[0][0]" in err and err.endswith(
        "nests deeper than 100 levels")
    assert len(err) < 400


def test_shared_values_count_at_their_deepest(tmp_path):
    a: list = []
    for _ in range(60):
        a = [a]
    b: list = [a]
    for _ in range(60):
        b = [b]  # a again, 61 levels further down: 121 levels in all
    path = tmp_path / "shared.pkl"
    path.write_bytes(pickle.dumps({"training_set_kwargs": {"a": a, "b": b}, "G_ema": None}, protocol=4))
    assert _error(path).endswith("nests deeper than 100 levels")


def test_container_holding_itself(tmp_path):
    loop = _snapshot_of(b"]\x94h\x00a")  # a list, memoised, appended to itself
    assert _error(_write(tmp_path, loop)).endswith("is not an official StyleGAN network snapshot: G_ema[0] contains itself")


def test_billion_laughs_is_walked_once_and_stays_shared(official, tmp_path):
    laughs: list = []
    for _ in range(20):
        laughs = [laughs, laughs]  # 2**20 lists once expanded (the reader once copied every one of them;
        # tests/test_import_hostile.py has the 2**60 version, in a child process)
    snap = {"training_set_kwargs": {"path": "x", "laughs": laughs}, "G_ema": official.snapshot()["G_ema"]}
    path = _write(tmp_path, pickle.dumps(snap, protocol=4))
    official.unload()
    t0 = time.perf_counter()
    out = read_official_pickle(path)
    assert time.perf_counter() - t0 < 5
    got = out["training_set_kwargs"]["laughs"]
    for _ in range(20):
        assert got[0] is got[1]
        got = got[0]
    assert got == []


def test_huge_memo_index_costs_nothing(tmp_path):
    path = _write(tmp_path, b"\x80\x04]r\xf0\xff\xff\xffj\xf0\xff\xff\xff\x86.")  # LONG_BINPUT/GET 0xfffffff0
    assert _error(path).endswith("it holds a tuple, not the dict of networks a snapshot holds")


@pytest.mark.parametrize("opcode", [b"\x96", b"\x8e", b"\x8d", b"B"])  # BYTEARRAY8, BINBYTES8, BINUNICODE8, BINBYTES
def test_length_prefixes_never_allocate_past_the_file(tmp_path, opcode):
    size = struct.pack("<I", 0xFFFFFFF0) if opcode == b"B" else struct.pack("<Q", 1 << 40)
    assert "is truncated: the file ends before the pickle does" in _error(
        _write(tmp_path, b"\x80\x05" + opcode + size + b"abc"))


def test_truncated_frame_is_reported_as_truncated(tmp_path):
    assert "is truncated" in _error(_write(tmp_path, b"\x80\x04\x95" + struct.pack("<Q", 1000) + b"}."))


@pytest.mark.parametrize("ops,message", [
    (b"(iposix\nsystem\n", "it uses pickle opcodes that official snapshots never contain"),  # INST
    (b"(No", "it uses pickle opcodes that official snapshots never contain"),  # OBJ
    (b"\x82\x01", "it uses pickle opcodes that official snapshots never contain"),  # EXT1
    (b"\x97", "it uses pickle opcodes that official snapshots never contain"),  # NEXT_BUFFER
])
def test_opcodes_official_snapshots_never_use(tmp_path, ops, message):
    err = _error(_write(tmp_path, b"\x80\x05" + ops + b"."))
    assert message in err, err


def test_invalid_opcode_and_protocols(tmp_path):
    assert "is corrupted or not an official StyleGAN network pickle (UnpicklingError: invalid load key, b'\\xff')" \
        in _error(_write(tmp_path, b"\x80\x04\xff."))
    assert "unsupported pickle protocol: 9" in _error(_write(tmp_path, b"\x80\x04N\x80\x09."))
    assert "is not a pickle file" in _error(_write(tmp_path, b"\x80\x01N."))
    assert "is not a pickle file" in _error(_write(tmp_path, b"(lp0\n."))  # protocol 0


# -- constructors: what they are given and what they build ------------------------------------


def test_shared_argument_cannot_be_expanded_over_and_over(tmp_path):
    text = "x" * 100_000
    ops = global_op("_codecs", "encode") + b"\x94" + str_op(text) + b"\x94" + str_op("latin1") + b"\x94" + b"0(" \
        + (b"h\x00h\x01h\x02\x86R" * 1000) + b"l"
    err = _error(_write(tmp_path, _snapshot_of(ops)))
    assert "it builds more data than the file holds (_codecs.encode: 97.7 KiB (100,000 bytes); the file is" in err


def test_sets_from_a_shared_list_are_charged(tmp_path):
    ops = global_op("builtins", "set") + b"\x94" + b"](" + b"K\x01" * 20_000 + b"e\x94" + b"0(" \
        + b"h\x00h\x01\x85R" * 100 + b"l"
    assert "it builds more data than the file holds (builtins.set" in _error(_write(tmp_path, _snapshot_of(ops)))


@pytest.mark.parametrize("key,message", [
    (b"(" + b"K\x01" * 100 + b"t", "it uses a tuple of more than 64 values as a dictionary key"),
    (b"\x8b" + struct.pack("<i", 4096) + b"\x01" * 4096, "it uses a 32,761-bit integer as a dictionary key"),
    (b"]", "it uses a list as a dictionary key"),
    (b"(K\x01]t", "it uses a tuple holding a list as a dictionary key"),
])
def test_dictionary_keys_are_cheap_to_hash(tmp_path, key, message):
    assert message in _error(_write(tmp_path, b"\x80\x04}" + key + b"Ns."))


def test_set_elements_are_checked(tmp_path):
    assert "it uses a list as a dictionary key or set element" in _error(
        _write(tmp_path, _snapshot_of(b"\x8f(]\x90")))  # EMPTY_SET, MARK, EMPTY_LIST, ADDITEMS


@pytest.mark.parametrize("ops,message", [
    (b"]K\x00Ns", "it sets items of a list"),  # SETITEM on a list
    (b"}K\x01a", "it appends to a dict"),
    (b"]\x90", "is corrupted"),  # ADDITEMS without a MARK
    (b"](]\x90", "it adds set items to a list"),
    (global_op("collections", "OrderedDict") + b")R}b", "it sets the state of a OrderedDict"),
    (global_op("torch", "Size") + b")\x81", "it creates a <function> object directly"),  # NEWOBJ
    (global_op("numpy", "ndarray") + b")R", "it calls a object, which is not a constructor official snapshots use"),
    (b"N)R", "it calls a NoneType"),
    (global_op("torch", "device") + b"(" + b"K\x01" * 9 + b"tR", "it calls a function with malformed arguments"),
])
def test_only_allowed_calls_instantiations_and_mutations(tmp_path, ops, message):
    assert message in _error(_write(tmp_path, _snapshot_of(ops)))


def test_long_global_names_give_short_messages(tmp_path):
    err = _error(_write(tmp_path, b"\x80\x02" + global_op("os" * 50_000, "system") + b"."))
    assert "names a global with a 100,006-character name" in err and len(err) < 300


def _dtype(name: str, state: bytes = b"") -> bytes:
    return global_op("numpy", "dtype") + str_op(name) + b"\x89\x88\x87R" + state


_F8_STATE = b"(K\x03" + str_op("<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"


@pytest.mark.parametrize("ops,message", [
    (_dtype("V8"), "with the numpy dtype '|V8', which official snapshots never hold"),
    (_dtype("M8"), "which official snapshots never hold"),
    (_dtype("S0"), "which has 0 bytes per item (1 to 65,536 are read)"),
    (_dtype("U100000"), "which has 400,000 bytes per item (1 to 65,536 are read)"),
    (_dtype("S8", b"(K\x03" + str_op("|") + b"NNNJ\x00\x00\x01\x00K\x01K\x00tb"),
     "gives the numpy dtype '|S8' a state official snapshots never hold"),  # grow the item size to 65536
    (_dtype("f8", b"(K\x03" + str_op("<") + b"N(" + str_op("a") + b"t}J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"),
     "a state official snapshots never hold"),  # names and fields
    (global_op("numpy.core.multiarray", "scalar") + _dtype("f8", _F8_STATE) + b"C\x04abcd\x86R",
     "a numpy scalar of dtype float64 does not hold its 8 bytes of data"),
    (global_op("numpy.core.multiarray", "scalar") + _dtype("f8", _F8_STATE) + b"\x85R",
     "a numpy scalar of dtype float64 does not hold its 8 bytes of data"),
    (global_op("numpy.core.multiarray", "scalar") + _dtype("O8") + b"N\x86R",
     "rebuilds a numpy scalar with the numpy dtype 'object'"),
    (global_op("numpy.core.multiarray", "_reconstruct") + global_op("numpy", "ndarray") + b"K\x00\x85C\x01b\x87R"
     + b"(K\x01J\x00\xca\x9a;\x85" + _dtype("f8", _F8_STATE) + b"\x89C\x08abcdefght" + b"b",
     "a numpy array of shape [1000000000] and dtype float64 holds 8 bytes, not 8,000,000,000 bytes"),
])
def test_numpy_values_are_what_their_bytes_hold(tmp_path, ops, message):
    assert message in _error(_write(tmp_path, _snapshot_of(ops)))


def test_numpy_frombuffer_must_match_its_bytes(tmp_path):
    ops = (global_op("numpy.core.numeric", "_frombuffer") + b"(C\x08abcdefgh" + _dtype("f8", _F8_STATE)
           + b"J\x00\xca\x9a;\x85" + str_op("C") + b"tR")
    assert "a numpy array of shape [1000000000] and dtype float64 holds 8 bytes, not 8,000,000,000" in _error(
        _write(tmp_path, _snapshot_of(ops)))


def test_tensor_that_overlaps_itself_is_refused(tmp_path):
    class Broadcast:
        def __reduce__(self):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TypedStorage deprecation
                storage = torch.zeros(1).storage()
            return torch._utils._rebuild_tensor_v2, (storage, 0, (1 << 20, 1 << 20), (0, 0), False, {})

    assert "a tensor of size [1048576, 1048576] and stride [0, 0] overlaps itself" in _error(
        _write(tmp_path, pickle.dumps({"G_ema": Broadcast()}, protocol=4)))


def test_strided_and_empty_tensors_still_read(tmp_path):
    snap = {"training_set_kwargs": {"t": torch.arange(6.0).reshape(2, 3).t(), "e": torch.zeros(0, 5),
                                    "p": torch.nn.Parameter(torch.ones(2))}, "G_ema": None}
    path = _write(tmp_path, pickle.dumps(snap, protocol=4))
    assert "entry 'G_ema' is a NoneType" in _error(path)  # everything before it was read


def test_storage_larger_than_its_bytes(tmp_path):
    raw = (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
           + pickle.dumps({"little_endian": True}, protocol=2)
           + b"\x80\x02(X\x07\x00\x00\x00storage" + global_op("torch", "FloatStorage") + str_op("0") + str_op("cpu")
           + b"J\x00\xca\x9a;tQ." + pickle.dumps(["0"], protocol=2) + struct.pack("<q", 10**9) + bytes(16))
    ops = global_op("torch.storage", "_load_from_bytes") + b"B" + struct.pack("<I", len(raw)) + raw + b"\x85R"
    assert "a tensor storage declares 3.7 GiB (4,000,000,000 bytes) of data but holds 16 bytes" in _error(
        _write(tmp_path, _snapshot_of(ops)))


# -- the walk to NetRecords ------------------------------------------------------------------


def test_tensor_names_are_bounded(official, tmp_path, monkeypatch):
    monkeypatch.setattr(op, "MAX_TENSOR_ENTRIES", 50)
    path = _write(tmp_path, pickle.dumps(official.snapshot(), protocol=4))
    official.unload()
    assert "its networks name more than 50 tensors (counting each sub-network's; at " in _error(path)


def test_shared_sub_networks_do_not_multiply_the_walk(official, tmp_path):
    """Each network holds the one below twice: 2**18 paths, one record per network; the names of
    the tensors double at each level (as in torch's own state_dict) until the bound stops them."""
    layer = official.nets.FullyConnectedLayer(2, 2)
    for _ in range(18):
        outer = torch.nn.Module()
        outer.a, outer.b = layer, layer
        layer = outer
    snap = official.snapshot()
    snap["G_ema"].deep = layer
    path = _write(tmp_path, pickle.dumps({"G_ema": snap["G_ema"]}, protocol=4))
    official.unload()
    err = _error(path)  # state_dict names double per level: refused at the tensor-name bound
    assert "its networks name more than 100,000 tensors" in err


def test_snapshot_without_g_ema_lists_a_few_entries(tmp_path):
    path = _write(tmp_path, pickle.dumps({f"entry{i:06d}" * 20: i for i in range(50_000)}, protocol=4))
    err = _error(path)
    assert "it has no 'G_ema' network (entries: 'entry000000entry" in err
    assert err.endswith(", ... (50,000 in all))") and len(err) < 600


def test_short_repr_is_bounded():
    laughs: list = []
    for _ in range(100):
        laughs = [laughs, laughs]
    assert op.short_repr(laughs) == "[[[[...], [...]], [[...], [...]]], [[[...], [...]], [[...], [...]]]]"
    assert op.short_repr(10**100_000) == "<a 332193-bit integer>"
    assert op.short_repr("x" * 10**6, 30) == "'" + "x" * 26 + "..."
    assert op.short_repr(np.zeros((3, 4))) == "array(shape=[3, 4], dtype=float64)"
    assert op.short_repr({"a": torch.zeros(2)}) == "{'a': tensor(shape=[2], dtype=torch.float32)}"


def test_module_source_parsing_is_bounded(official, tmp_path):
    """Positional arguments are named from module_src only while it is small (ast.parse of a huge
    source takes many times its size in memory)."""
    official.nets.SynthesisLayer._persistent_src = official.nets.SynthesisLayer._persistent_src + "#" * (2 << 20)
    path = _write(tmp_path, pickle.dumps(official.snapshot(), protocol=4))
    official.unload()
    layer = read_official_pickle(path)["G_ema"].submodule("synthesis.0")
    assert layer.init_args == (2, 2, 16, 4, "more")  # not named: the source is over 1 MiB
    assert layer.init_kwargs == {}


# -- whatever the bytes: one GanforgeError -----------------------------------------------------


def test_every_prefix_and_random_corruptions_give_one_error(official, tmp_path):
    data = pickle.dumps(official.snapshot(), protocol=4)
    official.unload()
    path = tmp_path / "fuzz.pkl"
    rng = random.Random(0)
    cuts = list(range(0, len(data), max(1, len(data) // 300)))
    mutations = []
    for _ in range(300):
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(2, len(b))] = rng.randrange(256)
        mutations.append(bytes(b))
    t0 = time.perf_counter()
    for blob in [data[:k] for k in cuts] + mutations:
        path.write_bytes(blob)
        try:
            read_official_pickle(path)
        except GanforgeError as e:
            assert len(str(e)) < 1000, str(e)
    assert time.perf_counter() - t0 < 60


def test_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    path = _write(tmp_path, b"\x80\x04" + b"(" * 1000 + b".")
    assert main(["import", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == f"ganforge: error: {path} is not a readable official StyleGAN network pickle: it nests deeper than " \
                  "100 levels\n"
    assert not (tmp_path / "out").exists()
