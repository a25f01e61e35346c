"""Component 2b (BEAM-Net §3.2, Eqs. 8-9, Prop. 3.3): stochastic Bayesian LIF neurons.

One neuron per stored pattern j, driven by its coincidence score I_j = S_j + b_j:

    Eq. 8:  tau_m dV_j/dt = -V_j + I_j - w_inh * sum_{k != j} s_k      (lateral inhibition)
    Eq. 9:  P(s_j(t) = 1 | V_j) = sigmoid((V_j - theta) / Delta),  then V_j <- 0 if it fired.

integrated with forward Euler at step dt for T steps; inhibition acts on the next step.
Firing rates r_j = (1/T) sum_t s_j(t). Prop. 3.3: with w_inh > 2 the normalised rates
r_j / sum_k r_k approach the posterior P(cause_j | xi) = softmax_j(I_j / Delta) as T grows
(tests/test_theory.py measures how closely).

Training uses the mean-field (expected-spike) dynamics, s = P(spike), which are
differentiable; evaluation draws Bernoulli spikes from a seeded generator. The mean-field
simulation and its backpropagation through time are one autograd function
(:class:`MeanFieldLIF`) over compiled loops: as tensor operations, the T steps cost a few
hundred small dispatches per batch forward and backward, which dominated training on small
inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

from beamnet.models.device import tensor_path


@dataclass
class LIFOutput:
    """Rates (B, N), spike counts (B, N) and the fraction of neuron-steps that spiked (B,)."""

    rates: torch.Tensor
    spike_counts: torch.Tensor
    activity: torch.Tensor


@numba.njit(cache=True, nogil=True)
def _mean_field_forward(current, leak, theta, delta, w_inh, pre_reset, probability, total):  # pragma: no cover
    """Eqs. 8-9 with s = P(spike); stores V before reset and P per step for the backward pass.

    Constants arrive in the arrays' precision and ``one`` keeps every product in it (a bare
    ``1`` would promote float32 arithmetic to float64); the three passes per step keep the
    exp-free ones vectorisable."""
    steps, batch, n = probability.shape
    one = np.ones(1, current.dtype)[0]
    inverse_delta = one / delta
    for b in range(batch):
        potential = np.zeros(n, current.dtype)
        spikes = np.zeros(n, current.dtype)
        for t in range(steps):
            spike_sum = spikes.sum()
            v_row, p_row = pre_reset[t, b], probability[t, b]
            for j in range(n):
                inhibition = w_inh * (spike_sum - spikes[j])
                v_row[j] = potential[j] + leak * (-potential[j] + current[b, j] - inhibition)
            for j in range(n):
                p_row[j] = one / (one + np.exp((theta - v_row[j]) * inverse_delta))
            for j in range(n):
                potential[j] = v_row[j] * (one - p_row[j])
                total[b, j] += p_row[j]
                spikes[j] = p_row[j]


@numba.njit(cache=True, nogil=True)
def _mean_field_backward(grad_total, leak, delta, w_inh, pre_reset, probability, grad_current):  # pragma: no cover
    """Backpropagation through time of :func:`_mean_field_forward` (see MeanFieldLIF)."""
    steps, batch, n = probability.shape
    one = np.ones(1, grad_total.dtype)[0]
    inverse_delta = one / delta
    for b in range(batch):
        grad_potential = np.zeros(n, grad_total.dtype)  # dL/dV_t (after reset)
        grad_spikes_next = np.zeros(n, grad_total.dtype)  # dL/ds_t through step t+1's inhibition
        grad_pre = np.zeros(n, grad_total.dtype)
        for t in range(steps - 1, -1, -1):
            v_row, p_row = pre_reset[t, b], probability[t, b]
            for j in range(n):
                v, p = v_row[j], p_row[j]
                grad_spike = grad_total[b, j] + grad_spikes_next[j] - grad_potential[j] * v
                grad_pre[j] = grad_potential[j] * (one - p) + grad_spike * p * (one - p) * inverse_delta
                grad_current[b, j] += leak * grad_pre[j]
                grad_potential[j] = (one - leak) * grad_pre[j]
            grad_pre_sum = grad_pre.sum()
            for j in range(n):  # inhibition at step t came from the spikes of step t-1
                grad_spikes_next[j] = -leak * w_inh * (grad_pre_sum - grad_pre[j])


class MeanFieldLIF(torch.autograd.Function):
    """Mean-field Eqs. 8-9 for T steps: currents I (B, N) -> summed expected spikes (B, N).

    Forward, per step t (V'_t before the reset, s_t = P(spike)):

        V'_t = V_{t-1} + (dt / tau_m) (-V_{t-1} + I - w_inh (sum_k s_{t-1,k} - s_{t-1,j}))
        s_t = sigmoid((V'_t - theta) / Delta),   V_t = V'_t (1 - s_t),   total = sum_t s_t.

    Backward (BPTT, a = dt / tau_m, sigma' = s (1 - s) / Delta), from t = T down to 1:

        g_s   = dL/dtotal + [inhibition path from step t+1] - g_V V'_t
        g_V'  = g_V (1 - s_t) + g_s sigma'
        dL/dI += a g_V',   g_V <- (1 - a) g_V',
        inhibition path to s_{t-1,k}: -a w_inh (sum_j g_V'_j - g_V'_k).
    """

    @staticmethod
    def forward(
        ctx,
        current: torch.Tensor,
        steps: int,
        leak: float,
        theta: float,
        delta: float,  # type: ignore[override]
        w_inh: float,
    ) -> torch.Tensor:
        current = current.detach().contiguous()
        pre_reset = current.new_empty(steps, *current.shape)
        probability = current.new_empty(steps, *current.shape)
        total = torch.zeros_like(current)
        scalar = current.numpy().dtype.type  # constants in the tensors' precision
        _mean_field_forward(
            current.numpy(),
            scalar(leak),
            scalar(theta),
            scalar(delta),
            scalar(w_inh),
            pre_reset.numpy(),
            probability.numpy(),
            total.numpy(),
        )
        ctx.save_for_backward(pre_reset, probability)
        ctx.constants = (leak, delta, w_inh)
        return total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_total: torch.Tensor):  # type: ignore[override]
        pre_reset, probability = ctx.saved_tensors
        leak, delta, w_inh = ctx.constants
        grad_current = torch.zeros_like(grad_total)
        scalar = grad_total.numpy().dtype.type
        _mean_field_backward(
            grad_total.contiguous().numpy(),
            scalar(leak),
            scalar(delta),
            scalar(w_inh),
            pre_reset.numpy(),
            probability.numpy(),
            grad_current.numpy(),
        )
        return grad_current, None, None, None, None, None


class BayesianLIF(nn.Module):
    """Eqs. 8-9 with lateral inhibition; see the module docstring."""

    def __init__(self, tau_m: float, theta: float, delta: float, w_inh: float, steps: int, dt: float) -> None:
        super().__init__()
        self.tau_m, self.theta, self.delta, self.w_inh = tau_m, theta, delta, w_inh
        self.steps, self.dt = steps, dt

    def forward(
        self, current: torch.Tensor, stochastic: bool = False, generator: torch.Generator | None = None
    ) -> LIFOutput:
        """Simulate T steps for input currents (B, N).

        Parameters
        ----------
        stochastic
            Draw Bernoulli spikes (evaluation) instead of expected spikes (training).
        """
        leak = self.dt / self.tau_m
        if not stochastic and tensor_path(current):
            return self.simulate(current, False)  # the twin of the compiled pass (beamnet.models.device)
        if not stochastic:
            total = MeanFieldLIF.apply(current, self.steps, leak, self.theta, self.delta, self.w_inh)
            rates = total / self.steps
            return LIFOutput(rates=rates, spike_counts=total, activity=rates.mean(1))
        return self.simulate(current, stochastic, generator)

    def simulate(self, current: torch.Tensor, stochastic: bool, generator: torch.Generator | None = None) -> LIFOutput:
        """Eqs. 8-9 step by step in tensor operations: the sampled path, and the reference that
        the compiled mean-field path is tested against."""
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
