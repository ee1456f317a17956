"""``ganforge import``: constructor arguments and tensors are checked before anything is built.

Every argument that is missing, of the wrong type (a bool or a float where a size goes: ``8.5`` was
once imported as 8), negative, zero where it divides, out of range or not a power of two where the
network needs one is one GanforgeError naming the argument, the value and what is valid - exit 2, one
line, no traceback, nothing written. The tensors are compared with the network the arguments describe
(built on the meta device) before the real one is built, and the message lists a few differences
and their count, not all of them.
"""

from __future__ import annotations

import copy
import json
import pickle
import re
import warnings
from collections import OrderedDict

import pytest
import torch
from helpers.official import ANCHORS, SG2_SOURCE, Persistent, anchor_nets, write_snapshot

from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.families.stylegan2.importer import import_official, model_config_from_kwargs

pytestmark = pytest.mark.skipif(not (ANCHORS / "sg2-32gray.json").exists(), reason="shared/anchors not present")


def _spec() -> dict:
    return json.loads((ANCHORS / "sg2-32gray.json").read_text())

_DROP = object()

def _kwargs_with(change: dict) -> dict:
    kw = copy.deepcopy(_spec()["G_kwargs"])
    for dotted, value in change.items():
        target, key = kw, dotted
        if "." in dotted:
            outer, key = dotted.split(".", 1)
            target = kw[outer]
        if value is _DROP:
            del target[key]
        else:
            target[key] = value
    return kw

