"""Component 2a (BEAM-Net §4.2, Eqs. 21-22): the coincidence-detecting associative memory.

Each of N stored patterns x_j is a vector of learned spike times t_i(x_j) in [0, T_ref] with
learned synaptic weights w_ij. Its similarity to an input xi is

    S_j(xi) = sum_i w_ij * kappa(t_i(xi) - t_i(x_j)),   kappa(d) = exp(-d^2 / (2 tau_c^2)),

with tau_c the NMDA coincidence window (5 ms, Markram et al. 1997); silent inputs add 0.
That is 2 N D parameters (the BEAM-Net README's 202,778 for N = 128 on 784 inputs).

Sparse connectivity (``model.beam_net.prune.connections`` = k): magnitude pruning with
fine-tuning (Han et al. 2015). At the epoch ``prune.at_epoch`` each pattern keeps the k inputs of
largest |w_ij| and drops the rest, m_ij in {0, 1} with sum_i m_ij = k, and training goes on with

    S_j(xi) = sum_i m_ij w_ij kappa(t_i(xi) - t_i(x_j)),

so that an input spike reaches only the patterns that listen to it: sum_j m_ij synaptic events
instead of N. ``prune.preserve_drive`` rescales each pattern's kept weights so that its mean
drive on the training split is unchanged (:meth:`CoincidenceDetector.prune`).

Event-driven evaluation: only inputs that fire cost work, as on neuromorphic hardware. The
firing inputs of a batch form one list of (sample, input, time) events; each event reads its
input's row of pattern times and weights (both stored input-major, (D, N)) and adds
w_ij kappa(t - t_ij) to the N pattern neurons of its sample. Each input spike is one synaptic
event on each of the N pattern neurons; silent inputs cost nothing.

The event sum and its gradient are one autograd function (:class:`EventCoincidence`) whose
passes are compiled loops over (event, pattern) pairs (numba) around one vectorised exp:
as separate tensor operations the same arithmetic makes a dozen passes over (events, N)
temporaries, and training spent most of its time there.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

from beamnet.config import ConfigError
from beamnet.models.device import tensor_path


def coincidence_kernel(delta_t: torch.Tensor, tau_c: float) -> torch.Tensor:
    """Eq. 22: kappa(d) = exp(-d^2 / (2 tau_c^2)) (the definition the compiled sum is tested against)."""
    return torch.exp(-delta_t.square() / (2.0 * tau_c**2))


def dense_coincidence(
    spike_times: torch.Tensor,
    active: torch.Tensor,
    times_by_input: torch.Tensor,
    weights_by_input: torch.Tensor,
    tau_c: float,
    chunk: int = 16,
) -> torch.Tensor:
    """Eqs. 21-22 in tensor operations, differentiable by autograd: the twin of
    :class:`EventCoincidence` for CUDA (beamnet.models.device). S[b, j] = sum_i m_bi W[i, j]
    kappa(t_bi - T[i, j]), over (chunk, D, N) blocks of samples to bound memory."""
    mask = active.to(times_by_input.dtype)
    parts = []
    for start in range(0, spike_times.shape[0], chunk):
        delta = spike_times[start : start + chunk, :, None].detach() - times_by_input[None]
        kappa = coincidence_kernel(delta, tau_c) * mask[start : start + chunk, :, None]
        parts.append((kappa * weights_by_input[None]).sum(1))
    return torch.cat(parts) if parts else times_by_input.new_zeros(0, times_by_input.shape[1])


@numba.njit(cache=True, nogil=True)
def _kernel_exponents(event_times, source, times_by_input, inverse_width, exponents):  # pragma: no cover - compiled
    """exponents[e, j] = -(t_e - T[i_e, j])^2 / (2 tau_c^2): gather and square in one pass
    (``inverse_width`` is -1 / (2 tau_c^2))."""
    for e in range(event_times.shape[0]):
        i, t = source[e], event_times[e]
        for j in range(times_by_input.shape[1]):
            d = t - times_by_input[i, j]
            exponents[e, j] = d * d * inverse_width


@numba.njit(cache=True, nogil=True)
def _weighted_sum(kappa, sample, source, weights_by_input, similarity):  # pragma: no cover - compiled
    """S[b_e, j] += W[i_e, j] kappa[e, j], events in their fixed order."""
    for e in range(kappa.shape[0]):
        b, i = sample[e], source[e]
        for j in range(kappa.shape[1]):
            similarity[b, j] += weights_by_input[i, j] * kappa[e, j]


@numba.njit(cache=True, nogil=True)
def _coincidence_backward(
    grad_similarity,
    kappa,
    event_times,
    sample,
    source,
    times_by_input,
    weights_by_input,
    slope_scale,
    grad_times,
    grad_weights,
):  # pragma: no cover - compiled
    """dL/dW[i_e, j] += G[b_e, j] kappa_ej; dL/dT[i_e, j] += G[b_e, j] W[i_e, j] kappa_ej d_ej / tau_c^2."""
    for e in range(kappa.shape[0]):
        b, i, t = sample[e], source[e], event_times[e]
        for j in range(kappa.shape[1]):
            g_kappa = grad_similarity[b, j] * kappa[e, j]
            grad_weights[i, j] += g_kappa
            grad_times[i, j] += g_kappa * weights_by_input[i, j] * (t - times_by_input[i, j]) * slope_scale


class EventCoincidence(torch.autograd.Function):
    """Eqs. 21-22 over an event list, with a hand-written backward pass.

    Forward, for events e = (sample b_e, input i_e, time t_e) and pattern columns
    T = t(x_j)^T, W = w_j^T of shape (D, N):

        d_ej = t_e - T[i_e, j],   kappa_ej = exp(-d_ej^2 / (2 tau_c^2)),
        S[b, j] = sum_{e: b_e = b} W[i_e, j] kappa_ej.

    Backward, with G = dL/dS: dL/dW[i, j] = sum_{e: i_e = i} G[b_e, j] kappa_ej and
    dL/dT[i, j] = sum_{e: i_e = i} G[b_e, j] W[i_e, j] kappa_ej d_ej / tau_c^2
    (dkappa/dT = kappa d / tau_c^2). Three passes over (events, N): a compiled gather of the
    exponents, torch's vectorised ``exp_`` in place, a compiled weighted sum; kappa is the one
    (events, N) array kept for the backward pass, which is one compiled loop. Events are
    visited in a fixed order, so every sum is deterministic. Event times are the loop's
    output, not trained.
    """

    @staticmethod
    def forward(
        ctx,
        event_times: torch.Tensor,
        sample: torch.Tensor,
        source: torch.Tensor,  # type: ignore[override]
        times_by_input: torch.Tensor,
        weights_by_input: torch.Tensor,
        batch: int,
        tau_c: float,
    ) -> torch.Tensor:
        dtype = times_by_input.dtype
        kappa = torch.empty(len(event_times), times_by_input.shape[1], dtype=dtype)
        inverse_width = np.array(-0.5 / tau_c**2, dtype=times_by_input.numpy().dtype)[()]
        _kernel_exponents(event_times.numpy(), source.numpy(), times_by_input.numpy(), inverse_width, kappa.numpy())
        kappa.exp_()
        similarity = times_by_input.new_zeros(batch, times_by_input.shape[1])
        _weighted_sum(kappa.numpy(), sample.numpy(), source.numpy(), weights_by_input.numpy(), similarity.numpy())
        ctx.save_for_backward(kappa, event_times, sample, source, times_by_input, weights_by_input)
        ctx.tau_c = tau_c
        return similarity

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_similarity: torch.Tensor):  # type: ignore[override]
        kappa, event_times, sample, source, times_by_input, weights_by_input = ctx.saved_tensors
        grad_times = torch.zeros_like(times_by_input)
        grad_weights = torch.zeros_like(weights_by_input)
        slope_scale = np.array(1.0 / ctx.tau_c**2, dtype=times_by_input.numpy().dtype)[()]
        _coincidence_backward(
            grad_similarity.contiguous().numpy(),
            kappa.numpy(),
            event_times.numpy(),
            sample.numpy(),
            source.numpy(),
            times_by_input.numpy(),
            weights_by_input.numpy(),
            slope_scale,
            grad_times.numpy(),
            grad_weights.numpy(),
        )
        return None, None, None, grad_times, grad_weights, None, None


class CoincidenceDetector(nn.Module):
    """Eqs. 21-22 with learned pattern spike times t_i(x_j) and weights w_ij.

    Parameters
    ----------
    n_inputs, n_patterns
        D and N.
    tau_c, t_ref, dt
        Coincidence window, latest spike time and time step, in ms.
    """

    def __init__(
        self, n_inputs: int, n_patterns: int, tau_c: float, t_ref: float, dt: float, connections: int | None = None
    ) -> None:
        super().__init__()
        self.n_inputs, self.n_patterns = n_inputs, n_patterns
        self.connections = connections
        self.tau_c, self.t_ref, self.dt = tau_c, t_ref, dt
        # t_i(x_j) = T_ref * sigmoid(u_ij) keeps pattern times inside [0, T_ref]. Both parameters
        # are stored input-major, (D, N): an input spike reads one contiguous row of each.
        self.pattern_logits = nn.Parameter(torch.zeros(n_inputs, n_patterns))
        self.weights = nn.Parameter(torch.zeros(n_inputs, n_patterns))
        if connections is not None:
            if not 1 <= connections <= n_inputs:
                raise ConfigError(
                    f"config key 'model.beam_net.prune.connections' = {connections!r}: expected an integer "
                    f"in [1, D = {n_inputs}] (each pattern keeps k of the D inputs this model reads)"
                )
            # m_ij, input-major as the weights; all ones until :meth:`prune` runs
            self.register_buffer("connection_mask", torch.ones(n_inputs, n_patterns, dtype=torch.bool))

    @property
    def is_sparse(self) -> bool:
        """Whether this detector has a connection mask (``prune.connections`` set)."""
        return self.connections is not None

    @property
    def is_pruned(self) -> bool:
        """Whether :meth:`prune` has dropped connections (the mask is no longer all ones)."""
        return self.is_sparse and not bool(self.connection_mask.all())

    def effective_weights(self) -> torch.Tensor:
        """m_ij w_ij stored input-major, (D, N): the weights the similarity uses."""
        if not self.is_sparse:
            return self.weights
        return self.weights * self.connection_mask.to(self.weights.dtype)

    @torch.no_grad()
    def prune(self, firing_fractions: torch.Tensor | None = None) -> None:
        """Keep each pattern's k = ``connections`` inputs of largest |w_ij| (magnitude pruning).

        Ties go to the lower input index (a stable sort), so that the mask is deterministic.
        The dropped weights are set to 0, so that the stored weights equal the effective ones.

        With ``firing_fractions`` f (D,), how often each input fires on the training split, the
        kept weights of pattern j are scaled by

            c_j = sum_i |w_ij| f_i / sum_i m_ij |w_ij| f_i,

        so that the pattern's mean drive at coincidence (kappa = 1), sum_i m_ij |w_ij| f_i, is the
        one before pruning (``prune.preserve_drive``): pruning then removes synapses, not the drive
        that puts the pattern neurons near their threshold. A pattern whose kept inputs never
        fire keeps c_j = 1.
        """
        if not self.is_sparse:
            raise ValueError("prune() needs model.beam_net.prune.connections")
        order = torch.argsort(self.weights.abs(), dim=0, descending=True, stable=True)
        mask = torch.zeros_like(self.connection_mask)
        mask.scatter_(0, order[: self.connections], True)
        if firing_fractions is not None:
            drive = self.weights.abs() * firing_fractions.to(self.weights.dtype)[:, None]  # (D, N)
            kept = (drive * mask.to(drive.dtype)).sum(0)
            scale = torch.where(kept > 0, drive.sum(0) / kept.clamp_min(torch.finfo(drive.dtype).tiny), 1.0)
            self.weights.mul_(scale[None, :])
        self.connection_mask.copy_(mask)
        self.apply_mask()

    @torch.no_grad()
    def apply_mask(self) -> None:
        """w_ij <- m_ij w_ij: keep dropped synapses at 0 after an optimiser step."""
        if self.is_sparse:
            self.weights.mul_(self.connection_mask.to(self.weights.dtype))

    def fan_out(self) -> torch.Tensor:
        """sum_j m_ij: how many patterns each input's spike reaches, (D,) float64 (N without a mask)."""
        if not self.is_sparse:
            return torch.full((self.n_inputs,), float(self.n_patterns), dtype=torch.float64)
        return self.connection_mask.sum(1).to(torch.float64)

    def times_by_input(self) -> torch.Tensor:
        """t_i(x_j) stored input-major, shape (D, N), in [0, T_ref] ms."""
        return self.t_ref * torch.sigmoid(self.pattern_logits)

    @property
    def pattern_times(self) -> torch.Tensor:
        """t_i(x_j), shape (N, D), in [0, T_ref] ms (a transposed view of the stored rows)."""
        return self.times_by_input().t()

    @property
    def pattern_weights(self) -> torch.Tensor:
        """m_ij w_ij, shape (N, D) (a transposed view of the effective rows; w_ij without a mask)."""
        return self.effective_weights().t()

    @torch.no_grad()
    def initialise_from_samples(
        self,
        spike_times: torch.Tensor,
        active: torch.Tensor,
        generator: torch.Generator,
        drive: float,
        mean_active: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Store N training samples as the initial patterns (silent inputs get T_ref).

        Weights start at ``drive`` / (mean number of active inputs), so that a sample's
        similarity to its own pattern is about ``drive``. Returns the indices of the samples
        stored, so that the caller can label the patterns. ``mean_active`` is the mean number of
        active inputs per sample where the caller has it (``active`` then need only be indexable,
        as a split read from its cache is).
        """
        pick = torch.randperm(spike_times.shape[0], generator=generator)[: self.n_patterns]
        if pick.numel() < self.n_patterns:  # fewer samples than patterns: reuse with jitter
            pick = pick[torch.arange(self.n_patterns) % pick.numel()]
        times = torch.where(active[pick], spike_times[pick], torch.full_like(spike_times[pick], self.t_ref))
        jitter = 0.5 * self.dt * torch.randn(times.shape, generator=generator)
        fraction = ((times + jitter) / self.t_ref).clamp(0.02, 0.98)
        self.pattern_logits.copy_(torch.log(fraction / (1.0 - fraction)).t())
        if mean_active is None:
            mean_active = active.float().sum(1).mean()
        mean_active = mean_active.clamp_min(1.0)
        noise = torch.randn((self.n_patterns, self.n_inputs), generator=generator)
        self.weights.copy_((drive / mean_active * (1.0 + 0.1 * noise)).t())
        return pick

    def forward(
        self, spike_times: torch.Tensor, active: torch.Tensor, times_by_input: torch.Tensor | None = None
    ) -> torch.Tensor:
        """S_j(xi) for a batch: spike times (B, D) in ms and active mask (B, D) -> (B, N).

        ``times_by_input`` is :meth:`times_by_input` when the caller has it already."""
        if times_by_input is None:
            times_by_input = self.times_by_input()
        weights = self.effective_weights()
        if tensor_path(times_by_input):
            return dense_coincidence(spike_times, active, times_by_input, weights, self.tau_c)
        sample, source = active.nonzero(as_tuple=True)  # the batch's input spikes
        return EventCoincidence.apply(
            spike_times[sample, source].detach().contiguous(),
            sample,
            source,
            times_by_input,
            weights,
            active.shape[0],
            self.tau_c,
        )

    def synaptic_events(self, active: torch.Tensor) -> torch.Tensor:
        """Synaptic operations per sample, float64: each input spike reaches the patterns that listen
        to it, sum_i a_i sum_j m_ij (all N patterns without a mask: n_active N)."""
        if not self.is_sparse:
            return active.sum(1).to(torch.float64) * self.n_patterns
        return active.to(torch.float64) @ self.fan_out()
