"""BEAM-Net on Loihi 2 in lava-nc: one network per chunk of samples, its per-sample counts and rows.

Processes (fixed-point models, ``Loihi2SimCfg(select_tag='fixed_pt')``), wired by
:data:`BEAM_NET_CONNECTIONS`::

    RingBuffer(input lines) -> Dense(coincidence) --\\
    RingBuffer(stop line)   -> Dense(stop) ----------> LIFReset(N pattern neurons) -> Dense(readout)
                                  Dense(-w_inh) <-----/   |  \\                             |
                                                          |   \\-> Dense(1:1) -> LIF(N relays)  v
                                  patterns <- Dense(+w_inh) <-------------/     LIFReset(K accumulators)
"""

from __future__ import annotations

import time

import numpy as np

from beamnet.loihi.fixed_point import (
    STOP_WEIGHT_MANT,
    period,
    sample_lines,
    simulate_sample,
)
from beamnet.loihi.lava_common import Connection, report_chunk, sample_energy, wire

BEAM_NET_CONNECTIONS: tuple[Connection, ...] = (
    ("source", "s_out", "coincidence", "s_in"),  # input lines -> coincidence weights
    ("coincidence", "a_out", "patterns", "a_in"),
    ("stop", "s_out", "stop_dense", "s_in"),  # the stop line ends each sample's integration
    ("stop_dense", "a_out", "patterns", "a_in"),
    ("patterns", "s_out", "inhibit", "s_in"),  # lateral inhibition
    ("inhibit", "a_out", "patterns", "a_in"),
    ("patterns", "s_out", "to_relay", "s_in"),  # relays release the inhibition one step later
    ("to_relay", "a_out", "relays", "a_in"),
    ("relays", "s_out", "release", "s_in"),
    ("release", "a_out", "patterns", "a_in"),
    ("patterns", "s_out", "readout", "s_in"),  # readout to the class accumulators
    ("readout", "a_out", "accumulators", "a_in"),
)


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

    wire(
        {
            "source": source,
            "coincidence": coincidence,
            "stop": stop,
            "stop_dense": stop_dense,
            "patterns": patterns,
            "inhibit": inhibit,
            "to_relay": to_relay,
            "relays": relays,
            "release": release,
            "readout": readout,
            "accumulators": accumulators,
        },
        BEAM_NET_CONNECTIONS,
    )

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
