"""Component 1 (BEAM-Net §3.1): temporal spike encoders and the encoded spike caches.

Latency coding, Eq. 7: an intensity xi_i in [0, 1] fires once at

    t_i(xi) = T_ref - tau * xi_i,

so brighter inputs spike earlier; inputs with xi_i below a floor stay silent.

Population latency coding (W-TCRL §2.2, Fois & Girau 2023): each input is spread over l
neurons with Gaussian receptive fields centred on c_k = k / (l - 1); neuron k responds
r_k = exp(-(xi - c_k)^2 / (2 sigma^2)) and fires at T_ref - tau * r_k (silent below the floor).

Event streams (DVS): the first event of every pixel x polarity inside each of ``time_windows``
equal windows fires at its latency within the window, scaled to [0, T_ref]; pixels without an
event stay silent. Windows keep the three-saccade structure of N-MNIST.

Poisson rate coding (rate-coded SNN baseline, Tavanaei et al. 2018): at each of T steps input i
spikes with probability max_rate * xi_i (for events, xi_i is the pixel's event count in its
window divided by the sample's largest count).

Caches are ``results/cache/{dataset}/{encoding}/{split}.npz``, plain NumPy (readable without
torch, e.g. from the lava-nc environment), with labels, sample ids, the input shape, the coding
constants and provenance. They are written in chunks of samples, and their spike arrays are
stored uncompressed so that training and evaluation read them a batch at a time
(beamnet.io.open_npz_rows); neither step holds a whole split in memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from beamnet.config import EVENT_DATASETS, SPLITS, encodings_for
from beamnet.data.events import EventArchive
from beamnet.data.prepare import read_manifest
from beamnet.io import NpzStreamWriter, atomic_paths
from beamnet.progress import progress
from beamnet.provenance import provenance_json

MICROSECONDS_PER_MS = 1000.0


def latency_code(intensity: np.ndarray, t_ref: float, tau: float, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 7: spike times t = T_ref - tau * xi; inputs below ``floor`` are silent.

    Returns
    -------
    spike_times
        float32, same shape as ``intensity``; ``inf`` where silent.
    active
        bool mask of the inputs that fire.
    """
    active = intensity >= floor
    spike_times = np.where(active, t_ref - tau * intensity, np.inf).astype(np.float32)
    return spike_times, active


def latency_to_intensity(spike_times: np.ndarray, active: np.ndarray, t_ref: float, tau: float) -> np.ndarray:
    """Invert Eq. 7: xi = (T_ref - t) / tau for firing inputs, 0 for silent ones."""
    return np.where(active, (t_ref - np.where(active, spike_times, t_ref)) / tau, 0.0).astype(np.float32)


def population_responses(intensity: np.ndarray, neurons_per_input: int, sigma: float) -> np.ndarray:
    """W-TCRL §2.2 Gaussian receptive fields: shape ``intensity.shape + (l,)``, peak 1 at c_k = xi."""
    centres = np.linspace(0.0, 1.0, neurons_per_input, dtype=np.float32)
    return np.exp(-((intensity[..., None] - centres) ** 2) / (2.0 * sigma**2)).astype(np.float32)


