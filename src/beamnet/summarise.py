"""Tables from the per-sample predictions (the ``summarise_results`` rule), all in Polars.

- ``metrics_per_seed``: accuracy, ECE (15 equal-width bins, Guo et al. 2017), NLL, Brier,
  activity, energy, loop iterations, and mean uncertainty on correct vs incorrect predictions,
  per dataset x model x seed.
- ``summary``: mean, standard deviation and 95 % confidence interval over seeds
  (Student's t: mean +- t_{0.975, n-1} s / sqrt(n)) per dataset x model; the report's
  headline table (Model | Accuracy | ECE | Sparsity | Energy nJ) is its first columns.
- ``claims``: each claim of the BEAM-Net report, the value measured and whether it holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from scipy import stats

from beamnet.io import atomic_paths

KEYS = ["dataset", "model", "seed"]
HEADLINE = {"accuracy": "Accuracy", "ece": "ECE", "activity": "Sparsity (active)", "energy_nj": "Energy (nJ)"}
SUMMARY_METRICS = ["accuracy", "ece", "nll", "brier", "activity", "energy_nj", "mean_iterations",
                   "epistemic_incorrect", "epistemic_correct", "aleatoric_incorrect", "aleatoric_correct"]


def read_predictions(paths: Sequence[str | Path]) -> pl.DataFrame:
    """Read Hive-partitioned prediction files (dataset=/model=/seed= in their paths)."""
    frames = [pl.read_parquet(path, hive_partitioning=True) for path in paths]
    return pl.concat(frames, how="vertical_relaxed").with_columns(pl.col("seed").cast(pl.Int64))


def metrics_per_seed(predictions: pl.DataFrame, ece_bins: int) -> pl.DataFrame:
    """One row of metrics per dataset x model x seed."""
    prob_columns = sorted((c for c in predictions.columns if c.startswith("prob_")), key=lambda c: int(c[5:]))
    probabilities = pl.concat_list(prob_columns)
    frame = predictions.with_columns(
        label_probability=probabilities.list.get(pl.col("label")),
        brier=pl.sum_horizontal([(pl.col(c) - (pl.col("label") == int(c[5:])).cast(pl.Float64)) ** 2
                                 for c in prob_columns]),
        bin=((pl.col("confidence") * ece_bins).ceil().cast(pl.Int64) - 1).clip(0, ece_bins - 1),
    )
    calibration = (frame.group_by(KEYS + ["bin"])
                   .agg(gap=(pl.col("confidence").sum() - pl.col("is_correct").cast(pl.Float64).sum()).abs())
                   .group_by(KEYS).agg(gap=pl.col("gap").sum()))
    mean_where = lambda column, correct: pl.col(column).filter(pl.col("is_correct") == correct).mean()  # noqa: E731
    metrics = frame.group_by(KEYS).agg(
        n=pl.len(),
        accuracy=pl.col("is_correct").cast(pl.Float64).mean(),
        nll=-pl.col("label_probability").clip(1e-12, None).log().mean(),
        brier=pl.col("brier").mean(),
        activity=pl.col("activity_fraction").mean(),
        energy_nj=pl.col("energy_nj").mean(),
        synaptic_ops=pl.col("synaptic_ops").mean(),
        macs=pl.col("macs").mean(),
        mean_iterations=pl.col("loop_iterations").cast(pl.Float64).mean(),
        max_iterations=pl.col("loop_iterations").max(),
        converged_fraction=pl.col("loop_converged").cast(pl.Float64).mean(),
        loop_energy_max_increase=pl.col("loop_energy_max_increase").max(),
        epistemic_incorrect=mean_where("epistemic_uncertainty", False),
        epistemic_correct=mean_where("epistemic_uncertainty", True),
        aleatoric_incorrect=mean_where("aleatoric_uncertainty", False),
        aleatoric_correct=mean_where("aleatoric_uncertainty", True),
    )
    return (metrics.join(calibration, on=KEYS)
            .with_columns(ece=pl.col("gap") / pl.col("n")).drop("gap").sort(KEYS))


def summarise(per_seed: pl.DataFrame) -> pl.DataFrame:
    """Mean, std and 95 % CI half-width over seeds, per dataset x model."""
    aggregations = [pl.len().alias("n_seeds")]
    for metric in SUMMARY_METRICS:
        aggregations += [pl.col(metric).mean().alias(f"{metric}_mean"), pl.col(metric).std().alias(f"{metric}_std")]
    summary = per_seed.group_by(["dataset", "model"]).agg(aggregations).sort(["dataset", "model"])
    t_quantile = pl.col("n_seeds").map_elements(
        lambda n: float(stats.t.ppf(0.975, n - 1)) if n > 1 else math.nan, return_dtype=pl.Float64)
    return summary.with_columns([
        (t_quantile * pl.col(f"{metric}_std") / pl.col("n_seeds").cast(pl.Float64).sqrt()).alias(f"{metric}_ci95")
        for metric in SUMMARY_METRICS])


def headline_markdown(summary: pl.DataFrame) -> str:
    """The report's comparison table as Markdown: mean +- 95 % CI over seeds."""
    lines = ["| Dataset | Model | Seeds | " + " | ".join(HEADLINE.values()) + " |",
             "|---|---|---|" + "---|" * len(HEADLINE)]
    for row in summary.iter_rows(named=True):
        cells = []
        for metric in HEADLINE:
            mean, ci = row[f"{metric}_mean"], row[f"{metric}_ci95"]
            scale, digits = (100.0, 2) if metric in ("accuracy", "activity") else (1.0, 4 if metric == "ece" else 1)
            unit = " %" if scale == 100.0 else ""
            text = f"{mean * scale:.{digits}f}{unit}"
            if ci is not None and not math.isnan(ci):
                text += f" ± {ci * scale:.{digits}f}"
            cells.append(text)
        lines.append(f"| {row['dataset']} | {row['model']} | {row['n_seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _claim(dataset: str, claim: str, source: str, statement: str, measured: float | None,
           threshold: str, holds: bool | None) -> dict[str, Any]:
    return {"dataset": dataset, "claim": claim, "source": source, "statement": statement,
            "measured": measured, "threshold": threshold,
            "holds": None if holds is None else bool(holds)}


