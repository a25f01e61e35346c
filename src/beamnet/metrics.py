"""Classification and calibration metrics.

- Accuracy.
- Expected calibration error with equal-width confidence bins (Guo et al. 2017):
  ECE = sum_b (n_b / n) |acc(b) - conf(b)|, bins (k/M, (k+1)/M], confidence = max_c p_c.
- Negative log-likelihood and the multi-class Brier score sum_c (p_c - y_c)^2.

:func:`reliability_bins` is the same binning over a table of predictions (Polars): the
reliability diagram's bars, and the ECE as the sum of its per-bin gaps.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import torch


def accuracy(probabilities: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of samples whose arg-max class is the label."""
    return float((probabilities.argmax(1) == labels).float().mean())


def expected_calibration_error(probabilities: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> float:
    """ECE with ``n_bins`` equal-width bins over the top-class confidence (Guo et al. 2017)."""
    confidence, prediction = probabilities.max(1)
    correct = (prediction == labels).to(probabilities.dtype)
    # bin k holds confidences in (k/M, (k+1)/M]; a confidence of exactly 0 goes to bin 0
    bins = (torch.ceil(confidence * n_bins).long() - 1).clamp(0, n_bins - 1)
    confidence_sum = torch.bincount(bins, weights=confidence, minlength=n_bins)
    correct_sum = torch.bincount(bins, weights=correct, minlength=n_bins)
    return float((confidence_sum - correct_sum).abs().sum() / max(len(labels), 1))


def negative_log_likelihood(probabilities: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean -log p_y."""
    return float(-torch.log(probabilities.gather(1, labels[:, None]).clamp_min(1e-12)).mean())


def brier_score(probabilities: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean multi-class Brier score sum_c (p_c - y_c)^2."""
    one_hot = torch.nn.functional.one_hot(labels, probabilities.shape[1]).to(probabilities.dtype)
    return float((probabilities - one_hot).square().sum(1).mean())


def reliability_bins(
    frame: pl.DataFrame, confidence: str, correct: pl.Expr, n_bins: int, keys: Sequence[str]
) -> pl.DataFrame:
    """Per group of ``keys`` and confidence bin b (bins (k/M, (k+1)/M] as in
    :func:`expected_calibration_error`): n_b, mean confidence conf(b), accuracy acc(b), the
    bin's share n_b / n and its ECE term gap_b = |sum conf - sum correct| / n, so that
    ECE = sum_b gap_b (Guo et al. 2017). Empty bins have no row."""
    keys = list(keys)
    binned = frame.select(
        *keys,
        _conf=pl.col(confidence).cast(pl.Float64),
        _correct=correct.cast(pl.Float64),
        bin=((pl.col(confidence) * n_bins).ceil().cast(pl.Int64) - 1).clip(0, n_bins - 1),
    )
    return (
        binned.group_by([*keys, "bin"])
        .agg(
            n=pl.len(),
            confidence_sum=pl.col("_conf").sum(),
            correct_sum=pl.col("_correct").sum(),
        )
        .with_columns(total=pl.col("n").sum().over(keys) if keys else pl.col("n").sum())
        .select(
            *keys,
            "bin",
            lower=pl.col("bin") / n_bins,
            upper=(pl.col("bin") + 1) / n_bins,
            n=pl.col("n"),
            confidence=pl.col("confidence_sum") / pl.col("n"),
            accuracy=pl.col("correct_sum") / pl.col("n"),
            weight=pl.col("n") / pl.col("total"),
            gap=(pl.col("confidence_sum") - pl.col("correct_sum")).abs() / pl.col("total"),
        )
        .sort([*keys, "bin"])
    )


def ece_by_group(bins: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """ECE per group from :func:`reliability_bins`' table: the sum of the per-bin gaps."""
    return bins.group_by(list(keys)).agg(ece=pl.col("gap").sum()).sort(list(keys))
