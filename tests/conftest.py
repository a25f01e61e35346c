"""Shared fixtures for the foundation-stage tests (config, data, encoding, workflow)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from beamnet.config import encodings_for

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = REPO_ROOT / "config.yaml"
# Real N-MNIST subset shipped beside the project (read-only; never copied into the repo).
NMNIST_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "nmnist_small"


def nmnist_present() -> bool:
    return (NMNIST_ROOT / "Train").is_dir() and (NMNIST_ROOT / "Test").is_dir()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def nmnist_root() -> Path:
    """The real N-MNIST subset; tests that need it skip where it is absent."""
    if not nmnist_present():
        pytest.skip(f"real N-MNIST subset not found at {NMNIST_ROOT}")
    return NMNIST_ROOT


@pytest.fixture(scope="session")
def _default_config() -> dict[str, Any]:
    from beamnet.config import load_config

    return load_config(CONFIG_PATH)


@pytest.fixture
def default_config(_default_config: dict[str, Any]) -> dict[str, Any]:
    """A fresh deep copy of the validated default config.yaml (safe to mutate)."""
    return copy.deepcopy(_default_config)


@pytest.fixture(scope="session")
def digit_images() -> tuple[np.ndarray, np.ndarray]:
    from beamnet.data.digits import load_digit_images

    return load_digit_images()


def nmnist_event_bytes(events: Iterable[tuple[int, int, int, int]]) -> bytes:
    """Encode (x, y, p, t_us) tuples in N-MNIST's 5-byte event format."""
    out = bytearray()
    for x, y, p, t in events:
        out += bytes([x & 0xFF, y & 0xFF, ((p & 1) << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def first_recording(root: Path, split: str = "Train", digit: int = 0) -> Path:
    return sorted((root / split / str(digit)).glob("*.bin"))[0]


@pytest.fixture(scope="session")
def digits_caches(tmp_path_factory: pytest.TempPathFactory, _default_config: dict[str, Any]) -> dict[str, Path]:
    """Digits prepared and encoded (every image encoding) once per session, in a temporary folder."""
    from beamnet.data.prepare import prepare_digits
    from beamnet.encoding import encode_dataset

    root = tmp_path_factory.mktemp("digits")
    manifest, images = root / "manifest.csv", root / "images.npz"
    prepare_digits(_default_config, manifest, images)
    caches: dict[str, Path] = {}
    for encoding in encodings_for("digits"):
        outputs = [root / encoding / f"{split}.npz" for split in ("train", "val", "test")]
        encode_dataset(_default_config, "digits", encoding, images, manifest, outputs)
        for split, path in zip(("train", "val", "test"), outputs, strict=True):
            caches[f"{encoding}/{split}"] = path
    return caches


def tiny_config(base: dict[str, Any], epochs: int = 3, mc_passes: int | None = None) -> dict[str, Any]:
    """A copy of ``base`` with a small BEAM-Net (N = 16) trained for a few large-batch epochs
    (at learning rate 1e-2, so that a handful of steps gives a model worth testing)."""
    config = copy.deepcopy(base)
    config["model"]["beam_net"]["n_patterns"] = 16
    config["train"].update({"epochs": epochs, "batch_size": 128, "learning_rate": 1e-2})  # few large steps
    if mc_passes is not None:
        config["evaluate"]["mc_passes"] = mc_passes
    return config


@pytest.fixture
def tiny_training_config(_default_config: dict[str, Any]) -> dict[str, Any]:
    """Three short epochs of a small BEAM-Net: fast enough for determinism and resume tests."""
    return tiny_config(_default_config)


def train_digits_beam_net(config: dict[str, Any], caches: dict[str, Path], out: Path, **kwargs: Any) -> Path:
    """Train BEAM-Net on the session's digits caches into ``out``; returns the checkpoint path."""
    from beamnet.config import model_encoding
    from beamnet.train import train_model

    encoding = model_encoding(config, "beam_net", "digits")
    checkpoint = out / "beam_net.pt"
    train_model(
        config,
        "digits",
        "beam_net",
        0,
        caches[f"{encoding}/train"],
        caches[f"{encoding}/val"],
        checkpoint,
        out / "beam_net_history.csv",
        threads=1,
        **kwargs,
    )
    return checkpoint
