"""Component 1 (BEAM-Net §3.1): the temporal encoder, as the models see it.

The encoders themselves (Eq. 7 latency code t_i = T_ref - tau * xi_i, W-TCRL §2.2 population
code, first-event latency for DVS streams, Poisson rate code) are NumPy code in
:mod:`beamnet.encoding`: they run once per dataset and write the spike caches, so the same
spikes feed torch training, evaluation and the lava-nc (Loihi) runs. This module loads a cache
into the tensors a model consumes; every model of a comparison reads the same cache family.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from beamnet.encoding import latency_to_intensity
from beamnet.io import StoredRows, open_npz_rows


class RowSource(Protocol):
    """Rows of a cache, read on demand: ``read(rows)`` -> the model-facing tensors of those rows
    (spike_times, active and intensity, or spikes and intensity)."""

    n_rows: int
    fields: dict[str, tuple[tuple[int, ...], torch.dtype]]  # per-row shape and dtype of each field

    def read(self, rows: np.ndarray) -> dict[str, torch.Tensor]: ...


class CacheRows(RowSource):
    """The rows of one cache file (beamnet.io.open_npz_rows), decoded as :func:`load_cache` says:
    latency/population caches give spike times (0 where silent), the active mask and Eq. 7's
    inverse intensity; rate caches give the unpacked spikes and their mean per input."""

    def __init__(self, path: Path, arrays: Mapping[str, Any], encoding: str, t_ref: float, tau: float) -> None:
        self.path, self.encoding, self.t_ref, self.tau = path, encoding, t_ref, tau
        if encoding == "rate":
            self._spikes = _stored(arrays, "spikes", path)
            self.n_inputs = int(np.asarray(_whole(arrays["n_inputs"])))
            steps = self._spikes.shape[1]
            self.fields = {
                "spikes": ((steps, self.n_inputs), torch.bool),
                "intensity": ((self.n_inputs,), torch.float32),
            }
        else:
            self._times, self._active = _stored(arrays, "spike_times", path), _stored(arrays, "active", path)
            width = self._times.shape[1]
            self.fields = {
                "spike_times": ((width,), torch.float32),
                "active": ((width,), torch.bool),
                "intensity": ((width,), torch.float32),
            }
        self.n_rows = (self._spikes if encoding == "rate" else self._times).shape[0]

    def read(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        if self.encoding == "rate":
            spikes = np.unpackbits(self._spikes.read(rows), axis=-1, count=self.n_inputs).astype(bool)
            return {
                "spikes": torch.from_numpy(spikes),
                "intensity": torch.from_numpy(spikes.mean(axis=1, dtype=np.float32)),
            }
        times, active = self._times.read(rows), self._active.read(rows)
        return {
            "spike_times": torch.from_numpy(np.where(active, times, 0.0).astype(np.float32)),
            "active": torch.from_numpy(active),
            "intensity": torch.from_numpy(latency_to_intensity(times, active, self.t_ref, self.tau)),
        }


class TensorRows(RowSource):
    """Rows held in memory as tensors (a split built in code, or a materialised one)."""

    def __init__(self, tensors: Mapping[str, torch.Tensor]) -> None:
        self.tensors = dict(tensors)
        first = next(iter(self.tensors.values()))
        self.n_rows = int(first.shape[0])
        self.fields = {name: (tuple(t.shape[1:]), t.dtype) for name, t in self.tensors.items()}

    def read(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        return {name: tensor[index] for name, tensor in self.tensors.items()}


class SubsetRows(RowSource):
    """Rows ``rows`` of ``parent``, in that order."""

    def __init__(self, parent: RowSource, rows: np.ndarray) -> None:
        self.parent, self.rows = parent, np.asarray(rows, dtype=np.int64)
        self.n_rows, self.fields = len(self.rows), parent.fields

    def read(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        return self.parent.read(self.rows[np.asarray(rows, dtype=np.int64)])


class JoinedRows(RowSource):
    """The rows of several sources of one cache family, one after the other."""

    def __init__(self, parts: Sequence[RowSource]) -> None:
        self.parts = list(parts)
        self.starts = np.cumsum([0] + [part.n_rows for part in self.parts])
        self.n_rows, self.fields = int(self.starts[-1]), self.parts[0].fields

    def read(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        rows = np.asarray(rows, dtype=np.int64)
        part_of = np.searchsorted(self.starts, rows, side="right") - 1
        out = {name: torch.empty((len(rows), *shape), dtype=dtype) for name, (shape, dtype) in self.fields.items()}
        for index, part in enumerate(self.parts):
            where = np.flatnonzero(part_of == index)
            if len(where):
                for name, values in part.read(rows[where] - self.starts[index]).items():
                    out[name][torch.from_numpy(where)] = values
        return out


class PooledRows(RowSource):
    """``parent``'s rows spatially pooled by ``factor`` (:func:`pool_inputs`), batch by batch."""

    def __init__(self, parent: RowSource, input_shape: tuple[int, ...], factor: int) -> None:
        self.parent, self.input_shape, self.factor = parent, input_shape, factor
        pooled, _ = _pooled_shape(input_shape, factor)
        width = int(np.prod(pooled))
        self.n_rows = parent.n_rows
        self.fields = {name: ((width,), dtype) for name, (_, dtype) in parent.fields.items()}

    def read(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        batch = self.parent.read(rows)
        return _pool_tensors(batch["spike_times"], batch["active"], batch["intensity"], self.input_shape, self.factor)


class Rows:
    """One field of a split, indexable like a tensor: ``rows[index]`` reads those rows.

    The fields of a split share a one-batch memo, so reading a batch's spike times and then its
    active mask reads the cache once."""

    def __init__(self, source: RowSource, name: str, memo: dict[str, Any]) -> None:
        self.source, self.name, self._memo = source, name, memo
        shape, self.dtype = source.fields[name]
        self.shape = torch.Size((source.n_rows, *shape))

    def __len__(self) -> int:
        return self.source.n_rows

    def __getitem__(self, index: torch.Tensor | np.ndarray | slice) -> torch.Tensor:
        if isinstance(index, slice):
            rows = np.arange(self.source.n_rows)[index]
        else:
            rows = np.asarray(index.cpu().numpy() if isinstance(index, torch.Tensor) else index, dtype=np.int64)
        key = rows.tobytes()
        if self._memo.get("key") != key or self.name not in self._memo["batch"]:
            self._memo.update(key=key, batch=self.source.read(rows.reshape(-1)))
        # each field of a read is handed out once, so no caller shares a tensor with another
        return self._memo["batch"].pop(self.name).reshape(*rows.shape, *self.shape[1:])


def rows_of(source: RowSource) -> dict[str, Rows]:
    """A :class:`Rows` per field of ``source``, sharing one memo."""
    memo: dict[str, Any] = {}
    return {name: Rows(source, name, memo) for name in source.fields}


Field = torch.Tensor | Rows


@dataclass(frozen=True)
class EncodedSplit:
    """One split of an encoded spike cache.

    The input fields are tensors or, for a split read from a cache file, :class:`Rows` that read
    the requested rows from disk (``field[index]`` gives a tensor either way), so a split of any
    size costs only its labels in memory. :func:`take_batch` gives the tensors of a batch.

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
        (n,) int64 tensors.
    """

    spike_times: Field | None
    active: Field | None
    intensity: Field
    spikes: Field | None
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


INPUT_FIELDS = ("spike_times", "active", "intensity", "spikes")


def _source(data: EncodedSplit) -> RowSource:
    """The rows behind ``data``'s input fields (tensors are wrapped as they are)."""
    fields = {name: getattr(data, name) for name in INPUT_FIELDS if getattr(data, name) is not None}
    sources = {id(field.source) for field in fields.values() if isinstance(field, Rows)}
    if len(sources) == 1 and all(isinstance(field, Rows) for field in fields.values()):
        return next(field.source for field in fields.values() if isinstance(field, Rows))
    if not sources:
        return TensorRows(fields)
    raise ValueError("a split's input fields come from different sources")


def _in_memory(source: RowSource) -> bool:
    """Whether every row of ``source`` comes from tensors in memory (no cache file)."""
    if isinstance(source, TensorRows):
        return True
    if isinstance(source, SubsetRows | PooledRows):
        return _in_memory(source.parent)
    if isinstance(source, JoinedRows):
        return all(_in_memory(part) for part in source.parts)
    return False


def _with_source(data: EncodedSplit, source: RowSource, **changes: Any) -> EncodedSplit:
    """``data`` with its inputs from ``source``: tensors where they are in memory already, else
    :class:`Rows` that read from the cache file."""
    if _in_memory(source):
        fields: Mapping[str, Any] = source.read(np.arange(source.n_rows))
    else:
        fields = rows_of(source)
    return replace(data, **{name: fields.get(name) for name in INPUT_FIELDS}, **changes)


def _stored(arrays: Mapping[str, Any], name: str, path: Path) -> StoredRows:
    if name not in arrays:
        raise ValueError(f"spike cache '{path}' lacks the array '{name}'")
    array = arrays[name]
    if not isinstance(array, StoredRows):  # a deflated (older or hand-written) cache: keep it in memory
        array = _InMemory(np.asarray(array))
    return array


class _InMemory:
    """:class:`StoredRows`' reading interface over an in-memory array."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.shape = array, array.shape

    def read(self, rows: np.ndarray) -> np.ndarray:
        return self.array[np.asarray(rows, dtype=np.int64)]


def _whole(array: Any) -> np.ndarray:
    return array.read_all() if isinstance(array, StoredRows) else np.asarray(array)


def load_cache(path: str | Path) -> EncodedSplit:
    """Read ``results/cache/{dataset}/{encoding}/{split}.npz`` whole into an :class:`EncodedSplit`
    of tensors (for small splits: the Loihi export, tests); :func:`open_cache` reads on demand."""
    return materialise(open_cache(path))


def open_cache(path: str | Path) -> EncodedSplit:
    """Open ``results/cache/{dataset}/{encoding}/{split}.npz`` as an :class:`EncodedSplit` whose
    input fields read their rows from the file on demand (labels and ids are read whole), so a
    step holds a batch, not the split."""
    path = Path(path)
    arrays = open_npz_rows(path)
    try:
        scalars = {name: _whole(arrays[name]) for name in ("encoding", "t_ref_ms", "tau_ms", "dataset", "input_shape")}
        labels = torch.from_numpy(_whole(arrays["labels"]).astype(np.int64))
        ids = torch.from_numpy(_whole(arrays["sample_ids"]).astype(np.int64))
    except KeyError as missing:
        raise ValueError(f"spike cache '{path}' lacks the array {missing}") from None
    if "n_classes" not in arrays:
        raise ValueError(f"spike cache '{path}' has no 'n_classes' (written before it was recorded): re-encode it")
    encoding = str(scalars["encoding"])
    t_ref, tau = float(scalars["t_ref_ms"]), float(scalars["tau_ms"])
    source = CacheRows(path, arrays, encoding, t_ref, tau)
    if source.n_rows != len(labels):
        raise ValueError(f"spike cache '{path}' holds {source.n_rows} rows of inputs but {len(labels)} labels")
    fields = rows_of(source)
    return EncodedSplit(
        spike_times=fields.get("spike_times"),
        active=fields.get("active"),
        intensity=fields["intensity"],
        spikes=fields.get("spikes"),
        labels=labels,
        n_classes=int(_whole(arrays["n_classes"])),
        sample_ids=ids,
        encoding=encoding,
        t_ref_ms=t_ref,
        tau_ms=tau,
        dataset=str(scalars["dataset"]),
        input_shape=tuple(int(v) for v in scalars["input_shape"]),
    )


def take_batch(data: EncodedSplit, index: torch.Tensor | np.ndarray) -> EncodedSplit:
    """The samples ``index`` of ``data`` with their inputs read into tensors (a batch)."""
    rows = np.asarray(index.cpu().numpy() if isinstance(index, torch.Tensor) else index, dtype=np.int64)
    tensors = _source(data).read(rows)
    index_t = torch.from_numpy(rows)
    return replace(
        data,
        **{name: tensors.get(name) for name in INPUT_FIELDS},
        labels=data.labels[index_t],
        sample_ids=data.sample_ids[index_t],
    )


def materialise(data: EncodedSplit) -> EncodedSplit:
    """Every sample of ``data`` in memory, as tensors."""
    return take_batch(data, np.arange(len(data)))


def iter_batches(data: EncodedSplit, batch_size: int) -> Iterator[EncodedSplit]:
    """``data`` in consecutive batches of tensors."""
    for start in range(0, len(data), batch_size):
        yield take_batch(data, np.arange(start, min(start + batch_size, len(data))))


def select_samples(data: EncodedSplit, index: torch.Tensor) -> EncodedSplit:
    """The samples ``index`` of ``data`` (in that order), as a split of their own; rows read
    from a cache stay on disk."""
    rows = np.asarray(index.cpu().numpy() if isinstance(index, torch.Tensor) else index, dtype=np.int64)
    index_t = torch.from_numpy(rows)
    return _with_source(
        data, SubsetRows(_source(data), rows), labels=data.labels[index_t], sample_ids=data.sample_ids[index_t]
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
    return _with_source(
        first,
        JoinedRows([_source(split) for split in splits]),
        labels=torch.cat([split.labels for split in splits]),
        sample_ids=torch.cat([split.sample_ids for split in splits]),
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


def _pooled_shape(shape: tuple[int, ...], factor: int) -> tuple[list[int], list[int]]:
    """The per-sample shape after pooling by ``factor``, and the blocked shape that splits H and
    W into (H / f, f) and (W / f, f)."""
    axis_y, axis_x = spatial_axes(shape)
    height, width = shape[axis_y], shape[axis_x]
    pooled = list(shape)
    pooled[axis_y], pooled[axis_x] = height // factor, width // factor
    blocks = list(shape)
    blocks[axis_x : axis_x + 1] = [width // factor, factor]
    blocks[axis_y : axis_y + 1] = [height // factor, factor]
    return pooled, blocks


def _pool_tensors(
    spike_times: torch.Tensor, active: torch.Tensor, intensity: torch.Tensor, shape: tuple[int, ...], factor: int
) -> dict[str, torch.Tensor]:
    """:func:`pool_inputs` on tensors of shape (n, D)."""
    axis_y, axis_x = spatial_axes(shape)
    _, blocks = _pooled_shape(shape, factor)
    block_axes = (axis_y + 2, axis_x + 3)  # after the batch axis and the first split
    n = spike_times.shape[0]
    times = torch.where(active, spike_times, torch.full_like(spike_times, math.inf))
    earliest = times.reshape(n, *blocks).amin(dim=block_axes).reshape(n, -1)
    pooled_active = torch.isfinite(earliest)
    pooled_intensity = intensity.reshape(n, *blocks).amax(dim=block_axes).reshape(n, -1)
    return {
        "spike_times": torch.where(pooled_active, earliest, torch.zeros_like(earliest)),
        "active": pooled_active,
        "intensity": pooled_intensity,
    }


def pool_inputs(data: EncodedSplit, factor: int, key: str = "model.beam_net.input_pool") -> EncodedSplit:
    """Spatial downsampling of a latency or population cache by ``factor`` in height and width.

    Each ``factor`` x ``factor`` block of pixels (per window, polarity or receptive field)
    becomes one input that fires at the block's earliest spike time. For event caches this is
    exactly the first-event latency of the events after tonic's ``Downsample(spatial_factor =
    1 / factor)`` (which maps pixel x to floor(x / factor)): the first event in a block is the
    earliest of its pixels' first events. Intensities follow through Eq. 7 (the largest xi).
    Rows read from a cache are pooled as they are read.

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
    pooled, _ = _pooled_shape(shape, factor)
    return _with_source(data, PooledRows(_source(data), shape, factor), input_shape=tuple(pooled))


def model_view(data: EncodedSplit, config: Mapping[str, Any], model: str) -> EncodedSplit:
    """The inputs ``model`` reads from a freshly loaded cache: the cache itself, or for BEAM-Net
    with ``model.beam_net.input_pool`` > 1 its spatially pooled version (:func:`pool_inputs`).
    Apply once per loaded split (pooling a pooled split pools again)."""
    if model != "beam_net":
        return data
    return pool_inputs(data, int(config["model"]["beam_net"].get("input_pool", 1)))
