"""Fixtures of the synthesis tests."""

from __future__ import annotations

import pytest
from helpers.data import make_dataset

import ganforge


@pytest.fixture(scope="module")
def sg2_run(tmp_path_factory):
    """The run folder of a one-step stylegan2-tiny run (one per test module that asks for it)."""
    cfg = ganforge.get_preset("stylegan2-tiny")
    out = tmp_path_factory.mktemp("runs")
    r = ganforge.train(cfg, out=out, dataset=make_dataset(), overrides={"train.total_kimg": cfg.train.batch_size / 1000,
                                                                        "train.progress": False})
    return r.run_dir
