"""Evaluation: per-sample predictions of one checkpoint on the test split (``evaluate_model``).

Output: ``results/predictions/dataset={d}/model={m}/seed={s}/predictions.parquet`` (ZSTD,
Hive-partitioned, provenance in the file's key-value metadata) with one row per test sample:

    sample_id, split, label, prediction, confidence, prob_0..prob_9, is_correct,
    total_uncertainty, aleatoric_uncertainty, epistemic_uncertainty   (nats, Eqs. 14-15)
    loop_iterations, loop_converged, loop_energy_max_increase           (Thm. 3.6, Thm. 4.1)
    spike_count, activity_fraction, synaptic_ops, macs, neuron_updates, energy_nj (Eq. 25)

Stochastic BEAM-Net is evaluated with ``mc_passes`` Monte-Carlo passes of sampled spikes: the
predictive is the mean over passes, total = H[mean p], aleatoric = mean over passes of
E_Dir[H(pi)], epistemic = total - aleatoric (>= 0 by concavity). The baselines are
deterministic (their inputs are the fixed cached spikes): total = aleatoric = H[p].

Operation counts follow NeuroBench (Yik et al. 2024): binary spikes into a synapse are
accumulates (synaptic_ops); real-valued inputs are multiply-accumulates counted only where the
input is non-zero (effective MACs).
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

from beamnet.energy import NATIVE_PLATFORM, inference_energy_nj
from beamnet.io import atomic_paths
from beamnet.models import build_model
from beamnet.models.baselines import ANNMLP, RateSNN
from beamnet.models.beam_net import BEAMNet
from beamnet.models.dirichlet import dirichlet_uncertainty
from beamnet.models.encoder import EncodedSplit, load_cache
from beamnet.provenance import provenance_json
from beamnet.train import CHECKPOINT_FORMAT, model_inputs, seed_everything

EVAL_BATCH = 256


def entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """H[p] in nats, per row."""
    return -(probabilities * torch.log(probabilities.clamp_min(1e-12))).sum(1)


def load_checkpoint(path: Path, dataset: str, model_name: str, data: EncodedSplit) -> dict[str, Any]:
    """Read a checkpoint and refuse one made for another dataset, model or input shape."""
    payload = torch.load(path, weights_only=False)
    if payload.get("format_version") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint '{path}' has format {payload.get('format_version')!r}, "
                         f"expected {CHECKPOINT_FORMAT}")
    if payload["dataset"] != dataset or payload["model"] != model_name:
        raise ValueError(f"checkpoint '{path}' holds {payload['model']} trained on "
                         f"{payload['dataset']}, expected {model_name} on {dataset}")
    if payload["n_inputs"] != data.n_inputs or payload["encoding"] != data.encoding:
        raise ValueError(f"checkpoint '{path}' expects {payload['n_inputs']} {payload['encoding']} "
                         f"inputs, but the cache holds {data.n_inputs} {data.encoding} inputs")
    return payload


def restore_model(payload: Mapping[str, Any], config: Mapping[str, Any], path: Path) -> torch.nn.Module:
    """The model of a checkpoint (from :func:`load_checkpoint`), in eval mode; a checkpoint that
    does not fit the configured architecture is refused naming the file."""
    model = build_model(payload["model"], payload["n_inputs"], payload["n_classes"], config, payload["dataset"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint '{path}' does not fit the configured {payload['model']}: "
                         f"{' '.join(str(err).split())} (was it trained with another config?)") from err
    return model.eval()


@torch.no_grad()
def _beam_net_batch(model: BEAMNet, inputs, passes: int, generator: torch.Generator) -> dict[str, np.ndarray]:
    spike_times, active = inputs
    probabilities, aleatoric, spikes, activity = 0.0, 0.0, 0.0, 0.0
    for _ in range(passes):
        out = model(spike_times, active, stochastic=True, generator=generator)
        probabilities = probabilities + out.probabilities / passes
        aleatoric = aleatoric + dirichlet_uncertainty(out.alpha).aleatoric / passes
        spikes = spikes + out.spike_counts / passes
        activity = activity + out.activity / passes
    n_active = active.sum(1).to(torch.float64)
    n_patterns, n_classes = model.coincidence.n_patterns, model.n_classes
    steps = model.lif.steps
    total = entropy(probabilities)
    energies = out.energies
    return {
        "probabilities": probabilities, "total": total, "aleatoric": torch.minimum(aleatoric, total),
        "iterations": out.iterations, "converged": out.converged,
        "energy_increase": (energies[:, 1:] - energies[:, :-1]).amax(1) if energies.shape[1] > 1
        else torch.zeros(len(total)),
        "spikes": spikes, "activity": activity,
        # input spikes reach N coincidence synapses; pattern spikes reach K readout synapses
        "synops": n_active * n_patterns + spikes.double() * n_classes,
        # the loop's dense arithmetic: similarity (2 per active input and pattern) and prediction
        "macs": out.iterations.double() * 3.0 * n_active * n_patterns,
        "neuron_updates": torch.full_like(total, float(n_patterns * steps), dtype=torch.float64),
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
        counts_map = {"synops": input_spikes * hidden_units + hidden_spikes * n_classes,
                      "macs": torch.zeros_like(input_spikes),
                      "neuron_updates": torch.full_like(input_spikes, float((hidden_units + n_classes) * steps)),
                      "spikes": hidden_spikes}
    else:
        assert isinstance(model, ANNMLP)
        hidden = torch.relu(model.hidden(x))
        logits = model.logit_scale * model.output(hidden)
        nonzero_inputs = (x != 0).sum(1).double()
        nonzero_hidden = (hidden != 0).sum(1).double()
        activity = nonzero_hidden / hidden_units
        macs = nonzero_inputs * hidden_units + nonzero_hidden * n_classes
        counts_map = {"synops": torch.zeros_like(macs), "macs": macs,
                      "neuron_updates": torch.zeros_like(macs), "spikes": torch.zeros_like(macs),
                      "memory_reads": macs}
    probabilities = torch.softmax(logits, 1)
    total = entropy(probabilities)
    zeros = torch.zeros(len(total), dtype=torch.int64)
    return {"probabilities": probabilities, "total": total, "aleatoric": total, "iterations": zeros,
            "converged": torch.ones(len(total), dtype=torch.bool), "energy_increase": torch.zeros(len(total)),
            "activity": activity, **counts_map}


def predict(model: torch.nn.Module, data: EncodedSplit, passes: int, seed: int) -> dict[str, np.ndarray]:
    """Per-sample predictions, uncertainty and operation counts for a whole split."""
    generator = torch.Generator().manual_seed(seed)
    parts: list[dict[str, torch.Tensor]] = []
    for start in range(0, len(data), EVAL_BATCH):
        index = torch.arange(start, min(start + EVAL_BATCH, len(data)))
        inputs = model_inputs(model, data, index)
        parts.append(_beam_net_batch(model, inputs, passes, generator) if isinstance(model, BEAMNet)
                     else _baseline_batch(model, inputs))
    return {key: torch.cat([part[key] for part in parts]).numpy() for key in parts[0]}


def operation_counts(result: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Eq. 25's per-sample counts from :func:`predict`'s result: synaptic ops, MACs, neuron
    updates, spikes (and memory reads where measured); every spike is one active update."""
    counts = {key: np.asarray(result[key], dtype=np.float64)
              for key in ("synops", "macs", "neuron_updates", "spikes", "memory_reads") if key in result}
    counts["active_updates"] = counts.get("spikes", np.zeros(len(result["probabilities"])))
    return counts


