"""Workflow tests for the data + encode stages: the Snakemake DAG, its lint, the theory check that
fails the DAG before any job, and a real tiny run that builds encoded caches end to end."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import NMNIST_ROOT, nmnist_present
from workflow_helpers import copy_workflow, default_config_dict, snakemake, write_config

from beamnet.config import SPLITS, config_hash

ENCODINGS = {
    "digits": ("latency", "population", "rate"),
    "digits_saccade": ("latency", "rate"),
    "nmnist": ("latency", "rate"),
}

pytestmark = pytest.mark.workflow


def cache_targets(dataset: str, encoding: str) -> list[str]:
    return [f"results/cache/{dataset}/{encoding}/{split}.npz" for split in SPLITS]


# --- (a) DAG, (b) lint ---------------------------------------------------------------------------


def test_dry_run_builds_full_dag() -> None:
    """`snakemake -n all` with the default config plans every prepare step and every
    dataset x encoding cache (nmnist only where its data is present)."""
    result = snakemake("-n", "--forceall", "--nolock", "all")
    assert result.returncode == 0, result.stdout[-3000:]
    datasets = ["digits", "digits_saccade"] + (["nmnist"] if nmnist_present() else [])
    for dataset in datasets:
        assert re.search(rf"rule prepare_{dataset}\b", result.stdout), f"prepare_{dataset} missing"
        for encoding in ENCODINGS[dataset]:
            for target in cache_targets(dataset, encoding):
                assert target in result.stdout, f"{target} not in the DAG"
    # population coding needs static intensities: never planned for event datasets
    assert "results/cache/nmnist/population" not in result.stdout
    assert "results/cache/digits_saccade/population" not in result.stdout


def test_tuning_never_reads_the_test_split() -> None:
    """`snakemake -n tune` plans every variant x fold x seed of the default grid, and every
    fold job's command names the train and val caches and no test cache."""
    from beamnet.tuning import tuning_jobs

    result = snakemake("-n", "--forceall", "--nolock", "--printshellcmds", "tune")
    assert result.returncode == 0, result.stdout[-3000:]
    config = default_config_dict()
    datasets = ["digits", "digits_saccade"] + (["nmnist"] if nmnist_present() else [])
    jobs = tuning_jobs(config, datasets, config["models"])
    assert jobs and re.search(rf"tune_fold\s+{len(jobs)}\b", result.stdout), result.stdout[-3000:]
    commands = [line for line in result.stdout.splitlines() if "beamnet tune-fold" in line]
    assert len(commands) == len(jobs)
    assert all("/train.npz" in line and "/val.npz" in line for line in commands)
    assert "test.npz" not in "\n".join(commands)


def test_lint_is_clean() -> None:
    """`snakemake --lint` exits 0 and reports no lints."""
    result = snakemake("--lint")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Lints for" not in result.stdout, result.stdout


# --- (c) theory violation fails the DAG before any job ---------------------------------------------


def _w_inh_violation(tmp_path: Path) -> Path:
    config = default_config_dict()
    config["model"]["beam_net"]["w_inh"] = 1.5
    return write_config(tmp_path / "bad.yaml", config)


def _assert_names_w_inh(output: str) -> None:
    assert "w_inh" in output and "1.5" in output and "Proposition 3.3" in output, output[-3000:]


def test_theory_violation_fails_dry_run(tmp_path: Path) -> None:
    """Prop. 3.3: w_inh = 1.5 makes `snakemake -n all` fail, naming key, value and citation."""
    result = snakemake("-n", "--nolock", "all", "--configfile", str(_w_inh_violation(tmp_path)))
    assert result.returncode != 0
    _assert_names_w_inh(result.stdout)
    assert "Job stats" not in result.stdout  # no job was planned


def test_theory_violation_runs_no_job(tmp_path: Path) -> None:
    """The same violation in a real (not dry) run fails before any job: nothing is written."""
    workdir = copy_workflow(tmp_path / "wf")
    bad = _w_inh_violation(tmp_path)
    result = snakemake("--cores", "1", "all", "--configfile", str(bad), cwd=workdir)
    assert result.returncode != 0
    _assert_names_w_inh(result.stdout)
    for name in ("results", "logs", "benchmarks"):
        assert not (workdir / name).exists(), f"{name}/ was created by a failing DAG"


