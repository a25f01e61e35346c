"""Classification and calibration metrics.

- Accuracy.
- Expected calibration error with equal-width confidence bins (Guo et al. 2017):
  ECE = sum_b (n_b / n) |acc(b) - conf(b)|, bins (k/M, (k+1)/M], confidence = max_c p_c.
- Negative log-likelihood and the multi-class Brier score sum_c (p_c - y_c)^2.
"""

from __future__ import annotations

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
