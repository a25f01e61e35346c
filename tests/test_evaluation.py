"""Evaluation: metrics against independent computations, Parquet layout, summary statistics,
claims, the DuckDB catalog, and refusal of mismatched checkpoints."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import torch
from conftest import REPO_ROOT, tiny_config
from scipy import special, stats

from beamnet.catalog import build_catalog, migrations
from beamnet.config import model_encoding
from beamnet.energy import PLATFORMS, inference_energy_nj
from beamnet.evaluate import evaluate_checkpoint
from beamnet.metrics import brier_score, expected_calibration_error, negative_log_likelihood
from beamnet.models.dirichlet import dirichlet_uncertainty
from beamnet.summarise import headline_markdown, metrics_per_seed, summarise
from beamnet.train import train_model


def _random_predictions(seed: int, n: int = 600, k: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    probabilities = torch.softmax(3.0 * torch.randn(n, k, generator=generator), 1)
    labels = torch.randint(0, k, (n,), generator=generator)
    return probabilities, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ece_matches_torchmetrics(seed: int) -> None:
    """ECE (15 equal-width bins) equals torchmetrics' multiclass CalibrationError (l1)."""
    from torchmetrics.classification import MulticlassCalibrationError

    probabilities, labels = _random_predictions(seed)
    reference = MulticlassCalibrationError(num_classes=10, n_bins=15, norm="l1")(probabilities, labels)
    assert expected_calibration_error(probabilities, labels, 15) == pytest.approx(float(reference), abs=1e-6)


def test_nll_and_brier_by_hand() -> None:
    probabilities = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    labels = torch.tensor([0, 1])
    assert negative_log_likelihood(probabilities, labels) == pytest.approx(-(math.log(0.7) + math.log(0.1)) / 2)
    assert brier_score(probabilities, labels) == pytest.approx(((0.09 + 0.04 + 0.01) + (0.01 + 0.81 + 0.64)) / 2)


def test_uncertainty_decomposition_against_scipy() -> None:
    """Eq. 15's aleatoric term equals scipy's E[H] of a Dirichlet, computed independently."""
    alpha = np.array([[3.0, 1.0, 0.5, 2.0], [10.0, 10.0, 10.0, 10.0], [0.2, 0.3, 40.0, 1.0]])
    ours = dirichlet_uncertainty(torch.tensor(alpha))
    precision = alpha.sum(1, keepdims=True)
    expected_entropy = (
        special.digamma(precision + 1) - (alpha / precision * special.digamma(alpha + 1)).sum(1, keepdims=True)
    )[:, 0]
    np.testing.assert_allclose(ours.aleatoric.numpy(), expected_entropy, rtol=1e-10)
    mean = alpha / precision
    np.testing.assert_allclose(ours.total.numpy(), stats.entropy(mean, axis=1), rtol=1e-10)


@pytest.mark.parametrize("seed", [0, 3])
def test_reliability_bins_sum_to_the_ece(seed: int) -> None:
    """The reliability table the calibration figure draws has the ECE's bins: shares sum to one,
    per-bin gaps sum to expected_calibration_error, and each bin's mean confidence lies in it."""
    from beamnet.metrics import ece_by_group, reliability_bins

    probabilities, labels = _random_predictions(seed, n=400)
    confidence, prediction = probabilities.max(1)
    frame = pl.DataFrame(
        {
            "group": ["a"] * 200 + ["b"] * 200,
            "confidence": confidence.double().numpy(),
            "ok": (prediction == labels).numpy(),
        }
    )
    bins = reliability_bins(frame, "confidence", pl.col("ok"), 15, ["group"])
    assert bins.group_by("group").agg(pl.col("weight").sum())["weight"].to_list() == pytest.approx([1.0, 1.0])
    assert ((bins["confidence"] > bins["lower"]) & (bins["confidence"] <= bins["upper"])).all()
    ece = dict(ece_by_group(bins, ["group"]).iter_rows())
    for group, rows in (("a", slice(0, 200)), ("b", slice(200, 400))):
        assert ece[group] == pytest.approx(
            expected_calibration_error(probabilities[rows].double(), labels[rows], 15), abs=1e-12
        )


