"""Component 1 (BEAM-Net §3.1): the temporal encoder, as the models see it.

The encoders themselves (Eq. 7 latency code t_i = T_ref - tau * xi_i, W-TCRL §2.2 population
code, first-event latency for DVS streams, Poisson rate code) are NumPy code in
:mod:`beamnet.encoding`: they run once per dataset and write the spike caches, so the same
spikes feed torch training, evaluation and the lava-nc (Loihi) runs. This module loads a cache
into the tensors a model consumes; every model of a comparison reads the same cache family.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from beamnet.encoding import latency_to_intensity


@dataclass(frozen=True)
class EncodedSplit:
    """One split of an encoded spike cache, as tensors.

    Attributes
    ----------
    spike_times
        (n, D) float32 spike times in ms (0 where silent) for latency/population caches.
    active
        (n, D) bool: which inputs fire (Eq. 7's floor, or an event in the window).
    intensity
        (n, D) float32 xi in [0, 1]: Eq. 7 inverted for latency caches; spike probability
        per step / max_rate for rate caches (the ANN-MLP reads it).
    spikes
        (n, T, D) bool Poisson spikes for rate caches, else None.
    labels, sample_ids
        (n,) int64.
    """

    spike_times: torch.Tensor | None
    active: torch.Tensor | None
    intensity: torch.Tensor
    spikes: torch.Tensor | None
    labels: torch.Tensor
    sample_ids: torch.Tensor
    input_shape: tuple[int, ...]
    encoding: str
    dataset: str
    t_ref_ms: float
    tau_ms: float = float("nan")  # Eq. 7's latency per unit intensity (latency and population caches)
    n_classes: int = 0  # the dataset's class count (from its labels, the same in every split's cache)

    @property
    def n_inputs(self) -> int:
        return int(self.intensity.shape[1])

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def load_cache(path: str | Path) -> EncodedSplit:
    """Read ``results/cache/{dataset}/{encoding}/{split}.npz`` into an :class:`EncodedSplit`."""
    path = Path(path)
    try:
        archive = np.load(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"spike cache '{path}' cannot be read as an npz archive: {err}") from err
    with archive:
        encoding = str(archive["encoding"])
        t_ref, tau = float(archive["t_ref_ms"]), float(archive["tau_ms"])
        labels = torch.from_numpy(archive["labels"].astype(np.int64))
        ids = torch.from_numpy(archive["sample_ids"].astype(np.int64))
        if "n_classes" not in archive.files:
            raise ValueError(f"spike cache '{path}' has no 'n_classes' (written before it was recorded): re-encode it")
        common = dict(
            labels=labels,
            n_classes=int(archive["n_classes"]),
            sample_ids=ids,
            encoding=encoding,
            t_ref_ms=t_ref,
            tau_ms=tau,
            dataset=str(archive["dataset"]),
            input_shape=tuple(int(v) for v in archive["input_shape"]),
        )
        if encoding == "rate":
            n_inputs = int(archive["n_inputs"])
            spikes = np.unpackbits(archive["spikes"], axis=-1, count=n_inputs).astype(bool)
            return EncodedSplit(
                spike_times=None,
                active=None,
                spikes=torch.from_numpy(spikes),
                intensity=torch.from_numpy(spikes.mean(axis=1, dtype=np.float32)),
                **common,
            )
        times, active = archive["spike_times"], archive["active"]
    intensity = latency_to_intensity(times, active, t_ref, tau)
    return EncodedSplit(
        spike_times=torch.from_numpy(np.where(active, times, 0.0).astype(np.float32)),
        active=torch.from_numpy(active),
        intensity=torch.from_numpy(intensity),
        spikes=None,
        **common,
    )


def _take(tensor: torch.Tensor | None, index: torch.Tensor) -> torch.Tensor | None:
    return None if tensor is None else tensor[index]


def select_samples(data: EncodedSplit, index: torch.Tensor) -> EncodedSplit:
    """The samples ``index`` of ``data`` (in that order), as a split of their own."""
    return replace(
        data,
        spike_times=_take(data.spike_times, index),
        active=_take(data.active, index),
        intensity=data.intensity[index],
        spikes=_take(data.spikes, index),
        labels=data.labels[index],
        sample_ids=data.sample_ids[index],
    )


def concatenate_splits(*splits: EncodedSplit) -> EncodedSplit:
    """Splits of one cache family (same dataset, encoding and inputs) joined in order.

    Raises
    ------
    ValueError
        If the splits come from different datasets, encodings or input shapes.
    """
    first = splits[0]
    for other in splits[1:]:
        if (other.dataset, other.encoding, other.input_shape) != (first.dataset, first.encoding, first.input_shape):
            raise ValueError(
                f"cannot join a {other.dataset}/{other.encoding} split of shape {other.input_shape} "
                f"to a {first.dataset}/{first.encoding} split of shape {first.input_shape}"
            )

    def joined(name: str) -> torch.Tensor | None:
        parts = [getattr(split, name) for split in splits]
        return None if parts[0] is None else torch.cat(parts)

    return replace(
        first,
        spike_times=joined("spike_times"),
        active=joined("active"),
        intensity=joined("intensity"),
        spikes=joined("spikes"),
        labels=joined("labels"),
        sample_ids=joined("sample_ids"),
    )


def spatial_axes(input_shape: tuple[int, ...]) -> tuple[int, int]:
    """The (height, width) axes of a cache's per-sample shape: (window, polarity, H, W) for
    events, (H, W) for images and (H, W, l) for population-coded images."""
    if len(input_shape) == 4:
        return 2, 3
    if len(input_shape) in (2, 3):
        return 0, 1
    raise ValueError(
        f"input shape {input_shape}: expected (window, polarity, height, width), "
        "(height, width) or (height, width, receptive fields)"
    )


def pool_inputs(data: EncodedSplit, factor: int, key: str = "model.beam_net.input_pool") -> EncodedSplit:
    """Spatial downsampling of a latency or population cache by ``factor`` in height and width.

    Each ``factor`` x ``factor`` block of pixels (per window, polarity or receptive field)
    becomes one input that fires at the block's earliest spike time. For event caches this is
    exactly the first-event latency of the events after tonic's ``Downsample(spatial_factor =
    1 / factor)`` (which maps pixel x to floor(x / factor)): the first event in a block is the
    earliest of its pixels' first events. Intensities follow through Eq. 7 (the largest xi).

    Raises
    ------
    ValueError
        If ``factor`` is below 1 or does not divide the sensor's height and width (naming ``key``),
        or the cache is a Poisson rate cache.
    """
    if factor < 1:
        raise ValueError(f"config key '{key}' = {factor}: expected an integer >= 1")
    if factor == 1:
        return data
    if data.spike_times is None or data.active is None:
        raise ValueError(
            f"config key '{key}' = {factor}: pooling needs a latency or population cache, not a '{data.encoding}' cache"
        )
    shape = data.input_shape
    axis_y, axis_x = spatial_axes(shape)
    height, width = shape[axis_y], shape[axis_x]
    if height % factor or width % factor:
        raise ValueError(
            f"config key '{key}' = {factor}: expected a factor that divides the {data.dataset} "
            f"sensor's {width} x {height} pixels"
        )
    pooled_shape = list(shape)
    pooled_shape[axis_y], pooled_shape[axis_x] = height // factor, width // factor
    # split H -> (H / f, f) and W -> (W / f, f), then reduce over the two block axes
    blocks = list(shape)
    blocks[axis_x : axis_x + 1] = [width // factor, factor]
    blocks[axis_y : axis_y + 1] = [height // factor, factor]
    block_axes = (axis_y + 2, axis_x + 3)  # after the batch axis and the first split
    n = len(data)
    times = torch.where(data.active, data.spike_times, torch.full_like(data.spike_times, math.inf))
    earliest = times.reshape(n, *blocks).amin(dim=block_axes).reshape(n, -1)
    active = torch.isfinite(earliest)
    intensity = data.intensity.reshape(n, *blocks).amax(dim=block_axes).reshape(n, -1)
    return replace(
        data,
        spike_times=torch.where(active, earliest, torch.zeros_like(earliest)),
        active=active,
        intensity=intensity,
        input_shape=tuple(pooled_shape),
    )


def model_view(data: EncodedSplit, config: Mapping[str, Any], model: str) -> EncodedSplit:
    """The inputs ``model`` reads from a freshly loaded cache: the cache itself, or for BEAM-Net
    with ``model.beam_net.input_pool`` > 1 its spatially pooled version (:func:`pool_inputs`).
    Apply once per loaded split (pooling a pooled split pools again)."""
    if model != "beam_net":
        return data
    return pool_inputs(data, int(config["model"]["beam_net"].get("input_pool", 1)))
