"""Fixed-point quantisation shared by both exports: 8-bit mantissas with a shared exponent, round half
to even, and the 12-bit decay unit."""

from __future__ import annotations

import math

import numpy as np

from beamnet.loihi.fixed_point import (
    WEIGHT_EXP_RANGE,
)

DECAY_UNITY_F = 4096.0


def _exp_for(maxabs: float, mant_max: int, low: int = WEIGHT_EXP_RANGE[0], high: int = WEIGHT_EXP_RANGE[1]) -> int:
    """Smallest exponent e in [low, high] with maxabs / 2**e <= mant_max."""
    if maxabs <= 0:
        return low
    return int(min(max(math.ceil(math.log2(maxabs / mant_max)), low), high))


def quantise_even(values: np.ndarray, exponent: int) -> np.ndarray:
    """Mixed-sign 8-bit Dense mantissas: nearest even integer to values / 2**e, in [-256, 254]."""
    return np.clip(2 * np.rint(values / 2.0 ** (exponent + 1)), -256, 254).astype(np.int16)
