"""The bootstrap's statistics against brute force, its coverage, and the verdict rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats

from beamnet.metrics import expected_calibration_error
from beamnet.stats import (
    Estimate,
    Threshold,
    difference,
    estimate,
    hierarchical_draws,
    mean_of,
    verdict,
    weighted_aurc,
    weighted_auroc,
    weighted_ece,
)


def _brute_auroc(score: np.ndarray, positive: np.ndarray) -> float:
    pos, neg = score[positive], score[~positive]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def _brute_aurc(confidence: np.ndarray, error: np.ndarray) -> float:
    """Risk at each coverage k/n (ties accepted together), averaged over the n samples."""
    total = 0.0
    for value in confidence:
        accepted = confidence >= value
        total += error[accepted].mean()
    return total / len(confidence)


@pytest.mark.parametrize("seed", [0, 1])
def test_auroc_and_aurc_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    score = rng.integers(0, 6, 80).astype(np.float64)  # many ties
    positive = rng.random(80) < 0.3
    ones = np.ones((1, 80))
    assert weighted_auroc(ones, score, positive)[0] == pytest.approx(_brute_auroc(score, positive))
    assert weighted_aurc(ones, score, positive)[0] == pytest.approx(_brute_aurc(score, positive))
    # integer weights are repetitions
    weights = rng.integers(0, 3, 80)
    repeated = np.repeat(np.arange(80), weights)
    assert weighted_auroc(weights[None].astype(float), score, positive)[0] == pytest.approx(
        _brute_auroc(score[repeated], positive[repeated])
    )
    assert weighted_aurc(weights[None].astype(float), score, positive)[0] == pytest.approx(
        _brute_aurc(score[repeated], positive[repeated])
    )


def test_weighted_ece_matches_the_metric() -> None:
    generator = torch.Generator().manual_seed(4)
    probabilities = torch.softmax(2.0 * torch.randn(300, 10, generator=generator, dtype=torch.float64), 1)
    labels = torch.randint(0, 10, (300,), generator=generator)
    confidence, prediction = probabilities.max(1)
    ours = weighted_ece(np.ones((1, 300)), confidence.numpy(), (prediction == labels).numpy(), 15)[0]
    assert ours == pytest.approx(expected_calibration_error(probabilities, labels, 15), abs=1e-12)


def test_identical_models_differ_by_exactly_zero() -> None:
    rng = np.random.default_rng(2)
    values = rng.random((3, 50))
    draws = hierarchical_draws(3, 50, 200, rng)
    result = estimate(difference(mean_of(values), mean_of(values)), draws)
    assert (result.value, result.low, result.high) == (0.0, 0.0, 0.0)


def test_percentile_interval_covers_a_known_mean() -> None:
    """Coverage of the 95 % interval of a Bernoulli(0.3) mean over 200 experiments (one seed,
    n = 200): for an exact 95 % interval the number of misses is Binomial(200, 0.05), and its
    99.9 % quantile bounds it."""
    rng = np.random.default_rng(11)
    experiments, misses = 200, 0
    for _ in range(experiments):
        values = (rng.random((1, 200)) < 0.3).astype(np.float64)
        result = estimate(mean_of(values), hierarchical_draws(1, 200, 400, rng, resample_seeds=False))
        misses += not (result.low <= 0.3 <= result.high)
    upper = scipy_stats.binom.ppf(0.999, experiments, 0.05)
    assert misses <= upper


def test_same_generator_seed_gives_the_same_interval() -> None:
    values = np.random.default_rng(0).random((3, 40))
    first = estimate(mean_of(values), hierarchical_draws(3, 40, 300, np.random.default_rng(5)))
    second = estimate(mean_of(values), hierarchical_draws(3, 40, 300, np.random.default_rng(5)))
    assert first == second


@pytest.mark.parametrize(
    ("value", "threshold", "expected"),
    [
        (Estimate(0.5, 0.4, 0.6), Threshold(lower=0.3), "holds"),
        (Estimate(0.5, 0.4, 0.6), Threshold(lower=0.45), "inconclusive"),
        (Estimate(0.5, 0.4, 0.6), Threshold(lower=0.7), "fails"),
        (Estimate(0.5, 0.4, 0.6), Threshold(upper=0.7), "holds"),
        (Estimate(0.5, 0.4, 0.6), Threshold(upper=0.35), "fails"),
        (Estimate(2.0, 1.6, 2.5), Threshold(1.5, 3.0), "holds"),
        (Estimate(2.0, 1.4, 2.5), Threshold(1.5, 3.0), "inconclusive"),
        (Estimate(4.0, 3.2, 5.0), Threshold(1.5, 3.0), "fails"),
        (Estimate(0.0, 0.0, 0.0), Threshold(lower=0.0, strict=True), "fails"),
        (Estimate(0.0, -0.1, 0.1), Threshold(lower=0.0, strict=True), "inconclusive"),
        (Estimate(0.99, 0.97, 1.0), Threshold(lower=1.0, every=True), "fails"),  # one counterexample
        (Estimate(1.0, 1.0, 1.0), Threshold(lower=1.0, every=True), "holds"),
        (Estimate(float("nan"), float("nan"), float("nan")), Threshold(lower=0.0), "inconclusive"),
    ],
)
def test_verdict_reads_the_interval_against_the_threshold(value, threshold, expected) -> None:
    assert verdict(value, threshold) == expected
