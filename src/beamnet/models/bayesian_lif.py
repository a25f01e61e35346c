"""Component 2b (BEAM-Net §3.2, Eqs. 8-9, Prop. 3.3): stochastic Bayesian LIF neurons.

One neuron per stored pattern j, driven by its coincidence score I_j = S_j + b_j:

    Eq. 8:  tau_m dV_j/dt = -V_j + I_j - w_inh * sum_{k != j} s_k      (lateral inhibition)
    Eq. 9:  P(s_j(t) = 1 | V_j) = sigmoid((V_j - theta) / Delta),  then V_j <- 0 if it fired.

integrated with forward Euler at step dt for T steps; inhibition acts on the next step.
Firing rates r_j = (1/T) sum_t s_j(t). Prop. 3.3: with w_inh > 2 the normalised rates
r_j / sum_k r_k approach the posterior P(cause_j | xi) = softmax_j(I_j / Delta) as T grows
(tests/test_theory.py measures how closely).

Training uses the mean-field (expected-spike) dynamics, s = P(spike), which are
differentiable; evaluation draws Bernoulli spikes from a seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class LIFOutput:
    """Rates (B, N), spike counts (B, N) and the fraction of neuron-steps that spiked (B,)."""

    rates: torch.Tensor
    spike_counts: torch.Tensor
    activity: torch.Tensor


class BayesianLIF(nn.Module):
    """Eqs. 8-9 with lateral inhibition; see the module docstring."""

    def __init__(self, tau_m: float, theta: float, delta: float, w_inh: float, steps: int,
                 dt: float) -> None:
        super().__init__()
        self.tau_m, self.theta, self.delta, self.w_inh = tau_m, theta, delta, w_inh
        self.steps, self.dt = steps, dt

    def forward(self, current: torch.Tensor, stochastic: bool = False,
                generator: torch.Generator | None = None) -> LIFOutput:
        """Simulate T steps for input currents (B, N).

        Parameters
        ----------
        stochastic
            Draw Bernoulli spikes (evaluation) instead of expected spikes (training).
        """
        leak = self.dt / self.tau_m
        potential = torch.zeros_like(current)
        spikes = torch.zeros_like(current)
        total = torch.zeros_like(current)
        for _ in range(self.steps):
            inhibition = self.w_inh * (spikes.sum(1, keepdim=True) - spikes)
            potential = potential + leak * (-potential + current - inhibition)
            probability = torch.sigmoid((potential - self.theta) / self.delta)
            if stochastic:
                spikes = torch.bernoulli(probability, generator=generator)
            else:
                spikes = probability
            potential = potential * (1.0 - spikes)
            total = total + spikes
        rates = total / self.steps
        return LIFOutput(rates=rates, spike_counts=total, activity=rates.mean(1))
