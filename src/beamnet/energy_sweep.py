"""Energy sweep (Eq. 25 over network size): the ``energy_point`` and ``energy_tables`` rules.

For every number of stored patterns N in ``energy.n_patterns`` a small BEAM-Net is trained
cheaply (``energy.train_epochs`` epochs at the configured ``lif_steps``) and its activity is
counted on the test split for every LIF step count T in ``energy.lif_steps`` (the same weights
simulated for T steps; T changes the counts, not the training). Operation counts follow the
evaluation stage (:func:`beamnet.evaluate.predict`): input spikes x N coincidence synapses,
pattern spikes x K readout synapses, the loop's dense MACs and pattern-table reads, N x T
neuron updates.

Every row follows :mod:`beamnet.energy`'s one convention. BEAM-Net on Loihi, its native
platform, is priced on chip with the loop on the host (``energy_on_chip_nj``,
``energy_host_nj``, their sum ``energy_nj``); on CMOS (fp32, int8) everything runs on the chip,
reading its weights from a memory of their size. The parameter-matched ANN-MLP is priced from
counts measured on the same test split: each sample's non-zero inputs (the latency
intensities the ANN-MLP reads) reach all H hidden units, and every hidden unit is counted as
non-zero (the trained network's ReLU zeros are not known without training it, so the hidden
layer's H x K term is an upper bound) -- the formula of the headline
(:func:`beamnet.energy.ann_counts`). The dense ANN (every input non-zero) is shown beside it,
labelled ``ann_mlp_dense_*``. :func:`find_crossings` gives the N at which BEAM-Net's energy
crosses each baseline's, interpolated linearly in log N between the two grid points where the
sign of the difference changes.

Outputs: ``results/energy/points/{dataset}/n={N}.parquet`` (one per point) and
``results/energy/{sweep,crossings}.{parquet,csv}``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from beamnet.energy import (
    PLATFORMS,
    REFERENCE_ANCHORS_NJ,
    ann_counts,
    ann_dense_counts,
    ann_parameter_words,
    beam_net_memory_reads,
    beam_net_parameter_words,
    inference_energy_nj,
    loop_memory_reads,
    native_energy_nj,
)
from beamnet.io import atomic_paths

log = logging.getLogger("beamnet.energy_sweep")
BEAM_PLATFORMS = ("loihi", "cmos45_fp32", "cmos45_int8")
# (model label, platform, dense) of the baselines every BEAM-Net row is compared with: the ANN-MLP
# with its measured input sparsity, and the dense ANN beside it
ANN_BASELINES = (
    ("ann_mlp_fp32", "cmos45_fp32", False),
    ("ann_mlp_int8", "cmos45_int8", False),
    ("ann_mlp_dense_fp32", "cmos45_fp32", True),
    ("ann_mlp_dense_int8", "cmos45_int8", True),
)


def point_config(config: Mapping[str, Any], n_patterns: int) -> dict[str, Any]:
    """``config`` with N = ``n_patterns`` and the sweep's cheap training settings."""
    sweep = config["energy"]
    changed = copy.deepcopy(dict(config))
    changed["model"]["beam_net"]["n_patterns"] = int(n_patterns)
    changed["train"]["epochs"] = int(sweep["train_epochs"])
    changed["train"]["kl_anneal_epochs"] = min(
        int(changed["train"].get("kl_anneal_epochs", 0)), int(sweep["train_epochs"])
    )
    changed["evaluate"]["mc_passes"] = int(sweep["mc_passes"])
    return changed


