"""The manuscript (paper/report.qmd -> paper/report.pdf): named values, generated tables, rendering.

No number in the manuscript is typed by hand (the showyourwork rule). Two steps:

1. ``write_paper_inputs`` (rule ``collect_paper_values``) reads results/tables/ and the config
   and writes ``values.json`` (named inline values, as display strings) and one Markdown table
   per name under ``tables/``; the headline table is ``results/tables/summary.md`` verbatim.
2. ``render_report`` (rule ``render_paper``) expands the source: ``{{ value:NAME }}`` becomes
   the named value, a line ``{{ table:NAME }}`` becomes the generated Markdown table, relative
   image paths are re-based to the build folder, and the front matter gets one boolean
   ``has-SECTION`` per figure family the workflow registered (optional sections such as the
   energy sweep and the Loihi runs are fenced with ``::: {.content-visible when-meta="has-..."}``).
   Optional sections also have named values, written by their paper-stage rule
   (``python -m beamnet section-values``) to ``values/{family}.json`` beside ``values.json``
   (:func:`write_section_values`) and merged for the registered families. An unknown name is
   an error, never a blank. The expanded document is then rendered by

   - Quarto (``quarto render --to typst``) where ``quarto`` is on PATH (envs/paper.yaml), or
   - pandoc (the binary bundled with pypandoc-binary) -> typst source -> PDF with the ``typst``
     Python package. ``paper/crossref.lua`` turns Quarto's ``@fig-``/``@tbl-``/``@sec-``
     references into typst references (numbered by typst) and applies ``when-meta``;
     citations go through pandoc's citeproc with paper/references.bib.

   Either way the PDF states which renderer made it (``{{ value:renderer }}``).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from beamnet.config import model_encoding, theory_bound_iterations
from beamnet.io import atomic_paths
from beamnet.theory import sweep_values

MODEL_NAMES = {"beam_net": "BEAM-Net", "ann_mlp": "ANN-MLP", "rate_snn": "Rate-coded SNN"}
DATASET_NAMES = {"digits": "Digits (8x8)", "digits_saccade": "Digits-saccade (DVS)", "nmnist": "N-MNIST"}
MODEL_COLOURS = {"BEAM-Net": "#0072B2", "ANN-MLP": "#E69F00", "Rate-coded SNN": "#009E73"}  # Okabe-Ito
FIGURE_DPI = 200
TOKEN = re.compile(r"\{\{\s*(value|table|caption):([A-Za-z0-9_.\-]+)\s*\}\}")
CONDITIONAL = re.compile(
    r'^:::+ *\{\.content-(visible|hidden) +(when|unless)-meta="([^"]+)"\} *\n(.*?)^:::+ *$', re.DOTALL | re.MULTILINE
)
IMAGE = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)")


def apply_figure_style() -> None:
    """One legible style for every notebook's figures (seaborn paper context)."""
    import seaborn as sns

    sns.set_theme(
        context="paper",
        style="whitegrid",
        font_scale=1.15,
        rc={"figure.dpi": 100, "savefig.bbox": "tight", "axes.titleweight": "bold", "legend.frameon": False},
    )


