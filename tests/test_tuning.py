"""Cross-validated tuning: folds, overrides, the winner rule and one real fold job.

The protocol's promise is that nothing in it reads the test split: the fold jobs take the train
and val caches only, and the folds partition exactly those samples.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from conftest import tiny_config

from beamnet.config import ConfigError, dataset_config, model_encoding, tuning_baseline, tuning_view
from beamnet.models.encoder import load_cache
from beamnet.tuning import (
    DEFAULT_VARIANT,
    TuningJob,
    apply_overrides,
    choose_winners,
    fold_roles,
    model_comparison,
    pareto_front,
    run_fold,
    stratified_folds,
    summarise_folds,
    training_pool,
    tuning_jobs,
    variant_config,
    write_record,
)


def test_folds_are_stratified_deterministic_and_cover_every_sample() -> None:
    labels = np.repeat(np.arange(10), [23, 17, 30, 5, 12, 40, 9, 11, 26, 8])
    folds = stratified_folds(labels, 5, seed=7)
    assert np.array_equal(folds, stratified_folds(labels, 5, seed=7))
    assert not np.array_equal(folds, stratified_folds(labels, 5, seed=8))
    assert set(np.unique(folds)) == set(range(5))
    for label in np.unique(labels):
        sizes = np.bincount(folds[labels == label], minlength=5)
        assert sizes.max() - sizes.min() <= 1  # round robin within every class
    sizes = np.bincount(folds, minlength=5)
    assert sizes.max() - sizes.min() <= 1  # and across classes


def test_fold_roles_partition_the_samples() -> None:
    folds = stratified_folds(np.repeat(np.arange(3), 20), 4, seed=0)
    for fold in range(4):
        roles = fold_roles(folds, fold, 4)
        joined = np.concatenate(list(roles.values()))
        assert np.array_equal(np.sort(joined), np.arange(len(folds)))
        assert (folds[roles["score"]] == fold).all() and (folds[roles["val"]] == (fold + 1) % 4).all()
    with pytest.raises(ValueError, match="fold 4"):
        fold_roles(folds, 4, 4)


def test_too_few_folds_or_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        stratified_folds(np.zeros(10), 2, seed=0)
    with pytest.raises(ValueError, match="cannot fill"):
        stratified_folds(np.zeros(3), 5, seed=0)


def test_the_pool_is_train_and_val_and_never_test(digits_caches) -> None:
    pool = training_pool(digits_caches["latency/train"], digits_caches["latency/val"])
    ids = set(pool.sample_ids.tolist())
    train = set(load_cache(digits_caches["latency/train"]).sample_ids.tolist())
    val = set(load_cache(digits_caches["latency/val"]).sample_ids.tolist())
    test = set(load_cache(digits_caches["latency/test"]).sample_ids.tolist())
    assert ids == train | val and not ids & test
    assert pool.sample_ids.tolist() == sorted(ids)


def test_overrides_name_the_nearest_key_and_keep_types(default_config) -> None:
    before = default_config["model"]["beam_net"]["w_inh"]
    changed = apply_overrides(default_config, {"model.beam_net.w_inh": before + 1.5}, "strong")
    assert changed["model"]["beam_net"]["w_inh"] == before + 1.5
    assert default_config["model"]["beam_net"]["w_inh"] == before  # the input is not modified
    with pytest.raises(ConfigError, match="nearest valid key: 'model.beam_net.w_inh'"):
        apply_overrides(default_config, {"model.beam_net.w_inhib": 4.0}, "typo")
    with pytest.raises(ConfigError, match="expected a float"):
        apply_overrides(default_config, {"model.beam_net.w_inh": "strong"}, "text")
    with pytest.raises(ConfigError, match="is a section"):
        apply_overrides(default_config, {"model.beam_net": 1}, "section")


def test_an_override_that_breaks_the_theory_is_refused(default_config) -> None:
    """Prop. 3.3 asks for w_inh > 2: a variant below it fails before any job runs."""
    with pytest.raises(ConfigError, match="weak: .*w_inh"):
        apply_overrides(default_config, {"model.beam_net.w_inh": 1.5}, "weak")
    config = _grid_config(default_config, {"beam_net": ["weak"]}, {"weak": {"model.beam_net.w_inh": 1.5}})
    with pytest.raises(ConfigError, match="tuning variant 'weak': .*Proposition 3.3"):
        tuning_jobs(config, ["digits"], ["beam_net"])


def test_dataset_settings_apply_to_that_dataset_only(default_config) -> None:
    """dataset_settings (the tuning record's per-dataset winners) change one dataset's runs, and
    a variant is applied over them; a bad entry names itself."""
    config = copy.deepcopy(default_config)
    config["dataset_settings"] = {"digits": {"train.sparsity_target": 0.02}, "nmnist": {}}
    assert dataset_config(config, "digits")["train"]["sparsity_target"] == 0.02
    assert dataset_config(config, "nmnist")["train"] == config["train"]
    config = _grid_config(config, {"beam_net": ["w_inh_4"]}, {"w_inh_4": {"model.beam_net.w_inh": 4.0}})
    chosen = variant_config(config, "w_inh_4", "digits")
    assert chosen["train"]["sparsity_target"] == 0.02 and chosen["model"]["beam_net"]["w_inh"] == 4.0
    config["dataset_settings"]["digits"] = {"train.sparsity_targt": 0.02}
    with pytest.raises(ConfigError, match="dataset_settings.digits.*nearest valid key: 'train.sparsity_target'"):
        dataset_config(config, "digits")


def test_a_grid_with_its_own_baseline_starts_from_it(default_config) -> None:
    """A later round's grid names its baseline (an earlier round's winners): its default variant
    trains with that baseline, and a grid without one starts from tuning.baseline."""
    config = _grid_config(default_config, {"beam_net": ["w_inh_4"]}, {"w_inh_4": {"model.beam_net.w_inh": 4.0}})
    config["tuning"]["baseline"] = {"nmnist": {}}
    assert tuning_view(config)["dataset_settings"] == {"nmnist": {}}
    assert variant_config(tuning_view(config), DEFAULT_VARIANT, "nmnist")["model"]["beam_net"]["theta"] == 4.0
    config["tuning"]["grids"]["test"]["baseline"] = {"nmnist": {"model.beam_net.theta": 3.0}}
    view = tuning_view(config)
    assert variant_config(view, DEFAULT_VARIANT, "nmnist")["model"]["beam_net"]["theta"] == 3.0
    changed = variant_config(view, "w_inh_4", "nmnist")["model"]["beam_net"]
    assert (changed["theta"], changed["w_inh"]) == (3.0, 4.0)


def test_the_configured_grid_starts_from_the_first_rounds_winners(default_config) -> None:
    """The configured grid's baseline on nmnist is what dataset_settings took from the first round."""
    baseline = tuning_baseline(default_config)["nmnist"]
    settings = default_config["dataset_settings"]["nmnist"]
    assert baseline and all(settings[key] == value for key, value in baseline.items())