def sweep_point(
    config: Mapping[str, Any],
    dataset: str,
    n_patterns: int,
    train_cache: Path,
    val_cache: Path,
    test_cache: Path,
    threads: int = 1,
) -> pl.DataFrame:
    """Train one small BEAM-Net with N patterns and price its measured activity (see module doc)."""
    import torch

    from beamnet.evaluate import load_checkpoint, operation_counts, predict, restore_model
    from beamnet.models import beam_net_parameter_count
    from beamnet.models.baselines import matched_hidden_width
    from beamnet.models.encoder import iter_batches, model_view, open_cache
    from beamnet.train import EVAL_BATCH, seed_everything, train_model

    sweep = config["energy"]
    seed = int(sweep["seed"])
    cfg = point_config(config, n_patterns)
    with tempfile.TemporaryDirectory(prefix="beamnet-energy-") as tmp:
        checkpoint = Path(tmp) / "model.pt"
        train_model(
            cfg,
            dataset,
            "beam_net",
            seed,
            train_cache,
            val_cache,
            checkpoint,
            Path(tmp) / "history.csv",
            threads=threads,
        )
        data = model_view(open_cache(test_cache), cfg, "beam_net")
        payload = load_checkpoint(checkpoint, dataset, "beam_net", data)
        model = restore_model(payload, cfg, checkpoint)
    seed_everything(seed, threads)
    labels = data.labels.numpy()
    n_active_parts, nonzero_parts = [], []
    for batch in iter_batches(data, EVAL_BATCH):  # per-sample input counts, a batch at a time
        n_active_parts.append(batch.active.sum(1).numpy())
        nonzero_parts.append((batch.intensity != 0).sum(1).numpy())
    n_active = np.concatenate(n_active_parts).astype(np.float64)
    n_inputs, n_classes = data.n_inputs, data.n_classes
    hidden = matched_hidden_width(beam_net_parameter_count(n_inputs, n_classes, n_patterns), n_inputs, n_classes)
    ann_words = ann_parameter_words(n_inputs, hidden, n_classes)
    nonzero_inputs = np.concatenate(nonzero_parts).astype(np.float64)
    ann_measured = ann_counts(nonzero_inputs, np.full_like(nonzero_inputs, float(hidden)), hidden, n_classes)
    ann_dense = ann_dense_counts(n_inputs, hidden, n_classes)
    beam_words = beam_net_parameter_words(n_inputs, n_patterns, n_classes)
    rows: list[dict[str, Any]] = []
    base = {
        "dataset": dataset,
        "n_patterns": int(n_patterns),
        "n_inputs": int(n_inputs),
        "ann_hidden": int(hidden),
        "test_samples": len(labels),
    }
    empty = {"energy_on_chip_nj": None, "energy_host_nj": None, "stored_words": None}
    for steps in sweep["lif_steps"]:
        model.lif.steps = int(steps)
        with torch.no_grad():
            result = predict(model, data, int(cfg["evaluate"]["mc_passes"]), seed)
        accuracy = float((result["probabilities"].argmax(1) == labels).mean())
        counts = operation_counts(result)  # the loop's MACs and pattern-table reads included
        native = native_energy_nj("beam_net", counts, float(n_inputs * n_patterns))
        cmos_counts = {
            **counts,
            "memory_reads": beam_net_memory_reads(n_active, n_patterns, counts["spikes"], n_classes)
            + loop_memory_reads(result["iterations"], n_active, n_patterns),
        }
        for platform in BEAM_PLATFORMS:
            if platform == "loihi":
                energy, words = native, float(n_inputs * n_patterns)
                priced = counts
            else:
                total = np.asarray(inference_energy_nj(cmos_counts, platform, beam_words))
                energy, words, priced = (
                    {"energy_nj": total, "energy_on_chip_nj": total, "energy_host_nj": np.zeros_like(total)},
                    float(beam_words),
                    cmos_counts,
                )
            rows.append(
                {
                    **base,
                    "lif_steps": int(steps),
                    "model": "beam_net",
                    "platform": platform,
                    "energy_nj": float(np.mean(energy["energy_nj"])),
                    "energy_nj_std": float(np.std(energy["energy_nj"])),
                    "energy_on_chip_nj": float(np.mean(energy["energy_on_chip_nj"])),
                    "energy_host_nj": float(np.mean(energy["energy_host_nj"])),
                    "stored_words": words,
                    "accuracy": accuracy,
                    "activity": float(result["activity"].mean()),
                    **{f"{key}": float(np.mean(value)) for key, value in priced.items()},
                }
            )
        for label, platform, dense in ANN_BASELINES:
            ann = ann_dense if dense else ann_measured
            energy = np.asarray(inference_energy_nj(ann, platform, ann_words))
            rows.append(
                {
                    **base,
                    "lif_steps": int(steps),
                    "model": label,
                    "platform": platform,
                    "energy_nj": float(np.mean(energy)),
                    "energy_nj_std": float(np.std(energy)),
                    "energy_on_chip_nj": float(np.mean(energy)),
                    "energy_host_nj": 0.0,
                    "stored_words": float(ann_words),
                    "accuracy": None,
                    "activity": None,
                    "synops": float(np.mean(ann["synops"])),
                    "macs": float(np.mean(ann["macs"])),
                    "neuron_updates": 0.0,
                    "active_updates": 0.0,
                    "spikes": 0.0,
                    "memory_reads": float(np.mean(ann["memory_reads"])),
                }
            )
        for label, (value, _source) in REFERENCE_ANCHORS_NJ.items():
            rows.append(
                {
                    **base,
                    "lif_steps": int(steps),
                    "model": label,
                    "platform": "reference",
                    "energy_nj": float(value),
                    "energy_nj_std": 0.0,
                    **empty,
                    "accuracy": None,
                    "activity": None,
                    "synops": None,
                    "macs": None,
                    "neuron_updates": None,
                    "active_updates": None,
                    "spikes": None,
                    "memory_reads": None,
                }
            )
        log.info(
            "N=%d T=%d: BEAM-Net %.3f nJ on Loihi with its host loop (accuracy %.3f); ANN fp32 %.3f nJ "
            "(measured sparsity), %.3f nJ (dense)",
            n_patterns,
            steps,
            float(np.mean(native["energy_nj"])),
            accuracy,
            float(np.mean(inference_energy_nj(ann_measured, "cmos45_fp32", ann_words))),
            float(inference_energy_nj(ann_dense, "cmos45_fp32", ann_words)),
        )
    return pl.DataFrame(rows, infer_schema_length=None)