def save_figure(figure: Any, output_dir: str | Path, stem: str) -> list[Path]:
    """Write ``figure`` as ``stem``.png (for the manuscript and the HTML report) and ``stem``.pdf."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = [output_dir / f"{stem}.png", output_dir / f"{stem}.pdf"]
    figure.savefig(paths[0], dpi=FIGURE_DPI)
    figure.savefig(paths[1])
    return paths


def display_names(frame: pl.DataFrame) -> pl.DataFrame:
    """Replace model and dataset identifiers by the names the manuscript prints."""
    return frame.with_columns(pl.col("model").replace(MODEL_NAMES), pl.col("dataset").replace(DATASET_NAMES))


def _percent(value: float, digits: int = 2) -> str:
    return f"{value * 100:.{digits}f} %"


def _number(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}g}" if abs(value) >= 1e4 or (value != 0 and abs(value) < 1e-3) else f"{value:.{digits}f}"


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None, widths: Sequence[int] | None = None
) -> str:
    """A pipe table; ``align`` has one letter per column (l, r or c); ``widths`` are relative
    column widths (pandoc reads them from the dashes of the separator line)."""
    align = align or "l" * len(header)
    widths = widths or [3] * len(header)

    def mark(letter: str, width: int) -> str:
        dashes = "-" * max(width, 3)
        return {"l": ":" + dashes, "r": dashes + ":", "c": ":" + dashes + ":"}[letter]

    rule = "|" + "|".join(mark(a, w) for a, w in zip(align, widths, strict=True)) + "|"
    lines = ["| " + " | ".join(header) + " |", rule]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def beam_net_codes(config: Mapping[str, Any], datasets: Sequence[str]) -> str:
    """Which spike code BEAM-Net reads on each dataset, e.g. 'population (l = 5) on digits; ...'."""
    by_code: dict[str, list[str]] = {}
    for dataset in datasets:
        by_code.setdefault(model_encoding(config, "beam_net", dataset), []).append(dataset)
    neurons = config["encoding"]["population"]["neurons_per_input"]
    label = {"population": f"population (l = {neurons})", "latency": "latency"}
    return "; ".join(f"{label.get(code, code)} on {', '.join(datasets)}" for code, datasets in by_code.items())


def _augment_text(settings: Mapping[str, Any] | None) -> str:
    """A ``model.<name>.augment`` section as 'shift, jitter, drop', or 'off'."""
    if not settings or not any(float(settings.get(key, 0)) for key in ("shift_px", "time_jitter_ms", "drop_fraction")):
        return "off"
    return (
        f"{settings.get('shift_px', 0)}, {float(settings.get('time_jitter_ms', 0.0)):g}, "
        f"{float(settings.get('drop_fraction', 0.0)):g}"
    )


def config_table(config: Mapping[str, Any], datasets: Sequence[str]) -> str:
    """The knobs the report's results depend on, with the equation each comes from; ``datasets``
    are those the results hold."""
    beam, encoding, train = config["model"]["beam_net"], config["encoding"], config["train"]
    rows = [
        ("BEAM-Net input code per dataset", beam_net_codes(config, datasets), "Eq. 7, W-TCRL"),
        ("Stored patterns N", beam["n_patterns"], "Eqs. 21-22"),
        ("Spike-time window T_ref, latency tau (ms)", f"{encoding['t_ref_ms']:g}, {encoding['tau_ms']:g}", "Eq. 7"),
        ("Coincidence window tau_c (ms)", f"{beam['tau_c_ms']:g}", "Eqs. 21-22"),
        ("Membrane tau_m, synaptic tau_s (ms)", f"{beam['tau_m_ms']:g}, {beam['tau_s_ms']:g}", "Eq. 8, Thm. 3.6"),
        ("Threshold theta, stochasticity Delta", f"{beam['theta']:g}, {beam['delta']:g}", "Eq. 9"),
        ("Lateral inhibition w_inh", f"{beam['w_inh']:g}", "Prop. 3.3"),
        ("Dirichlet prior alpha_0, evidence gain eta", f"{beam['alpha_0']:g}, {beam['eta']:g}", "Eq. 12"),
        (
            "Loop: on, L_max, tolerance, pull",
            f"{'yes' if beam['loop'].get('enabled', True) else 'no'}, "
            f"{beam['loop']['max_iterations']}, {beam['loop']['tolerance']:g}, "
            f"{beam['loop']['pull']:g}",
            "Eq. 16, Thm. 3.6",
        ),
        ("BEAM-Net input pooling f (f x f pixels per input)", beam.get("input_pool", 1), "switch"),
        (
            "Lateral inhibition on, sampled spikes",
            f"{'yes' if beam.get('lateral_inhibition', True) else 'no'}, "
            f"{'yes' if beam.get('stochastic_spikes', True) else 'no'}",
            "ablation switches",
        ),
        *[
            (
                f"{MODEL_NAMES[name]} augmentation: shift (px), jitter (ms), drop",
                _augment_text(config["model"][name].get("augment")),
                "switch",
            )
            for name in ("beam_net", "ann_mlp", "rate_snn")
            if name in config["model"]
        ],
        (
            "Epochs, batch size, learning rate",
            f"{train['epochs']}, {train['batch_size']}, {train['learning_rate']:g}",
            "training",
        ),
        ("Weight decay (Adam, L2)", f"{train.get('weight_decay', 0.0):g}", "training"),
        (
            "Checkpoint kept",
            "best validation accuracy" if train.get("select_best_epoch") else "last epoch",
            "model selection",
        ),
        ("Sparsity target", _percent(train["sparsity_target"], 1), "Lennie 2003"),
        *[
            (
                f"Setting on {DATASET_NAMES.get(dataset, dataset)} only",
                ", ".join(f"{key} = {value}" for key, value in settings.items()),
                "tuning record",
            )
            for dataset, settings in (config.get("dataset_settings") or {}).items()
            if dataset in datasets and settings
        ],
        ("Seeds", ", ".join(str(seed) for seed in config["seeds"]), "multi-seed harness"),
        (
            "Monte-Carlo passes, ECE bins",
            f"{config['evaluate']['mc_passes']}, {config['evaluate']['ece_bins']}",
            "evaluation",
        ),
    ]
    return markdown_table(["Setting", "Value", "Source"], rows, "lrl")


def theory_table(config: Mapping[str, Any]) -> str:
    """The theory constraints checked before any job runs (src/beamnet/config.py), with their values."""
    beam, encoding = config["model"]["beam_net"], config["encoding"]
    bound = theory_bound_iterations(config)
    checks = [
        ("Prop. 3.3", "w_inh > 2", f"{beam['w_inh']:g}", beam["w_inh"] > 2.0),
        ("Eq. 9", "Delta > 0", f"{beam['delta']:g}", beam["delta"] > 0.0),
        (
            "Thm. 3.6",
            f"L_max >= ceil(3 tau_m / tau_s) = {bound}",
            f"{beam['loop']['max_iterations']}",
            beam["loop"]["max_iterations"] >= bound,
        ),
        (
            "Eq. 12",
            "alpha_0 > 0, eta > 0",
            f"{beam['alpha_0']:g}, {beam['eta']:g}",
            beam["alpha_0"] > 0 and beam["eta"] > 0,
        ),
        (
            "Eq. 7",
            f"tau <= T_ref = {encoding['t_ref_ms']:g} ms",
            f"{encoding['tau_ms']:g} ms",
            encoding["tau_ms"] <= encoding["t_ref_ms"],
        ),
    ]
    rows = [(source, rule, value, "yes" if holds else "NO") for source, rule, value, holds in checks]
    return markdown_table(["Source", "Constraint", "Configured", "Satisfied"], rows, "lllc")


def dataset_table(manifests: Mapping[str, Path]) -> str:
    """Samples per split for each dataset, counted from its manifest."""
    rows = []
    for dataset, path in manifests.items():
        counts = dict(pl.read_csv(path).group_by("split").len().iter_rows())
        rows.append(
            (DATASET_NAMES.get(dataset, dataset), counts.get("train", 0), counts.get("val", 0), counts.get("test", 0))
        )
    return markdown_table(["Dataset", "Train", "Validation", "Test"], rows, "lrrr")


VERDICT_NAMES = {"holds": "holds", "fails": "FAILS", "inconclusive": "inconclusive"}


def _interval(low: float | None, high: float | None, digits: int = 4) -> str:
    if low is None or high is None or any(isinstance(x, float) and math.isnan(x) for x in (low, high)):
        return "n/a"
    return f"[{_number(low, digits)}, {_number(high, digits)}]"


def claims_markdown(claims: pl.DataFrame) -> str:
    """The claims table: each claim, measured value, 95 % interval, threshold, verdict and
    whether it counts (claims set by construction or by the objective are shown, not counted)."""
    rows = []
    for row in claims.iter_rows(named=True):
        verdict = VERDICT_NAMES.get(row["verdict"], row["verdict"])
        rows.append(
            (
                DATASET_NAMES.get(row["dataset"], row["dataset"]),
                f"`{row['claim']}`",
                row["statement"],
                _number(row["measured"]),
                _interval(row["ci_low"], row["ci_high"]),
                row["threshold"],
                verdict if row["counted"] else f"{verdict} (not counted)",
            )
        )
    return markdown_table(
        ["Dataset", "Claim", "Statement", "Measured", "95 % CI", "Threshold", "Verdict"],
        rows,
        "lllrrll",
        widths=[8, 12, 40, 8, 14, 12, 10],
    )


QUALITY_COLUMNS = [
    ("accuracy", None, "Accuracy"),
    ("uncalibrated_accuracy", None, "Acc. (raw)"),
    ("ece", None, "ECE"),
    ("uncalibrated_ece", None, "ECE (raw)"),
    ("auroc_error", "total", "AUROC total"),
    ("auroc_error", "aleatoric", "AUROC aleat."),
    ("auroc_error", "epistemic", "AUROC epist."),
    ("aurc", "confidence", "AURC"),
]


def quality_markdown(quality: pl.DataFrame) -> str:
    """What the uncertainties are worth, per dataset and model (deep ensembles of the baselines'
    seeds included): accuracy, ECE after and before the calibration map, misclassification-
    detection AUROC of each uncertainty and the area under the risk-coverage curve, each as the
    point estimate with its 95 % bootstrap interval."""
    rows = []
    keys = quality.select("dataset", "model").unique(maintain_order=True)
    for dataset, model in keys.iter_rows():
        mine = quality.filter((pl.col("dataset") == dataset) & (pl.col("model") == model))
        cells = []
        for metric, uncertainty, _ in QUALITY_COLUMNS:
            match = mine.filter((pl.col("metric") == metric) & (pl.col("uncertainty").eq_missing(uncertainty)))
            if match.is_empty() or match["value"][0] is None:
                cells.append("n/a")
                continue
            row = match.row(0, named=True)
            cells.append(f"{_number(row['value'], 3)} {_interval(row['ci_low'], row['ci_high'], 3)}")
        base, ensemble = (model[: -len("_ensemble")], True) if model.endswith("_ensemble") else (model, False)
        name = MODEL_NAMES.get(base, base) + (" (ensemble)" if ensemble else "")
        rows.append((DATASET_NAMES.get(dataset, dataset), name, *cells))
    return markdown_table(
        ["Dataset", "Model", *[label for _, _, label in QUALITY_COLUMNS]],
        rows,
        "ll" + "r" * len(QUALITY_COLUMNS),
        widths=[8, 10] + [9] * len(QUALITY_COLUMNS),
    )


def targets_markdown(targets: pl.DataFrame) -> str:
    """Training targets met: quantities the loss pulls toward a target, measured on the test split."""
    rows = [
        (
            DATASET_NAMES.get(row["dataset"], row["dataset"]),
            MODEL_NAMES.get(row["model"], row["model"]),
            row["quantity"].replace("_", " "),
            _percent(row["measured"]),
            _interval(
                row["ci_low"] * 100 if row["ci_low"] is not None else None,
                row["ci_high"] * 100 if row["ci_high"] is not None else None,
                3,
            )
            + " %",
            _percent(row["target"]),
            f"{_percent(row['range_low'], 0)}-{_percent(row['range_high'], 0)}",
            row["range_verdict"],
        )
        for row in targets.iter_rows(named=True)
    ]
    return markdown_table(
        ["Dataset", "Model", "Quantity", "Measured", "95 % CI", "Target", "Range", "In range"], rows, "lllrrrrl"
    )


def tuning_record_markdown(config: Mapping[str, Any], record: Path | None) -> str:
    """The cross-validation record (results/tuning/tuning.md), or why this build has none."""
    if record is None:
        return (
            "| Tuning |\n|:---|\n| Not part of this build (`tuning.enabled: false`); "
            "the defaults are those of config.yaml. |\n"
        )
    return record.read_text()


def _difference_cell(row: Mapping[str, Any], prefix: str, scale: float, digits: int, lower_is_better: bool) -> str:
    """A paired difference with its interval and what it resolves: ``+1.20 [+0.31, +2.09] (gain)``."""
    mean, low, high = row.get(f"{prefix}_mean"), row.get(f"{prefix}_low"), row.get(f"{prefix}_high")
    if mean is None:
        return "—"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return f"{mean * scale:+.{digits}f}"
    verdict = "inconclusive"
    if low > 0 or high < 0:
        better = (high < 0) if lower_is_better else (low > 0)
        verdict = "better" if better else "worse"
    return f"{mean * scale:+.{digits}f} [{low * scale:+.{digits}f}, {high * scale:+.{digits}f}] ({verdict})"


def ablations_markdown(config: Mapping[str, Any], summary: pl.DataFrame | None, comparison: pl.DataFrame | None) -> str:
    """What each BEAM-Net component and switch buys, from the cross-validation record: per dataset,
    every BEAM-Net variant's paired difference from the configured model in accuracy (points), ECE
    and energy per inference (nJ, native platform, host loop included), each with its 95 %
    interval and verdict; then each baseline's chosen variant paired against BEAM-Net's chosen one."""
    if summary is None:
        return (
            "| Ablations |\n|:---|\n| Not part of this build (`tuning.enabled: false`): the ablations "
            "are variants of the cross-validation record. |\n"
        )
    variants = grid_variants(config)
    rows = []
    for row in summary.filter(pl.col("model") == "beam_net").sort("dataset", "variant").iter_rows(named=True):
        changes = variants.get(row["variant"], {})
        what = (
            ", ".join(f"`{key.removeprefix('model.beam_net.')}` = {value}" for key, value in changes.items())
            or "as configured"
        )
        if row["variant"] == "default":
            row = {key: value for key, value in row.items() if "_vs_default_" not in key}
        rows.append(
            (
                DATASET_NAMES.get(row["dataset"], row["dataset"]),
                "BEAM-Net",
                row["variant"].replace("_", " "),
                what,
                f"{row['accuracy_mean'] * 100:.2f}",
                f"{row['ece_mean']:.4f}",
                _nj_cell(row["energy_nj_mean"]),
                _difference_cell(row, "accuracy_vs_default", 100.0, 2, False),
                _difference_cell(row, "ece_vs_default", 1.0, 4, True),
                _difference_cell(row, "energy_nj_vs_default", 1.0, 0, True),
                "yes" if row["winner"] else "",
            )
        )
    baselines = summary.filter((pl.col("model") != "beam_net") & pl.col("winner"))
    paired = {
        (row["dataset"], row["model"]): row
        for row in (comparison.iter_rows(named=True) if comparison is not None else [])
    }
    for row in baselines.sort("dataset", "model").iter_rows(named=True):
        versus = paired.get((row["dataset"], row["model"]), {})
        rows.append(
            (
                DATASET_NAMES.get(row["dataset"], row["dataset"]),
                MODEL_NAMES.get(row["model"], row["model"]),
                row["variant"].replace("_", " "),
                "chosen variant; Δ = baseline - BEAM-Net's chosen variant",
                f"{row['accuracy_mean'] * 100:.2f}",
                f"{row['ece_mean']:.4f}",
                _nj_cell(row["energy_nj_mean"]),
                _difference_cell(versus, "accuracy", 100.0, 2, False),
                _difference_cell(versus, "ece", 1.0, 4, True),
                _difference_cell(versus, "energy_nj", 1.0, 0, True),
                "",
            )
        )
    return markdown_table(
        [
            "Dataset",
            "Model",
            "Variant",
            "Changes",
            "Acc. %",
            "ECE",
            "Energy nJ",
            "Δ acc. (points)",
            "Δ ECE",
            "Δ energy (nJ)",
            "Chosen",
        ],
        rows,
        "llllrrrlllc",
        widths=[7, 7, 9, 16, 5, 5, 6, 14, 14, 14, 4],
    )


def grid_variants(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The variants of the tuning grid that ``tuning.grid`` names (overrides by variant name)."""
    tuning = config["tuning"]
    return dict(tuning["grids"][tuning["grid"]]["variants"])


