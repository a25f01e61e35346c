"""Component 3 (BEAM-Net §3.3, Eq. 12, Eqs. 14-15): Dirichlet attention and its uncertainty.

Attention over causes is a Dirichlet, pi ~ Dir(alpha), alpha = alpha_0 + eta * evidence (Eq. 12).
Class concentrations pool the evidence of the pattern neurons through a non-negative readout
R (softplus of free weights), so evidence for class c is sum_j R_cj r_j from the firing rates:

    alpha_c = alpha_0 + eta * sum_j R_cj r_j,      A = sum_c alpha_c   (the precision)

alpha_0 is the prior concentration per class; A is the Dirichlet precision (both are often
written alpha_0: here they are kept apart). The predictive is p_c = alpha_c / A, and in nats

    total      = H[p] = -sum_c p_c log p_c
    aleatoric  = E_Dir[H(pi)] = -sum_c p_c (psi(alpha_c + 1) - psi(A + 1))        (Eq. 15)
    epistemic  = total - aleatoric   (mutual information between label and pi, Eq. 14)

Both parts lie in [0, ln K]. (The BEAM-Net README printed epistemic 658.55 and aleatoric
-654.12, which these bounds rule out.)

The ablation against a softmax head (``model.beam_net.head: softmax``, :class:`SoftmaxHead`)
reads the same evidence through the same non-negative readout and replaces Eq. 12 by

    p = softmax(g * s * e),

g the logit gain (``model.beam_net.softmax_gain``) and s the fitted temperature. It trains by
cross-entropy alone (no evidential KL) and has no Dirichlet, so its uncertainty is the
Monte-Carlo decomposition over the P sampled-spike passes (BALD, Houlsby et al. 2011):
total = H[p], aleatoric = (1/P) sum_p H[p^(p)], epistemic = total - aleatoric (zero for one pass).
Both heads are increasing in each class's evidence, so they share the arg-max of e.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class DirichletUncertainty:
    """Per-sample total, aleatoric and epistemic uncertainty in nats."""

    total: torch.Tensor
    aleatoric: torch.Tensor
    epistemic: torch.Tensor


def entropy_nats(probabilities: torch.Tensor) -> torch.Tensor:
    """H[p] = -sum_c p_c log p_c over the last axis, in nats."""
    return -(probabilities * torch.log(probabilities.clamp_min(1e-12))).sum(-1)


def dirichlet_uncertainty(alpha: torch.Tensor) -> DirichletUncertainty:
    """Eqs. 14-15 for concentrations ``alpha`` of shape (B, K), all > 0."""
    precision = alpha.sum(-1, keepdim=True)
    mean = alpha / precision
    total = entropy_nats(mean)
    aleatoric = -(mean * (torch.digamma(alpha + 1.0) - torch.digamma(precision + 1.0))).sum(-1)
    aleatoric = torch.minimum(aleatoric, total)  # equal up to rounding when A -> infinity
    return DirichletUncertainty(total=total, aleatoric=aleatoric, epistemic=total - aleatoric)


def evidential_kl(alpha: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """KL(Dir(alpha~) || Dir(1)) with the true class's evidence removed (Sensoy et al. 2018).

    alpha~ = y + (1 - y) * alpha penalises only misleading evidence. Returns (B,).
    """
    n_classes = alpha.shape[-1]
    one_hot = F.one_hot(labels, n_classes).to(alpha.dtype)
    tilde = one_hot + (1.0 - one_hot) * alpha
    tilde_sum = tilde.sum(-1)
    return (
        torch.lgamma(tilde_sum)
        - torch.lgamma(torch.tensor(float(n_classes)))
        - torch.lgamma(tilde).sum(-1)
        + ((tilde - 1.0) * (torch.digamma(tilde) - torch.digamma(tilde_sum)[:, None])).sum(-1)
    )


class DirichletAttention(nn.Module):
    """Eq. 12: class concentrations from pattern firing rates through a non-negative readout."""

    fits_power = True  # the calibration map has a power as well as a scale

    def __init__(self, n_patterns: int, n_classes: int, alpha_0: float, eta: float) -> None:
        super().__init__()
        self.alpha_0, self.eta = alpha_0, eta
        self.readout = nn.Parameter(torch.zeros(n_classes, n_patterns))
        # The evidence calibration map e -> s * e**gamma, fitted after training on the validation
        # split by beamnet.train.calibrate (temperature scaling, Guo et al. 2017, applied to the
        # Dirichlet evidence, with a power so that it can sharpen as well as soften the
        # normalised evidence). s = gamma = 1 during training. Monotone: argmax unchanged.
        self.register_buffer("evidence_scale", torch.ones(()))
        self.register_buffer("evidence_power", torch.ones(()))

    @property
    def readout_weights(self) -> torch.Tensor:
        """R_cj >= 0, shape (K, N)."""
        return F.softplus(self.readout)

    def evidence(self, rates: torch.Tensor) -> torch.Tensor:
        """sum_j R_cj r_j, shape (B, K), before calibration."""
        return rates @ self.readout_weights.t()

    def concentrations(
        self, evidence: torch.Tensor, scale: float | torch.Tensor, power: float | torch.Tensor
    ) -> torch.Tensor:
        """Eq. 12 with the calibration map: alpha = alpha_0 + eta * scale * evidence**power."""
        if float(power) != 1.0:
            evidence = evidence.clamp_min(0.0) ** power
        return self.alpha_0 + self.eta * scale * evidence

    def predictive(
        self, evidence: torch.Tensor, scale: float | torch.Tensor, power: float | torch.Tensor
    ) -> torch.Tensor:
        """p = alpha / A (Eq. 12 under the calibration map), shape (B, K)."""
        alpha = self.concentrations(evidence, scale, power)
        return alpha / alpha.sum(-1, keepdim=True)

    def calibrated(self, evidence: torch.Tensor) -> torch.Tensor:
        """The predictive under the fitted map (s, gamma)."""
        return self.predictive(evidence, self.evidence_scale.to(evidence.dtype), self.evidence_power.to(evidence.dtype))

    def training_penalty(self, evidence: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The evidential KL on misleading evidence of the Dirichlet under the current map, (B,)
        (s = gamma = 1 while training)."""
        return evidential_kl(self.concentrations(evidence, self.evidence_scale, self.evidence_power), labels)

    def uncertainty(self, evidence: torch.Tensor, pass_evidence: list[torch.Tensor]) -> DirichletUncertainty:
        """Eqs. 14-15 of the calibrated Dirichlet of the mean evidence (the passes are not needed)."""
        scale, power = self.evidence_scale.to(evidence.dtype), self.evidence_power.to(evidence.dtype)
        return dirichlet_uncertainty(self.concentrations(evidence, scale, power))

    def forward(self, rates: torch.Tensor) -> torch.Tensor:
        """alpha (B, K) from firing rates (B, N)."""
        return self.concentrations(self.evidence(rates), self.evidence_scale, self.evidence_power)


