"""Component 4 (BEAM-Net §3.4, Eq. 16, Thm. 3.6, Thm. 4.1): the predictive-coding loop.

Top-down, the stored patterns predict the input's spike times by Hopfield retrieval,

    x_hat = sum_j pi_j x_j,       pi = softmax_j(beta * sim_j(xi)),

    sim_j(xi) = -(1 / (2 tau_c^2 n(xi))) * sum_{i active} (xi_i - t_i(x_j))^2,

the log of the coincidence kernel of Eq. 22 multiplied over the n(xi) firing inputs (averaged,
so beta does not depend on how many inputs fire). Eq. 16: the firing inputs' spike times move a
fraction gamma toward the prediction, xi <- xi + gamma * (x_hat - xi); silent inputs stay silent.
The loop stops for a sample when max_j |pi_new - pi| < epsilon, or after L_max iterations
(Thm. 3.6: L_max = ceil(3 tau_m / tau_s)); the iteration count is recorded per sample.

Thm. 4.1 (energy descent). With the log-sum-exp energy

    E(xi) = -(1 / beta) log sum_j exp(beta * sim_j(xi)),

every step is non-increasing: by Jensen's inequality with weights pi(xi),
log sum_j exp(beta sim_j(xi')) - log sum_j exp(beta sim_j(xi)) >= beta sum_j pi_j (sim_j(xi') - sim_j(xi)),
a concave quadratic in xi' that is 0 at xi' = xi and maximal at xi' = x_hat, hence >= 0 on the
whole segment between them, where every gamma in [0, 1] puts the update (the CCCP argument of
Ramsauer et al. 2020; mean-shift's for a Gaussian kernel). The loop records E per iteration.

:func:`predictive_coding_loop` runs the loop per sample over its firing inputs only, as one
compiled function (numba; sums in float64, which ``fastmath`` lets the compiler vectorise and
reorder: the same bytes on one machine, possibly not in the last bits across CPUs with other
vector widths); :func:`predictive_coding_loop_reference` is the same loop in batched tensor
operations (dense BLAS products over all inputs, with :func:`hopfield_similarity` and
:func:`loop_energy`), kept as the reference the compiled one is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch

from beamnet.models.device import tensor_path


@dataclass
class LoopResult:
    """Refined spike times (B, D), iterations (B,), converged flags (B,), energies (B, L+1)."""

    spike_times: torch.Tensor
    iterations: torch.Tensor
    converged: torch.Tensor
    energies: torch.Tensor


def hopfield_similarity(
    spike_times: torch.Tensor,
    active: torch.Tensor,
    pattern_times: torch.Tensor,
    tau_c: float,
    mask_term: torch.Tensor | None = None,
) -> torch.Tensor:
    """sim_j(xi), shape (B, N), from spike times and mask (B, D) and patterns (N, D).

    Batched form (the reference loop's): the masked squared distance sum_i m_i (xi_i - t_ij)^2
    is expanded into three terms (sum m xi^2 - 2 (m xi) . t_j + m . t_j^2) computed as matrix
    products. The last term depends only on which inputs fire, so the loop passes it in
    (``mask_term``) instead of recomputing it every iteration.
    """
    mask = active.to(spike_times.dtype)
    masked = spike_times * mask
    if mask_term is None:
        mask_term = mask @ pattern_times.square().t()
    squared = (masked * spike_times).sum(1, keepdim=True) - 2.0 * masked @ pattern_times.t() + mask_term
    count = mask.sum(1, keepdim=True).clamp_min(1.0)
    return -squared.clamp_min(0.0) / (2.0 * tau_c**2 * count)


def loop_energy(similarity: torch.Tensor, beta: float) -> torch.Tensor:
    """Thm. 4.1's energy E = -(1/beta) logsumexp(beta * sim), per sample."""
    return -torch.logsumexp(beta * similarity, dim=1) / beta


@numba.njit(cache=True, nogil=True, fastmath=True)
def _sample_similarity(times, sources, times_by_input, scale, out):  # pragma: no cover - compiled
    """out[j] = sim_j = -scale * sum_i (xi_i - t_ij)^2 over the sample's firing inputs."""
    out[:] = 0.0
    for k in range(sources.shape[0]):
        row = times_by_input[sources[k]]
        for j in range(out.shape[0]):
            d = times[k] - row[j]
            out[j] += d * d
    for j in range(out.shape[0]):
        out[j] *= -scale


@numba.njit(cache=True, nogil=True)
def _softmax_and_energy(similarity, beta, posterior):  # pragma: no cover - compiled
    """posterior = softmax(beta sim); returns E = -(1/beta) logsumexp(beta sim) (Thm. 4.1)."""
    top = (beta * similarity).max()
    total = 0.0
    for j in range(similarity.shape[0]):
        posterior[j] = np.exp(beta * similarity[j] - top)
        total += posterior[j]
    for j in range(similarity.shape[0]):
        posterior[j] /= total
    return -(top + np.log(total)) / beta


@numba.njit(cache=True, nogil=True, fastmath=True)
def _loop_kernel(
    spike_times,
    active,
    times_by_input,
    tau_c,
    beta,
    pull,
    max_iterations,
    tolerance,
    refined,
    iterations,
    converged,
    energies,
):  # pragma: no cover - compiled
    """Eq. 16 per sample over its firing inputs (see predictive_coding_loop)."""
    batch, n_patterns = spike_times.shape[0], times_by_input.shape[1]
    similarity = np.empty(n_patterns)
    posterior = np.empty(n_patterns)
    new_posterior = np.empty(n_patterns)
    for b in range(batch):
        sources = np.flatnonzero(active[b])
        times = spike_times[b, sources].astype(np.float64)
        scale = 1.0 / (2.0 * tau_c * tau_c * max(sources.shape[0], 1))
        _sample_similarity(times, sources, times_by_input, scale, similarity)
        energies[b, 0] = _softmax_and_energy(similarity, beta, posterior)
        for step in range(max_iterations):
            if converged[b]:
                energies[b, step + 1] = energies[b, step]
                continue
            for k in range(sources.shape[0]):  # x_hat_i = sum_j pi_j t_ij
                row = times_by_input[sources[k]]
                prediction = 0.0
                for j in range(n_patterns):
                    prediction += posterior[j] * row[j]
                times[k] += pull * (prediction - times[k])
            _sample_similarity(times, sources, times_by_input, scale, similarity)
            energies[b, step + 1] = _softmax_and_energy(similarity, beta, new_posterior)
            change = 0.0
            for j in range(n_patterns):
                change = max(change, abs(new_posterior[j] - posterior[j]))
                posterior[j] = new_posterior[j]
            iterations[b] += 1
            converged[b] = change < tolerance
        refined[b] = spike_times[b]
        for k in range(sources.shape[0]):
            refined[b, sources[k]] = times[k]


@torch.no_grad()
def predictive_coding_loop(
    spike_times: torch.Tensor,
    active: torch.Tensor,
    pattern_times: torch.Tensor,
    tau_c: float,
    beta: float,
    pull: float,
    max_iterations: int,
    tolerance: float,
) -> LoopResult:
    """Run Eq. 16 until the posterior settles (per sample) or L_max iterations pass.

    Spike times (B, D) with mask (B, D), stored patterns t_ij (N, D). A sample that has settled
    keeps its times and repeats its last energy; silent inputs are never touched.
    """
    if tensor_path(spike_times):  # the twin of the compiled loop (beamnet.models.device)
        return predictive_coding_loop_reference(
            spike_times.detach(), active, pattern_times.detach(), tau_c, beta, pull, max_iterations, tolerance
        )
    times = spike_times.detach().contiguous()
    batch = times.shape[0]
    refined = torch.empty_like(times)
    iterations = torch.zeros(batch, dtype=torch.int64)
    converged = torch.zeros(batch, dtype=torch.bool)
    energies = torch.empty(batch, max_iterations + 1, dtype=torch.float64)
    _loop_kernel(
        times.numpy(),
        active.contiguous().numpy(),
        pattern_times.detach().t().contiguous().numpy(),
        float(tau_c),
        float(beta),
        float(pull),
        int(max_iterations),
        float(tolerance),
        refined.numpy(),
        iterations.numpy(),
        converged.numpy(),
        energies.numpy(),
    )
    return LoopResult(
        spike_times=refined, iterations=iterations, converged=converged, energies=energies.to(times.dtype)
    )


@torch.no_grad()
def predictive_coding_loop_reference(
    spike_times: torch.Tensor,
    active: torch.Tensor,
    pattern_times: torch.Tensor,
    tau_c: float,
    beta: float,
    pull: float,
    max_iterations: int,
    tolerance: float,
) -> LoopResult:
    """:func:`predictive_coding_loop` in batched tensor operations (the tested reference)."""
    times = spike_times.clone()
    mask = active.to(times.dtype)
    pattern_times = pattern_times.contiguous()
    mask_term = mask @ pattern_times.square().t()  # sum_i m_i t_ij^2: fixed during the loop
    similarity = hopfield_similarity(times, active, pattern_times, tau_c, mask_term)
    posterior = torch.softmax(beta * similarity, dim=1)
    batch = times.shape[0]
    iterations = torch.zeros(batch, dtype=torch.int64, device=times.device)
    converged = torch.zeros(batch, dtype=torch.bool, device=times.device)
    energies = [loop_energy(similarity, beta)]
    for _ in range(max_iterations):
        running = ~converged
        if not running.any():
            energies.append(energies[-1])
            continue
        prediction = posterior @ pattern_times  # x_hat, (B, D)
        times = times + pull * mask * (prediction - times) * running[:, None].to(times.dtype)
        similarity = hopfield_similarity(times, active, pattern_times, tau_c, mask_term)
        new_posterior = torch.softmax(beta * similarity, dim=1)
        change = (new_posterior - posterior).abs().amax(1)
        iterations += running.long()
        converged |= running & (change < tolerance)
        posterior = torch.where(running[:, None], new_posterior, posterior)
        energies.append(loop_energy(similarity, beta))
    return LoopResult(spike_times=times, iterations=iterations, converged=converged, energies=torch.stack(energies, 1))
