"""BEAM-Net, assembled (BEAM-Net §3-4): encoder -> loop -> coincidence -> Bayesian LIF -> Dirichlet.

    spike times xi (Eq. 7 cache)
      -> predictive-coding loop refines the firing inputs' times (Eq. 16, Thm. 3.6, Thm. 4.1)
      -> coincidence similarity S_j(xi) with the N stored patterns (Eqs. 21-22)
      -> Bayesian LIF pattern neurons, I_j = S_j + b_j, with lateral inhibition (Eqs. 8-9, Prop. 3.3)
      -> Dirichlet attention alpha_c = alpha_0 + eta * sum_j R_cj r_j (Eq. 12)
      -> prediction p = alpha / A with total / aleatoric / epistemic uncertainty (Eqs. 14-15)

Choices where the equations leave room (cited in the paper's Methods):

- Pattern neurons receive S_j as a constant current for the T LIF steps (a dendritic plateau
  carrying the coincidence score), plus a learned bias b_j.
- The loop runs without gradient; training sees the refined spike times as its input.
  ``loop.enabled: false`` removes it (the ablation without Eq. 16: the encoded times go to the
  coincidence detector unchanged).
- Training uses expected spikes (mean field); evaluation samples Bernoulli spikes and averages
  the predictive over Monte-Carlo passes (``stochastic_spikes: false``: the ablation that
  evaluates the mean field too). ``lateral_inhibition: false`` is the ablation with w_inh = 0.
- ``input_pool: f`` reads the cache pooled over f x f pixel blocks
  (:func:`beamnet.models.encoder.pool_inputs`), so that fewer inputs fire.
- ``prune.connections: k`` makes the coincidence connectivity sparse: at epoch
  ``prune.at_epoch`` each pattern keeps its k inputs of largest |w_ij| and training fine-tunes
  the rest (:meth:`beamnet.models.coincidence.CoincidenceDetector.prune`), so that an input
  spike reaches fewer than N patterns.
- ``head: softmax`` is the ablation without Eq. 12: the same readout evidence through a softmax
  (:class:`beamnet.models.dirichlet.SoftmaxHead`), cross-entropy without the evidential KL.
- Loss: NLL of p_y plus the evidential KL on misleading evidence (Sensoy et al. 2018),
  annealed in, plus a squared penalty pulling the mean firing rate to the sparsity target.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from beamnet.models.bayesian_lif import BayesianLIF
from beamnet.models.bidirectional import predictive_coding_loop
from beamnet.models.coincidence import CoincidenceDetector
from beamnet.models.dirichlet import make_head


@dataclass
class BeamNetOutput:
    """Everything one forward pass measures, per sample."""

    evidence: torch.Tensor  # (B, K) readout evidence sum_j R_cj r_j, before the head's link
    probabilities: torch.Tensor  # (B, K) p = alpha / A (the softmax head: softmax(g s e))
    rates: torch.Tensor  # (B, N) firing rates
    activity: torch.Tensor  # (B,) fraction of neuron-steps with a spike
    spike_counts: torch.Tensor  # (B,) spikes of the pattern neurons
    synaptic_events: torch.Tensor  # (B,) input spikes x the coincidence synapses each reaches
    iterations: torch.Tensor  # (B,) loop iterations
    converged: torch.Tensor  # (B,) loop stopped before L_max
    energies: torch.Tensor  # (B, L+1) loop energy per iteration


def loop_enabled(settings: Mapping[str, Any]) -> bool:
    """Whether the Eq. 16 loop runs (``model.beam_net.loop.enabled``, on where unset)."""
    return bool(settings["loop"].get("enabled", True))


def inhibition_strength(settings: Mapping[str, Any]) -> float:
    """Eq. 8's w_inh, or 0 for the ablation without lateral inhibition
    (``model.beam_net.lateral_inhibition: false``: the pattern neurons integrate independently)."""
    return float(settings["w_inh"]) if settings.get("lateral_inhibition", True) else 0.0


def pruned_connections(settings: Mapping[str, Any]) -> int | None:
    """k of ``model.beam_net.prune.connections`` (None: every pattern listens to all D inputs)."""
    connections = (settings.get("prune") or {}).get("connections")
    return None if connections is None else int(connections)


def prune_epoch(settings: Mapping[str, Any]) -> int | None:
    """The 0-based epoch before which the coincidence synapses are pruned (None: never)."""
    if pruned_connections(settings) is None:
        return None
    return int(settings["prune"].get("at_epoch", 0))


def sampled_spikes(settings: Mapping[str, Any]) -> bool:
    """Whether evaluation samples Eq. 9's Bernoulli spikes (``model.beam_net.stochastic_spikes``).
    False is the ablation without the stochastic threshold: evaluation runs the same mean-field
    dynamics as training (expected spikes s = P(spike)), one deterministic pass."""
    return bool(settings.get("stochastic_spikes", True))


class BEAMNet(nn.Module):
    """The full model; ``config`` is the ``model.beam_net`` section plus ``t_ref_ms``, ``dt_ms``."""

    def __init__(self, n_inputs: int, n_classes: int, settings: Mapping[str, Any], t_ref: float, dt: float) -> None:
        super().__init__()
        self.settings = dict(settings)
        # the ablation without inhibition runs (and exports) with w_inh = 0
        self.settings["w_inh"] = inhibition_strength(settings)
        self.n_classes = n_classes
        self.coincidence = CoincidenceDetector(
            n_inputs, settings["n_patterns"], settings["tau_c_ms"], t_ref, dt, pruned_connections(settings)
        )
        self.bias = nn.Parameter(torch.zeros(settings["n_patterns"]))
        self.lif = BayesianLIF(
            settings["tau_m_ms"],
            settings["theta"],
            settings["delta"],
            self.settings["w_inh"],
            settings["lif_steps"],
            dt,
        )
        self.attention = make_head(settings["n_patterns"], n_classes, settings)

    @torch.no_grad()
    def initialise_from_samples(
        self,
        spike_times: torch.Tensor,
        active: torch.Tensor,
        labels: torch.Tensor,
        generator: torch.Generator,
        mean_active: torch.Tensor | None = None,
    ) -> None:
        """Store training samples as the initial patterns and label them.

        Pattern j starts as a random training sample of class c_j (an associative memory of
        examples), and the readout starts with R_{c_j j} = readout_init and R_cj ~ 0 elsewhere,
        so that each pattern's evidence goes to its own class from the first step.
        """
        drive = float(self.settings.get("init_drive", 2.0))
        stored = self.coincidence.initialise_from_samples(spike_times, active, generator, drive, mean_active)
        strength = float(self.settings.get("readout_init", 1.0))
        readout = torch.full_like(self.attention.readout, -4.0)  # softplus(-4) ~ 0.018
        readout[labels[stored], torch.arange(len(stored))] = math.log(math.expm1(strength))
        self.attention.readout.copy_(readout)

    def forward(
        self,
        spike_times: torch.Tensor,
        active: torch.Tensor,
        stochastic: bool = False,
        generator: torch.Generator | None = None,
    ) -> BeamNetOutput:
        loop = self.settings["loop"]
        times_by_input = self.coincidence.times_by_input()  # (D, N), computed once
        # loop.enabled = false is the ablation without Eq. 16: zero iterations leave the encoded
        # spike times as they are (nothing to settle, so every sample counts as settled)
        enabled = loop_enabled(self.settings)
        refined = predictive_coding_loop(
            spike_times,
            active,
            times_by_input.detach().t(),
            self.settings["tau_c_ms"],
            loop["beta"],
            loop["pull"],
            loop["max_iterations"] if enabled else 0,
            loop["tolerance"],
        )
        if not enabled:
            refined.converged = torch.ones_like(refined.converged)
        similarity = self.coincidence(refined.spike_times, active, times_by_input)
        stochastic = stochastic and sampled_spikes(self.settings)
        lif = self.lif(similarity + self.bias, stochastic=stochastic, generator=generator)
        evidence = self.attention.evidence(lif.rates)
        return BeamNetOutput(
            evidence=evidence,
            probabilities=self.attention.calibrated(evidence),
            rates=lif.rates,
            activity=lif.activity,
            spike_counts=lif.spike_counts.sum(1),
            synaptic_events=self.coincidence.synaptic_events(active),
            iterations=refined.iterations,
            converged=refined.converged,
            energies=refined.energies,
        )

    def loss(
        self,
        output: BeamNetOutput,
        labels: torch.Tensor,
        kl_weight: float,
        sparsity_weight: float,
        sparsity_target: float,
    ) -> torch.Tensor:
        """NLL of p_y + kl_weight * evidential KL + sparsity_weight * (mean rate - target)^2
        (the softmax head has no evidential term: its NLL is the cross-entropy)."""
        nll = -torch.log(output.probabilities.gather(1, labels[:, None]).clamp_min(1e-12)).mean()
        kl = self.attention.training_penalty(output.evidence, labels).mean()
        sparsity = (output.rates.mean() - sparsity_target) ** 2
        return nll + kl_weight * kl + sparsity_weight * sparsity
