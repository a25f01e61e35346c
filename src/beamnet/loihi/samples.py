"""The test samples a Loihi export carries: the whole test split, or a seeded subset of it.

A lava simulation runs ``loihi.chunk_samples`` samples per network build, so the full N-MNIST
test split (10,000 recordings) is hours of simulation and, read whole, gigabytes of input
lines. ``loihi.test_samples: N`` exports N samples drawn without replacement by
``loihi.seed`` and kept in the cache's order; only those rows are read from the cache.
``all`` (the default) exports every sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from beamnet.models.encoder import EncodedSplit, materialise, open_cache, take_batch


def exported_rows(n_rows: int, test_samples: int | str, seed: int) -> np.ndarray:
    """Row indices of the exported samples, ascending: every row for ``"all"`` (or for N at
    least ``n_rows``), else N rows drawn without replacement by ``seed``."""
    if test_samples == "all" or int(test_samples) >= n_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=int(test_samples), replace=False))


def read_test_samples(test_cache: Path, settings: Mapping[str, Any]) -> EncodedSplit:
    """The exported samples of ``test_cache`` as tensors (``settings`` is the ``loihi`` section)."""
    data = open_cache(test_cache)
    rows = exported_rows(len(data), settings.get("test_samples", "all"), int(settings["seed"]))
    return materialise(data) if len(rows) == len(data) else take_batch(data, rows)
