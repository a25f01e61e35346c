"""Hyper-parameter choice by stratified k-fold cross-validation on the training split (``tune``).

The protocol (Hastie, Tibshirani & Friedman 2009, §7.10; Varma & Simon 2006 on why the data
that scores a choice must not have made it):

- The *training split* is every sample that is not in the test split: the train and val caches
  joined. The test cache is never an input of a tuning job, so nothing here can read it.
- Its samples are dealt into ``tuning.folds`` folds class by class (:func:`stratified_folds`),
  seeded by ``tuning.split_seed``, so every fold keeps the class proportions.
- A job is one (dataset, model, variant, fold k, seed). Fold k is held out and scored; fold
  k + 1 (mod K) is the inner validation split that selects the epoch and fits the calibration
  map, exactly as the val split does for the final models; the other K - 2 folds train. The
  held-out fold is scored as evaluation scores the test split (Monte-Carlo predictive, Eq. 25
  energy), so a tuning row and a test row measure the same thing.
- A variant is a named set of overrides of dotted config keys (``model.beam_net.w_inh: 4``);
  ``default`` is the configuration as it stands. ``tuning.grids.<grid>.models`` says which
  variants each model tries.
- :func:`choose_winners` applies ``tuning.rule`` to the per-fold table. ``paired_improvement``:
  a variant replaces the default only where its gain in ``tuning.metric`` over the default,
  paired on the same folds and seeds, has a 95 % Student-t interval above zero; among such
  variants the best mean wins; otherwise the default stays. ``best_mean``: the highest mean.
  ``improvement_then_energy``: accuracy first, to the resolution the folds allow, then energy.
  The eligible variants are the default and those whose paired gain over the default has its
  interval above zero; the leader is the eligible variant of best mean; every eligible variant
  whose paired difference from the leader (same folds and seeds) does not resolve a loss is
  tied with it, and the tied variant of lowest mean energy per inference wins.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from scipy import stats

from beamnet.config import ConfigError, apply_overrides, dataset_config, get_key, model_encoding
from beamnet.io import atomic_paths
from beamnet.metrics import expected_calibration_error, negative_log_likelihood
from beamnet.models.encoder import EncodedSplit, concatenate_splits, model_view, open_cache, select_samples
from beamnet.provenance import provenance_json

log = logging.getLogger("beamnet.tuning")
DEFAULT_VARIANT = "default"
RULES = ("paired_improvement", "best_mean", "improvement_then_energy")
# Metrics whose paired difference from the default the record reports (the ablation table)
PAIRED_METRICS = ("accuracy", "ece", "energy_nj")
FOLD_METRICS = ("accuracy", "ece", "nll", "activity", "energy_nj")
# Metrics where lower is better; every other metric is better higher.
LOWER_IS_BETTER = ("ece", "nll", "energy_nj")
KEYS = ["dataset", "model", "variant"]


@dataclass(frozen=True)
class TuningJob:
    """One cross-validation job: a model variant trained without fold ``fold`` and scored on it."""

    dataset: str
    model: str
    variant: str
    fold: int
    seed: int


def stratified_folds(labels: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Deal samples into ``n_folds`` folds class by class.

    Within every class the samples are shuffled with ``numpy.random.default_rng(seed)`` and
    the i-th goes to fold i mod K, so fold sizes per class differ by at most one. The result
    depends only on ``labels``, ``n_folds`` and ``seed``.

    Returns
    -------
    numpy.ndarray of int64, shape (n,): the fold of each sample.
    """
    if n_folds < 3:
        raise ValueError(
            f"tuning.folds = {n_folds}: expected at least 3 (a held-out fold, an inner "
            "validation fold and at least one training fold)"
        )
    rng = np.random.default_rng(seed)
    folds = np.full(len(labels), -1, dtype=np.int64)
    offset = 0
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(len(members))]
        # continue the round robin across classes so small classes do not all start at fold 0
        folds[members] = (offset + np.arange(len(members))) % n_folds
        offset = (offset + len(members)) % n_folds
    if np.bincount(folds, minlength=n_folds).min() == 0:
        raise ValueError(f"{len(labels)} training samples cannot fill {n_folds} folds")
    return folds