def _grid_config(base, models: dict[str, list[str]], variants: dict[str, dict]) -> dict:
    config = copy.deepcopy(base)
    config["tuning"].update(grid="test", folds=3)
    config["tuning"]["grids"] = {
        "test": {"datasets": ["digits", "nmnist"], "seeds": [0], "models": models, "variants": variants}
    }
    return config


def test_jobs_skip_variants_that_change_nothing(default_config) -> None:
    """On nmnist the auto encoding is already the latency code, so a latency variant is the default."""
    config = _grid_config(
        default_config,
        {"beam_net": ["latency_code", "w_inh_4"], "ann_mlp": []},
        {"latency_code": {"model.beam_net.encoding": "latency"}, "w_inh_4": {"model.beam_net.w_inh": 4.0}},
    )
    jobs = tuning_jobs(config, ["digits", "nmnist"], ["beam_net", "ann_mlp", "rate_snn"])
    by_variant = {(job.dataset, job.model, job.variant) for job in jobs}
    assert model_encoding(config, "beam_net", "nmnist") == "latency"
    assert ("nmnist", "beam_net", "latency_code") not in by_variant
    assert ("digits", "beam_net", "latency_code") in by_variant  # population code by default there
    assert ("digits", "beam_net", "w_inh_4") in by_variant
    assert ("digits", "ann_mlp", DEFAULT_VARIANT) in by_variant
    assert not any(job.model == "rate_snn" for job in jobs)  # not in the grid's models
    assert len(jobs) == len(by_variant) * 3  # three folds x one seed each
    unknown = _grid_config(default_config, {"beam_net": ["missing"]}, {})
    with pytest.raises(ConfigError, match="unknown variants \\['missing'\\]"):
        tuning_jobs(unknown, ["digits"], ["beam_net"])
    with pytest.raises(ConfigError, match="not in tuning.grids"):
        variant_config(config, "missing")


