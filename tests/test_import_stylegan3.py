"""``ganforge import`` of official StyleGAN3 snapshots (configs T and R, conditional or not): the imported
model reproduces the official anchors, nothing stored in the pickle runs, and hostile or unsupported
snapshots are refused with one clear error (exit 2) and no output.

The snapshots are built without the official code: ganforge's StyleGAN3 generator holding the anchors'
official weights, pickled with the official persistence structure (``helpers.official.Persistent``: every
module a ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` call with the module source text in
``meta``) under a stand-in ``training/networks_stylegan3.py`` source.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.official import ANCHORS as SG2_ANCHORS
from helpers.official import SG2_SOURCE, Persistent, anchor_nets

import ganforge
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.registry import FAMILIES

ANCHORS = SG2_ANCHORS.parent / "stylegan3-official"  # shared/anchors, beside the checkout
pytestmark = pytest.mark.skipif(not (ANCHORS / "sg3t-32gray.json").exists(), reason="shared/anchors not present")

# Stand-in for training/networks_stylegan3.py: the class definitions the importer recognises, and a line
# that would leave a file behind if the module source were ever run.
SG3_SOURCE = ("# stand-in for training/networks_stylegan3.py\n"
              "def modulated_conv2d(x):\n    pass\n"
              "class MappingNetwork:\n    pass\n"
              "class SynthesisInput:\n    pass\n"
              "class SynthesisLayer:\n    pass\n"
              "class SynthesisNetwork:\n    pass\n"
              "class Generator:\n    pass\n")


@pytest.fixture
def sg3_importer(monkeypatch):
    """The stylegan3 family's importer as ``ganforge import`` finds it (registered by the family; patched in
    here only if the family does not register it yet, so the import tests still exercise the dispatch)."""
    from ganforge.families.stylegan3.importer import import_official

    spec = FAMILIES.get("stylegan3")
    if spec.importer is None:
        monkeypatch.setitem(FAMILIES._items, "stylegan3", dataclasses.replace(spec, importer=import_official))
    return import_official


def anchor_generator(cfg: str):
    """(init kwargs, ganforge StyleGAN3 generator holding the anchor's official weights)."""
    from safetensors.torch import load_file

    from ganforge.families.stylegan3.networks import Generator

    spec = json.loads((ANCHORS / f"sg3{cfg}-32gray.json").read_text())
    tensors = load_file(str(ANCHORS / f"sg3{cfg}-32gray.safetensors"))
    G = Generator(**spec["G_kwargs"]).eval()
    G.load_state_dict({k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")}, strict=True)
    return spec["G_kwargs"], G


class _Call:
    """Pickles as ``func(*args)`` (what an attacker's snapshot would hold)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def write_sg3(official, path: Path, G: torch.nn.Module, g_kwargs: dict, *, src: str = SG3_SOURCE,
              extra: dict | None = None) -> Path:
    """An official-format StyleGAN3 snapshot of ``G`` (as G and G_ema) with StyleGAN2's D, as the official
    training loop writes it."""
    rc = official.persistence._reconstruct_persistent_obj
    snap = {"training_set_kwargs": {"path": "fmnist32.zip", "resolution": 32, "use_labels": False},
            "G": Persistent(rc, G, src, g_kwargs), "D": None, "G_ema": Persistent(rc, G, src, g_kwargs),
            "augment_pipe": None}
    if (SG2_ANCHORS / "sg2-32gray.json").exists():
        spec, _, D = anchor_nets()
        snap["D"] = Persistent(rc, D, SG2_SOURCE, spec["D_kwargs"])
    snap.update(extra or {})
    path.write_bytes(pickle.dumps(snap, protocol=4))
    return path


@pytest.mark.parametrize("cfg", ["t", "r"])
def test_imported_snapshot_reproduces_the_official_outputs(official, sg3_importer, tmp_path, capsys, cfg):
    g_kwargs, G = anchor_generator(cfg)
    pkl = write_sg3(official, tmp_path / "network-snapshot-000200.pkl", G, g_kwargs)
    official.unload()
    del G
    assert main(["import", str(pkl), "--out", str(tmp_path / "model")]) == 0
    assert "wrote" in capsys.readouterr().out
    G = ganforge.load_generator(tmp_path / "model")
    assert G.arch == f"stylegan3-{cfg}" and G.meta["recipe"] == "stylegan3"
    exp = np.load(ANCHORS / f"sg3{cfg}-32gray.expected.npz")
    z = torch.from_numpy(exp["z"])
    with torch.no_grad():
        ws = G.mapping(z, None)
        assert (ws - torch.from_numpy(exp["ws"])).abs().max() <= 1e-4
        assert (G.synthesis(ws) - torch.from_numpy(exp["img"])).abs().max() <= 1e-4
        ws05 = G.mapping(z, None, truncation_psi=0.5)
        assert (ws05 - torch.from_numpy(exp["ws_psi05"])).abs().max() <= 1e-4
        assert (G.synthesis(ws05) - torch.from_numpy(exp["img_psi05"])).abs().max() <= 1e-4
        G.synthesis.input.transform.copy_(torch.from_numpy(exp["transform"]))
        assert (G.synthesis(ws) - torch.from_numpy(exp["img_transformed"])).abs().max() <= 1e-4
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    m = meta["model"]
    assert m["cfg"] == cfg and m["map_layers"] == 2 and m["z_dim"] == m["w_dim"] == 128
    # the config holds the official --cbase / --cmax: G's own for T, half of them for R
    assert (m["cbase"], m["cmax"]) == (1024, 128)
    assert m["conv_clamp"] == 256 and m["num_fp16_res"] == 4 and not m["conditional"]
    assert m["magnitude_ema_beta"] == pytest.approx(0.5 ** (32 / 20000))
    assert meta["imported_from"]["file"] == pkl.name and meta["dataset"] == "fmnist32.zip"
    if (SG2_ANCHORS / "sg2-32gray.json").exists():
        assert m["d_arch"] == "resnet" and m["mbstd_group"] == 4


def test_conditional_snapshot_imports_and_runs_with_labels(official, sg3_importer, tmp_path):
    from ganforge.families.stylegan3.networks import Generator

    torch.manual_seed(3)
    g_kwargs = {"z_dim": 16, "c_dim": 5, "w_dim": 16, "img_resolution": 16, "img_channels": 3,
                "mapping_kwargs": {"num_layers": 2}, "channel_base": 256, "channel_max": 32, "num_layers": 4,
                "margin_size": 4, "magnitude_ema_beta": 0.999, "conv_clamp": None}
    G0 = Generator(**g_kwargs).eval()
    with torch.no_grad():
        for p in G0.parameters():
            p.add_(0.1 * torch.randn_like(p))
        G0.mapping.w_avg.normal_()
    pkl = write_sg3(official, tmp_path / "cond.pkl", G0, g_kwargs)
    official.unload()
    assert main(["import", str(pkl), "--out", str(tmp_path / "model")]) == 0
    G = ganforge.load_generator(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["num_classes"] == 5 and meta["model"]["conditional"] and meta["model"]["conv_clamp"] is None
    assert G.num_classes == 5 and G.img_channels == 3
    z, labels = torch.randn(4, 16), torch.tensor([0, 1, 4, 2])
    with torch.no_grad():
        img = G(z, labels, truncation_psi=0.7)
        assert img.shape == (4, 3, 16, 16) and torch.isfinite(img).all()
        assert torch.equal(img, G0(z, labels, truncation_psi=0.7))
        assert not torch.equal(img, G(z, torch.tensor([1, 1, 4, 2]), truncation_psi=0.7))


def test_code_in_the_pickle_never_runs(official, sg3_importer, tmp_path, capsys):
    g_kwargs, G = anchor_generator("t")
    # module source whose top level leaves a file behind if it is ever run (the official loader runs it)
    marker_src = tmp_path / "source-ran"
    src = SG3_SOURCE + f"open({str(marker_src)!r}, 'w').write('ran')\n"
    quiet = write_sg3(official, tmp_path / "source.pkl", G, g_kwargs, src=src)
    # a reduce to a function with a side effect, as a hostile snapshot would carry
    marker_call = tmp_path / "call-ran"
    calls = {"os.system": _Call(__import__("os").system, f"touch {marker_call}"),
             "builtins.exec": _Call(exec, f"open({str(marker_call)!r}, 'w').write('ran')"),
             "pathlib.Path.write_text": _Call(Path.write_text, marker_call, "ran")}
    evil = {name: write_sg3(official, tmp_path / f"evil{i}.pkl", G, g_kwargs, extra={"extra": call})
            for i, (name, call) in enumerate(calls.items())}
    official.unload()
    assert main(["import", str(quiet), "--out", str(tmp_path / "ok")]) == 0
    assert not marker_src.exists()
    capsys.readouterr()
    for i, (name, pkl) in enumerate(evil.items()):
        assert main(["import", str(pkl), "--out", str(tmp_path / f"out{i}")]) == 2
        err = capsys.readouterr().err
        assert "refusing to load" in err and "Traceback" not in err
        assert not marker_call.exists() and not (tmp_path / f"out{i}").exists()


def _refused(pkl: Path, out: Path, capsys) -> str:
    assert main(["import", str(pkl), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and not out.exists()
    return err


def test_unsupported_arguments_are_refused_by_name(official, sg3_importer, tmp_path, capsys):
    g_kwargs, G = anchor_generator("t")
    cases = {
        "conv_kernel=5": dict(g_kwargs, conv_kernel=5),
        "conv_kernel=1 and use_radial_filters=False": dict(g_kwargs, conv_kernel=1),
        "mapping_kwargs.lr_multiplier=0.1": dict(g_kwargs, mapping_kwargs={"num_layers": 2, "lr_multiplier": 0.1}),
        "does not support: fancy_option=True": dict(g_kwargs, fancy_option=True),
        "img_resolution=48": dict(g_kwargs, img_resolution=48),
        "num_layers=True": dict(g_kwargs, num_layers=True),
    }
    pkls = {text: write_sg3(official, tmp_path / f"bad{i}.pkl", G, kw) for i, (text, kw) in enumerate(cases.items())}
    r_kwargs, R = anchor_generator("r")
    pkls["channel_base=2047"] = write_sg3(official, tmp_path / "odd_r.pkl", R, dict(r_kwargs, channel_base=2047))
    official.unload()
    for i, (text, pkl) in enumerate(pkls.items()):
        err = _refused(pkl, tmp_path / f"out{i}", capsys)
        assert text in err and "StyleGAN3" in err, (text, err)


def test_tensors_that_do_not_fit_are_refused(official, sg3_importer, tmp_path, capsys):
    g_kwargs, G = anchor_generator("t")
    first = G.synthesis.input
    first._buffers["freqs"] = torch.zeros(first.freqs.shape[0] + 1, 2)
    wrong_shape = write_sg3(official, tmp_path / "shape.pkl", G, g_kwargs)
    # arguments describing another (smaller) network than the tensors
    other = write_sg3(official, tmp_path / "other.pkl", anchor_generator("t")[1], dict(g_kwargs, channel_max=64))
    official.unload()
    err = _refused(wrong_shape, tmp_path / "a", capsys)
    assert "synthesis.input.freqs (file [" in err and "do not fit" in err
    err = _refused(other, tmp_path / "b", capsys)
    assert "of another shape" in err


def test_dispatch_picks_the_family_that_claims_the_snapshot(official, sg3_importer, tmp_path, capsys):
    from ganforge.families.stylegan2.importer import claims as sg2_claims
    from ganforge.families.stylegan3.importer import claims as sg3_claims
    from ganforge.io.official_pickle import read_official_pickle

    g_kwargs, G = anchor_generator("r")
    sg3 = write_sg3(official, tmp_path / "sg3.pkl", G, g_kwargs)
    # the class layout alone tells StyleGAN3 apart, whatever the module source says
    bare = write_sg3(official, tmp_path / "bare.pkl", G, g_kwargs, src=SG2_SOURCE)
    neither = write_sg3(official, tmp_path / "neither.pkl", torch.nn.Sequential(torch.nn.Linear(2, 2)), {},
                        src="class Widget:\n    pass\n")
    official.unload()
    for pkl in (sg3, bare):
        snap = read_official_pickle(pkl)
        assert sg3_claims(snap) and not sg2_claims(snap)
    assert main(["import", str(bare), "--out", str(tmp_path / "bare")]) == 0
    assert json.loads((tmp_path / "bare" / "model.json").read_text())["recipe"] == "stylegan3"
    err = _refused(neither, tmp_path / "neither", capsys)
    assert "G_ema is a 'Sequential'" in err and "Widget" in err and "no family imports it" in err
    # the StyleGAN2 importer, called directly, names the family that imports a StyleGAN3 snapshot
    from ganforge.families.stylegan2.importer import import_official as sg2_import

    with pytest.raises(GanforgeError, match="stylegan3 family imports"):
        sg2_import(sg3, tmp_path / "direct")


def test_the_stylegan3_family_registers_the_importer():
    from ganforge.families.stylegan3.importer import import_official

    assert FAMILIES.get("stylegan3").importer is import_official
    assert import_official.claims is not None


def test_a_layer_design_that_cannot_be_built_is_refused_through_the_familys_own_check(official, sg3_importer,
                                                                                      tmp_path, capsys):
    """The importer defers to build_generator's check_design (one check for configs and snapshots),
    prefixing the snapshot's path."""
    g_kwargs, G = anchor_generator("t")
    cases = {"no feature maps": dict(g_kwargs, channel_base=2),
             "no valid filters": dict(g_kwargs, first_cutoff=1000.0)}
    pkls = {text: write_sg3(official, tmp_path / f"design{i}.pkl", G, kw) for i, (text, kw) in enumerate(cases.items())}
    official.unload()
    for i, (text, pkl) in enumerate(pkls.items()):
        err = _refused(pkl, tmp_path / f"out{i}", capsys)
        assert "describe no buildable network" in err and text in err and str(pkl) in err, err