def uncertainty_markdown(summary: pl.DataFrame) -> str:
    """Mean epistemic and aleatoric uncertainty (nats) on correct vs incorrect predictions."""
    rows = []
    for row in summary.iter_rows(named=True):
        ratio = (
            row["epistemic_incorrect_mean"] / row["epistemic_correct_mean"]
            if row["epistemic_correct_mean"] and row["epistemic_incorrect_mean"] is not None
            else None
        )
        rows.append(
            (
                DATASET_NAMES.get(row["dataset"], row["dataset"]),
                MODEL_NAMES.get(row["model"], row["model"]),
                _number(row["epistemic_correct_mean"]),
                _number(row["epistemic_incorrect_mean"]),
                _number(ratio, 3),
                _number(row["aleatoric_correct_mean"]),
                _number(row["aleatoric_incorrect_mean"]),
            )
        )
    return markdown_table(
        ["Dataset", "Model", "Epist. (correct)", "Epist. (error)", "Ratio", "Aleat. (correct)", "Aleat. (error)"],
        rows,
        "llrrrrr",
    )


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def result_datasets(summary: pl.DataFrame) -> list[str]:
    """The datasets the summary table holds, in its order (configured ones whose data was absent are not)."""
    return summary["dataset"].unique(maintain_order=True).to_list()