def crossing(ns: Sequence[float], beam: Sequence[float], baseline: Sequence[float]) -> dict[str, Any]:
    """Where BEAM-Net's energy curve crosses a baseline's over N (sorted ascending).

    Returns ``crossing_n`` (None when the sign of beam - baseline never changes), the
    ``direction`` ('beam_net becomes cheaper' / 'beam_net becomes dearer' / None) and a
    ``note``. An exact tie at a grid point is a crossing at that N. Between grid points the
    difference is interpolated linearly, the abscissa in log N.
    """
    ns_arr, diff = np.asarray(ns, dtype=np.float64), np.asarray(beam, np.float64) - np.asarray(baseline, np.float64)
    order = np.argsort(ns_arr)
    ns_arr, diff = ns_arr[order], diff[order]
    for k in range(len(ns_arr)):
        if diff[k] == 0.0:
            after = diff[k + 1] if k + 1 < len(diff) else -diff[k - 1] if k > 0 else 0.0
            direction = "beam_net becomes cheaper" if after < 0 else "beam_net becomes dearer"
            return {"crossing_n": float(ns_arr[k]), "direction": direction, "note": "tie at a grid point"}
        if k + 1 < len(ns_arr) and np.sign(diff[k]) != np.sign(diff[k + 1]) and diff[k + 1] != 0.0:
            lo, hi = math.log(ns_arr[k]), math.log(ns_arr[k + 1])
            log_n = lo + (hi - lo) * diff[k] / (diff[k] - diff[k + 1])
            direction = "beam_net becomes cheaper" if diff[k] > 0 else "beam_net becomes dearer"
            return {
                "crossing_n": float(math.exp(log_n)),
                "direction": direction,
                "note": f"between N={ns_arr[k]:g} and N={ns_arr[k + 1]:g}",
            }
    side = "lower" if diff[0] < 0 else "higher"
    return {
        "crossing_n": None,
        "direction": None,
        "note": f"no crossing in range: BEAM-Net {side} throughout N in [{ns_arr[0]:g}, {ns_arr[-1]:g}]",
    }


