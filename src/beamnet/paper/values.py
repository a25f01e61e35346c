"""The manuscript's named values (values.json and values/{family}.json) and the paper-values step."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from beamnet.config import adoption_keys, theory_bound_iterations, tuning_baseline
from beamnet.io import atomic_paths
from beamnet.paper.style import BASELINE_NAMES, DATASET_NAMES, MODEL_NAMES, PLATFORM_NAMES, REFERENCE_LABELS
from beamnet.paper.tables import (
    VERDICT_NAMES,
    _nj,
    _percent,
    ablations_markdown,
    claims_markdown,
    config_table,
    dataset_table,
    energy_markdown,
    grid_variants,
    loihi_markdown,
    platform_markdown,
    prop_3_3_markdown,
    quality_markdown,
    sweep_markdown,
    targets_markdown,
    theory_table,
    tuning_record_markdown,
    uncertainty_markdown,
)
from beamnet.theory import sweep_values


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
    """Which settings of the grid's baseline (:func:`beamnet.config.tuning_baseline`) plus the
    record's winners ``dataset_settings`` holds (``adopted``) and which it lacks or sets otherwise
    (``missing``), as ``dataset: key = value``."""
    variants = grid_variants(config)
    settings = config.get("dataset_settings") or {}
    baseline = tuning_baseline(config)
    adopted, missing = [], []
    for dataset in winners["dataset"].unique().sort().to_list():
        # each expected setting: its value and the dotted keys that may hold it (beamnet.config.adoption_keys)
        expected = {
            key: (value, (key,))
            for key, value in ((baseline if baseline is not None else settings).get(dataset) or {}).items()
        }
        for row in winners.filter(pl.col("dataset") == dataset).iter_rows(named=True):
            if row["variant"] == "default":
                continue
            for key, value in variants.get(row["variant"], {}).items():
                keys = adoption_keys(row["model"], key)
                expected[keys[0]] = (value, keys)
        have = settings.get(dataset) or {}
        for label, (value, keys) in expected.items():
            held = any(key in have and have[key] == value for key in keys)
            (adopted if held else missing).append(f"{dataset}: {label} = {value}")
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
