"""BEAM-Net's export to the fixed-point archives lava runs (``loihi_export``).

Writes two NumPy archives (format in :mod:`beamnet.loihi.fixed_point`):

- ``network.npz``: the quantised network (8-bit weights with exponents, 12-bit du / dv,
  17-bit threshold, 13-bit biases), its scales, the encoder settings and provenance;
- ``inputs.npz``: the test split as input lines (input i, grid step g) per sample, with the
  labels and the torch model's predictions to compare with: ``torch_prediction`` (the model as
  the evaluation stage runs it: stochastic threshold, ``evaluate.mc_passes`` Monte-Carlo passes,
  the same seed) and ``torch_prediction_deterministic`` (the same refined inputs through the
  noise-free threshold V > theta in float, without quantisation).

The predictive-coding loop (Eq. 16) is dense arithmetic on the host (Loihi's x86 cores), not
on the neuromorphic cores: with ``loihi.host_loop`` the refined spike times are what the
input lines carry; otherwise the raw encoded times are."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from beamnet.io import atomic_paths, write_npz
from beamnet.loihi.fixed_point import (
    A_IN_LIMIT,
    BIAS_MANT_RANGE,
    FORMAT_VERSION,
    STOP_WEIGHT_MANT,
    VTH_MAX,
    check_network,
)
from beamnet.loihi.quantise import DECAY_UNITY_F, _exp_for, quantise_even
from beamnet.provenance import provenance_json

DRIVE_HEADROOM = 1.25


def refined_times(model, spike_times: torch.Tensor, active: torch.Tensor, host_loop: bool) -> torch.Tensor:
    from beamnet.models.beam_net import loop_enabled
    from beamnet.models.bidirectional import predictive_coding_loop

    if not host_loop or not loop_enabled(model.settings):
        return spike_times
    s, loop = model.settings, model.settings["loop"]
    with torch.no_grad():
        return predictive_coding_loop(
            spike_times,
            active,
            model.coincidence.pattern_times,
            s["tau_c_ms"],
            loop["beta"],
            loop["pull"],
            loop["max_iterations"],
            loop["tolerance"],
        ).spike_times


def deterministic_reference(
    model, spike_times: torch.Tensor, active: torch.Tensor, threshold_shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Eqs. 8-9 with the noise-free threshold V > theta + shift * Delta, in float: (prediction, spikes)."""
    s = model.settings
    current = model.coincidence(spike_times, active) + model.bias
    leak = model.lif.dt / model.lif.tau_m
    potential = torch.zeros_like(current)
    spikes = torch.zeros_like(current)
    total = torch.zeros_like(current)
    for _ in range(model.lif.steps):
        inhibition = s["w_inh"] * (spikes.sum(1, keepdim=True) - spikes)
        potential = potential + leak * (-potential + current - inhibition)
        spikes = (potential > s["theta"] + threshold_shift * s["delta"]).to(current.dtype)
        potential = potential * (1.0 - spikes)
        total = total + spikes
    evidence = total @ model.attention.readout_weights.t()
    return evidence.argmax(1).numpy(), total.sum(1).numpy()


def _stop_needed(current_scale: float, drive_absmax: float, vth: float, bias_absmax: float) -> float:
    """a_in the stop line must outweigh: the largest drive, two thresholds and the bias."""
    return current_scale * drive_absmax * DRIVE_HEADROOM + 2 * vth + abs(int(bias_absmax)) // 64 + 1


