"""Baselines on the same data, splits and training budget (BEAM-Net README, "Scientific rigour").

- ANN-MLP: one hidden ReLU layer over the latency cache's intensities xi (Eq. 7 inverted), the
  deterministic reference for GPU-style dense attention.
- Rate-coded SNN (after Tavanaei et al. 2018): Poisson input spikes -> a hidden layer of LIF
  neurons (tau_m dV/dt = -V + W s_in, hard threshold, reset to 0) -> a leaky readout whose
  time-averaged membrane gives the logits. Trained with a fast-sigmoid surrogate gradient
  (Zenke & Ganguli 2018: d s / d V ~ 1 / (1 + k |V - theta|)^2).

Hidden widths are chosen so that each baseline's parameter count matches BEAM-Net's
(2 N D + N K + N) within the configured tolerance (+-20 %).
"""

from __future__ import annotations

import torch
from torch import nn


def matched_hidden_width(target_parameters: int, n_inputs: int, n_classes: int) -> int:
    """Width H of a D -> H -> K network with biases whose parameter count is closest to the target."""
    return max(1, round((target_parameters - n_classes) / (n_inputs + 1 + n_classes)))


class ANNMLP(nn.Module):
    """D -> H (ReLU) -> K logits."""

    def __init__(self, n_inputs: int, hidden: int, n_classes: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(n_inputs, hidden)
        self.output = nn.Linear(hidden, n_classes)
        self.register_buffer("logit_scale", torch.ones(()))  # 1 / temperature, fitted after training

    def forward(self, intensity: torch.Tensor) -> torch.Tensor:
        return self.logit_scale * self.output(torch.relu(self.hidden(intensity)))


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside spike forward; fast-sigmoid surrogate derivative backward."""

    @staticmethod
    def forward(ctx, centred_potential: torch.Tensor, slope: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(centred_potential)
        ctx.slope = slope
        return (centred_potential > 0).to(centred_potential.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        (centred_potential,) = ctx.saved_tensors
        surrogate = 1.0 / (1.0 + ctx.slope * centred_potential.abs()) ** 2
        return grad_output * surrogate, None


class RateSNN(nn.Module):
    """Poisson spikes (B, T, D) -> LIF hidden layer (H) -> leaky readout (K)."""

    def __init__(
        self,
        n_inputs: int,
        hidden: int,
        n_classes: int,
        tau_m: float,
        threshold: float,
        surrogate_slope: float,
        dt: float,
    ) -> None:
        super().__init__()
        self.hidden = nn.Linear(n_inputs, hidden)
        self.output = nn.Linear(hidden, n_classes)
        self.decay = 1.0 - dt / tau_m
        self.threshold, self.surrogate_slope = threshold, surrogate_slope
        self.register_buffer("logit_scale", torch.ones(()))  # 1 / temperature, fitted after training

    def forward(self, spikes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return logits (B, K) and hidden spike counts (B, H)."""
        batch, steps, _ = spikes.shape
        currents = self.hidden(spikes.to(self.hidden.weight.dtype))  # (B, T, H), one matmul
        potential = currents.new_zeros(batch, currents.shape[-1])
        readout = currents.new_zeros(batch, self.output.out_features)
        readout_sum = torch.zeros_like(readout)
        counts = torch.zeros_like(potential)
        for step in range(steps):
            potential = self.decay * potential + currents[:, step]
            spike = FastSigmoidSpike.apply(potential - self.threshold, self.surrogate_slope)
            potential = potential * (1.0 - spike)
            counts = counts + spike
            readout = self.decay * readout + self.output(spike)
            readout_sum = readout_sum + readout
        return self.logit_scale * readout_sum / steps, counts
