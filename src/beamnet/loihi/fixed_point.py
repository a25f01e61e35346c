"""The exported network's fixed-point format, its validation, and a NumPy reference simulator.

Torch-free (NumPy and the standard library only): imported by :mod:`beamnet.loihi.export`
in the main environment and by :mod:`beamnet.loihi.run_lava` in the Python 3.10 lava-nc one.

Network archive (``network.npz``, ``format_version`` = :data:`FORMAT_VERSION`)
-----------------------------------------------------------------------------
``network_kind`` names the network: ``beam_net`` (below) or ``rate_snn`` (the rate-coded SNN
baseline, :mod:`beamnet.loihi.rate_snn`). Version 2 added the key.

Loihi's neuron (Davies et al. 2018; lava's ``PyLifModelBitAcc``), all integers:

    u[t] = u[t-1] * (4096 - (du + 1)) / 4096 + (a_in[t] << 6)          (24-bit)
    v[t] = v[t-1] * (4096 - dv) / 4096 + u[t] + (bias_mant << bias_exp)  (24-bit)
    spike if v[t] > (vth << 6); then v[t] = 0

A Dense synapse sends ``sum(mant of the spiking rows) << weight_exp`` (``>>`` for a negative
exponent) one step later. Limits checked by :func:`check_network`: 8-bit weight mantissas
(mixed sign: even values in [-256, 254]; one sign: |w| <= 255), 12-bit du, dv (0..4095),
13-bit signed bias mantissa with a 3-bit exponent (0..7), 17-bit unsigned vth, Dense
exponents in [-8, 7] (Loihi 2), 16-bit synaptic input per step.

BEAM-Net mapped onto it (V_s = 2**v_scale_log2 integer units per model unit of V):

- coincidence (Eqs. 21-22) on the dt grid: input i firing at t_i becomes the input line
  (i, g = round(t_i / dt)), one spike at the sample's first step; the Dense line -> pattern j
  holds w_ij * kappa(g dt - t_ij) * q, q = (dt / tau_m) V_s / 64 (units of a_in);
- pattern neurons: du = 0 (the current keeps S_j, the dendritic plateau; Loihi's smallest
  current decay 1/4096 per step is the only deviation), dv = round(4096 dt / tau_m),
  bias = b_j (dt / tau_m) V_s, vth = theta V_s / 64;
- lateral inhibition (Eq. 8, one step): a recurrent Dense of -w_inh q, and a relay neuron per
  pattern (fires one step after its pattern neuron) whose Dense adds +w_inh q back, so the
  inhibition acts on the step after the spike only;
- a stop line fires at the sample's step T+1 with a strong negative weight, so pattern
  neurons are silent after the T steps the model simulates; all neurons reset between samples
  (lava's ``LIFReset``);
- readout (Eq. 12): a Dense of R = softplus(readout), mant = round(255 R / max R), to K
  accumulator neurons (du = 4095, dv = 0, never fire); the class with the largest
  accumulated evidence is the prediction (ties: the lowest class index, as torch's argmax).

The threshold: Eq. 9's stochastic sigmoid P = sigmoid((V - theta) / Delta) has no bit-accurate
fixed-point counterpart; the exported neuron fires deterministically when V > theta +
threshold_shift * Delta (P > 0.5 for a shift of 0), i.e. the noise-free limit Delta -> 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FORMAT_VERSION = 2
NETWORK_KINDS = ("beam_net", "rate_snn")
DECAY_UNITY = 4096
ACT_SHIFT = 6
VTH_SHIFT = 6
UV_LIMIT = 2**23
A_IN_LIMIT = 2**15
WEIGHT_EXP_RANGE = (-8, 7)
BIAS_EXP_RANGE = (0, 7)
BIAS_MANT_RANGE = (-4096, 4095)
VTH_MAX = 2**17 - 1
DECAY_MAX = 4095
STOP_WEIGHT_MANT = -255

SCALAR_KEYS = (
    "format_version",
    "n_inputs",
    "n_patterns",
    "n_classes",
    "grid_points",
    "lif_steps",
    "du",
    "dv",
    "vth",
    "bias_exp",
    "coincidence_exp",
    "inhibition_mant",
    "inhibition_exp",
    "readout_exp",
    "stop_exp",
)
ARRAY_KEYS = ("coincidence_mant", "bias_mant", "readout_mant")


class ArchiveError(ValueError):
    """An exported archive that cannot be run: wrong version, missing keys, out-of-range values."""


def _scalar(archive: Any, key: str) -> int:
    return int(np.asarray(archive[key]).item())


MIXED_SIGN_RANGE = "even 8-bit mixed-sign mantissas in [-256, 254]"


def read_archive(
    archive: Any, keys: set[str], scalar_keys: tuple[str, ...], array_keys: tuple[str, ...], kind: str, source: str
) -> dict[str, Any]:
    """The archive as a dict: integer scalars, int64 arrays, every other key as stored; refused
    naming the keys it lacks."""
    missing = [k for k in (*scalar_keys, *array_keys) if k not in keys]
    if missing:
        raise ArchiveError(f"{source}: missing keys {missing}")
    net: dict[str, Any] = {k: _scalar(archive, k) for k in scalar_keys}
    for k in array_keys:
        net[k] = np.asarray(archive[k]).astype(np.int64)
    for k in keys - set(net):
        net[k] = np.asarray(archive[k])
    net["network_kind"] = kind
    return net


def range_check(source: str):
    """``need(ok, key, what)``: raise :class:`ArchiveError` naming the key and the expected range."""

    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise ArchiveError(f"{source}: '{key}' out of range: expected {what}")

    return need


def mixed_sign_mantissas(mant: np.ndarray) -> bool:
    """Mixed-sign 8-bit Dense mantissas: even values in [-256, 254]."""
    return bool(mant.min(initial=0) >= -256 and mant.max(initial=0) <= 254 and not np.any(mant % 2))


def check_network(archive: Any, source: str = "network archive") -> dict[str, Any]:
    """Validate an exported network (a mapping or an open ``np.load``); return it as a dict.

    Raises :class:`ArchiveError` naming the key and the range for every violation.
    """
    keys = set(archive.keys() if hasattr(archive, "keys") else archive.files)
    if "format_version" not in keys:
        raise ArchiveError(f"{source}: no 'format_version' key; not a BEAM-Net Loihi export")
    version = _scalar(archive, "format_version")
    if version != FORMAT_VERSION:
        raise ArchiveError(
            f"{source}: export format version {version} is incompatible with this "
            f"runner (expects version {FORMAT_VERSION}); re-export the checkpoint "
            "with the same beamnet version"
        )
    kind = str(np.asarray(archive["network_kind"]).item()) if "network_kind" in keys else None
    if kind not in NETWORK_KINDS:
        raise ArchiveError(f"{source}: 'network_kind' is {kind!r}, expected one of {list(NETWORK_KINDS)}")
    if kind == "rate_snn":
        from beamnet.loihi.rate_snn import check_rate_snn

        return check_rate_snn(archive, keys, source)
    net = read_archive(archive, keys, SCALAR_KEYS, ARRAY_KEYS, kind, source)
    need = range_check(source)
    n, d, g, k = net["n_patterns"], net["n_inputs"], net["grid_points"], net["n_classes"]
    need(net["coincidence_mant"].shape == (n, d, g), "coincidence_mant", f"shape ({n}, {d}, {g})")
    need(mixed_sign_mantissas(net["coincidence_mant"]), "coincidence_mant", MIXED_SIGN_RANGE)
    for key in ("coincidence_exp", "inhibition_exp", "readout_exp", "stop_exp"):
        need(WEIGHT_EXP_RANGE[0] <= net[key] <= WEIGHT_EXP_RANGE[1], key, f"an exponent in {list(WEIGHT_EXP_RANGE)}")
    need(-255 <= net["inhibition_mant"] <= 0, "inhibition_mant", "an 8-bit inhibitory mantissa in [-255, 0]")
    rm = net["readout_mant"]
    need(rm.shape == (k, n), "readout_mant", f"shape ({k}, {n})")
    need(rm.min(initial=0) >= 0 and rm.max(initial=0) <= 255, "readout_mant", "8-bit excitatory mantissas in [0, 255]")
    bm = net["bias_mant"]
    need(bm.shape == (n,), "bias_mant", f"shape ({n},)")
    need(
        bm.min(initial=0) >= BIAS_MANT_RANGE[0] and bm.max(initial=0) <= BIAS_MANT_RANGE[1],
        "bias_mant",
        f"13-bit signed mantissas in {list(BIAS_MANT_RANGE)}",
    )
    need(BIAS_EXP_RANGE[0] <= net["bias_exp"] <= BIAS_EXP_RANGE[1], "bias_exp", f"in {list(BIAS_EXP_RANGE)}")
    need(0 <= net["du"] <= DECAY_MAX, "du", "a 12-bit decay in [0, 4095]")
    need(0 <= net["dv"] <= DECAY_MAX, "dv", "a 12-bit decay in [0, 4095]")
    need(0 <= net["vth"] <= VTH_MAX, "vth", f"a 17-bit threshold in [0, {VTH_MAX}]")
    need(net["lif_steps"] >= 1, "lif_steps", ">= 1")
    return net


def shift(value: np.ndarray, exponent: int) -> np.ndarray:
    """Loihi's Dense exponent: ``<< e`` for e >= 0, arithmetic ``>> -e`` otherwise."""
    value = np.asarray(value, dtype=np.int64)
    return np.left_shift(value, exponent) if exponent >= 0 else np.right_shift(value, -exponent)