def claim_counts(claims: pl.DataFrame) -> dict[str, str]:
    """How many counted claims hold, fail and are inconclusive, and which ones fail; claims set
    by construction or by the training objective are counted apart (``claims_not_counted``)."""
    counted = claims.filter(pl.col("counted"))

    def listed(verdict: str) -> str:
        rows = counted.filter(pl.col("verdict") == verdict).iter_rows(named=True)
        return _join(
            [f"{row['claim']} ({DATASET_NAMES.get(row['dataset'], row['dataset'])})" for row in rows] or ["none"]
        )

    values = {"claims_total": str(counted.height), "claims_not_counted": str(claims.height - counted.height)}
    for verdict in VERDICT_NAMES:
        values[f"claims_{verdict}"] = str(counted.filter(pl.col("verdict") == verdict).height)
        values[f"claims_{verdict}_list"] = listed(verdict)
    values["claims_sentence"] = (
        f"Of {values['claims_total']} counted claims, {values['claims_holds']} hold, "
        f"{values['claims_fails']} fail and {values['claims_inconclusive']} are "
        f"inconclusive; {values['claims_not_counted']} more are shown but not counted "
        "(set by construction or by the training objective)."
    )
    return values


def paper_values(config: Mapping[str, Any], summary: pl.DataFrame, claims: pl.DataFrame) -> dict[str, str]:
    """Named inline values of the manuscript, as the strings it prints."""
    beam = config["model"]["beam_net"]
    datasets = result_datasets(summary)
    values = {
        "datasets": _join([DATASET_NAMES.get(d, d) for d in datasets]),
        "n_datasets": str(len(datasets)),
        "models": _join([MODEL_NAMES.get(m, m) for m in config["models"]]),
        "n_seeds": str(len(config["seeds"])),
        "n_patterns": str(beam["n_patterns"]),
        "epochs": str(config["train"]["epochs"]),
        "iteration_bound": str(theory_bound_iterations(config)),
        "tau_m_ms": f"{beam['tau_m_ms']:g}",
        "tau_s_ms": f"{beam['tau_s_ms']:g}",
        "w_inh": f"{beam['w_inh']:g}",
        "ece_bins": str(config["evaluate"]["ece_bins"]),
        "mc_passes": str(config["evaluate"]["mc_passes"]),
        **claim_counts(claims),
    }
    sentences = []
    for dataset in datasets:
        mine = summary.filter(pl.col("dataset") == dataset)
        best_acc = mine.sort("accuracy_mean", descending=True).row(0, named=True)
        best_ece = mine.sort("ece_mean").row(0, named=True)
        for row in mine.iter_rows(named=True):
            key = f"{dataset}.{row['model']}"
            values[f"{key}.accuracy"] = _percent(row["accuracy_mean"])
            values[f"{key}.ece"] = f"{row['ece_mean']:.4f}"
            values[f"{key}.activity"] = _percent(row["activity_mean"])
            values[f"{key}.energy_nj"] = f"{row['energy_nj_mean']:.1f}"
        sentences.append(
            f"on {DATASET_NAMES.get(dataset, dataset)}, {MODEL_NAMES.get(best_acc['model'])} has the "
            f"highest mean accuracy ({_percent(best_acc['accuracy_mean'])}) and "
            f"{MODEL_NAMES.get(best_ece['model'])} the lowest mean ECE ({best_ece['ece_mean']:.4f})"
        )
    values["ranking_sentence"] = "; ".join(sentences)
    return values


def prop_3_3_markdown(sweep: pl.DataFrame) -> str:
    """The Prop. 3.3 sweep: mean rate-posterior distance and its 95 % interval per w_inh and dynamics."""
    rows = []
    for w_inh in sweep["w_inh"].unique().sort().to_list():
        cells = [f"{w_inh:g}"]
        for dynamics in ("sampled", "mean_field"):
            match = sweep.filter((pl.col("w_inh") == w_inh) & (pl.col("dynamics") == dynamics))
            if match.is_empty():
                cells.append("n/a")
                continue
            row = match.row(0, named=True)
            cells.append(f"{row['distance_mean']:.3f} [{row['distance_ci_low']:.3f}, {row['distance_ci_high']:.3f}]")
        noise = sweep.filter((pl.col("w_inh") == w_inh) & (pl.col("dynamics") == "sampled"))
        cells.append(f"{noise['sampling_noise'][0]:.3f}" if noise.height else "n/a")
        rows.append(cells)
    return markdown_table(["w_inh", "TV, sampled spikes", "TV, mean field", "Finite-spike noise"], rows, "rrrr")


RULE_SENTENCES = {  # beamnet.tuning's rules, in words
    "paired_improvement": "a variant replaces the default only where its gain over the default, paired on the "
    "same folds and seeds, has a 95 % interval above zero",
    "best_mean": "the variant of highest mean replaces the default, whatever its interval",
    "improvement_then_energy": "accuracy first, then energy: the default and the variants whose paired gain over "
    "it has a 95 % interval above zero are eligible, those that the most accurate of "
    "them does not beat (paired, resolved) are tied with it, and the tied variant of "
    "lowest energy per inference wins",
}


def adoption(config: Mapping[str, Any], winners: pl.DataFrame) -> tuple[list[str], list[str]]:
    """Which settings of ``tuning.baseline`` plus the record's winners ``dataset_settings`` holds
    (``adopted``) and which it lacks or sets otherwise (``missing``), as ``dataset: key = value``."""
    variants = grid_variants(config)
    settings = config.get("dataset_settings") or {}
    baseline = config["tuning"].get("baseline")
    adopted, missing = [], []
    for dataset in winners["dataset"].unique().sort().to_list():
        expected = dict((baseline if baseline is not None else settings).get(dataset) or {})
        for row in winners.filter(pl.col("dataset") == dataset).iter_rows(named=True):
            expected.update(variants.get(row["variant"], {}) if row["variant"] != "default" else {})
        have = settings.get(dataset) or {}
        for key, value in expected.items():
            (adopted if key in have and have[key] == value else missing).append(f"{dataset}: {key} = {value}")
    return adopted, missing


def tuning_values(config: Mapping[str, Any], winners: pl.DataFrame | None) -> dict[str, str]:
    """The tuning protocol's settings and, per dataset and model, the variant its rule kept."""
    tuning = config["tuning"]
    values = {
        "tuning.folds": str(tuning["folds"]),
        "tuning.rule": str(tuning["rule"]).replace("_", " "),
        "tuning.metric": str(tuning["metric"]),
        "tuning.grid": str(tuning["grid"]),
        "tuning.rule_sentence": RULE_SENTENCES[tuning["rule"]],
    }
    if winners is None or winners.is_empty():
        values["tuning_sentence"] = "no tuning record is part of this build"
        values["tuning_sentence_cap"] = "No tuning record is part of this build"
        return values
    changed = winners.filter(~pl.col("default_is_winner"))
    adopted, missing = adoption(config, winners)
    if changed.is_empty():
        sentence = "the rule keeps the baseline configuration for every dataset and model"
    else:
        sentence = "the rule chose " + _join(
            [
                f"{row['variant'].replace('_', ' ')} for {MODEL_NAMES.get(row['model'], row['model'])} on "
                f"{DATASET_NAMES.get(row['dataset'], row['dataset'])}"
                for row in changed.iter_rows(named=True)
            ]
        )
    sentence += (
        "; the configuration of the final runs (dataset_settings) is the baseline with these winners"
        if not missing
        else "; NOT applied in dataset_settings, so the test numbers of this report are not the record's "
        "choice: " + _join(missing)
    )
    values["tuning_sentence"] = sentence
    values["tuning_sentence_cap"] = values["tuning_sentence"][:1].upper() + values["tuning_sentence"][1:]
    return values