def test_ece_computed_in_polars_matches_torch() -> None:
    """The summarise stage's Polars ECE equals metrics.expected_calibration_error."""
    probabilities, labels = _random_predictions(5, n=300)
    frame = pl.DataFrame({f"prob_{c}": probabilities[:, c].double().numpy() for c in range(10)}).with_columns(
        dataset=pl.lit("d"),
        model=pl.lit("m"),
        seed=pl.lit(0, dtype=pl.Int64),
        label=pl.Series(labels.numpy()),
        confidence=pl.Series(probabilities.max(1).values.double().numpy()),
        is_correct=pl.Series((probabilities.argmax(1) == labels).numpy()),
        activity_fraction=pl.lit(0.1),
        energy_nj=pl.lit(1.0),
        synaptic_ops=pl.lit(1.0),
        macs=pl.lit(0.0),
        loop_iterations=pl.lit(1),
        loop_converged=pl.lit(True),
        loop_energy_max_increase=pl.lit(0.0),
        epistemic_uncertainty=pl.lit(0.1),
        aleatoric_uncertainty=pl.lit(0.2),
    )
    row = metrics_per_seed(frame, 15).row(0, named=True)
    assert row["ece"] == pytest.approx(expected_calibration_error(probabilities.double(), labels, 15), abs=1e-9)
    assert row["nll"] == pytest.approx(negative_log_likelihood(probabilities.double(), labels), abs=1e-9)
    assert row["brier"] == pytest.approx(brier_score(probabilities.double(), labels), abs=1e-9)


def test_summary_mean_and_confidence_interval_by_hand() -> None:
    """Mean, sample std and the t-based 95 % CI over three seeds, checked against hand arithmetic."""
    accuracies = [0.90, 0.94, 0.95]
    per_seed = pl.DataFrame({"dataset": ["d"] * 3, "model": ["m"] * 3, "seed": [0, 1, 2], "accuracy": accuracies})
    for column in [
        "ece",
        "nll",
        "brier",
        "activity",
        "energy_nj",
        "mean_iterations",
        "epistemic_incorrect",
        "epistemic_correct",
        "aleatoric_incorrect",
        "aleatoric_correct",
    ]:
        per_seed = per_seed.with_columns(pl.lit(1.0).alias(column))
    row = summarise(per_seed).row(0, named=True)
    mean = sum(accuracies) / 3
    std = math.sqrt(sum((a - mean) ** 2 for a in accuracies) / 2)
    assert row["accuracy_mean"] == pytest.approx(mean)
    assert row["accuracy_std"] == pytest.approx(std)
    assert row["accuracy_ci95"] == pytest.approx(4.302652729911275 * std / math.sqrt(3))  # t_{0.975, 2}
    assert "93.00 % ± " in headline_markdown(summarise(per_seed))


def test_energy_arithmetic_on_known_counts() -> None:
    """Eq. 25 on a known count: 1000 synops, 200 updates (10 spiking), 10 spikes on Loihi."""
    counts = {"synops": 1000, "neuron_updates": 200, "active_updates": 10, "spikes": 10}
    expected_pj = 1000 * 23.6 + 190 * 52.0 + 10 * 81.0 + 10 * 1.7
    assert inference_energy_nj(counts, "loihi") == pytest.approx(expected_pj / 1000)
    # 100 fp32 MACs and reads from a 32 kB memory (8192 words: 10 pJ per 32-bit read, Horowitz 2014)
    assert inference_energy_nj({"macs": 100, "memory_reads": 100}, "cmos45_fp32", 8192) == pytest.approx(1.46)
    assert PLATFORMS["cmos45_int8"].mac_pj < PLATFORMS["cmos45_fp32"].mac_pj


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, digits_caches, _default_config):
    """Two tiny trained models evaluated into a Hive-partitioned folder."""
    config = tiny_config(_default_config, epochs=2, mc_passes=2)
    root = tmp_path_factory.mktemp("evaluated")
    outputs = {}
    for model in ("beam_net", "ann_mlp"):
        encoding = model_encoding(config, model, "digits")
        checkpoint = root / "checkpoints" / f"{model}.pt"
        train_model(
            config,
            "digits",
            model,
            0,
            digits_caches[f"{encoding}/train"],
            digits_caches[f"{encoding}/val"],
            checkpoint,
            root / "checkpoints" / f"{model}_history.csv",
        )
        output = root / "predictions" / "dataset=digits" / f"model={model}" / "seed=0" / "predictions.parquet"
        evaluate_checkpoint(config, "digits", model, 0, checkpoint, digits_caches[f"{encoding}/test"], output)
        outputs[model] = (checkpoint, output)
    return config, root, outputs