def fold_roles(folds: np.ndarray, fold: int, n_folds: int) -> dict[str, np.ndarray]:
    """Indices of the held-out fold (``score``), the inner validation fold and the training folds."""
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold {fold}: expected 0 <= fold < {n_folds}")
    inner = (fold + 1) % n_folds
    return {
        "score": np.flatnonzero(folds == fold),
        "val": np.flatnonzero(folds == inner),
        "train": np.flatnonzero((folds != fold) & (folds != inner)),
    }


def training_pool(train_cache: Path, val_cache: Path) -> EncodedSplit:
    """The training split (train and val caches joined), ordered by sample id."""
    pool = concatenate_splits(open_cache(train_cache), open_cache(val_cache))
    return select_samples(pool, torch.argsort(pool.sample_ids))


# --- the grid -------------------------------------------------------------------------------


def grid_settings(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``tuning.grids`` entry that ``tuning.grid`` names."""
    tuning = config["tuning"]
    name = tuning["grid"]
    if name not in tuning["grids"]:
        raise ConfigError(f"config key 'tuning.grid' = {name!r}: expected one of {sorted(tuning['grids'])}")
    return tuning["grids"][name]


def model_variants(config: Mapping[str, Any], model: str) -> list[str]:
    """``default`` plus the variants ``model`` tries in the chosen grid (validated)."""
    grid = grid_settings(config)
    names = list(grid["models"].get(model, []))
    unknown = [name for name in names if name not in grid["variants"]]
    if unknown:
        raise ConfigError(
            f"config key 'tuning.grids.{config['tuning']['grid']}.models.{model}' names "
            f"unknown variants {unknown}: expected names from its 'variants' "
            f"({sorted(grid['variants'])})"
        )
    return [DEFAULT_VARIANT] + [name for name in names if name != DEFAULT_VARIANT]


def variant_config(config: Mapping[str, Any], variant: str, dataset: str | None = None) -> dict[str, Any]:
    """The configuration a variant trains with: ``dataset``'s configuration
    (:func:`beamnet.config.dataset_config`; ``config`` itself without a dataset) with the
    variant's overrides applied (``default``: none)."""
    base = dataset_config(config, dataset) if dataset is not None else copy.deepcopy(dict(config))
    if variant == DEFAULT_VARIANT:
        return base
    grid = grid_settings(config)
    if variant not in grid["variants"]:
        raise ConfigError(
            f"tuning variant '{variant}' is not in tuning.grids.{config['tuning']['grid']}.variants "
            f"({sorted(grid['variants'])})"
        )
    return apply_overrides(base, grid["variants"][variant], f"tuning variant '{variant}'")


# BEAM-Net settings a baseline reads: its width is matched to BEAM-Net's parameter count
# (beamnet.models.build_model), which depends on these alone
MATCHING_KEYS = ("n_patterns", "encoding", "input_pool")


def job_sections(config: Mapping[str, Any], variant: str, dataset: str, model: str) -> dict[str, Any]:
    """The configuration sections a tuning job of ``model`` trains with: ``encoding``, ``train``,
    ``evaluate`` and ``model`` of :func:`variant_config`, except that the sections of the other
    models come from ``config`` itself, unchanged by ``dataset_settings`` and the variant (the
    job never reads them), and a baseline's view of ``model.beam_net`` takes from the variant only
    the keys its parameter matching reads (:data:`MATCHING_KEYS`). So adopting one model's winner
    changes no other model's job."""
    trained_with = variant_config(config, variant, dataset)
    models = copy.deepcopy(dict(config["model"]))
    models[model] = trained_with["model"][model]
    if model != "beam_net":
        for key in MATCHING_KEYS:
            if key in trained_with["model"]["beam_net"]:
                models["beam_net"][key] = trained_with["model"]["beam_net"][key]
    models["parameter_tolerance"] = trained_with["model"]["parameter_tolerance"]
    return {
        "encoding": trained_with["encoding"],
        "train": trained_with["train"],
        "evaluate": trained_with["evaluate"],
        "model": models,
    }


def _changes_anything(config: Mapping[str, Any], variant: str, model: str, dataset: str) -> bool:
    """False where a variant trains ``model`` on ``dataset`` exactly as the default does (for
    example ``model.beam_net.encoding: latency`` where ``auto`` already picks the latency code)."""
    if variant == DEFAULT_VARIANT:
        return True
    default = dataset_config(config, dataset)
    changed = variant_config(config, variant, dataset)
    if model_encoding(changed, model, dataset) != model_encoding(default, model, dataset):
        return True
    encoding_key = f"model.{model}.encoding"
    overrides = grid_settings(config)["variants"][variant]
    return any(get_key(default, key) != value for key, value in overrides.items() if key != encoding_key)


def tuning_jobs(config: Mapping[str, Any], datasets: Sequence[str], models: Sequence[str]) -> list[TuningJob]:
    """Every job of the chosen grid, for those of its datasets and models that are in the run."""
    grid = grid_settings(config)
    folds = int(config["tuning"]["folds"])
    jobs = []
    for dataset in [d for d in grid["datasets"] if d in datasets]:
        for model in [m for m in models if m in grid["models"]]:
            for variant in model_variants(config, model):
                if not _changes_anything(config, variant, model, dataset):
                    continue
                jobs += [
                    TuningJob(dataset, model, variant, fold, int(seed))
                    for fold in range(folds)
                    for seed in grid["seeds"]
                ]
    return jobs


# --- one job ---------------------------------------------------------------------------------


def score_split(
    model: torch.nn.Module, data: EncodedSplit, model_name: str, passes: int, seed: int, ece_bins: int
) -> dict[str, float]:
    """Score a held-out split as evaluation scores the test split (:mod:`beamnet.evaluate`)."""
    from beamnet.evaluate import predict, prediction_table

    table = prediction_table(predict(model, data, passes, seed), data, model_name)
    n_classes = sum(name.startswith("prob_") for name in table.column_names)
    probabilities = torch.from_numpy(np.stack([table[f"prob_{c}"].to_numpy() for c in range(n_classes)], 1))
    labels = data.labels
    return {
        "accuracy": float(np.mean(table["is_correct"].to_numpy())),
        "ece": expected_calibration_error(probabilities, labels, ece_bins),
        "nll": negative_log_likelihood(probabilities, labels),
        "activity": float(np.mean(table["activity_fraction"].to_numpy())),
        "energy_nj": float(np.mean(table["energy_nj"].to_numpy())),
    }


def run_fold(
    trained_with: Mapping[str, Any],
    job: TuningJob,
    n_folds: int,
    split_seed: int,
    train_cache: Path,
    val_cache: Path,
    output: Path,
    threads: int = 1,
) -> None:
    """Train ``job``'s variant without its fold, score the fold, write one Parquet row atomically.

    ``trained_with`` is the variant's configuration (:func:`variant_config`); ``n_folds`` and
    ``split_seed`` fix the fold assignment (``tuning.folds``, ``tuning.split_seed``).
    """
    from beamnet.models.beam_net import BEAMNet
    from beamnet.train import fit_model

    pool = training_pool(train_cache, val_cache)
    if pool.dataset != job.dataset:
        raise ValueError(
            f"caches '{train_cache}', '{val_cache}' hold dataset '{pool.dataset}', expected '{job.dataset}'"
        )
    pool = model_view(pool, trained_with, job.model)
    folds = stratified_folds(pool.labels.numpy(), n_folds, split_seed)
    roles = {
        name: select_samples(pool, torch.from_numpy(index))
        for name, index in fold_roles(folds, job.fold, n_folds).items()
    }
    fitted = fit_model(trained_with, job.dataset, job.model, job.seed, roles["train"], roles["val"], threads)
    assert fitted is not None  # no early stop was asked for
    passes = int(trained_with["evaluate"]["mc_passes"]) if isinstance(fitted.model, BEAMNet) else 1
    scores = score_split(
        fitted.model, roles["score"], job.model, passes, job.seed, int(trained_with["evaluate"]["ece_bins"])
    )
    row = {
        "dataset": job.dataset,
        "model": job.model,
        "variant": job.variant,
        "fold": job.fold,
        "seed": job.seed,
        "n_train": len(roles["train"]),
        "n_val": len(roles["val"]),
        "n_scored": len(roles["score"]),
        "selected_epoch": fitted.selected_epoch,
        **scores,
    }
    table = pa.Table.from_pylist([row]).replace_schema_metadata(
        {
            "provenance": provenance_json(
                trained_with,
                dataset=job.dataset,
                model=job.model,
                seed=job.seed,
                variant=job.variant,
                fold=job.fold,
                folds=n_folds,
                fold_seed=split_seed,
            ).encode()
        }
    )
    log.info(
        "%s/%s/%s fold %d seed %d: %s",
        job.dataset,
        job.model,
        job.variant,
        job.fold,
        job.seed,
        ", ".join(f"{name} {value:.4g}" for name, value in scores.items()),
    )
    with atomic_paths(output) as (temp,):
        pq.write_table(table, temp, compression="zstd")


# --- the record ------------------------------------------------------------------------------


def _t_half_width(std: float | None, n: int) -> float:
    """Half-width of the 95 % Student-t interval of a mean of ``n`` values."""
    if n < 2 or std is None or math.isnan(std):
        return math.nan
    return float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)