def _fold_table(differences: dict[str, list[float]], base: float = 0.8) -> pl.DataFrame:
    rows = []
    for variant, gains in differences.items():
        for fold, gain in enumerate(gains):
            rows.append(
                {
                    "dataset": "digits",
                    "model": "beam_net",
                    "variant": variant,
                    "fold": fold,
                    "seed": 0,
                    "accuracy": base + gain + 0.01 * fold,
                    "ece": 0.05,
                    "nll": 0.5,
                    "activity": 0.03,
                    "energy_nj": 100.0,
                }
            )
    return pl.DataFrame(rows)


def test_a_variant_wins_only_with_a_paired_gain_above_zero() -> None:
    """Fold-to-fold variation is shared (0.01 per fold), so the paired gain is what decides."""
    folds = _fold_table(
        {
            DEFAULT_VARIANT: [0.0] * 5,
            "steady": [0.02, 0.021, 0.019, 0.02, 0.022],  # small, consistent: wins
            "noisy": [0.09, -0.05, 0.08, -0.04, 0.05],
        }
    )  # larger mean, interval straddles 0
    summary = choose_winners(summarise_folds(folds, "accuracy"), "accuracy", "paired_improvement")
    winner = summary.filter(pl.col("winner"))["variant"].to_list()
    assert winner == ["steady"]
    noisy = summary.filter(pl.col("variant") == "noisy").row(0, named=True)
    assert noisy["difference_low"] < 0 < noisy["difference_high"]
    # best_mean takes the highest mean (noisy: +0.026 against steady's +0.0204) whatever its interval
    best = choose_winners(summarise_folds(folds, "accuracy"), "accuracy", "best_mean")
    assert best.filter(pl.col("winner"))["variant"].to_list() == ["noisy"]


def test_the_default_stays_when_no_gain_is_resolved() -> None:
    folds = _fold_table(
        {DEFAULT_VARIANT: [0.0] * 5, "worse": [-0.02] * 4 + [-0.021], "noisy": [0.03, -0.03, 0.02, -0.02, 0.01]}
    )
    summary = choose_winners(summarise_folds(folds, "accuracy"), "accuracy", "paired_improvement")
    assert summary.filter(pl.col("winner"))["variant"].to_list() == [DEFAULT_VARIANT]
    with pytest.raises(ConfigError, match="tuning.rule"):
        choose_winners(summary.drop("winner"), "accuracy", "vote")


