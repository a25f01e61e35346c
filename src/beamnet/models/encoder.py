"""Component 1 (BEAM-Net §3.1): the temporal encoder, as the models see it.

The encoders themselves (Eq. 7 latency code t_i = T_ref - tau * xi_i, W-TCRL §2.2 population
code, first-event latency for DVS streams, Poisson rate code) are NumPy code in
:mod:`beamnet.encoding`: they run once per dataset and write the spike caches, so the same
spikes feed torch training, evaluation and the lava-nc (Loihi) runs. This module loads a cache
into the tensors a model consumes; every model of a comparison reads the same cache family.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

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
        common = dict(labels=labels, sample_ids=ids, encoding=encoding, t_ref_ms=t_ref,
                      dataset=str(archive["dataset"]),
                      input_shape=tuple(int(v) for v in archive["input_shape"]))
        if encoding == "rate":
            n_inputs = int(archive["n_inputs"])
            spikes = np.unpackbits(archive["spikes"], axis=-1, count=n_inputs).astype(bool)
            return EncodedSplit(spike_times=None, active=None, spikes=torch.from_numpy(spikes),
                                intensity=torch.from_numpy(spikes.mean(axis=1, dtype=np.float32)),
                                **common)
        times, active = archive["spike_times"], archive["active"]
    intensity = latency_to_intensity(times, active, t_ref, tau)
    return EncodedSplit(spike_times=torch.from_numpy(np.where(active, times, 0.0).astype(np.float32)),
                        active=torch.from_numpy(active), intensity=torch.from_numpy(intensity),
                        spikes=None, **common)


def _take(tensor: torch.Tensor | None, index: torch.Tensor) -> torch.Tensor | None:
    return None if tensor is None else tensor[index]


def select_samples(data: EncodedSplit, index: torch.Tensor) -> EncodedSplit:
    """The samples ``index`` of ``data`` (in that order), as a split of their own."""
    return replace(data, spike_times=_take(data.spike_times, index), active=_take(data.active, index),
                   intensity=data.intensity[index], spikes=_take(data.spikes, index),
                   labels=data.labels[index], sample_ids=data.sample_ids[index])


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
            raise ValueError(f"cannot join a {other.dataset}/{other.encoding} split of shape {other.input_shape} "
                             f"to a {first.dataset}/{first.encoding} split of shape {first.input_shape}")

    def joined(name: str) -> torch.Tensor | None:
        parts = [getattr(split, name) for split in splits]
        return None if parts[0] is None else torch.cat(parts)

    return replace(first, spike_times=joined("spike_times"), active=joined("active"), intensity=joined("intensity"),
                   spikes=joined("spikes"), labels=joined("labels"), sample_ids=joined("sample_ids"))