def summarise_folds(folds: pl.DataFrame, metric: str) -> pl.DataFrame:
    """Per dataset x model x variant: mean, std and 95 % interval of every fold metric, and the
    paired difference from the default in ``metric`` (same folds and seeds) with its interval."""
    aggregations = [pl.len().alias("n_runs")]
    for name in FOLD_METRICS:
        aggregations += [pl.col(name).mean().alias(f"{name}_mean"), pl.col(name).std().alias(f"{name}_std")]
    summary = folds.group_by(KEYS).agg(aggregations)
    default = folds.filter(pl.col("variant") == DEFAULT_VARIANT).select(
        "dataset", "model", "fold", "seed", pl.col(metric).alias("default_value")
    )
    paired = (
        folds.join(default, on=["dataset", "model", "fold", "seed"], how="left")
        .with_columns(difference=pl.col(metric) - pl.col("default_value"))
        .group_by(KEYS)
        .agg(
            n_paired=pl.col("difference").drop_nulls().len(),
            difference_mean=pl.col("difference").mean(),
            difference_std=pl.col("difference").std(),
        )
    )
    summary = summary.join(paired, on=KEYS, how="left")
    for name in PAIRED_METRICS:
        summary = summary.join(
            paired_differences(folds, name, DEFAULT_VARIANT, f"{name}_vs_default"), on=KEYS, how="left"
        )
    half = {
        name: [_t_half_width(std, n) for std, n in zip(summary[f"{name}_std"], summary["n_runs"], strict=True)]
        for name in FOLD_METRICS
    }
    diff_half = [_t_half_width(std, n) for std, n in zip(summary["difference_std"], summary["n_paired"], strict=True)]
    summary = summary.with_columns(
        *[pl.Series(f"{name}_ci95", half[name], dtype=pl.Float64) for name in FOLD_METRICS],
        pl.Series("difference_ci95", diff_half, dtype=pl.Float64),
    ).with_columns(
        difference_low=pl.col("difference_mean") - pl.col("difference_ci95"),
        difference_high=pl.col("difference_mean") + pl.col("difference_ci95"),
    )
    return summary.sort(KEYS)


