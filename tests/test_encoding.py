"""Component 1 encoders (beamnet.encoding): Eq. 7 latency, population, event latency, Poisson rate,
and the encoded caches (byte-reproducible, all-or-none, readable with plain NumPy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from beamnet.config import SPLITS, config_hash
from beamnet.data.events import EVENT_DTYPE
from beamnet.encoding import (
    encode_dataset,
    encodings_for,
    event_count_intensity,
    event_first_latency,
    latency_code,
    latency_to_intensity,
    poisson_spikes,
    population_responses,
)
from beamnet.io import write_npz

T_REF, TAU, FLOOR = 20.0, 20.0, 0.05


# --- Eq. 7 latency coding --------------------------------------------------------------------


def test_latency_brighter_spikes_strictly_earlier() -> None:
    """Eq. 7: t(xi) is strictly decreasing in xi over the active range."""
    xi = np.linspace(FLOOR, 1.0, 200, dtype=np.float32)
    times, active = latency_code(xi, T_REF, TAU, FLOOR)
    assert active.all()
    assert np.all(np.diff(times) < 0)
    # Also pairwise on a shuffled 2-D input: brighter => earlier, whatever the layout.
    rng = np.random.default_rng(0)
    grid = rng.uniform(FLOOR, 1.0, size=(16, 16)).astype(np.float32)
    t, _ = latency_code(grid, T_REF, TAU, FLOOR)
    order = np.argsort(grid, axis=None)
    assert np.all(np.diff(t.ravel()[order]) <= 0)
    assert t.ravel()[order[-1]] < t.ravel()[order[0]]


def test_latency_equals_t_ref_minus_tau_xi_exactly() -> None:
    """Eq. 7: t = T_ref - tau * xi exactly (dyadic intensities are exact in float32)."""
    xi = np.array([0.0625, 0.125, 0.25, 0.5, 0.75, 1.0], dtype=np.float32)
    times, active = latency_code(xi, 20.0, 16.0, FLOOR)
    assert active.all()
    assert times.dtype == np.float32
    np.testing.assert_array_equal(times, np.array([19.0, 18.0, 16.0, 12.0, 8.0, 4.0], np.float32))
    rng = np.random.default_rng(1)
    xi = rng.uniform(FLOOR, 1.0, size=1000)
    times, _ = latency_code(xi, T_REF, TAU, FLOOR)
    np.testing.assert_array_equal(times, (T_REF - TAU * xi).astype(np.float32))
    assert times.min() >= 0.0  # tau <= T_ref keeps every time non-negative


def test_latency_silence_floor() -> None:
    """Eq. 7: inputs below the silence floor are inactive with time inf; at the floor they fire."""
    xi = np.array([0.0, 0.01, 0.049, 0.05, 0.5], dtype=np.float64)
    times, active = latency_code(xi, T_REF, TAU, FLOOR)
    np.testing.assert_array_equal(active, [False, False, False, True, True])
    assert np.all(np.isinf(times[:3])) and np.all(times[:3] > 0)
    assert np.all(np.isfinite(times[3:]))
    assert times[3] == pytest.approx(T_REF - TAU * 0.05)


def test_latency_to_intensity_inverts_eq7() -> None:
    """xi = (T_ref - t) / tau recovers active intensities; silent inputs decode to 0."""
    rng = np.random.default_rng(2)
    xi = rng.uniform(0.0, 1.0, size=(50, 64)).astype(np.float32)
    times, active = latency_code(xi, T_REF, TAU, FLOOR)
    decoded = latency_to_intensity(times, active, T_REF, TAU)
    assert decoded.shape == xi.shape
    np.testing.assert_allclose(decoded[active], xi[active], atol=2e-6)
    assert np.all(decoded[~active] == 0.0)
    assert (~active).any() and active.any()


# --- population coding (W-TCRL §2.2) ----------------------------------------------------------


def test_population_shape() -> None:
    """Population responses have shape (..., l) and lie in (0, 1]."""
    xi = np.random.default_rng(3).uniform(size=(4, 8, 8)).astype(np.float32)
    resp = population_responses(xi, 5, 0.15)
    assert resp.shape == (4, 8, 8, 5)
    assert np.all(resp > 0) and np.all(resp <= 1.0)
    times, active = latency_code(resp, T_REF, TAU, FLOOR)
    assert times.shape == active.shape == (4, 8, 8, 5)


@pytest.mark.parametrize("n_neurons", [3, 5, 9])
def test_population_peak_at_nearest_centre_and_monotone(n_neurons: int) -> None:
    """Neuron nearest xi responds most; at xi = c_k it responds exactly 1 and fires first,
    and responses fall off monotonically with distance from the peak on both sides."""
    centres = np.linspace(0.0, 1.0, n_neurons)
    sigma = 0.15
    # Exact peak 1 at each centre, earliest spike from that neuron.
    resp = population_responses(centres.astype(np.float32), n_neurons, sigma)
    for k in range(n_neurons):
        assert resp[k, k] == 1.0
        assert np.argmax(resp[k]) == k
        left, right = resp[k, : k + 1], resp[k, k:]
        assert np.all(np.diff(left) > 0) and np.all(np.diff(right) < 0)
    times, active = latency_code(resp, T_REF, TAU, FLOOR)
    np.testing.assert_array_equal(np.diag(times), np.full(n_neurons, T_REF - TAU, np.float32))
    assert np.all(np.argmin(times, axis=1) == np.arange(n_neurons))
    # Any intensity: the peak neuron is the one whose centre is nearest.
    xi = np.random.default_rng(4).uniform(size=500).astype(np.float32)
    resp = population_responses(xi, n_neurons, sigma)
    nearest = np.argmin(np.abs(xi[:, None] - centres[None, :]), axis=1)
    assert np.all(np.argmax(resp, axis=1) == nearest)
    for row, peak in zip(resp, nearest, strict=True):
        assert np.all(np.diff(row[: peak + 1]) >= 0) and np.all(np.diff(row[peak:]) <= 0)


# --- events: first-event latency per window x polarity x pixel ---------------------------------


def _events(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    """(x, y, t_us, p) rows -> structured event array."""
    out = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for i, (x, y, t, p) in enumerate(rows):
        out[i] = (x, y, t, p)
    return out


def test_event_first_latency_hand_made() -> None:
    """First event of each window x polarity x pixel fires at its in-window time scaled to
    [0, T_ref]; pixels without events are silent; events at/after the duration are ignored."""
    sensor = (4, 3)  # width 4, height 3: non-square catches x/y swaps
    duration_us, windows = 300.0, 3  # windows of 100 us
    events = _events(
        [
            (1, 2, 80, 1),  # window 0, later event of the same pixel listed first
            (1, 2, 50, 1),  # window 0: first -> 50/100 * 20 = 10 ms
            (1, 2, 60, 0),  # same pixel, other polarity -> 12 ms
            (3, 0, 120, 0),  # window 1 -> 20/100 * 20 = 4 ms
            (3, 0, 199, 0),  # window 1, later -> ignored
            (0, 1, 250, 1),  # window 2 -> 10 ms
            (2, 2, 300, 1),  # == duration -> ignored
            (2, 1, 950, 0),  # after the duration -> ignored
        ]
    )
    times, active = event_first_latency(events, sensor, windows, duration_us, T_REF)
    assert times.shape == active.shape == (3, 2, 3, 4)  # (windows, polarity, height, width)
    expected = np.full((3, 2, 3, 4), np.inf, dtype=np.float32)
    expected[0, 1, 2, 1] = 10.0
    expected[0, 0, 2, 1] = 12.0
    expected[1, 0, 0, 3] = 4.0
    expected[2, 1, 1, 0] = 10.0
    np.testing.assert_allclose(times, expected)
    np.testing.assert_array_equal(active, np.isfinite(expected))
    assert active.sum() == 4


def test_event_first_latency_no_events_is_silent() -> None:
    """An empty stream encodes to an all-silent sample."""
    times, active = event_first_latency(np.zeros(0, EVENT_DTYPE), (34, 34), 3, 300_000.0, T_REF)
    assert times.shape == (3, 2, 34, 34)
    assert not active.any() and np.all(np.isinf(times))


def test_event_count_intensity_max_is_one() -> None:
    """Counts per window x polarity x pixel are normalised by the sample's largest count."""
    events = _events(
        [(1, 1, 10, 1)] * 4 + [(2, 0, 20, 0)] * 2 + [(0, 0, 150, 1)] + [(3, 2, 400, 1)] * 9
    )  # the last 9 are after the duration
    counts = event_count_intensity(events, (4, 3), 3, 300.0)
    assert counts.shape == (3, 2, 3, 4)
    assert counts.max() == 1.0
    assert counts[0, 1, 1, 1] == 1.0
    assert counts[0, 0, 0, 2] == pytest.approx(0.5)
    assert counts[1, 1, 0, 0] == pytest.approx(0.25)
    assert np.count_nonzero(counts) == 3
    assert event_count_intensity(np.zeros(0, EVENT_DTYPE), (4, 3), 3, 300.0).max() == 0.0


