"""The rate-coded SNN baseline on Loihi 2 in lava-nc (format in :mod:`beamnet.loihi.rate_snn`):
one network per chunk of samples, wired by :data:`RATE_SNN_CONNECTIONS`, its counts and rows."""

from __future__ import annotations

import time

import numpy as np

from beamnet.loihi.fixed_point import (
    VTH_MAX,
)
from beamnet.loihi.lava_common import Connection, report_chunk, sample_energy, wire
from beamnet.loihi.rate_snn import (
    CURRENT_DECAY_ONE_STEP,
    rate_period,
    sample_events,
    simulate_rate_snn_sample,
)

RATE_SNN_CONNECTIONS: tuple[Connection, ...] = (
    ("source", "s_out", "to_hidden", "s_in"),  # input lines + bias line -> [W1 | b1]
    ("to_hidden", "a_out", "hidden", "a_in"),
    ("hidden", "s_out", "to_output", "s_in"),  # hidden spikes -> W2
    ("to_output", "a_out", "output", "a_in"),
    ("bias_source", "s_out", "bias_to_output", "s_in"),  # b2, one step later
    ("bias_to_output", "a_out", "output", "a_in"),
)


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
    wire(
        {
            "source": source,
            "to_hidden": to_hidden,
            "hidden": hidden,
            "to_output": to_output,
            "output": output,
            "bias_source": bias_source,
            "bias_to_output": bias_to_output,
        },
        RATE_SNN_CONNECTIONS,
    )

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
