"""The claims table on synthetic predictions built to hold, to fail and to be inconclusive.

Each scenario fixes what a claim measures (accuracy, confidence, uncertainties, loop counts,
training losses) so that its value is known by construction; the bootstrap then decides the
verdict. A claims_table that answered "holds" regardless would fail the fail and inconclusive
cases, one that answered "fails" the others.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from beamnet.summarise import (
    CLAIM_SCHEMA,
    Bootstrap,
    claims_table,
    training_targets,
    uncertainty_quality,
)

SEEDS = (0, 1, 2)
N = 400
BOUND = 6  # ceil(3 tau_m / tau_s) passed to claims_table
SETTINGS = {
    "ece_max": 0.08,
    "epistemic_ratio": [1.5, 3.0],
    "activity_range": [0.01, 0.05],
    "accuracy_margin": 0.01,
    "bootstrap_resamples": 400,
    "bootstrap_seed": 3,
    "confidence": 0.95,
}
TRAIN = {"kl_anneal_epochs": 2, "sparsity_target": 0.03, "sparsity_weight": 1000.0}
MODEL = {"loop": {"pull": 0.1}}
EVALUATE = {"loop_cap_factor": 10}


def _correct(accuracy: float, rng: np.random.Generator | None) -> np.ndarray:
    """Exactly round(accuracy * N) correct samples (shuffled when ``rng`` is given)."""
    correct = np.arange(N) < round(accuracy * N)
    return rng.permutation(correct) if rng is not None else correct


def predictions(
    model: str,
    correct: np.ndarray | list[np.ndarray],
    confidence: float = 0.95,
    epistemic: tuple[float, float] | np.ndarray = (0.1, 0.1),
    aleatoric: tuple[float, float] | np.ndarray = (0.1, 0.1),
    activity: float = 0.03,
    loop_increase: float = -1e-3,
    iterations: int = 3,
    settled: bool = True,
    dataset: str = "digits",
    energy: float = 1.0,
    macs: float | None = None,
) -> pl.DataFrame:
    """Per-sample rows of one model (every seed): ``correct`` per seed, one confidence for all,
    uncertainties (on error, on correct) or per-sample arrays; ``macs`` adds an ANN's counts
    (MACs, one weight read per MAC, 10 neuron updates) so that it can be priced as int8."""
    frames = []
    labels = np.arange(N) % 10
    for index, seed in enumerate(SEEDS):
        right = correct[index] if isinstance(correct, list) else correct
        prediction = np.where(right, labels, (labels + 1) % 10)

        def per_sample(values, right=right):
            values = np.asarray(values, dtype=np.float64)
            return values if values.shape == (N,) else np.where(right, values[1], values[0])

        probabilities = np.full((N, 10), (1.0 - confidence) / 9)
        probabilities[np.arange(N), prediction] = confidence
        frames.append(
            pl.DataFrame(
                {
                    "dataset": dataset,
                    "model": model,
                    "seed": seed,
                    "sample_id": np.arange(N),
                    "split": "test",
                    "label": labels,
                    "prediction": prediction,
                    "confidence": np.full(N, confidence),
                    **{f"prob_{c}": probabilities[:, c] for c in range(10)},
                    "is_correct": right,
                    "uncalibrated_prediction": prediction,
                    "uncalibrated_confidence": np.full(N, confidence),
                    "total_uncertainty": per_sample(epistemic) + per_sample(aleatoric),
                    "aleatoric_uncertainty": per_sample(aleatoric),
                    "epistemic_uncertainty": per_sample(epistemic),
                    "loop_iterations": np.full(N, min(iterations, BOUND)),
                    "loop_converged": np.full(N, settled),
                    "loop_energy_max_increase": np.full(N, loop_increase),
                    "loop_energy_magnitude": np.full(N, 10.0),
                    "loop_iterations_uncapped": np.full(N, iterations),
                    "loop_settled_uncapped": np.full(N, settled),
                    "activity_fraction": np.full(N, activity),
                    "energy_nj": np.full(N, energy),
                    **(
                        {
                            "macs": np.full(N, macs),
                            "memory_reads": np.full(N, macs),
                            "stored_words": np.full(N, macs),
                            "neuron_updates": np.full(N, 10.0),
                        }
                        if macs is not None
                        else {}
                    ),
                }
            )
        )
    return pl.concat(frames)


def histories(steps: list[float], dataset: str = "digits") -> pl.DataFrame:
    """Training losses per epoch (1-based) for BEAM-Net, every seed: successive ``steps``."""
    rows = []
    for seed in SEEDS:
        loss = 2.0
        for epoch, step in enumerate([0.0] + steps, start=1):
            loss += step
            rows.append({"dataset": dataset, "model": "beam_net", "seed": seed, "epoch": epoch, "train_loss": loss})
    return pl.DataFrame(rows)


def verdicts(frame: pl.DataFrame, history: pl.DataFrame) -> dict[str, dict]:
    table = claims_table(frame, history, SETTINGS, BOUND, TRAIN, MODEL, EVALUATE, 15, Bootstrap.from_settings(SETTINGS))
    assert table.schema == pl.Schema(CLAIM_SCHEMA)
    for row in table.iter_rows(named=True):
        if row["measured"] is not None and row["ci_low"] is not None:
            assert row["ci_low"] - 1e-12 <= row["measured"] <= row["ci_high"] + 1e-12, row
    return {row["claim"]: row for row in table.iter_rows(named=True)}


def holding() -> tuple[pl.DataFrame, pl.DataFrame]:
    """BEAM-Net calibrated (accuracy = confidence = 0.95), epistemic twice as high on errors and
    above aleatoric there, loop settles within the bound with falling energy, loss falls every
    epoch; baselines less accurate and over-confident, the rate SNN ten times as active."""
    beam = predictions(
        "beam_net", _correct(0.95, None), 0.95, epistemic=(0.2, 0.1), aleatoric=(0.1, 0.3), activity=0.02
    )
    ann = predictions("ann_mlp", _correct(0.80, None), 0.95, energy=50.0, macs=1e5)  # int8: ~ 1,000 nJ
    rate = predictions("rate_snn", _correct(0.80, None), 0.95, activity=0.2, energy=50.0)
    return pl.concat([beam, ann, rate], how="diagonal_relaxed"), histories([-0.1] * 6)


def failing() -> tuple[pl.DataFrame, pl.DataFrame]:
    """BEAM-Net over-confident (accuracy 0.70 at confidence 0.95), epistemic lower on errors than
    on correct predictions and below aleatoric, the loop's energy rising and settling late, the
    loss rising after the ramp; the baselines accurate and calibrated, the rate SNN sparser."""
    beam = predictions(
        "beam_net",
        _correct(0.70, None),
        0.95,
        epistemic=(0.05, 0.1),
        aleatoric=(0.5, 0.1),
        activity=0.5,
        loop_increase=0.5,
        iterations=3 * BOUND,
        energy=100.0,
    )
    ann = predictions("ann_mlp", _correct(0.90, None), 0.90, macs=100.0)  # int8: ~ 1 nJ
    rate = predictions("rate_snn", _correct(0.90, None), 0.90, activity=0.1)
    return pl.concat([beam, ann, rate], how="diagonal_relaxed"), histories([-0.1, -0.1, 0.05, -0.1, 0.05, -0.1])


def inconclusive() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every compared quantity at its threshold, with sampling spread around it: BEAM-Net's ECE
    0.08 (accuracy 0.87 at confidence 0.95), epistemic ratio 1.5 and epistemic - aleatoric 0 on
    errors with spread, epistemic unrelated to the errors (AUROC 0.5), baselines as accurate and as
    calibrated as BEAM-Net but with independent errors, and the same activity."""
    rng = np.random.default_rng(0)
    correct = [_correct(0.87, rng) for _ in SEEDS]
    spread = np.where(np.arange(N) % 2 == 0, 1.0, -1.0)
    # ratio: mean on errors 0.15 vs 0.10 on correct; each class of sample mixes two levels
    epistemic = np.where(np.arange(N) % 4 < 2, 0.05, 0.2)  # unrelated to correctness
    beam_frames = []
    for index in range(len(SEEDS)):
        right = correct[index]
        ratio_epistemic = np.where(right, 0.1 + 0.05 * spread, 0.15 + 0.1 * spread)
        beam_frames.append((right, ratio_epistemic))
    beam_ratio = pl.concat(
        [
            predictions(
                "beam_net", [c for c, _ in beam_frames], 0.95, epistemic=e, aleatoric=e - 0.1 * spread, activity=0.05
            ).filter(pl.col("seed") == seed)
            for seed, (_, e) in zip(SEEDS, beam_frames, strict=True)
        ]
    )
    beam_auroc = predictions("beam_net", correct, 0.95, epistemic=epistemic, dataset="nmnist")
    others = [
        predictions(name, [_correct(0.87, rng) for _ in SEEDS], 0.95, activity=0.05, dataset=dataset)
        for name in ("ann_mlp", "rate_snn")
        for dataset in ("digits", "nmnist")
    ]
    return (
        pl.concat([beam_ratio, beam_auroc, *others], how="diagonal_relaxed"),
        pl.concat([histories([], "digits"), histories([], "nmnist")]),
    )