def write_paper_inputs(
    config: Mapping[str, Any],
    tables_dir: Path,
    manifests: Mapping[str, Path],
    values_path: Path,
    tables_out: Path,
    tuning_dir: Path | None = None,
) -> None:
    """Write values.json and the Markdown tables the manuscript includes (atomically).

    ``tuning_dir`` is the cross-validation record (results/tuning/); None where the build has none.
    """
    summary = pl.read_parquet(tables_dir / "summary.parquet")
    claims = pl.read_csv(
        tables_dir / "claims.csv",
        schema_overrides={"measured": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "counted": pl.Boolean},
    )
    quality = pl.read_parquet(tables_dir / "uncertainty_quality.parquet")
    targets = pl.read_parquet(tables_dir / "training_targets.parquet")
    winners = pl.read_csv(tuning_dir / "winners.csv") if tuning_dir is not None else None
    tuning_summary = pl.read_parquet(tuning_dir / "summary.parquet") if tuning_dir is not None else None
    comparison = (
        pl.read_csv(tuning_dir / "comparison.csv")
        if tuning_dir is not None and (tuning_dir / "comparison.csv").stat().st_size
        else None
    )
    sweep = pl.read_parquet(tables_dir / "prop_3_3_sweep.parquet")
    tables = {
        "headline": (tables_dir / "summary.md").read_text(),
        "config": config_table(config, result_datasets(summary)),
        "theory": theory_table(config),
        "datasets": dataset_table(manifests),
        "claims": claims_markdown(claims),
        "uncertainty": uncertainty_markdown(summary),
        "quality": quality_markdown(quality),
        "targets": targets_markdown(targets),
        "tuning": tuning_record_markdown(config, tuning_dir / "tuning.md" if tuning_dir is not None else None),
        "ablations": ablations_markdown(config, tuning_summary, comparison),
        "prop_3_3": prop_3_3_markdown(sweep),
        "energy": energy_markdown(summary),
        "platforms": platform_markdown(),
    }
    values = (
        paper_values(config, summary, claims)
        | tuning_values(config, winners)
        | sweep_values(sweep, float(config["model"]["beam_net"]["w_inh"]))
    )
    tables_out.mkdir(parents=True, exist_ok=True)
    paths = [values_path] + [tables_out / f"{name}.md" for name in tables]
    with atomic_paths(*paths) as temps:
        temps[0].write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
        for temp, text in zip(temps[1:], tables.values(), strict=True):
            temp.write_text(text)


# --- optional sections: the energy sweep and the Loihi runs -----------------------------------
# Their values are written by the section's paper-stage rule (collect_energy_values,
# collect_loihi_values: `python -m beamnet section-values`) to SECTION_VALUES_DIR/{family}.json
# beside values.json; paper_figure_families() (workflow/rules/common.smk) registers that file with
# the family's figures, so render_paper depends on it and render_report merges it for the
# registered sections only.
SECTION_VALUES_DIR = "values"
BASELINE_NAMES = {
    "ann_mlp_fp32": "the fp32 ANN-MLP",
    "ann_mlp_int8": "the int8 ANN-MLP",
    "ann_mlp_dense_fp32": "the dense fp32 ANN",
    "ann_mlp_dense_int8": "the dense int8 ANN",
    "gpu_attention": "the GPU-attention anchor",
    "cortex": "the cortex anchor",
}
REFERENCE_LABELS = ("gpu_attention", "cortex")  # the report's anchors (energy.REFERENCE_ANCHORS_NJ)
PLATFORM_NAMES = {"loihi": "Loihi", "cmos45_fp32": "45 nm CMOS fp32", "cmos45_int8": "45 nm CMOS int8"}


def _nj(value: float) -> str:
    """An energy in nJ with three significant figures (0.77, 12.3, 150, 1.23e+03)."""
    return f"{value:.3g}"


def _nj_cell(value: float) -> str:
    """An energy in nJ for a table: whole nJ with thousands separators from 100 nJ up (1,452),
    three significant figures below (0.77, 12.3)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def sweep_steps(sweep: pl.DataFrame, lif_steps: int | None = None) -> int:
    """The LIF step count T the manuscript shows: ``lif_steps`` (the trained T) where swept, else the
    middle of the swept values."""
    swept = sorted(sweep["lif_steps"].unique().to_list())
    return int(lif_steps) if lif_steps is not None and int(lif_steps) in swept else int(swept[len(swept) // 2])


def energy_values(
    sweep: pl.DataFrame,
    crossings: pl.DataFrame,
    lif_steps: int | None = None,
    platform: str = "loihi",
    summary: pl.DataFrame | None = None,
    n_patterns: int | None = None,
) -> dict[str, str]:
    """Named values of the energy sweep (results/energy/{sweep,crossings}.parquet) at T = ``lif_steps``,
    for BEAM-Net on ``platform`` (its native one, Loihi): energy at the smallest and largest N,
    the N at which it crosses each baseline, and one sentence per dataset. With the headline
    ``summary`` and the trained ``n_patterns``, also the sweep's ANN-MLP energy at that N against
    the headline's (``energy.{dataset}.ann_sweep_vs_headline``: the two apply one convention)."""
    steps = sweep_steps(sweep, lif_steps)
    at_t = sweep.filter(pl.col("lif_steps") == steps)
    ns = sorted(at_t["n_patterns"].unique().to_list())
    values = {
        "energy.lif_steps": str(steps),
        "energy.platform": PLATFORM_NAMES.get(platform, platform),
        "energy.n_min": str(ns[0]),
        "energy.n_max": str(ns[-1]),
        "energy.n_grid": ", ".join(str(n) for n in ns),
    }
    for row in at_t.filter(pl.col("platform") == "reference").unique("model").iter_rows(named=True):
        values[f"energy.anchor.{row['model']}"] = f"{row['energy_nj']:g}"
    sentences = []
    for dataset in at_t["dataset"].unique(maintain_order=True).to_list():
        mine = at_t.filter(pl.col("dataset") == dataset)
        beam = mine.filter((pl.col("model") == "beam_net") & (pl.col("platform") == platform)).sort("n_patterns")
        if beam.height == 0:
            continue
        low, high = beam.row(0, named=True), beam.row(-1, named=True)
        key = f"energy.{dataset}"
        values[f"{key}.beam_nj_n_min"], values[f"{key}.beam_nj_n_max"] = _nj(low["energy_nj"]), _nj(high["energy_nj"])
        phrases = []
        chosen = crossings.filter(
            (pl.col("dataset") == dataset) & (pl.col("lif_steps") == steps) & (pl.col("beam_net_platform") == platform)
        )
        for row in chosen.iter_rows(named=True):
            baseline = row["baseline"]
            name = BASELINE_NAMES.get(baseline, baseline)
            if baseline in REFERENCE_LABELS:
                name += f" ({values.get(f'energy.anchor.{baseline}', '?')} nJ)"
            if row["crossing_n"] is not None:
                values[f"{key}.crossing.{baseline}"] = f"N ≈ {row['crossing_n']:.0f}"
                side = "cheaper" if "cheaper" in (row["direction"] or "") else "dearer"
                phrases.append(f"becomes {side} than {name} beyond N ≈ {row['crossing_n']:.0f}")
            else:
                values[f"{key}.crossing.{baseline}"] = f"none for N in [{row['n_min']}, {row['n_max']}]"
                other = mine.filter(
                    (pl.col("model") == baseline) & (pl.col("platform") == row["baseline_platform"])
                ).sort("n_patterns")
                below = other.height > 0 and low["energy_nj"] < other["energy_nj"][0]
                phrases.append(f"stays {'below' if below else 'above'} {name} throughout")
        if summary is not None and n_patterns is not None:
            values.update(_sweep_against_headline(mine, summary, dataset, int(n_patterns), key))
        sentence = (
            f"on {DATASET_NAMES.get(dataset, dataset)}, it spends {_nj(low['energy_nj'])} nJ per inference "
            f"at N = {low['n_patterns']} and "
            f"{_nj(high['energy_nj'])} nJ at N = {high['n_patterns']}"
        )
        if phrases:
            sentence += "; it " + _join(phrases)
        sentences.append(sentence)
    values["energy_sentence"] = "; ".join(sentences) or "no dataset was swept"
    ratios = [
        f"{values[f'energy.{d}.ann_sweep_vs_headline']} times the headline's on {DATASET_NAMES.get(d, d)}"
        for d in at_t["dataset"].unique().sort().to_list()
        if not values.get(f"energy.{d}.ann_sweep_vs_headline", "not").startswith("not")
    ]
    values["energy_ann_agreement"] = _join(ratios) if ratios else "not compared (no headline ANN-MLP at the trained N)"
    values["energy_sweep_table"] = sweep_markdown(
        at_t, crossings.filter(pl.col("lif_steps") == steps), platform, n_patterns
    )
    return values


