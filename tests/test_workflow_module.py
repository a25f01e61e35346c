"""The workflow used as a Snakemake `module` from another project: code, notebooks and manuscript
sources are found from the workflow's own folder, results land in the using project."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT
from workflow_helpers import default_config_dict, snakemake, write_config

pytestmark = pytest.mark.workflow


@pytest.fixture
def scratch_project(tmp_path: Path) -> Path:
    """A project of its own that imports every rule of this workflow (digits only, no tuning)."""
    config = default_config_dict()
    config["datasets"] = ["digits"]
    config["tuning"]["enabled"] = False
    write_config(tmp_path / "config.yaml", config)
    (tmp_path / "Snakefile").write_text(
        'configfile: "config.yaml"\n\n\n'
        f'module beamnet:\n    snakefile:\n        "{REPO_ROOT / "Snakefile"}"\n    config:\n        config\n\n\n'
        "use rule * from beamnet\n"
    )
    return tmp_path


def test_dry_run_of_all_finds_the_workflow_files_from_its_own_folder(scratch_project: Path) -> None:
    result = snakemake("-n", "-p", "all", "--cores", "1", cwd=scratch_project)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "render_paper" in result.stdout and "train_model" in result.stdout
    for source in ("src/beamnet/train.py", "notebooks/calibration.ipynb", "paper/report.qmd"):
        assert str(REPO_ROOT / source) in result.stdout, source
    assert not (scratch_project / "src").exists() and not (scratch_project / "notebooks").exists()


def test_a_stage_runs_in_the_using_project(scratch_project: Path) -> None:
    """prepare and encode really run: their outputs appear under the using project's results/."""
    target = "results/cache/digits/latency/train.npz"
    result = snakemake(target, "--cores", "1", cwd=scratch_project, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    with np.load(scratch_project / target) as cache:
        assert cache["labels"].size > 0
    assert (scratch_project / "logs/prepare/digits.log").exists()
