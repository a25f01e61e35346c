"""Datasets (beamnet.data): seeded stratified splits, simulated-saccade events, real N-MNIST
decoding, event archives, bad-input errors and atomic writes (beamnet.io)."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import first_recording, nmnist_event_bytes

from beamnet.data.events import EVENT_DTYPE, EventArchive, pack_events
from beamnet.data.nmnist import NMNISTDataError, NMNISTFolder, nmnist_available, read_recording, resolve_root
from beamnet.data.saccade import simulate_saccade_events
from beamnet.data.splits import stratified_split
from beamnet.io import atomic_paths, save_many_npz_atomic, write_npz

# --- stratified_split ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    from beamnet.data.digits import load_digit_images

    return load_digit_images()[1]


def test_split_deterministic_for_seed(labels: np.ndarray) -> None:
    """The same labels and seed give the same assignment; another seed gives another."""
    a = stratified_split(labels, 0.15, 0.2, seed=7)
    b = stratified_split(labels, 0.15, 0.2, seed=7)
    c = stratified_split(labels, 0.15, 0.2, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_split_proportions_disjoint_and_complete(labels: np.ndarray) -> None:
    """Per class, test/val sizes equal round(fraction * n_c); every sample is in exactly one split."""
    val_fraction, test_fraction = 0.15, 0.2
    split = stratified_split(labels, val_fraction, test_fraction, seed=20260416)
    assert split.shape == labels.shape
    assert set(np.unique(split)) == {"train", "val", "test"}  # all assigned, to known splits only
    # No overlap by construction of a single label per sample; check index sets partition.
    parts = [set(np.flatnonzero(split == s)) for s in ("train", "val", "test")]
    assert sum(len(p) for p in parts) == len(labels)
    assert set().union(*parts) == set(range(len(labels)))
    for label in np.unique(labels):
        in_class = split[labels == label]
        n_c = len(in_class)
        n_test, n_val = np.sum(in_class == "test"), np.sum(in_class == "val")
        assert n_test == round(test_fraction * n_c)
        assert n_val == round(val_fraction * n_c)
        assert abs(n_test - test_fraction * n_c) <= 0.5 and abs(n_val - val_fraction * n_c) <= 0.5
        assert np.sum(in_class == "train") == n_c - n_test - n_val > 0


def test_split_rejects_fractions_leaving_no_train() -> None:
    """val_fraction + test_fraction >= 1 leaves no training data and is refused."""
    with pytest.raises(ValueError, match="val_fraction"):
        stratified_split(np.zeros(10, dtype=int), 0.5, 0.5, seed=0)


# --- simulated saccades ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def saccade_settings() -> dict[str, Any]:
    from conftest import CONFIG_PATH

    from beamnet.config import load_config

    return dict(load_config(CONFIG_PATH)["data"]["digits_saccade"])


@pytest.fixture(scope="module")
def few_digits(digit_images: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return digit_images[0][:6]


def test_saccade_events_properties(few_digits: np.ndarray, saccade_settings: dict[str, Any]) -> None:
    """Saccade DVS model: both polarities, coordinates on the sensor, time-ordered stream, all
    timestamps within the three saccades (3 * saccade_duration_ms)."""
    streams, sensor = simulate_saccade_events(few_digits, saccade_settings, seed=0)
    width, height = saccade_settings["sensor_size"]
    assert sensor == (width, height, 2)
    assert len(streams) == len(few_digits)
    limit_us = 3 * saccade_settings["saccade_duration_ms"] * 1000
    for events in streams:
        assert events.dtype == EVENT_DTYPE
        assert len(events) > 100
        assert set(np.unique(events["p"]).tolist()) == {0, 1}
        assert events["x"].min() >= 0 and events["x"].max() < width
        assert events["y"].min() >= 0 and events["y"].max() < height
        assert np.all(np.diff(events["t"]) >= 0)
        assert events["t"].min() >= 0 and events["t"].max() < limit_us
        # Each saccade leg moves the image, so every one of the three saccades emits events.
        legs = np.bincount(events["t"] // (limit_us // 3), minlength=3)
        assert np.all(legs[:3] > 0)


def test_saccade_non_square_sensor(few_digits: np.ndarray, saccade_settings: dict[str, Any]) -> None:
    """Width and height are not swapped: on a 28x20 sensor x spans past 20 only if x is the width."""
    settings = dict(saccade_settings, sensor_size=[28, 20])
    streams, sensor = simulate_saccade_events(few_digits, settings, seed=0)
    assert sensor == (28, 20, 2)
    xs = np.concatenate([s["x"] for s in streams])
    ys = np.concatenate([s["y"] for s in streams])
    assert xs.max() < 28 and ys.max() < 20
    assert xs.max() >= 20  # image is centred at column ~(28 - 16 - 2) // 2 = 5, spans to ~23


def test_saccade_blank_image_in_batch_is_silent(few_digits: np.ndarray, saccade_settings: dict[str, Any]) -> None:
    """A blank image has no log-intensity change, so it emits (almost) no events."""
    batch = np.concatenate([few_digits[:2], np.zeros((1, 8, 8), np.float32)])
    streams, _ = simulate_saccade_events(batch, saccade_settings, seed=0)
    assert len(streams[2]) <= 5
    assert len(streams[0]) > 100


def test_saccade_blank_image_alone_is_silent(saccade_settings: dict[str, Any]) -> None:
    """A batch holding only a blank image returns one empty, well-typed stream."""
    streams, _ = simulate_saccade_events(np.zeros((1, 8, 8), np.float32), saccade_settings, seed=0)
    assert len(streams) == 1 and len(streams[0]) == 0 and streams[0].dtype == EVENT_DTYPE


def test_saccade_reproducible_bytes(few_digits: np.ndarray, saccade_settings: dict[str, Any]) -> None:
    """The same images and seed give byte-identical streams; another seed changes the jitter."""
    a, _ = simulate_saccade_events(few_digits, saccade_settings, seed=3)
    b, _ = simulate_saccade_events(few_digits, saccade_settings, seed=3)
    c, _ = simulate_saccade_events(few_digits, saccade_settings, seed=4)
    assert [s.tobytes() for s in a] == [s.tobytes() for s in b]
    assert [s.tobytes() for s in a] != [s.tobytes() for s in c]


def test_saccade_sensor_too_small_names_key(few_digits: np.ndarray, saccade_settings: dict[str, Any]) -> None:
    """A sensor too small for the up-scaled image plus the saccade path is refused, naming the key."""
    settings = dict(saccade_settings, sensor_size=[16, 16])
    with pytest.raises(ValueError, match=r"data\.digits_saccade\.sensor_size"):
        simulate_saccade_events(few_digits, settings, seed=0)


# --- event archives ---------------------------------------------------------------------------


def test_event_archive_roundtrip(tmp_path: Path, few_digits: np.ndarray, saccade_settings: dict[str, Any]) -> None:
    """pack_events + write_npz + EventArchive returns every stream unchanged, with its label."""
    streams, sensor = simulate_saccade_events(few_digits, saccade_settings, seed=0)
    streams.insert(2, np.zeros(0, EVENT_DTYPE))  # an empty stream keeps its slot
    labels = np.arange(len(streams), dtype=np.int64)
    write_npz(tmp_path / "events.npz", pack_events(streams) | {"labels": labels, "sensor_size": np.array(sensor)})
    archive = EventArchive(tmp_path / "events.npz")
    assert len(archive) == len(streams) and archive.sensor_size == sensor
    for i, stream in enumerate(streams):
        events, label = archive[i]
        assert label == i
        assert events.tobytes() == stream.tobytes()


def test_event_archive_missing_arrays(tmp_path: Path) -> None:
    """An archive lacking required arrays is refused, naming the file and what is missing."""
    path = tmp_path / "broken.npz"
    write_npz(path, {"x": np.zeros(1)})
    with pytest.raises(ValueError) as info:
        EventArchive(path)
    assert "broken.npz" in str(info.value) and "offsets" in str(info.value)


# --- real N-MNIST -----------------------------------------------------------------------------


def test_nmnist_recording_decodes(nmnist_root: Path) -> None:
    """A real recording: 34x34 coordinates, ~300 ms (250-350 ms), >1000 events, both polarities."""
    events = read_recording(first_recording(nmnist_root))
    assert events.dtype == EVENT_DTYPE
    assert len(events) > 1000
    assert events["x"].min() >= 0 and events["x"].max() < 34
    assert events["y"].min() >= 0 and events["y"].max() < 34
    assert 250_000 <= events["t"].max() <= 350_000
    assert np.all(np.diff(events["t"]) >= 0)
    assert set(np.unique(events["p"]).tolist()) == {0, 1}


def test_nmnist_folder_counts_and_classes(nmnist_root: Path) -> None:
    """NMNISTFolder: 700 train and 100 test recordings, 10 classes with at least one file each,
    and every recording decodes to a plausible N-MNIST sample."""
    train, test = NMNISTFolder(nmnist_root, "train"), NMNISTFolder(nmnist_root, "test")
    assert (len(train), len(test)) == (700, 100)
    assert NMNISTFolder.sensor_size == (34, 34, 2)
    for dataset in (train, test):
        counts = np.bincount(dataset.targets, minlength=10)
        assert len(counts) == 10 and np.all(counts >= 1)
        # targets follow the digit folder of each file
        assert all(int(path.parent.name) == t for path, t in zip(dataset.files, dataset.targets, strict=True))
    for dataset in (train, test):
        for i in range(0, len(dataset), 25):
            events, target = dataset[i]
            assert target == dataset.targets[i]
            assert len(events) > 1000
            assert events["x"].max() < 34 and events["y"].max() < 34
            assert 250_000 <= events["t"].max() <= 350_000


def test_nmnist_resolve_root_existing(nmnist_root: Path, tmp_path: Path) -> None:
    """An existing root is used as is, without downloading."""
    assert resolve_root(str(nmnist_root), False, tmp_path / "dl") == nmnist_root
    assert nmnist_available(str(nmnist_root), False)
    assert not (tmp_path / "dl").exists()


# --- bad input: each error names the file or key at fault ------------------------------------------


def test_truncated_recording(nmnist_root: Path, tmp_path: Path) -> None:
    """A recording cut by 2 bytes (not a multiple of 5) is refused as truncated, naming the file."""
    path = tmp_path / "cut.bin"
    data = first_recording(nmnist_root).read_bytes()
    path.write_bytes(data[:-2])
    with pytest.raises(NMNISTDataError, match="truncated") as info:
        read_recording(path)
    assert str(path) in str(info.value)


def test_empty_recording(tmp_path: Path) -> None:
    """An empty .bin is refused as empty, naming the file."""
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    with pytest.raises(NMNISTDataError, match="empty") as info:
        read_recording(path)
    assert str(path) in str(info.value)


def test_corrupt_recording_coordinates(tmp_path: Path) -> None:
    """5-byte events with coordinates >= 34 are refused as corrupt, naming the file."""
    path = tmp_path / "corrupt.bin"
    path.write_bytes(nmnist_event_bytes([(3, 4, 1, 10), (50, 60, 0, 20), (5, 6, 1, 30)]))
    with pytest.raises(NMNISTDataError, match="corrupt") as info:
        read_recording(path)
    assert str(path) in str(info.value) and "34" in str(info.value)


def test_corrupt_recording_time_backwards(tmp_path: Path) -> None:
    """Timestamps that go backwards are refused as corrupt."""
    path = tmp_path / "backwards.bin"
    path.write_bytes(nmnist_event_bytes([(3, 4, 1, 500), (5, 6, 0, 100)]))
    with pytest.raises(NMNISTDataError, match="backwards") as info:
        read_recording(path)
    assert str(path) in str(info.value)


def test_crafted_recording_decodes_exactly(tmp_path: Path) -> None:
    """The 5-byte format round-trips: x, y, polarity and 23-bit timestamps decode exactly."""
    rows = [(0, 0, 0, 0), (33, 1, 1, 70_000), (2, 33, 0, 300_123)]
    path = tmp_path / "ok.bin"
    path.write_bytes(nmnist_event_bytes(rows))
    events = read_recording(path)
    assert [(int(e["x"]), int(e["y"]), int(e["p"]), int(e["t"])) for e in events] == rows


def _fake_root(tmp_path: Path, source: Path, empty: tuple[str, int] | None = None) -> Path:
    root = tmp_path / "nmnist"
    for split in ("Train", "Test"):
        for digit in range(10):
            folder = root / split / str(digit)
            folder.mkdir(parents=True)
            if (split, digit) != empty:
                shutil.copyfile(source, folder / "00001.bin")
    return root


def test_empty_class_folder(nmnist_root: Path, tmp_path: Path) -> None:
    """A root whose Train/7 holds no recordings is refused, naming that class folder."""
    root = _fake_root(tmp_path, first_recording(nmnist_root), empty=("Train", 7))
    with pytest.raises(NMNISTDataError) as info:
        NMNISTFolder(root, "train")
    assert str(root / "Train" / "7") in str(info.value)
    assert len(NMNISTFolder(root, "test")) == 10  # the intact split still loads


def test_missing_split_folder_and_bad_split(tmp_path: Path) -> None:
    """A root without Train/ is refused naming the folder; an unknown split name is refused."""
    with pytest.raises(NMNISTDataError) as info:
        NMNISTFolder(tmp_path, "train")
    assert str(tmp_path / "Train") in str(info.value)
    with pytest.raises(NMNISTDataError, match="'val'"):
        NMNISTFolder(tmp_path, "val")


def test_missing_root_without_download(tmp_path: Path) -> None:
    """resolve_root on a missing root with download disabled names the root and the config keys,
    and downloads nothing."""
    missing = tmp_path / "no_such_root"
    with pytest.raises(NMNISTDataError) as info:
        resolve_root(str(missing), False, tmp_path / "dl")
    message = str(info.value)
    assert str(missing) in message
    assert "data.nmnist.root" in message and "data.nmnist.download" in message
    assert not (tmp_path / "dl").exists()
    assert not nmnist_available(str(missing), False)
    with pytest.raises(NMNISTDataError, match="data.nmnist.root"):
        resolve_root(None, False, tmp_path / "dl")


def test_prepare_nmnist_missing_root_via_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], default_config: dict[str, Any]
) -> None:
    """The prepare step fails with exit code 2, a one-line error naming the root, and no outputs."""
    import json

    from beamnet.cli import main

    default_config["data"]["nmnist"]["root"] = str(tmp_path / "absent")
    outputs = (tmp_path / "manifest.csv", tmp_path / "events.npz")
    code = main(
        [
            "prepare",
            "--dataset",
            "nmnist",
            "--config-json",
            json.dumps({"data": default_config["data"]}),
            "--manifest",
            str(outputs[0]),
            "--output",
            str(outputs[1]),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "absent") in err and "Traceback" not in err
    assert not any(p.exists() for p in outputs)


# --- atomic writes (beamnet.io) -----------------------------------------------------------------


def test_atomic_paths_failure_leaves_nothing(tmp_path: Path) -> None:
    """An error inside atomic_paths leaves neither the final files nor any temporary file."""
    finals = [tmp_path / "out" / "a.npz", tmp_path / "out" / "b.csv"]
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_paths(*finals) as temps:
            assert all(t.parent == finals[0].parent for t in temps)
            for temp in temps:
                temp.write_bytes(b"half-written")
            raise RuntimeError("boom")
    assert not any(p.exists() for p in finals)
    assert os.listdir(tmp_path / "out") == []


def test_atomic_paths_failure_keeps_previous_result(tmp_path: Path) -> None:
    """A failed rewrite leaves an existing result untouched."""
    final = tmp_path / "result.npz"
    final.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_paths(final) as (temp,):
            temp.write_bytes(b"new, incomplete")
            raise RuntimeError("killed")
    assert final.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["result.npz"]


def test_atomic_paths_success_renames_all(tmp_path: Path) -> None:
    """On success every final path holds its content and no temporary file remains."""
    finals = [tmp_path / "x.txt", tmp_path / "y.txt"]
    with atomic_paths(*finals) as temps:
        for temp, text in zip(temps, ("x", "y"), strict=True):
            temp.write_text(text)
    assert [p.read_text() for p in finals] == ["x", "y"]
    assert sorted(os.listdir(tmp_path)) == ["x.txt", "y.txt"]


def test_save_many_failure_writes_none(tmp_path: Path) -> None:
    """save_many_npz_atomic: when the second payload cannot be written, the first does not appear."""
    paths = [tmp_path / "train.npz", tmp_path / "val.npz"]
    bad = {"objects": np.array([{"a": 1}], dtype=object)}  # pickles are refused
    with pytest.raises(ValueError):
        save_many_npz_atomic(paths, [{"ok": np.arange(3)}, bad])
    assert os.listdir(tmp_path) == []


def test_save_many_rename_failure_writes_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """All-or-none also when the rename of the second file fails."""
    import beamnet.io

    real_replace = os.replace
    calls = {"n": 0}

    def flaky_replace(src: Any, dst: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(beamnet.io.os, "replace", flaky_replace)
    paths = [tmp_path / "train.npz", tmp_path / "val.npz"]
    with pytest.raises(OSError):
        save_many_npz_atomic(paths, [{"a": np.arange(3)}, {"b": np.arange(4)}])
    assert not any(p.exists() for p in paths)


def test_write_npz_fixed_timestamps_and_loadable(tmp_path: Path) -> None:
    """write_npz: np.load reads it back (no pickles), members carry the fixed 1980 timestamp,
    and writing the same arrays twice gives the same bytes."""
    arrays = {
        "b": np.arange(10, dtype=np.int64),
        "a": np.linspace(0, 1, 7, dtype=np.float32),
        "name": np.array("digits"),
    }
    write_npz(tmp_path / "one.npz", arrays)
    write_npz(tmp_path / "two.npz", dict(reversed(arrays.items())))
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.npz") as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    with np.load(tmp_path / "one.npz", allow_pickle=False) as loaded:
        for key, value in arrays.items():
            np.testing.assert_array_equal(loaded[key], value)
            assert loaded[key].dtype == value.dtype
