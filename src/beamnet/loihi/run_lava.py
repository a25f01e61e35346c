"""Run an exported network on Loihi 2's bit-accurate simulator in lava-nc (the ``loihi_run`` rule).

Two kinds of network (the archive's ``network_kind``): BEAM-Net, below, and the rate-coded SNN
baseline (:func:`build_and_run_rate_snn`, format in :mod:`beamnet.loihi.rate_snn`).

Runs in the Python 3.10 lava-nc environment and imports NumPy, lava and the standard library
only (plus the torch-free :mod:`beamnet.loihi.fixed_point`, :mod:`beamnet.loihi.rate_snn` and
:mod:`beamnet.energy`)::

    python src/beamnet/loihi/run_lava.py --network network.npz --inputs inputs.npz \
        --predictions predictions.csv --summary summary.json [--chunk-samples 20] [--limit N]

Processes (fixed-point models, ``Loihi2SimCfg(select_tag='fixed_pt')``)::

    RingBuffer(input lines) -> Dense(coincidence) --\
    RingBuffer(stop line)   -> Dense(stop) ----------> LIFReset(N pattern neurons) -> Dense(readout)
                                  Dense(-w_inh) <-----/   |  \\                             |
                                                          |   \\-> Dense(1:1) -> LIF(N relays)  v
                                  patterns <- Dense(+w_inh) <-------------/     LIFReset(K accumulators)

Samples run back to back, ``T + 2`` steps each (see :func:`beamnet.loihi.fixed_point.period`),
``--chunk-samples`` per lava network (the input lines of a chunk are the rows its Dense
holds: the grid points that chunk's samples use). Every sample is also run through the NumPy
reference (:func:`beamnet.loihi.fixed_point.simulate_sample`) and the two must agree bit for
bit (spike rasters and evidence); a mismatch is reported in the summary.

Measured per sample: spikes of the pattern and relay neurons (BEAM-Net) or of the hidden
neurons (rate-SNN), read by lava Monitors; input-line spikes; synaptic events (each spike times
the non-zero synapses it reaches); neuron updates (every neuron every step); and Eq. 25 energy
under :mod:`beamnet.energy`'s convention: those counts on the ``loihi`` platform
(``energy_on_chip_nj``), the host loop's MACs and pattern-table reads exported per sample
(``energy_host_nj``), and their sum (``energy_nj``).

The run fails (exit status 3, the summary printed first so that the log keeps it) when lava
differs from the NumPy integer reference on any sample, or when the agreement with the torch
model's prediction is below ``--agreement-floor``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the torch-free beamnet modules importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from beamnet.energy import HOST_PLATFORM, PLATFORMS, inference_energy_nj
from beamnet.loihi.fixed_point import (
    STOP_WEIGHT_MANT,
    VTH_MAX,
    ArchiveError,
    check_network,
    period,
    sample_lines,
    simulate_sample,
)
from beamnet.loihi.rate_snn import (
    CURRENT_DECAY_ONE_STEP,
    rate_period,
    sample_events,
    simulate_rate_snn_sample,
)

REPORT_PROJECTION_NJ = (5.0, 7.0)  # the BEAM-Net README's projected Loihi energy per inference


def report_chunk(done: int, total: int, began: float) -> None:
    """One timestamped progress line per chunk (samples done, rate, ETA) on stderr, the job's log;
    the lava environment has no tqdm, so the standard library writes it."""
    elapsed = time.perf_counter() - began
    rate = done / elapsed if elapsed > 0 else float("inf")
    eta = (total - done) / rate if rate > 0 else float("nan")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(
        f"{stamp} [run_lava] INFO {done}/{total} samples ({rate:.2f} samples/s, ETA {eta:.0f} s)",
        file=sys.stderr,
        flush=True,
    )


def load_inputs(path: Path, net: dict) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        inputs = {key: archive[key] for key in archive.files}
    version = int(inputs.get("format_version", -1))
    if version != net["format_version"]:
        raise ArchiveError(f"inputs archive '{path}': format version {version}, expected {net['format_version']}")
    kind = str(inputs["network_kind"]) if "network_kind" in inputs else None
    if kind != net["network_kind"]:
        raise ArchiveError(
            f"inputs archive '{path}' was made for a {kind} network, the network is a {net['network_kind']}"
        )
    if kind == "rate_snn":
        if int(inputs["steps"]) != net["steps"] or int(inputs["n_inputs"]) != net["n_inputs"]:
            raise ArchiveError(
                f"inputs archive '{path}' holds {int(inputs['n_inputs'])} inputs x "
                f"{int(inputs['steps'])} steps, the network has {net['n_inputs']} x {net['steps']}"
            )
        return inputs
    if int(inputs["grid_points"]) != net["grid_points"] or int(inputs["n_inputs"]) != net["n_inputs"]:
        raise ArchiveError(
            f"inputs archive '{path}' was made for {int(inputs['n_inputs'])} inputs x "
            f"{int(inputs['grid_points'])} grid points, the network has "
            f"{net['n_inputs']} x {net['grid_points']}"
        )
    return inputs


def build_and_run(net: dict, chunk_lines: list[np.ndarray]) -> dict[str, np.ndarray]:
    """One lava network for a chunk of samples; returns the monitored rasters and evidence."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF, LIFReset
    from lava.proc.monitor.process import Monitor

    n, k, steps = net["n_patterns"], net["n_classes"], net["lif_steps"]
    per = period(net)
    total = per * len(chunk_lines)
    rows = np.unique(np.concatenate(chunk_lines))
    flat = net["coincidence_mant"].reshape(n, -1)
    data = np.zeros((len(rows), total), dtype=np.int32)
    for s, lines in enumerate(chunk_lines):
        data[np.searchsorted(rows, lines), s * per] = 1  # the sample's first step
    stop_data = np.zeros((1, per), dtype=np.int32)
    stop_data[0, steps] = 1  # arrives with LIF step T + 1

    source = RingBuffer(data=data)
    stop = RingBuffer(data=stop_data)
    coincidence = Dense(weights=flat[:, rows].astype(np.int32), weight_exp=net["coincidence_exp"], num_weight_bits=8)
    stop_dense = Dense(weights=np.full((n, 1), STOP_WEIGHT_MANT, dtype=np.int32), weight_exp=net["stop_exp"])
    patterns = LIFReset(
        shape=(n,),
        du=net["du"],
        dv=net["dv"],
        vth=net["vth"],
        bias_mant=net["bias_mant"].astype(np.int32),
        bias_exp=net["bias_exp"],
        reset_interval=per,
        reset_offset=2 % per,
    )
    off_diagonal = 1 - np.eye(n, dtype=np.int32)
    inhibit = Dense(weights=net["inhibition_mant"] * off_diagonal, weight_exp=net["inhibition_exp"])
    to_relay = Dense(weights=np.eye(n, dtype=np.int32))
    relays = LIF(shape=(n,), du=4095, dv=4095, vth=0, bias_mant=0, bias_exp=0)
    release = Dense(weights=-net["inhibition_mant"] * off_diagonal, weight_exp=net["inhibition_exp"])
    readout = Dense(weights=net["readout_mant"].astype(np.int32), weight_exp=net["readout_exp"])
    accumulators = LIFReset(
        shape=(k,), du=4095, dv=0, vth=2**17 - 1, bias_mant=0, bias_exp=0, reset_interval=per, reset_offset=3 % per
    )

    source.s_out.connect(coincidence.s_in)
    coincidence.a_out.connect(patterns.a_in)
    stop.s_out.connect(stop_dense.s_in)
    stop_dense.a_out.connect(patterns.a_in)
    patterns.s_out.connect(inhibit.s_in)
    inhibit.a_out.connect(patterns.a_in)
    patterns.s_out.connect(to_relay.s_in)
    to_relay.a_out.connect(relays.a_in)
    relays.s_out.connect(release.s_in)
    release.a_out.connect(patterns.a_in)
    patterns.s_out.connect(readout.s_in)
    readout.a_out.connect(accumulators.a_in)

    pattern_monitor, relay_monitor, evidence_monitor = Monitor(), Monitor(), Monitor()
    pattern_monitor.probe(patterns.s_out, total)
    relay_monitor.probe(relays.s_out, total)
    evidence_monitor.probe(accumulators.v, total)
    try:
        source.run(condition=RunSteps(num_steps=total), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        pattern = pattern_monitor.get_data()[patterns.name]["s_out"]
        relay = relay_monitor.get_data()[relays.name]["s_out"]
        evidence = evidence_monitor.get_data()[accumulators.name]["v"]
    finally:
        source.stop()
    return {
        "pattern": np.asarray(pattern).reshape(total, n).astype(bool),
        "relay": np.asarray(relay).reshape(total, n).astype(bool),
        "evidence": np.asarray(evidence).reshape(total, k).astype(np.int64),
    }


def sample_counts(
    net: dict,
    lines: np.ndarray,
    pattern_spikes: int,
    relay_spikes: int,
    pattern_fanout: np.ndarray,
    pattern_raster: np.ndarray,
) -> dict[str, float]:
    """Operation counts of one sample on the chip, from its measured spikes."""
    n, k = net["n_patterns"], net["n_classes"]
    flat = net["coincidence_mant"].reshape(n, -1)
    input_events = float(np.count_nonzero(flat[:, lines]))
    spiking = pattern_raster.sum(0)
    pattern_events = float((spiking * pattern_fanout).sum())
    relay_events = float(relay_spikes * (n - 1))
    updates = float((2 * n + k) * period(net))
    return {
        "input_spikes": float(len(lines) + 1),
        "synops": input_events + n + pattern_events + relay_events,
        "neuron_updates": updates,
        "active_updates": float(pattern_spikes + relay_spikes),
        "spikes": float(len(lines) + 1 + pattern_spikes + relay_spikes),
    }


def beam_net_rows(
    net: dict, inputs: dict[str, np.ndarray], samples: int, chunk_samples: int, use_lava: bool
) -> tuple[list[dict], int, int]:
    """Per-sample rows of a BEAM-Net run, the lava-vs-reference mismatches and overflows."""
    offsets = inputs["offsets"]
    all_lines = [
        sample_lines(
            inputs["input_index"][offsets[s] : offsets[s + 1]],
            inputs["grid_index"][offsets[s] : offsets[s + 1]],
            net["grid_points"],
        )
        for s in range(samples)
    ]
    n = net["n_patterns"]
    pattern_fanout = (n - 1) + 1 + np.count_nonzero(net["readout_mant"], axis=0)
    per, steps = period(net), net["lif_steps"]
    rows, mismatches, overflow = [], 0, 0
    began = time.perf_counter()
    for start in range(0, samples, chunk_samples):
        if start:
            report_chunk(start, samples, began)
        chunk = all_lines[start : start + chunk_samples]
        lava_out = build_and_run(net, chunk) if use_lava else None
        for c, lines in enumerate(chunk):
            s = start + c
            reference = simulate_sample(net, lines)
            overflow += reference["largest_input"] >= 2**15
            if lava_out is not None:
                window = slice(c * per + 1, c * per + 1 + steps)  # LIF steps 1..T of the sample
                raster = lava_out["pattern"][window]
                relay_spikes = int(lava_out["relay"][c * per + 2 : c * per + 2 + steps].sum())
                evidence = lava_out["evidence"][c * per + per - 1]
                if not (
                    np.array_equal(raster, reference["raster"]) and np.array_equal(evidence, reference["evidence"])
                ):
                    mismatches += 1
            else:
                raster, evidence = reference["raster"], reference["evidence"]
                relay_spikes = int(raster.sum())
            pattern_spikes = int(raster.sum())
            counts = sample_counts(net, lines, pattern_spikes, relay_spikes, pattern_fanout, raster)
            rows.append(
                {
                    "sample_id": int(inputs["sample_ids"][s]),
                    "label": int(inputs["labels"][s]),
                    "prediction": int(np.argmax(evidence)),
                    "reference_prediction": int(np.argmax(reference["evidence"])),
                    "torch_prediction": int(inputs["torch_prediction"][s]),
                    "torch_prediction_deterministic": int(inputs["torch_prediction_deterministic"][s]),
                    "neuron_spikes": pattern_spikes,
                    "relay_spikes": relay_spikes,
                    **counts,
                    **sample_energy(counts, inputs, s),
                }
            )
    return rows, mismatches, overflow


def sample_energy(counts: dict[str, float], inputs: dict[str, np.ndarray], sample: int) -> dict[str, float]:
    """Eq. 25 for one sample under beamnet.energy's convention: the chip's counts on ``loihi``, the
    host loop's MACs and pattern-table reads (exported per sample) on the host, and their sum."""
    on_chip = float(inference_energy_nj(counts, "loihi"))
    host = 0.0
    if "host_macs" in inputs:
        host_counts = {
            "macs": float(inputs["host_macs"][sample]),
            "memory_reads": float(inputs["host_memory_reads"][sample]),
        }
        host = float(inference_energy_nj(host_counts, HOST_PLATFORM, float(inputs["host_stored_words"])))
    return {"energy_on_chip_nj": on_chip, "energy_host_nj": host, "energy_nj": on_chip + host}


def build_and_run_rate_snn(net: dict, chunk_events: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """One lava network for a chunk of rate-SNN samples; returns the hidden raster and readout v.

    RingBuffer(input lines + bias line) -> Dense([W1 | b1]) -> LIFReset(H hidden)
      -> Dense(W2) --> LIFReset(K readout, never fires; Monitor on v)
    RingBuffer(bias line, one step later) -> Dense(b2) --/
    """
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIFReset
    from lava.proc.monitor.process import Monitor

    d, h, k, steps = net["n_inputs"], net["n_hidden"], net["n_classes"], net["steps"]
    per = rate_period(net)
    total = per * len(chunk_events)
    rows = np.unique(np.concatenate([inputs for _, inputs in chunk_events] + [np.array([d])]))
    data = np.zeros((len(rows), total), dtype=np.int32)
    output_bias = np.zeros((1, total), dtype=np.int32)
    for s, (spike_steps, spike_inputs) in enumerate(chunk_events):
        data[np.searchsorted(rows, spike_inputs), s * per + spike_steps] = 1
        data[-1, s * per : s * per + steps] = 1  # the hidden bias line (row d)
        output_bias[0, s * per + 1 : s * per + 1 + steps] = 1  # in step with the hidden spikes

    source = RingBuffer(data=data)
    bias_source = RingBuffer(data=output_bias)
    to_hidden = Dense(
        weights=net["hidden_mant"][:, rows].astype(np.int32), weight_exp=net["hidden_exp"], num_weight_bits=8
    )
    hidden = LIFReset(
        shape=(h,),
        du=CURRENT_DECAY_ONE_STEP,
        dv=net["hidden_dv"],
        vth=net["hidden_vth"],
        bias_mant=0,
        bias_exp=0,
        reset_interval=per,
        reset_offset=2 % per,
    )
    to_output = Dense(
        weights=net["output_mant"][:, :h].astype(np.int32), weight_exp=net["output_exp"], num_weight_bits=8
    )
    bias_to_output = Dense(
        weights=net["output_mant"][:, h:].astype(np.int32), weight_exp=net["output_exp"], num_weight_bits=8
    )
    output = LIFReset(
        shape=(k,),
        du=CURRENT_DECAY_ONE_STEP,
        dv=net["output_dv"],
        vth=VTH_MAX,
        bias_mant=0,
        bias_exp=0,
        reset_interval=per,
        reset_offset=3 % per,
    )
    source.s_out.connect(to_hidden.s_in)
    to_hidden.a_out.connect(hidden.a_in)
    hidden.s_out.connect(to_output.s_in)
    to_output.a_out.connect(output.a_in)
    bias_source.s_out.connect(bias_to_output.s_in)
    bias_to_output.a_out.connect(output.a_in)

    hidden_monitor, output_monitor = Monitor(), Monitor()
    hidden_monitor.probe(hidden.s_out, total)
    output_monitor.probe(output.v, total)
    try:
        source.run(condition=RunSteps(num_steps=total), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        raster = hidden_monitor.get_data()[hidden.name]["s_out"]
        voltage = output_monitor.get_data()[output.name]["v"]
    finally:
        source.stop()
    return {
        "hidden": np.asarray(raster).reshape(total, h).astype(bool),
        "output_v": np.asarray(voltage).reshape(total, k).astype(np.int64),
    }


def rate_snn_counts(net: dict, spike_inputs: np.ndarray, raster: np.ndarray) -> dict[str, float]:
    """Operation counts of one rate-SNN sample on the chip, from its measured spikes."""
    d, h, k, steps = net["n_inputs"], net["n_hidden"], net["n_classes"], net["steps"]
    input_fanout = np.count_nonzero(net["hidden_mant"], axis=0)  # (D + 1,)
    hidden_fanout = np.count_nonzero(net["output_mant"][:, :h], axis=0)  # (H,)
    hidden_spikes = float(raster.sum())
    synops = (
        float(input_fanout[spike_inputs].sum())
        + steps * float(input_fanout[d])
        + float((raster.sum(0) * hidden_fanout).sum())
        + steps * float(np.count_nonzero(net["output_mant"][:, h]))
    )
    return {
        "input_spikes": float(len(spike_inputs)),
        "synops": synops,
        "neuron_updates": float((h + k) * rate_period(net)),
        "active_updates": hidden_spikes,
        "spikes": float(len(spike_inputs) + 2 * steps) + hidden_spikes,
    }


def rate_snn_rows(
    net: dict, inputs: dict[str, np.ndarray], samples: int, chunk_samples: int, use_lava: bool
) -> tuple[list[dict], int, int]:
    """Per-sample rows of a rate-SNN run, the lava-vs-reference mismatches and overflows."""
    events = [sample_events(inputs["offsets"], inputs["input_index"], inputs["step_index"], s) for s in range(samples)]
    per, steps = rate_period(net), net["steps"]
    rows, mismatches, overflow = [], 0, 0
    began = time.perf_counter()
    for start in range(0, samples, chunk_samples):
        if start:
            report_chunk(start, samples, began)
        chunk = events[start : start + chunk_samples]
        lava_out = build_and_run_rate_snn(net, chunk) if use_lava else None
        for c, (spike_steps, spike_inputs) in enumerate(chunk):
            s = start + c
            reference = simulate_rate_snn_sample(net, spike_steps, spike_inputs)
            overflow += reference["largest_input"] >= 2**15 or reference["largest_v"] >= VTH_MAX << 6
            if lava_out is not None:
                raster = lava_out["hidden"][c * per + 1 : c * per + 1 + steps]  # hidden steps 0..T-1
                trace = lava_out["output_v"][c * per + 2 : c * per + 2 + steps]  # readout steps 0..T-1
                if not (np.array_equal(raster, reference["raster"]) and np.array_equal(trace, reference["trace"])):
                    mismatches += 1
                logits = trace.sum(0)
            else:
                raster, logits = reference["raster"], reference["logits"]
            counts = rate_snn_counts(net, spike_inputs, raster)
            rows.append(
                {
                    "sample_id": int(inputs["sample_ids"][s]),
                    "label": int(inputs["labels"][s]),
                    "prediction": int(np.argmax(logits)),
                    "reference_prediction": int(np.argmax(reference["logits"])),
                    "torch_prediction": int(inputs["torch_prediction"][s]),
                    "torch_prediction_deterministic": int(inputs["torch_prediction_deterministic"][s]),
                    "neuron_spikes": int(raster.sum()),
                    "relay_spikes": 0,
                    **counts,
                    **sample_energy(counts, inputs, s),
                }
            )
    return rows, mismatches, overflow


class RunCheckError(RuntimeError):
    """A finished run that fails its checks: the simulator differs from the integer reference, or
    its agreement with the torch model is below the floor."""


def check_run(summary: dict, agreement_floor: float) -> None:
    """Fail a run whose lava spikes differ from the NumPy integer reference on any sample, or
    whose agreement with the torch model's prediction is below ``agreement_floor``."""
    problems = []
    if summary["simulator"] == "lava" and summary["reference_mismatches"] > 0:
        problems.append(
            f"lava differed from the NumPy integer reference on {summary['reference_mismatches']} of "
            f"{summary['samples']} samples (spike rasters or evidence): expected 0"
        )
    if summary["agreement_torch"] < agreement_floor:
        problems.append(
            f"agreement with the torch model {summary['agreement_torch']:.4f} is below the floor "
            f"loihi.agreement_floor = {agreement_floor:g}"
        )
    if problems:
        raise RunCheckError(f"{summary['model']} on {summary['dataset']}: " + "; ".join(problems))


def run(
    network_path: Path,
    inputs_path: Path,
    predictions_path: Path,
    summary_path: Path,
    chunk_samples: int,
    limit: int | None,
    use_lava: bool = True,
    agreement_floor: float = 0.0,
) -> dict:
    with np.load(network_path) as archive:
        net = check_network(archive, source=f"network archive '{network_path}'")
    inputs = load_inputs(inputs_path, net)
    samples = len(inputs["labels"]) if limit is None else min(limit, len(inputs["labels"]))
    rate_snn = net["network_kind"] == "rate_snn"
    began = time.perf_counter()
    rows, mismatches, overflow = (rate_snn_rows if rate_snn else beam_net_rows)(
        net, inputs, samples, chunk_samples, use_lava
    )
    wall = time.perf_counter() - began
    table = {key: np.array([row[key] for row in rows]) for key in rows[0]}
    summary = {
        "dataset": str(net.get("dataset", "")),
        "model": net["network_kind"],
        "samples": samples,
        "simulator": "lava" if use_lava else "numpy reference",
        "run_config": "Loihi2SimCfg(select_tag='fixed_pt')" if use_lava else None,
        "lava_version": _lava_version() if use_lava else None,
        "wall_time_s": wall,
        "time_steps": samples * (rate_period(net) if rate_snn else period(net)),
        "chunk_samples": chunk_samples,
        "cpu_count": os.cpu_count(),
        "agreement_torch": float((table["prediction"] == table["torch_prediction"]).mean()),
        "agreement_torch_deterministic": float((table["prediction"] == table["torch_prediction_deterministic"]).mean()),
        "accuracy": float((table["prediction"] == table["label"]).mean()),
        "torch_accuracy": float((table["torch_prediction"] == table["label"]).mean()),
        "reference_mismatches": int(mismatches),
        "input_overflow_samples": int(overflow),
        "mean_neuron_spikes": float(table["neuron_spikes"].mean()),  # pattern (BEAM-Net) or hidden (rate-SNN) neurons
        "mean_synops": float(table["synops"].mean()),
        "mean_neuron_updates": float(table["neuron_updates"].mean()),
        "energy_nj_mean": float(table["energy_nj"].mean()),
        "energy_nj_std": float(table["energy_nj"].std()),
        "energy_on_chip_nj_mean": float(table["energy_on_chip_nj"].mean()),
        "energy_host_nj_mean": float(table["energy_host_nj"].mean()),
        "energy_synops_nj_mean": float(table["synops"].mean() * PLATFORMS["loihi"].synop_pj / 1000),
        "report_projection_nj": list(REPORT_PROJECTION_NJ),
        "threshold_mode": str(net.get("threshold_mode", "")),
        "platform_source": PLATFORMS["loihi"].source,
        "platform_chip": PLATFORMS["loihi"].chip,
        "host_platform": HOST_PLATFORM,
        "agreement_floor": agreement_floor,
    }
    predictions_path.parent.mkdir(parents=True, exist_ok=True)
    temp = predictions_path.with_name(f".{predictions_path.name}.partial")
    with open(temp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary_temp = summary_path.with_name(f".{summary_path.name}.partial")
    summary_temp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    os.replace(temp, predictions_path)
    os.replace(summary_temp, summary_path)
    return summary


def _lava_version() -> str:
    try:
        from importlib.metadata import version

        return version("lava-nc")
    except Exception:  # noqa: BLE001
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--predictions", required=True)
    parser.add_argument("--summary", required=True)
    parser.add_argument("--chunk-samples", type=int, default=20)
    parser.add_argument(
        "--agreement-floor",
        type=float,
        default=0.0,
        help="fail when the agreement with the torch model is below this fraction",
    )
    parser.add_argument("--limit", type=int, default=None, help="run only the first N samples")
    parser.add_argument("--numpy-only", action="store_true", help="skip lava; NumPy reference only")
    args = parser.parse_args(argv)
    if sys.version_info[:2] != (3, 10) and not args.numpy_only:
        print(
            f"run_lava: error: lava-nc 0.10 needs Python 3.10, this is {sys.version.split()[0]}; "
            "run it with .venv-lava/bin/python (make setup-lava, see README)",
            file=sys.stderr,
        )
        return 2
    try:
        summary = run(
            Path(args.network),
            Path(args.inputs),
            Path(args.predictions),
            Path(args.summary),
            args.chunk_samples,
            args.limit,
            use_lava=not args.numpy_only,
            agreement_floor=args.agreement_floor,
        )
    except (ArchiveError, FileNotFoundError) as err:
        print(f"run_lava: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2, sort_keys=True))  # kept in the log when the checks fail
    try:
        check_run(summary, args.agreement_floor)
    except RunCheckError as err:
        print(f"run_lava: error: {err}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