def decay(state: np.ndarray, constant: int) -> np.ndarray:
    """``state * (4096 - constant) / 4096`` rounded toward zero, as lava's fixed-point LIF."""
    product = np.asarray(state, dtype=np.int64) * (DECAY_UNITY - constant)
    return np.sign(product) * np.right_shift(np.abs(product), 12)


def sample_lines(input_index: np.ndarray, grid_index: np.ndarray, grid_points: int) -> np.ndarray:
    """Flat input-line ids i * G + g of one sample."""
    return np.asarray(input_index, dtype=np.int64) * grid_points + np.asarray(grid_index, dtype=np.int64)


def period(net: dict[str, Any]) -> int:
    """Time steps per sample: T LIF steps, one input step, one step to settle before the reset."""
    return int(net["lif_steps"]) + 2


def coincidence_drive(net: dict[str, Any], lines: np.ndarray) -> np.ndarray:
    """Synaptic input (a_in, one step) to the N pattern neurons from a sample's input lines."""
    flat = net["coincidence_mant"].reshape(net["n_patterns"], -1)
    return shift(flat[:, lines].sum(1), net["coincidence_exp"])


def simulate_sample(net: dict[str, Any], lines: np.ndarray) -> dict[str, np.ndarray]:
    """NumPy reference of one sample through the exported network, step by step as in lava.

    Returns the pattern spike raster (T, N), the evidence of the K accumulators (their v at the
    end of the sample) and the largest |a_in| seen (overflow check).
    """
    n, steps = net["n_patterns"], net["lif_steps"]
    inh = shift(np.array([net["inhibition_mant"]]), net["inhibition_exp"])[0]
    stop = shift(np.array([STOP_WEIGHT_MANT]), net["stop_exp"])[0]
    bias = np.left_shift(net["bias_mant"], net["bias_exp"])
    vth = net["vth"] << VTH_SHIFT
    u = np.zeros(n, np.int64)
    v = np.zeros(n, np.int64)
    acc = np.zeros(net["n_classes"], np.int64)
    spikes_prev = np.zeros(n, bool)
    relay_prev = np.zeros(n, bool)
    raster = np.zeros((steps + 1, n), bool)
    drive = coincidence_drive(net, lines)
    largest = int(np.abs(drive).max(initial=0))
    for t in range(steps + 1):  # step T+1: the stop line silences the pattern neurons
        a_in = (drive if t == 0 else 0) + (stop if t == steps else 0)
        others = spikes_prev.sum() - spikes_prev
        relays = relay_prev.sum() - relay_prev
        a_in = a_in + inh * others - inh * relays
        largest = max(largest, int(np.abs(a_in).max(initial=0)))
        u = decay(u, net["du"] + 1) + np.left_shift(np.asarray(a_in, np.int64), ACT_SHIFT)
        v = np.clip(decay(v, net["dv"]) + u + bias, -UV_LIMIT + 1, UV_LIMIT - 1)
        fired = v > vth
        v[fired] = 0
        if t < steps:
            acc = acc + np.left_shift(shift(net["readout_mant"][:, fired].sum(1), net["readout_exp"]), ACT_SHIFT)
        raster[t] = fired
        relay_prev, spikes_prev = spikes_prev, fired
    return {
        "raster": raster[:steps],
        "evidence": acc,
        "late_spikes": int(raster[steps].sum()),
        "largest_input": largest,
    }