def sweep_markdown(at_t: pl.DataFrame, crossings: pl.DataFrame, platform: str, n_patterns: int | None) -> str:
    """The sweep at one T as a table: per dataset and baseline, the baseline's energy and
    BEAM-Net's (on ``platform`` with its host loop) at the smallest, trained and largest N, and
    the N where the two cross."""
    rows = []
    for dataset in sorted(at_t["dataset"].unique().to_list()):
        mine = at_t.filter(pl.col("dataset") == dataset)
        beam = mine.filter((pl.col("model") == "beam_net") & (pl.col("platform") == platform)).sort("n_patterns")
        if beam.is_empty():
            continue
        ns = beam["n_patterns"].to_list()
        shown = sorted({ns[0], ns[-1], *([int(n_patterns)] if n_patterns in ns else [])})

        def at(frame: pl.DataFrame, n: int) -> str:
            match = frame.filter(pl.col("n_patterns") == n)
            return _nj_cell(match["energy_nj"][0]) if match.height else "n/a"

        rows.append(
            [
                DATASET_NAMES.get(dataset, dataset),
                f"BEAM-Net ({PLATFORM_NAMES.get(platform, platform)}"
                + (" + host loop)" if platform == "loihi" else ")"),
                *(at(beam, n) for n in shown),
                "—",
            ]
        )
        for row in crossings.filter(
            (pl.col("dataset") == dataset) & (pl.col("beam_net_platform") == platform)
        ).iter_rows(named=True):
            other = mine.filter(
                (pl.col("model") == row["baseline"]) & (pl.col("platform") == row["baseline_platform"])
            ).sort("n_patterns")
            where = (
                f"N ≈ {row['crossing_n']:.0f} ({'cheaper' if 'cheaper' in (row['direction'] or '') else 'dearer'}"
                " beyond)"
                if row["crossing_n"] is not None
                else f"none: BEAM-Net {'below' if beam['energy_nj'][0] < other['energy_nj'][0] else 'above'}"
            )
            rows.append(
                [
                    "",
                    BASELINE_NAMES.get(row["baseline"], row["baseline"]).removeprefix("the "),
                    *(at(other, n) for n in shown),
                    where,
                ]
            )
    if not rows:
        return "No dataset was swept."
    header = ["Dataset", "Model", *(f"N = {n} (nJ)" for n in shown)]
    return markdown_table([*header, "Crossing with BEAM-Net"], rows, "ll" + "r" * (len(header) - 2) + "l")


def _sweep_against_headline(
    at_t: pl.DataFrame, summary: pl.DataFrame, dataset: str, n_patterns: int, key: str
) -> dict[str, str]:
    """The sweep's ANN-MLP (fp32, measured input sparsity) at the trained N beside the headline's."""
    sweep_ann = at_t.filter((pl.col("model") == "ann_mlp_fp32") & (pl.col("n_patterns") == n_patterns))
    headline = summary.filter((pl.col("dataset") == dataset) & (pl.col("model") == "ann_mlp"))
    if sweep_ann.is_empty() or headline.is_empty():
        return {f"{key}.ann_sweep_vs_headline": f"not compared (N = {n_patterns} not swept, or no headline ANN-MLP)"}
    swept, measured = float(sweep_ann["energy_nj"][0]), float(headline["energy_nj_mean"][0])
    return {
        f"{key}.ann_sweep_nj": _nj(swept),
        f"{key}.ann_headline_nj": _nj(measured),
        f"{key}.ann_sweep_vs_headline": f"{swept / measured:.3f}",
    }


def energy_markdown(summary: pl.DataFrame) -> str:
    """The headline's energy per inference per dataset and model, on its native platform, split
    into the on-chip part and the host part (BEAM-Net's loop), mean and 95 % CI over seeds."""
    from beamnet.energy import HOST_PLATFORM, NATIVE_PLATFORM, PLATFORMS

    def cell(row: Mapping[str, Any], metric: str) -> str:
        mean, ci = row.get(f"{metric}_mean"), row.get(f"{metric}_ci95")
        if mean is None or (isinstance(mean, float) and math.isnan(mean)):
            return "n/a"
        return f"{_nj_cell(mean)} ± {_nj_cell(ci)}" if ci is not None and not math.isnan(ci) else _nj_cell(mean)

    rows = []
    for row in summary.sort(["dataset", "model"]).iter_rows(named=True):
        native = NATIVE_PLATFORM[row["model"]]
        uses_host = PLATFORMS[native].reads_in_synop and (row.get("energy_host_nj_mean") or 0.0) > 0
        rows.append(
            [
                DATASET_NAMES.get(row["dataset"], row["dataset"]),
                MODEL_NAMES.get(row["model"], row["model"]),
                PLATFORM_NAMES.get(native, native),
                cell(row, "energy_on_chip_nj"),
                PLATFORM_NAMES[HOST_PLATFORM] if uses_host else "none",
                cell(row, "energy_host_nj") if uses_host else "—",
                cell(row, "energy_nj"),
            ]
        )
    return markdown_table(
        ["Dataset", "Model", "Platform", "On chip (nJ)", "Host", "Host (nJ)", "Total (nJ)"], rows, "lllrlrr"
    )


