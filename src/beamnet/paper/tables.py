"""The manuscript's Markdown tables, each from a results table or the config (no number typed by hand)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from beamnet.config import model_encoding, theory_bound_iterations
from beamnet.paper.style import BASELINE_NAMES, DATASET_NAMES, MODEL_NAMES, PLATFORM_NAMES


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


def _nj(value: float) -> str:
    """An energy in nJ with three significant figures (0.77, 12.3, 150, 1.23e+03)."""
    return f"{value:.3g}"


def _nj_cell(value: float) -> str:
    """An energy in nJ for a table: whole nJ with thousands separators from 100 nJ up (1,452),
    three significant figures below (0.77, 12.3)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


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