def test_improvement_then_energy_takes_the_cheapest_of_the_tied_improvements() -> None:
    """Two variants beat the default (resolved); they are tied with each other, so the cheaper
    wins. A cheap variant that does not beat the default, and a cheap improvement that the
    leader beats (resolved), are both passed over."""
    folds = _fold_table(
        {
            DEFAULT_VARIANT: [0.0] * 5,
            "accurate": [0.05, 0.052, 0.048, 0.05, 0.051],
            "cheap_tie": [0.05, 0.047, 0.053, 0.049, 0.052],  # tied with "accurate"
            "cheap_worse": [0.02, 0.021, 0.019, 0.02, 0.022],  # beats default, loses to leader
            "cheap_unproven": [0.03, -0.03, 0.02, -0.02, 0.01],
        }
    )  # does not beat the default
    energy = {DEFAULT_VARIANT: 100.0, "accurate": 90.0, "cheap_tie": 20.0, "cheap_worse": 5.0, "cheap_unproven": 1.0}
    folds = folds.with_columns(energy_nj=pl.col("variant").replace_strict(energy, return_dtype=pl.Float64))
    summary = choose_winners(summarise_folds(folds, "accuracy"), "accuracy", "improvement_then_energy", folds)
    assert summary.filter(pl.col("winner"))["variant"].to_list() == ["cheap_tie"]
    row = summary.filter(pl.col("variant") == "cheap_tie").row(0, named=True)
    assert row["energy_nj_vs_default_mean"] == pytest.approx(-80.0)
    assert row["accuracy_vs_default_low"] > 0
    # nothing resolved over the default: the default stays, however cheap the others are
    unproven = folds.filter(pl.col("variant").is_in([DEFAULT_VARIANT, "cheap_unproven"]))
    kept = choose_winners(summarise_folds(unproven, "accuracy"), "accuracy", "improvement_then_energy", unproven)
    assert kept.filter(pl.col("winner"))["variant"].to_list() == [DEFAULT_VARIANT]
    with pytest.raises(ValueError, match="per-fold table"):
        choose_winners(summarise_folds(folds, "accuracy"), "accuracy", "improvement_then_energy")


def test_lower_is_better_metrics_invert_the_rule() -> None:
    folds = _fold_table({DEFAULT_VARIANT: [0.0] * 5, "calibrated": [0.0] * 5})
    folds = folds.with_columns(
        ece=pl.when(pl.col("variant") == "calibrated").then(0.02 + 0.001 * pl.col("fold")).otherwise(0.05)
    )
    summary = choose_winners(summarise_folds(folds, "ece"), "ece", "paired_improvement")
    assert summary.filter(pl.col("winner"))["variant"].to_list() == ["calibrated"]


def test_one_fold_job_trains_scores_and_records(_default_config, digits_caches, tmp_path) -> None:
    """A real job on digits: one row, scored on the held-out fold only, byte-identical on rerun."""
    config = tiny_config(_default_config, epochs=1, mc_passes=1)
    config["tuning"].update(folds=3)
    encoding = model_encoding(config, "beam_net", "digits")
    caches = digits_caches[f"{encoding}/train"], digits_caches[f"{encoding}/val"]
    job = TuningJob("digits", "beam_net", DEFAULT_VARIANT, fold=1, seed=0)
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    run_fold(config, job, 3, 11, *caches, first)
    run_fold(config, job, 3, 11, *caches, second)
    assert first.read_bytes() == second.read_bytes()
    row = pl.read_parquet(first).row(0, named=True)
    pool = training_pool(*caches)
    sizes = np.bincount(stratified_folds(pool.labels.numpy(), 3, 11), minlength=3)
    assert (row["n_scored"], row["n_val"], row["n_train"]) == (sizes[1], sizes[2], sizes[0])
    assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["ece"] <= 1.0
    assert b"provenance" in pq.read_metadata(first).metadata

    outputs = {
        name: tmp_path / "record" / file
        for name, file in [
            ("folds_parquet", "folds.parquet"),
            ("folds_csv", "folds.csv"),
            ("summary_parquet", "summary.parquet"),
            ("summary_csv", "summary.csv"),
            ("winners_csv", "winners.csv"),
            ("markdown", "tuning.md"),
            ("comparison_csv", "comparison.csv"),
            ("pareto_parquet", "pareto.parquet"),
        ]
    }
    (tmp_path / "record").mkdir()
    write_record(config, [first], outputs)
    assert pl.read_parquet(outputs["folds_parquet"])["fold"].to_list() == [1]
    winners = pl.read_csv(outputs["winners_csv"])
    assert winners["variant"].to_list() == [DEFAULT_VARIANT]
    assert "| digits | beam_net | default |" in outputs["markdown"].read_text()
    assert pl.read_parquet(outputs["pareto_parquet"])["on_front"].to_list() == [True]


