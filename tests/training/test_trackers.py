"""Experiment trackers (``train.tracker``): what W&B (offline), MLflow (a local file store) and TensorBoard
receive from a tiny run, read back with each one's own reader; the validation refusals; a tracker that
cannot start stops the run with one clear error; one that fails mid-run is a warning and training goes on."""

from __future__ import annotations

import importlib.util
import json
import struct
import time
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.training import tiny_cfg

import ganforge
from ganforge.config import Experiment, apply_overrides, resolved_tracker
from ganforge.errors import GanforgeError
from ganforge.presets import get_preset
from ganforge.training import trackers
from ganforge.validation import validate_experiment

# Every tick (2 steps of 8 images): losses; metrics at the end (cheap: the test-pool4 extractor of conftest).
METRICS = {"metrics.names": "fid1k", "metrics.extractor": "test-pool4"}


def _train(tmp_path, dataset, steps=4, **over):
    cfg = tiny_cfg(steps=steps, **{"train.progress": False, **over})
    return ganforge.train(cfg, out=tmp_path / "runs", dataset=dataset)


def _rows(run_dir: Path, name="stats.jsonl") -> list[dict]:
    return [json.loads(line) for line in (run_dir / name).read_text().splitlines()]


def _ticks(run_dir: Path) -> list[dict]:
    return [r for r in _rows(run_dir) if "warning" not in r]


def _nimg(row) -> int:
    return int(round(row["kimg"] * 1000))


# ---------------------------------------------------------------------------------------------------------
# Validation.


def test_unknown_tracker_lists_the_choices():
    cfg = apply_overrides(get_preset("dcgan-tiny"), {"train.tracker": "comet"})
    with pytest.raises(GanforgeError, match=r"unknown train.tracker 'comet'; valid choices: none, tensorboard, wandb, "
                                            r"mlflow"):
        validate_experiment(cfg)


@pytest.mark.parametrize("name,package,extra", [("wandb", "wandb", "wandb"), ("mlflow", "mlflow", "mlflow"),
                                                ("tensorboard", "tensorboard", "tensorboard")])
def test_a_missing_tracker_package_is_refused_with_the_pip_command(monkeypatch, tmp_path, tiny_dataset, name,
                                                                    package, extra):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == package else real(n, *a))
    cfg = apply_overrides(get_preset("dcgan-tiny"), {"train.tracker": name})
    with pytest.raises(GanforgeError, match=rf"train.tracker={name} needs the {package} package: "
                                            rf"pip install 'ganforge\[{extra}\]', or set train.tracker=none"):
        validate_experiment(cfg)
    with pytest.raises(GanforgeError, match=rf"train.tracker={name} needs"):  # before any work
        ganforge.train(cfg, out=tmp_path / "runs", dataset=tiny_dataset)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_deprecated_tensorboard_flag_means_the_tensorboard_tracker_and_conflicts_with_another():
    base = get_preset("dcgan-tiny")
    assert resolved_tracker(base.train) == "none"
    flag = apply_overrides(base, {"train.tensorboard": True})
    assert resolved_tracker(flag.train) == "tensorboard"
    validate_experiment(flag)
    both = apply_overrides(base, {"train.tensorboard": True, "train.tracker": "tensorboard"})
    assert resolved_tracker(both.train) == "tensorboard"
    validate_experiment(both)
    for other in ("wandb", "mlflow"):
        cfg = apply_overrides(base, {"train.tensorboard": True, "train.tracker": other})
        with pytest.raises(GanforgeError, match=rf"train.tensorboard=true \(deprecated; it means "
                                                rf"train.tracker=tensorboard\) conflicts with train.tracker={other}"):
            validate_experiment(cfg)


