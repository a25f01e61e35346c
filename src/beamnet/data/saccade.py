"""Static digits turned into DVS events by simulated saccades (after Orchard et al. 2015).

N-MNIST was recorded by moving an ATIS sensor along three saccades in front of a monitor. Here
the sensor is simulated: the image (up-scaled) moves along the three legs of a triangle, one leg
per saccade, and each pixel emits an ON (p=1) or OFF (p=0) event whenever its log intensity
log(I + eps) has moved by more than the pixel's contrast threshold C since its last event
(the DVS pixel model of Lichtsteiner et al. 2008). Thresholds vary across pixels with a fixed
seeded mismatch, and event times carry a seeded jitter within the 1 ms simulation step, so the
stream is asynchronous like a real sensor's yet reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import ndimage

from beamnet.data.events import EVENT_DTYPE

MICROSECONDS_PER_MS = 1000
STEP_MS = 1.0  # simulation step of the sensor model


def saccade_path(n_steps_per_saccade: int, amplitude: float) -> np.ndarray:
    """(dy, dx) displacement at every step of three saccades tracing a triangle.

    Leg 1 goes down and right, leg 2 up and right, leg 3 left back to the start: a closed
    triangle, as N-MNIST's three saccades are.
    Returns an array of shape (3 * n_steps_per_saccade + 1, 2).
    """
    corners = np.array([[0.0, 0.0], [amplitude, amplitude / 2], [0.0, amplitude], [0.0, 0.0]])
    legs = [np.linspace(corners[k], corners[k + 1], n_steps_per_saccade, endpoint=False) for k in range(3)]
    return np.concatenate(legs + [corners[-1:]])


def simulate_saccade_events(
    images: np.ndarray, settings: Mapping[str, Any], seed: int
) -> tuple[list[np.ndarray], tuple[int, int, int]]:
    """Simulate the DVS recording of every image.

    Parameters
    ----------
    images
        Intensities in [0, 1], shape (n, h, w).
    settings
        ``config['data']['digits_saccade']``.
    seed
        Seeds the threshold mismatch and the timestamp jitter.

    Returns
    -------
    streams
        One structured event array (x, y, t [us], p) per image, time-ordered.
    sensor_size
        (width, height, 2), tonic's convention.
    """
    upscale = int(settings["upscale"])
    width, height = (int(v) for v in settings["sensor_size"])
    scaled = np.kron(images, np.ones((1, upscale, upscale), dtype=np.float32))
    n, h, w = scaled.shape
    amplitude = float(settings["saccade_amplitude_px"])
    if h + amplitude + 1 > height or w + amplitude + 1 > width:
        raise ValueError(
            f"data.digits_saccade.sensor_size = {[width, height]}: expected room for "
            f"a {w}x{h} image moving {amplitude} px (at least {w + amplitude + 1:.0f})"
        )
    canvas = np.zeros((n, height, width), dtype=np.float32)
    top, left = (height - h - int(np.ceil(amplitude))) // 2, (width - w - int(np.ceil(amplitude))) // 2
    canvas[:, top : top + h, left : left + w] = scaled

    rng = np.random.default_rng(seed)
    threshold = float(settings["contrast_threshold"])
    pixel_threshold = np.clip(
        threshold + float(settings["threshold_mismatch"]) * rng.standard_normal((height, width)), 0.25 * threshold, None
    )
    eps = float(settings["log_epsilon"])
    steps = int(round(float(settings["saccade_duration_ms"]) / STEP_MS))
    path = saccade_path(steps, amplitude)

    reference = np.log(canvas + eps)
    parts: list[tuple[np.ndarray, ...]] = []
    for step, (dy, dx) in enumerate(path[1:], start=1):
        frame = ndimage.shift(canvas, (0.0, dy, dx), order=1, mode="constant", cval=0.0)
        log_frame = np.log(np.clip(frame, 0.0, None) + eps)
        crossings = np.trunc((log_frame - reference) / pixel_threshold)
        reference += crossings * pixel_threshold
        sample, y, x = np.nonzero(crossings)
        if len(sample) == 0:
            continue
        counts = np.abs(crossings[sample, y, x]).astype(np.int64)
        polarity = (crossings[sample, y, x] > 0).astype(np.int8)
        repeat = np.repeat(np.arange(len(sample)), counts)
        jitter = rng.uniform(0.0, STEP_MS, size=len(repeat))
        times = np.floor(((step - 1) * STEP_MS + jitter) * MICROSECONDS_PER_MS).astype(np.int64)
        parts.append((sample[repeat], x[repeat], y[repeat], times, polarity[repeat]))

    if not parts:  # no image changed anywhere: one empty stream per image
        return [np.zeros(0, dtype=EVENT_DTYPE) for _ in range(n)], (width, height, 2)
    sample, x, y, t, p = (np.concatenate(column) for column in zip(*parts, strict=True))
    order = np.lexsort((t, sample))
    sample, x, y, t, p = sample[order], x[order], y[order], t[order], p[order]
    bounds = np.searchsorted(sample, np.arange(n + 1))
    streams = []
    for i in range(n):
        events = np.empty(bounds[i + 1] - bounds[i], dtype=EVENT_DTYPE)
        sl = slice(bounds[i], bounds[i + 1])
        events["x"], events["y"], events["t"], events["p"] = x[sl], y[sl], t[sl], p[sl]
        streams.append(events)
    return streams, (width, height, 2)