COUNTED = {
    "thm_4_1_training_loss": True,
    "thm_4_1_loop_energy": False,
    "thm_3_6_iterations": False,
    "prop_3_3_calibration": True,
    "eqs_14_15_epistemic_ratio": True,
    "eqs_14_15_epistemic_exceeds_aleatoric": True,
    "eqs_14_15_epistemic_auroc": True,
    "ece_vs_ann_mlp": True,
    "ece_vs_rate_snn": True,
    "pareto_vs_rate_snn": True,
    "pareto_vs_rate_snn_activity": False,
    "accuracy_vs_ann_mlp": True,
    "accuracy_vs_rate_snn": True,
    "energy_vs_ann_mlp": True,
    "energy_vs_rate_snn": True,
    "energy_vs_ann_mlp_int8": True,
}


def test_every_claim_holds_when_built_to_hold() -> None:
    found = verdicts(*holding())
    assert set(found) == set(COUNTED)
    for claim, row in found.items():
        assert row["verdict"] == "holds", row
        assert row["counted"] == COUNTED[claim], claim


def test_every_claim_fails_when_built_to_fail() -> None:
    found = verdicts(*failing())
    assert set(found) == set(COUNTED)
    for row in found.values():
        assert row["verdict"] == "fails", row
    assert found["thm_4_1_training_loss"]["note"].startswith("6 rising epoch steps over 3 seeds")


