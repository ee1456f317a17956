"""Reading official StyleGAN network pickles without running them.

The official code is not needed: each test writes a stand-in package (``torch_utils.persistence``,
``dnnlib``, ``training.*``) to a temp folder whose decorator pickles networks with the official
structure - ``_reconstruct_persistent_obj(meta)`` with the module source embedded in ``meta`` - builds
tiny networks, pickles a snapshot dict, then unloads the package before the file is read (the stand-in:
``helpers.official.FakeOfficialCode``, given to a test by the ``official`` fixture of tests/conftest.py).
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.official import TRAINING_SET_KWARGS, is_fake_module

from ganforge.errors import GanforgeError
from ganforge.io import NetRecord, read_official_pickle


def _write(path: Path, obj, protocol: int = 4) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def _global_call(module: str, name: str, arg: str) -> bytes:
    """A protocol-2 pickle calling module.name(arg), written by hand (GLOBAL opcode)."""
    data = arg.encode()
    return (b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n"
            + b"X" + struct.pack("<I", len(data)) + data + b"\x85R.")


def _stack_global_call(module: str, name: str, arg: str) -> bytes:
    """The same call as protocol 4 writes it (STACK_GLOBAL opcode)."""
    def short_str(s: str) -> bytes:
        return b"\x8c" + bytes([len(s.encode())]) + s.encode()
    return b"\x80\x04" + short_str(module) + short_str(name) + b"\x93" + short_str(arg) + b"\x85R."


class _OsSystem:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):  # pickles as the global posix.system (os.system's real home) called with command
        return os.system, (self.command,)


# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_reads_snapshot_without_the_official_code(official, tmp_path, protocol):
    snap = official.snapshot()
    expected = {k: snap[k].state_dict() for k in ("G", "D", "G_ema", "augment_pipe")}
    expected_kwargs = {k: snap[k].init_kwargs if hasattr(snap[k], "init_kwargs") else snap[k]._init_kwargs
                       for k in expected}
    path = _write(tmp_path / "network-snapshot-000100.pkl", snap, protocol)
    official.unload()
    del snap

    out = read_official_pickle(path)

    assert not [m for m in sys.modules if is_fake_module(m)], "reading imported the snapshot's code"
    assert list(out) == ["training_set_kwargs", "G", "D", "G_ema", "augment_pipe"]
    assert out["training_set_kwargs"] == TRAINING_SET_KWARGS
    for key, sd in expected.items():
        rec = out[key]
        assert isinstance(rec, NetRecord) and rec.persistent and rec.module_name is None
        assert rec.init_kwargs == expected_kwargs[key]
        assert list(rec.state_dict) == list(sd), key
        for name, tensor in sd.items():
            got = rec.state_dict[name]
            assert got.dtype == tensor.dtype and got.shape == tensor.shape, name
            assert torch.equal(got, tensor), name
            assert not got.requires_grad
    g = out["G_ema"]
    assert g.class_name == "Generator" and "class Generator(torch.nn.Module)" in g.module_src
    assert g.persistence_version == 6 and g.training is False
    assert type(g.init_kwargs["mapping_kwargs"]) is dict and g.init_kwargs["mapping_kwargs"] == {"num_layers": 2}
    assert g.init_kwargs["synthesis_kwargs"]["gain"] == 1.5
    assert out["augment_pipe"].class_name == "AugmentPipe" and out["augment_pipe"].extra["xflip"] == 1.0


@pytest.mark.parametrize("protocol", [3, 5])
def test_sub_network_records(official, tmp_path, protocol):
    path = _write(tmp_path / "snap.pkl", official.snapshot(), protocol)
    official.unload()
    out = read_official_pickle(path)
    g, d = out["G_ema"], out["D"]

    # Positional constructor arguments are named from the embedded source (parsed, never run).
    fc0 = g.submodule("mapping.fc0")
    assert fc0.class_name == "FullyConnectedLayer"
    assert fc0.init_kwargs == {"in_features": 8, "out_features": 16, "lr_multiplier": 0.01} and fc0.init_args == ()
    layer = g.submodule("synthesis.0")
    assert layer.init_kwargs == {"in_channels": 2, "out_channels": 2, "w_dim": 16, "resolution": 4}
    assert layer.init_args == ("more",)  # caught by *more: no name to give it
    assert np.array_equal(layer.extra["size"], [4, 4]) and np.array_equal(layer.extra["cutoffs"], [1.0, 1.5, 2.0])
    assert layer.extra["use_fp16"] == np.bool_(True)
    assert not any(k.startswith("_") or k == "training" for k in layer.extra)
    assert "scratch" not in layer.state_dict and "up_filter" not in layer.state_dict  # non-persistent, None
    assert "bias" not in layer.children["affine"].state_dict  # a None parameter
    assert g.extra["sampling_rate"] == 4.0 and g.extra["z_dim"] == 8
    assert "unused" not in g.children

    # Plain torch.nn modules become records too, with their module name and attributes; nothing is built.
    seq = g.children["synthesis"]
    assert (seq.class_name, seq.module_name, seq.persistent) == ("Sequential", "torch.nn.modules.container", False)
    linear = seq.children["1"]
    assert (linear.class_name, linear.module_name) == ("Linear", "torch.nn.modules.linear")
    assert list(linear.state_dict) == ["weight", "bias"] and linear.extra["in_features"] == 4
    assert layer.children["act"].extra["negative_slope"] == 0.2 and layer.children["act"].state_dict == {}
    assert not isinstance(linear, torch.nn.Module)

    # A sub-network registered under two names is one record, listed under both names as torch does.
    assert d.children["out"] is d.children["out_alias"]
    assert "out.weight" in d.state_dict and "out_alias.weight" in d.state_dict
    assert d.extra["block_resolutions"] == [4, 2]


def test_embedded_module_source_is_never_run(official, tmp_path):
    marker = tmp_path / "module_src_ran"
    payload = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('module source ran')\n"
    official.nets.Generator._persistent_src = payload + official.nets.Generator._persistent_src
    path = _write(tmp_path / "snap.pkl", official.snapshot())
    official.unload()

    out = read_official_pickle(path)
    assert not marker.exists()
    assert out["G_ema"].module_src.startswith(payload)  # kept as text only

    # Control: the official mechanism (here the stand-in loader) does run it.
    official.load()
    with open(path, "rb") as f:
        pickle.load(f)
    assert marker.exists()


def test_setstate_payload_is_refused_before_it_runs(official, tmp_path):
    marker = tmp_path / "setstate_ran"
    path = _write(tmp_path / "snap.pkl", official.snapshot(extra_in_g_ema={"hook": official.nets.Evil(str(marker))}))
    official.unload()
    with pytest.raises(GanforgeError, match=r"refusing to load .*snap\.pkl: it references "
                                            r"training\.networks_stylegan2\.Evil, which could run code"):
        read_official_pickle(path)
    assert not marker.exists()


def test_os_system_inside_a_network_is_refused(official, tmp_path):
    marker = tmp_path / "os_system_ran"
    snap = official.snapshot(extra_in_g_ema={"hook": _OsSystem(f"touch {marker}")})
    path = _write(tmp_path / "snap.pkl", snap)
    official.unload()
    with pytest.raises(GanforgeError, match=rf"it references {os.system.__module__}\.system, which could run code"):
        read_official_pickle(path)
    assert not marker.exists()


@pytest.mark.parametrize("encode", [_global_call, _stack_global_call])
@pytest.mark.parametrize("module,name", [("os", "system"), ("posix", "system"), ("builtins", "eval"),
                                         ("builtins", "exec"), ("__builtin__", "eval"), ("subprocess", "getoutput"),
                                         ("builtins", "getattr"), ("torch", "load"), ("numpy", "load"),
                                         ("torch_utils.persistence", "_src_to_module")])
def test_direct_references_to_code_are_refused(tmp_path, module, name, encode):
    marker = tmp_path / "ran"
    arg = f"touch {marker}" if name in ("system", "getoutput") else f"open({str(marker)!r}, 'w')"
    path = tmp_path / "evil.pkl"
    path.write_bytes(encode(module, name, arg))
    with pytest.raises(GanforgeError) as info:
        read_official_pickle(path)
    assert str(info.value) == (f"refusing to load {path}: it references {module}.{name}, which could run code; "
                               "only tensors and StyleGAN network records are read")
    assert not marker.exists()


def test_code_hidden_in_tensor_storage_bytes_is_refused(tmp_path):
    marker = tmp_path / "ran"

    class StorageBytes:
        def __reduce__(self):  # what a tensor storage pickles as, with a payload in place of torch.save bytes
            return torch.storage._load_from_bytes, (pickle.dumps(_OsSystem(f"touch {marker}")),)

    path = _write(tmp_path / "snap.pkl", {"G_ema": StorageBytes()})
    with pytest.raises(GanforgeError, match=r"refusing to load .*: the data of a tensor inside it references "
                                            r"\w+\.system, which could run code"):
        read_official_pickle(path)
    assert not marker.exists()


def test_tensor_view_outside_its_storage_is_rejected(tmp_path):
    class Overreach:
        def __reduce__(self):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TypedStorage deprecation: tensors pickle through it anyway
                storage = torch.arange(4.0).storage()
            return torch._utils._rebuild_tensor_v2, (storage, 2, (4,), (1,), False, {})

    path = _write(tmp_path / "snap.pkl", {"G_ema": Overreach()})
    with pytest.raises(GanforgeError, match="reaches past the end of its storage"):
        read_official_pickle(path)


def test_truncated_file_is_reported(official, tmp_path):
    full = pickle.dumps(official.snapshot(), protocol=4)
    official.unload()
    for keep in (len(full) - 1, len(full) // 2, 40):
        path = tmp_path / f"cut-{keep}.pkl"
        path.write_bytes(full[:keep])
        with pytest.raises(GanforgeError, match=r"is truncated: the file ends before the pickle does"):
            read_official_pickle(path)


def test_files_that_are_not_pickles(tmp_path):
    with pytest.raises(GanforgeError, match="does not exist"):
        read_official_pickle(tmp_path / "missing.pkl")
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    with pytest.raises(GanforgeError, match="is empty"):
        read_official_pickle(empty)
    text = tmp_path / "notes.pkl"
    text.write_text("network weights, honest\n")
    with pytest.raises(GanforgeError, match="is not a pickle file"):
        read_official_pickle(text)
    archive = tmp_path / "checkpoint.pt"
    torch.save({"w": torch.zeros(2)}, archive)
    with pytest.raises(GanforgeError, match="is a zip archive"):
        read_official_pickle(archive)
    with zipfile.ZipFile(archive) as z:  # its inner data.pkl uses persistent ids
        inner = next(n for n in z.namelist() if n.endswith("data.pkl"))
        (tmp_path / "data.pkl").write_bytes(z.read(inner))
    with pytest.raises(GanforgeError, match="as the data.pkl inside a torch.save archive does"):
        read_official_pickle(tmp_path / "data.pkl")


@pytest.mark.parametrize("obj,message", [
    ({"G": 1, "D": 2}, r"it has no 'G_ema' network \(entries: 'G', 'D'\)"),
    ([1, 2, 3], "it holds a list, not the dict of networks"),
    ({"G_ema": 5}, "entry 'G_ema' is a int, not a network"),
    ({"G_ema": None}, "entry 'G_ema' is a NoneType, not a network"),
])
def test_pickles_that_are_not_snapshots(tmp_path, obj, message):
    path = _write(tmp_path / "other.pkl", obj)
    with pytest.raises(GanforgeError, match=rf"is not an official StyleGAN network snapshot: {message}"):
        read_official_pickle(path)


def test_unsupported_persistent_object_and_tensorflow_pickles(official, tmp_path):
    class Odd:
        def __reduce__(self):
            return official.persistence._reconstruct_persistent_obj, ({"type": "function", "version": 6},)

    path = _write(tmp_path / "odd.pkl", {"G_ema": Odd()})
    official.unload()
    with pytest.raises(GanforgeError, match=r"unsupported persistent object type 'function'"):
        read_official_pickle(path)

    tf = tmp_path / "stylegan2-ffhq-tf.pkl"
    tf.write_bytes(_global_call("dnnlib.tflib.network", "Network", "x"))
    with pytest.raises(GanforgeError, match="TensorFlow-era StyleGAN pickle"):
        read_official_pickle(tf)


def test_snapshot_without_optional_entries(official, tmp_path):
    snap = official.snapshot()
    path = _write(tmp_path / "pretrained.pkl", {"G_ema": snap["G_ema"]}, protocol=3)
    official.unload()
    out = read_official_pickle(path)
    assert out["training_set_kwargs"] is None and out["augment_pipe"] is None and "G" not in out