def paired_differences(
    folds: pl.DataFrame, metric: str, reference: str, prefix: str, keys: Sequence[str] = ("dataset", "model")
) -> pl.DataFrame:
    """Per dataset x model x variant: the mean of ``metric`` minus ``reference``'s on the same
    folds and seeds, with its 95 % Student-t interval: ``{prefix}_mean``, ``_low``, ``_high``
    (null where a variant has fewer than two pairs; ``reference`` against itself is 0)."""
    base = folds.filter(pl.col("variant") == reference).select(
        *keys, "fold", "seed", pl.col(metric).alias("_reference")
    )
    paired = (
        folds.join(base, on=[*keys, "fold", "seed"], how="inner")
        .with_columns(_difference=pl.col(metric) - pl.col("_reference"))
        .group_by([*keys, "variant"])
        .agg(_n=pl.len(), _mean=pl.col("_difference").mean(), _std=pl.col("_difference").std())
    )
    half = [_t_half_width(std, n) for std, n in zip(paired["_std"], paired["_n"], strict=True)]
    return paired.with_columns(pl.Series("_half", half, dtype=pl.Float64)).select(
        *keys,
        "variant",
        pl.col("_mean").alias(f"{prefix}_mean"),
        (pl.col("_mean") - pl.col("_half")).alias(f"{prefix}_low"),
        (pl.col("_mean") + pl.col("_half")).alias(f"{prefix}_high"),
    )