def claims_table(per_seed: pl.DataFrame, histories: pl.DataFrame, settings: Mapping[str, Any],
                 iteration_bound: int) -> pl.DataFrame:
    """Each claim of the BEAM-Net report per dataset, measured, with whether it holds."""
    rows = []
    low_ratio, high_ratio = settings["epistemic_ratio"]
    low_activity, high_activity = settings["activity_range"]
    for dataset in per_seed["dataset"].unique().sort().to_list():
        mine = per_seed.filter(pl.col("dataset") == dataset)
        beam = mine.filter(pl.col("model") == "beam_net")
        if beam.is_empty():
            continue
        loss = (histories.filter((pl.col("dataset") == dataset) & (pl.col("model") == "beam_net"))
                .sort(["seed", "epoch"])
                .with_columns(step=pl.col("train_loss").diff().over("seed")).drop_nulls("step"))
        descent = float((loss["step"] <= 0).mean()) if loss.height else None
        rows.append(_claim(dataset, "thm_4_1_training_loss", "Theorem 4.1",
                           "BEAM-Net's training loss does not rise from epoch to epoch", descent,
                           f">= {settings['loss_descent_fraction']} of epochs",
                           None if descent is None else descent >= settings["loss_descent_fraction"]))
        increase = float(beam["loop_energy_max_increase"].max())
        rows.append(_claim(dataset, "thm_4_1_loop_energy", "Theorem 4.1",
                           "the loop's log-sum-exp energy never increases over iterations (test samples)",
                           increase, "max increase <= 1e-5", increase <= 1e-5))
        max_iterations = int(beam["max_iterations"].max())
        rows.append(_claim(dataset, "thm_3_6_iterations", "Theorem 3.6",
                           f"loop iterations stay within ceil(3 tau_m / tau_s) = {iteration_bound}",
                           float(max_iterations), f"<= {iteration_bound}", max_iterations <= iteration_bound))
        converged = float(beam["converged_fraction"].mean())
        rows.append(_claim(dataset, "thm_3_6_converged", "Theorem 3.6",
                           "the loop's posterior settles (change < tolerance) before the bound",
                           converged, "fraction of test samples = 1", converged >= 1.0))
        ece = float(beam["ece"].mean())
        rows.append(_claim(dataset, "prop_3_3_calibration", "Proposition 3.3",
                           "firing-rate posteriors are calibrated: BEAM-Net ECE (15 bins)",
                           ece, f"<= {settings['ece_max']}", ece <= settings["ece_max"]))
        ratio = float((beam["epistemic_incorrect"] / beam["epistemic_correct"]).mean())
        rows.append(_claim(dataset, "eqs_14_15_epistemic_ratio", "Eqs. 14-15",
                           "epistemic uncertainty is 1.5-3x higher on errors than on correct predictions",
                           ratio, f"in [{low_ratio}, {high_ratio}]",
                           None if math.isnan(ratio) else low_ratio <= ratio <= high_ratio))
        activity = float(beam["activity"].mean())
        rows.append(_claim(dataset, "sparsity_range", "Lennie 2003",
                           "BEAM-Net's activity lies in the cortical 1-5 % range", activity,
                           f"in [{low_activity}, {high_activity}]", low_activity <= activity <= high_activity))
        snn = mine.filter(pl.col("model") == "rate_snn")
        if not snn.is_empty():
            beam_acc, snn_acc = float(beam["accuracy"].mean()), float(snn["accuracy"].mean())
            beam_act, snn_act = activity, float(snn["activity"].mean())
            dominates = beam_acc >= snn_acc and beam_act <= snn_act and (beam_acc > snn_acc or beam_act < snn_act)
            rows.append(_claim(dataset, "pareto_vs_rate_snn", "BEAM-Net README",
                               "BEAM-Net dominates the rate-coded SNN on the (activity, accuracy) plane",
                               beam_acc - snn_acc, f"accuracy gain >= 0 with activity {beam_act:.4f} <= {snn_act:.4f}",
                               dominates))
    return pl.DataFrame(rows, schema={"dataset": pl.String, "claim": pl.String, "source": pl.String,
                                      "statement": pl.String, "measured": pl.Float64,
                                      "threshold": pl.String, "holds": pl.Boolean})