class SoftmaxHead(DirichletAttention):
    """The ablation without Eq. 12: p = softmax(g * s * e) from the same readout evidence.

    Same parameters, initialisation and arithmetic up to the evidence (so the same synaptic
    events and the same Loihi export); only the link from evidence to the predictive, the
    training loss (no evidential KL) and the uncertainty (Monte-Carlo, BALD) change. The
    calibration map is a temperature s alone (Guo et al. 2017): softmax can sharpen without a
    power, so ``evidence_power`` stays 1.
    """

    fits_power = False

    def __init__(self, n_patterns: int, n_classes: int, gain: float) -> None:
        super().__init__(n_patterns, n_classes, alpha_0=1.0, eta=1.0)
        self.gain = gain

    def concentrations(self, evidence, scale, power) -> torch.Tensor:
        raise TypeError("the softmax head has no Dirichlet concentrations (model.beam_net.head: softmax)")

    def logits(self, evidence: torch.Tensor, scale: float | torch.Tensor) -> torch.Tensor:
        """z = g * s * e, shape (B, K)."""
        return self.gain * scale * evidence

    def predictive(self, evidence, scale, power) -> torch.Tensor:
        """p = softmax(g * s * e); ``power`` is ignored (always 1 for this head)."""
        return torch.softmax(self.logits(evidence, scale), -1)

    def training_penalty(self, evidence: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """No evidential term: the softmax head trains by cross-entropy alone."""
        return evidence.new_zeros(evidence.shape[0])

    def uncertainty(self, evidence: torch.Tensor, pass_evidence: list[torch.Tensor]) -> DirichletUncertainty:
        """BALD over the passes: total H[p], aleatoric the mean entropy of the passes' predictives
        (clipped to the total: p is the softmax of the mean logits, not the mean of softmaxes)."""
        scale = self.evidence_scale.to(evidence.dtype)
        total = entropy_nats(self.predictive(evidence, scale, 1.0))
        per_pass = [entropy_nats(self.predictive(e.to(evidence.dtype), scale, 1.0)) for e in pass_evidence]
        aleatoric = torch.minimum(torch.stack(per_pass).mean(0), total) if per_pass else total
        return DirichletUncertainty(total=total, aleatoric=aleatoric, epistemic=total - aleatoric)


def make_head(n_patterns: int, n_classes: int, settings) -> DirichletAttention:
    """The head ``model.beam_net.head`` names: ``dirichlet`` (Eq. 12, the default) or ``softmax``."""
    head = settings.get("head", "dirichlet")
    if head == "dirichlet":
        return DirichletAttention(n_patterns, n_classes, settings["alpha_0"], settings["eta"])
    if head == "softmax":
        return SoftmaxHead(n_patterns, n_classes, float(settings.get("softmax_gain", 10.0)))
    raise ValueError(f"model.beam_net.head: expected 'dirichlet' or 'softmax', got {head!r}")