# --- Poisson rate coding ---------------------------------------------------------------------


def test_poisson_rate_approaches_probability() -> None:
    """Empirical spike rate per input matches its probability (tolerance 0.03 = ~6 sigma at
    10,000 draws per input); p = 0 never spikes and p = 1 always does."""
    n, steps, dims = 50, 200, 41
    probability = np.tile(np.linspace(0.0, 1.0, dims, dtype=np.float32), (n, 1))
    spikes = poisson_spikes(probability, steps, np.random.default_rng(5))
    assert spikes.shape == (n, steps, dims) and spikes.dtype == bool
    rate = spikes.mean(axis=(0, 1))
    np.testing.assert_allclose(rate, probability[0], atol=0.03)
    assert not spikes[..., 0].any() and spikes[..., -1].all()
    assert abs(spikes.mean() - probability.mean()) < 0.005


def test_poisson_reproducible_with_seed() -> None:
    """The same seeded generator gives identical spikes; another seed gives different ones."""
    p = np.full((8, 30), 0.3, dtype=np.float32)
    a = poisson_spikes(p, 25, np.random.default_rng(42))
    b = poisson_spikes(p, 25, np.random.default_rng(42))
    c = poisson_spikes(p, 25, np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_encodings_for_datasets() -> None:
    """Population coding needs static intensities: offered for digits only."""
    assert encodings_for("digits") == ("latency", "population", "rate")
    assert encodings_for("nmnist") == ("latency", "rate")
    assert encodings_for("digits_saccade") == ("latency", "rate")


# --- encoded caches ---------------------------------------------------------------------------


def _tiny_event_dataset(
    tmp_path: Path, config: dict[str, Any], digit_images: tuple[np.ndarray, np.ndarray]
) -> tuple[Path, Path]:
    """A 60-sample digits_saccade archive + manifest built through the real prepare steps."""
    from beamnet.data.prepare import prepare_digits, prepare_digits_saccade, read_manifest

    prepare_digits(config, tmp_path / "digits.csv", tmp_path / "images.npz")
    with np.load(tmp_path / "images.npz") as data:
        subset = {k: data[k][:60] for k in ("images", "labels", "sample_ids")}
    write_npz(tmp_path / "images_small.npz", subset)
    read_manifest(tmp_path / "digits.csv").head(60).write_csv(tmp_path / "digits_small.csv")
    prepare_digits_saccade(
        config,
        tmp_path / "digits_small.csv",
        tmp_path / "images_small.npz",
        tmp_path / "saccade.csv",
        tmp_path / "events.npz",
    )
    return tmp_path / "events.npz", tmp_path / "saccade.csv"


def _encode(
    config: dict[str, Any], dataset: str, encoding: str, source: Path, manifest: Path, out_dir: Path
) -> list[Path]:
    outputs = [out_dir / f"{split}.npz" for split in SPLITS]
    encode_dataset(config, dataset, encoding, source, manifest, outputs)
    return outputs


@pytest.mark.parametrize("encoding", ["latency", "population", "rate"])
def test_digits_cache_byte_identical_twice(tmp_path: Path, default_config: dict[str, Any], encoding: str) -> None:
    """Reproducibility: encoding the same archive twice gives byte-identical caches (fixed zip
    timestamps, seeded Poisson draws), and the caches hold what they claim."""
    from beamnet.data.prepare import prepare_digits, read_manifest

    config = {"data": default_config["data"], "encoding": default_config["encoding"]}
    prepare_digits(config, tmp_path / "manifest.csv", tmp_path / "images.npz")
    first = _encode(config, "digits", encoding, tmp_path / "images.npz", tmp_path / "manifest.csv", tmp_path / "a")
    second = _encode(config, "digits", encoding, tmp_path / "images.npz", tmp_path / "manifest.csv", tmp_path / "b")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), f"{a.name} differs between two encodings"
    manifest = read_manifest(tmp_path / "manifest.csv")
    expected_shape = {"latency": [8, 8], "population": [8, 8, 5], "rate": [8, 8]}[encoding]
    seen = []
    for split, path in zip(SPLITS, first, strict=True):
        with np.load(path) as cache:
            assert cache["input_shape"].tolist() == expected_shape
            n = len(cache["labels"])
            assert len(cache["sample_ids"]) == n > 0
            assert str(cache["split"]) == split
            rows = manifest.filter(pl.col("split") == split)
            np.testing.assert_array_equal(cache["sample_ids"], rows["sample_id"].to_numpy())
            np.testing.assert_array_equal(cache["labels"], rows["label"].to_numpy())
            if encoding == "rate":
                steps = default_config["encoding"]["rate"]["steps"]
                assert cache["spikes"].shape == (n, steps, 64 // 8)
                assert cache["spikes"].dtype == np.uint8
            else:
                assert cache["spike_times"].shape == (n, int(np.prod(expected_shape)))
                np.testing.assert_array_equal(cache["active"], np.isfinite(cache["spike_times"]))
            record = json.loads(str(cache["provenance"]))
            assert record["config_hash"] == config_hash(config)
            assert record["git_commit"]
            seen.extend(cache["sample_ids"].tolist())
    assert sorted(seen) == list(range(1797))


def test_digits_latency_cache_decodes_to_images(
    tmp_path: Path, default_config: dict[str, Any], digit_images: tuple[np.ndarray, np.ndarray]
) -> None:
    """The latency cache is Eq. 7 applied to the digit images: decoding it gives them back."""
    from beamnet.data.prepare import prepare_digits

    config = {"data": default_config["data"], "encoding": default_config["encoding"]}
    prepare_digits(config, tmp_path / "manifest.csv", tmp_path / "images.npz")
    outputs = _encode(
        config, "digits", "latency", tmp_path / "images.npz", tmp_path / "manifest.csv", tmp_path / "cache"
    )
    images = digit_images[0].reshape(len(digit_images[0]), -1)
    with np.load(outputs[2]) as cache:
        xi = latency_to_intensity(
            cache["spike_times"], cache["active"], float(cache["t_ref_ms"]), float(cache["tau_ms"])
        )
        source = images[cache["sample_ids"]]
    floor = default_config["encoding"]["silence_floor"]
    expected = np.where(source >= floor, source, 0.0)
    np.testing.assert_allclose(xi, expected, atol=2e-6)


@pytest.mark.parametrize("encoding", ["latency", "rate"])
def test_event_cache_byte_identical_twice(
    tmp_path: Path, default_config: dict[str, Any], digit_images: tuple[np.ndarray, np.ndarray], encoding: str
) -> None:
    """Reproducibility for event data: same event archive -> byte-identical caches, with the
    (windows, polarity, height, width) input shape of the simulated sensor."""
    config = {"data": default_config["data"], "encoding": default_config["encoding"]}
    source, manifest = _tiny_event_dataset(tmp_path, config, digit_images)
    first = _encode(config, "digits_saccade", encoding, source, manifest, tmp_path / "a")
    second = _encode(config, "digits_saccade", encoding, source, manifest, tmp_path / "b")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), f"{a.name} differs between two encodings"
    width, height = default_config["data"]["digits_saccade"]["sensor_size"]
    windows = default_config["encoding"]["events"]["time_windows"]
    with np.load(first[0]) as cache:
        assert cache["input_shape"].tolist() == [windows, 2, height, width]
        n = len(cache["labels"])
        if encoding == "rate":
            n_inputs = windows * 2 * height * width
            assert int(cache["n_inputs"]) == n_inputs
            assert cache["spikes"].shape == (n, default_config["encoding"]["rate"]["steps"], -(-n_inputs // 8))
            assert np.unpackbits(cache["spikes"], axis=-1, count=n_inputs).any()
        else:
            assert cache["active"].any(axis=1).all()  # every digit fires somewhere


def test_encode_unknown_encoding_for_dataset(tmp_path: Path, default_config: dict[str, Any]) -> None:
    """Population coding of an event dataset is refused, naming the encoding and the dataset,
    and nothing is written."""
    outputs = [tmp_path / f"{s}.npz" for s in SPLITS]
    with pytest.raises(ValueError) as info:
        encode_dataset(
            default_config, "nmnist", "population", tmp_path / "events.npz", tmp_path / "manifest.csv", outputs
        )
    assert "'population'" in str(info.value) and "'nmnist'" in str(info.value)
    assert not any(p.exists() for p in outputs)
    with pytest.raises(ValueError, match="'phase'"):
        encode_dataset(default_config, "digits", "phase", tmp_path / "images.npz", tmp_path / "manifest.csv", outputs)


def test_cli_encode_unknown_encoding_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], default_config: dict[str, Any]
) -> None:
    """The CLI turns that error into exit code 2 and a one-line message naming the encoding."""
    from beamnet.cli import main

    config = json.dumps({"data": default_config["data"], "encoding": default_config["encoding"]})
    code = main(
        [
            "encode",
            "--dataset",
            "nmnist",
            "--encoding",
            "population",
            "--config-json",
            config,
            "--source",
            str(tmp_path / "e.npz"),
            "--manifest",
            str(tmp_path / "m.csv"),
            "--outputs",
            *(str(tmp_path / f"{s}.npz") for s in SPLITS),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "population" in err and "nmnist" in err and "Traceback" not in err


def test_encode_manifest_archive_mismatch(tmp_path: Path, default_config: dict[str, Any]) -> None:
    """A manifest listing a different number of samples than the archive is refused, naming both."""
    from beamnet.data.prepare import prepare_digits, read_manifest

    config = {"data": default_config["data"], "encoding": default_config["encoding"]}
    prepare_digits(config, tmp_path / "manifest.csv", tmp_path / "images.npz")
    read_manifest(tmp_path / "manifest.csv").head(100).write_csv(tmp_path / "short.csv")
    outputs = [tmp_path / f"{s}.npz" for s in SPLITS]
    with pytest.raises(ValueError) as info:
        encode_dataset(config, "digits", "latency", tmp_path / "images.npz", tmp_path / "short.csv", outputs)
    assert "short.csv" in str(info.value) and "images.npz" in str(info.value)
    assert not any(p.exists() for p in outputs)
