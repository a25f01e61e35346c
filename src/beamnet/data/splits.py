"""Fixed, seeded, stratified train/val/test splits."""

from __future__ import annotations

import numpy as np

SPLIT_NAMES = np.array(["train", "val", "test"])


def stratified_split(labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """Assign each sample to ``train``, ``val`` or ``test``, class by class.

    Within every class the samples are shuffled with ``numpy.random.default_rng(seed)`` and the
    first ``round(test_fraction * n_c)`` go to test, the next ``round(val_fraction * n_c)`` to
    val. The result depends only on ``labels`` and ``seed``.

    Returns
    -------
    numpy.ndarray of str, shape (n,)
    """
    if not 0.0 <= val_fraction + test_fraction < 1.0:
        raise ValueError(
            f"val_fraction + test_fraction = {val_fraction + test_fraction}: "
            "expected a fraction below 1 so that a training split remains"
        )
    rng = np.random.default_rng(seed)
    assignment = np.full(len(labels), "train", dtype=object)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(len(members))]
        n_test = int(round(test_fraction * len(members)))
        n_val = int(round(val_fraction * len(members)))
        assignment[members[:n_test]] = "test"
        assignment[members[n_test : n_test + n_val]] = "val"
    return assignment.astype(str)