def quantise_model(model, grid_times: np.ndarray, drive_absmax: float, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The fixed-point network (see :mod:`beamnet.loihi.fixed_point`) of a BEAM-Net."""
    s = model.settings
    leak = model.lif.dt / model.lif.tau_m
    shift_units = float(settings.get("threshold_shift", 0.0))
    theta_eff = s["theta"] + shift_units * s["delta"]
    bias = model.bias.detach().double().numpy()
    scale_log2 = settings.get("v_scale_log2", "auto")
    if scale_log2 == "auto":
        scale_log2 = None
        for k in range(23, 4, -1):
            q = leak * 2.0**k / 64
            stop_needed = _stop_needed(
                q, drive_absmax, round(theta_eff * 2.0**k / 64), np.abs(bias).max(initial=0) * leak * 2.0**k
            )
            stop_magnitude = abs(STOP_WEIGHT_MANT) * 2.0 ** _exp_for(stop_needed, abs(STOP_WEIGHT_MANT))
            fits = (
                q * (drive_absmax * DRIVE_HEADROOM + 4 * s["w_inh"]) < A_IN_LIMIT / 2
                and stop_needed <= stop_magnitude
                and stop_magnitude + q * 4 * s["w_inh"] < A_IN_LIMIT
                and theta_eff * 2.0**k / 64 <= VTH_MAX
                and np.abs(bias).max(initial=0) * leak * 2.0**k <= BIAS_MANT_RANGE[1] * 2**7
            )
            if fits:
                scale_log2 = k
                break
        if scale_log2 is None:
            raise ValueError(f"no fixed-point scale fits a coincidence drive of {drive_absmax:.3g}")
    v_scale = 2.0 ** int(scale_log2)
    q = leak * v_scale / 64  # a_in units per unit of current
    pattern_times = model.coincidence.pattern_times.detach().double().numpy()  # (N, D)
    weights = model.coincidence.pattern_weights.detach().double().numpy()  # (N, D)
    tau_c = float(s["tau_c_ms"])
    lines = np.empty(pattern_times.shape + (len(grid_times),), dtype=np.float64)
    for g, t in enumerate(grid_times):
        lines[:, :, g] = weights * np.exp(-((t - pattern_times) ** 2) / (2 * tau_c**2)) * q
    coincidence_exp = _exp_for(float(np.abs(lines).max()), 254)
    coincidence_mant = quantise_even(lines, coincidence_exp)
    bias_real = bias * leak * v_scale
    bias_exp = _exp_for(float(np.abs(bias_real).max(initial=0)), BIAS_MANT_RANGE[1], 0, 7)
    bias_mant = np.clip(np.rint(bias_real / 2.0**bias_exp), *BIAS_MANT_RANGE).astype(np.int16)
    inhibition = s["w_inh"] * q
    inhibition_exp = _exp_for(inhibition, 255)
    readout = model.attention.readout_weights.detach().double().numpy()  # (K, N)
    readout_mant = np.rint(255 * readout / readout.max()).astype(np.int16)
    vth = round(theta_eff * v_scale / 64)
    stop_needed = _stop_needed(q, drive_absmax, vth, np.abs(bias_real).max(initial=0))
    return {
        "format_version": FORMAT_VERSION,
        "network_kind": "beam_net",
        "n_inputs": weights.shape[1],
        "n_patterns": weights.shape[0],
        "n_classes": readout.shape[0],
        "grid_points": len(grid_times),
        "lif_steps": int(model.lif.steps),
        "du": 0,
        "dv": round(DECAY_UNITY_F * leak),
        "vth": vth,
        "bias_mant": bias_mant,
        "bias_exp": bias_exp,
        "coincidence_mant": coincidence_mant,
        "coincidence_exp": coincidence_exp,
        "inhibition_mant": -round(inhibition / 2.0**inhibition_exp),
        "inhibition_exp": inhibition_exp,
        "readout_mant": readout_mant,
        "readout_exp": 0,
        "stop_exp": _exp_for(stop_needed, 255),
        "v_scale_log2": int(scale_log2),
        "current_scale": q,
        "leak": leak,
        "theta": float(s["theta"]),
        "delta": float(s["delta"]),
        "threshold_shift": shift_units,
        "w_inh": float(s["w_inh"]),
        "tau_c_ms": tau_c,
        "tau_m_ms": float(model.lif.tau_m),
        "grid_times_ms": np.asarray(grid_times, np.float64),
    }


def input_lines(times: np.ndarray, active: np.ndarray, dt: float, grid_points: int) -> dict[str, np.ndarray]:
    """The split as CSR input lines: offsets (S+1), input_index, grid_index (g = round(t / dt))."""
    sample, source = np.nonzero(active)
    grid = np.clip(np.rint(times[sample, source] / dt), 0, grid_points - 1).astype(np.int16)
    offsets = np.zeros(active.shape[0] + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(active.sum(1))
    return {"offsets": offsets, "input_index": source.astype(np.int32), "grid_index": grid}


def host_loop_counts(
    predicted: Mapping[str, np.ndarray], n_inputs: int, n_patterns: int, host_loop: bool
) -> dict[str, np.ndarray]:
    """Per-sample host work of the predictive-coding loop (Eq. 16) as evaluation counts it
    (:func:`beamnet.evaluate.predict`): ``host_macs`` and ``host_memory_reads`` from a memory of
    ``host_stored_words`` (the n_inputs x N pattern table); zeros without the host loop."""
    macs = np.asarray(predicted["macs"], dtype=np.float64)
    reads = np.asarray(predicted["memory_reads"], dtype=np.float64)
    if not host_loop:
        macs, reads = np.zeros_like(macs), np.zeros_like(reads)
    return {
        "host_macs": macs,
        "host_memory_reads": reads,
        "host_stored_words": np.asarray(float(n_inputs * n_patterns)),
    }


def export_beam_net(
    config: Mapping[str, Any],
    dataset: str,
    seed: int,
    checkpoint: Path,
    test_cache: Path,
    network_out: Path,
    inputs_out: Path,
) -> dict[str, Any]:
    """Checkpoint + test cache -> ``network.npz`` and ``inputs.npz`` (see the module docstring)."""
    from beamnet.evaluate import load_checkpoint, predict, restore_model
    from beamnet.loihi.samples import read_test_samples
    from beamnet.models.beam_net import BEAMNet
    from beamnet.models.encoder import model_view
    from beamnet.train import seed_everything

    settings = config["loihi"]
    data = read_test_samples(test_cache, settings)
    if data.dataset != dataset:
        raise ValueError(f"cache '{test_cache}' holds dataset '{data.dataset}', expected '{dataset}'")
    data = model_view(data, config, "beam_net")  # the inputs the model reads (pooled where configured)
    payload = load_checkpoint(checkpoint, dataset, "beam_net", data)
    model = restore_model(payload, config, checkpoint)
    if not isinstance(model, BEAMNet):
        raise ValueError(f"checkpoint '{checkpoint}' is not a BEAM-Net")  # noqa: TRY004 (the CLI reports ValueError)
    seed_everything(seed, threads=1)
    passes = int(config["evaluate"]["mc_passes"])
    predicted = predict(model, data, passes, seed)
    torch_probabilities = predicted["probabilities"]
    dt = float(config["encoding"]["dt_ms"])
    t_ref = float(config["encoding"]["t_ref_ms"])
    grid_points = round(t_ref / dt) + 1
    grid_times = np.arange(grid_points) * dt
    times = refined_times(model, data.spike_times, data.active, bool(settings["host_loop"]))
    active = data.active
    shift_units = float(settings.get("threshold_shift", 0.0))
    deterministic, det_spikes = deterministic_reference(model, times, active, shift_units)
    lines = input_lines(times.numpy(), active.numpy(), dt, grid_points)
    # the largest |coincidence drive| over the split, on the grid the lines use
    grid_times_t = torch.as_tensor(np.clip(np.rint(times.numpy() / dt), 0, grid_points - 1) * dt, dtype=times.dtype)
    with torch.no_grad():
        drive = model.coincidence(grid_times_t, active) + model.bias
    network = quantise_model(model, grid_times, float(drive.abs().max()), settings)
    check_network(network, source=f"export of '{checkpoint}'")
    encoder = {
        "encoding": data.encoding,
        "dt_ms": dt,
        "t_ref_ms": t_ref,
        "tau_ms": config["encoding"]["tau_ms"],
        "silence_floor": config["encoding"]["silence_floor"],
        "grid": "g = round(t / dt_ms), one line per (input, g)",
        "host_loop": bool(settings["host_loop"]),
    }
    meta = {
        "dataset": dataset,
        "model": "beam_net",
        "seed": seed,
        "checkpoint": str(checkpoint),
        "encoder": json.dumps(encoder, sort_keys=True),
        "threshold_mode": f"deterministic: V > theta + {shift_units:g} * Delta (Eq. 9 noise-free limit)",
        "provenance": provenance_json(
            config, dataset=dataset, model="beam_net", seed=seed, checkpoint=str(checkpoint), step="loihi_export"
        ),
    }
    inputs = {
        "format_version": FORMAT_VERSION,
        "network_kind": "beam_net",
        **lines,
        "labels": data.labels.numpy(),
        "sample_ids": data.sample_ids.numpy(),
        "torch_prediction": torch_probabilities.argmax(1),
        "torch_prediction_deterministic": deterministic,
        "torch_spikes_deterministic": det_spikes,
        "grid_points": grid_points,
        "n_inputs": data.n_inputs,
        "dataset": dataset,
        # the loop's host work per sample, priced on the host beside the chip (beamnet.energy)
        **host_loop_counts(predicted, data.n_inputs, model.coincidence.n_patterns, bool(settings["host_loop"])),
    }
    with atomic_paths(network_out, inputs_out) as (net_temp, in_temp):
        write_npz(net_temp, {**network, **meta})
        write_npz(in_temp, inputs)
    return {
        "v_scale_log2": network["v_scale_log2"],
        "coincidence_exp": network["coincidence_exp"],
        "samples": len(data),
        "torch_deterministic_agreement": float((deterministic == inputs["torch_prediction"]).mean()),
    }
