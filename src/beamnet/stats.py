"""Intervals and verdicts for the report's claims: a hierarchical bootstrap over seeds and test samples.

Why this bootstrap
------------------
A claim's measured value pools two sources of variation: the training seed (S seeds, the
outer level) and the test sample (n samples, the inner level). The hierarchical bootstrap
resamples both: S seeds with replacement, then n test samples with replacement within the
resampled seeds (Davison & Hinkley 1997, §3.8, "multi-stage sampling"; Saravanan et al. 2020,
"Application of the hierarchical bootstrap to multi-level data in neuroscience"). Resampling
both stages slightly overstates the variance, never understates it.

The test samples are shared: every seed (and model) of a dataset is scored on the same test
set, so seeds and samples are crossed factors, not nested ones. Drawing the samples afresh for
each resampled seed would treat the one test set as S independent ones and shrink its share of
the width by about sqrt(S). By default (``crossed=True``) one draw of sample ids is therefore
used for every seed of a replicate: the "pigeonhole" bootstrap of crossed random effects
(Owen 2007, Ann. Appl. Stat. 1:246), mildly conservative like the nested one. With S = 3 only
ten distinct seed multisets exist: the seed level is coarse, and that coarseness is part of
the honest width.

Paired comparisons. Two models of a dataset are compared on the same draws: the same resampled
seeds (by position in the shared seed list) and the same resampled sample ids, so that what
the samples have in common cancels in the difference (Efron & Tibshirani 1993, §9.3).

Interval. The percentile interval (Efron & Tibshirani 1993, §13.3) of ``resamples`` replicates
(2000 by default: §19.3 asks for 1000 or more for percentiles): it respects the range of
bounded statistics (ECE, AUROC, shares in [0, 1]) and needs no normal approximation.

A caveat for ECE. Binned ECE averages |accuracy - confidence| per bin, which sampling noise can
only raise; a resample with repeated samples is noisier than the observed set, so ECE's
replicates sit above its point estimate and the percentile interval can start at it. For an
upper threshold (ECE <= 0.08) this makes "holds" harder to reach, never easier; in a paired
difference between two models the shift largely cancels.

Implementation. A replicate is a weight array: ``counts[b, k, i]`` is how often sample i is
drawn into slot k of replicate b, and ``seeds[b, k]`` the seed that slot holds. Every
statistic is computed from weighted sums over samples (vectorised over replicates with NumPy;
the only Python loop is over the S seeds), as

- *components* per slot, summed over the slots of a replicate, then
- *finished* into one value per replicate.

A pooled mean sums (sum w x, sum w); a per-seed statistic (ECE, AUROC, AURC) sums (value, 1)
and is averaged over the slots where it is defined. The point estimate is the same functional
on the observed draw (each seed once, each sample once).

Verdict. :func:`verdict` reads the interval against a :class:`Threshold`: "holds" where the
whole interval lies on the good side, "fails" where it lies wholly on the bad side,
"inconclusive" otherwise (or where nothing was measured). A claim about *every* unit (every
test sample settles, every epoch descends) is refuted by one observed counterexample: the
counterexample is observed, not estimated, so for such a threshold (``every=True``) a point
estimate on the bad side already fails; the interval then says how often, not whether.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95
VERDICTS = ("holds", "fails", "inconclusive")


# --- draws --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draws:
    """Bootstrap replicates as weights: ``seeds`` (B, S) seed positions, ``counts`` (B, S, n)."""

    seeds: np.ndarray
    counts: np.ndarray

    @property
    def n_samples(self) -> int:
        return int(self.counts.shape[2])


def hierarchical_draws(
    n_seeds: int,
    n_samples: int,
    resamples: int,
    rng: np.random.Generator,
    resample_seeds: bool = True,
    crossed: bool = True,
) -> Draws:
    """Resample seeds with replacement, then test samples with replacement within them.

    ``crossed``: one draw of sample ids serves every seed of a replicate (the samples are shared
    by the seeds; see the module docstring); else each resampled seed draws its own (nested).
    ``resample_seeds=False`` keeps every seed once per replicate (a sample-only bootstrap, for a
    statistic made of all seeds at once, such as a deep ensemble).
    """
    if n_seeds < 1 or n_samples < 1:
        raise ValueError(f"a bootstrap needs at least one seed and one sample, got {n_seeds} x {n_samples}")
    if resample_seeds:
        seeds = rng.integers(0, n_seeds, size=(resamples, n_seeds))
    else:
        seeds = np.broadcast_to(np.arange(n_seeds), (resamples, n_seeds)).copy()
    slots = 1 if crossed else n_seeds
    picks = rng.integers(0, n_samples, size=(resamples, slots, n_samples))
    offsets = np.arange(resamples * slots).reshape(resamples, slots, 1) * n_samples
    counts = np.bincount((offsets + picks).ravel(), minlength=resamples * slots * n_samples)
    counts = counts.reshape(resamples, slots, n_samples).astype(np.float64)
    if crossed:
        counts = np.repeat(counts, n_seeds, axis=1)
    return Draws(seeds=seeds, counts=counts)


def observed_draw(n_seeds: int, n_samples: int) -> Draws:
    """The data themselves as one replicate: each seed once, each sample once."""
    return Draws(seeds=np.arange(n_seeds)[None, :], counts=np.ones((1, n_seeds, n_samples)))


# --- statistics ---------------------------------------------------------------------------------

Components = Callable[[np.ndarray, int], np.ndarray]  # (weights (R, n), seed position) -> (R, c)
Finish = Callable[[np.ndarray], np.ndarray]  # summed components (B, c) -> values (B,)


@dataclass(frozen=True)
class Statistic:
    """A statistic as slot components (``width`` columns) and the function finishing their sums."""

    components: Components
    finish: Finish
    width: int


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def mean_of(values: np.ndarray, where: np.ndarray | None = None) -> Statistic:
    """Pooled mean of ``values`` (S, n) over the drawn samples of every slot, optionally only
    where ``where`` (S, n) is true: sum w x m / sum w m (NaN where no drawn sample qualifies)."""
    values = np.asarray(values, dtype=np.float64)
    mask = np.ones_like(values) if where is None else np.asarray(where, dtype=np.float64)
    masked = np.where(mask > 0, values, 0.0)

    def components(weights: np.ndarray, seed: int) -> np.ndarray:
        return np.stack([weights @ masked[seed], weights @ mask[seed]], axis=1)

    return Statistic(components, lambda sums: _divide(sums[:, 0], sums[:, 1]), 2)


def per_seed(function: Callable[[np.ndarray, int], np.ndarray]) -> Statistic:
    """A statistic computed within each slot, ``function(weights (R, n), seed) -> (R,)`` (NaN where
    undefined), averaged over the slots where it is defined."""

    def components(weights: np.ndarray, seed: int) -> np.ndarray:
        value = np.asarray(function(weights, seed), dtype=np.float64)
        defined = np.isfinite(value)
        return np.stack([np.where(defined, value, 0.0), defined.astype(np.float64)], axis=1)

    return Statistic(components, lambda sums: _divide(sums[:, 0], sums[:, 1]), 2)


def _combine(a: Statistic, b: Statistic, operation: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Statistic:
    def components(weights: np.ndarray, seed: int) -> np.ndarray:
        return np.concatenate([a.components(weights, seed), b.components(weights, seed)], axis=1)

    def finish(sums: np.ndarray) -> np.ndarray:
        return operation(a.finish(sums[:, : a.width]), b.finish(sums[:, a.width :]))

    return Statistic(components, finish, a.width + b.width)


def difference(a: Statistic, b: Statistic) -> Statistic:
    """a - b on the same draws: the paired comparison of two models (same seeds, same samples)."""
    return _combine(a, b, np.subtract)


def ratio(a: Statistic, b: Statistic) -> Statistic:
    """a / b on the same draws (NaN where b is 0 or undefined)."""
    return _combine(a, b, lambda x, y: _divide(x, np.where(np.isfinite(y), y, 0.0)))


# --- weighted per-seed metrics (weights (R, n); the data of one seed, (n,)) ---------------------


def weighted_ece(weights: np.ndarray, confidence: np.ndarray, correct: np.ndarray, n_bins: int) -> np.ndarray:
    """ECE with ``n_bins`` equal-width bins (k/M, (k+1)/M] (Guo et al. 2017), per weight row:
    sum_b |sum_{i in b} w_i (conf_i - correct_i)| / sum_i w_i (metrics.expected_calibration_error)."""
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    gaps = np.zeros((len(confidence), n_bins))
    gaps[np.arange(len(confidence)), bins] = confidence - correct.astype(np.float64)
    return _divide(np.abs(weights @ gaps).sum(1), weights.sum(1))


def _tie_blocks(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each position of a sorted array, the first and the last position of its run of ties."""
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    block = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:] - 1, len(sorted_values) - 1]
    return first[block], last[block]


