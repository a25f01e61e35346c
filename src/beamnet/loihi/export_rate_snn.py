"""The rate-coded SNN baseline's export to the fixed-point archives lava runs (``loihi_export``;
format in :mod:`beamnet.loihi.rate_snn`): ``network.npz`` with ``[W1 | b1]``, ``W2``, ``b2`` as 8-bit
mantissas and exponents, and ``inputs.npz`` with the cached Poisson trains as (step, input) events."""

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
    FORMAT_VERSION,
    UV_LIMIT,
    VTH_MAX,
    WEIGHT_EXP_RANGE,
    check_network,
)
from beamnet.loihi.quantise import DECAY_UNITY_F, _exp_for, quantise_even
from beamnet.provenance import provenance_json

SCALE_HEADROOM = 1.25


def rate_snn_ranges(model, spikes: torch.Tensor) -> dict[str, float]:
    """Largest |synaptic input| and |membrane| of both layers over a split, in model units:
    the float run of the torch model that sizes the fixed-point scales."""
    currents = model.hidden(spikes.to(model.hidden.weight.dtype))  # (S, T, H)
    potential = torch.zeros(currents.shape[0], currents.shape[2], dtype=currents.dtype)
    readout = torch.zeros(currents.shape[0], model.output.out_features, dtype=currents.dtype)
    ranges = {"hidden_input": float(currents.abs().max()), "hidden_v": 0.0, "output_input": 0.0, "output_v": 0.0}
    for step in range(currents.shape[1]):
        potential = model.decay * potential + currents[:, step]
        ranges["hidden_v"] = max(ranges["hidden_v"], float(potential.abs().max()))
        fired = potential > model.threshold
        potential = potential * ~fired
        drive = model.output(fired.to(currents.dtype))
        readout = model.decay * readout + drive
        ranges["output_input"] = max(ranges["output_input"], float(drive.abs().max()))
        ranges["output_v"] = max(ranges["output_v"], float(readout.abs().max()))
    return ranges


def _largest_scale(
    input_max: float,
    v_max: float,
    weight_max: float,
    v_limit: float,
    threshold: float | None = None,
    layer: str = "layer",
) -> int:
    """Largest log2 scale V_s <= 2**23 with |a_in| < 2**15 and |v| < v_limit (with headroom),
    mantissas that fit one exponent, and a threshold (if any) within 17 bits and >= 64 units."""
    for k in range(23, 0, -1):
        units = 2.0**k / 64
        fits = (
            input_max * units * SCALE_HEADROOM < A_IN_LIMIT
            and v_max * 2.0**k * SCALE_HEADROOM < v_limit
            and weight_max * units <= 254 * 2.0 ** WEIGHT_EXP_RANGE[1]
        )
        if threshold is not None:
            fits = fits and 64 <= threshold * units <= VTH_MAX
        if fits:
            return k
    raise ValueError(
        f"{layer}: no fixed-point scale fits synaptic inputs of {input_max:.3g} and potentials of "
        f"{v_max:.3g} (model units) in Loihi's 16-bit inputs and 24-bit membranes"
    )


def quantise_rate_snn(model, spikes: torch.Tensor, dt: float) -> dict[str, Any]:
    """The fixed-point rate-SNN (see :mod:`beamnet.loihi.rate_snn`), scales sized on ``spikes``."""
    ranges = rate_snn_ranges(model, spikes)
    threshold = float(model.threshold)
    hidden = torch.cat([model.hidden.weight, model.hidden.bias[:, None]], 1).detach().double().numpy()
    output = torch.cat([model.output.weight, model.output.bias[:, None]], 1).detach().double().numpy()
    hidden_k = _largest_scale(
        ranges["hidden_input"],
        ranges["hidden_v"],
        float(np.abs(hidden).max()),
        UV_LIMIT,
        threshold,
        layer="rate-SNN hidden layer",
    )
    output_k = _largest_scale(
        ranges["output_input"],
        ranges["output_v"],
        float(np.abs(output).max()),
        VTH_MAX * 2**6,
        layer="rate-SNN readout",
    )
    hidden_units, output_units = 2.0**hidden_k / 64, 2.0**output_k / 64
    hidden_exp = _exp_for(float(np.abs(hidden).max()) * hidden_units, 254)
    output_exp = _exp_for(float(np.abs(output).max()) * output_units, 254)
    dv = round(DECAY_UNITY_F * (1.0 - model.decay))
    return {
        "format_version": FORMAT_VERSION,
        "network_kind": "rate_snn",
        "n_inputs": hidden.shape[1] - 1,
        "n_hidden": hidden.shape[0],
        "n_classes": output.shape[0],
        "steps": int(spikes.shape[1]),
        "hidden_mant": quantise_even(hidden * hidden_units, hidden_exp),
        "hidden_exp": hidden_exp,
        "hidden_dv": dv,
        "hidden_vth": round(threshold * hidden_units),
        "output_mant": quantise_even(output * output_units, output_exp),
        "output_exp": output_exp,
        "output_dv": dv,
        "v_scale_log2": hidden_k,
        "output_scale_log2": output_k,
        "decay": float(model.decay),
        "loihi_decay": 1.0 - dv / DECAY_UNITY_F,
        "threshold": threshold,
        "dt_ms": dt,
        **{f"range_{key}": value for key, value in ranges.items()},
    }