def _resolved(low: float | None, high: float | None, sign: float) -> bool:
    """Whether an interval [low, high] of a difference lies wholly on the better side of 0."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return False
    return low > 0 if sign > 0 else high < 0


def _improvement_then_energy(
    rows: list[dict[str, Any]], folds: pl.DataFrame, metric: str, sign: float
) -> dict[str, Any]:
    """The ``improvement_then_energy`` winner among one dataset x model's rows (module docstring)."""
    eligible = [
        row
        for row in rows
        if row["variant"] == DEFAULT_VARIANT or _resolved(row["difference_low"], row["difference_high"], sign)
    ]
    leader = max(eligible, key=lambda row: (sign * row[f"{metric}_mean"], row["variant"] == DEFAULT_VARIANT))
    names = {row["variant"] for row in eligible}
    versus = {
        row["variant"]: row
        for row in paired_differences(
            folds.filter(pl.col("variant").is_in(names)), metric, leader["variant"], "leader"
        ).to_dicts()
    }

    def loses_to_leader(variant: str) -> bool:  # the leader's gain over it is resolved
        low, high = versus[variant]["leader_low"], versus[variant]["leader_high"]
        return low is not None and high is not None and _resolved(-high, -low, sign)

    tied = [row for row in eligible if row["variant"] == leader["variant"] or not loses_to_leader(row["variant"])]
    return min(tied, key=lambda row: (row["energy_nj_mean"], row["variant"] != leader["variant"]))


