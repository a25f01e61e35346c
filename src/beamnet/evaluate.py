"""Evaluation: per-sample predictions of one checkpoint on the test split (``evaluate_model``).

Output: ``results/predictions/dataset={d}/model={m}/seed={s}/predictions.parquet`` (ZSTD,
Hive-partitioned, provenance in the file's key-value metadata) with one row per test sample:

    sample_id, split, label, prediction, confidence, prob_0..prob_9, is_correct,
    uncalibrated_prediction, uncalibrated_confidence                    (before the calibration map)
    total_uncertainty, aleatoric_uncertainty, epistemic_uncertainty   (nats, Eqs. 14-15)
    loop_iterations, loop_converged, loop_energy_max_increase,          (Thm. 3.6, Thm. 4.1)
    loop_energy_magnitude, loop_iterations_uncapped, loop_settled_uncapped
    spike_count, activity_fraction, synaptic_ops, macs, neuron_updates, memory_reads,
    stored_words, energy_on_chip_nj, energy_host_nj, energy_nj            (Eq. 25)

Stochastic BEAM-Net is evaluated with ``mc_passes`` Monte-Carlo passes of sampled spikes. The
predictive is one Dirichlet: the evidence is averaged over the P passes,
e_bar = (1/P) sum_p R r^(p) (linear in the firing rates, so the evidence of the mean rates),
then mapped once, alpha = alpha_0 + eta * s * e_bar**gamma (Eq. 12 with the calibration map
fitted by :func:`beamnet.train.calibrate` on this same predictive), p = alpha / A, and total,
aleatoric and epistemic uncertainty are Eqs. 14-15 of that Dirichlet. The map is one increasing
function of the evidence for every class, so it never moves a prediction: the uncalibrated
columns (s = gamma = 1, alpha = alpha_0 + eta * e_bar) have the same arg-max. Both are computed
in float64 from the float32 evidence, where the map keeps distinct evidences distinct. The
ablation with a softmax head (``model.beam_net.head: softmax``) maps e_bar through
softmax(g * s * e_bar) instead, and its aleatoric part is the passes' mean entropy (BALD). The
baselines are deterministic (their inputs are the fixed cached spikes): total = aleatoric =
H[p]; their uncalibrated predictive is the softmax of the logits without the fitted scale.

Thm. 3.6's settling is measured apart from the prediction: the loop is run once more per batch
(no sampling is involved) with a cap of ``evaluate.loop_cap_factor`` x ceil(3 tau_m / tau_s)
iterations, and ``loop_iterations_uncapped`` / ``loop_settled_uncapped`` record how many
iterations each sample took to settle and whether it settled under that cap. The predictions
come from the configured loop. ``loop_energy_magnitude`` is max |E| over the configured loop's
iterations, the scale of float32 rounding in ``loop_energy_max_increase``.

The operation counts are those of the prediction reported, all P passes of it: P x N x T
neuron updates, every pass's pattern spikes (``spike_count``) and their readout synaptic events.
The coincidence drive S_j (Eqs. 21-22) and the loop are deterministic, so they are computed once
and held as the passes' constant current (a dendritic plateau, as in the forward pass; on Loihi a
current that does not decay, du = 0): the input spikes' synaptic events and the loop's MACs are
counted once. ``activity_fraction`` is the fraction of neuron-steps that spiked, over the passes.

Operation counts follow NeuroBench (Yik et al. 2024): binary spikes into a synapse are
accumulates (synaptic_ops); real-valued inputs are multiply-accumulates counted only where the
input is non-zero (effective MACs). Energy follows :mod:`beamnet.energy`'s one convention:
each model on its native platform, BEAM-Net's loop (its MACs and pattern-table reads) priced on
the host beside the on-chip part, memory reads by the size of the memory read (``stored_words``:
the pattern table for BEAM-Net's loop, the weights for the ANN-MLP); ``energy_nj`` is the sum.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from beamnet.config import theory_bound_iterations
from beamnet.energy import NATIVE_PLATFORM, ann_counts, ann_parameter_words, loop_memory_reads, native_energy_nj
from beamnet.io import atomic_paths, load_torch_file
from beamnet.models import build_model
from beamnet.models.baselines import ANNMLP, RateSNN
from beamnet.models.beam_net import BEAMNet, loop_enabled
from beamnet.models.bidirectional import LoopResult, predictive_coding_loop
from beamnet.models.dirichlet import entropy_nats
from beamnet.models.encoder import EncodedSplit, model_view, open_cache
from beamnet.progress import progress
from beamnet.provenance import provenance_json
from beamnet.train import CHECKPOINT_FORMAT, EVAL_BATCH, model_inputs, seed_everything


def load_checkpoint(path: Path, dataset: str, model_name: str, data: EncodedSplit) -> dict[str, Any]:
    """Read a checkpoint and refuse one made for another dataset, model or input shape."""
    payload = load_torch_file(path)
    if payload.get("format_version") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"checkpoint '{path}' has format {payload.get('format_version')!r}, expected {CHECKPOINT_FORMAT}"
        )
    if payload["dataset"] != dataset or payload["model"] != model_name:
        raise ValueError(
            f"checkpoint '{path}' holds {payload['model']} trained on "
            f"{payload['dataset']}, expected {model_name} on {dataset}"
        )
    if payload["n_inputs"] != data.n_inputs or payload["encoding"] != data.encoding:
        raise ValueError(
            f"checkpoint '{path}' expects {payload['n_inputs']} {payload['encoding']} "
            f"inputs, but the cache holds {data.n_inputs} {data.encoding} inputs"
        )
    return payload


def restore_model(payload: Mapping[str, Any], config: Mapping[str, Any], path: Path) -> torch.nn.Module:
    """The model of a checkpoint (from :func:`load_checkpoint`), in eval mode; a checkpoint that
    does not fit the configured architecture is refused naming the file."""
    model = build_model(payload["model"], payload["n_inputs"], payload["n_classes"], config, payload["dataset"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ValueError(
            f"checkpoint '{path}' does not fit the configured {payload['model']}: "
            f"{' '.join(str(err).split())} (was it trained with another config?)"
        ) from err
    return model.eval()


def settling_loop(model: BEAMNet, spike_times: torch.Tensor, active: torch.Tensor, cap: int) -> LoopResult:
    """The model's predictive-coding loop (Eq. 16) with ``cap`` iterations instead of L_max, to
    measure how many iterations each sample needs to settle (Thm. 3.6)."""
    loop = model.settings["loop"]
    return predictive_coding_loop(
        spike_times,
        active,
        model.coincidence.times_by_input().detach().t(),
        model.settings["tau_c_ms"],
        loop["beta"],
        loop["pull"],
        int(cap),
        loop["tolerance"],
    )


@torch.no_grad()
def _beam_net_batch(
    model: BEAMNet, inputs, passes: int, generator: torch.Generator, settle_cap: int | None = None
) -> dict[str, np.ndarray]:
    spike_times, active = inputs
    evidence, spikes, activity = 0.0, 0.0, 0.0
    pass_evidence = []
    for _ in range(passes):
        out = model(spike_times, active, stochastic=True, generator=generator)
        pass_evidence.append(model.attention.evidence(out.rates))
        evidence = evidence + pass_evidence[-1]
        spikes = spikes + out.spike_counts  # the P passes' spikes, all of them priced
        activity = activity + out.activity / passes
    evidence = (evidence / passes).to(torch.float64)  # e_bar, as beamnet.train.monte_carlo_evidence
    head = model.attention
    probabilities = head.calibrated(evidence)
    uncalibrated = head.predictive(evidence, 1.0, 1.0)
    uncertainty = head.uncertainty(evidence, pass_evidence)  # Eqs. 14-15 (softmax head: BALD)
    n_active = active.sum(1).to(torch.float64)
    n_patterns, n_classes = model.coincidence.n_patterns, model.n_classes
    steps = model.lif.steps
    total = uncertainty.total
    energies = out.energies.to(torch.float64)
    settling = {}
    if settle_cap is not None:
        uncapped = settling_loop(model, spike_times, active, settle_cap)
        settling = {"iterations_uncapped": uncapped.iterations, "settled_uncapped": uncapped.converged}
    return {
        "probabilities": probabilities,
        "total": total,
        "aleatoric": uncertainty.aleatoric,
        "uncalibrated_probabilities": uncalibrated,
        "iterations": out.iterations,
        "converged": out.converged,
        **settling,
        "energy_increase": (energies[:, 1:] - energies[:, :-1]).amax(1)
        if energies.shape[1] > 1
        else torch.zeros(len(total), dtype=torch.float64),
        "energy_magnitude": energies.abs().amax(1),
        "spikes": spikes,
        "activity": activity,
        # input spikes reach the coincidence synapses of the patterns that listen to them (N
        # without pruning) once: the P passes rerun the LIF on the same held drive S_j; every
        # pattern spike of every pass reaches K readout synapses
        "synops": out.synaptic_events + spikes.double() * n_classes,  # the forward pass counted them
        # the loop's dense arithmetic on the host: similarity (2 per active input and pattern) and
        # prediction, reading each pattern time once per iteration (beamnet.energy.loop_memory_reads)
        "macs": out.iterations.double() * 3.0 * n_active * n_patterns,
        "memory_reads": torch.from_numpy(loop_memory_reads(out.iterations.numpy(), n_active.numpy(), n_patterns)),
        "stored_words": torch.full_like(total, float(model.coincidence.n_inputs * n_patterns), dtype=torch.float64),
        "neuron_updates": torch.full_like(total, float(passes * n_patterns * steps), dtype=torch.float64),
    }


@torch.no_grad()
def _baseline_batch(model: torch.nn.Module, inputs) -> dict[str, np.ndarray]:
    (x,) = inputs
    hidden_units, n_classes = model.hidden.out_features, model.output.out_features
    if isinstance(model, RateSNN):
        logits, counts = model(x)
        steps = x.shape[1]
        input_spikes = x.sum((1, 2)).double()
        hidden_spikes = counts.sum(1).double()
        activity = (counts.sum(1) / (hidden_units * steps)).double()
        counts_map = {
            "synops": input_spikes * hidden_units + hidden_spikes * n_classes,
            "macs": torch.zeros_like(input_spikes),
            "neuron_updates": torch.full_like(input_spikes, float((hidden_units + n_classes) * steps)),
            "spikes": hidden_spikes,
        }
    else:
        assert isinstance(model, ANNMLP)
        hidden = torch.relu(model.hidden(x))
        logits = model.logit_scale * model.output(hidden)
        nonzero_inputs = (x != 0).sum(1).double()
        nonzero_hidden = (hidden != 0).sum(1).double()
        activity = nonzero_hidden / hidden_units
        counts_map = {
            key: torch.from_numpy(value)
            for key, value in ann_counts(
                nonzero_inputs.numpy(), nonzero_hidden.numpy(), hidden_units, n_classes
            ).items()
        }
        words = ann_parameter_words(model.hidden.in_features, hidden_units, n_classes)
        counts_map |= {
            "neuron_updates": torch.zeros_like(nonzero_inputs),
            "spikes": torch.zeros_like(nonzero_inputs),
            "stored_words": torch.full_like(nonzero_inputs, float(words)),
        }
    probabilities = torch.softmax(logits, 1)
    # the logits before the fitted scale: dividing by a positive scale in float64 keeps their order
    uncalibrated = torch.softmax(logits.double() / model.logit_scale.double(), 1)
    total = entropy_nats(probabilities)
    zeros = torch.zeros(len(total), dtype=torch.int64)
    return {
        "probabilities": probabilities,
        "uncalibrated_probabilities": uncalibrated,
        "total": total,
        "aleatoric": total,
        "iterations": zeros,
        "converged": torch.ones(len(total), dtype=torch.bool),
        "energy_increase": torch.zeros(len(total)),
        "activity": activity,
        **counts_map,
    }


def predict(
    model: torch.nn.Module, data: EncodedSplit, passes: int, seed: int, settle_cap: int | None = None
) -> dict[str, np.ndarray]:
    """Per-sample predictions, uncertainty and operation counts for a whole split; with
    ``settle_cap``, BEAM-Net's iterations to settle under that cap too (Thm. 3.6)."""
    generator = torch.Generator().manual_seed(seed)
    parts: list[dict[str, torch.Tensor]] = []
    starts = range(0, len(data), EVAL_BATCH)
    for start in progress(starts, f"evaluate {type(model).__name__}", len(starts), "batch"):
        index = torch.arange(start, min(start + EVAL_BATCH, len(data)))
        inputs = model_inputs(model, data, index)
        parts.append(
            _beam_net_batch(model, inputs, passes, generator, settle_cap)
            if isinstance(model, BEAMNet)
            else _baseline_batch(model, inputs)
        )
    return {key: torch.cat([part[key] for part in parts]).numpy() for key in parts[0]}


