"""Fixtures of the synthesis tests."""

from __future__ import annotations

import pytest
from helpers.data import make_dataset

import ganforge


def one_step_run(tmp_path_factory, preset: str):
    """The run folder of a one-step run of ``preset`` on the tiny dataset."""
    cfg = ganforge.get_preset(preset)
    out = tmp_path_factory.mktemp("runs")
    r = ganforge.train(cfg, out=out, dataset=make_dataset(), overrides={"train.total_kimg": cfg.train.batch_size / 1000,
                                                                        "train.progress": False})
    return r.run_dir


@pytest.fixture(scope="module")
def sg2_run(tmp_path_factory):
    """The run folder of a one-step stylegan2-tiny run (one per test module that asks for it)."""
    return one_step_run(tmp_path_factory, "stylegan2-tiny")


@pytest.fixture(scope="module")
def sg3_run(tmp_path_factory):
    """The run folder of a one-step stylegan3-t-tiny run."""
    return one_step_run(tmp_path_factory, "stylegan3-t-tiny")
