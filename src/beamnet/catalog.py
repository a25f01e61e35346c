"""The embedded DuckDB catalog (``results/beamnet.duckdb``) over the Parquet lakehouse.

It replaces the BEAM-Net report's Postgres ``beam_metrics`` schema: the versioned SQL files
in ``workflow/sql/`` (``V###__name.sql``, applied in order) create views such as
``experiment_summary``, ``energy_comparison`` and ``uncertainty_vs_correctness`` that query
the Hive-partitioned predictions and the metric tables directly. The applied versions are
recorded in the table ``schema_version``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import duckdb

from beamnet.io import atomic_paths

VERSION_PATTERN = re.compile(r"^V(\d{3})__(\w+)\.sql$")


def migrations(sql_files: Sequence[Path]) -> list[tuple[int, str, Path]]:
    """Versioned SQL files sorted by version; names must read V###__description.sql."""
    found = []
    for path in sql_files:
        match = VERSION_PATTERN.match(Path(path).name)
        if not match:
            raise ValueError(f"SQL file '{path}': expected a name like V001__description.sql")
        found.append((int(match.group(1)), match.group(2), Path(path)))
    versions = [version for version, _, _ in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"SQL files {[str(p) for p in sql_files]} repeat a version number")
    return sorted(found)


def build_catalog(sql_files: Sequence[Path], output: Path) -> None:
    """Create the catalog at ``output`` (atomically) by applying every migration in order."""
    with atomic_paths(output) as (temp,):
        temp.unlink()  # DuckDB creates the file itself
        with duckdb.connect(str(temp)) as connection:
            connection.execute("CREATE TABLE schema_version (version INTEGER, description VARCHAR, script VARCHAR)")
            for version, description, path in migrations(sql_files):
                connection.execute(path.read_text())
                connection.execute("INSERT INTO schema_version VALUES (?, ?, ?)", [version, description, path.name])