def weighted_auroc(weights: np.ndarray, score: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Area under the ROC curve of ``score`` for detecting ``positive`` samples, per weight row:
    P(score_pos > score_neg) + P(tie) / 2 (Hanley & McNeil 1982), with samples weighted; NaN
    where a row draws no positive or no negative sample."""
    order = np.argsort(score, kind="stable")
    first, last = _tie_blocks(score[order])
    w = weights[:, order]
    pos = positive[order].astype(bool)
    # cumulative negative weight, with a leading 0: below[i] = cum[first[i]], through[i] = cum[last[i] + 1]
    cumulative = np.zeros((w.shape[0], w.shape[1] + 1))
    np.cumsum(np.where(pos, 0.0, w), axis=1, out=cumulative[:, 1:])
    hits = np.flatnonzero(pos)
    between = cumulative[:, first[hits]] + cumulative[:, last[hits] + 1]  # 2 x (below + tied / 2)
    numerator = 0.5 * (w[:, hits] * between).sum(1)
    positives = w[:, hits].sum(1)
    return _divide(numerator, positives * cumulative[:, -1])


def weighted_aurc(weights: np.ndarray, confidence: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Area under the risk-coverage curve (Geifman & El-Yaniv 2017; Geifman et al. 2019), per
    weight row: samples accepted in order of decreasing confidence, the risk at each coverage is
    the error share among those accepted, integrated over coverage. Ties in confidence are
    accepted together (the risk at the end of their run)."""
    order = np.argsort(-confidence, kind="stable")
    _, last = _tie_blocks(-confidence[order])
    w = weights[:, order]
    accepted = np.cumsum(w, axis=1)
    errors = np.cumsum(np.where(error[order].astype(bool), w, 0.0), axis=1)
    if not np.array_equal(last, np.arange(len(last))):
        accepted, errors = accepted[:, last], errors[:, last]
    risk = np.divide(errors, accepted, out=np.zeros_like(errors), where=accepted > 0)
    return _divide(np.einsum("ij,ij->i", w, risk), accepted[:, -1])


# --- estimates and verdicts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """Point estimate and percentile interval; NaN where not measurable."""

    value: float
    low: float
    high: float

    @property
    def measurable(self) -> bool:
        return math.isfinite(self.value)


def replicate(statistic: Statistic, draws: Draws) -> np.ndarray:
    """The statistic on every replicate of ``draws``, shape (B,)."""
    resamples, n_slots, n_samples = draws.counts.shape
    weights = draws.counts.reshape(resamples * n_slots, n_samples)
    slots = draws.seeds.reshape(-1)
    sums = np.zeros((resamples * n_slots, statistic.width))
    for seed in np.unique(slots):
        rows = np.flatnonzero(slots == seed)
        sums[rows] = statistic.components(weights[rows], int(seed))
    return statistic.finish(sums.reshape(resamples, n_slots, statistic.width).sum(1))


def estimate(statistic: Statistic, draws: Draws, confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """Point estimate (observed draw) and the percentile interval over ``draws``' replicates.

    Replicates where the statistic is undefined (e.g. a resample without errors for an AUROC)
    are left out of the percentiles; where the point itself is undefined, all three are NaN.
    """
    n_slots = draws.counts.shape[1]
    point = float(replicate(statistic, observed_draw(n_slots, draws.n_samples))[0])
    if not math.isfinite(point):
        return Estimate(math.nan, math.nan, math.nan)
    values = replicate(statistic, draws)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Estimate(point, math.nan, math.nan)
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return Estimate(point, float(low), float(high))


@dataclass(frozen=True)
class Threshold:
    """The good side of a claim: ``lower`` <= x <= ``upper`` (either may be None; ``strict``
    makes both bounds strict). ``every``: the claim is about every unit, so an observed
    counterexample (a point estimate on the bad side) refutes it."""

    lower: float | None = None
    upper: float | None = None
    strict: bool = False
    every: bool = False

    def satisfied(self, x: float) -> bool:
        above = self.lower is None or (x > self.lower if self.strict else x >= self.lower)
        below = self.upper is None or (x < self.upper if self.strict else x <= self.upper)
        return above and below

    def violated(self, low: float, high: float) -> bool:
        """Whether the whole interval [low, high] lies on the bad side."""
        under = self.lower is not None and (high <= self.lower if self.strict else high < self.lower)
        over = self.upper is not None and (low >= self.upper if self.strict else low > self.upper)
        return under or over

    def describe(self) -> str:
        if self.lower is not None and self.upper is not None:
            return f"in ({self.lower:g}, {self.upper:g})" if self.strict else f"in [{self.lower:g}, {self.upper:g}]"
        if self.lower is not None:
            return f"{'>' if self.strict else '>='} {self.lower:g}"
        if self.upper is not None:
            return f"{'<' if self.strict else '<='} {self.upper:g}"
        return "any"


def verdict(value: Estimate, threshold: Threshold) -> str:
    """ "holds" if the whole interval is on the good side, "fails" if wholly on the bad side (or,
    for an ``every`` threshold, if the point is), else "inconclusive" (also when not measured)."""
    if not value.measurable:
        return "inconclusive"
    if threshold.every and not threshold.satisfied(value.value):
        return "fails"
    if not (math.isfinite(value.low) and math.isfinite(value.high)):
        return "inconclusive"
    if threshold.satisfied(value.low) and threshold.satisfied(value.high):
        return "holds"
    if threshold.violated(value.low, value.high):
        return "fails"
    return "inconclusive"