def choose_winners(summary: pl.DataFrame, metric: str, rule: str, folds: pl.DataFrame | None = None) -> pl.DataFrame:
    """Add ``winner`` (bool) to :func:`summarise_folds`'s table by ``rule`` (module docstring);
    ``improvement_then_energy`` also needs the per-fold table ``folds``."""
    if rule not in RULES:
        raise ConfigError(f"config key 'tuning.rule' = {rule!r}: expected one of {list(RULES)}")
    if rule == "improvement_then_energy" and folds is None:
        raise ValueError("the improvement_then_energy rule needs the per-fold table")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    winners = []
    for (dataset, model), group in summary.group_by(["dataset", "model"], maintain_order=True):
        rows = group.to_dicts()
        if rule == "improvement_then_energy":
            assert folds is not None
            best = _improvement_then_energy(
                rows, folds.filter((pl.col("dataset") == dataset) & (pl.col("model") == model)), metric, sign
            )
            winners.append({"dataset": dataset, "model": model, "variant": best["variant"]})
            continue
        if rule == "best_mean":
            eligible = rows
        else:
            # the paired gain over the default must be positive across its whole interval
            eligible = [
                row
                for row in rows
                if row["variant"] == DEFAULT_VARIANT
                or (
                    row["difference_ci95"] is not None
                    and not math.isnan(row["difference_ci95"])
                    and (row["difference_low"] > 0 if sign > 0 else row["difference_high"] < 0)
                )
            ]
            if len(eligible) > 1:
                eligible = [row for row in eligible if row["variant"] != DEFAULT_VARIANT]
        if not eligible:
            eligible = rows
        best = max(eligible, key=lambda row: (sign * row[f"{metric}_mean"], row["variant"] == DEFAULT_VARIANT))
        winners.append({"dataset": dataset, "model": model, "variant": best["variant"]})
    chosen = pl.DataFrame(winners, schema={"dataset": pl.String, "model": pl.String, "variant": pl.String})
    return (
        summary.join(chosen.with_columns(winner=pl.lit(True)), on=KEYS, how="left")
        .with_columns(pl.col("winner").fill_null(False))
        .sort(KEYS)
    )


def read_fold_rows(paths: Sequence[Path]) -> pl.DataFrame:
    """Every job's row, one table (sorted by dataset, model, variant, fold, seed)."""
    frames = [pl.read_parquet(path) for path in paths]
    return pl.concat(frames, how="vertical_relaxed").sort(KEYS + ["fold", "seed"])


