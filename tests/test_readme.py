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
    # no tuning record in this build and none committed under the root
    assert "Not generated yet: `make record-tuning` writes workflow/records/tuning.md" in text
    assert text.startswith("intro\n") and text.endswith("end\n")
    assert render_readme(text, tmp_path) == text  # regenerating changes nothing


def test_a_build_without_tuning_shows_the_committed_record(tmp_path: Path) -> None:
    """Without results/tuning/, the tuning blocks come from workflow/records/ and say so; with a
    record of this build, that record and its sentence replace them."""
    from beamnet.readme import write_record

    write_record("| committed |\n", "0123456789abcdef", tmp_path)
    (tmp_path / "results/paper").mkdir(parents=True)
    (tmp_path / "results/paper/values.json").write_text(json.dumps({"tuning_sentence_cap": "This build's sentence"}))
    text = (
        "<!-- BEGIN generated:tuning_sentence -->\n<!-- END generated:tuning_sentence -->\n"
        "<!-- BEGIN generated:tuning -->\n<!-- END generated:tuning -->\n"
    )
    shown = render_readme(text, tmp_path)
    assert "| committed |" in shown and "commit `0123456789ab`" in shown and "This build's sentence" not in shown
    (tmp_path / "results/tuning").mkdir()
    (tmp_path / "results/tuning/tuning.md").write_text("| this build |\n")
    shown = render_readme(text, tmp_path)
    assert "| this build |" in shown and "This build's sentence" in shown and "committed" not in shown
    only = render_readme(
        text.replace("<!-- END generated:tuning -->", "old\n<!-- END generated:tuning -->"),
        tmp_path,
        ["tuning_sentence"],
    )
    assert "old" in only and "This build's sentence" in only


def test_a_confirmation_record_is_kept_apart_from_the_configured_grids(tmp_path: Path) -> None:
    """A confirmation grid's record goes to workflow/records/<grid>.md with a sentence naming the
    grid and the commit, and leaves the configured grid's record (tuning.md) as it was."""
    from beamnet.readme import write_record

    write_record("| configured |\n", "0123456789abcdef", tmp_path)
    write_record("| confirmation |\n", "fedcba9876543210", tmp_path, grid="confirm_last_epoch")
    assert (tmp_path / "workflow/records/tuning.md").read_text() == "| configured |\n"
    meta = json.loads((tmp_path / "workflow/records/confirm_last_epoch.json").read_text())
    assert meta["grid"] == "confirm_last_epoch" and "`fedcba987654`" in meta["sentence"]
    text = (
        "<!-- BEGIN generated:tuning_confirmation_sentence -->\n<!-- END generated:tuning_confirmation_sentence -->\n"
        "<!-- BEGIN generated:tuning_confirmation -->\n<!-- END generated:tuning_confirmation -->\n"
    )
    shown = render_readme(text, tmp_path)
    assert "| confirmation |" in shown and "`confirm_last_epoch`" in shown and "configured |" not in shown


@pytest.mark.parametrize("name", ["first_round", "tuning"])
def test_the_committed_tuning_records_are_the_ones_behind_the_defaults(name: str) -> None:
    """workflow/records/ holds the tuning tables whose chosen variants are the ones config.yaml's
    dataset_settings adopt (each chosen non-default variant's overrides are set): the first round's
    winners, which are the configured grid's baseline, and the configured grid's record."""
    record = (REPO_ROOT / f"workflow/records/{name}.md").read_text()
    meta = json.loads((REPO_ROOT / f"workflow/records/{name}.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{40}", meta["commit"])
    import yaml

    from beamnet.config import adoption_keys

    settings = yaml.safe_load((REPO_ROOT / "config.yaml").read_text())["dataset_settings"]
    for line in record.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        dataset, model, variant, overrides, chosen = cells[0], cells[1], cells[2], cells[3], cells[-1]
        if chosen != "yes" or variant == "default":
            continue
        for key, value in re.findall(r"`([\w.]+)` = ([^,]+)", overrides):
            held = [str(settings[dataset][name]) for name in adoption_keys(model, key) if name in settings[dataset]]
            assert value.strip() in held, (dataset, model, variant, key)


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