def platform_markdown() -> str:
    """Eq. 25's constants per platform, with the chip generation each was measured on, and the
    memory-read energy by memory size (beamnet.energy)."""
    from beamnet.energy import DRAM_READ_64BIT_PJ, PLATFORMS, SRAM_READ_64BIT_PJ

    rows = [
        [
            p.name,
            p.chip,
            f"{p.mac_pj:g}" if p.mac_pj else "host",
            f"{p.synop_pj:g}",
            f"{p.neuron_update_pj:g} / {p.active_update_pj:g}",
            f"{p.spike_pj:g}",
            "in the synaptic op" if p.reads_in_synop else f"{p.word_bits}-bit words",
            p.source,
        ]
        for p in PLATFORMS.values()
    ]
    sizes = ", ".join(f"{size / 1024:g} kB: {pj:g} pJ" for size, pj in SRAM_READ_64BIT_PJ)
    rows.append(
        [
            "memory read (64-bit)",
            "45 nm SRAM / DRAM",
            "",
            "",
            "",
            "",
            f"{sizes}; DRAM {DRAM_READ_64BIT_PJ[0]:g}-{DRAM_READ_64BIT_PJ[1]:g} pJ",
            "Horowitz, ISSCC 2014",
        ]
    )
    return markdown_table(
        [
            "Platform",
            "Chip",
            "MAC (pJ)",
            "Synaptic op (pJ)",
            "Update idle / spiking (pJ)",
            "Spike (pJ)",
            "Memory reads",
            "Source",
        ],
        rows,
        "llrrrrll",
    )


def loihi_values(summary: pl.DataFrame) -> dict[str, str]:
    """Named values of the Loihi runs (results/loihi/summary.parquet), one set per dataset and
    model: agreement with the torch model, accuracies, measured energy per inference against
    the report's projection. ``loihi.threshold_mode`` is BEAM-Net's (the rate-SNN's needs none)."""
    values: dict[str, str] = {}
    sentences = []
    for row in summary.iter_rows(named=True):
        model = row.get("model") or "beam_net"
        key = f"loihi.{row['dataset']}.{model}"
        projection = f"{row['report_projection_nj_low']:g}-{row['report_projection_nj_high']:g} nJ"
        values["loihi.projection"] = projection
        if model == "beam_net" or "loihi.threshold_mode" not in values:
            values["loihi.threshold_mode"] = str(row.get("threshold_mode") or "not recorded")
        values.update(
            {
                f"{key}.agreement": _percent(row["agreement_torch"]),
                f"{key}.agreement_deterministic": _percent(row["agreement_torch_deterministic"]),
                f"{key}.accuracy": _percent(row["accuracy"]),
                f"{key}.torch_accuracy": _percent(row["torch_accuracy"]),
                f"{key}.energy_nj": _nj(row["energy_nj_mean"]),
                f"{key}.energy_nj_std": _nj(row["energy_nj_std"]),
                f"{key}.energy_on_chip_nj": _nj(row.get("energy_on_chip_nj_mean") or row["energy_nj_mean"]),
                f"{key}.energy_host_nj": _nj(row.get("energy_host_nj_mean") or 0.0),
                f"{key}.energy_vs_projection": f"{row['energy_vs_projection']:.2f}",
                f"{key}.samples": str(row["samples"]),
                f"{key}.seed": str(row["seed"]),
                f"{key}.wall_time_s": f"{row['wall_time_s']:.0f}",
                f"{key}.simulator": str(row["simulator"]),
            }
        )
        ratio = row["energy_vs_projection"]
        beam = (
            summary.filter((pl.col("dataset") == row["dataset"]) & (pl.col("model") == "beam_net"))
            if "model" in summary.columns
            else summary.clear()
        )
        if model != "beam_net":  # the projection is BEAM-Net's: compare with BEAM-Net's measured energy
            versus = (
                f"{row['energy_nj_mean'] / beam['energy_nj_mean'][0]:.1f} times BEAM-Net's measured energy "
                "on the same samples"
                if beam.height
                else "with no BEAM-Net run to compare"
            )
        elif row["report_projection_nj_low"] <= row["energy_nj_mean"] <= row["report_projection_nj_high"]:
            versus = f"within the report's projection of {projection}"
        else:
            versus = f"{ratio:.1f} times the upper end of the report's projection of {projection}"
        deterministic = (
            f" ({_percent(row['agreement_torch_deterministic'])} with its deterministic-threshold prediction)"
            if model == "beam_net"
            else ""
        )
        on_chip = row.get("energy_on_chip_nj_mean") or row["energy_nj_mean"]
        sentences.append(
            f"{MODEL_NAMES.get(model, model)} on {DATASET_NAMES.get(row['dataset'], row['dataset'])} "
            f"({row['samples']} test samples, seed {row['seed']}) agrees with its torch model's prediction on "
            f"{_percent(row['agreement_torch'])} of samples{deterministic}, is {_percent(row['accuracy'])} "
            f"accurate against {_percent(row['torch_accuracy'])} in torch, and spends {_nj(row['energy_nj_mean'])} "
            f"± {_nj(row['energy_nj_std'])} nJ per inference ({_nj(on_chip)} on chip, "
            f"{_nj(row.get('energy_host_nj_mean') or 0.0)} on the host), {versus}"
        )
    values["loihi_sentence"] = "; ".join(sentences) or "no dataset was run on Loihi"
    values["loihi_table"] = loihi_markdown(summary)
    if summary.height and "reference_mismatches" in summary.columns:
        samples, mismatches = int(summary["samples"].sum()), int(summary["reference_mismatches"].sum())
        values["loihi_reference_sentence"] = (
            f"the simulator matched it spike for spike on all {samples} samples"
            if mismatches == 0
            else f"the simulator differed from it on {mismatches} of {samples} samples"
        )
    else:
        values["loihi_reference_sentence"] = "the comparison was not recorded"
    return values


def loihi_markdown(summary: pl.DataFrame) -> str:
    """The Loihi runs as a table: agreement with torch, accuracies, and energy per inference on
    chip, on the host (BEAM-Net's loop) and in total, mean ± std over the test samples."""
    rows = []
    for row in summary.sort(["dataset", "model"]).iter_rows(named=True):
        on_chip = row.get("energy_on_chip_nj_mean")
        host = row.get("energy_host_nj_mean")
        rows.append(
            [
                DATASET_NAMES.get(row["dataset"], row["dataset"]),
                MODEL_NAMES.get(row["model"], row["model"]),
                str(row["samples"]),
                _percent(row["agreement_torch"], 0),
                _percent(row["agreement_torch_deterministic"], 0),
                f"{_percent(row['accuracy'], 0)} ({_percent(row['torch_accuracy'], 0)})",
                _nj_cell(on_chip) if on_chip is not None else "n/a",
                _nj_cell(host) if host else "—",
                f"{_nj_cell(row['energy_nj_mean'])} ± {_nj_cell(row['energy_nj_std'])}",
                f"{row['energy_vs_projection']:,.0f}x",
            ]
        )
    if not rows:
        return "No dataset was run on Loihi."
    return markdown_table(
        [
            "Dataset",
            "Model",
            "Samples",
            "Agreement",
            "Agreement (det.)",
            "Accuracy (torch)",
            "On chip (nJ)",
            "Host (nJ)",
            "Total (nJ)",
            "vs projection",
        ],
        rows,
        "llrrrrrrrr",
    )


