"""Event archives: many event streams in one byte-reproducible ``.npz``.

Streams are stored concatenated (fields ``x, y, t, p``) with ``offsets`` so that sample ``i`` is
``[offsets[i], offsets[i+1])``. :func:`write_event_archive` writes one from an iterator of
streams, holding one stream at a time (the fields are stored uncompressed,
beamnet.io.NpzStreamWriter); :class:`EventArchive` is a tonic-style dataset over such a file that
reads each stream from disk when it is asked for, so neither side grows with the dataset.
Archives with deflated fields (small ones, or :func:`pack_events` + ``write_npz``) read too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from beamnet.io import NpzStreamWriter, StoredRows, open_npz_rows

# tonic's event layout (x, y, t in microseconds, polarity); compact integer widths.
EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
ARCHIVE_ARRAYS = frozenset({"x", "y", "t", "p", "offsets", "labels", "sensor_size"})


def pack_events(streams: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Concatenate event streams into the arrays an event archive stores (all in memory)."""
    lengths = np.array([len(s) for s in streams], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    merged = np.concatenate(streams) if streams else np.zeros(0, EVENT_DTYPE)
    return {name: np.ascontiguousarray(merged[name]).astype(EVENT_DTYPE[name]) for name in EVENT_DTYPE.names} | {
        "offsets": offsets
    }


def write_event_archive(path: str | Path, streams: Iterable[np.ndarray], arrays: Mapping[str, Any]) -> int:
    """Write the event archive ``path`` from ``streams``, one stream in memory at a time.

    ``arrays`` are the archive's other (small) arrays: labels, sample_ids, sensor_size,
    provenance. ``path`` should be a temporary path (beamnet.io.atomic_paths); spool files go
    beside it. Returns the number of streams written. The bytes equal those of any other way of
    writing the same streams.
    """
    path = Path(path)
    lengths = []
    with NpzStreamWriter(path.parent) as writer:
        for name in EVENT_DTYPE.names:  # every field exists, even with no events at all
            writer.append(name, np.zeros(0, EVENT_DTYPE[name]))
        for events in streams:
            for name in EVENT_DTYPE.names:
                writer.append(name, np.ascontiguousarray(events[name]).astype(EVENT_DTYPE[name], copy=False))
            lengths.append(len(events))
        writer.put("offsets", np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64))
        for name, value in arrays.items():
            writer.put(name, value)
        writer.write(path)
    return len(lengths)


class EventArchive:
    """A tonic-style dataset over an event archive (:func:`write_event_archive`).

    Parameters
    ----------
    path
        The ``events.npz`` file (fields x, y, t, p, offsets, labels, sensor_size). Only the
        offsets, labels and sensor size are held in memory; each stream is read on access.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        arrays = open_npz_rows(self.path)
        missing = ARCHIVE_ARRAYS - set(arrays)
        if missing:
            raise ValueError(f"event archive '{self.path}' lacks arrays {sorted(missing)}")
        self._fields = {name: arrays[name] for name in EVENT_DTYPE.names}
        self.offsets = _whole(arrays["offsets"])
        self.targets = _whole(arrays["labels"])
        self.sensor_size = tuple(int(v) for v in _whole(arrays["sensor_size"]))

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        start, stop = int(self.offsets[index]), int(self.offsets[index + 1])
        events = np.empty(stop - start, dtype=EVENT_DTYPE)
        for name, values in self._fields.items():
            events[name] = values.read_range(start, stop) if isinstance(values, StoredRows) else values[start:stop]
        return events, int(self.targets[index])


def _whole(array: StoredRows | np.ndarray) -> np.ndarray:
    return array.read_all() if isinstance(array, StoredRows) else array
