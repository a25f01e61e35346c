"""DVS Gesture (11 classes) through tonic: the reader, its checks, and the whole DAG on a small
synthetic root in the on-disk layout tonic's DVSGesture extracts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from workflow_helpers import copy_workflow, default_config_dict, snakemake, write_config

from beamnet.config import ConfigError, check_theory
from beamnet.data.dvs_gesture import (
    N_CLASSES,
    SENSOR_SIZE,
    GestureDataError,
    GestureFolder,
    downsampled_sensor,
    read_gesture,
)


def gesture_events(label: int, rng: np.random.Generator, n: int = 400) -> np.ndarray:
    """(n, 4) events x, y, p, t (ms) of a blob that circles a class-dependent centre for 6 s."""
    t = np.sort(rng.uniform(0.0, 6000.0, n))
    angle = 2 * np.pi * t / 2000.0 + label
    centre = 20 + 8 * (label % 4), 20 + 25 * (label // 4)
    x = np.clip(np.rint(centre[0] + 12 * np.cos(angle) + rng.normal(0, 2, n)), 0, 127)
    y = np.clip(np.rint(centre[1] + 12 * np.sin(angle) + rng.normal(0, 2, n)), 0, 127)
    p = rng.integers(0, 2, n)
    return np.stack([x, y, p, np.rint(t)], axis=1).astype(np.int64)


def write_gesture_root(root: Path, train_users: int = 3, test_users: int = 1, seed: int = 0) -> Path:
    """``root/ibmGesture{Train,Test}/user<NN>_<lighting>/<label>.npy``, one file per class per user."""
    rng = np.random.default_rng(seed)
    for folder, users in (
        ("ibmGestureTrain", range(1, train_users + 1)),
        ("ibmGestureTest", range(24, 24 + test_users)),
    ):
        for user in users:
            session = root / folder / f"user{user:02d}_fluorescent"
            session.mkdir(parents=True)
            for label in range(N_CLASSES):
                np.save(session / f"{label}.npy", gesture_events(label, rng))
    return root


def test_constants_are_tonic_s() -> None:
    from tonic.datasets import DVSGesture

    assert SENSOR_SIZE == DVSGesture.sensor_size and len(DVSGesture.classes) == N_CLASSES


def test_reader_downsamples_space_and_time_with_tonic(tmp_path: Path) -> None:
    """Pixel x becomes floor(x / 4) at spatial factor 1/4; t (ms from the first event) becomes
    1000 * 0.05 * t microseconds; no event is dropped."""
    raw = gesture_events(3, np.random.default_rng(1))
    raw[:, 3] += 5000  # a recording that does not start at 0
    np.save(tmp_path / "3.npy", raw)
    events = read_gesture(tmp_path / "3.npy", 0.25, 0.05)
    assert len(events) == len(raw)
    np.testing.assert_array_equal(np.sort(events["x"]), np.sort(raw[:, 0] // 4))
    np.testing.assert_array_equal(np.sort(events["y"]), np.sort(raw[:, 1] // 4))
    np.testing.assert_array_equal(events["t"], np.floor((raw[:, 3] - raw[:, 3].min()) * 1000 * 0.05).astype(np.int64))
    assert events["x"].max() < 32 and events["y"].max() < 32


def test_folder_lists_sessions_and_labels(tmp_path: Path) -> None:
    root = write_gesture_root(tmp_path / "DVSGesture", train_users=2)
    train = GestureFolder(root, "train", 0.25, 0.05)
    assert len(train) == 2 * N_CLASSES and sorted(set(train.targets)) == list(range(N_CLASSES))
    assert train.sensor_size == (32, 32, 2)
    assert train.files[0].parent.name == "user01_fluorescent"


def test_bad_input_is_named(tmp_path: Path) -> None:
    root = write_gesture_root(tmp_path / "DVSGesture", train_users=1)
    malformed = root / "ibmGestureTrain/user01_fluorescent/5.npy"
    np.save(malformed, np.zeros((3, 3)))
    folder = GestureFolder(root, "train")
    with pytest.raises(GestureDataError, match=r"5\.npy' holds an array of shape \(3, 3\)"):
        folder[folder.files.index(malformed)]
    np.save(root / "ibmGestureTrain/user01_fluorescent/11.npy", gesture_events(0, np.random.default_rng(0)))
    with pytest.raises(GestureDataError, match=r"11\.npy': expected a file named <label>\.npy with a label in 0\.\.10"):
        GestureFolder(root, "train")
    with pytest.raises(GestureDataError, match="data.dvs_gesture.root"):
        GestureFolder(tmp_path / "nowhere", "test")
    with pytest.raises(GestureDataError, match=r"'data.dvs_gesture.spatial_factor' = 0.3"):
        downsampled_sensor(0.3)
    with pytest.raises(ConfigError, match=r"'data.dvs_gesture.spatial_factor' = 0.3"):
        check_theory({"data": {"dvs_gesture": {"spatial_factor": 0.3}}})


@pytest.mark.workflow
def test_dvs_gesture_runs_through_the_dag(tmp_path: Path) -> None:
    """prepare -> encode -> train -> evaluate -> summary for the three models, with 11 classes."""
    root = write_gesture_root(tmp_path / "DVSGesture", train_users=3, test_users=1)
    workdir = copy_workflow(tmp_path / "wf")
    config = default_config_dict()
    config["datasets"] = ["dvs_gesture"]
    config["seeds"] = [0]
    config["data"]["dvs_gesture"]["root"] = str(root)
    config["data"]["dvs_gesture"]["val_fraction"] = 0.34  # one session's worth of the 33 training recordings
    config["model"]["beam_net"]["n_patterns"] = 16
    config["train"].update({"epochs": 2, "batch_size": 8})
    config["evaluate"]["mc_passes"] = 2
    config["tuning"]["enabled"] = False
    write_config(workdir / "config.yaml", config)
    targets = ["results/tables/summary.parquet", "results/tables/claims.csv"]
    result = snakemake("--cores", "2", *targets, cwd=workdir, timeout=900)
    assert result.returncode == 0, result.stdout[-5000:]
    manifest = pl.read_csv(workdir / "results/datasets/dvs_gesture/manifest.csv")
    counts = dict(manifest["split"].value_counts().iter_rows())
    assert counts == {"train": 2 * N_CLASSES, "val": N_CLASSES, "test": N_CLASSES}
    for model in ("beam_net", "ann_mlp", "rate_snn"):
        partition = workdir / f"results/predictions/dataset=dvs_gesture/model={model}/seed=0/predictions.parquet"
        predictions = pl.read_parquet(partition)
        assert predictions.height == 11
        assert [c for c in predictions.columns if c.startswith("prob_")] == [f"prob_{c}" for c in range(N_CLASSES)]
    with np.load(workdir / "results/cache/dvs_gesture/latency/train.npz") as cache:
        assert cache["input_shape"].tolist() == [config["encoding"]["events"]["time_windows"], 2, 32, 32]
        assert int(cache["n_classes"]) == N_CLASSES
    summary = pl.read_parquet(workdir / "results/tables/summary.parquet")
    assert set(summary["dataset"]) == {"dvs_gesture"} and summary.height == 3
