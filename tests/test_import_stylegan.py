"""``ganforge import``: an official StyleGAN2 snapshot becomes a ganforge model that reproduces the
official outputs, and no code stored in the pickle ever runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers.official import ANCHORS, SG2_SOURCE, write_snapshot

import ganforge
from ganforge.cli import main

pytestmark = pytest.mark.skipif(not (ANCHORS / "sg2-32gray.json").exists(), reason="shared/anchors not present")


def test_imported_snapshot_reproduces_the_official_outputs(official, tmp_path, capsys):
    pkl = write_snapshot(official, tmp_path / "network-snapshot-000160.pkl")
    official.unload()
    assert main(["import", str(pkl), "--out", str(tmp_path / "model")]) == 0
    assert "wrote" in capsys.readouterr().out
    G = ganforge.load_generator(tmp_path / "model")
    exp = np.load(ANCHORS / "sg2-32gray.expected.npz")
    z = torch.from_numpy(exp["z"])
    img = G.synthesis(G.mapping(z, None), noise_mode="const")
    assert (img - torch.from_numpy(exp["img_const"])).abs().max() <= 1e-4
    ws = G.mapping(z, None, truncation_psi=0.5)
    assert (ws - torch.from_numpy(exp["ws_psi05"])).abs().max() <= 1e-4
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["recipe"] == "stylegan2" and meta["model"]["map_layers"] == 2 and meta["model"]["cbase"] == 1024
    assert meta["model"]["mbstd_group"] == 4 and meta["imported_from"]["file"] == pkl.name


def test_code_in_the_pickle_never_runs(official, tmp_path):
    marker = tmp_path / "pwned"
    src = SG2_SOURCE + f"open({str(marker)!r}, 'w').write('ran')\n"
    pkl = write_snapshot(official, tmp_path / "evil.pkl", src=src)
    official.unload()
    assert main(["import", str(pkl), "--out", str(tmp_path / "model")]) == 0
    assert not marker.exists()


def test_refusals_are_one_clear_error(official, tmp_path, capsys):
    spec = json.loads((ANCHORS / "sg2-32gray.json").read_text())
    odd = dict(spec["G_kwargs"], use_noise=False)
    pkl = write_snapshot(official, tmp_path / "odd.pkl", g_kwargs=odd)
    sg3 = write_snapshot(official, tmp_path / "sg3.pkl", src=SG2_SOURCE + "class SynthesisInput:\n    pass\n")
    official.unload()
    assert main(["import", str(pkl), "--out", str(tmp_path / "a")]) == 2
    assert "does not support: use_noise=False" in capsys.readouterr().err
    assert main(["import", str(sg3), "--out", str(tmp_path / "b")]) == 2
    assert "StyleGAN3" in capsys.readouterr().err
    evil = tmp_path / "code.pkl"
    evil.write_bytes(b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R.")
    assert main(["import", str(evil), "--out", str(tmp_path / "c")]) == 2
    assert "posix.system" in capsys.readouterr().err
    assert not any((tmp_path / d).exists() for d in ("a", "b", "c"))


def test_import_does_not_overwrite(official, tmp_path, capsys):
    pkl = write_snapshot(official, tmp_path / "s.pkl")
    official.unload()
    out = tmp_path / "model"
    assert main(["import", str(pkl), "--out", str(out)]) == 0
    before = (out / "generator.safetensors").read_bytes()
    assert main(["import", str(pkl), "--out", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert (out / "generator.safetensors").read_bytes() == before
    assert main(["import", str(pkl), "--out", str(out), "--overwrite"]) == 0
