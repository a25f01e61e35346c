"""Config loading, schema validation and the BEAM-Net theory constraints (beamnet.config)."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CONFIG_PATH

from beamnet.config import (
    ConfigError,
    check_theory,
    config_from_json,
    config_hash,
    deep_merge,
    get_key,
    load_config,
    theory_bound_iterations,
    validate_schema,
)


def _set(config: dict[str, Any], dotted_key: str, value: Any) -> None:
    *parents, last = dotted_key.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[last] = value


def test_default_config_satisfies_schema_and_theory(default_config: dict[str, Any]) -> None:
    """The shipped config.yaml passes both validation layers and meets Thm. 3.6's bound."""
    validate_schema(default_config)
    check_theory(default_config)
    assert default_config["model"]["beam_net"]["w_inh"] > 2
    assert default_config["model"]["beam_net"]["loop"]["max_iterations"] >= theory_bound_iterations(default_config)


# (dotted key, bad value, citation that must appear in the message)
VIOLATIONS = [
    ("model.beam_net.w_inh", 2.0, "Proposition 3.3"),
    ("model.beam_net.w_inh", 1.5, "Proposition 3.3"),
    ("model.beam_net.delta", 0.0, "Eq. 9"),
    ("model.beam_net.delta", -0.5, "Eq. 9"),
    ("model.beam_net.loop.max_iterations", 5, "Theorem 3.6"),  # bound = ceil(3*10/5) = 6
    ("model.beam_net.alpha_0", 0.0, "Eq. 12"),
    ("model.beam_net.alpha_0", -1.0, "Eq. 12"),
    ("model.beam_net.eta", 0.0, "Eq. 12"),
    ("model.beam_net.eta", -2.0, "Eq. 12"),
    ("encoding.tau_ms", 25.0, "Eq. 7"),  # T_ref = 20
    ("train.sparsity_target", 0.0, "Lennie"),
    ("train.sparsity_target", 1.0, "Lennie"),
    ("train.sparsity_target", 1.5, "Lennie"),
]


@pytest.mark.parametrize(("key", "value", "citation"), VIOLATIONS, ids=[f"{k}={v}" for k, v, _ in VIOLATIONS])
def test_check_theory_rejects_violation_with_citation(
    default_config: dict[str, Any], key: str, value: Any, citation: str
) -> None:
    """Each theory constraint (Prop. 3.3, Eqs. 7/9/12, Thm. 3.6, sparsity in (0,1)) rejects a bad
    value with a ConfigError naming the key, the value and the result it breaks."""
    _set(default_config, key, value)
    with pytest.raises(ConfigError) as info:
        check_theory(default_config)
    message = str(info.value)
    assert citation in message
    assert key in message
    assert repr(value) in message


def test_theorem_3_6_bound_follows_time_constants(default_config: dict[str, Any]) -> None:
    """Thm. 3.6: the bound is ceil(3 tau_m / tau_s); max_iterations exactly at it passes, one below fails."""
    beam = default_config["model"]["beam_net"]
    beam["tau_m_ms"], beam["tau_s_ms"] = 10.0, 3.0
    bound = math.ceil(3 * 10.0 / 3.0)
    assert theory_bound_iterations(default_config) == bound == 10
    beam["loop"]["max_iterations"] = bound
    check_theory(default_config)
    beam["loop"]["max_iterations"] = bound - 1
    with pytest.raises(ConfigError, match=r"Theorem 3\.6.*") as info:
        check_theory(default_config)
    assert f"= {bound}" in str(info.value)
    beam["loop"]["enabled"] = False  # the ablation without the loop has no bound to meet
    check_theory(default_config)


def test_eq7_boundary_tau_equal_t_ref_is_allowed(default_config: dict[str, Any]) -> None:
    """Eq. 7: tau == T_ref keeps t = T_ref - tau*xi >= 0 on [0, 1], so it is accepted."""
    default_config["encoding"]["tau_ms"] = default_config["encoding"]["t_ref_ms"]
    check_theory(default_config)


def test_check_theory_skips_absent_sections() -> None:
    """A step that receives only some sections (e.g. data+encoding) is checked on those alone."""
    check_theory({"encoding": {"tau_ms": 5.0, "t_ref_ms": 20.0}})
    with pytest.raises(ConfigError, match="Eq. 7"):
        check_theory({"encoding": {"tau_ms": 30.0, "t_ref_ms": 20.0}})


def test_load_config_applies_theory_to_overrides() -> None:
    """load_config merges nested overrides and then rejects w_inh = 1.5 (Prop. 3.3)."""
    with pytest.raises(ConfigError, match=r"model\.beam_net\.w_inh.*1\.5.*Proposition 3\.3"):
        load_config(CONFIG_PATH, overrides={"model": {"beam_net": {"w_inh": 1.5}}})
    merged = load_config(CONFIG_PATH, overrides={"model": {"beam_net": {"w_inh": 3.0}}})
    assert merged["model"]["beam_net"]["w_inh"] == 3.0
    assert merged["model"]["beam_net"]["delta"] == 0.5  # siblings survive the nested merge


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"seeds": "x"}, "seeds"),
        ({"seeds": [0, "one"]}, "seeds.1"),
        ({"encoding": {"rate": {"steps": "ten"}}}, "encoding.rate.steps"),
        ({"datasets": ["mnist"]}, "datasets.0"),
        ({"data": {"nmnist": {"download": "yes"}}}, "data.nmnist.download"),
    ],
)
def test_schema_wrong_type_names_key(overrides: dict[str, Any], key: str) -> None:
    """Schema layer: a value of the wrong type raises ConfigError naming its dotted key."""
    with pytest.raises(ConfigError) as info:
        load_config(CONFIG_PATH, overrides=overrides)
    assert f"'{key}'" in str(info.value)