def test_tracker_key_round_trips_and_old_configs_get_none():
    from ganforge.config import from_dict, to_dict

    cfg = apply_overrides(get_preset("dcgan-tiny"), ["train.tracker=mlflow"])
    assert cfg.train.tracker == "mlflow" and from_dict(to_dict(cfg)) == cfg
    old = to_dict(get_preset("dcgan-tiny"))
    del old["train"]["tracker"]  # a config.json written before the key existed
    assert from_dict(old).train.tracker == "none"
    assert Experiment().train.tracker == "none"


# ---------------------------------------------------------------------------------------------------------
# What a tracker is told, and when (a recording tracker in place of TensorBoard's).


class Recording(trackers.Tracker):
    name = "tensorboard"
    calls: list = []
    fail_at: str | None = None

    def __init__(self, run_dir, config):
        Recording.calls = [("open", Path(run_dir).name, config["train"]["batch_size"])]

    def log_scalars(self, scalars, step, wall_time=None):
        self._call("scalars", dict(scalars), step)

    def log_image(self, key, path, step):
        assert Path(path).is_file()
        self._call("image", key, Path(path).name, step)

    def log_metric_record(self, record, step):
        self._call("record", record["metric"], record["protocol"], step)

    def close(self, state="finished"):
        Recording.calls.append(("close", state))

    def _call(self, *call):
        Recording.calls.append(call)
        if call[0] == Recording.fail_at:
            raise ConnectionError("the server went away\n(second line)")


@pytest.fixture
def recording(monkeypatch):
    monkeypatch.setitem(trackers.TRACKER_CLASSES, "tensorboard", Recording)
    monkeypatch.setattr(Recording, "fail_at", None)
    Recording.calls = []
    return Recording


def test_the_tracker_gets_config_grids_scalars_records_and_the_end(tmp_path, tiny_dataset, recording):
    r = _train(tmp_path, tiny_dataset, **{"train.tracker": "tensorboard", **METRICS})
    calls = recording.calls
    assert calls[0] == ("open", r.run_dir.name, 8)
    assert calls[1] == ("image", "samples/reals", "reals.png", 0)
    assert calls[2] == ("image", "samples/fakes", "fakes000000.png", 0)
    ticks = _ticks(r.run_dir)
    scalars = [c for c in calls if c[0] == "scalars"]
    assert [c[2] for c in scalars] == [_nimg(t) for t in ticks] == [16, 32]
    for (_, logged, _), row in zip(scalars, ticks):
        assert logged == {k: v for k, v in row.items() if k not in ("kimg", "time")} and "G/adv" in logged
    assert ("record", "fid1k", "native", 32) in calls
    assert [c[2:] for c in calls if c[:2] == ("image", "samples/fakes")] == [("fakes000000.png", 0),
                                                                              ("fakes000000.016.png", 16),
                                                                              ("fakes000000.032.png", 32)]
    assert calls[-1] == ("close", "finished")


def test_a_tracker_failing_mid_run_is_one_warning_and_training_goes_on(tmp_path, tiny_dataset, recording, capfd):
    recording.fail_at = "scalars"
    r = _train(tmp_path, tiny_dataset, steps=6, **{"train.tracker": "tensorboard"})
    assert r.steps == 6 and not r.interrupted
    warnings = [row for row in _rows(r.run_dir) if "warning" in row]
    assert len(warnings) == 1 and warnings[0]["kimg"] == 0.016
    assert warnings[0]["warning"].startswith("train.tracker=tensorboard failed (the server went away (second line)); "
                                             "tracking is off for the rest of this run, which goes on")
    assert "ganforge: warning: train.tracker=tensorboard failed" in capfd.readouterr().err
    # Nothing after the failure but closing the tracker's run as failed; every tick is in stats.jsonl.
    first = recording.calls.index(next(c for c in recording.calls if c[0] == "scalars"))
    assert recording.calls[first + 1:] == [("close", "failed")]
    assert [_nimg(t) for t in _ticks(r.run_dir)] == [16, 32, 48]
    assert json.loads((r.run_dir / "status.json").read_text())["state"] == "finished"


