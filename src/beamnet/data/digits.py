"""scikit-learn's bundled 8x8 handwritten digits (Alpaydin & Kaynak 1998): 1,797 images, offline."""

from __future__ import annotations

import numpy as np

DIGITS_MAX_VALUE = 16.0  # pixel values are counts of set pixels in 4x4 blocks of a 32x32 bitmap


def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images, labels)``: float32 intensities in [0, 1] of shape (1797, 8, 8), int64 labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / DIGITS_MAX_VALUE).astype(np.float32)
    return images, bunch.target.astype(np.int64)
