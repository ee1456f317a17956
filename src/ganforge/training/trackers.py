"""Experiment trackers (``train.tracker``): TensorBoard, Weights & Biases, MLflow.

A tracker receives a copy of what the run directory already records, so the run directory stays the
record of the run and a tracker is only a view of it:

* the resolved config, once, when it opens;
* every tick's scalars (the numbers of the ``stats.jsonl`` row, but ``kimg`` and ``time``), at step =
  images shown to G (``cur_nimg``), the unit every schedule of ganforge counts in;
* the sample grids (``samples/reals`` when training starts, ``samples/fakes`` every tick) as images;
* every metric record with its protocol (extractor, weights hash, sample sizes, seed, ...);
* how training ended (``close(state)``: "finished", "stopped" or "failed", as ``status.json`` says).

Only rank 0 tracks. The packages are optional extras, imported only by the tracker chosen
(``pip install 'ganforge[tensorboard]'``, ``'ganforge[wandb]'``, ``'ganforge[mlflow]'``);
``ganforge.validation`` checks that the package is there before any work.

Failures. A tracker that cannot start (no credentials, a server that does not answer, a bad setting
in the environment) stops the run before training with one ``TrackerError`` saying what to fix: a run
that was asked to be tracked is not trained untracked. A failure later, mid-run (the server went away,
a full disk under the tracker's folder), must not cost the training: ``StatsWriter.track`` says it
once as a warning (also a row of ``stats.jsonl``) and turns the tracker off for the rest of the run
(the failing call itself may take as long as the tracker's own retries, e.g. MLflow's
``MLFLOW_HTTP_REQUEST_MAX_RETRIES``). Training goes on; the run directory has everything.

Every process that trains (a new run, and each ``--resume`` of it) is one run of the tracker: W&B and
MLflow name it after the run folder, so the sessions of one ganforge run share a name. (Continuing the
same tracker run would need its steps to grow, which a resume from an older checkpoint breaks, and
MLflow refuses a param that changes within a run.)

* TensorBoard writes event files to ``<run>/tensorboard``: scalars, images, the config and metric
  records as text.
* W&B: ``wandb.init(project=$WANDB_PROJECT or "ganforge", dir=<run>, name=<run folder name>,
  config=<config>)``; the mode (online, offline, disabled), entity and credentials are W&B's own
  settings (``WANDB_MODE``, ``WANDB_ENTITY``, ``WANDB_API_KEY`` / ``wandb login``). Its files go to
  ``<run>/wandb/`` (``wandb sync <run>/wandb/offline-run-*`` uploads an offline run). Metric records go
  to the run's summary as ``metric_records/<metric>``, how training ended as ``ganforge/state``; the
  run finishes with exit code 0 (finished), 130 (stopped) or 1 (failed). W&B reads its environment
  once per process (``wandb.setup``): a later change of ``WANDB_*`` is ignored until ``wandb.teardown()``.
* MLflow: the tracking URI is MLflow's own (``MLFLOW_TRACKING_URI``), the experiment
  ``$MLFLOW_EXPERIMENT_NAME`` or "ganforge" (created if missing); params = the config flattened to
  dotted keys (values longer than MLflow allows are cut, with "..." at the end), grids through
  ``log_image`` (key and step), metric records as JSON artifacts ``metric_records/<metric>-<count>.json``
  and the whole config as ``config.json``. The run ends FINISHED, KILLED (stopped) or FAILED.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ganforge.config import flatten_dict
from ganforge.errors import GanforgeError
from ganforge.training import bookkeeping as bk

ENDED_STATES = ("finished", "stopped", "failed")


class TrackerError(GanforgeError):
    """A tracker could not start."""


def one_line(e: BaseException, limit: int = 500) -> str:
    """An exception's text on one line (its type name when it has none), at most ``limit`` characters."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _reason(e: BaseException) -> str:
    """``one_line(e)`` without a closing full stop, to be followed by one."""
    return one_line(e).rstrip(".") or type(e).__name__


def scalars_of(row: dict[str, Any]) -> dict[str, float]:
    """The numbers of a ``stats.jsonl`` row that a tracker plots (everything but ``kimg`` and ``time``)."""
    return {k: float(v) for k, v in row.items()
            if isinstance(v, (int, float)) and k not in ("kimg", "time")}