def read_histories(paths: Sequence[str | Path]) -> pl.DataFrame:
    """Training histories, tagged with dataset, model and seed from their paths."""
    frames = []
    for path in paths:
        path = Path(path)
        seed = int(path.name.split("seed=")[1].split("_")[0])
        frames.append(pl.read_csv(path).with_columns(dataset=pl.lit(path.parent.parent.name),
                                                     model=pl.lit(path.parent.name), seed=pl.lit(seed)))
    return pl.concat(frames, how="vertical_relaxed")


def write_tables(config: Mapping[str, Any], prediction_paths: Sequence[Path], history_paths: Sequence[Path],
                 iteration_bound: int, outputs: Mapping[str, Path]) -> None:
    """Write every table (parquet + csv, and the headline as Markdown) atomically."""
    per_seed = metrics_per_seed(read_predictions(prediction_paths), int(config["evaluate"]["ece_bins"]))
    summary = summarise(per_seed)
    claims = claims_table(per_seed, read_histories(history_paths), config["claims"], iteration_bound)
    with atomic_paths(*outputs.values()) as temps:
        temp = dict(zip(outputs, temps))
        per_seed.write_parquet(temp["per_seed_parquet"], compression="zstd")
        per_seed.write_csv(temp["per_seed_csv"])
        summary.write_parquet(temp["summary_parquet"], compression="zstd")
        summary.write_csv(temp["summary_csv"])
        temp["summary_md"].write_text(headline_markdown(summary))
        claims.write_csv(temp["claims_csv"])