def test_prediction_parquet_schema_and_partitioning(evaluated) -> None:
    """One row per test sample, the documented columns, ZSTD, provenance, Hive keys from the path."""
    _, root, outputs = evaluated
    _, path = outputs["beam_net"]
    metadata = pq.read_metadata(path)
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert b"provenance" in metadata.metadata
    frame = pl.read_parquet(root / "predictions" / "**" / "*.parquet", hive_partitioning=True)
    assert set(frame["model"].unique()) == {"beam_net", "ann_mlp"}
    assert {
        "sample_id",
        "split",
        "label",
        "prediction",
        "confidence",
        "is_correct",
        "total_uncertainty",
        "aleatoric_uncertainty",
        "epistemic_uncertainty",
        "loop_iterations",
        "spike_count",
        "activity_fraction",
        "synaptic_ops",
        "energy_nj",
    } <= set(frame.columns)
    beam = frame.filter(pl.col("model") == "beam_net")
    probabilities = beam.select([f"prob_{c}" for c in range(10)]).to_numpy()
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-6)
    assert (beam["aleatoric_uncertainty"] >= 0).all() and (beam["epistemic_uncertainty"] >= 0).all()
    assert (
        (beam["total_uncertainty"] - beam["aleatoric_uncertainty"] - beam["epistemic_uncertainty"]).abs() < 1e-9
    ).all()
    assert (beam["total_uncertainty"] <= math.log(10) + 1e-9).all()


def test_calibration_never_moves_a_prediction(evaluated) -> None:
    """The map is one increasing function of each class's evidence (or logit), applied to the
    averaged Monte-Carlo evidence: the arg-max before and after it is the same on every sample,
    and both models' files hold the same columns (the loop's are null for a baseline)."""
    _, _, outputs = evaluated
    frames = {model: pl.read_parquet(path) for model, (_, path) in outputs.items()}
    assert frames["beam_net"].columns == frames["ann_mlp"].columns
    for model, frame in frames.items():
        assert (frame["uncalibrated_prediction"] == frame["prediction"]).all(), model
        assert frame["uncalibrated_confidence"].is_between(0.0, 1.0).all()
    beam = frames["beam_net"]
    assert beam["loop_settled_uncapped"].null_count() == 0
    assert frames["ann_mlp"]["loop_iterations_uncapped"].null_count() == frames["ann_mlp"].height


def test_reevaluating_one_seed_touches_only_its_partition(evaluated, digits_caches) -> None:
    config, root, outputs = evaluated
    checkpoint, path = outputs["ann_mlp"]
    other = outputs["beam_net"][1]
    before = other.stat().st_mtime_ns, other.read_bytes()
    first = path.read_bytes()
    evaluate_checkpoint(config, "digits", "ann_mlp", 0, checkpoint, digits_caches["latency/test"], path)
    assert path.read_bytes() == first  # deterministic
    assert (other.stat().st_mtime_ns, other.read_bytes()) == before


def test_mismatched_checkpoint_is_refused(evaluated, digits_caches, tmp_path) -> None:
    """A checkpoint for another model, dataset or input size is refused with a clear error."""
    config, _, outputs = evaluated
    checkpoint, _ = outputs["ann_mlp"]
    with pytest.raises(ValueError, match="holds ann_mlp trained on digits, expected beam_net on digits"):
        evaluate_checkpoint(
            config, "digits", "beam_net", 0, checkpoint, digits_caches["latency/test"], tmp_path / "p.parquet"
        )
    with pytest.raises(ValueError, match="expects 64 latency inputs, but the cache holds 64 rate inputs"):
        evaluate_checkpoint(
            config, "digits", "ann_mlp", 0, checkpoint, digits_caches["rate/test"], tmp_path / "p.parquet"
        )
    wider = dict(config, model=dict(config["model"], beam_net=dict(config["model"]["beam_net"], n_patterns=32)))
    with pytest.raises(ValueError, match="does not fit the configured beam_net"):
        evaluate_checkpoint(
            wider,
            "digits",
            "beam_net",
            0,
            outputs["beam_net"][0],
            digits_caches[f"{model_encoding(config, 'beam_net', 'digits')}/test"],
            tmp_path / "p.parquet",
        )
    assert not (tmp_path / "p.parquet").exists()