def export_rate_snn(
    config: Mapping[str, Any],
    dataset: str,
    seed: int,
    checkpoint: Path,
    test_cache: Path,
    network_out: Path,
    inputs_out: Path,
) -> dict[str, Any]:
    """Rate-SNN checkpoint + rate test cache -> ``network.npz`` and ``inputs.npz``.

    The inputs are the cached Poisson spike trains as CSR events (sample -> (step, input)),
    with the torch model's predictions on the same spikes (the model is deterministic given its
    input spikes, so ``torch_prediction_deterministic`` is the same column).
    """
    from beamnet.evaluate import load_checkpoint, predict, restore_model
    from beamnet.loihi.samples import read_test_samples
    from beamnet.models.baselines import RateSNN
    from beamnet.train import seed_everything

    data = read_test_samples(test_cache, config["loihi"])
    if data.dataset != dataset or data.spikes is None:
        raise ValueError(
            f"cache '{test_cache}' holds {data.encoding} inputs of dataset '{data.dataset}', "
            f"expected rate-coded spikes of '{dataset}'"
        )
    payload = load_checkpoint(checkpoint, dataset, "rate_snn", data)
    model = restore_model(payload, config, checkpoint)
    if not isinstance(model, RateSNN):
        raise ValueError(f"checkpoint '{checkpoint}' is not a rate-coded SNN")  # noqa: TRY004
    seed_everything(seed, threads=1)
    torch_prediction = predict(model, data, 1, seed)["probabilities"].argmax(1)
    network = quantise_rate_snn(model, data.spikes, float(config["encoding"]["dt_ms"]))
    check_network(network, source=f"export of '{checkpoint}'")
    sample, step, source = np.nonzero(data.spikes.numpy())
    offsets = np.zeros(len(data) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(np.bincount(sample, minlength=len(data)))
    encoder = {
        "encoding": data.encoding,
        "dt_ms": float(config["encoding"]["dt_ms"]),
        "steps": int(data.spikes.shape[1]),
        "max_rate": config["encoding"]["rate"]["max_rate"],
        "spikes": "the rate cache's Poisson trains, as (step, input) events",
    }
    meta = {
        "dataset": dataset,
        "model": "rate_snn",
        "seed": seed,
        "checkpoint": str(checkpoint),
        "encoder": json.dumps(encoder, sort_keys=True),
        "threshold_mode": "exact: the rate-SNN's hard threshold V > theta needs no approximation",
        "provenance": provenance_json(
            config, dataset=dataset, model="rate_snn", seed=seed, checkpoint=str(checkpoint), step="loihi_export"
        ),
    }
    inputs = {
        "format_version": FORMAT_VERSION,
        "network_kind": "rate_snn",
        "offsets": offsets,
        "input_index": source.astype(np.int32),
        "step_index": step.astype(np.int16),
        "labels": data.labels.numpy(),
        "sample_ids": data.sample_ids.numpy(),
        "torch_prediction": torch_prediction,
        "torch_prediction_deterministic": torch_prediction,
        "steps": network["steps"],
        "n_inputs": data.n_inputs,
        "dataset": dataset,
    }
    with atomic_paths(network_out, inputs_out) as (net_temp, in_temp):
        write_npz(net_temp, {**network, **meta})
        write_npz(in_temp, inputs)
    return {
        "v_scale_log2": network["v_scale_log2"],
        "output_scale_log2": network["output_scale_log2"],
        "hidden_exp": network["hidden_exp"],
        "samples": len(data),
    }
