"""The workflow's rules follow the project's conventions: each job keeps a log and a benchmark
file, declares memory that grows on retry, and small steps stay off a cluster's queue."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO_ROOT

RULE_FILES = [REPO_ROOT / "Snakefile", *sorted((REPO_ROOT / "workflow/rules").glob("*.smk"))]


def rule_bodies() -> dict[str, str]:
    """rule name -> the text of its definition (up to the next top-level statement)."""
    bodies: dict[str, str] = {}
    for path in RULE_FILES:
        text = path.read_text()
        for match in re.finditer(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", text, flags=re.MULTILINE):
            bodies[match.group(1)] = match.group(2)
    return bodies


def localrules() -> set[str]:
    names: set[str] = set()
    for path in RULE_FILES:
        for block in re.findall(r"^localrules:\n((?:[ \t]+.*\n)*)", path.read_text(), flags=re.MULTILINE):
            names |= {name.strip().rstrip(",") for name in block.split() if name.strip().rstrip(",")}
    return names


def test_rules_are_found() -> None:
    """The parser sees the workflow's rules (so that the checks below are not vacuous)."""
    bodies = rule_bodies()
    assert {"all", "prepare_digits", "train_model", "tune_fold", "render_paper"} <= set(bodies)
    assert len(bodies) >= 20


def test_every_job_rule_has_a_log_and_a_benchmark() -> None:
    """Every rule that produces files writes a log and a Snakemake benchmark (peak RSS, wall time)."""
    missing = {
        name: [directive for directive in ("log:", "benchmark:") if f"\n    {directive}" not in "\n" + body]
        for name, body in rule_bodies().items()
        if "\n    output:" in "\n" + body
    }
    assert {name: lacks for name, lacks in missing.items() if lacks} == {}


def test_memory_grows_with_the_attempt() -> None:
    """Every declared mem_mb goes through memory_mb(), which scales it by the retry attempt."""
    plain = {name for name, body in rule_bodies().items() if re.search(r"mem_mb=(?!memory_mb\()", body)}
    assert plain == set()
    namespace: dict = {}
    source = (REPO_ROOT / "workflow/rules/common.smk").read_text()
    definition = re.search(r"^def memory_mb\(.*?(?=^\S)", source, flags=re.MULTILINE | re.DOTALL).group(0)
    exec(definition, namespace)
    assert [namespace["memory_mb"](1500)(None, attempt) for attempt in (1, 2, 3)] == [1500, 3000, 4500]


def test_localrules_are_the_small_steps() -> None:
    """Aggregate, plot and paper steps are local; the expensive per-sample stages are cluster jobs."""
    local = localrules()
    bodies = rule_bodies()
    assert local <= set(bodies)
    assert {name for name in bodies if name.startswith("plot_")} <= local
    assert {"summarise_results", "build_catalog", "record_tuning", "collect_paper_values", "render_paper"} <= local
    assert "download_nmnist" in local  # compute nodes are often offline: it runs where snakemake runs
    heavy = {"prepare_nmnist", "encode_spikes", "train_model", "tune_fold", "evaluate_model", "loihi_run"}
    assert not heavy & local
    assert Path(REPO_ROOT / "profiles/slurm/config.yaml").read_text().count("retries:") == 1


def test_every_environment_file_is_pinned() -> None:
    """Each conda environment pins its packages (exactly for Python packages, or through a pinned
    requirements file), and a package pinned in both an env file and requirements/main.txt has
    the same version in each, so that the conda and venv runs use the same code."""
    import yaml

    main_pins = {
        line.split("==")[0].lower().replace("-", "_"): line.split("==")[1].strip()
        for line in (REPO_ROOT / "requirements/main.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    unpinned, disagree = [], []
    for path in sorted((REPO_ROOT / "envs").glob("*.yaml")):
        for dependency in yaml.safe_load(path.read_text())["dependencies"]:
            entries = dependency["pip"] if isinstance(dependency, dict) else [dependency]
            for entry in entries:
                if entry == "pip" or entry.startswith(("-r ", "-e ")):
                    continue
                if not re.search(r"(==|=)\d", entry):
                    unpinned.append(f"{path.name}: {entry}")
                elif "==" in entry:
                    name, version = entry.split("==")
                    pinned = main_pins.get(name.lower().replace("-", "_"))
                    if pinned is not None and pinned != version:
                        disagree.append(f"{path.name}: {entry} vs requirements/main.txt {pinned}")
    assert unpinned == [] and disagree == []
