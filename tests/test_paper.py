"""The manuscript end to end on a tiny configuration: papermill notebooks -> figures -> values and
tables -> paper/report.pdf (pandoc + typst where Quarto is absent), then what the PDF says and
what an edit to one notebook reruns."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import NMNIST_ROOT, REPO_ROOT
from workflow_helpers import copy_workflow, default_config_dict, snakemake, write_config

from beamnet.paper import apply_conditions, expand_source

TINY = REPO_ROOT / "tests" / "configs" / "tiny.yaml"
TARGET = "paper/report.pdf"
RUN = ("--configfile", "config.yaml", "tiny.yaml")


def scheduled_jobs(output: str) -> dict[str, int]:
    """Rule -> job count from a dry run's job stats table."""
    table = output.split("Job stats:")[-1]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M) if rule != "total"}


def pdf_text(pdf: Path) -> str:
    """The PDF's text in reading order with whitespace collapsed (pdftotext from poppler-utils)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: .ci/install-system-packages.sh installs it")
    raw = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(raw.split())


@pytest.fixture(scope="module")
def paper_workflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the workflow (with notebooks/ and paper/) that has built paper/report.pdf on
    the tiny configuration, digits only (the figures and the paper do not depend on which datasets)."""
    workdir = copy_workflow(tmp_path_factory.mktemp("paper") / "wf")
    config = default_config_dict()
    config["data"]["nmnist"]["root"] = str(NMNIST_ROOT)
    write_config(workdir / "config.yaml", config)
    (workdir / "tiny.yaml").write_text(TINY.read_text().replace("[digits, nmnist]", "[digits]"))
    result = snakemake("--cores", "2", TARGET, *RUN, cwd=workdir, timeout=900)
    assert result.returncode == 0, result.stdout[-5000:]
    return workdir


@pytest.mark.workflow
def test_pdf_has_the_headline_numbers_exactly(paper_workflow: Path) -> None:
    """Every cell of results/tables/summary.md appears in the PDF's text as written there."""
    text = pdf_text(paper_workflow / TARGET)
    rows = [line for line in (paper_workflow / "results/tables/summary.md").read_text().splitlines()[2:] if line]
    assert rows
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        for cell in cells[3:]:
            assert re.search(r"\d", cell)
            assert cell in text, f"headline cell {cell!r} (row {row!r}) is not in the PDF"
        assert " ".join(cells) in text, f"headline row {row!r} is not in the PDF in one piece"


@pytest.mark.workflow
def test_pdf_references_are_resolved_and_numbered(paper_workflow: Path) -> None:
    text = pdf_text(paper_workflow / TARGET)
    assert "??" not in text and "@fig-" not in text and "@tbl-" not in text and "@sec-" not in text
    assert "{{" not in text, "an unexpanded value or table token reached the PDF"
    source = (paper_workflow / "paper/report.qmd").read_text()
    figures = re.findall(r"\{#fig-([\w-]+)", apply_conditions(source, {}))
    tables = re.findall(r"\{#tbl-([\w-]+)", apply_conditions(source, {}))  # optional sections' tables aside
    for number in range(1, len(figures) + 1):
        assert f"Figure {number}:" in text  # every figure captioned and numbered
    for number in range(1, len(tables) + 1):
        assert f"Table {number}:" in text
    assert "Eq. 25" in text and "Theorem 3.6" in text and "Proposition 3.3" in text
    assert re.search(r"Rendered by (Quarto|pandoc [\d.]+ \(pypandoc-binary\) and typst)", text)
    assert "Orchard" in text and "Horowitz" in text  # the bibliography was processed


@pytest.mark.workflow
def test_every_referenced_figure_exists_as_png_and_pdf(paper_workflow: Path) -> None:
    build = paper_workflow / "paper/_generated"
    expanded = (build / "report.qmd").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", expanded)
    assert len(images) >= 8
    for image in images:
        png = (build / image).resolve()
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", image
        assert png.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-", image


@pytest.mark.workflow
def test_notebooks_are_executed_copies_with_injected_parameters(paper_workflow: Path) -> None:
    for name in ("training_dynamics", "comparison", "calibration", "sparsity"):
        executed = json.loads((paper_workflow / f"results/notebooks/{name}.ipynb").read_text())
        assert executed["metadata"]["papermill"]["exception"] is None
        assert executed["metadata"]["kernelspec"]["name"] == "beamnet"
        injected = [cell for cell in executed["cells"] if "injected-parameters" in cell["metadata"].get("tags", [])]
        assert len(injected) == 1
        assert 'output_dir = "results/figures"' in "".join(injected[0]["source"])  # from the rule


def test_difference_cells_say_what_the_interval_resolves() -> None:
    from beamnet.paper.tables import _difference_cell

    gain = {"d_mean": 0.012, "d_low": 0.003, "d_high": 0.021}
    assert _difference_cell(gain, "d", 100.0, 2, False) == "+1.20 [+0.30, +2.10] (better)"
    assert _difference_cell(gain, "d", 1.0, 3, True).endswith("(worse)")  # higher ECE or energy is worse
    spans = {"d_mean": -0.01, "d_low": -0.03, "d_high": 0.01}
    assert _difference_cell(spans, "d", 100.0, 2, False).endswith("(inconclusive)")
    assert _difference_cell({}, "d", 1.0, 2, False) == "—"


