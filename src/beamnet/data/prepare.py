"""Build each dataset's raw arrays and its split manifest (the ``prepare_*`` rules).

Outputs per dataset, under ``results/datasets/{dataset}/``:

- ``manifest.csv``: sample_id, label, split (train/val/test), source;
- ``images.npz`` (digits) or ``events.npz`` (event datasets), with provenance.

Event datasets are written one recording at a time (beamnet.data.events.write_event_archive),
so preparing N-MNIST's 70,000 recordings needs no more memory than preparing 800.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from beamnet.data.digits import load_digit_images
from beamnet.data.dvs_gesture import GestureDataError, GestureFolder, has_gesture_layout
from beamnet.data.events import write_event_archive
from beamnet.data.nmnist import FOLDERS, NMNISTFolder, resolve_root
from beamnet.data.raw_manifest import check_against_manifest, manifest_sha256
from beamnet.data.saccade import simulate_saccade_events
from beamnet.data.splits import stratified_split
from beamnet.io import atomic_paths, write_npz
from beamnet.progress import progress
from beamnet.provenance import provenance_json

MANIFEST_COLUMNS = ("sample_id", "label", "split", "source")


def _write_outputs(
    manifest: pl.DataFrame, manifest_path: Path, arrays_path: Path, write_arrays: Callable[[Path], object]
) -> None:
    """Write the manifest and (through ``write_arrays``) the archive together: both appear, or
    neither does."""
    with atomic_paths(manifest_path, arrays_path) as (manifest_tmp, arrays_tmp):
        manifest.select(MANIFEST_COLUMNS).write_csv(manifest_tmp)
        write_arrays(arrays_tmp)


def _event_archive_writer(streams: Iterable[np.ndarray], arrays: Mapping[str, object]) -> Callable[[Path], int]:
    return lambda path: write_event_archive(path, streams, arrays)


def read_manifest(path: str | Path) -> pl.DataFrame:
    """Read a split manifest, checking its columns."""
    manifest = pl.read_csv(path)
    missing = set(MANIFEST_COLUMNS) - set(manifest.columns)
    if missing:
        raise ValueError(f"manifest '{path}' lacks columns {sorted(missing)}; expected {list(MANIFEST_COLUMNS)}")
    return manifest


def prepare_digits(config: Mapping[str, Any], manifest_path: Path, images_path: Path) -> None:
    """scikit-learn digits -> images.npz and a stratified seeded split."""
    images, labels = load_digit_images()
    settings = config["data"]["digits"]
    splits = stratified_split(labels, settings["val_fraction"], settings["test_fraction"], config["data"]["split_seed"])
    ids = np.arange(len(labels), dtype=np.int64)
    manifest = pl.DataFrame(
        {
            "sample_id": ids,
            "label": labels,
            "split": splits,
            "source": [f"sklearn.datasets.load_digits[{i}]" for i in ids],
        }
    )
    arrays = {
        "images": images,
        "labels": labels,
        "sample_ids": ids,
        "provenance": np.array(provenance_json(config, dataset="digits")),
    }
    _write_outputs(manifest, manifest_path, images_path, lambda path: write_npz(path, arrays))


def prepare_digits_saccade(
    config: Mapping[str, Any], digits_manifest: Path, digits_images: Path, manifest_path: Path, events_path: Path
) -> None:
    """Digits seen through simulated saccades -> events.npz; splits follow the digits manifest."""
    with np.load(digits_images) as archive:
        images, labels, ids = archive["images"], archive["labels"], archive["sample_ids"]
    settings = config["data"]["digits_saccade"]
    streams, sensor_size = simulate_saccade_events(images, settings, config["data"]["split_seed"])
    source_manifest = read_manifest(digits_manifest)
    if not np.array_equal(source_manifest["sample_id"].to_numpy(), ids):
        raise ValueError(
            f"digits manifest '{digits_manifest}' and images '{digits_images}' "
            "list different samples: rebuild them together"
        )
    manifest = source_manifest.with_columns(pl.format("saccade-simulated {}", pl.col("source")).alias("source"))
    arrays = {
        "labels": labels,
        "sample_ids": ids,
        "sensor_size": np.array(sensor_size),
        "provenance": np.array(provenance_json(config, dataset="digits_saccade")),
    }
    _write_outputs(manifest, manifest_path, events_path, _event_archive_writer(streams, arrays))


def prepare_nmnist(
    config: Mapping[str, Any], manifest_path: Path, events_path: Path, raw_manifest: Path | None = None
) -> None:
    """N-MNIST recordings (validated one by one) -> events.npz; Train splits into train/val.

    With ``raw_manifest`` (beamnet.data.raw_manifest), the recordings read must be the ones it
    lists, and its digest goes into the archive's provenance."""
    settings = config["data"]["nmnist"]
    root = resolve_root(settings["root"], settings["download"], settings.get("download_dir", "data/raw"))
    train, test = NMNISTFolder(root, "train"), NMNISTFolder(root, "test")
    raw_digest = {}
    if raw_manifest is not None:
        check_against_manifest(root, itertools.chain(train.iter_files(), test.iter_files()), raw_manifest)
        raw_digest = {"raw_manifest_sha256": manifest_sha256(raw_manifest)}
    train_labels = np.asarray(train.targets)
    train_splits = stratified_split(train_labels, settings["val_fraction"], 0.0, config["data"]["split_seed"])
    sources = [f"{FOLDERS[split]}/{name}" for split, part in (("train", train), ("test", test)) for name in part.names]
    labels = np.concatenate([train_labels, np.asarray(test.targets)]).astype(np.int64)
    splits = np.concatenate([train_splits, np.full(len(test), "test")])
    streams = (  # read lazily: one recording in memory at a time
        events
        for dataset, name in ((train, "train"), (test, "test"))
        for events, _ in progress(
            (dataset[i] for i in range(len(dataset))), f"read N-MNIST {name}", len(dataset), "recording"
        )
    )
    ids = np.arange(len(sources), dtype=np.int64)
    manifest = pl.DataFrame({"sample_id": ids, "label": labels, "split": splits, "source": sources})
    arrays = {
        "labels": labels,
        "sample_ids": ids,
        "sensor_size": np.array(NMNISTFolder.sensor_size),
        "provenance": np.array(provenance_json(config, dataset="nmnist", root=str(root), **raw_digest)),
    }
    _write_outputs(manifest, manifest_path, events_path, _event_archive_writer(streams, arrays))


