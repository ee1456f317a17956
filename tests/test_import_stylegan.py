"""``ganforge import``: an official StyleGAN2 snapshot becomes a ganforge model that reproduces the
official outputs, and no code stored in the pickle ever runs."""

from __future__ import annotations

import json
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import ganforge
from ganforge.cli import main
from ganforge.families.stylegan2.networks import Discriminator, Generator

from tests.test_official_pickle import FakeOfficialCode

ANCHORS = Path(__file__).resolve().parents[1] / ".." / "shared" / "anchors" / "stylegan2-official"
pytestmark = pytest.mark.skipif(not (ANCHORS / "sg2-32gray.json").exists(), reason="shared/anchors not present")

SG2_SOURCE = "# stand-in for training/networks_stylegan2.py\ndef modulated_conv2d(x):\n    pass\n"


class _Persistent:
    """Pickles a torch module tree the way NVlabs' persistence decorator does: every module becomes
    ``_reconstruct_persistent_obj(meta)`` with the module source embedded and its ``__dict__`` as state."""

    def __init__(self, reconstruct, module: torch.nn.Module, src: str, init_kwargs: dict | None = None):
        self.reconstruct, self.module, self.src, self.init_kwargs = reconstruct, module, src, init_kwargs or {}

    def __reduce__(self):
        m = self.module
        state = {
            "training": False,
            "_parameters": OrderedDict((k, v) for k, v in m._parameters.items()),
            "_buffers": OrderedDict((k, v) for k, v in m._buffers.items()),
            "_non_persistent_buffers_set": set(m._non_persistent_buffers_set),
            "_modules": OrderedDict((k, _Persistent(self.reconstruct, c, self.src)) for k, c in m._modules.items()),
            "_init_args": (),
            "_init_kwargs": self.init_kwargs,
        }
        meta = {"type": "class", "version": 6, "module_src": self.src, "class_name": type(m).__name__,
                "state": state}
        return self.reconstruct, (meta,)


def _anchor_nets():
    spec = json.loads((ANCHORS / "sg2-32gray.json").read_text())
    tensors = load_file(str(ANCHORS / "sg2-32gray.safetensors"))
    G = Generator(**spec["G_kwargs"]).eval()
    G.load_state_dict({k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")})
    D = Discriminator(**spec["D_kwargs"]).eval()
    D.load_state_dict({k[len("D."):]: v for k, v in tensors.items() if k.startswith("D.")})
    return spec, G, D


def _write_snapshot(official: FakeOfficialCode, path: Path, src: str = SG2_SOURCE, g_kwargs=None) -> Path:
    spec, G, D = _anchor_nets()
    rc = official.persistence._reconstruct_persistent_obj
    snap = {"training_set_kwargs": {"path": "fmnist.zip", "resolution": 32, "use_labels": False},
            "G": _Persistent(rc, G, src, g_kwargs or spec["G_kwargs"]),
            "D": _Persistent(rc, D, src, spec["D_kwargs"]),
            "G_ema": _Persistent(rc, G, src, g_kwargs or spec["G_kwargs"]),
            "augment_pipe": None}
    path.write_bytes(pickle.dumps(snap, protocol=4))
    return path


@pytest.fixture
def official(tmp_path):
    fake = FakeOfficialCode(tmp_path / "official_code")
    yield fake
    fake.unload()


def test_imported_snapshot_reproduces_the_official_outputs(official, tmp_path, capsys):
    pkl = _write_snapshot(official, tmp_path / "network-snapshot-000160.pkl")
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
    pkl = _write_snapshot(official, tmp_path / "evil.pkl", src=src)
    official.unload()
    assert main(["import", str(pkl), "--out", str(tmp_path / "model")]) == 0
    assert not marker.exists()


def test_refusals_are_one_clear_error(official, tmp_path, capsys):
    spec = json.loads((ANCHORS / "sg2-32gray.json").read_text())
    odd = dict(spec["G_kwargs"], use_noise=False)
    pkl = _write_snapshot(official, tmp_path / "odd.pkl", g_kwargs=odd)
    sg3 = _write_snapshot(official, tmp_path / "sg3.pkl", src=SG2_SOURCE + "class SynthesisInput:\n    pass\n")
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
    pkl = _write_snapshot(official, tmp_path / "s.pkl")
    official.unload()
    out = tmp_path / "model"
    assert main(["import", str(pkl), "--out", str(out)]) == 0
    before = (out / "generator.safetensors").read_bytes()
    assert main(["import", str(pkl), "--out", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert (out / "generator.safetensors").read_bytes() == before
    assert main(["import", str(pkl), "--out", str(out), "--overwrite"]) == 0
