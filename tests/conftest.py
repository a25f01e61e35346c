"""Shared fixtures for the foundation-stage tests (config, data, encoding, workflow)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

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
