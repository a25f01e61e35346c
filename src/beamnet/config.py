"""Configuration loading and validation.

Two layers of checks, both run before any work starts (by the Snakefile and by every CLI step):

1. the JSON schema ``workflow/schemas/config.schema.yaml`` (types, ranges, names), and
2. :func:`check_theory`, the constraints the BEAM-Net theory puts on the hyper-parameters:

   - Prop. 3.3: lateral inhibition ``w_inh > 2`` for normalised firing rates to approach the
     posterior P(cause_j | xi);
   - Eq. 9: the stochasticity ``Delta > 0`` of P(spike | V) = sigmoid((V - theta) / Delta);
   - Thm. 3.6: the loop may run ``L_max >= ceil(3 tau_m / tau_s)`` iterations;
   - Eq. 12: Dirichlet concentrations need ``alpha_0 > 0`` and ``eta > 0``;
   - Eq. 7: ``tau <= T_ref`` so that t = T_ref - tau * xi stays non-negative on xi in [0, 1];
   - Lennie (2003): the sparsity target is a fraction in (0, 1).

A violation raises :class:`ConfigError` naming the key, the value and the result it breaks.
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"

DATASETS = ("digits", "digits_saccade", "nmnist", "dvs_gesture")
EVENT_DATASETS = ("digits_saccade", "nmnist", "dvs_gesture")
MODELS = ("beam_net", "ann_mlp", "rate_snn")
SPLITS = ("train", "val", "test")
IMAGE_ENCODINGS = ("latency", "population", "rate")
EVENT_ENCODINGS = ("latency", "rate")


def encodings_for(dataset: str) -> tuple[str, ...]:
    """The encodings a dataset supports (population coding needs static intensities)."""
    return EVENT_ENCODINGS if dataset in EVENT_DATASETS else IMAGE_ENCODINGS


def model_encoding(config: Mapping[str, Any], model: str, dataset: str) -> str:
    """The spike cache ``model`` reads on ``dataset``: ``model.<model>.encoding``.

    ``auto`` picks the W-TCRL population code (Eq. 7 per receptive field) where the dataset
    has static intensities, and the latency code of the events where it has none.
    """
    chosen = config["model"][model]["encoding"]
    available = encodings_for(dataset)
    if chosen == "auto":
        return "population" if "population" in available else "latency"
    if chosen not in available:
        raise ConfigError(
            f"model.{model}.encoding: '{chosen}' is not available for dataset '{dataset}': "
            f"expected 'auto' or one of {list(available)}"
        )
    return chosen


def encoded_input_count(config: Mapping[str, Any], encoding: str, channels: int) -> int:
    """Inputs D of a cache whose latency code has ``channels`` inputs: population coding gives
    each channel ``encoding.population.neurons_per_input`` receptive fields (W-TCRL §2.2)."""
    if encoding == "population":
        return channels * int(config["encoding"]["population"]["neurons_per_input"])
    return channels


def channel_count(config: Mapping[str, Any], encoding: str, n_inputs: int) -> int:
    """The inverse of :func:`encoded_input_count`: channels (pixels, or events' pixel x polarity
    x window) behind the ``n_inputs`` inputs of a cache in ``encoding``."""
    per_channel = encoded_input_count(config, encoding, 1)
    if n_inputs % per_channel:
        raise ValueError(f"{n_inputs} {encoding} inputs are not a whole number of channels of {per_channel}")
    return n_inputs // per_channel


class ConfigError(ValueError):
    """A configuration value breaks the schema or a theory constraint."""


def get_key(config: Mapping[str, Any], dotted_key: str) -> Any:
    """Return ``config[a][b][c]`` for ``"a.b.c"``, or raise a ConfigError naming the key."""
    node: Any = config
    for part in dotted_key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(f"config key '{dotted_key}' is missing (no '{part}')")
        node = node[part]
    return node


def _nearest_key(config: Mapping[str, Any], dotted_key: str) -> str:
    """The existing dotted key closest to ``dotted_key`` (for error messages)."""

    def walk(node: Mapping[str, Any], prefix: str) -> Iterator[str]:
        for key, value in node.items():
            name = f"{prefix}{key}"
            yield name
            if isinstance(value, Mapping):
                yield from walk(value, name + ".")

    matches = difflib.get_close_matches(dotted_key, list(walk(config, "")), n=1, cutoff=0.0)
    return matches[0] if matches else "?"


def apply_overrides(config: Mapping[str, Any], overrides: Mapping[str, Any], variant: str) -> dict[str, Any]:
    """``config`` with each dotted key of ``overrides`` set; the result passes the theory checks.
    ``variant`` names where the overrides come from, for error messages.

    Raises
    ------
    ConfigError
        If a key does not exist (naming the nearest valid one), a value changes type, or the
        result breaks a theory constraint (Prop. 3.3, Thm. 3.6, ...).
    """
    result = copy.deepcopy(dict(config))
    for dotted_key, value in overrides.items():
        where = variant
        try:
            current = get_key(result, dotted_key)
        except ConfigError:
            raise ConfigError(
                f"{where}: config key '{dotted_key}' does not exist "
                f"(nearest valid key: '{_nearest_key(config, dotted_key)}')"
            ) from None
        if isinstance(current, Mapping):
            raise ConfigError(f"{where}: config key '{dotted_key}' is a section; expected a leaf key")
        numeric = (int, float)
        same_kind = (
            isinstance(value, numeric)
            and isinstance(current, numeric)
            and not isinstance(value, bool)
            and not isinstance(current, bool)
        ) or type(value) is type(current)
        # a key configured as null (an optional setting such as prune.connections) takes any value
        if not same_kind and current is not None:
            raise ConfigError(
                f"{where}: config key '{dotted_key}' = {value!r}: expected a "
                f"{type(current).__name__} like the configured {current!r}"
            )
        *parents, leaf = dotted_key.split(".")
        node = result
        for part in parents:
            node = node[part]
        node[leaf] = value
    try:
        check_theory(result)
    except ConfigError as err:
        raise ConfigError(f"{variant}: {err}") from None
    return result


def dataset_config(config: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """The configuration the runs of ``dataset`` use: ``config`` with that dataset's entry of
    ``dataset_settings`` (dotted keys, chosen by the tuning record) applied and theory-checked."""
    settings = (config.get("dataset_settings") or {}).get(dataset) or {}
    if not settings:
        return copy.deepcopy(dict(config))
    return apply_overrides(config, settings, f"dataset_settings.{dataset}")


def model_config(config: Mapping[str, Any], dataset: str, model: str) -> dict[str, Any]:
    """The configuration ``model`` trains and is evaluated with on ``dataset``:
    :func:`dataset_config` with the non-null keys of ``train_by_model.<model>`` set over ``train``
    (a training setting that one model's tuning record chose for it alone).

    Raises
    ------
    ConfigError
        If ``train_by_model.<model>`` names a key that ``train`` does not have.
    """
    chosen = dataset_config(config, dataset)
    for key, value in ((chosen.get("train_by_model") or {}).get(model) or {}).items():
        if value is None:
            continue
        if key not in chosen.get("train", {}):
            raise ConfigError(
                f"config key 'train_by_model.{model}.{key}' = {value!r}: expected a key of the train section "
                f"({sorted(chosen.get('train', {}))})"
            )
        chosen["train"][key] = value
    return chosen


def adoption_keys(model: str, dotted_key: str) -> tuple[str, ...]:
    """The dotted keys of ``dataset_settings`` that adopt a tuning variant's ``dotted_key`` for
    ``model``: a tuning job trains one model, so a variant's ``train.K`` is adopted for that model
    alone as ``train_by_model.<model>.K`` (or for every model as ``train.K``)."""
    if dotted_key.startswith("train."):
        return (f"train_by_model.{model}.{dotted_key.removeprefix('train.')}", dotted_key)
    return (dotted_key,)


def tuning_baseline(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The per-dataset settings the chosen grid's record starts from: the grid's own
    ``tuning.grids.<grid>.baseline`` where it has one (a later round starts from the winners of an
    earlier one), else ``tuning.baseline``; None where neither is set."""
    tuning = config.get("tuning") or {}
    grid = (tuning.get("grids") or {}).get(tuning.get("grid")) or {}
    if grid.get("baseline") is not None:
        return grid["baseline"]
    return tuning.get("baseline")


def tuning_view(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration the cross-validation record compares against: ``config`` with its
    ``dataset_settings`` replaced by the grid's baseline (:func:`tuning_baseline`, where set).

    The record's ``default`` variant is this baseline, so adopting the record's winners into
    ``dataset_settings`` (for the final runs) leaves every tuning job, and so the record, as it is.
    """
    baseline = tuning_baseline(config)
    if baseline is None:
        return copy.deepcopy(dict(config))
    view = copy.deepcopy(dict(config))
    view["dataset_settings"] = copy.deepcopy(dict(baseline))
    return view


def _require(condition: bool, key: str, value: Any, expected: str, source: str) -> None:
    if not condition:
        raise ConfigError(f"config key '{key}' = {value!r}: expected {expected} ({source})")


def check_theory(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` if ``config`` violates a constraint of the BEAM-Net theory.

    Sections absent from ``config`` (a step receives only the sections it uses) are skipped.

    Parameters
    ----------
    config
        The parsed configuration (config.yaml plus any overrides), or some of its sections.
    """
    if "encoding" in config:
        tau, t_ref = get_key(config, "encoding.tau_ms"), get_key(config, "encoding.t_ref_ms")
        _require(
            tau <= t_ref,
            "encoding.tau_ms",
            tau,
            f"tau <= T_ref = {t_ref}",
            "Eq. 7: t_i = T_ref - tau * xi_i must stay >= 0 for xi_i in [0, 1]",
        )
    gesture = (config.get("data") or {}).get("dvs_gesture")
    if gesture and "spatial_factor" in gesture:
        factor, width = gesture["spatial_factor"], 128  # DVS Gesture's 128 x 128 sensor
        _require(
            0.0 < factor <= 1.0 and abs(width * factor - round(width * factor)) < 1e-9,
            "data.dvs_gesture.spatial_factor",
            factor,
            "a factor in (0, 1] that maps 128 pixels onto whole pixels (such as 0.5 or 0.25)",
            "tonic's Downsample maps pixel x to floor(factor * x)",
        )
    if "train" in config:
        target = get_key(config, "train.sparsity_target")
        _require(
            0.0 < target < 1.0,
            "train.sparsity_target",
            target,
            "a fraction in (0, 1)",
            "sparsity target of active patterns, Lennie 2003: 1-5 %",
        )
    if "model" not in config:
        return
    beam = get_key(config, "model.beam_net")
    prune = beam.get("prune") or {}
    if prune.get("connections") is not None and "train" in config:
        epochs = get_key(config, "train.epochs")
        _require(
            0 <= prune.get("at_epoch", 0) < epochs,
            "model.beam_net.prune.at_epoch",
            prune.get("at_epoch", 0),
            f"an epoch in [0, train.epochs = {epochs})",
            "magnitude pruning happens before one of the training epochs, so that later ones fine-tune",
        )
    w_inh = beam["w_inh"]
    _require(
        w_inh > 2.0 or not beam.get("lateral_inhibition", True),
        "model.beam_net.w_inh",
        w_inh,
        "w_inh > 2",
        "Proposition 3.3: normalised firing rates approach the posterior only with w_inh > 2",
    )
    delta = beam["delta"]
    _require(
        delta > 0.0,
        "model.beam_net.delta",
        delta,
        "Delta > 0",
        "Eq. 9: P(spike | V) = sigmoid((V - theta) / Delta) needs a positive Delta",
    )
    bound = math.ceil(3.0 * beam["tau_m_ms"] / beam["tau_s_ms"])
    l_max = beam["loop"]["max_iterations"]
    _require(
        l_max >= bound or not beam["loop"].get("enabled", True),
        "model.beam_net.loop.max_iterations",
        l_max,
        f">= ceil(3 tau_m / tau_s) = {bound}",
        "Theorem 3.6: the loop converges within ceil(3 tau_m / tau_s) iterations",
    )
    _require(
        beam["alpha_0"] > 0.0,
        "model.beam_net.alpha_0",
        beam["alpha_0"],
        "alpha_0 > 0",
        "Eq. 12: Dirichlet concentrations must be positive",
    )
    _require(
        beam["eta"] > 0.0,
        "model.beam_net.eta",
        beam["eta"],
        "eta > 0",
        "Eq. 12: alpha_j = alpha_0 + eta * evidence_j needs a positive evidence gain",
    )


@functools.lru_cache(maxsize=4)
def _read_schema(schema_path: Path) -> dict[str, Any]:
    """The parsed schema, read once per process (key check, command-line coercion and validation
    all walk it)."""
    return yaml.safe_load(schema_path.read_text())


def _resolve(node: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """``node`` with a local ``$ref`` (``#/definitions/...``) followed; ``allOf`` parts merged."""
    while "$ref" in node:
        target: Any = schema
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    if "allOf" in node:
        merged: dict[str, Any] = {"properties": {}}
        for part in node["allOf"]:
            part = _resolve(part, schema)
            merged["properties"].update(part.get("properties", {}))
            merged.update({k: v for k, v in part.items() if k != "properties"})
        return merged
    return node


def _scalar_from_text(text: str, kinds: set[str]) -> Any:
    """A command-line string as the number or boolean the schema expects, or unchanged."""
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if "integer" in kinds and isinstance(parsed, int) and not isinstance(parsed, bool):
        return parsed
    if "number" in kinds and isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
        return parsed
    if "boolean" in kinds and isinstance(parsed, bool):
        return parsed
    return text


def coerce_command_line(config: dict[str, Any], schema_path: Path = SCHEMA_PATH) -> dict[str, Any]:
    """Convert strings that Snakemake's ``--config`` left in lists (``seeds=[0,1,2]`` arrives as
    ``['0', '1', '2']``) to the integers, numbers or booleans the schema asks for, in place."""
    schema = _read_schema(schema_path)

    def walk(value: Any, node: Mapping[str, Any]) -> Any:
        node = _resolve(node, schema)
        kinds = node.get("type", [])
        kinds = {kinds} if isinstance(kinds, str) else set(kinds)
        if isinstance(value, str) and kinds & {"integer", "number", "boolean"} and "string" not in kinds:
            return _scalar_from_text(value, kinds)
        if isinstance(value, list) and "items" in node:
            return [walk(item, node["items"]) for item in value]
        if isinstance(value, dict):
            properties = node.get("properties", {})
            extra = node.get("additionalProperties")
            for key in list(value):
                child = properties.get(key, extra if isinstance(extra, Mapping) else None)
                if child is not None:
                    value[key] = walk(value[key], child)
        return value

    return walk(config, schema)


def unknown_keys(config: Mapping[str, Any], schema_path: Path = SCHEMA_PATH) -> list[tuple[str, str]]:
    """Every dotted key of ``config`` that the schema does not define, with the nearest valid key
    at that level (``train.epochz`` -> ``train.epochs``), for a message that names both."""
    schema = _read_schema(schema_path)
    found: list[tuple[str, str]] = []

    def walk(value: Any, node: Mapping[str, Any], prefix: str) -> None:
        node = _resolve(node, schema)
        if not isinstance(value, Mapping):
            return
        properties = node.get("properties", {})
        closed = node.get("additionalProperties") is False
        for key, child in value.items():
            name = f"{prefix}{key}"
            if key in properties:
                walk(child, properties[key], name + ".")
            elif closed:
                nearest = difflib.get_close_matches(str(key), list(properties), n=1, cutoff=0.0)
                found.append((name, f"{prefix}{nearest[0]}" if nearest else "?"))
            elif isinstance(node.get("additionalProperties"), Mapping):
                walk(child, node["additionalProperties"], name + ".")

    walk(config, schema, "")
    return found


def check_known_keys(config: Mapping[str, Any], schema_path: Path = SCHEMA_PATH) -> None:
    """Raise :class:`ConfigError` naming the first key the schema does not know and the nearest
    valid one (a misspelt key would otherwise be ignored and its default used)."""
    unknown = unknown_keys(config, schema_path)
    if unknown:
        key, nearest = unknown[0]
        more = f" ({len(unknown) - 1} more unknown)" if len(unknown) > 1 else ""
        raise ConfigError(f"config key '{key}' is not a known key (nearest valid key: '{nearest}'){more}")


def validate_schema(config: Mapping[str, Any], schema_path: Path = SCHEMA_PATH, sections_only: bool = False) -> None:
    """Validate ``config`` against the workflow's JSON schema (the one Snakemake uses).

    With ``sections_only`` the top-level sections are not required (a workflow step receives
    only the sections it uses), but every section present is checked in full.
    """
    import jsonschema

    check_known_keys(config, schema_path)
    schema = dict(_read_schema(schema_path))  # a copy: the cached schema is shared
    if sections_only:
        schema.pop("required", None)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        key = ".".join(str(p) for p in first.absolute_path) or "<top level>"
        raise ConfigError(f"config key '{key}': {first.message} (schema {schema_path.name})")


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML config, merge ``overrides`` (nested), and run both validation layers.

    Raises
    ------
    ConfigError
        If the file is missing or unreadable, or a value breaks the schema or the theory.
    """
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except FileNotFoundError as err:
        raise ConfigError(f"config file '{path}' does not exist") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"config file '{path}' is not valid YAML: {err}") from err
    if not isinstance(config, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping, got {type(config).__name__}")
    if overrides:
        config = deep_merge(config, overrides)
    validate_schema(config)
    check_theory(config)
    return config


def config_from_json(text: str) -> dict[str, Any]:
    """Parse the sections a workflow step receives as JSON, and validate them."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--config-json is not valid JSON: {err}") from err
    if not isinstance(config, dict):
        raise ConfigError(f"--config-json must hold a mapping, got {type(config).__name__}")
    validate_schema(config, sections_only=True)
    check_theory(config)
    return config


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``update`` merged in recursively (update wins)."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON form of ``config`` (key order does not matter)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def theory_bound_iterations(config: Mapping[str, Any]) -> int:
    """Theorem 3.6's iteration bound ceil(3 tau_m / tau_s)."""
    beam = get_key(config, "model.beam_net")
    return math.ceil(3.0 * beam["tau_m_ms"] / beam["tau_s_ms"])
