"""The README's measured tables, generated from the files the workflow and the benchmarks wrote.

No result in README.md is typed by hand. Each generated block sits between two markers::

    <!-- BEGIN generated:NAME -->
    ...
    <!-- END generated:NAME -->

and ``python -m beamnet readme`` (``make readme``) replaces its contents with the file that
:data:`SOURCES` names for NAME (a Markdown table from results/ or benchmarks/out/, or a named
value of the paper's values.json). A block whose source does not exist yet says so and names
the command that writes it, so that a fresh clone's README is honest before its first run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
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


SOURCES: Mapping[str, Source] = {
    "headline": Source("results/tables/summary.md"),
    "tuning": Source("results/tuning/tuning.md", written_by="make all (or snakemake tune)"),
    "ablations": Source("results/paper/tables/ablations.md"),
    "claims": Source("results/paper/tables/claims.md"),
    "claims_sentence": Source("results/paper/values.json", "claims_sentence"),
    "ranking_sentence": Source("results/paper/values.json", "ranking_sentence"),
    "tuning_sentence": Source("results/paper/values.json", "tuning_sentence_cap"),
    "targets": Source("results/paper/tables/targets.md"),
    "quality": Source("results/paper/tables/quality.md"),
    "energy": Source("results/paper/tables/energy.md"),
    "energy_sweep": Source("results/paper/values/energy_scaling.json", "energy_sweep_table"),
    "loihi": Source("results/paper/values/loihi.json", "loihi_table"),
    "throughput": Source("benchmarks/out/training_throughput.md", written_by="make benchmark"),
    "dag_scale": Source("benchmarks/out/dag_scale.md", written_by="python benchmarks/dag_scale.py"),
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


def render_readme(text: str, root: Path) -> str:
    """``text`` with every generated block's contents replaced from its source."""
    return BLOCK.sub(lambda match: match.group(1) + block_text(match.group("name"), root) + match.group(4), text)


def update_readme(readme: Path, root: Path) -> list[str]:
    """Rewrite ``readme``'s generated blocks in place (atomically); returns the block names."""
    text = readme.read_text()
    names = [match.group("name") for match in BLOCK.finditer(text)]
    with atomic_paths(readme) as (temp,):
        temp.write_text(render_readme(text, root))
    return names