def prepare_dvs_gesture(config: Mapping[str, Any], manifest_path: Path, events_path: Path) -> None:
    """DVS Gesture recordings (beamnet.data.dvs_gesture, downsampled with tonic) -> events.npz;
    ibmGestureTrain splits into train/val, ibmGestureTest is the test split."""
    settings = config["data"]["dvs_gesture"]
    root = settings["root"]
    if not has_gesture_layout(root):
        raise GestureDataError(
            f"DVS Gesture root '{root}' (config key data.dvs_gesture.root) holds no ibmGestureTrain/ and "
            "ibmGestureTest/ folders: point it at tonic's DVSGesture folder"
        )
    factors = {"spatial_factor": settings["spatial_factor"], "time_factor": settings["time_factor"]}
    train, test = GestureFolder(root, "train", **factors), GestureFolder(root, "test", **factors)
    train_labels = np.asarray(train.targets)
    train_splits = stratified_split(train_labels, settings["val_fraction"], 0.0, config["data"]["split_seed"])
    files = train.files + test.files
    labels = np.concatenate([train_labels, np.asarray(test.targets)]).astype(np.int64)
    ids = np.arange(len(files), dtype=np.int64)
    manifest = pl.DataFrame(
        {
            "sample_id": ids,
            "label": labels,
            "split": np.concatenate([train_splits, np.full(len(test), "test")]),
            "source": [str(Path(f).relative_to(root)) for f in files],
        }
    )
    streams = (
        events
        for folder, name in ((train, "train"), (test, "test"))
        for events, _ in progress(
            (folder[i] for i in range(len(folder))), f"read DVS Gesture {name}", len(folder), "recording"
        )
    )
    arrays = {
        "labels": labels,
        "sample_ids": ids,
        "sensor_size": np.array(train.sensor_size),
        "provenance": np.array(provenance_json(config, dataset="dvs_gesture", root=str(root))),
    }
    _write_outputs(manifest, manifest_path, events_path, _event_archive_writer(streams, arrays))
