"""The README's generated blocks: filled from their sources, honest where a source is missing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from beamnet.readme import BLOCK, SOURCES, render_readme, update_readme


def test_blocks_are_replaced_from_their_sources(tmp_path: Path) -> None:
    (tmp_path / "results/tables").mkdir(parents=True)
    (tmp_path / "results/tables/summary.md").write_text("| a |\n|---|\n| 1 |\n")
    (tmp_path / "results/paper").mkdir(parents=True)
    (tmp_path / "results/paper/values.json").write_text(json.dumps({"claims_sentence": "Of 3 counted claims ..."}))
    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- BEGIN generated:headline -->\nstale 97.4 %\n<!-- END generated:headline -->\n"
        "<!-- BEGIN generated:claims_sentence -->\nold\n<!-- END generated:claims_sentence -->\n"
        "<!-- BEGIN generated:tuning -->\nold\n<!-- END generated:tuning -->\nend\n"
    )
    assert update_readme(readme, tmp_path) == ["headline", "claims_sentence", "tuning"]
    text = readme.read_text()
    assert "| 1 |" in text and "stale" not in text and "Of 3 counted claims ..." in text
    assert "Not generated yet: `make all (or snakemake tune)` writes results/tuning/tuning.md" in text
    assert text.startswith("intro\n") and text.endswith("end\n")
    assert render_readme(text, tmp_path) == text  # regenerating changes nothing


def test_an_unknown_block_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="generated:headlines"):
        render_readme("<!-- BEGIN generated:headlines -->\n<!-- END generated:headlines -->\n", tmp_path)


def test_the_readme_generates_its_measured_tables() -> None:
    """Every generated block of README.md has a source, and the tables of results sit in blocks."""
    text = (REPO_ROOT / "README.md").read_text()
    names = [match.group("name") for match in BLOCK.finditer(text)]
    assert set(names) <= set(SOURCES)
    assert {"headline", "tuning", "ablations", "claims", "energy", "loihi", "throughput"} <= set(names)
    outside = BLOCK.sub("", text)
    # no measured percentage or nanojoule figure is typed outside the generated blocks
    assert not re.findall(r"\d+\.\d+ ?%|\d[\d,]* nJ", outside)