def test_unavailable_nmnist_is_left_out_or_fails(tmp_path: Path) -> None:
    """An nmnist root that is absent (download off) drops nmnist from `all` with a warning naming
    the root; with skip_unavailable_datasets: false the DAG fails instead."""
    config = default_config_dict()
    missing = str(tmp_path / "no_nmnist_here")
    config["data"]["nmnist"]["root"] = missing
    result = snakemake(
        "-n", "--forceall", "--nolock", "all", "--configfile", str(write_config(tmp_path / "skip.yaml", config))
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert missing in result.stdout and "nmnist" in result.stdout
    assert "results/cache/nmnist/" not in result.stdout
    assert "results/cache/digits/latency/train.npz" in result.stdout
    config["skip_unavailable_datasets"] = False
    result = snakemake("-n", "--nolock", "all", "--configfile", str(write_config(tmp_path / "strict.yaml", config)))
    assert result.returncode != 0
    assert missing in result.stdout and "unavailable" in result.stdout


def test_population_cache_for_event_dataset_is_refused() -> None:
    """Requesting a population cache of nmnist fails while building the DAG, naming both."""
    result = snakemake("-n", "--nolock", "results/cache/nmnist/population/train.npz")
    assert result.returncode != 0
    assert "'population'" in result.stdout and "'nmnist'" in result.stdout


# --- (d) a real tiny run -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the data + encode stages for real on a tiny config in a copy of the workflow."""
    workdir = copy_workflow(tmp_path_factory.mktemp("tiny") / "wf")
    config = default_config_dict()
    datasets = ["digits", "nmnist"] if nmnist_present() else ["digits"]
    config["datasets"] = datasets
    config["seeds"] = [0]
    config["data"]["nmnist"]["root"] = str(NMNIST_ROOT)
    config_path = write_config(workdir / "tiny.yaml", config)
    targets = [t for d in datasets for e in ENCODINGS[d] for t in cache_targets(d, e)]
    # targets first: --configfile takes several values
    result = snakemake("--cores", "2", *targets, "--configfile", str(config_path), cwd=workdir, timeout=240)
    assert result.returncode == 0, result.stdout[-5000:]
    return {"workdir": workdir, "config": config, "datasets": datasets, "log": result.stdout}


def test_tiny_run_caches_exist(tiny_run: dict[str, Any]) -> None:
    """Every dataset x encoding x split cache exists, atomically written (no .partial left)."""
    workdir: Path = tiny_run["workdir"]
    for dataset in tiny_run["datasets"]:
        for encoding in ENCODINGS[dataset]:
            for target in cache_targets(dataset, encoding):
                assert (workdir / target).is_file(), target
    assert not list((workdir / "results").rglob("*.partial"))


def test_tiny_run_caches_load_without_torch(tiny_run: dict[str, Any]) -> None:
    """Caches are plain NumPy: a fresh interpreter that cannot import torch reads them all."""
    paths = sorted(str(p) for p in (tiny_run["workdir"] / "results" / "cache").rglob("*.npz"))
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np\n"
        "for p in sys.argv[1:]:\n"
        "    with np.load(p, allow_pickle=False) as d:\n"
        "        [d[k] for k in d.files]\n"
        "print(len(sys.argv) - 1)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) == len(paths) > 0


@pytest.mark.parametrize(
    ("dataset", "encoding", "shape"),
    [
        ("digits", "latency", [8, 8]),
        ("digits", "population", [8, 8, 5]),
        ("digits", "rate", [8, 8]),
        ("nmnist", "latency", [3, 2, 34, 34]),
        ("nmnist", "rate", [3, 2, 34, 34]),
    ],
)
def test_tiny_run_cache_contents(tiny_run: dict[str, Any], dataset: str, encoding: str, shape: list[int]) -> None:
    """Labels and sample ids match the data's length, input_shape is right (rate: packed bits),
    splits partition the manifest, and provenance has git_commit and the step's config hash."""
    if dataset not in tiny_run["datasets"]:
        pytest.skip(f"real N-MNIST subset not found at {NMNIST_ROOT}")
    workdir: Path = tiny_run["workdir"]
    config = tiny_run["config"]
    step_hash = config_hash({"data": config["data"], "encoding": config["encoding"]})
    ids_per_split = {}
    for split, target in zip(SPLITS, cache_targets(dataset, encoding), strict=True):
        with np.load(workdir / target) as cache:
            labels, ids = cache["labels"], cache["sample_ids"]
            n = len(labels)
            assert n > 0 and len(ids) == n
            assert cache["input_shape"].tolist() == shape
            assert str(cache["dataset"]) == dataset and str(cache["encoding"]) == encoding
            n_inputs = int(np.prod(shape))
            if encoding == "rate":
                steps = config["encoding"]["rate"]["steps"]
                assert cache["spikes"].dtype == np.uint8
                assert cache["spikes"].shape == (n, steps, -(-n_inputs // 8))
                assert int(cache["n_inputs"]) == n_inputs
                bits = np.unpackbits(cache["spikes"], axis=-1, count=n_inputs)
                assert 0 < bits.mean() <= config["encoding"]["rate"]["max_rate"]
            else:
                assert cache["spike_times"].shape == cache["active"].shape == (n, n_inputs)
                np.testing.assert_array_equal(cache["active"], np.isfinite(cache["spike_times"]))
                finite = cache["spike_times"][cache["active"]]
                assert finite.min() >= 0 and finite.max() <= config["encoding"]["t_ref_ms"]
            record = json.loads(str(cache["provenance"]))
            assert isinstance(record["git_commit"], str) and record["git_commit"]
            assert record["config_hash"] == step_hash
            assert record["split"] == split
            ids_per_split[split] = ids
    manifest = np.genfromtxt(
        workdir / "results" / "datasets" / dataset / "manifest.csv",
        delimiter=",",
        names=True,
        dtype=None,
        encoding="utf-8",
    )
    for split, ids in ids_per_split.items():
        np.testing.assert_array_equal(np.sort(ids), np.sort(manifest["sample_id"][manifest["split"] == split]))
    all_ids = np.concatenate(list(ids_per_split.values()))
    assert len(np.unique(all_ids)) == len(all_ids) == len(manifest)
    if dataset == "nmnist":
        assert len(ids_per_split["test"]) == 100
        assert len(ids_per_split["train"]) + len(ids_per_split["val"]) == 700


def test_tiny_run_is_up_to_date_after_run(tiny_run: dict[str, Any]) -> None:
    """A second invocation has nothing to do: outputs, params and code are all recorded."""
    workdir: Path = tiny_run["workdir"]
    targets = [t for d in tiny_run["datasets"] for e in ENCODINGS[d] for t in cache_targets(d, e)]
    result = snakemake("-n", *targets, "--configfile", str(workdir / "tiny.yaml"), cwd=workdir)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Nothing to be done" in result.stdout, result.stdout[-3000:]


def test_a_misspelt_key_is_refused_by_name_and_nearest_key() -> None:
    """`train.epochz: 5` fails the dry run naming the key and `train.epochs`, not silently
    training with the default."""
    result = snakemake("-n", "--nolock", "all", "--config", "train={epochz: 5}")
    assert result.returncode != 0
    assert "train.epochz" in result.stdout and "nearest valid key: 'train.epochs'" in result.stdout
    assert "Job stats" not in result.stdout


def test_seeds_and_datasets_on_the_command_line_work() -> None:
    """`--config seeds=[0,1,2,3,4] datasets=[digits]` (Snakemake passes the list items as
    strings) plans the extra seeds' checkpoints and no other dataset's."""
    result = snakemake("-n", "--forceall", "--nolock", "all", "--config", "seeds=[0,1,2,3,4]", "datasets=[digits]")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "results/checkpoints/digits/beam_net/seed=4.pt" in result.stdout
    assert "results/checkpoints/nmnist/" not in result.stdout
