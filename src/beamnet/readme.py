"""The README's measured tables, generated from the files the workflow and the benchmarks wrote.

No result in README.md is typed by hand. Each generated block sits between two markers::

    <!-- BEGIN generated:NAME -->
    ...
    <!-- END generated:NAME -->

and ``python -m beamnet readme`` (``make readme``) replaces its contents with the file that
:data:`SOURCES` names for NAME (a Markdown table from results/ or benchmarks/out/, or a named
value of the paper's values.json). A block whose source does not exist yet says so and names
the command that writes it, so that a fresh clone's README is honest before its first run.

A build of the final runs alone (``tuning.enabled: false``) has no cross-validation record. The
record of the configured grid, behind config.yaml's ``dataset_settings``, is kept as the tuning
stage wrote it in ``workflow/records/tuning.md`` (``make record-tuning`` copies a new one there,
with the commit it was built at): a build without ``results/tuning/`` shows that committed record
and says where it came from. The record of the round before it, whose winners are the configured
grid's baseline, is kept beside it (``first_round.md``) and shown as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from beamnet.io import atomic_paths

BLOCK = re.compile(
    r"(<!-- BEGIN generated:(?P<name>[A-Za-z0-9_.-]+) -->\n)(?P<body>.*?)(<!-- END generated:(?P=name) -->)", re.DOTALL
)


@dataclass(frozen=True)
class Source:
    """Where a block's text comes from: a file, or one named value of a JSON file."""

    path: str
    key: str | None = None
    written_by: str = "make all"
    fallback: Source | None = None  # used where this build has no ``needs`` file
    needs: str | None = None


TUNING_TABLE = "results/tuning/tuning.md"
RECORD_DIR = "workflow/records"
RECORD_TABLE = f"{RECORD_DIR}/tuning.md"
RECORD_META = f"{RECORD_DIR}/tuning.json"
FIRST_ROUND_TABLE = f"{RECORD_DIR}/first_round.md"
FIRST_ROUND_META = f"{RECORD_DIR}/first_round.json"


def record_files(grid: str | None = None) -> tuple[str, str]:
    """The committed table and metadata of the configured grid's record (``grid`` None) or of the
    confirmation grid ``grid``, relative to the project root."""
    if grid is None:
        return RECORD_TABLE, RECORD_META
    return f"{RECORD_DIR}/{grid}.md", f"{RECORD_DIR}/{grid}.json"


# the configured grid's confirmation on fresh seeds (a grid of its own, `make record-confirmation`)
CONFIRMATION_GRID = "confirm_last_epoch"
CONFIRMATION_TABLE, CONFIRMATION_META = record_files(CONFIRMATION_GRID)


SOURCES: Mapping[str, Source] = {
    "headline": Source("results/tables/summary.md"),
    "tuning": Source(
        TUNING_TABLE,
        written_by="make all (or snakemake tune)",
        fallback=Source(RECORD_TABLE, written_by="make record-tuning"),
    ),
    "tuning_first_round_sentence": Source(FIRST_ROUND_META, "sentence", written_by="(committed)"),
    "tuning_first_round": Source(FIRST_ROUND_TABLE, written_by="(committed)"),
    "tuning_confirmation_sentence": Source(
        CONFIRMATION_META, "sentence", written_by=f"make record-confirmation GRID={CONFIRMATION_GRID}"
    ),
    "tuning_confirmation": Source(CONFIRMATION_TABLE, written_by=f"make record-confirmation GRID={CONFIRMATION_GRID}"),
    "ablations": Source("results/paper/tables/ablations.md"),
    "claims": Source("results/paper/tables/claims.md"),
    "claims_sentence": Source("results/paper/values.json", "claims_sentence"),
    "ranking_sentence": Source("results/paper/values.json", "ranking_sentence"),
    "tuning_sentence": Source(
        "results/paper/values.json",
        "tuning_sentence_cap",
        fallback=Source(RECORD_META, "sentence", written_by="make record-tuning"),
        needs=TUNING_TABLE,
    ),
    "targets": Source("results/paper/tables/targets.md"),
    "quality": Source("results/paper/tables/quality.md"),
    "energy": Source("results/paper/tables/energy.md"),
    "energy_sweep": Source("results/paper/values/energy_scaling.json", "energy_sweep_table"),
    "loihi": Source("results/paper/values/loihi.json", "loihi_table"),
    "throughput": Source("benchmarks/out/training_throughput.md", written_by="make benchmark"),
    "dag_scale": Source("benchmarks/out/dag_scale.md", written_by="python benchmarks/dag_scale.py"),
    "scale": Source("benchmarks/out/scale.md", written_by="make benchmark-scale"),
}


