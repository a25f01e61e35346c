"""Component 2a (BEAM-Net §4.2, Eqs. 21-22): the coincidence-detecting associative memory.

Each of N stored patterns x_j is a vector of learned spike times t_i(x_j) in [0, T_ref] with
learned synaptic weights w_ij. Its similarity to an input xi is

    S_j(xi) = sum_i w_ij * kappa(t_i(xi) - t_i(x_j)),   kappa(d) = exp(-d^2 / (2 tau_c^2)),

with tau_c the NMDA coincidence window (5 ms, Markram et al. 1997); silent inputs add 0.
That is 2 N D parameters (the BEAM-Net README's 202,778 for N = 128 on 784 inputs).

Event-driven evaluation: only inputs that fire cost work, as on neuromorphic hardware. The
firing inputs of a batch form one list of (sample, input, time) events; each event reads its
input's column of pattern times and weights and adds w_ij kappa(t - t_ij) to the N pattern
neurons of its sample (``index_add``). Each input spike is one synaptic event on each of the
N pattern neurons; silent inputs cost nothing.
"""

from __future__ import annotations

import torch
from torch import nn


def coincidence_kernel(delta_t: torch.Tensor, tau_c: float) -> torch.Tensor:
    """Eq. 22: kappa(d) = exp(-d^2 / (2 tau_c^2))."""
    return torch.exp(-delta_t.square() / (2.0 * tau_c**2))


class CoincidenceDetector(nn.Module):
    """Eqs. 21-22 with learned pattern spike times t_i(x_j) and weights w_ij.

    Parameters
    ----------
    n_inputs, n_patterns
        D and N.
    tau_c, t_ref, dt
        Coincidence window, latest spike time and time step, in ms.
    """

    def __init__(self, n_inputs: int, n_patterns: int, tau_c: float, t_ref: float, dt: float) -> None:
        super().__init__()
        self.n_inputs, self.n_patterns = n_inputs, n_patterns
        self.tau_c, self.t_ref, self.dt = tau_c, t_ref, dt
        # t_i(x_j) = T_ref * sigmoid(u_ij) keeps pattern times inside [0, T_ref].
        self.pattern_logits = nn.Parameter(torch.zeros(n_patterns, n_inputs))
        self.weights = nn.Parameter(torch.zeros(n_patterns, n_inputs))

    @property
    def pattern_times(self) -> torch.Tensor:
        """t_i(x_j), shape (N, D), in [0, T_ref] ms."""
        return self.t_ref * torch.sigmoid(self.pattern_logits)

    @torch.no_grad()
    def initialise_from_samples(self, spike_times: torch.Tensor, active: torch.Tensor,
                                generator: torch.Generator, drive: float) -> torch.Tensor:
        """Store N training samples as the initial patterns (silent inputs get T_ref).

        Weights start at ``drive`` / (mean number of active inputs), so that a sample's
        similarity to its own pattern is about ``drive``. Returns the indices of the samples
        stored, so that the caller can label the patterns.
        """
        pick = torch.randperm(spike_times.shape[0], generator=generator)[: self.n_patterns]
        if pick.numel() < self.n_patterns:  # fewer samples than patterns: reuse with jitter
            pick = pick[torch.arange(self.n_patterns) % pick.numel()]
        times = torch.where(active[pick], spike_times[pick], torch.full_like(spike_times[pick], self.t_ref))
        jitter = 0.5 * self.dt * torch.randn(times.shape, generator=generator)
        fraction = ((times + jitter) / self.t_ref).clamp(0.02, 0.98)
        self.pattern_logits.copy_(torch.log(fraction / (1.0 - fraction)))
        mean_active = active.float().sum(1).mean().clamp_min(1.0)
        self.weights.copy_(drive / mean_active * (1.0 + 0.1 * torch.randn(self.weights.shape, generator=generator)))
        return pick

    def forward(self, spike_times: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """S_j(xi) for a batch: spike times (B, D) in ms and active mask (B, D) -> (B, N)."""
        sample, source = active.nonzero(as_tuple=True)               # the batch's input spikes
        stored_times = self.pattern_times.t().index_select(0, source)  # (events, N)
        weights = self.weights.t().index_select(0, source)
        kappa = coincidence_kernel(spike_times[sample, source][:, None] - stored_times, self.tau_c)
        similarity = spike_times.new_zeros(active.shape[0], self.n_patterns)
        return similarity.index_add(0, sample, kappa * weights)

    def synaptic_events(self, active: torch.Tensor) -> torch.Tensor:
        """Synaptic operations per sample: every input spike reaches all N patterns."""
        return active.sum(1).to(torch.float32) * self.n_patterns