def test_an_interrupted_run_closes_its_tracker_as_stopped(tmp_path, tiny_dataset, recording, monkeypatch):
    import os
    import signal

    from ganforge.training.trainer import Trainer

    real_step = Trainer.train_step

    def step(self, acc):
        if self.step == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, acc)

    monkeypatch.setattr(Trainer, "train_step", step)
    r = _train(tmp_path, tiny_dataset, **{"train.tracker": "tensorboard"})
    assert r.interrupted and recording.calls[-1] == ("close", "stopped")


# ---------------------------------------------------------------------------------------------------------
# A tracker that cannot start: one clear error before training, and no run directory left behind.


def test_wandb_that_cannot_start_is_one_clear_error(tmp_path, tiny_dataset, monkeypatch, wandb_env):
    monkeypatch.setenv("WANDB_MODE", "nonsense")  # W&B refuses its own settings: no network needed
    with pytest.raises(GanforgeError) as e:
        _train(tmp_path, tiny_dataset, **{"train.tracker": "wandb"})
    msg = str(e.value)
    assert msg.startswith("train.tracker=wandb: cannot start a W&B run (project 'ganforge'): ")
    assert "nonsense" in msg and "WANDB_MODE=offline" in msg and "\n" not in msg
    assert not any((tmp_path / "runs").iterdir())  # the new run's folder is removed again