def prediction_table(result: Mapping[str, np.ndarray], data: EncodedSplit, model_name: str) -> pa.Table:
    """The per-sample Parquet table (see the module docstring for its columns)."""
    probabilities = result["probabilities"].astype(np.float64)
    prediction = probabilities.argmax(1)
    labels = data.labels.numpy()
    counts = operation_counts(result)
    columns: dict[str, Any] = {
        "sample_id": data.sample_ids.numpy(), "split": np.full(len(labels), "test"),
        "label": labels, "prediction": prediction, "confidence": probabilities.max(1),
    }
    columns |= {f"prob_{c}": probabilities[:, c] for c in range(probabilities.shape[1])}
    total, aleatoric = result["total"].astype(np.float64), result["aleatoric"].astype(np.float64)
    columns |= {
        "is_correct": prediction == labels, "total_uncertainty": total,
        "aleatoric_uncertainty": aleatoric, "epistemic_uncertainty": np.maximum(total - aleatoric, 0.0),
        "loop_iterations": result["iterations"].astype(np.int64),
        "loop_converged": result["converged"].astype(bool),
        "loop_energy_max_increase": result["energy_increase"].astype(np.float64),
        "spike_count": result.get("spikes", np.zeros(len(labels))).astype(np.float64),
        "activity_fraction": result["activity"].astype(np.float64),
        "synaptic_ops": result["synops"].astype(np.float64), "macs": result["macs"].astype(np.float64),
        "neuron_updates": result["neuron_updates"].astype(np.float64),
        "energy_nj": np.asarray(inference_energy_nj(counts, NATIVE_PLATFORM[model_name]), dtype=np.float64),
    }
    return pa.table(columns)


def evaluate_checkpoint(config: Mapping[str, Any], dataset: str, model_name: str, seed: int,
                        checkpoint: Path, test_cache: Path, output: Path) -> None:
    """Evaluate one checkpoint on the test split and write its prediction partition atomically."""
    seed_everything(seed, threads=1)
    data = load_cache(test_cache)
    if data.dataset != dataset:
        raise ValueError(f"cache '{test_cache}' holds dataset '{data.dataset}', expected '{dataset}'")
    payload = load_checkpoint(checkpoint, dataset, model_name, data)
    model = restore_model(payload, config, checkpoint)
    passes = int(config["evaluate"]["mc_passes"]) if isinstance(model, BEAMNet) else 1
    table = prediction_table(predict(model, data, passes, seed), data, model_name)
    meta = {"provenance": provenance_json(config, dataset=dataset, model=model_name, seed=seed,
                                          checkpoint=str(checkpoint), mc_passes=passes),
            "platform": NATIVE_PLATFORM[model_name],
            "training_provenance": json.dumps(payload["provenance"], sort_keys=True)}
    table = table.replace_schema_metadata({k: v.encode() for k, v in meta.items()})
    with atomic_paths(output) as (temp,):
        pq.write_table(table, temp, compression="zstd")
