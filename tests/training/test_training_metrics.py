"""Metrics computed during training land in stats.jsonl and metrics.jsonl with their protocol."""

import json

import pytest

import ganforge
from ganforge.config import apply_overrides
from ganforge.errors import GanforgeError


def test_metrics_during_training(tmp_path, tiny_dataset):
    cfg = apply_overrides(ganforge.get_preset("dcgan-tiny"), {
        "train.total_kimg": 0.032, "train.tick_kimg": 0.008, "metrics.names": "fid1k,kid1k",
        "metrics.interval_kimg": 0.016, "metrics.extractor": "test-pool4"})
    r = ganforge.train(cfg, out=tmp_path, dataset=tiny_dataset)
    ticks = [json.loads(line) for line in (r.run_dir / "stats.jsonl").read_text().splitlines()]
    with_metrics = [t for t in ticks if "metrics/fid1k" in t]
    assert [t["kimg"] for t in with_metrics] == [0.016, 0.032]  # every interval, not every tick
    assert all(t["metrics/fid1k"] >= 0 for t in with_metrics)
    records = [json.loads(line) for line in (r.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {rec["metric"] for rec in records} == {"fid1k", "kid1k"}
    assert all(rec["extractor"] == "test-pool4" and rec["dataset_hash"] == tiny_dataset.content_hash
               and rec["protocol"] == "native" for rec in records)


@pytest.mark.parametrize("over,needle", [({"metrics.names": "fid"}, "fid"),
                                         ({"metrics.names": "fid1k", "metrics.extractor": "nope"}, "nope")])
def test_bad_metric_config_is_refused_before_training(tmp_path, tiny_dataset, over, needle):
    cfg = apply_overrides(ganforge.get_preset("dcgan-tiny"), over)
    with pytest.raises(GanforgeError, match=needle):
        ganforge.train(cfg, out=tmp_path, dataset=tiny_dataset)
    assert not any(tmp_path.iterdir())


def test_protocol_for_the_datas_default_extractor_is_checked_before_training(tmp_path):
    from helpers.data import make_dataset

    data32 = make_dataset(resolution=32)  # 1-channel 32 px: the default extractor is fmnist-cnn, no protocols
    cfg = apply_overrides(ganforge.get_preset("dcgan-tiny"), {
        "data.resolution": 32, "metrics.names": "fid1k", "metrics.protocol": "tf"})
    with pytest.raises(GanforgeError, match="metrics.protocol 'tf' applies to the inception-v3-fid extractor; "
                                            "'fmnist-cnn' has one fixed input pipeline"):
        ganforge.train(cfg, out=tmp_path, dataset=data32)
    assert not any(tmp_path.iterdir())
