"""Optional MLflow tracking: a training run logged to a local store, checkpoint bytes unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from beamnet.config import model_encoding
from beamnet.tracking import experiment_name, flatten, tracking_uri
from beamnet.train import train_model

mlflow = pytest.importorskip("mlflow", reason="mlflow-skinny is in requirements/main.txt")


def _train(config, caches, out: Path, store: Path | None) -> tuple[Path, Path]:
    encoding = model_encoding(config, "ann_mlp", "digits")
    checkpoint, history = out / "seed=0.pt", out / "seed=0_history.csv"
    train_model(
        config,
        "digits",
        "ann_mlp",
        0,
        caches[f"{encoding}/train"],
        caches[f"{encoding}/val"],
        checkpoint,
        history,
        mlflow_store=store,
    )
    return checkpoint, history


def test_flatten_gives_dotted_leaves() -> None:
    assert list(flatten({"b": {"y": 2, "x": {}}, "a": 1})) == [("a", 1), ("b.x", {}), ("b.y", 2)]


def test_training_run_is_logged_with_params_metrics_provenance_and_checkpoint(
    tiny_training_config, digits_caches, tmp_path
) -> None:
    store = tmp_path / "mlflow"
    tracked, history_path = _train(tiny_training_config, digits_caches, tmp_path / "tracked", store)
    untracked, _ = _train(tiny_training_config, digits_caches, tmp_path / "plain", None)
    assert tracked.read_bytes() == untracked.read_bytes(), "tracking changed the checkpoint"

    client = mlflow.MlflowClient(tracking_uri(store))
    experiment = client.get_experiment_by_name(experiment_name("digits"))
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "ann_mlp/seed=0"
    epochs = int(tiny_training_config["train"]["epochs"])
    assert run.data.params["train.epochs"] == str(epochs)
    assert run.data.params["train.learning_rate"] == json.dumps(tiny_training_config["train"]["learning_rate"])

    history = pl.read_csv(history_path)
    logged = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [metric.step for metric in logged] == history["epoch"].to_list()
    assert [metric.value for metric in logged] == pytest.approx(history["val_accuracy"].to_list())
    assert "calibration.scale" in run.data.metrics
    assert run.data.tags["model"] == "ann_mlp" and run.data.tags["seed"] == "0"
    assert run.data.tags["selected_epoch"] == str(history.filter(pl.col("selected"))["epoch"].item())
    assert len(run.data.tags["provenance.config_hash"]) > 0

    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert artifacts == {"seed=0.pt", "seed=0_history.csv", "provenance.json"}
    local = Path(client.download_artifacts(run.info.run_id, "seed=0.pt", str(tmp_path / "download")))
    assert local.read_bytes() == tracked.read_bytes()


def test_second_run_joins_the_same_experiment(tiny_training_config, digits_caches, tmp_path) -> None:
    store = tmp_path / "mlflow"
    _train(tiny_training_config, digits_caches, tmp_path / "one", store)
    _train(tiny_training_config, digits_caches, tmp_path / "two", store)
    client = mlflow.MlflowClient(tracking_uri(store))
    experiment = client.get_experiment_by_name(experiment_name("digits"))
    assert len(client.search_runs([experiment.experiment_id])) == 2


def test_workflow_passes_the_store_only_when_switched_on() -> None:
    """tracking.mlflow reaches train_model's command line; off by default."""
    from workflow_helpers import snakemake

    target = "results/checkpoints/digits/ann_mlp/seed=0.pt"
    off = snakemake("-n", "-p", "--forcerun", "train_model", target)
    on = snakemake("-n", "-p", "--forcerun", "train_model", target, "--config", "tracking={mlflow: true}")
    assert off.returncode == 0 and on.returncode == 0, off.stdout[-2000:] + on.stdout[-2000:]
    assert "python -m beamnet train" in off.stdout and "--mlflow-store" not in off.stdout
    assert "--mlflow-store results/mlflow" in on.stdout