def tuning_markdown(summary: pl.DataFrame, config: Mapping[str, Any]) -> str:
    """The tuning record as a Markdown table: one row per dataset x model x variant, each metric
    as mean ± 95 % Student-t half-width over folds x seeds, the paired difference in
    ``tuning.metric`` from the default with its interval, and the variant ``tuning.rule`` keeps."""
    metric = config["tuning"]["metric"]
    grid = grid_settings(config)

    def mean_ci(row: Mapping[str, Any], name: str, scale: float = 1.0, digits: int = 4) -> str:
        ci = row[f"{name}_ci95"]
        text = f"{row[f'{name}_mean'] * scale:.{digits}f}"
        return text if ci is None or math.isnan(ci) else f"{text} ± {ci * scale:.{digits}f}"

    lines = [
        f"| Dataset | Model | Variant | Overrides | Runs | Accuracy | ECE | Activity | "
        f"{metric} vs default (paired, 95 % CI) | Chosen |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary.iter_rows(named=True):
        overrides = grid["variants"].get(row["variant"], {}) if row["variant"] != DEFAULT_VARIANT else {}
        text = ", ".join(f"`{key}` = {value}" for key, value in overrides.items()) or "—"
        if row["variant"] == DEFAULT_VARIANT:
            difference = "—"
        elif row["difference_ci95"] is None or math.isnan(row["difference_ci95"]):
            difference = f"{row['difference_mean']:+.4f}"
        else:
            difference = f"{row['difference_mean']:+.4f} [{row['difference_low']:+.4f}, {row['difference_high']:+.4f}]"
        lines.append(
            f"| {row['dataset']} | {row['model']} | {row['variant']} | {text} | {row['n_runs']} | "
            f"{mean_ci(row, 'accuracy', 100.0, 2)} % | {mean_ci(row, 'ece')} | "
            f"{mean_ci(row, 'activity', 100.0, 2)} % | "
            f"{difference} | {'yes' if row['winner'] else ''} |"
        )
    return "\n".join(lines) + "\n"


def write_record(config: Mapping[str, Any], fold_paths: Sequence[Path], outputs: Mapping[str, Path]) -> None:
    """Write the per-fold table, the summary with winners, the winners, the Markdown record, the
    baselines against BEAM-Net (:func:`model_comparison`) and the accuracy-energy Pareto points."""
    tuning = config["tuning"]
    folds = read_fold_rows(fold_paths)
    summary = choose_winners(summarise_folds(folds, tuning["metric"]), tuning["metric"], tuning["rule"], folds)
    winners = (
        summary.filter(pl.col("winner"))
        .select(
            "dataset",
            "model",
            "variant",
            f"{tuning['metric']}_mean",
            f"{tuning['metric']}_ci95",
            "difference_mean",
            "difference_low",
            "difference_high",
        )
        .with_columns(default_is_winner=pl.col("variant") == DEFAULT_VARIANT, rule=pl.lit(tuning["rule"]))
    )
    comparison = model_comparison(folds, winners)
    pareto = pareto_front(
        summary.select(
            *KEYS, "winner", "n_runs", "accuracy_mean", "accuracy_ci95", "ece_mean", "energy_nj_mean", "energy_nj_ci95"
        )
    )
    with atomic_paths(*outputs.values()) as temps:
        temp = dict(zip(outputs, temps, strict=True))
        comparison.write_csv(temp["comparison_csv"])
        pareto.write_parquet(temp["pareto_parquet"], compression="zstd")
        folds.write_parquet(temp["folds_parquet"], compression="zstd")
        folds.write_csv(temp["folds_csv"])
        summary.write_parquet(temp["summary_parquet"], compression="zstd")
        summary.write_csv(temp["summary_csv"])
        winners.write_csv(temp["winners_csv"])
        temp["markdown"].write_text(tuning_markdown(summary, config))


# --- what the record says about the components and the baselines -------------------------------


def pareto_front(
    points: pl.DataFrame,
    accuracy: str = "accuracy_mean",
    energy: str = "energy_nj_mean",
    group: Sequence[str] = ("dataset",),
) -> pl.DataFrame:
    """``points`` with ``on_front``: True where no other point of its ``group`` is at least as
    accurate and at most as costly, and strictly better in one of the two (Pareto 1896)."""
    flags = []
    for row in points.iter_rows(named=True):
        rivals = points.filter(pl.all_horizontal(pl.col(key) == row[key] for key in group))
        dominated = rivals.filter(
            (pl.col(accuracy) >= row[accuracy])
            & (pl.col(energy) <= row[energy])
            & ((pl.col(accuracy) > row[accuracy]) | (pl.col(energy) < row[energy]))
        )
        flags.append(dominated.is_empty())
    return points.with_columns(pl.Series("on_front", flags, dtype=pl.Boolean))


def model_comparison(folds: pl.DataFrame, winners: pl.DataFrame, reference: str = "beam_net") -> pl.DataFrame:
    """Each model's chosen variant against ``reference``'s chosen variant on the same folds and
    seeds, per dataset: the paired difference (other - reference) in accuracy, ECE and energy with
    its 95 % Student-t interval (``{metric}_mean``, ``_low``, ``_high``; :func:`paired_differences`
    with the models in place of the variants)."""
    chosen = (
        folds.join(winners.select("dataset", "model", "variant"), on=KEYS, how="inner")
        .rename({"variant": "chosen"})
        .with_columns(variant=pl.col("model"))
    )
    theirs = chosen.filter(pl.col("model") != reference)
    ours = chosen.filter(pl.col("model") == reference).select("dataset", "fold", "seed")
    result = (
        theirs.join(ours, on=["dataset", "fold", "seed"], how="inner")
        .group_by("dataset", "model")
        .agg(pl.col("chosen").first().alias("variant"), n_paired=pl.len())
    )
    if result.is_empty():
        return pl.DataFrame(schema={key: pl.String for key in KEYS})
    for name in PAIRED_METRICS:
        differences = paired_differences(chosen, name, reference, name, keys=("dataset",))
        result = result.join(differences.rename({"variant": "model"}), on=["dataset", "model"], how="left")
    return result.sort(KEYS)
