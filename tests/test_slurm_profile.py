"""profiles/slurm: the executor profile resolves as intended, and runs the workflow on SLURM.

The cluster test starts a one-node SLURM on localhost (tests/slurm_cluster.py; root only,
installs the Debian packages through .ci/install-slurm.sh when missing), runs
`snakemake --profile profiles/slurm` on a copy of the workflow with `datasets: [digits]`, and
checks that the outputs exist and that every job went through sbatch and ran on the node.
Elsewhere it skips with the reason (BEAMNET_REQUIRE_SLURM=1 turns the skip into a failure).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from slurm_cluster import slurm_cluster_fixture, tail

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
VENV_BIN = Path(sys.executable).parent
SNAKEMAKE = VENV_BIN / "snakemake"
TARGET = "results/cache/digits/latency/train.npz"
OUTPUTS = [
    "results/datasets/digits/manifest.csv",
    "results/datasets/digits/images.npz",
    "results/cache/digits/latency/train.npz",
    "results/cache/digits/latency/val.npz",
    "results/cache/digits/latency/test.npz",
]
# Rules the target needs, with the memory each declares (MB) and so requests from SLURM.
EXPECTED_JOBS = {"prepare_digits": 1000, "encode_spikes": 1000}
RUN_TIMEOUT = 600  # seconds for the whole snakemake run on the cluster

pytestmark = pytest.mark.workflow

needs_plugin = pytest.mark.skipif(
    not SNAKEMAKE.exists() or importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
    reason=f"snakemake and snakemake-executor-plugin-slurm must be installed next to {sys.executable}",
)


def profile() -> dict:
    return yaml.safe_load(PROFILE.read_text())


def default_resources() -> dict[str, str]:
    """The profile's default-resources as name -> expression."""
    entries = profile()["default-resources"]
    if isinstance(entries, dict):
        return {key: str(value) for key, value in entries.items()}
    return dict(entry.split("=", 1) for entry in entries)


def profile_partition() -> str:
    return default_resources()["slurm_partition"].strip("\"'")


def copy_workflow(dest: Path) -> Path:
    """The workflow (Snakefile, workflow/, src/, profiles/, envs/) with a digits-only config."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("workflow", "src", "profiles", "envs"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, dest / name, ignore=ignore)
    shutil.copy2(REPO / "Snakefile", dest / "Snakefile")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["datasets"] = ["digits"]
    (dest / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def job_env() -> dict[str, str]:
    """The environment snakemake (and, through sbatch --export=ALL, its jobs) gets."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "/usr/bin:/bin")])
    return env


