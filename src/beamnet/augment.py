"""Training-time event augmentation (``model.<name>.augment``), applied to a batch of an encoded cache.

N-MNIST models are usually trained on recordings shifted by a few pixels and jittered in time
(Orchard et al. 2015 move the sensor by up to a few pixels per saccade; the augmentation of
Shrestha & Orchard 2018 and Fang et al. 2021 follows). The caches hold first-event latencies
per (window, polarity, pixel), so each operation has an exact counterpart on the events:

- **spatial shift** by (dy, dx), each uniform in {-s, ..., s} per sample: every event moves by
  (dy, dx) and those that leave the sensor are lost. On the cache, the pixel grid moves and the
  pixels shifted in are silent, which is exactly the first-event latency of the shifted events.
  Pixels are those of the grid the model reads: after BEAM-Net's ``input_pool`` = f one pixel is
  an f x f block, so a shift of s moves the sensor image by f s pixels.
- **time jitter**: each firing input's spike time gets independent Gaussian noise of standard
  deviation ``time_jitter_ms`` (clamped to [0, T_ref]); the intensities the ANN-MLP reads move
  with it through Eq. 7, xi = (T_ref - t) / tau. Poisson rate caches are random already and
  are not jittered.
- **event drop**: each firing input falls silent with probability ``drop_fraction``.

Every draw comes from the training run's own generator, so an augmented run is as
byte-reproducible (and resumable) as a plain one; validation and test data are never augmented.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch

from beamnet.models.encoder import EncodedSplit, spatial_axes


def augmentation_enabled(settings: Mapping[str, Any] | None) -> bool:
    """Whether ``model.<name>.augment`` changes anything (absent or all-zero: off)."""
    if not settings:
        return False
    return (
        int(settings.get("shift_px", 0)) > 0
        or float(settings.get("time_jitter_ms", 0.0)) > 0.0
        or float(settings.get("drop_fraction", 0.0)) > 0.0
    )


def _shift(values: torch.Tensor, offsets: torch.Tensor, input_shape: tuple[int, ...], leading: int) -> torch.Tensor:
    """Move each sample's pixel grid by its (dy, dx) with silent (zero / False) fill.

    ``values`` is (B, *lead, D) with ``leading`` extra axes before the inputs (time steps of
    rate caches); D unflattens to ``input_shape``."""
    batch = values.shape[0]
    grid = values.reshape(batch, *values.shape[1 : 1 + leading], *input_shape)
    axis_y, axis_x = (axis + 1 + leading for axis in spatial_axes(input_shape))
    reach = int(offsets.abs().max()) if offsets.numel() else 0
    if reach == 0:
        return values
    pad = [0, 0] * grid.dim()
    for axis in (axis_y, axis_x):  # torch.nn.functional.pad lists the last axis first
        pad[2 * (grid.dim() - 1 - axis)] = reach
        pad[2 * (grid.dim() - 1 - axis) + 1] = reach
    padded = torch.nn.functional.pad(grid.to(torch.float32) if grid.dtype == torch.bool else grid, pad)
    height, width = grid.shape[axis_y], grid.shape[axis_x]
    shifted = torch.empty_like(grid)
    for b in range(batch):
        dy, dx = int(offsets[b, 0]), int(offsets[b, 1])
        # output pixel y reads input pixel y - dy, which sits at y - dy + reach in the padding
        window = padded[b].narrow(axis_y - 1, reach - dy, height).narrow(axis_x - 1, reach - dx, width)
        shifted[b] = window.to(grid.dtype)
    return shifted.reshape(values.shape)


def augment_batch(
    batch: EncodedSplit, settings: Mapping[str, Any], generator: torch.Generator, where: str = "model.<name>.augment"
) -> EncodedSplit:
    """``batch`` with ``model.<name>.augment``'s shift, jitter and drop applied (module docstring).

    Raises
    ------
    ValueError
        If a setting is out of range (naming its key under ``where``).
    """
    shift = int(settings.get("shift_px", 0))
    jitter = float(settings.get("time_jitter_ms", 0.0))
    drop = float(settings.get("drop_fraction", 0.0))
    if shift < 0:
        raise ValueError(f"config key '{where}.shift_px' = {shift}: expected an integer >= 0")
    if jitter < 0.0:
        raise ValueError(f"config key '{where}.time_jitter_ms' = {jitter}: expected a value >= 0")
    if not 0.0 <= drop < 1.0:
        raise ValueError(f"config key '{where}.drop_fraction' = {drop}: expected a fraction in [0, 1)")
    n = len(batch)
    shape = batch.input_shape
    spike_times, active, intensity, spikes = batch.spike_times, batch.active, batch.intensity, batch.spikes
    if shift > 0:
        offsets = torch.randint(-shift, shift + 1, (n, 2), generator=generator)
        intensity = _shift(intensity, offsets, shape, 0)
        if spike_times is not None and active is not None:
            spike_times, active = _shift(spike_times, offsets, shape, 0), _shift(active, offsets, shape, 0)
        if spikes is not None:
            spikes = _shift(spikes, offsets, shape, 1)
    if jitter > 0.0 and spike_times is not None and active is not None:
        noise = torch.randn(spike_times.shape, generator=generator) * jitter
        jittered = (spike_times + noise).clamp(0.0, batch.t_ref_ms)
        # Eq. 7 is linear in t: xi moves by -(t' - t) / tau
        moved = (intensity - (jittered - spike_times) / batch.tau_ms).clamp(0.0, 1.0)
        intensity = torch.where(active, moved, intensity)
        spike_times = torch.where(active, jittered, spike_times)
    if drop > 0.0:
        if active is not None and spike_times is not None:
            keep = torch.rand(active.shape, generator=generator) >= drop
            active = active & keep
            spike_times = torch.where(active, spike_times, torch.zeros_like(spike_times))
            intensity = torch.where(active, intensity, torch.zeros_like(intensity))
        elif spikes is not None:
            spikes = spikes & (torch.rand(spikes.shape, generator=generator) >= drop)
    if spikes is not None:  # a rate cache's intensity is its spikes' mean (beamnet.models.encoder)
        intensity = spikes.to(torch.float32).mean(1)
    return replace(batch, spike_times=spike_times, active=active, intensity=intensity, spikes=spikes)