def test_schema_missing_section_is_reported(default_config: dict[str, Any]) -> None:
    """A full config without a required section fails; a step's partial config does not."""
    del default_config["train"]
    with pytest.raises(ConfigError, match="train"):
        validate_schema(default_config)
    validate_schema({"encoding": default_config["encoding"]}, sections_only=True)


def test_load_config_missing_file_names_path(tmp_path: Path) -> None:
    """A missing config file raises ConfigError naming the path (not a bare FileNotFoundError)."""
    missing = tmp_path / "nowhere" / "config.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(missing) in str(info.value)


def test_load_config_invalid_yaml_and_non_mapping(tmp_path: Path) -> None:
    """Unparseable YAML and a YAML list are both ConfigErrors naming the file."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        load_config(bad)
    assert str(bad) in str(info.value)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping") as info:
        load_config(listed)
    assert str(listed) in str(info.value)


def test_config_from_json_validates_sections(default_config: dict[str, Any]) -> None:
    """--config-json: the sections a rule passes are schema- and theory-checked."""
    import json

    sections = {"data": default_config["data"], "encoding": default_config["encoding"]}
    assert config_from_json(json.dumps(sections)) == sections
    sections["encoding"]["tau_ms"] = 40.0
    with pytest.raises(ConfigError, match="Eq. 7"):
        config_from_json(json.dumps(sections))
    with pytest.raises(ConfigError, match="not valid JSON"):
        config_from_json("{not json")


def test_config_hash_is_key_order_independent(default_config: dict[str, Any]) -> None:
    """config_hash hashes canonical JSON: reordering keys (at any depth) keeps it, a value change does not."""

    def reverse(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: reverse(node[k]) for k in reversed(list(node))}
        return node

    reordered = reverse(default_config)
    assert list(reordered) != list(default_config)
    assert config_hash(reordered) == config_hash(default_config)
    assert len(config_hash(default_config)) == 64
    changed = deep_merge(default_config, {"encoding": {"tau_ms": 19.0}})
    assert config_hash(changed) != config_hash(default_config)


def test_config_hash_matches_yaml_roundtrip(default_config: dict[str, Any], tmp_path: Path) -> None:
    """The hash depends on values only: dumping and reloading the YAML gives the same hash."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(default_config, sort_keys=False))
    assert config_hash(load_config(path)) == config_hash(default_config)


def test_get_key_names_missing_key(default_config: dict[str, Any]) -> None:
    """get_key returns nested values and names the dotted key it could not find."""
    assert get_key(default_config, "model.beam_net.w_inh") == default_config["model"]["beam_net"]["w_inh"] > 2
    with pytest.raises(ConfigError, match=r"'model\.beam_net\.nope'"):
        get_key(default_config, "model.beam_net.nope")


def test_command_line_strings_become_the_schema_types(default_config) -> None:
    from beamnet.config import coerce_command_line

    config = dict(default_config, seeds=["0", "1", "4"])
    config["tuning"] = dict(config["tuning"], folds="3", enabled="false")
    config["data"] = dict(config["data"], nmnist=dict(config["data"]["nmnist"], root="42"))
    coerced = coerce_command_line(config)
    assert coerced["seeds"] == [0, 1, 4] and coerced["tuning"]["folds"] == 3
    assert coerced["tuning"]["enabled"] is False
    assert coerced["data"]["nmnist"]["root"] == "42"  # a string field stays a string


def test_unknown_keys_name_the_nearest_valid_key(default_config) -> None:
    from beamnet.config import check_known_keys, unknown_keys

    config = copy.deepcopy(default_config)
    assert unknown_keys(config) == []
    config["train"]["epochz"] = 5
    config["model"]["beam_net"]["loop"]["tolerence"] = 1e-3
    assert sorted(unknown_keys(config)) == [
        ("model.beam_net.loop.tolerence", "model.beam_net.loop.tolerance"),
        ("train.epochz", "train.epochs"),
    ]
    with pytest.raises(ConfigError, match=r"not a known key \(nearest valid key"):
        check_known_keys(config)


def test_one_models_training_setting_applies_to_that_model_alone(default_config) -> None:
    """dataset_settings may adopt a tuning winner's train key for one model (train_by_model): that
    model's configuration has it, the others keep the train section's; an unknown key is refused
    by name, and the paper's adoption check accepts either spelling of the key."""
    from beamnet.config import adoption_keys, model_config

    default_config["dataset_settings"]["nmnist"] = {"train_by_model.beam_net.select_best_epoch": False}
    assert model_config(default_config, "nmnist", "beam_net")["train"]["select_best_epoch"] is False
    assert model_config(default_config, "nmnist", "ann_mlp")["train"]["select_best_epoch"] is True
    assert model_config(default_config, "digits", "beam_net")["train"]["select_best_epoch"] is True
    default_config["train_by_model"]["rate_snn"]["epoch_count"] = 3
    with pytest.raises(ConfigError, match=r"train_by_model\.rate_snn\.epoch_count"):
        model_config(default_config, "nmnist", "rate_snn")
    assert adoption_keys("beam_net", "train.select_best_epoch") == (
        "train_by_model.beam_net.select_best_epoch",
        "train.select_best_epoch",
    )
    assert adoption_keys("beam_net", "model.beam_net.delta") == ("model.beam_net.delta",)