def test_duckdb_views_return_expected_rows(evaluated, monkeypatch) -> None:
    """The catalog's views answer over the Parquet files: one row per dataset x model."""
    import duckdb

    config, root, _ = evaluated
    tables = root / "results" / "tables"
    tables.mkdir(parents=True)
    (root / "results" / "predictions").symlink_to(root / "predictions")
    frame = pl.read_parquet(root / "predictions" / "**" / "*.parquet", hive_partitioning=True)
    metrics_per_seed(frame.with_columns(pl.col("seed").cast(pl.Int64)), 15).write_parquet(
        tables / "metrics_per_seed.parquet"
    )
    monkeypatch.chdir(root)
    sql = sorted((REPO_ROOT / "workflow" / "sql").glob("V*.sql"))
    build_catalog(sql, root / "results" / "beamnet.duckdb")
    with duckdb.connect(str(root / "results" / "beamnet.duckdb"), read_only=True) as connection:
        summary = connection.sql("SELECT dataset, model, n_seeds FROM experiment_summary ORDER BY model").fetchall()
        assert summary == [("digits", "ann_mlp", 1), ("digits", "beam_net", 1)]
        energy = connection.sql("SELECT model, energy_nj, reduction_vs_gpu_attention FROM energy_comparison").fetchall()
        assert len(energy) == 2 and all(e > 0 and r == pytest.approx(150.0 / e) for _, e, r in energy)
        counts = connection.sql("SELECT sum(n) FROM uncertainty_vs_correctness").fetchall()[0][0]
        assert counts == frame.height
        versions = connection.sql("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert versions == [(1,), (2,)]


def test_sql_files_must_be_versioned(tmp_path) -> None:
    bad = tmp_path / "views.sql"
    bad.write_text("SELECT 1;")
    with pytest.raises(ValueError, match="expected a name like V001__description.sql"):
        migrations([bad])


def test_beam_net_counts_price_every_monte_carlo_pass(evaluated) -> None:
    """The prediction averages P passes, so its counts are those of P passes: P x N x T neuron
    updates, the passes' spikes (spike_count = activity x P N T) each reaching K readout synapses,
    the input's coincidence events once (a whole number of N-pattern fan-outs); and the stored
    energy is Eq. 25 of these columns."""
    config, _, outputs = evaluated
    frame = pl.read_parquet(outputs["beam_net"][1])
    settings = config["model"]["beam_net"]
    passes, patterns, steps = config["evaluate"]["mc_passes"], settings["n_patterns"], settings["lif_steps"]
    assert passes > 1
    assert (frame["neuron_updates"] == float(passes * patterns * steps)).all()
    # activity is a float32 mean over N x T neuron-steps: equal to float32's relative rounding
    expected_spikes = frame["activity_fraction"] * passes * patterns * steps
    np.testing.assert_allclose(frame["spike_count"], expected_spikes, rtol=1e-5)
    n_classes = sum(name.startswith("prob_") for name in frame.columns)
    coincidence_events = (frame["synaptic_ops"] - frame["spike_count"] * n_classes).to_numpy()
    np.testing.assert_allclose(coincidence_events / patterns, np.round(coincidence_events / patterns), atol=1e-6)
    assert (coincidence_events > 0).all()
    counts = {
        "synops": frame["synaptic_ops"].to_numpy(),
        "neuron_updates": frame["neuron_updates"].to_numpy(),
        "active_updates": frame["spike_count"].to_numpy(),
        "spikes": frame["spike_count"].to_numpy(),
    }
    np.testing.assert_allclose(frame["energy_on_chip_nj"], inference_energy_nj(counts, "loihi"), rtol=1e-9)
