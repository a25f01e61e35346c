"""The whole DAG on a tiny configuration: train -> evaluate -> tables -> catalog, then the
rerun behaviour after edits (only what depends on an edited module is scheduled again)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb
import polars as pl
import pytest
from conftest import NMNIST_ROOT, REPO_ROOT, nmnist_present
from workflow_helpers import copy_workflow, default_config_dict, snakemake, write_config

from beamnet.io import load_torch_file

pytestmark = pytest.mark.workflow
TINY = REPO_ROOT / "tests" / "configs" / "tiny.yaml"


def scheduled_jobs(output: str) -> dict[str, int]:
    """Rule -> job count from a dry run's job stats table."""
    table = output.split("Job stats:")[-1]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M) if rule != "total"}


@pytest.fixture(scope="module")
def tiny_workflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the workflow that has run `all` on tests/configs/tiny.yaml."""
    workdir = copy_workflow(tmp_path_factory.mktemp("full") / "wf")
    config = default_config_dict()
    config["data"]["nmnist"]["root"] = str(NMNIST_ROOT)
    write_config(workdir / "config.yaml", config)
    (workdir / "tiny.yaml").write_text(TINY.read_text())
    if not nmnist_present():
        (workdir / "tiny.yaml").write_text(TINY.read_text().replace("[digits, nmnist]", "[digits]"))
    result = snakemake("--cores", "2", "all", "--configfile", "config.yaml", "tiny.yaml", cwd=workdir, timeout=1200)
    assert result.returncode == 0, result.stdout[-5000:]
    return workdir


def test_all_builds_every_stage(tiny_workflow: Path) -> None:
    """Checkpoints, predictions, tables, claims and the catalog exist for every dataset x model x seed."""
    datasets = ["digits", "nmnist"] if nmnist_present() else ["digits"]
    for dataset in datasets:
        for model in ("beam_net", "ann_mlp", "rate_snn"):
            for seed in (0, 1):
                checkpoint = tiny_workflow / f"results/checkpoints/{dataset}/{model}/seed={seed}.pt"
                assert load_torch_file(checkpoint)["model"] == model
                partition = f"results/predictions/dataset={dataset}/model={model}/seed={seed}/predictions.parquet"
                assert pl.read_parquet(tiny_workflow / partition).height > 0
    summary = pl.read_parquet(tiny_workflow / "results/tables/summary.parquet")
    assert summary.height == 3 * len(datasets) and set(summary["n_seeds"]) == {2}
    claims = pl.read_csv(tiny_workflow / "results/tables/claims.csv")
    assert {
        "thm_4_1_loop_energy",
        "thm_3_6_iterations",
        "prop_3_3_calibration",
        "eqs_14_15_epistemic_ratio",
        "eqs_14_15_epistemic_exceeds_aleatoric",
        "pareto_vs_rate_snn",
    } <= set(claims["claim"])
    assert set(claims["verdict"]) <= {"holds", "fails", "inconclusive"}
    assert (claims["ci_low"].is_null() | (claims["ci_low"] <= claims["measured"] + 1e-12)).all()
    # the tuning record: every job of the tiny grid (digits, 3 folds, seed 0), test never an input
    folds = pl.read_parquet(tiny_workflow / "results/tuning/folds.parquet")
    assert set(folds["fold"]) == {0, 1, 2} and set(folds["dataset"]) == {"digits"}
    assert {"default", "pool_2_augment_no_loop"} <= set(folds.filter(pl.col("model") == "beam_net")["variant"])
    markdown = (tiny_workflow / "results/tables/summary.md").read_text()
    per_seed = pl.read_parquet(tiny_workflow / "results/tables/metrics_per_seed.parquet")
    beam = per_seed.filter((pl.col("dataset") == "digits") & (pl.col("model") == "beam_net"))
    assert f"{beam['accuracy'].mean() * 100:.2f} %" in markdown
    cwd = os.getcwd()  # the catalog's views resolve relative paths from the project root
    os.chdir(tiny_workflow)
    try:
        with duckdb.connect("results/beamnet.duckdb", read_only=True) as connection:
            rows = connection.sql("SELECT count(*) FROM experiment_summary").fetchall()[0][0]
    finally:
        os.chdir(cwd)
    assert rows == 3 * len(datasets)
    if nmnist_present():  # the Loihi runs (tiny.yaml keeps the default loihi section: nmnist, both models)
        loihi = pl.read_parquet(tiny_workflow / "results/loihi/summary.parquet")
        assert sorted(loihi["model"].to_list()) == ["beam_net", "rate_snn"]
        assert loihi["reference_mismatches"].to_list() == [0, 0]


def test_nothing_to_do_after_a_complete_run(tiny_workflow: Path) -> None:
    result = snakemake("-n", "all", "--configfile", "config.yaml", "tiny.yaml", cwd=tiny_workflow)
    assert result.returncode == 0 and "Nothing to be done" in result.stdout, result.stdout[-3000:]


def test_editing_a_beam_net_module_reruns_only_beam_net(tiny_workflow: Path) -> None:
    """Editing the Bayesian LIF reruns BEAM-Net's train and evaluate jobs and the tables, not the baselines."""
    module = tiny_workflow / "src/beamnet/models/bayesian_lif.py"
    original = module.read_text()
    module.write_text(original + "\n# an edit\n")
    try:
        result = snakemake("-n", "all", "--configfile", "config.yaml", "tiny.yaml", cwd=tiny_workflow)
        jobs = scheduled_jobs(result.stdout)
        n_datasets = 2 if nmnist_present() else 1
        assert jobs.get("train_model") == 2 * n_datasets, result.stdout[-3000:]
        assert jobs.get("evaluate_model") == 2 * n_datasets
        assert {"prepare_digits", "encode_spikes"}.isdisjoint(jobs)
        outputs = re.findall(r"^\s+output: (results/(?:checkpoints|predictions)/\S+?)[,\s]", result.stdout, flags=re.M)
        assert len(outputs) == 4 * n_datasets
        assert all("beam_net" in path for path in outputs), outputs
    finally:
        module.write_text(original)