def block_text(name: str, root: Path) -> str:
    """The generated contents of block ``name`` (ending in a newline).

    Raises
    ------
    KeyError
        If ``name`` is not in :data:`SOURCES`, or the JSON source has no such value.
    """
    if name not in SOURCES:
        raise KeyError(f"README block 'generated:{name}' has no source: expected one of {sorted(SOURCES)}")
    source = SOURCES[name]
    if source.fallback is not None and not (root / (source.needs or source.path)).exists():
        source = source.fallback
    path = root / source.path
    if not path.exists():
        return f"*Not generated yet: `{source.written_by}` writes {source.path}, then `make readme`.*\n"
    if source.key is None:
        text = path.read_text()
    else:
        values = json.loads(path.read_text())
        if source.key not in values:
            raise KeyError(f"'{path}' has no value '{source.key}' for README block 'generated:{name}'")
        text = str(values[source.key])
    return text if text.endswith("\n") else text + "\n"


def render_readme(text: str, root: Path, only: Collection[str] | None = None) -> str:
    """``text`` with every generated block's contents (or those of the blocks ``only`` names)
    replaced from its source."""

    def replaced(match: re.Match[str]) -> str:
        if only is not None and match.group("name") not in only:
            return match.group(0)
        return match.group(1) + block_text(match.group("name"), root) + match.group(4)

    return BLOCK.sub(replaced, text)


def update_readme(readme: Path, root: Path, only: Collection[str] | None = None) -> list[str]:
    """Rewrite ``readme``'s generated blocks (or those ``only`` names) in place, atomically;
    returns the names of the blocks rewritten."""
    text = readme.read_text()
    names = [match.group("name") for match in BLOCK.finditer(text) if only is None or match.group("name") in only]
    with atomic_paths(readme) as (temp,):
        temp.write_text(render_readme(text, root, only))
    return names


def record_sentence(commit: str) -> str:
    """What the README says of a committed tuning record built at ``commit``."""
    return (
        f"This build has no cross-validation record of its own (`tuning.enabled: false`), so the record "
        f"below is the committed one of the configured grid, behind today's defaults (`dataset_settings`): "
        f"the tuning stage's table from the build of commit `{commit[:12]}` with `tuning.enabled: true` "
        f"({RECORD_TABLE}, copied by `make record-tuning`)."
    )


def confirmation_sentence(grid: str, commit: str) -> str:
    """What the README says of a committed confirmation record of ``grid`` built at ``commit``."""
    return (
        f"The confirmation grid `{grid}` (fresh seeds, the configured grid's folds and baseline; its decision "
        f"rule is in its comment in config.yaml): the tuning stage's table from the build of commit "
        f"`{commit[:12]}` with `tuning.grid: {grid}` ({RECORD_DIR}/{grid}.md, copied by "
        f"`make record-confirmation GRID={grid}`)."
    )


def write_record(table: str, commit: str, root: Path, grid: str | None = None) -> None:
    """Keep ``table`` (the tuning stage's Markdown record, built at ``commit``) in RECORD_DIR: as
    the configured grid's record, or with ``grid`` as that confirmation grid's record."""
    meta = {"commit": commit, "source": TUNING_TABLE, "sentence": record_sentence(commit)}
    if grid is not None:
        meta |= {"grid": grid, "sentence": confirmation_sentence(grid, commit)}
    table_path, meta_path = record_files(grid)
    with atomic_paths(root / table_path, root / meta_path) as (table_tmp, meta_tmp):
        table_tmp.write_text(table if table.endswith("\n") else table + "\n")
        meta_tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def record_tuning(root: Path, grid: str | None = None) -> Path:
    """Copy this build's ``results/tuning/tuning.md`` into RECORD_DIR with the checkout's commit
    (run it on the commit that built the record, before the code changes); with ``grid``, as the
    record of that confirmation grid (``workflow/records/<grid>.md``), for a build of it.

    Raises
    ------
    FileNotFoundError
        If this build has no tuning record.
    """
    from beamnet.provenance import git_commit

    table = root / TUNING_TABLE
    if not table.exists():
        raise FileNotFoundError(f"'{table}' does not exist: build it first (`make all` with tuning.enabled: true)")
    write_record(table.read_text(), git_commit(), root, grid)
    return root / record_files(grid)[0]