@pytest.mark.workflow
def test_values_come_from_the_tables(paper_workflow: Path) -> None:
    import polars as pl

    values = json.loads((paper_workflow / "results/paper/values.json").read_text())
    claims = pl.read_csv(paper_workflow / "results/tables/claims.csv")
    counted = claims.filter(pl.col("counted"))
    assert int(values["claims_total"]) == counted.height
    assert int(values["claims_not_counted"]) == claims.height - counted.height
    for verdict in ("holds", "fails", "inconclusive"):
        assert int(values[f"claims_{verdict}"]) == counted.filter(pl.col("verdict") == verdict).height
    assert sum(int(values[f"claims_{verdict}"]) for verdict in ("holds", "fails", "inconclusive")) == counted.height
    winners = pl.read_csv(paper_workflow / "results/tuning/winners.csv")
    record = (paper_workflow / "results/paper/tables/tuning.md").read_text()
    assert record == (paper_workflow / "results/tuning/tuning.md").read_text()
    assert all(
        f"| {row['dataset']} | {row['model']} | {row['variant']} |" in record for row in winners.iter_rows(named=True)
    )
    ablations = (paper_workflow / "results/paper/tables/ablations.md").read_text()
    record = pl.read_parquet(paper_workflow / "results/tuning/summary.parquet")
    for row in record.filter(pl.col("model") == "beam_net").iter_rows(named=True):
        assert f"| {row['variant'].replace('_', ' ')} |" in ablations
        assert f"| {row['accuracy_mean'] * 100:.2f} |" in ablations
    assert (paper_workflow / "results/figures/energy_accuracy_pareto.png").exists()
    summary = pl.read_parquet(paper_workflow / "results/tables/summary.parquet")
    beam = summary.filter((pl.col("dataset") == "digits") & (pl.col("model") == "beam_net"))
    assert values["digits.beam_net.accuracy"] == f"{beam['accuracy_mean'][0] * 100:.2f} %"
    assert (paper_workflow / "results/paper/tables/headline.md").read_text() == (
        paper_workflow / "results/tables/summary.md"
    ).read_text()


@pytest.mark.workflow
def test_editing_one_notebook_reruns_it_and_the_paper_only(paper_workflow: Path) -> None:
    notebook = paper_workflow / "notebooks/calibration.ipynb"
    original = notebook.read_text()
    content = json.loads(original)
    content["cells"][0]["source"] = "".join(content["cells"][0]["source"]) + "\n\nAn edit."
    notebook.write_text(json.dumps(content, indent=1))
    try:
        result = snakemake("-n", TARGET, *RUN, cwd=paper_workflow)
        assert result.returncode == 0, result.stdout[-3000:]
        assert scheduled_jobs(result.stdout) == {"plot_calibration": 1, "render_paper": 1}, result.stdout[-3000:]
    finally:
        notebook.write_text(original)


@pytest.mark.workflow
def test_snakemake_report_holds_the_figures(paper_workflow: Path) -> None:
    result = snakemake("--report", "results/report.html", *RUN, cwd=paper_workflow, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    report = (paper_workflow / "results/report.html").read_text(errors="replace")
    assert "reliability.png" in report and "Proposition 3.3" in report
    assert "summary.csv" in report and "claims.csv" in report  # the result tables
    assert "Attentional Memory network), end to end" in report  # the description


def test_unknown_tokens_are_errors_and_values_are_substituted() -> None:
    text = "Accuracy {{ value:acc }}.\n\n{{ table:t }}\n"
    assert (
        expand_source(text, {"acc": "91.20 %"}, {"t": "| a |\n|---|\n| 1 |\n"})
        == "Accuracy 91.20 %.\n\n| a |\n|---|\n| 1 |\n"
    )
    with pytest.raises(ValueError, match="value:missing"):
        expand_source("{{ value:missing }}", {}, {})


def test_conditional_sections_follow_the_registered_families() -> None:
    body = (
        'before\n::: {.content-visible when-meta="has-loihi"}\nLOIHI\n:::\n'
        '::: {.content-visible unless-meta="has-loihi"}\nNO LOIHI\n:::\nafter\n'
    )
    assert "LOIHI" in apply_conditions(body, {"has-loihi": True})
    assert "NO LOIHI" not in apply_conditions(body, {"has-loihi": True})
    shown = apply_conditions(body, {})
    assert "NO LOIHI" in shown and "LOIHI\n:::" not in shown and shown.startswith("before")


def test_adoption_says_which_winners_the_configuration_applies() -> None:
    import polars as pl

    from beamnet.paper import adoption

    config = {
        "tuning": {
            "grid": "g",
            "baseline": {"digits": {"train.sparsity_target": 0.01}},
            "grids": {"g": {"variants": {"aug": {"model.beam_net.augment.shift_px": 2}}}},
        },
        "dataset_settings": {
            "digits": {"train.sparsity_target": 0.01, "model.beam_net.augment.shift_px": 2},
            "nmnist": {},
        },
    }
    winners = pl.DataFrame(
        {
            "dataset": ["digits", "digits", "nmnist"],
            "model": ["beam_net", "ann_mlp", "beam_net"],
            "variant": ["aug", "default", "aug"],
        }
    )
    adopted, missing = adoption(config, winners)
    assert adopted == ["digits: train.sparsity_target = 0.01", "digits: model.beam_net.augment.shift_px = 2"]
    assert missing == ["nmnist: model.beam_net.augment.shift_px = 2"]