def snakemake(workdir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run snakemake in workdir (its own process group, killed whole on timeout)."""
    cmd = [str(SNAKEMAKE), "--directory", str(workdir), *args]
    proc = subprocess.Popen(
        cmd,
        cwd=workdir,
        env=job_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)  # lets snakemake scancel its jobs
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        pytest.fail(f"`{' '.join(cmd)}` did not finish within {timeout} s:\n{out[-6000:]}")
    except BaseException:  # Ctrl-C: it runs in its own session, so stop it here
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


def job_resources(dry_run_output: str) -> dict[str, str]:
    """rule name -> its `resources:` line from a dry run."""
    found = {}
    for match in re.finditer(r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", dry_run_output, re.MULTILINE):
        found[match.group(1)] = match.group(2)
    return found


# --- the profile, resolved by snakemake (dry runs, no cluster needed) ------------------------------


@needs_plugin
def test_profile_resources_reach_every_job(tmp_path):
    """The partition and the rules' own memory end up in each job's resources."""
    work = copy_workflow(tmp_path)
    result = snakemake(work, "--profile", "profiles/slurm", "--workflow-profile", "none", "--dry-run", TARGET)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "workflow specific profile" not in result.stdout
    resources = job_resources(result.stdout)
    assert set(resources) == set(EXPECTED_JOBS), result.stdout[-4000:]
    for rule, mem_mb in EXPECTED_JOBS.items():
        assert f"slurm_partition={profile_partition()}" in resources[rule]
        assert f"mem_mb={mem_mb}" in resources[rule]  # the rule's value wins over the default
        assert "cpus_per_task" not in resources[rule]  # the plugin asks for {threads} CPUs


@needs_plugin
def test_profile_resources_survive_the_default_workflow_profile(tmp_path):
    """profiles/default (loaded automatically) sets no key that would replace the SLURM profile's."""
    work = copy_workflow(tmp_path)
    result = snakemake(work, "--profile", "profiles/slurm", "--dry-run", TARGET)
    assert result.returncode == 0, result.stdout[-4000:]
    resources = job_resources(result.stdout)
    assert resources and all(f"slurm_partition={profile_partition()}" in line for line in resources.values())


# --- the profile on a real (one-node) SLURM cluster ---------------------------------------------


@pytest.fixture(scope="module")
def slurm_cluster():
    yield from slurm_cluster_fixture(partition=profile_partition())


@needs_plugin
@pytest.mark.slurm
def test_slurm_profile_runs_the_workflow_through_slurm(tmp_path, slurm_cluster):
    work = copy_workflow(tmp_path)
    began = time.monotonic()
    result = snakemake(
        work,
        "--profile",
        "profiles/slurm",
        # Test-only knobs: poll soon after submission (the profile waits 40 s, as the plugin
        # does), and keep the SLURM logs of successful jobs so that they can be inspected.
        "--seconds-between-status-checks",
        "2",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--slurm-keep-successful-logs",
        TARGET,
        timeout=RUN_TIMEOUT,
    )
    elapsed = time.monotonic() - began
    log = result.stdout
    context = f"{log[-6000:]}\n{slurm_cluster.diagnostics()}"
    assert result.returncode == 0, f"snakemake failed (exit {result.returncode}):\n{context}"

    for output in OUTPUTS:
        assert (work / output).is_file(), f"{output} missing after the run:\n{context}"

    # Every job was submitted with sbatch ...
    run_id = re.search(r"SLURM run ID: (\S+)", log)
    assert run_id, f"no SLURM run ID in snakemake's log:\n{context}"
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)\.?$", log, re.MULTILINE)
    assert len(submitted) == len(EXPECTED_JOBS), f"expected {len(EXPECTED_JOBS)} sbatch submissions:\n{context}"

    # ... slurmctld ran them to completion in the profile's partition, with the rules' memory ...
    jobs = {row[0]: row for row in slurm_cluster.squeue("%i|%T|%P|%k|%m|%C", name=run_id.group(1))}
    assert set(jobs) == {jobid for jobid, _ in submitted}, f"squeue shows {jobs}:\n{context}"
    by_rule = {}
    for jobid, state, partition, comment, min_memory, cpus in jobs.values():
        rule = next((r for r in EXPECTED_JOBS if comment.startswith(f"rule_{r}")), None)
        assert rule, f"job {jobid} has an unexpected comment {comment!r}"
        by_rule[rule] = jobid
        assert state == "COMPLETED", f"job {jobid} ({rule}) is {state}:\n{context}"
        assert partition == profile_partition()
        assert min_memory == f"{EXPECTED_JOBS[rule]}M", f"job {jobid} ({rule}) asked for {min_memory}"
        assert cpus == "1", f"job {jobid} ({rule}) got {cpus} CPUs; the rule has 1 thread"
    assert set(by_rule) == set(EXPECTED_JOBS)

    # ... and the job step (snakemake inside the allocation, via srun) ran the rule there.
    for jobid, slurm_log in submitted:
        path = work / slurm_log if not Path(slurm_log).is_absolute() else Path(slurm_log)
        assert path.is_file() and path.name == f"{jobid}.log", f"no SLURM log {path}:\n{context}"
        text = path.read_text(errors="replace")
        assert "python -m beamnet" in text and "Finished job" in text, (
            f"SLURM log {path} does not show the rule running:\n{tail(path)}"
        )
    ctld_log = slurm_cluster.slurmctld_log.read_text(errors="replace")
    for jobid in by_rule.values():
        assert re.search(rf"JobId={jobid} .*WEXITSTATUS 0", ctld_log), (
            f"slurmctld did not record job {jobid} exiting 0:\n{tail(slurm_cluster.slurmctld_log)}"
        )

    timings = slurm_cluster.timings
    print(
        f"SLURM cluster: install {timings['install_s']:.1f} s, waited for the lock "
        f"{timings['lock_wait_s']:.1f} s, start {timings['start_s']:.1f} s; "
        f"snakemake run {elapsed:.1f} s"
    )