def _import_error(official, tmp_path, capsys, g_kwargs) -> str:
    pkl = write_snapshot(official, tmp_path / "snap.pkl", g_kwargs=g_kwargs)
    official.unload()
    out = tmp_path / "model"
    assert main(["import", str(pkl), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganforge: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert not out.exists()
    return err

Z = "expected an integer from 1 to 8,192"
POW2 = "expected a power of two from 4 to 4096"

@pytest.mark.parametrize("change,message", [
    ({"z_dim": _DROP}, f"G_ema's constructor arguments lack z_dim ({Z})"),
    ({"img_resolution": _DROP}, f"G_ema's constructor arguments lack img_resolution ({POW2})"),
    ({"img_channels": _DROP}, "G_ema's constructor arguments lack img_channels (expected 1 or 3)"),
    ({"z_dim": None}, f"G_ema was built with z_dim=None, which is not valid: {Z}"),
    ({"z_dim": "128"}, f"G_ema was built with z_dim='128', which is not valid: {Z}"),
    ({"z_dim": -1}, f"G_ema was built with z_dim=-1, which is not valid: {Z}"),
    ({"z_dim": 0}, f"G_ema was built with z_dim=0, which is not valid: {Z}"),
    ({"z_dim": 10**30}, f"G_ema was built with z_dim=1000000000000000000000000000000, which is not valid: {Z}"),
    ({"w_dim": 0}, f"G_ema was built with w_dim=0, which is not valid: {Z}"),
    ({"w_dim": 128.0}, f"G_ema was built with w_dim=128.0, which is not valid: {Z}"),
    ({"img_resolution": 32.5}, f"G_ema was built with img_resolution=32.5, which is not valid: {POW2}"),
    ({"img_resolution": 32.0}, f"G_ema was built with img_resolution=32.0, which is not valid: {POW2}"),
    ({"img_resolution": True}, f"G_ema was built with img_resolution=True, which is not valid: {POW2}"),
    ({"img_resolution": 24}, f"G_ema was built with img_resolution=24, which is not valid: {POW2}"),
    ({"img_resolution": 2}, f"G_ema was built with img_resolution=2, which is not valid: {POW2}"),
    ({"img_resolution": 0}, f"G_ema was built with img_resolution=0, which is not valid: {POW2}"),
    ({"img_channels": 0}, "G_ema was built with img_channels=0, which is not valid: expected 1 or 3"),
    ({"img_channels": 2}, "G_ema was built with img_channels=2, which is not valid: expected 1 or 3"),
    ({"c_dim": -1}, "G_ema was built with c_dim=-1, which is not valid: expected an integer from 0 to 100,000"),
    ({"channel_base": 0}, ("G_ema was built with channel_base=0, which is not valid: expected an integer from 1 to "
                           "1,048,576")),
    ({"channel_base": 16}, ("G_ema was built with channel_base=16, which is not valid: the 32x32 block would get "
                            "16 // 32 = 0 channels; expected an integer from img_resolution (32) to 1,048,576")),
    ({"channel_max": 0}, "G_ema was built with channel_max=0, which is not valid: expected an integer from 1 to 8,192"),
    ({"channel_max": "128"}, "G_ema was built with channel_max='128', which is not valid: expected an integer"),
    ({"num_fp16_res": -1}, "G_ema was built with num_fp16_res=-1, which is not valid: expected an integer from 0 to 16"),
    ({"conv_clamp": "256"}, ("G_ema was built with conv_clamp='256', which is not valid: expected a finite number > 0, "
                             "or None")),
    ({"conv_clamp": -1}, "G_ema was built with conv_clamp=-1, which is not valid: expected a finite number > 0"),
    ({"conv_clamp": float("nan")}, "G_ema was built with conv_clamp=nan, which is not valid: expected a finite number"),
    ({"architecture": "fancy"}, ("G_ema was built with architecture='fancy', which is not valid: expected 'orig' or "
                                 "'skip' or 'resnet'")),
    ({"mapping_kwargs": "deep"}, ("G_ema was built with mapping_kwargs='deep', which is not valid: expected a dict of "
                                  "arguments")),
    ({"mapping_kwargs.num_layers": 0}, ("G_ema was built with mapping_kwargs.num_layers=0, which is not valid: "
                                        "expected an integer from 1 to 64")),
    ({"mapping_kwargs.num_layers": 2.5}, "G_ema was built with mapping_kwargs.num_layers=2.5, which is not valid"),
    ({"mapping_kwargs.lr_multiplier": "fast"}, ("G_ema was built with mapping_kwargs.lr_multiplier='fast', which is "
                                                "not valid: expected a finite number > 0")),
    ({"mapping_kwargs.lr_multiplier": 0}, ("mapping_kwargs.lr_multiplier=0, which is not valid: expected a finite "
                                           "number > 0")),
    ({"z_dim": 2**2000}, "G_ema's constructor argument z_dim is a 2,001-bit integer, far outside any size"),
])
def test_bad_constructor_argument_is_one_error_naming_it(official, tmp_path, capsys, change, message):
    err = _import_error(official, tmp_path, capsys, _kwargs_with(change))
    assert message in err, err

def test_bad_discriminator_arguments(official, tmp_path, capsys):
    spec = _spec()
    G, D = anchor_nets()[1:]
    rc = official.persistence._reconstruct_persistent_obj
    d_kwargs = dict(spec["D_kwargs"], epilogue_kwargs={"mbstd_group_size": "four"})
    snap = {"G_ema": Persistent(rc, G, SG2_SOURCE, spec["G_kwargs"]), "D": Persistent(rc, D, SG2_SOURCE, d_kwargs)}

    pkl = tmp_path / "d.pkl"
    pkl.write_bytes(pickle.dumps(snap, protocol=4))
    official.unload()
    assert main(["import", str(pkl), "--out", str(tmp_path / "m")]) == 2
    assert ("D was built with epilogue_kwargs.mbstd_group_size='four', which is not valid: expected an integer from "
            "1 to 65,536, or None") in capsys.readouterr().err

def test_library_function_raises_the_same_error(tmp_path):
    with pytest.raises(GanforgeError, match=r"G_ema was built with img_resolution=8\.5, which is not valid"):
        model_config_from_kwargs(dict(_spec()["G_kwargs"], img_resolution=8.5), None, tmp_path / "x.pkl")
    with pytest.raises(GanforgeError, match=r"G_ema's constructor argument mapping_kwargs\.num_layers is a "
                                            r"Tensor, not a number"):
        model_config_from_kwargs(dict(_spec()["G_kwargs"], mapping_kwargs={"num_layers": torch.ones(2)}), None, "x")

def test_many_unsupported_arguments_are_listed_briefly(official, tmp_path, capsys):
    kw = _kwargs_with({f"option_{i:05d}": i for i in range(5000)})
    err = _import_error(official, tmp_path, capsys, kw)
    assert "does not support: option_00000=0, option_00001=1, option_00002=2, option_00003=3, option_00004=4, ... " \
           "(5,000 in all)" in err and len(err) < 600

def test_many_unexpected_tensors_are_listed_briefly(official, tmp_path, capsys):
    spec, G, _ = anchor_nets()
    shared = torch.nn.Parameter(torch.zeros(1))
    for i in range(30_000):
        G.register_parameter(f"unexpected_{i:05d}_" + "x" * 40, shared)  # one tensor, 30,000 names
    rc = official.persistence._reconstruct_persistent_obj

    pkl = tmp_path / "many.pkl"
    pkl.write_bytes(pickle.dumps({"G_ema": Persistent(rc, G, SG2_SOURCE, spec["G_kwargs"])}, protocol=4))
    official.unload()
    assert main(["import", str(pkl), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert re.search(r"G_ema's tensors do not fit the network its arguments describe \(skip, 1x32x32, z_dim 128, "
                     r"w_dim 128, channel_base 1024, channel_max 128\): 30,000 tensors not in the network: "
                     r"unexpected_00000_x+, .* \.\.\. \(30,000 in all\)\n$", err), err
    assert len(err) < 1000

def test_wrong_shapes_and_dtypes_are_listed_briefly(official, tmp_path, capsys):
    spec, G, _ = anchor_nets()
    G.requires_grad_(False)
    G.synthesis.b4.const.data = torch.zeros(3, 2, dtype=torch.int64)  # another shape, not floating point
    rc = official.persistence._reconstruct_persistent_obj

    pkl = tmp_path / "odd.pkl"
    pkl.write_bytes(pickle.dumps({"G_ema": Persistent(rc, G, SG2_SOURCE, spec["G_kwargs"])}, protocol=4))
    official.unload()
    assert main(["import", str(pkl), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert ("1 tensor of another shape: synthesis.b4.const (file [3, 2], network [128, 4, 4]); 1 tensor not floating "
            "point: synthesis.b4.const (torch.int64)") in err

class _View:
    """A tensor pickled as a view of ``storage`` (one Python object, so the pickle memoises it)."""

    def __init__(self, storage, shape):
        self.storage, self.shape = storage, tuple(shape)

    def __reduce__(self):
        stride = tuple(int(torch.tensor(self.shape[i + 1:]).prod()) for i in range(len(self.shape)))
        return torch._utils._rebuild_tensor_v2, (self.storage, 0, self.shape, stride, False, OrderedDict())


def test_tensors_sharing_one_storage_cannot_declare_a_bigger_network(official, tmp_path, capsys):
    """Every tensor a view of one storage: the shapes all match, but the file holds a fifth of the
    bytes the network needs (at scale: a small file that would allocate a huge network)."""
    spec, G, _ = anchor_nets()
    sizes = [t.numel() for t in list(G.parameters()) + list(G.buffers())]
    base = torch.randn(max(sizes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage deprecation: tensors pickle through it anyway
        storage = base.storage()
    for m in G.modules():
        for table in (m._parameters, m._buffers):
            for name, t in table.items():
                table[name] = _View(storage, t.shape)
    rc = official.persistence._reconstruct_persistent_obj
    pkl = tmp_path / "shared.pkl"
    pkl.write_bytes(pickle.dumps({"G_ema": Persistent(rc, G, SG2_SOURCE, spec["G_kwargs"])}, protocol=4))
    official.unload()
    assert pkl.stat().st_size < 1 << 20
    assert main(["import", str(pkl), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert (f"G_ema's arguments describe a network of {sum(sizes) * 4:,} bytes but its tensors hold only "
            f"{base.numel() * 4:,} bytes of data (they share storage); refusing to build it") in err


def test_odd_training_set_path_is_not_copied(official, tmp_path):
    spec, G, _ = anchor_nets()
    laughs: list = []
    for _ in range(16):
        laughs = [laughs, laughs]  # str() of it was once the dataset name: 2**16 lists printed
    rc = official.persistence._reconstruct_persistent_obj

    pkl = tmp_path / "tsk.pkl"
    pkl.write_bytes(pickle.dumps({"training_set_kwargs": {"path": laughs},
                                  "G_ema": Persistent(rc, G, SG2_SOURCE, spec["G_kwargs"])}, protocol=4))
    official.unload()
    import_official(pkl, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["dataset"] == "unknown" and meta["resolution"] == 32 and meta["z_dim"] == 128
    assert meta["imported_from"]["official_kwargs"] == spec["G_kwargs"]