def event_window_index(events: np.ndarray, time_windows: int, duration_us: float) -> tuple[np.ndarray, np.ndarray]:
    """Window of every event and the events inside the recording's duration (mask)."""
    window_us = duration_us / time_windows
    inside = (events["t"] >= 0) & (events["t"] < duration_us)
    window = np.minimum((events["t"] // window_us).astype(np.int64), time_windows - 1)
    return window, inside


def event_bins(
    events: np.ndarray, sensor_size: Sequence[int], time_windows: int, duration_us: float
) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray, np.ndarray]:
    """The (window, polarity, y, x) bin shape, each in-duration event's flat bin index, and every
    event's window and in-duration mask."""
    width, height = int(sensor_size[0]), int(sensor_size[1])
    shape = (time_windows, 2, height, width)
    window, inside = event_window_index(events, time_windows, duration_us)
    flat = np.ravel_multi_index(
        (
            window[inside],
            events["p"][inside].astype(np.int64),
            events["y"][inside].astype(np.int64),
            events["x"][inside].astype(np.int64),
        ),
        shape,
    )
    return shape, flat, window, inside


def event_first_latency(
    events: np.ndarray, sensor_size: Sequence[int], time_windows: int, duration_us: float, t_ref: float
) -> tuple[np.ndarray, np.ndarray]:
    """First-event latency per window x polarity x pixel, scaled to [0, T_ref] ms.

    Returns arrays of shape (time_windows, 2, height, width): spike times (``inf`` where silent)
    and the active mask.
    """
    shape, flat, window, inside = event_bins(events, sensor_size, time_windows, duration_us)
    window_us = duration_us / time_windows
    relative = (events["t"][inside] - window[inside] * window_us) / window_us * t_ref
    first = np.full(int(np.prod(shape)), np.inf)
    np.minimum.at(first, flat, relative)
    spike_times = first.reshape(shape).astype(np.float32)
    return spike_times, np.isfinite(spike_times)


def event_count_intensity(
    events: np.ndarray, sensor_size: Sequence[int], time_windows: int, duration_us: float
) -> np.ndarray:
    """Event counts per window x polarity x pixel, divided by the sample's largest count."""
    shape, flat, _, _ = event_bins(events, sensor_size, time_windows, duration_us)
    counts = np.bincount(flat, minlength=int(np.prod(shape))).astype(np.float32)
    return (counts / max(counts.max(), 1.0)).reshape(shape)


def poisson_spikes(probability: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli spikes, shape (n, steps, D), from per-step probabilities of shape (n, D)."""
    return rng.random((probability.shape[0], steps, probability.shape[1]), dtype=np.float32) < probability[:, None, :]


def _encode_block(
    kind: str,
    encoding: str,
    samples: Iterable[Any],
    settings: Mapping[str, Any],
    sensor_size: Sequence[int] | None,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Encode the samples of one split (images for ``kind == 'images'``, else event streams)."""
    t_ref, tau, floor = settings["t_ref_ms"], settings["tau_ms"], settings["silence_floor"]
    events_cfg = settings["events"]
    duration_us = events_cfg["duration_ms"] * MICROSECONDS_PER_MS
    if kind == "images":
        intensity = np.stack(list(samples)).astype(np.float32)
        if encoding == "population":
            pop = settings["population"]
            intensity = population_responses(intensity, pop["neurons_per_input"], pop["sigma"])
    elif encoding == "latency":
        windows = events_cfg["time_windows"]
        codes = [event_first_latency(ev, sensor_size, windows, duration_us, t_ref) for ev in samples]
        times, active = zip(*codes, strict=True)
        return {"spike_times": np.stack(times), "active": np.stack(active)}
    else:
        intensity = np.stack(
            [event_count_intensity(ev, sensor_size, events_cfg["time_windows"], duration_us) for ev in samples]
        )
    if encoding in ("latency", "population"):
        spike_times, active = latency_code(intensity, t_ref, tau, floor)
        return {"spike_times": spike_times, "active": active}
    rate = settings["rate"]
    flat = intensity.reshape(len(intensity), -1)
    spikes = poisson_spikes(rate["max_rate"] * flat, rate["steps"], rng)
    return {
        "spikes": np.packbits(spikes, axis=-1),
        "n_inputs": np.array(flat.shape[1]),
        "input_shape_rate": np.array(intensity.shape[1:]),
    }


def _chunks(members: np.ndarray, chunk_samples: int) -> Iterable[np.ndarray]:
    """``members`` in consecutive chunks of at most ``chunk_samples``."""
    for start in range(0, len(members), chunk_samples):
        yield members[start : start + chunk_samples]


def encode_split(
    writer: NpzStreamWriter,
    kind: str,
    encoding: str,
    members: np.ndarray,
    get_sample: Callable[[int], Any],
    settings: Mapping[str, Any],
    sensor_size: Sequence[int] | None,
    rng: np.random.Generator,
    chunk_samples: int,
    label: str,
) -> tuple[int, ...]:
    """Encode the samples ``members`` chunk by chunk into ``writer``; returns the per-sample
    input shape. The chunk size never changes the arrays written: every encoder is per sample,
    and the Poisson draws consume one generator in sample order whatever the chunking."""
    input_shape: tuple[int, ...] = ()
    samples = progress((get_sample(int(i)) for i in members), label, len(members), "sample")
    for chunk in _chunks(members, chunk_samples):
        block = _encode_block(kind, encoding, itertools.islice(samples, len(chunk)), settings, sensor_size, rng)
        first = next(iter(block.values()))
        input_shape = tuple(int(v) for v in block.pop("input_shape_rate", np.array(first.shape[1:])))
        if "spike_times" in block:
            block = {k: v.reshape(len(chunk), -1) for k, v in block.items()}
        if "n_inputs" in block:
            writer.put("n_inputs", block.pop("n_inputs"))
        for name, rows in block.items():
            writer.append(name, rows)
    return input_shape


def encode_dataset(
    config: Mapping[str, Any],
    dataset: str,
    encoding: str,
    source: Path,
    manifest_path: Path,
    outputs: Sequence[Path],
    chunk_samples: int = 256,
) -> None:
    """Encode every split of ``dataset`` and write the three caches atomically (all or none).

    Samples are read and encoded ``chunk_samples`` at a time and spooled to disk, so memory
    does not grow with the dataset; the caches' bytes do not depend on ``chunk_samples``.

    Parameters
    ----------
    source
        ``images.npz`` (digits) or ``events.npz`` (event datasets) from the prepare step.
    outputs
        Cache paths for train, val and test, in that order.
    chunk_samples
        Samples per chunk (>= 1).
    """
    if encoding not in encodings_for(dataset):
        raise ValueError(
            f"encoding '{encoding}' is not available for dataset '{dataset}': "
            f"expected one of {list(encodings_for(dataset))}"
        )
    if int(chunk_samples) < 1:
        raise ValueError(f"chunk size {chunk_samples} (--chunk-samples): expected an integer >= 1")
    settings = config["encoding"]
    manifest = read_manifest(manifest_path)
    split_of = manifest["split"].to_numpy()
    if dataset in EVENT_DATASETS:
        archive = EventArchive(source)
        kind, sensor_size = "events", archive.sensor_size
        labels, ids = np.asarray(archive.targets), np.arange(len(archive))
        get_sample = lambda i: archive[i][0]  # noqa: E731
    else:
        with np.load(source) as data:
            images, labels, ids = data["images"], data["labels"], data["sample_ids"]
        kind, sensor_size = "images", None
        get_sample = lambda i: images[i]  # noqa: E731
    if len(split_of) != len(labels):
        raise ValueError(
            f"manifest '{manifest_path}' lists {len(split_of)} samples but "
            f"'{source}' holds {len(labels)}: rebuild them together"
        )
    n_classes = int(labels.max()) + 1  # the dataset's class count, the same in each of its caches
    with atomic_paths(*outputs) as temps:
        for split_index, (split, temp) in enumerate(zip(SPLITS, temps, strict=True)):
            members = np.flatnonzero(split_of == split)
            if not len(members):
                raise ValueError(f"manifest '{manifest_path}' puts no sample in the {split} split of '{dataset}'")
            rng = np.random.default_rng([config["data"]["split_seed"], split_index])
            with NpzStreamWriter(temp.parent) as writer:
                input_shape = encode_split(
                    writer,
                    kind,
                    encoding,
                    members,
                    get_sample,
                    settings,
                    sensor_size,
                    rng,
                    int(chunk_samples),
                    f"encode {dataset} {encoding} {split}",
                )
                metadata = {
                    "labels": labels[members].astype(np.int64),
                    "n_classes": np.array(n_classes),
                    "sample_ids": ids[members].astype(np.int64),
                    "input_shape": np.asarray(input_shape, dtype=np.int64),
                    "dataset": np.array(dataset),
                    "encoding": np.array(encoding),
                    "split": np.array(split),
                    "t_ref_ms": np.array(settings["t_ref_ms"]),
                    "tau_ms": np.array(settings["tau_ms"]),
                    "dt_ms": np.array(settings["dt_ms"]),
                    "rate_steps": np.array(settings["rate"]["steps"]),
                    "provenance": np.array(provenance_json(config, dataset=dataset, encoding=encoding, split=split)),
                }
                for name, value in metadata.items():
                    writer.put(name, value)
                writer.write(temp)
