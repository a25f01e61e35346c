"""The rate-coded SNN baseline on Loihi: its fixed-point archive, validation and NumPy reference.

Torch-free (NumPy and the standard library only), like :mod:`beamnet.loihi.fixed_point`, whose
neuron model, limits and helpers it shares.

The torch model (:class:`beamnet.models.baselines.RateSNN`), per step t of T:

    V_t = lambda V_{t-1} + W1 s_t + b1,   hidden spike if V_t > theta, then V_t = 0
    R_t = lambda R_{t-1} + W2 z_t + b2,   logits = (1/T) sum_t R_t,   lambda = 1 - dt / tau_m

maps onto Loihi exactly but for 8-bit weights and Loihi's 12-bit decay:

- input lines: one line per input, firing at the sample's steps 0..T-1 where the cached Poisson
  spike train fires, plus a bias line that fires at every one of those steps: the bias b1
  rides on it as one more weight column, so it is added on exactly the T steps torch adds it;
- hidden neurons: ``du = 4095`` (the current lasts one step: u = a_in), ``dv = round(4096
  dt / tau_m)``, ``vth = theta V_s / 64``; weights ``[W1 | b1] V_s / 64`` as 8-bit mantissas
  with one exponent, V_s = 2**v_scale_log2 units per unit of V;
- readout neurons: the same leak, a threshold they never reach, weights ``[W2 | b2] V_o / 64``
  (a second bias line fires at steps 1..T, in step with the hidden spikes; W2 and b2 are two
  Dense processes, so each sum is shifted by the exponent on its own). Their membrane v
  is R_t V_o; a Monitor reads it, and the prediction is the argmax of sum_t v_t (the positive
  scale 1 / (T V_o) does not change it; ties go to the lowest class, as torch's argmax).

Samples run back to back, :func:`rate_period` steps each, and both populations are reset
(lava's ``LIFReset``) before a sample's first step reaches them.

Network archive keys (``network_kind = 'rate_snn'``): ``n_inputs, n_hidden, n_classes, steps,
hidden_mant (H, D + 1), hidden_exp, hidden_dv, hidden_vth, output_mant (K, H + 1), output_exp,
output_dv`` plus the scales and provenance. Inputs archive: CSR spike events ``offsets (S + 1),
input_index, step_index`` per sample, labels and the torch predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from beamnet.loihi.fixed_point import (
    ACT_SHIFT,
    DECAY_MAX,
    MIXED_SIGN_RANGE,
    UV_LIMIT,
    VTH_MAX,
    VTH_SHIFT,
    WEIGHT_EXP_RANGE,
    decay,
    mixed_sign_mantissas,
    range_check,
    read_archive,
    shift,
)

SCALAR_KEYS = (
    "format_version",
    "n_inputs",
    "n_hidden",
    "n_classes",
    "steps",
    "hidden_exp",
    "hidden_dv",
    "hidden_vth",
    "output_exp",
    "output_dv",
)
ARRAY_KEYS = ("hidden_mant", "output_mant")
CURRENT_DECAY_ONE_STEP = 4095  # du: u[t] = a_in[t], the current lasts one step


def rate_period(net: dict[str, Any]) -> int:
    """Steps per sample: T input steps, one step for the hidden spikes to reach the readout,
    one for the last readout update, one spare before the next sample's reset."""
    return int(net["steps"]) + 3


def check_rate_snn(archive: Any, keys: set[str], source: str) -> dict[str, Any]:
    """Validate a rate-SNN network archive; return it as a dict (see the module docstring)."""
    net = read_archive(archive, keys, SCALAR_KEYS, ARRAY_KEYS, "rate_snn", source)
    need = range_check(source)
    d, h, k = net["n_inputs"], net["n_hidden"], net["n_classes"]
    need(net["hidden_mant"].shape == (h, d + 1), "hidden_mant", f"shape ({h}, {d + 1})")
    need(net["output_mant"].shape == (k, h + 1), "output_mant", f"shape ({k}, {h + 1})")
    for key in ARRAY_KEYS:
        need(mixed_sign_mantissas(net[key]), key, MIXED_SIGN_RANGE)
    for key in ("hidden_exp", "output_exp"):
        need(WEIGHT_EXP_RANGE[0] <= net[key] <= WEIGHT_EXP_RANGE[1], key, f"an exponent in {list(WEIGHT_EXP_RANGE)}")
    for key in ("hidden_dv", "output_dv"):
        need(0 <= net[key] <= DECAY_MAX, key, "a 12-bit decay in [0, 4095]")
    need(0 <= net["hidden_vth"] <= VTH_MAX, "hidden_vth", f"a 17-bit threshold in [0, {VTH_MAX}]")
    need(net["steps"] >= 1, "steps", ">= 1")
    return net


def sample_events(
    offsets: np.ndarray, input_index: np.ndarray, step_index: np.ndarray, sample: int
) -> tuple[np.ndarray, np.ndarray]:
    """(step, input) of one sample's input spikes, from the inputs archive's CSR arrays."""
    begin, end = int(offsets[sample]), int(offsets[sample + 1])
    return np.asarray(step_index[begin:end], np.int64), np.asarray(input_index[begin:end], np.int64)


def simulate_rate_snn_sample(
    net: dict[str, Any], steps_of_spikes: np.ndarray, inputs_of_spikes: np.ndarray
) -> dict[str, np.ndarray]:
    """NumPy reference of one sample, step by step as lava runs it (``PyLifResetModelBitAcc``).

    Returns the hidden raster (T, H), the readout membrane trace (T, K), the logits
    sum_t v_t (K,), and the largest |a_in| and |v| seen (overflow checks).
    """
    d, h, t_steps = net["n_inputs"], net["n_hidden"], net["steps"]
    hidden_mant, output_mant = net["hidden_mant"], net["output_mant"]
    vth = net["hidden_vth"] << VTH_SHIFT
    v_hidden = np.zeros(h, np.int64)
    v_out = np.zeros(net["n_classes"], np.int64)
    raster = np.zeros((t_steps, h), bool)
    trace = np.zeros((t_steps, net["n_classes"]), np.int64)
    largest_input = largest_v = 0
    for t in range(t_steps):
        rows = np.append(inputs_of_spikes[steps_of_spikes == t], d)  # the step's spikes + bias line
        a_in = shift(hidden_mant[:, rows].sum(1), net["hidden_exp"])
        u = np.left_shift(a_in, ACT_SHIFT)  # du = 4095: u = a_in << 6
        v_hidden = np.clip(decay(v_hidden, net["hidden_dv"]) + u, -UV_LIMIT + 1, UV_LIMIT - 1)
        fired = v_hidden > vth
        v_hidden[fired] = 0
        raster[t] = fired
        # two Dense processes (hidden spikes, bias line), each shifting its own sum
        a_out = shift(output_mant[:, np.flatnonzero(fired)].sum(1), net["output_exp"]) + shift(
            output_mant[:, h], net["output_exp"]
        )
        v_out = np.clip(decay(v_out, net["output_dv"]) + np.left_shift(a_out, ACT_SHIFT), -UV_LIMIT + 1, UV_LIMIT - 1)
        trace[t] = v_out
        largest_input = max(largest_input, int(np.abs(a_in).max(initial=0)), int(np.abs(a_out).max(initial=0)))
        largest_v = max(largest_v, int(np.abs(v_out).max(initial=0)))
    return {
        "raster": raster,
        "trace": trace,
        "logits": trace.sum(0),
        "largest_input": largest_input,
        "largest_v": largest_v,
    }
