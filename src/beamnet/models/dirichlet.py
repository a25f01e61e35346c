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


def dirichlet_uncertainty(alpha: torch.Tensor) -> DirichletUncertainty:
    """Eqs. 14-15 for concentrations ``alpha`` of shape (B, K), all > 0."""
    precision = alpha.sum(-1, keepdim=True)
    mean = alpha / precision
    total = -(mean * torch.log(mean.clamp_min(1e-12))).sum(-1)
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

    def forward(self, rates: torch.Tensor) -> torch.Tensor:
        """alpha (B, K) from firing rates (B, N)."""
        return self.concentrations(self.evidence(rates), self.evidence_scale, self.evidence_power)
