"""Proposition 3.3 measured: how far the Bayesian LIF rates are from the posterior they should encode.

Proposition 3.3 (BEAM-Net §3.2) states that with lateral inhibition w_inh > 2 the normalised
firing rates of the pattern neurons approach the posterior P(cause_j | xi). This module measures
that distance on the model's own neurons (:class:`beamnet.models.bayesian_lif.BayesianLIF`,
Eqs. 8-9) as a function of w_inh, so that the claim is a table, not an assumption.

Definitions, for one drive vector I = (I_1, ..., I_N) of input currents (Eq. 8's I_j = S_j + b_j):

- posterior (the module docstring of ``bayesian_lif``): p_j = softmax_j(I_j / Delta), with Delta
  the stochasticity of Eq. 9; it depends only on the differences I_j - I_k;
- normalised rates: q_j = c_j / sum_k c_k, with c_j the spikes neuron j fires in T steps of
  Eqs. 8-9 from rest (V = 0). ``sampled``: Bernoulli spikes (Eq. 9, what evaluation uses);
  ``mean_field``: expected spikes s = P(spike) (what training uses), deterministic. A vector
  whose neurons never fire has no normalised rates and is counted as silent, not scored;
- distance: total variation TV(q, p) = (1/2) sum_j |q_j - p_j|, in [0, 1]; 0 iff q = p.

The sweep draws ``theory.n_drive_vectors`` drive vectors of ``theory.n_neurons`` neurons,
I_j = theta + Delta * u_j with u_j ~ Uniform(theory.drive_range) (drives measured from the
threshold in units of Delta), once, from ``theory.seed``; every w_inh sees the same vectors
(common random numbers), so differences between w_inh are not differences between draws. The
neuron constants (tau_m, theta, Delta, dt) are the model's (``model.beam_net``, ``encoding.dt_ms``).
Per w_inh and dynamics it reports the mean distance over the scored vectors, a percentile-bootstrap
95 % interval of that mean over drive vectors (``theory.bootstrap_resamples`` resamples), the
2.5-97.5 % spread of the per-vector distances, and, for sampled spikes, a noise scale: the
expected TV of multinomial proportions from their means, (1/2) sqrt(2/pi) sum_j sqrt(q_j (1 - q_j) / n)
with n = sum_k c_k (normal approximation), the distance finite spike counts alone would give.

Two limits have analytic answers and are what tests/test_theory.py asserts: equal drives give
equal mean-field rates by symmetry, so TV = 0 at every w_inh; and far below threshold, where
P(spike) is small, V_j stays near I_j and sigmoid(x) -> e^x, so q -> softmax((I - theta) / Delta)
= p and the distance falls toward 0 as the drives fall. The proposition itself (a distance that
reaches 0 once w_inh > 2) is recorded as measured, in results/tables/prop_3_3_sweep.parquet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import torch

from beamnet.io import atomic_paths
from beamnet.models.bayesian_lif import BayesianLIF

DYNAMICS = ("sampled", "mean_field")
CONFIDENCE = 0.95  # level of every interval in the sweep table
PROPOSITION_W_INH = 2.0  # Prop. 3.3's threshold on the lateral inhibition
# E|Z| = sqrt(2 / pi) for a standard normal Z: the mean absolute deviation of a proportion
# under the normal approximation, in the sampled noise scale.
_MEAN_ABS_NORMAL = math.sqrt(2.0 / math.pi)


@dataclass(frozen=True)
class NeuronConstants:
    """Eqs. 8-9 constants of the pattern neurons: tau_m and dt in ms, theta and Delta in units of V."""

    tau_m: float
    theta: float
    delta: float
    dt: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NeuronConstants:
        beam = config["model"]["beam_net"]
        return cls(
            tau_m=float(beam["tau_m_ms"]),
            theta=float(beam["theta"]),
            delta=float(beam["delta"]),
            dt=float(config["encoding"]["dt_ms"]),
        )


@dataclass
class RateDistance:
    """Per drive vector (B,): TV distance (NaN where silent), total spikes, sampled noise scale."""

    distance: torch.Tensor
    spikes: torch.Tensor
    noise: torch.Tensor
    silent: torch.Tensor
    mean_rate: torch.Tensor


def posterior(currents: torch.Tensor, delta: float) -> torch.Tensor:
    """P(cause_j | xi) = softmax_j(I_j / Delta) of currents (B, N) (Prop. 3.3, Eq. 9's Delta)."""
    return torch.softmax(currents / delta, dim=1)


def total_variation(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """TV(p, q) = (1/2) sum_j |p_j - q_j| per row of two (B, N) probability tables; in [0, 1]."""
    return 0.5 * (p - q).abs().sum(1)


def draw_drives(
    n_vectors: int, n_neurons: int, neurons: NeuronConstants, drive_range: Sequence[float], generator: torch.Generator
) -> torch.Tensor:
    """Drive vectors (B, N): I_j = theta + Delta * u_j, u_j ~ Uniform(drive_range), float64."""
    low, high = (float(x) for x in drive_range)
    u = low + (high - low) * torch.rand(n_vectors, n_neurons, generator=generator, dtype=torch.float64)
    return neurons.theta + neurons.delta * u


def rate_posterior_distance(
    currents: torch.Tensor,
    w_inh: float,
    neurons: NeuronConstants,
    steps: int,
    dynamics: str = "sampled",
    generator: torch.Generator | None = None,
) -> RateDistance:
    """TV between the normalised rates of Eqs. 8-9 after ``steps`` steps and softmax(I / Delta).

    Parameters
    ----------
    currents
        Drive vectors (B, N), one simulation each.
    w_inh
        Lateral inhibition of Eq. 8.
    dynamics
        ``sampled`` (Bernoulli spikes from ``generator``) or ``mean_field`` (expected spikes).

    Returns
    -------
    RateDistance
        ``distance`` is NaN for a silent vector (no spike, or no expected spike, at all).
    """
    if dynamics not in DYNAMICS:
        raise ValueError(f"dynamics '{dynamics}': expected one of {list(DYNAMICS)}")
    lif = BayesianLIF(
        tau_m=neurons.tau_m,
        theta=neurons.theta,
        delta=neurons.delta,
        w_inh=float(w_inh),
        steps=int(steps),
        dt=neurons.dt,
    )
    with torch.no_grad():
        output = lif(currents, stochastic=dynamics == "sampled", generator=generator)
    counts = output.spike_counts
    spikes = counts.sum(1)
    silent = spikes <= 0
    normalised = counts / spikes.clamp_min(torch.finfo(counts.dtype).tiny).unsqueeze(1)
    distance = torch.where(silent, torch.nan, total_variation(normalised, posterior(currents, neurons.delta)))
    if dynamics == "sampled":
        spread = torch.sqrt(normalised * (1.0 - normalised) / spikes.clamp_min(1.0).unsqueeze(1))
        noise = torch.where(silent, torch.nan, 0.5 * _MEAN_ABS_NORMAL * spread.sum(1))
    else:
        noise = torch.zeros_like(distance)
    return RateDistance(distance=distance, spikes=spikes, noise=noise, silent=silent, mean_rate=output.rates.mean(1))


def bootstrap_mean_interval(
    values: torch.Tensor, resamples: int, generator: torch.Generator, level: float = CONFIDENCE
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``values`` (independent draws), at ``level``."""
    if values.numel() == 0:
        return math.nan, math.nan
    index = torch.randint(values.numel(), (int(resamples), values.numel()), generator=generator)
    means = values[index].mean(1)
    tail = (1.0 - level) / 2.0
    low, high = torch.quantile(means, torch.tensor([tail, 1.0 - tail], dtype=means.dtype))
    return float(low), float(high)


def sweep_rate_posterior(config: Mapping[str, Any]) -> pl.DataFrame:
    """The rate-posterior distance over ``theory.w_inh`` for both dynamics (see the module docstring).

    Returns
    -------
    polars.DataFrame
        One row per (dynamics, w_inh): n_vectors, silent_vectors, distance_mean, distance_ci_low,
        distance_ci_high (bootstrap 95 % interval of the mean), distance_p2_5, distance_p97_5
        (spread over vectors), sampling_noise (mean noise scale; 0 for mean_field), mean_rate
        (spikes per neuron-step), and the constants the sweep ran with.
    """
    theory = config["theory"]
    neurons = NeuronConstants.from_config(config)
    seed, steps = int(theory["seed"]), int(theory["steps"])
    currents = draw_drives(
        int(theory["n_drive_vectors"]),
        int(theory["n_neurons"]),
        neurons,
        theory["drive_range"],
        torch.Generator().manual_seed(seed),
    )
    tail = (1.0 - CONFIDENCE) / 2.0
    rows = []
    for index, w_inh in enumerate(theory["w_inh"]):
        for dynamics in DYNAMICS:
            # one spike stream per w_inh, the same for every rerun; mean-field draws nothing
            spikes = torch.Generator().manual_seed(seed + 1 + index)
            result = rate_posterior_distance(currents, float(w_inh), neurons, steps, dynamics, spikes)
            scored = result.distance[~result.silent]
            ci_low, ci_high = bootstrap_mean_interval(
                scored, int(theory["bootstrap_resamples"]), torch.Generator().manual_seed(seed + 1 + index)
            )
            spread = (
                torch.quantile(scored, torch.tensor([tail, 1.0 - tail], dtype=scored.dtype)).tolist()
                if scored.numel()
                else [math.nan, math.nan]
            )
            rows.append(
                {
                    "dynamics": dynamics,
                    "w_inh": float(w_inh),
                    "n_vectors": int(currents.shape[0]),
                    "silent_vectors": int(result.silent.sum()),
                    "distance_mean": float(scored.mean()) if scored.numel() else math.nan,
                    "distance_ci_low": ci_low,
                    "distance_ci_high": ci_high,
                    "distance_p2_5": spread[0],
                    "distance_p97_5": spread[1],
                    "sampling_noise": float(result.noise[~result.silent].mean()) if scored.numel() else math.nan,
                    "mean_rate": float(result.mean_rate.mean()),
                    "n_neurons": int(currents.shape[1]),
                    "steps": steps,
                    "tau_m_ms": neurons.tau_m,
                    "theta": neurons.theta,
                    "delta": neurons.delta,
                    "dt_ms": neurons.dt,
                    "drive_low": float(theory["drive_range"][0]),
                    "drive_high": float(theory["drive_range"][1]),
                }
            )
    return pl.DataFrame(rows).sort(["dynamics", "w_inh"])


def write_sweep(config: Mapping[str, Any], output: Path, output_csv: Path | None = None) -> pl.DataFrame:
    """Run :func:`sweep_rate_posterior` and write it (Parquet, ZSTD, provenance in the metadata; CSV too)."""
    from beamnet.provenance import provenance_json

    table = sweep_rate_posterior(config)
    finals = [Path(output)] + ([Path(output_csv)] if output_csv is not None else [])
    with atomic_paths(*finals) as temps:
        table.write_parquet(temps[0], compression="zstd", metadata={"provenance": provenance_json(config)})
        if output_csv is not None:
            table.write_csv(temps[1])
    return table


def sweep_values(table: pl.DataFrame, model_w_inh: float, dynamics: str = "sampled") -> dict[str, str]:
    """Named values of the sweep for the manuscript (``theory.*``), read from the table only.

    The distance at the grid point nearest the model's w_inh, at the largest grid point below
    Prop. 3.3's threshold, at the grid's minimum, and at its smallest and largest w_inh.
    """
    rows = table.filter(pl.col("dynamics") == dynamics).sort("w_inh")
    if rows.is_empty():
        raise ValueError(f"the sweep table has no '{dynamics}' rows")

    def at(row: dict[str, Any]) -> str:
        return (
            f"{row['distance_mean']:.3f} (95 % interval {row['distance_ci_low']:.3f}-"
            f"{row['distance_ci_high']:.3f}) at w_inh = {row['w_inh']:g}"
        )

    records = rows.to_dicts()
    nearest = min(records, key=lambda row: abs(row["w_inh"] - model_w_inh))
    below = [row for row in records if row["w_inh"] < PROPOSITION_W_INH]
    lowest = min(records, key=lambda row: row["distance_mean"])
    return {
        "theory.w_inh_grid": ", ".join(f"{row['w_inh']:g}" for row in records),
        "theory.n_vectors": str(records[0]["n_vectors"]),
        "theory.n_neurons": str(records[0]["n_neurons"]),
        "theory.steps": str(records[0]["steps"]),
        "theory.at_model": at(nearest),
        "theory.below_threshold": at(below[-1]) if below else "not swept",
        "theory.minimum": at(lowest),
        "theory.first": at(records[0]),
        "theory.last": at(records[-1]),
        "theory.sampling_noise": f"{rows['sampling_noise'].mean():.3f}",
    }