class Tracker:
    """What a run tells its tracker; this base class tracks nothing (``train.tracker=none``).

    A subclass opens its run in ``__init__(run_dir, config)``, logging ``config`` (the resolved
    experiment as plain JSON) there, once. Any method may raise: ``StatsWriter.track`` turns a failure
    into one warning."""

    name = "none"

    def log_scalars(self, scalars: dict[str, float], step: int, wall_time: float | None = None) -> None:
        """One tick's numbers (keys such as ``G/adv``, ``metrics/fid10k``) at ``step`` images."""

    def log_image(self, key: str, path: Path, step: int) -> None:
        """The PNG grid at ``path`` (written by the recorder) as image ``key`` at ``step``."""

    def log_metric_record(self, record: dict[str, Any], step: int) -> None:
        """One ``MetricRecord.to_dict()`` (value, protocol, extractor, sizes, seed, ...) plus its ``kimg``."""

    def close(self, state: str = "finished") -> None:
        """End the tracker's run; ``state`` is how training ended (``ENDED_STATES``)."""


def _read_rgb(path: Path):
    """The grid at ``path`` as a uint8 array [H, W, 3]."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _json_block(obj: Any) -> str:
    """Markdown (TensorBoard's text plugin) of an indented JSON dump."""
    return "\n".join("    " + line for line in json.dumps(obj, indent=2, sort_keys=True, default=str).splitlines())


class TensorBoardTracker(Tracker):
    name = "tensorboard"

    def __init__(self, run_dir: Path, config: dict[str, Any]):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TrackerError("train.tracker=tensorboard needs the tensorboard package: "
                               "pip install 'ganforge[tensorboard]'") from None
        self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"))
        self.writer.add_text("config", _json_block(config))

    def log_scalars(self, scalars, step, wall_time=None):
        for k, v in scalars.items():
            self.writer.add_scalar(k, v, global_step=step, walltime=wall_time)

    def log_image(self, key, path, step):
        self.writer.add_image(key, _read_rgb(path), global_step=step, dataformats="HWC")

    def log_metric_record(self, record, step):
        self.writer.add_text(f"metric_records/{record.get('metric')}", _json_block(record), global_step=step)

    def close(self, state="finished"):
        self.writer.close()


class WandbTracker(Tracker):
    name = "wandb"
    EXIT_CODES = {"finished": 0, "stopped": 130, "failed": 1}  # W&B marks a run with a nonzero code failed

    def __init__(self, run_dir: Path, config: dict[str, Any]):
        import wandb

        self.wandb = wandb
        project = os.environ.get("WANDB_PROJECT") or "ganforge"
        try:
            self.run = wandb.init(project=project, dir=str(run_dir), name=Path(run_dir).name, config=config)
        except Exception as e:
            raise TrackerError(f"train.tracker=wandb: cannot start a W&B run (project {project!r}): {_reason(e)}. "
                               f"Log in (wandb login, or WANDB_API_KEY), set WANDB_MODE=offline to track "
                               f"without a server (then wandb sync), or set train.tracker=none") from None

    def log_scalars(self, scalars, step, wall_time=None):
        self.run.log(dict(scalars), step=step)

    def log_image(self, key, path, step):
        self.run.log({key: self.wandb.Image(str(path))}, step=step)

    def log_metric_record(self, record, step):
        self.run.summary[f"metric_records/{record.get('metric')}"] = record

    def close(self, state="finished"):
        self.run.summary["ganforge/state"] = state
        self.run.finish(exit_code=self.EXIT_CODES.get(state, 1))


_MLFLOW_KEY_BAD = re.compile(r"[^\w\-. :/]")


def _mlflow_key(key: str) -> str:
    """A metric / image key MLflow accepts: letters, digits, ``_ - . space : /`` (others become ``_``), no
    empty path segment."""
    key = _MLFLOW_KEY_BAD.sub("_", key)
    return "/".join(part for part in key.split("/") if part not in ("", ".", "..")) or "_"


class MlflowTracker(Tracker):
    name = "mlflow"
    STATUSES = {"finished": "FINISHED", "stopped": "KILLED", "failed": "FAILED"}

    def __init__(self, run_dir: Path, config: dict[str, Any]):
        import inspect

        from mlflow.tracking import MlflowClient

        experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or "ganforge"
        uri = "(MLflow's default)"
        try:
            self.client = MlflowClient()
            uri = str(self.client.tracking_uri)
            found = self.client.get_experiment_by_name(experiment)
            if found is None:
                try:
                    experiment_id = self.client.create_experiment(experiment)
                except Exception:  # another process created it meanwhile
                    found = self.client.get_experiment_by_name(experiment)
                    if found is None:
                        raise
                    experiment_id = found.experiment_id
            else:
                experiment_id = found.experiment_id
            self.run_id = self.client.create_run(experiment_id, run_name=Path(run_dir).name,
                                                 tags={"ganforge.run_dir": str(Path(run_dir).absolute())}).info.run_id
        except Exception as e:
            raise TrackerError(f"train.tracker=mlflow: cannot start an MLflow run at tracking URI {uri} "
                               f"(experiment {experiment!r}): {_reason(e)}. Set MLFLOW_TRACKING_URI to a "
                               f"reachable server or store, or set train.tracker=none") from None
        self._image_steps = "key" in inspect.signature(self.client.log_image).parameters  # mlflow >= 2.12
        try:
            self._log_params(config)
            self.client.log_dict(self.run_id, config, "config.json")
        except Exception as e:
            try:
                self.client.set_terminated(self.run_id, "FAILED")
            except Exception:
                pass
            raise TrackerError(f"train.tracker=mlflow: cannot log the config to MLflow run {self.run_id} at "
                               f"{uri}: {one_line(e)}; set train.tracker=none to train without it") from None

    def _log_params(self, config: dict[str, Any]) -> None:
        from mlflow.entities import Param

        try:
            from mlflow.utils.validation import (
                MAX_ENTITY_KEY_LENGTH,
                MAX_PARAM_VAL_LENGTH,
                MAX_PARAMS_TAGS_PER_BATCH,
            )
        except ImportError:  # older or newer layouts: MLflow's smallest published limits
            MAX_ENTITY_KEY_LENGTH, MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH = 250, 500, 100
        params = []
        for k, v in flatten_dict(config).items():
            if len(k) > MAX_ENTITY_KEY_LENGTH:  # no config key is that long; skipped rather than cut
                continue
            text = v if isinstance(v, str) else json.dumps(v)
            if len(text) > MAX_PARAM_VAL_LENGTH:
                text = text[:MAX_PARAM_VAL_LENGTH - 3] + "..."
            params.append(Param(k, text))
        for i in range(0, len(params), MAX_PARAMS_TAGS_PER_BATCH):
            self.client.log_batch(self.run_id, params=params[i:i + MAX_PARAMS_TAGS_PER_BATCH])

    def log_scalars(self, scalars, step, wall_time=None):
        import time

        from mlflow.entities import Metric

        ms = int((wall_time if wall_time is not None else time.time()) * 1000)
        metrics = [Metric(_mlflow_key(k), v, ms, step) for k, v in scalars.items()]
        for i in range(0, len(metrics), 1000):  # MLflow's MAX_METRICS_PER_BATCH
            self.client.log_batch(self.run_id, metrics=metrics[i:i + 1000])

    def log_image(self, key, path, step):
        if self._image_steps:
            from PIL import Image

            with Image.open(path) as im:
                self.client.log_image(self.run_id, im.convert("RGB"), key=_mlflow_key(key), step=step)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path=bk.SAMPLES_DIR)

    def log_metric_record(self, record, step):
        name = re.sub(r"[^\w.+-]", "_", str(record.get("metric")))
        self.client.log_dict(self.run_id, record, f"metric_records/{name}-{bk.count_tag(step)}.json")

    def close(self, state="finished"):
        self.client.set_terminated(self.run_id, self.STATUSES.get(state, "FAILED"))


TRACKER_CLASSES: dict[str, type[Tracker]] = {
    "tensorboard": TensorBoardTracker,
    "wandb": WandbTracker,
    "mlflow": MlflowTracker,
}


def open_tracker(name: str, run_dir: Path, config: dict[str, Any]) -> Tracker | None:
    """The tracker ``name`` (``train.tracker``) of the run in ``run_dir``, opened, with ``config`` logged;
    None for "none". A failure to start is one ``TrackerError``."""
    if name == "none":
        return None
    cls = TRACKER_CLASSES.get(name)
    if cls is None:
        raise TrackerError(f"unknown train.tracker {name!r}; valid choices: none, " + ", ".join(TRACKER_CLASSES))
    try:
        return cls(Path(run_dir), config)
    except GanforgeError:
        raise
    except ImportError as e:
        raise TrackerError(f"train.tracker={name} cannot import its package ({one_line(e)}): "
                           f"pip install 'ganforge[{name}]', or set train.tracker=none") from None
    except Exception as e:
        raise TrackerError(f"train.tracker={name}: cannot start the tracker: {one_line(e)}; "
                           f"set train.tracker=none to train without it") from None