def test_mlflow_that_cannot_reach_its_server_is_one_clear_error(tmp_path, tiny_dataset, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")  # nothing listens on port 1
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with pytest.raises(GanforgeError) as e:
        _train(tmp_path, tiny_dataset, **{"train.tracker": "mlflow"})
    msg = str(e.value)
    assert msg.startswith("train.tracker=mlflow: cannot start an MLflow run at tracking URI http://127.0.0.1:1 "
                          "(experiment 'ganforge'): ")
    assert "Set MLFLOW_TRACKING_URI" in msg and "\n" not in msg
    assert not any((tmp_path / "runs").iterdir())


# ---------------------------------------------------------------------------------------------------------
# W&B, offline: the run's .wandb file read back record by record.


@pytest.fixture
def wandb_env(tmp_path, monkeypatch):
    """W&B offline, every file of it in ``tmp_path``. W&B reads its environment once per process (a later
    change is ignored, with a warning), so its session is torn down before and after."""
    wandb = pytest.importorskip("wandb")
    wandb.teardown()
    _wandb_env(tmp_path, monkeypatch)
    yield wandb
    wandb.teardown()


def _wandb_env(tmp_path, monkeypatch):
    for k in ("WANDB_PROJECT", "WANDB_ENTITY", "WANDB_RUN_ID", "WANDB_RESUME", "WANDB_NAME", "WANDB_API_KEY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    for k, d in (("WANDB_DIR", "wandb-dir"), ("WANDB_CONFIG_DIR", "wandb-config"), ("WANDB_CACHE_DIR", "wandb-cache"),
                 ("WANDB_DATA_DIR", "wandb-data")):
        (tmp_path / d).mkdir(exist_ok=True)
        monkeypatch.setenv(k, str(tmp_path / d))


def _wandb_records(path: Path) -> list:
    """The protobuf records of a ``.wandb`` file. Its format is a LevelDB log: a 7-byte header (":W&B",
    magic 0xBEE1, version 0), then 32 KiB blocks of chunks, each with a 7-byte header (CRC32, length,
    type: 1 full, 2 first, 3 middle, 4 last). wandb >= 0.19 reads it only in its Go core, so here it is."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B" and struct.unpack("<H", data[4:6])[0] == 0xBEE1, data[:7]
    block, pos, out, partial = 32768, 7, [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # the block's tail is padding
            pos += block - pos % block
            continue
        _crc, n, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if n == 0 and kind == 0:
            pos += block - pos % block
            continue
        chunk, pos = data[pos + 7:pos + 7 + n], pos + 7 + n
        if kind == 1:
            out.append(chunk)
        elif kind == 2:
            partial = chunk
        elif kind == 3:
            partial += chunk
        elif kind == 4:
            out.append(partial + chunk)
    records = []
    for raw in out:
        rec = pb.Record()
        rec.ParseFromString(raw)
        records.append(rec)
    return records


def _item_key(item) -> str:
    return item.key or "/".join(item.nested_key)


def test_wandb_offline_run_holds_config_scalars_grids_and_records(tmp_path, tiny_dataset, wandb_env):
    r = _train(tmp_path, tiny_dataset, **{"train.tracker": "wandb", **METRICS})
    wandb_env.teardown()  # W&B's own process writes the .wandb file behind run.finish(); this waits for it
    folders = list((r.run_dir / "wandb").glob("offline-run-*"))
    assert len(folders) == 1
    files = list(folders[0].glob("*.wandb"))
    assert len(files) == 1
    records = _wandb_records(files[0])
    kinds = [rec.WhichOneof("record_type") for rec in records]
    deadline = time.monotonic() + 60
    while "exit" not in kinds and time.monotonic() < deadline:  # (its last record is "exit")
        time.sleep(0.2)
        records = _wandb_records(files[0])
        kinds = [rec.WhichOneof("record_type") for rec in records]

    run = next(rec.run for rec in records if rec.WhichOneof("record_type") == "run")
    assert run.display_name == r.run_dir.name and run.project == "ganforge"
    config = {u.key: json.loads(u.value_json) for u in run.config.update}
    assert config["train"]["tracker"] == "wandb" and config["train"]["batch_size"] == 8
    assert config["recipe"] == "gan" and config["metrics"]["names"] == ["fid1k"]

    history = {}
    for rec in records:
        if rec.WhichOneof("record_type") == "history":
            items = {_item_key(i): json.loads(i.value_json) for i in rec.history.item}
            history.setdefault(rec.history.step.num, {}).update(items)
    ticks = _ticks(r.run_dir)
    for row in ticks:
        logged = history[_nimg(row)]
        for k in ("G/adv", "D/adv", "img_per_s", "bad_steps"):
            assert logged[k] == pytest.approx(row[k]), k
    assert history[32]["metrics/fid1k"] == pytest.approx(ticks[-1]["metrics/fid1k"])
    assert "G/adv" not in history[0]  # the first grid is at 0 images, before any tick
    for step in (0, 16, 32):
        assert history[step]["samples/fakes/_type"] == "image-file"
    assert history[0]["samples/reals/_type"] == "image-file"
    assert len(list((folders[0] / "files" / "media" / "images" / "samples").glob("*.png"))) == 4

    summary = {}
    for rec in records:
        if rec.WhichOneof("record_type") == "summary":
            for u in rec.summary.update:
                summary[_item_key(u)] = json.loads(u.value_json)
    record = summary["metric_records/fid1k"]
    written = _rows(r.run_dir, "metrics.jsonl")[0]
    assert record["protocol"] == written["protocol"] == "native"
    assert record["extractor"] == "test-pool4" and record["value"] == pytest.approx(written["value"])
    assert summary["ganforge/state"] == "finished"
    exit_rec = next(rec.exit for rec in records if rec.WhichOneof("record_type") == "exit")
    assert exit_rec.exit_code == 0
    assert kinds.index("run") < kinds.index("history")


# ---------------------------------------------------------------------------------------------------------
# MLflow, on a local file store: read back through MlflowClient.


def test_mlflow_run_holds_params_metrics_images_and_records(tmp_path, tiny_dataset, monkeypatch):
    pytest.importorskip("mlflow")
    store = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow 3.x refuses a file store otherwise
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    r = _train(tmp_path, tiny_dataset, **{"train.tracker": "mlflow", **METRICS})

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store.as_uri())
    experiment = client.get_experiment_by_name("ganforge")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_name == r.run_dir.name and run.info.status == "FINISHED"
    assert run.data.tags["ganforge.run_dir"] == str(r.run_dir.absolute())
    params = run.data.params
    assert params["train.batch_size"] == "8" and params["train.tracker"] == "mlflow"
    assert params["recipe"] == "gan" and params["metrics.names"] == '["fid1k"]'
    assert params["optim.lr_decay_start_kimg"] == "null"

    ticks = _ticks(r.run_dir)
    for key in ("G/adv", "D/adv", "img_per_s"):
        history = client.get_metric_history(run.info.run_id, key)
        assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == \
            [(_nimg(t), pytest.approx(t[key])) for t in ticks]
    fid = client.get_metric_history(run.info.run_id, "metrics/fid1k")
    assert [(m.step, m.value) for m in fid] == [(32, pytest.approx(ticks[-1]["metrics/fid1k"]))]

    def paths(folder):
        return sorted(a.path for a in client.list_artifacts(run.info.run_id, folder))

    images = [p for p in paths("images") if p.endswith(".png")]
    assert sum("samples~fakes+step+" in p for p in images) == 3
    assert sum("samples~reals+step+0+" in p for p in images) == 1
    assert {int(p.split("+step+")[1].split("+")[0]) for p in images if "fakes" in p} == {0, 16, 32}
    assert paths("metric_records") == ["metric_records/fid1k-000000.032.json"]
    local = Path(client.download_artifacts(run.info.run_id, "metric_records/fid1k-000000.032.json", str(tmp_path)))
    record = json.loads(local.read_text())
    assert record == _rows(r.run_dir, "metrics.jsonl")[0]
    config = json.loads(Path(client.download_artifacts(run.info.run_id, "config.json", str(tmp_path))).read_text())
    assert config == json.loads((r.run_dir / "config.json").read_text())


def test_mlflow_params_longer_than_mlflow_allows_are_cut(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    store = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "ganforge-long")
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    config = {"data": {"name": "x" * (MAX_PARAM_VAL_LENGTH + 50), "root": None}, "k" * 300: 1,
              "metrics": {"names": ["a/b", "c"]}}
    t = trackers.open_tracker("mlflow", tmp_path / "00007-long", config)
    t.log_scalars({"a/b c:d": 1.0, "odd@key//x": 2.0}, 5)
    t.close("stopped")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store.as_uri())
    run = client.get_run(t.run_id)
    assert run.info.status == "KILLED" and run.info.run_name == "00007-long"
    name = run.data.params["data.name"]
    assert len(name) == MAX_PARAM_VAL_LENGTH and name.endswith("...")
    assert run.data.params["data.root"] == "null" and "k" * 300 not in run.data.params
    assert run.data.metrics == {"a/b c:d": 1.0, "odd_key/x": 2.0}


# ---------------------------------------------------------------------------------------------------------
# TensorBoard: the event files read back with TensorBoard's own reader.


@pytest.mark.parametrize("over", [{"train.tracker": "tensorboard"}, {"train.tensorboard": True}],
                         ids=["tracker", "deprecated-flag"])
def test_tensorboard_event_files_hold_scalars_and_grids(tmp_path, tiny_dataset, over):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    r = _train(tmp_path, tiny_dataset, **over)
    acc = EventAccumulator(str(r.run_dir / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    ticks = _ticks(r.run_dir)
    assert [(e.step, e.value) for e in acc.Scalars("G/adv")] == [(_nimg(t), pytest.approx(t["G/adv"])) for t in ticks]
    assert [e.step for e in acc.Images("samples/fakes")] == [0, 16, 32]
    assert [e.step for e in acc.Images("samples/reals")] == [0]


def test_tracker_names_are_the_config_choices():
    from ganforge.config import TRACKERS

    assert set(TRACKERS) == {"none", *trackers.TRACKER_CLASSES}
    assert replace(Experiment().train, tracker="wandb").tracker == "wandb"
