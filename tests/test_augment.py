"""Training-time augmentation and spatial pooling against their event-level definitions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from beamnet.augment import augment_batch, augmentation_enabled
from beamnet.config import ConfigError, validate_schema
from beamnet.data.nmnist import read_recording
from beamnet.encoding import event_first_latency, latency_to_intensity
from beamnet.models.encoder import EncodedSplit, pool_inputs
from tests.conftest import first_recording, nmnist_present

SENSOR = (34, 34)
WINDOWS, DURATION_US, T_REF, TAU = 3, 300_000.0, 20.0, 20.0


def _split(events_list: list[np.ndarray], sensor: tuple[int, int] = SENSOR) -> EncodedSplit:
    """An event-latency split built the way the encoder builds one (first event per bin)."""
    encoded = [event_first_latency(events, sensor, WINDOWS, DURATION_US, T_REF) for events in events_list]
    times = np.stack([t for t, _ in encoded]).reshape(len(encoded), -1)
    active = np.stack([a for _, a in encoded]).reshape(len(encoded), -1)
    intensity = latency_to_intensity(times, active, T_REF, TAU)
    n = len(encoded)
    return EncodedSplit(
        spike_times=torch.from_numpy(np.where(active, times, 0.0).astype(np.float32)),
        active=torch.from_numpy(active),
        intensity=torch.from_numpy(intensity),
        spikes=None,
        labels=torch.zeros(n, dtype=torch.int64),
        sample_ids=torch.arange(n),
        input_shape=(WINDOWS, 2, sensor[1], sensor[0]),
        encoding="latency",
        dataset="nmnist",
        t_ref_ms=T_REF,
        tau_ms=TAU,
    )


def _random_events(seed: int, count: int = 600) -> np.ndarray:
    rng = np.random.default_rng(seed)
    events = np.zeros(count, dtype=[("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
    events["x"], events["y"] = rng.integers(0, SENSOR[0], count), rng.integers(0, SENSOR[1], count)
    events["t"], events["p"] = np.sort(rng.integers(0, int(DURATION_US), count)), rng.integers(0, 2, count)
    return events


@pytest.fixture(scope="module")
def recordings(nmnist_root: Path) -> list[np.ndarray]:
    """Two real N-MNIST recordings (or random events where the shared data are absent)."""
    if not nmnist_present():
        return [_random_events(0), _random_events(1)]
    return [read_recording(first_recording(nmnist_root, "Train", digit)) for digit in (0, 7)]


def test_pooling_equals_tonic_downsample_before_the_first_event_code(recordings) -> None:
    """Pooling 2 x 2 blocks of the latency cache = tonic's Downsample(spatial_factor=0.5) on the
    events, then the first-event latency code on the 17 x 17 sensor."""
    import tonic

    downsample = tonic.transforms.Downsample(spatial_factor=0.5)
    pooled = pool_inputs(_split(recordings), 2)
    reference = _split([downsample(events) for events in recordings], sensor=(17, 17))
    assert pooled.input_shape == reference.input_shape == (WINDOWS, 2, 17, 17)
    assert torch.equal(pooled.active, reference.active)
    assert torch.equal(pooled.spike_times, reference.spike_times)
    torch.testing.assert_close(pooled.intensity, reference.intensity)
    assert pooled.active.sum() < _split(recordings).active.sum()  # fewer inputs fire


@pytest.mark.parametrize("factor", [3, 0])
def test_a_pooling_factor_that_does_not_fit_the_sensor_is_refused_by_name(recordings, factor: int) -> None:
    with pytest.raises(ValueError, match=r"model\.beam_net\.input_pool.*" + str(factor)):
        pool_inputs(_split(recordings), factor)


def test_a_shift_equals_the_encoding_of_shifted_events(recordings) -> None:
    """The cache-level shift is the first-event code of events moved by (dy, dx), those leaving
    the sensor dropped (module docstring of beamnet.augment)."""
    events = recordings[0]
    generator = torch.Generator().manual_seed(5)
    shifted = augment_batch(_split([events]), {"shift_px": 2}, generator)
    offsets = torch.randint(-2, 3, (1, 2), generator=torch.Generator().manual_seed(5))
    dy, dx = int(offsets[0, 0]), int(offsets[0, 1])
    moved = events.copy()
    moved["x"], moved["y"] = moved["x"] + dx, moved["y"] + dy
    inside = (moved["x"] >= 0) & (moved["x"] < SENSOR[0]) & (moved["y"] >= 0) & (moved["y"] < SENSOR[1])
    reference = _split([moved[inside]])
    assert (dy, dx) != (0, 0)
    assert torch.equal(shifted.active, reference.active)
    assert torch.equal(shifted.spike_times, reference.spike_times)
    torch.testing.assert_close(shifted.intensity, reference.intensity)


def test_jitter_moves_times_within_bounds_and_keeps_eq7(recordings) -> None:
    """Jittered spike times stay in [0, T_ref], silent inputs stay silent, and the intensities
    still invert Eq. 7 (xi = (T_ref - t) / tau) for the new times."""
    batch = _split(recordings)
    out = augment_batch(batch, {"time_jitter_ms": 2.0}, torch.Generator().manual_seed(1))
    assert torch.equal(out.active, batch.active)
    moved = out.spike_times[out.active]
    assert float(moved.min()) >= 0.0 and float(moved.max()) <= T_REF
    assert not torch.equal(out.spike_times, batch.spike_times)
    expected = latency_to_intensity(out.spike_times.numpy(), out.active.numpy(), T_REF, TAU)
    torch.testing.assert_close(out.intensity, torch.from_numpy(expected), atol=1e-5, rtol=0)


def test_drop_silences_the_asked_fraction_of_firing_inputs(recordings) -> None:
    """Each firing input drops with probability p: the dropped count is Binomial(n, p), so it
    lies within 4.5 standard deviations of n p (a false alarm once in ~150,000 runs)."""
    batch = _split(recordings)
    fraction = 0.25
    out = augment_batch(batch, {"drop_fraction": fraction}, torch.Generator().manual_seed(2))
    firing = int(batch.active.sum())
    dropped = firing - int(out.active.sum())
    assert not bool((out.active & ~batch.active).any())  # nothing silent starts firing
    assert abs(dropped - firing * fraction) <= 4.5 * np.sqrt(firing * fraction * (1 - fraction))
    assert bool((out.spike_times[~out.active] == 0).all()) and bool((out.intensity[~out.active] == 0).all())


def test_augmentation_is_reproducible_from_the_generator(recordings) -> None:
    settings = {"shift_px": 2, "time_jitter_ms": 1.0, "drop_fraction": 0.1}
    first = augment_batch(_split(recordings), settings, torch.Generator().manual_seed(9))
    second = augment_batch(_split(recordings), settings, torch.Generator().manual_seed(9))
    assert torch.equal(first.spike_times, second.spike_times) and torch.equal(first.active, second.active)
    assert augmentation_enabled(settings) and not augmentation_enabled(
        {"shift_px": 0, "time_jitter_ms": 0.0, "drop_fraction": 0.0}
    )


def test_rate_cache_shift_moves_every_time_step() -> None:
    """A Poisson rate cache (B, T, D) shifts each step's grid alike; its intensity is the mean."""
    spikes = torch.zeros(1, 4, WINDOWS * 2 * 6 * 6, dtype=torch.bool)
    grid = spikes.view(1, 4, WINDOWS, 2, 6, 6)
    grid[0, :, 1, 0, 2, 3] = True
    batch = EncodedSplit(
        spike_times=None,
        active=None,
        intensity=spikes.float().mean(1),
        spikes=spikes,
        labels=torch.zeros(1, dtype=torch.int64),
        sample_ids=torch.arange(1),
        input_shape=(WINDOWS, 2, 6, 6),
        encoding="rate",
        dataset="nmnist",
        t_ref_ms=T_REF,
    )
    out = augment_batch(batch, {"shift_px": 1}, torch.Generator().manual_seed(0))
    offsets = torch.randint(-1, 2, (1, 2), generator=torch.Generator().manual_seed(0))
    moved = out.spikes.view(1, 4, WINDOWS, 2, 6, 6)
    y, x = 2 + int(offsets[0, 0]), 3 + int(offsets[0, 1])
    assert bool(moved[0, :, 1, 0, y, x].all()) and int(moved.sum()) == 4
    torch.testing.assert_close(out.intensity, out.spikes.float().mean(1))


@pytest.mark.parametrize(("key", "value"), [("drop_fraction", 1.0), ("shift_px", -1), ("time_jitter_ms", -0.5)])
def test_out_of_range_augmentation_is_refused_by_name(default_config, key: str, value: float) -> None:
    config = replace_augment(default_config, key, value)
    with pytest.raises(ConfigError, match=rf"model\.ann_mlp\.augment\.{key}"):
        validate_schema(config)


def replace_augment(config: dict, key: str, value: float) -> dict:
    config["model"]["ann_mlp"]["augment"] = {**config["model"]["ann_mlp"]["augment"], key: value}
    return config


def test_pooling_keeps_labels_and_ids(recordings) -> None:
    batch = replace(_split(recordings), labels=torch.tensor([3, 8]), sample_ids=torch.tensor([11, 12]))
    pooled = pool_inputs(batch, 2)
    assert torch.equal(pooled.labels, batch.labels) and torch.equal(pooled.sample_ids, batch.sample_ids)
