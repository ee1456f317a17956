"""Files written before the family-package restructure still load and behave the same.

``tests/fixtures/legacy/`` holds exports and training checkpoints of the tiny presets written by commit
9d07f14 (``make.py`` there wrote them), with the outputs that code computed for fixed inputs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.api import load_generator
from ganforge.config import from_dict
from ganforge.training import checkpoint as ckpt

LEGACY = Path(__file__).parent / "fixtures" / "legacy"
EXPORTS = sorted(p.name for p in LEGACY.iterdir() if (p / "model.json").exists())
CHECKPOINTS = sorted(p.name for p in LEGACY.iterdir() if (p / "state.pt").exists())


def test_the_fixtures_are_there():
    assert len(EXPORTS) == 9 and len(CHECKPOINTS) == 3
    assert all((LEGACY / p / "resumed.json").exists() for p in CHECKPOINTS)


STYLE = {"stylegan-tiny", "stylegan2-tiny", "stylegan2-cond-tiny"}


@pytest.fixture
def one_thread():
    """The fixtures were computed on one thread: CPU kernels choose their summation order by thread count."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("preset", EXPORTS)
def test_old_export_gives_the_outputs_the_old_code_computed(preset, one_thread):
    expected = torch.load(LEGACY / preset / "expected.pt", weights_only=True)
    if preset.startswith(("pix2pix", "cyclegan")):
        G = load_generator(LEGACY / preset, kind="translator")
        assert set(expected) == set(G.directions)
        with torch.no_grad():
            for d, io in expected.items():
                assert torch.equal(G(io["x"], d), io["y"]), d
    else:
        G = load_generator(LEGACY / preset)
        with torch.no_grad():
            kw = {"noise_mode": "const"} if preset in STYLE else {}
            assert torch.equal(G(expected["z"], expected["c"], **kw), expected["img"])


@pytest.mark.parametrize("preset", CHECKPOINTS)
def test_old_checkpoint_resumes_as_the_old_code_did(preset, tmp_path, one_thread):
    """Two steps resumed from an old checkpoint on its own data give, tensor for tensor, the networks the
    old code computed from it (resumed.json)."""
    state = ckpt.load_checkpoint(LEGACY / preset / "state.pt")
    cfg = from_dict(json.loads(state["config"]))  # old keys map onto today's sections
    assert cfg.preset == preset
    want = json.loads((LEGACY / preset / "resumed.json").read_text())
    run = tmp_path / f"00000-{preset}"
    (run / ckpt.CKPT_DIR).mkdir(parents=True)
    shutil.copy(LEGACY / preset / "state.pt", run / ckpt.CKPT_DIR / "state-000000032.pt")
    result = ganforge.train(resume=run, out=tmp_path,
                            overrides={"train.total_kimg": want["total_kimg"], "train.progress": False})
    assert result.cur_nimg == int(state["counters"]["cur_nimg"]) + 2 * cfg.train.batch_size
    after = ckpt.load_latest_checkpoint(run)[1]
    got = {f"{net}/{k}": hashlib.sha256(v.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
                                        if v.numel() else b"").hexdigest()
           for net, sd in sorted(after["nets"].items()) for k, v in sorted(sd.items())}
    assert got.keys() == want["nets"].keys()
    assert [k for k in got if got[k] != want["nets"][k]] == []