def find_crossings(sweep: pl.DataFrame) -> pl.DataFrame:
    """One row per dataset x T x BEAM-Net platform x baseline: the crossing N (see :func:`crossing`)."""
    rows: list[dict[str, Any]] = []
    baselines = [
        *((label, platform) for label, platform, _dense in ANN_BASELINES),
        *((label, "reference") for label in REFERENCE_ANCHORS_NJ),
    ]
    for (dataset, steps), group in sweep.group_by(["dataset", "lif_steps"], maintain_order=True):
        for platform in BEAM_PLATFORMS:
            beam = group.filter((pl.col("model") == "beam_net") & (pl.col("platform") == platform)).sort("n_patterns")
            for label, base_platform in baselines:
                other = group.filter((pl.col("model") == label) & (pl.col("platform") == base_platform)).sort(
                    "n_patterns"
                )
                if beam.height == 0 or other.height != beam.height:
                    continue
                found = crossing(
                    beam["n_patterns"].to_list(), beam["energy_nj"].to_list(), other["energy_nj"].to_list()
                )
                rows.append(
                    {
                        "dataset": dataset,
                        "lif_steps": int(steps),
                        "beam_net_platform": platform,
                        "baseline": label,
                        "baseline_platform": base_platform,
                        "n_min": int(beam["n_patterns"].min()),
                        "n_max": int(beam["n_patterns"].max()),
                        **found,
                    }
                )
    schema = {
        "dataset": pl.Utf8,
        "lif_steps": pl.Int64,
        "beam_net_platform": pl.Utf8,
        "baseline": pl.Utf8,
        "baseline_platform": pl.Utf8,
        "n_min": pl.Int64,
        "n_max": pl.Int64,
        "crossing_n": pl.Float64,
        "direction": pl.Utf8,
        "note": pl.Utf8,
    }
    return pl.DataFrame(rows, schema=schema)


def write_point(
    config: Mapping[str, Any],
    dataset: str,
    n_patterns: int,
    train_cache: Path,
    val_cache: Path,
    test_cache: Path,
    output: Path,
    threads: int = 1,
) -> None:
    table = sweep_point(config, dataset, n_patterns, train_cache, val_cache, test_cache, threads)
    with atomic_paths(output) as (temp,):
        table.write_parquet(temp, compression="zstd")


def write_tables(points: Sequence[Path], out_dir: Path, provenance: str | None = None) -> None:
    """Concatenate the points into sweep.{parquet,csv} and write crossings.{parquet,csv}."""
    if not points:
        raise ValueError("energy tables: no sweep points given")
    sweep = pl.concat([pl.read_parquet(p) for p in points], how="diagonal_relaxed").sort(
        ["dataset", "lif_steps", "model", "platform", "n_patterns"]
    )
    crossings = find_crossings(sweep)
    out_dir = Path(out_dir)
    paths = [out_dir / name for name in ("sweep.parquet", "sweep.csv", "crossings.parquet", "crossings.csv")]
    metadata = {"provenance": provenance} if provenance else None
    with atomic_paths(*paths) as (sp, sc, cp, cc):
        sweep.write_parquet(sp, compression="zstd", metadata=metadata)
        sweep.write_csv(sc)
        crossings.write_parquet(cp, compression="zstd", metadata=metadata)
        crossings.write_csv(cc)


def platform_table() -> pl.DataFrame:
    """The Eq. 25 constants with their sources (for the paper's Methods)."""
    return pl.DataFrame([{**{k: v for k, v in vars(p).items()}} for p in PLATFORMS.values()])


def describe(config: Mapping[str, Any]) -> str:
    return json.dumps(config.get("energy", {}), sort_keys=True)
