"""Event archives: many event streams in one byte-reproducible ``.npz``.

Streams are stored concatenated (fields ``x, y, t, p``) with ``offsets`` so that sample ``i`` is
``[offsets[i], offsets[i+1])``. :class:`EventArchive` is a tonic-style dataset over such a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

# tonic's event layout (x, y, t in microseconds, polarity); compact integer widths.
EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])


def pack_events(streams: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Concatenate event streams into the arrays an event archive stores."""
    lengths = np.array([len(s) for s in streams], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    merged = np.concatenate(streams) if streams else np.zeros(0, EVENT_DTYPE)
    return {name: np.ascontiguousarray(merged[name]).astype(EVENT_DTYPE[name]) for name in EVENT_DTYPE.names} | {
        "offsets": offsets
    }


class EventArchive:
    """A tonic-style dataset over an event archive written with :func:`pack_events`.

    Parameters
    ----------
    path
        The ``events.npz`` file (fields x, y, t, p, offsets, labels, sensor_size).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with np.load(self.path) as archive:
            missing = {"x", "y", "t", "p", "offsets", "labels", "sensor_size"} - set(archive.files)
            if missing:
                raise ValueError(f"event archive '{self.path}' lacks arrays {sorted(missing)}")
            self._fields = {name: archive[name] for name in EVENT_DTYPE.names}
            self.offsets = archive["offsets"]
            self.targets = archive["labels"]
            self.sensor_size = tuple(int(v) for v in archive["sensor_size"])

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        start, stop = self.offsets[index], self.offsets[index + 1]
        events = np.empty(stop - start, dtype=EVENT_DTYPE)
        for name, values in self._fields.items():
            events[name] = values[start:stop]
        return events, int(self.targets[index])