def write_section_values(values: Mapping[str, str], path: str | Path) -> Path:
    """Write a section's named values (JSON) atomically; render_report merges them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_paths(path) as (temp,):
        temp.write_text(json.dumps(dict(values), indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return path


def section_values(values_path: Path, sections: Sequence[str]) -> dict[str, str]:
    """The named values of the registered ``sections`` that wrote any (SECTION_VALUES_DIR/{family}.json)."""
    merged: dict[str, str] = {}
    for name in sections:
        path = values_path.parent / SECTION_VALUES_DIR / f"{name}.json"
        if path.is_file():
            merged.update(json.loads(path.read_text()))
    return merged


def expand_source(
    text: str, values: Mapping[str, str], tables: Mapping[str, str], captions: Mapping[str, str] | None = None
) -> str:
    """Substitute ``{{ value:NAME }}``, ``{{ table:NAME }}`` and ``{{ caption:NAME }}`` tokens.

    Captions are the plain-text files the HTML report also uses (paper/captions/NAME.rst), so a
    figure has one caption. Unknown names are errors.
    """
    missing = []
    sources = {"value": values, "table": tables, "caption": captions or {}}

    def substitute(match: re.Match[str]) -> str:
        kind, name = match.groups()
        source = sources[kind]
        if name not in source:
            missing.append(f"{kind}:{name}")
            return match.group(0)
        return source[name].rstrip("\n")

    expanded = TOKEN.sub(substitute, text)
    if missing:
        raise ValueError(
            f"report source names unknown values or tables: {', '.join(sorted(set(missing)))} "
            f"(known values: {', '.join(sorted(values))}; tables: {', '.join(sorted(tables))}; "
            f"captions: {', '.join(sorted(sources['caption']))})"
        )
    return expanded


def apply_conditions(body: str, flags: Mapping[str, bool]) -> str:
    """Keep or drop Quarto's ``::: {.content-visible when-meta="key"}`` blocks (and unless-meta,
    .content-hidden) by the boolean ``flags``, as Quarto would; blocks must not nest."""

    def choose(match: re.Match[str]) -> str:
        kind, condition, key, content = match.groups()
        show = bool(flags.get(key, False)) == (condition == "when")
        return content if show == (kind == "visible") else ""

    return CONDITIONAL.sub(choose, body)


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        return {}, text
    _, header, body = text.split("---", 2)
    return yaml.safe_load(header) or {}, body


def _rebase_images(body: str, source_dir: Path, build_dir: Path) -> str:
    """Re-base relative image paths from the source's folder to the build folder."""

    def rebase(match: re.Match[str]) -> str:
        path = match.group(2)
        if path.startswith(("/", "http:", "https:")):
            return match.group(0)
        return match.group(1) + Path(os.path.relpath((source_dir / path).resolve(), build_dir.resolve())).as_posix()

    return IMAGE.sub(rebase, body)


def referenced_images(text: str) -> list[str]:
    """Relative image paths a Markdown document references."""
    return [path for _, path in IMAGE.findall(text) if not path.startswith(("/", "http:", "https:"))]


def renderer_name() -> tuple[str, str | None]:
    """('quarto', version) where Quarto is on PATH, else ('pandoc+typst', None)."""
    quarto = shutil.which("quarto")
    if quarto:
        version = subprocess.run([quarto, "--version"], capture_output=True, text=True).stdout.strip()
        return "quarto", version
    return "pandoc+typst", None


def _pandoc_typst_description() -> str:
    import pypandoc

    return (
        f"pandoc {pypandoc.get_pandoc_version()} (pypandoc-binary) and typst "
        f"{metadata.version('typst')} (PyPI package), Quarto's fallback"
    )


def render_report(
    source: Path,
    values_path: Path,
    tables_dir: Path,
    captions_dir: Path,
    sections: Sequence[str],
    lua_filter: Path,
    output: Path,
    build_dir: Path,
    renderer: str = "auto",
) -> str:
    """Expand ``source`` and render it to ``output`` (PDF); returns a description of the renderer."""
    values = dict(json.loads(values_path.read_text()))
    values.update(section_values(values_path, sections))
    tables = {path.stem: path.read_text() for path in sorted(tables_dir.glob("*.md"))}
    captions = {path.stem: " ".join(path.read_text().split()) for path in sorted(captions_dir.glob("*.rst"))}
    kind, version = renderer_name() if renderer == "auto" else (renderer, None)
    if kind == "quarto":
        values["renderer"] = f"Quarto {version or ''} (typst format)".replace("  ", " ")
    else:
        values["renderer"] = _pandoc_typst_description()
    build_dir.mkdir(parents=True, exist_ok=True)
    front, body = _split_front_matter(source.read_text())
    flags = {f"has-{name}": True for name in sections}
    body = apply_conditions(body, flags)
    body = _rebase_images(expand_source(body, values, tables, captions), source.parent, build_dir)
    for path in referenced_images(body):
        if not (build_dir / path).exists():
            raise FileNotFoundError(f"figure '{path}' referenced by {source} does not exist (relative to {build_dir})")
    front = {
        key: (expand_source(value, values, tables) if isinstance(value, str) else value) for key, value in front.items()
    }
    front.update(flags)
    if "bibliography" in front:
        front["bibliography"] = str((source.parent / front["bibliography"]).resolve())
    document = build_dir / source.name
    document.write_text("---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n" + body)
    output.parent.mkdir(parents=True, exist_ok=True)
    if kind == "quarto":
        _render_quarto(document, output)
    else:
        _render_pandoc_typst(document, lua_filter, output)
    return values["renderer"]


def _render_quarto(document: Path, output: Path) -> None:
    subprocess.run(["quarto", "render", document.name, "--to", "typst"], cwd=document.parent, check=True)
    with atomic_paths(output) as (temp,):
        shutil.move(document.with_suffix(".pdf"), temp)


def _render_pandoc_typst(document: Path, lua_filter: Path, output: Path) -> None:
    import pypandoc
    import typst

    typ = document.with_suffix(".typ")
    command = [
        pypandoc.get_pandoc_path(),
        document.name,
        "--from",
        "markdown",
        "--to",
        "typst",
        "--standalone",
        "--lua-filter",
        str(lua_filter.resolve()),
        "--citeproc",
        "--output",
        typ.name,
    ]
    result = subprocess.run(command, cwd=document.parent, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pandoc failed on {document}: {result.stderr.strip()}")
    root = Path.cwd().resolve()
    if not document.resolve().is_relative_to(root):
        root = Path(document.resolve().anchor)
    with atomic_paths(output) as (temp,):
        typst.compile(str(typ), output=str(temp), root=str(root))