def test_claims_at_their_threshold_are_inconclusive() -> None:
    frame, history = inconclusive()
    table = claims_table(frame, history, SETTINGS, BOUND, TRAIN, MODEL, EVALUATE, 15, Bootstrap.from_settings(SETTINGS))
    by = {(row["dataset"], row["claim"]): row for row in table.iter_rows(named=True)}
    for key in [
        ("digits", "prop_3_3_calibration"),
        ("digits", "eqs_14_15_epistemic_ratio"),
        ("digits", "eqs_14_15_epistemic_exceeds_aleatoric"),
        ("nmnist", "eqs_14_15_epistemic_auroc"),
        ("digits", "ece_vs_ann_mlp"),
        ("digits", "pareto_vs_rate_snn"),
        ("digits", "accuracy_vs_ann_mlp"),
        ("nmnist", "accuracy_vs_rate_snn"),
    ]:
        row = by[key]
        assert row["verdict"] == "inconclusive", row
        assert row["ci_low"] < row["ci_high"], row
    # no epoch after the KL ramp: the loss claim cannot be measured, so it decides nothing
    loss = by[("digits", "thm_4_1_training_loss")]
    assert loss["verdict"] == "inconclusive" and loss["measured"] is None
    assert loss["note"].startswith("not measurable")


