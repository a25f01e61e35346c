"""The lava runner's CSV and JSON -> Parquet tables (the ``loihi_report`` rule, main env).

``results/loihi/{dataset}/{model}/seed={seed}/predictions.parquet``: one row per test sample (the
runner's CSV: Loihi prediction, NumPy-reference prediction, torch predictions, measured spikes,
synaptic events, neuron updates, Eq. 25 energy on Loihi). ``results/loihi/summary.{parquet,csv}``:
one row per run (dataset x model) with agreement, accuracy, simulator wall time, measured
energy per inference and the report's projection for BEAM-Net (5-7 nJ) beside it
(``energy_vs_projection`` is computed for every row; for the rate-SNN it is only a scale).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from beamnet.io import atomic_paths


def convert_predictions(csv_path: Path, parquet_path: Path) -> None:
    table = pl.read_csv(csv_path)
    with atomic_paths(parquet_path) as (temp,):
        table.write_parquet(temp, compression="zstd")


def summary_table(summaries: Sequence[Path]) -> pl.DataFrame:
    rows = []
    for path in summaries:
        record = json.loads(Path(path).read_text())
        low, high = record.pop("report_projection_nj")
        record["report_projection_nj_low"], record["report_projection_nj_high"] = float(low), float(high)
        record["energy_vs_projection"] = record["energy_nj_mean"] / high
        record["seed"] = int(Path(path).parent.name.split("=")[-1]) if "=" in Path(path).parent.name else None
        rows.append(record)
    return pl.DataFrame(rows, infer_schema_length=None)


def write_summary(summaries: Sequence[Path], out_parquet: Path, out_csv: Path) -> None:
    table = summary_table(summaries)
    with atomic_paths(out_parquet, out_csv) as (parquet_temp, csv_temp):
        table.write_parquet(parquet_temp, compression="zstd")
        table.write_csv(csv_temp)
