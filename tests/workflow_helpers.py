"""Running the workflow from tests: the venv's snakemake, and a copy of the workflow to run in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from conftest import CONFIG_PATH, REPO_ROOT

_VENV_SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SNAKEMAKE = [str(_VENV_SNAKEMAKE)] if _VENV_SNAKEMAKE.exists() else [sys.executable, "-m", "snakemake"]
ENCODINGS = {
    "digits": ("latency", "population", "rate"),
    "digits_saccade": ("latency", "rate"),
    "nmnist": ("latency", "rate"),
}


def snakemake(*args: str, cwd: Path = REPO_ROOT, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the venv's snakemake; stdout and stderr are merged into ``.stdout``.

    Copies of the workflow have no lava venv of their own: they use the project's.
    """
    env = dict(os.environ)
    lava_python = REPO_ROOT / ".venv-lava" / "bin" / "python"
    if lava_python.exists():
        env.setdefault("BEAMNET_LAVA_PYTHON", str(lava_python))
    return subprocess.run(
        [*SNAKEMAKE, *args],
        cwd=cwd,
        text=True,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
    )


def default_config_dict() -> dict[str, Any]:
    return yaml.safe_load(CONFIG_PATH.read_text())


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def copy_workflow(dest: Path) -> Path:
    """Copy what the workflow needs (Snakefile, workflow/, config.yaml, profiles/, envs/, src/, requirements/)."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns(
        "__pycache__", "*.egg-info", "*.pyc", "report.pdf", "_generated", "*.typ", ".ipynb_checkpoints"
    )
    for name in ("workflow", "profiles", "envs", "src", "requirements", "notebooks", "paper"):
        if (REPO_ROOT / name).exists():
            shutil.copytree(REPO_ROOT / name, dest / name, ignore=ignore)
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(REPO_ROOT / name, dest / name)
    return dest