def test_pareto_front_keeps_the_points_no_other_dominates() -> None:
    points = pl.DataFrame(
        {
            "dataset": ["d"] * 4 + ["e"],
            "variant": ["a", "b", "c", "d", "a"],
            "accuracy_mean": [0.9, 0.8, 0.85, 0.8, 0.1],
            "energy_nj_mean": [100.0, 10.0, 120.0, 20.0, 1000.0],
        }
    )
    front = pareto_front(points)
    # c is beaten by a on both axes, d by b; e's lone point is on its own dataset's front
    assert front["on_front"].to_list() == [True, True, False, False, True]


def test_model_comparison_pairs_the_chosen_variants_fold_by_fold() -> None:
    folds = pl.concat(
        [
            _fold_table({DEFAULT_VARIANT: [0.0] * 5, "better": [0.05] * 5}),
            _fold_table({DEFAULT_VARIANT: [0.02, 0.03, 0.02, 0.03, 0.025]}).with_columns(model=pl.lit("ann_mlp")),
        ]
    )
    winners = pl.DataFrame(
        {"dataset": ["digits", "digits"], "model": ["beam_net", "ann_mlp"], "variant": ["better", DEFAULT_VARIANT]}
    )
    row = model_comparison(folds, winners).row(0, named=True)
    assert (row["model"], row["n_paired"]) == ("ann_mlp", 5)
    assert row["accuracy_mean"] == pytest.approx(0.025 - 0.05)  # the ANN trails the chosen BEAM-Net
    assert row["accuracy_high"] < 0


def test_a_job_refuses_caches_of_another_dataset(_default_config, digits_caches, tmp_path: Path) -> None:
    config = tiny_config(_default_config, epochs=1, mc_passes=1)
    job = TuningJob("nmnist", "ann_mlp", DEFAULT_VARIANT, fold=0, seed=0)
    with pytest.raises(ValueError, match="hold dataset 'digits', expected 'nmnist'"):
        run_fold(
            config, job, 3, 0, digits_caches["latency/train"], digits_caches["latency/val"], tmp_path / "row.parquet"
        )
    assert not (tmp_path / "row.parquet").exists()


def test_a_job_reads_its_own_model_and_the_matching_keys_only(default_config) -> None:
    """Adopting the ANN-MLP's augmentation for a dataset leaves BEAM-Net's jobs there unchanged,
    and BEAM-Net's loop switch leaves the baselines' unchanged; BEAM-Net's pooling, which sets the
    baselines' width, does reach them."""
    from beamnet.tuning import job_sections

    config = copy.deepcopy(default_config)
    before = {model: job_sections(config, DEFAULT_VARIANT, "nmnist", model) for model in ("beam_net", "ann_mlp")}
    config["dataset_settings"] = {"nmnist": {"model.ann_mlp.augment.shift_px": 2, "model.beam_net.loop.enabled": False}}
    after = {model: job_sections(config, DEFAULT_VARIANT, "nmnist", model) for model in ("beam_net", "ann_mlp")}
    assert after["beam_net"]["model"]["ann_mlp"] == before["beam_net"]["model"]["ann_mlp"]
    assert after["beam_net"]["model"]["beam_net"]["loop"]["enabled"] is False
    assert after["ann_mlp"]["model"]["beam_net"] == before["ann_mlp"]["model"]["beam_net"]
    assert after["ann_mlp"]["model"]["ann_mlp"]["augment"]["shift_px"] == 2
    config["dataset_settings"]["nmnist"]["model.beam_net.input_pool"] = 2
    pooled = job_sections(config, DEFAULT_VARIANT, "nmnist", "ann_mlp")
    assert pooled["model"]["beam_net"]["input_pool"] == 2