def operation_counts(result: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Eq. 25's per-sample counts from :func:`predict`'s result: synaptic ops, MACs, neuron
    updates, spikes (and memory reads where measured); every spike is one active update."""
    counts = {
        key: np.asarray(result[key], dtype=np.float64)
        for key in ("synops", "macs", "neuron_updates", "spikes", "memory_reads")
        if key in result
    }
    counts["active_updates"] = counts.get("spikes", np.zeros(len(result["probabilities"])))
    return counts


def prediction_table(result: Mapping[str, np.ndarray], data: EncodedSplit, model_name: str) -> pa.Table:
    """The per-sample Parquet table (see the module docstring for its columns)."""
    probabilities = result["probabilities"].astype(np.float64)
    prediction = probabilities.argmax(1)
    labels = data.labels.numpy()
    counts = operation_counts(result)
    stored = result.get("stored_words")
    stored_words = (
        np.asarray(stored, dtype=np.float64) if stored is not None else np.zeros(len(labels), dtype=np.float64)
    )
    # one memory per model: its size is constant over the samples
    energy = native_energy_nj(
        model_name, counts, float(stored_words[0]) if len(labels) and stored_words[0] > 0 else None
    )
    columns: dict[str, Any] = {
        "sample_id": data.sample_ids.numpy(),
        "split": np.full(len(labels), "test"),
        "label": labels,
        "prediction": prediction,
        "confidence": probabilities.max(1),
    }
    columns |= {f"prob_{c}": probabilities[:, c] for c in range(probabilities.shape[1])}
    if "uncalibrated_probabilities" in result:
        uncalibrated = result["uncalibrated_probabilities"].astype(np.float64)
        columns |= {"uncalibrated_prediction": uncalibrated.argmax(1), "uncalibrated_confidence": uncalibrated.max(1)}
    total, aleatoric = result["total"].astype(np.float64), result["aleatoric"].astype(np.float64)
    columns |= {
        "is_correct": prediction == labels,
        "total_uncertainty": total,
        "aleatoric_uncertainty": aleatoric,
        "epistemic_uncertainty": np.maximum(total - aleatoric, 0.0),
        "loop_iterations": result["iterations"].astype(np.int64),
        "loop_converged": result["converged"].astype(bool),
        "loop_energy_max_increase": result["energy_increase"].astype(np.float64),
        "loop_energy_magnitude": result.get("energy_magnitude", np.zeros(len(labels))).astype(np.float64),
        "spike_count": result.get("spikes", np.zeros(len(labels))).astype(np.float64),
        "activity_fraction": result["activity"].astype(np.float64),
        "synaptic_ops": result["synops"].astype(np.float64),
        "macs": result["macs"].astype(np.float64),
        "neuron_updates": result["neuron_updates"].astype(np.float64),
        "memory_reads": counts.get("memory_reads", np.zeros(len(labels))),
        "stored_words": stored_words,
        **{key: np.asarray(value, dtype=np.float64) for key, value in energy.items()},
    }
    # every model's file has the same columns (the loop's are null where there is no loop), so
    # that a glob over the partitions reads as one table
    if "iterations_uncapped" in result:
        columns |= {
            "loop_iterations_uncapped": result["iterations_uncapped"].astype(np.int64),
            "loop_settled_uncapped": result["settled_uncapped"].astype(bool),
        }
    else:
        columns |= {
            "loop_iterations_uncapped": pa.nulls(len(labels), pa.int64()),
            "loop_settled_uncapped": pa.nulls(len(labels), pa.bool_()),
        }
    return pa.table(columns)


def evaluate_checkpoint(
    config: Mapping[str, Any],
    dataset: str,
    model_name: str,
    seed: int,
    checkpoint: Path,
    test_cache: Path,
    output: Path,
) -> None:
    """Evaluate one checkpoint on the test split and write its prediction partition atomically."""
    seed_everything(seed, threads=1)
    data = open_cache(test_cache)
    if data.dataset != dataset:
        raise ValueError(f"cache '{test_cache}' holds dataset '{data.dataset}', expected '{dataset}'")
    data = model_view(data, config, model_name)
    payload = load_checkpoint(checkpoint, dataset, model_name, data)
    model = restore_model(payload, config, checkpoint)
    passes = int(config["evaluate"]["mc_passes"]) if isinstance(model, BEAMNet) else 1
    settle_cap = (
        int(config["evaluate"]["loop_cap_factor"]) * theory_bound_iterations(config)
        if isinstance(model, BEAMNet) and loop_enabled(model.settings)
        else None
    )
    table = prediction_table(predict(model, data, passes, seed, settle_cap), data, model_name)
    meta = {
        "provenance": provenance_json(
            config, dataset=dataset, model=model_name, seed=seed, checkpoint=str(checkpoint), mc_passes=passes
        ),
        "platform": NATIVE_PLATFORM[model_name],
        "training_provenance": json.dumps(payload["provenance"], sort_keys=True),
    }
    table = table.replace_schema_metadata({k: v.encode() for k, v in meta.items()})
    with atomic_paths(output) as (temp,):
        pq.write_table(table, temp, compression="zstd")
