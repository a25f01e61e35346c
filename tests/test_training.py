"""Training: byte-identical checkpoints, resumption, divergence handling, recorded history."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import torch

import beamnet.train as training
from beamnet.config import model_encoding
from beamnet.io import load_torch_file
from beamnet.train import TrainingDiverged, train_model


def _train(config, caches, out: Path, model: str = "beam_net", seed: int = 0, **kwargs) -> Path:
    encoding = model_encoding(config, model, "digits")
    checkpoint = out / f"{model}_seed={seed}.pt"
    train_model(
        config,
        "digits",
        model,
        seed,
        caches[f"{encoding}/train"],
        caches[f"{encoding}/val"],
        checkpoint,
        out / f"{model}_seed={seed}_history.csv",
        threads=1,
        **kwargs,
    )
    return checkpoint


@pytest.mark.parametrize("model", ["beam_net", "ann_mlp", "rate_snn"])
def test_same_config_and_seed_give_identical_bytes(tiny_training_config, digits_caches, tmp_path, model) -> None:
    """Same config + seed -> byte-identical checkpoint on CPU; another seed -> different weights."""
    first = _train(tiny_training_config, digits_caches, tmp_path / "a", model)
    second = _train(tiny_training_config, digits_caches, tmp_path / "b", model)
    other = _train(tiny_training_config, digits_caches, tmp_path / "c", model, seed=1)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_killed_run_resumes_to_the_same_bytes(tiny_training_config, digits_caches, tmp_path) -> None:
    """A run stopped after one epoch resumes from its state and ends byte-identical."""
    reference = _train(tiny_training_config, digits_caches, tmp_path / "full")
    interrupted = tmp_path / "cut"
    partial = _train(tiny_training_config, digits_caches, interrupted, stop_after_epochs=1)
    assert not partial.exists()
    assert partial.with_name(partial.name + ".resume").exists()
    resumed = _train(tiny_training_config, digits_caches, interrupted)
    assert resumed.read_bytes() == reference.read_bytes()
    assert not resumed.with_name(resumed.name + ".resume").exists()


def test_non_finite_loss_stops_without_checkpoint(tiny_training_config, digits_caches, tmp_path, monkeypatch) -> None:
    """A NaN loss raises a clear error and leaves no checkpoint or history behind."""
    real_run_batch = training.run_batch

    def poisoned(*args, **kwargs):
        result = real_run_batch(*args, **kwargs)
        result.loss = result.loss * float("nan")
        return result

    monkeypatch.setattr(training, "run_batch", poisoned)
    with pytest.raises(TrainingDiverged, match="loss became nan in epoch 1"):
        _train(tiny_training_config, digits_caches, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_records_history_and_provenance(tiny_training_config, digits_caches, tmp_path) -> None:
    """The checkpoint holds one history row per epoch, the calibration, and provenance."""
    checkpoint = _train(tiny_training_config, digits_caches, tmp_path)
    payload = load_torch_file(checkpoint)
    epochs = tiny_training_config["train"]["epochs"]
    assert [row["epoch"] for row in payload["history"]] == list(range(1, epochs + 1))
    assert {"git_commit", "config_hash", "packages"} <= set(payload["provenance"])
    assert payload["dataset"] == "digits" and payload["model"] == "beam_net"
    assert payload["calibration"]["scale"] > 0 and payload["calibration"]["power"] > 0
    history = pl.read_csv(tmp_path / "beam_net_seed=0_history.csv")
    assert history.height == epochs
    assert {
        "train_loss",
        "val_loss",
        "val_accuracy",
        "val_ece",
        "val_activity",
        "val_iterations",
        "wall_time_s",
    } <= set(history.columns)
    assert history["val_iterations"].max() <= tiny_training_config["model"]["beam_net"]["loop"]["max_iterations"]


def test_caches_from_another_dataset_are_refused(tiny_training_config, digits_caches, tmp_path) -> None:
    with pytest.raises(ValueError, match="expected 'nmnist'"):
        train_model(
            tiny_training_config,
            "nmnist",
            "ann_mlp",
            0,
            digits_caches["latency/train"],
            digits_caches["latency/val"],
            tmp_path / "x.pt",
            tmp_path / "x.csv",
        )


def test_best_validation_epoch_is_kept(tiny_training_config, digits_caches, tmp_path) -> None:
    """select_best_epoch: the checkpoint is the epoch with the highest val accuracy (ties: lower
    val loss, then earlier), and the history marks it; without it, the last epoch is kept."""
    checkpoint = _train(tiny_training_config, digits_caches, tmp_path / "best")
    payload = load_torch_file(checkpoint)
    history = payload["history"]
    best = max(history, key=lambda row: (row["val_accuracy"], -row["val_loss"], -row["epoch"]))
    assert payload["selected_epoch"] == best["epoch"]
    table = pl.read_csv(tmp_path / "best" / "beam_net_seed=0_history.csv")
    assert table.filter(pl.col("selected"))["epoch"].to_list() == [best["epoch"]]

    last_config = {**tiny_training_config, "train": {**tiny_training_config["train"], "select_best_epoch": False}}
    last = load_torch_file(_train(last_config, digits_caches, tmp_path / "last"))
    assert last["selected_epoch"] == tiny_training_config["train"]["epochs"]


def test_epoch_comparison_rule() -> None:
    assert training.is_better_epoch({"accuracy": 0.5, "loss": 1.0}, None)
    assert training.is_better_epoch({"accuracy": 0.6, "loss": 9.0}, {"accuracy": 0.5, "loss": 1.0})
    assert training.is_better_epoch({"accuracy": 0.5, "loss": 0.9}, {"accuracy": 0.5, "loss": 1.0})
    assert not training.is_better_epoch({"accuracy": 0.5, "loss": 1.0}, {"accuracy": 0.5, "loss": 1.0})


def test_calibration_fits_scale_and_power_without_changing_predictions(
    tiny_training_config, digits_caches, tmp_path
) -> None:
    """BEAM-Net's calibration map alpha = alpha_0 + eta * s * e**gamma is fitted on val by NLL:
    its val NLL is no worse than the best scale alone (gamma = 1) and the predicted classes
    are unchanged."""
    from beamnet.evaluate import load_checkpoint, restore_model
    from beamnet.models.encoder import load_cache

    checkpoint = _train(tiny_training_config, digits_caches, tmp_path)
    val = load_cache(digits_caches[f"{model_encoding(tiny_training_config, 'beam_net', 'digits')}/val"])
    model = restore_model(load_checkpoint(checkpoint, "digits", "beam_net", val), tiny_training_config, checkpoint)

    def val_nll_and_prediction() -> tuple[float, torch.Tensor]:
        with torch.no_grad():
            probabilities = model(val.spike_times, val.active).probabilities
        return float(-torch.log(probabilities.gather(1, val.labels[:, None])).mean()), probabilities.argmax(1)

    fitted = training.calibrate(model, val, tiny_training_config["train"])
    nll, prediction = val_nll_and_prediction()
    assert fitted["power"] in training.EVIDENCE_POWER_GRID.tolist()
    training.EVIDENCE_POWER_GRID, saved = torch.ones(1), training.EVIDENCE_POWER_GRID
    try:
        scale_only = training.calibrate(model, val, tiny_training_config["train"])
        scale_only_nll, scale_only_prediction = val_nll_and_prediction()
    finally:
        training.EVIDENCE_POWER_GRID = saved
    assert scale_only["power"] == 1.0
    assert nll <= scale_only_nll + 1e-9
    assert torch.equal(prediction, scale_only_prediction)


def test_calibration_fits_the_monte_carlo_predictive_that_evaluation_reports(
    tiny_training_config, digits_caches, tmp_path
) -> None:
    """With P passes, the map is fitted to evaluation's predictive, the mean over P passes of
    sampled spikes: on those same draws its NLL is no worse than that of the map fitted to the
    mean-field pass, and the same generator seed gives the same map."""
    from beamnet.evaluate import load_checkpoint, restore_model
    from beamnet.models.encoder import load_cache

    checkpoint = _train(tiny_training_config, digits_caches, tmp_path)
    val = load_cache(digits_caches[f"{model_encoding(tiny_training_config, 'beam_net', 'digits')}/val"])
    model = restore_model(load_checkpoint(checkpoint, "digits", "beam_net", val), tiny_training_config, checkpoint)
    passes = 4

    def monte_carlo_nll() -> float:
        generator = torch.Generator().manual_seed(7)
        with torch.no_grad():
            probabilities = (
                sum(
                    model(val.spike_times, val.active, stochastic=True, generator=generator).probabilities
                    for _ in range(passes)
                )
                / passes
            )
        return float(-torch.log(probabilities.gather(1, val.labels[:, None])).mean())

    training.calibrate(model, val, tiny_training_config["train"], batch_size=len(val))  # the mean-field map
    mean_field_nll = monte_carlo_nll()
    sampled = training.calibrate(
        model,
        val,
        tiny_training_config["train"],
        batch_size=len(val),
        passes=passes,
        generator=torch.Generator().manual_seed(7),
    )
    sampled_nll = monte_carlo_nll()
    again = training.calibrate(
        model,
        val,
        tiny_training_config["train"],
        batch_size=len(val),
        passes=passes,
        generator=torch.Generator().manual_seed(7),
    )
    assert sampled == again
    assert sampled_nll <= mean_field_nll + 1e-9


def test_resume_state_of_another_checkpoint_format_is_ignored(tiny_training_config, digits_caches, tmp_path) -> None:
    """A resume file written with another checkpoint format (e.g. the (N, D) layout of format 1)
    is not loaded: training starts again and still ends with the reference bytes."""
    reference = _train(tiny_training_config, digits_caches, tmp_path / "full")
    partial = _train(tiny_training_config, digits_caches, tmp_path / "cut", stop_after_epochs=1)
    resume = partial.with_name(partial.name + ".resume")
    state = load_torch_file(resume)
    state["format_version"] = training.CHECKPOINT_FORMAT - 1
    state["model_state"] = {
        key: torch.full_like(value, float("nan")) if value.is_floating_point() else value
        for key, value in state["model_state"].items()
    }
    torch.save(state, resume)
    resumed = _train(tiny_training_config, digits_caches, tmp_path / "cut")
    assert resumed.read_bytes() == reference.read_bytes()


class _RunsCodeWhenUnpickled:
    """A pickled object whose unpickling would write ``marker``: what a tampered checkpoint carries."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


