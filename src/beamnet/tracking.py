"""Optional MLflow tracking of training runs in a local store (no server).

With ``tracking.mlflow: true`` every ``train_model`` job, once its checkpoint and history are
written, logs one MLflow run into ``tracking.store`` (default ``results/mlflow``): an SQLite
database ``mlflow.db`` beside an ``artifacts/`` folder. Open it with
``mlflow ui --backend-store-uri sqlite:///results/mlflow/mlflow.db``.

Each run holds
- parameters: the training job's configuration flattened to dotted keys (``train.epochs``),
- metrics: every column of the per-epoch history at ``step = epoch``, and the calibration map,
- tags: dataset, model, seed, selected epoch and the provenance record (git commit, config hash),
- artifacts: the checkpoint, the history CSV and the provenance as JSON.

Tracking is a side record: it is written after the checkpoint, never changes its bytes, and a
lock file serialises parallel jobs that share the store (SQLite allows one writer at a time).
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DATABASE = "mlflow.db"
ARTIFACTS = "artifacts"
LOCK = ".lock"
# MLflow's limits on one parameter value and on entries per log_batch call
MAX_PARAM_CHARS = 6000
BATCH = 900


def flatten(settings: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested mappings -> (dotted key, leaf value) pairs, in key order."""
    for key in sorted(settings):
        value = settings[key]
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from flatten(value, f"{dotted}.")
        else:
            yield dotted, value


def tracking_uri(store: Path) -> str:
    """The SQLite backend URI of the store folder (absolute, so any working directory works)."""
    return "sqlite:///" + str((Path(store) / DATABASE).absolute())


def experiment_name(dataset: str) -> str:
    return f"beamnet/{dataset}"


def log_training_run(
    store: Path,
    *,
    dataset: str,
    model_name: str,
    seed: int,
    config: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    calibration: Mapping[str, float],
    selected_epoch: int,
    provenance: Mapping[str, Any],
    artifacts: Sequence[Path],
) -> str:
    """Log one finished training run into the MLflow store at ``store``; return its run id."""
    try:
        import mlflow
        from filelock import FileLock
        from mlflow.entities import Metric, Param, RunTag
    except ImportError as error:  # pragma: no cover - both are in requirements/main.txt
        raise RuntimeError(
            f"tracking.mlflow is true but {error.name} is not installed (requirements/main.txt lists it)"
        ) from error

    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)
    params = [Param(key, json.dumps(value) if not isinstance(value, str) else value) for key, value in flatten(config)]
    too_long = [param.key for param in params if len(param.value) > MAX_PARAM_CHARS]
    if too_long:
        raise ValueError(f"config keys {too_long} are longer than MLflow's {MAX_PARAM_CHARS}-character parameter limit")
    metrics = [
        Metric(key, float(value), 0, int(row["epoch"]))
        for row in history
        for key, value in row.items()
        if key != "epoch" and isinstance(value, int | float) and math.isfinite(float(value))
    ]
    metrics += [Metric(f"calibration.{key}", float(value), 0, 0) for key, value in sorted(calibration.items())]
    tags = {
        "dataset": dataset,
        "model": model_name,
        "seed": str(seed),
        "selected_epoch": str(selected_epoch),
        **{f"provenance.{key}": str(value) for key, value in flatten(provenance) if key != "packages"},
    }
    with FileLock(str(store / LOCK)):
        client = mlflow.MlflowClient(tracking_uri(store))
        name = experiment_name(dataset)
        experiment = client.get_experiment_by_name(name)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else client.create_experiment(name, artifact_location=(store / ARTIFACTS / dataset).absolute().as_uri())
        )
        run = client.create_run(experiment_id, run_name=f"{model_name}/seed={seed}")
        run_id = run.info.run_id
        try:
            for start in range(0, len(params), BATCH):
                client.log_batch(run_id, params=params[start : start + BATCH])
            for start in range(0, len(metrics), BATCH):
                client.log_batch(run_id, metrics=metrics[start : start + BATCH])
            client.log_batch(run_id, tags=[RunTag(key, value) for key, value in tags.items()])
            for path in artifacts:
                client.log_artifact(run_id, str(path))
            with tempfile.TemporaryDirectory() as folder:
                record = Path(folder) / "provenance.json"
                record.write_text(json.dumps(provenance, sort_keys=True, indent=1))
                client.log_artifact(run_id, str(record))
        except Exception:
            client.set_terminated(run_id, status="FAILED")
            raise
        client.set_terminated(run_id)
    log.info("MLflow run %s (%s, %s) logged to %s", run_id, name, run.info.run_name, store)
    return run_id