def test_one_rising_epoch_fails_the_monotone_claim() -> None:
    """Monotone means every epoch: one rise in six steps after the ramp already fails."""
    frame, _ = holding()
    found = verdicts(frame, histories([-0.1, -0.1, -0.1, 0.01, -0.1, -0.1]))
    assert found["thm_4_1_training_loss"]["verdict"] == "fails"
    # a rise during the KL ramp (epoch 1 -> 2, the objective changing) does not count
    found = verdicts(frame, histories([0.3, -0.1, -0.1, -0.1, -0.1, -0.1]))
    assert found["thm_4_1_training_loss"]["verdict"] == "holds"


def test_missing_columns_are_not_measurable() -> None:
    frame, history = holding()
    found = verdicts(
        frame.drop("uncalibrated_confidence", "loop_iterations_uncapped", "loop_energy_magnitude"), history
    )
    for claim in ("prop_3_3_calibration", "thm_3_6_iterations", "thm_4_1_loop_energy"):
        assert found[claim]["verdict"] == "inconclusive" and found[claim]["note"].startswith("not measurable")


def test_models_on_different_test_samples_are_refused() -> None:
    frame, history = holding()
    shifted = frame.with_columns(
        sample_id=pl.when(pl.col("model") == "rate_snn").then(pl.col("sample_id") + N).otherwise(pl.col("sample_id"))
    )
    with pytest.raises(ValueError, match="beam_net and rate_snn on digits cover different test samples"):
        verdicts(shifted, history)


def test_the_bootstrap_is_reproducible() -> None:
    frame, history = inconclusive()
    first = claims_table(frame, history, SETTINGS, BOUND, TRAIN, MODEL, EVALUATE, 15)
    second = claims_table(frame, history, SETTINGS, BOUND, TRAIN, MODEL, EVALUATE, 15)
    assert first.equals(second)


def test_ensembles_give_the_baselines_an_epistemic_uncertainty() -> None:
    """Seeds that disagree give a deep ensemble a positive mutual information."""
    rng = np.random.default_rng(1)
    frame = pl.concat(
        [
            predictions("beam_net", _correct(0.9, None)),
            predictions("ann_mlp", [_correct(0.8, rng) for _ in SEEDS], 0.8),
        ],
        how="diagonal_relaxed",
    )
    quality = uncertainty_quality(frame, SETTINGS, 15, Bootstrap.from_settings(SETTINGS))
    assert {"beam_net", "ann_mlp", "ann_mlp_ensemble"} <= set(quality["model"])
    ensemble = quality.filter(
        (pl.col("model") == "ann_mlp_ensemble")
        & (pl.col("metric") == "mean_on_error")
        & (pl.col("uncertainty") == "epistemic")
    )
    assert ensemble["value"][0] > 0
    single = quality.filter((pl.col("model") == "ann_mlp") & (pl.col("metric") == "auroc_error"))
    assert set(single["uncertainty"]) == {"total", "aleatoric", "epistemic"}


def test_the_activity_target_is_reported_apart_per_dataset() -> None:
    frame, _ = holding()
    targets = training_targets(
        frame, TRAIN, SETTINGS, Bootstrap.from_settings(SETTINGS), {"digits": {**TRAIN, "sparsity_target": 0.01}}
    )
    row = targets.row(0, named=True)
    assert (row["model"], row["target"], row["range_verdict"]) == ("beam_net", 0.01, "holds")
    assert row["measured"] == pytest.approx(0.02)
    assert "not counted" in row["note"]