@pytest.mark.parametrize("kind", ["checkpoint", "resume"])
def test_a_file_carrying_a_foreign_pickled_object_is_refused(
    tiny_training_config, digits_caches, tmp_path, kind
) -> None:
    """Checkpoints and resume files are read with ``weights_only=True``: the workflow's own load
    (evaluation's checkpoint reader, training's resume) refuses a file that carries any other
    pickled object, names the file, and never runs the object's code."""
    from beamnet.evaluate import load_checkpoint
    from beamnet.models.encoder import load_cache

    cut = _train(tiny_training_config, digits_caches, tmp_path, stop_after_epochs=1 if kind == "resume" else None)
    target = cut.with_name(cut.name + ".resume") if kind == "resume" else cut
    payload = load_torch_file(target)  # the workflow's own file loads under the same rule
    marker = tmp_path / "code_ran"
    payload["provenance" if kind == "checkpoint" else "history"] = _RunsCodeWhenUnpickled(marker)
    torch.save(payload, target)
    with pytest.raises(ValueError, match=rf"'{target}' holds objects other than tensors and plain types"):
        if kind == "checkpoint":
            val = load_cache(digits_caches[f"{model_encoding(tiny_training_config, 'beam_net', 'digits')}/val"])
            load_checkpoint(target, "digits", "beam_net", val)
        else:
            _train(tiny_training_config, digits_caches, tmp_path)
    assert not marker.exists()
