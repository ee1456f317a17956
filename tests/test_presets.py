"""Contract tests over the preset registry: every preset resolves; every tiny preset trains a step
and survives a checkpoint round trip."""

import pytest
import torch

import ganforge
from ganforge.config import from_dict, to_dict
from ganforge.presets import DEFAULT_PRESET, PRESETS
from ganforge.training import checkpoint as ckpt

REQUIRED = ["dcgan-fmnist32", "wgan-fmnist32", "wgangp-fmnist32", "lsgan-fmnist32", "sngan-fmnist32",
            "dcgan-r1-fmnist32"]


def test_required_presets_exist_and_default():
    names = ganforge.list_presets()
    for n in REQUIRED:
        assert n in names
        assert n.replace("-fmnist32", "-tiny") in names, f"{n} has no tiny twin"
    assert DEFAULT_PRESET == "dcgan-fmnist32"


@pytest.mark.parametrize("name", PRESETS.names())
def test_preset_resolves_and_round_trips(name):
    cfg = ganforge.get_preset(name)
    assert cfg.preset == name
    assert from_dict(to_dict(cfg)) == cfg


@pytest.mark.parametrize("name", [n for n in PRESETS.names() if n.endswith("-tiny")])
def test_tiny_preset_trains_and_round_trips(name, tmp_path, tiny_dataset, translation_dataset_factory):
    from ganforge.registry import RECIPES

    cfg = ganforge.get_preset(name)
    translates = RECIPES.get(cfg.recipe).translates
    if translates:  # image-to-image families train on pairs of domains (cyclegan: unpaired)
        tiny_dataset = translation_dataset_factory(tiny_dataset, paired=cfg.recipe == "pix2pix")
    r = ganforge.train(cfg, out=tmp_path, dataset=tiny_dataset,
                       overrides={"train.total_kimg": cfg.train.batch_size / 1000})
    assert r.steps == 1 and r.bad_steps == 0
    state = ckpt.load_latest_checkpoint(r.run_dir)[1]
    # Training changed G and D; the checkpoint restores them exactly.
    from ganforge.training.trainer import Trainer

    t = Trainer(cfg, tmp_path / "again", resume_state=state, dataset=tiny_dataset)
    for net_name, sd in state["nets"].items():
        for k, v in t.recipe.nets[net_name].state_dict().items():
            assert torch.equal(v, sd[k]), f"{net_name}.{k}"
    if translates:
        T = ganforge.load_generator(r.run_dir, kind="translator")
        for d in T.directions:
            assert T(torch.zeros(2, 1, 16, 16), d).shape[1:] == (1, 16, 16)
        return
    G = ganforge.load_generator(r.run_dir)
    c = torch.zeros(2, dtype=torch.long) if G.num_classes else None
    assert G(torch.randn(2, G.z_dim), c).shape[1:] == (1, 16, 16)


def test_configs_doc_is_current():
    from pathlib import Path

    from ganforge.docs_gen import render

    doc = Path(__file__).resolve().parents[1] / "docs" / "configs.md"
    assert doc.read_text() == render(), "docs/configs.md is stale: python -m ganforge.docs_gen > docs/configs.md"
