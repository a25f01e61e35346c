"""Datasets: sources of images or events, fixed seeded splits, and their manifests.

Event data follow tonic's conventions: a sample is a NumPy structured array with fields
``x, y, t, p`` (t in microseconds), and a dataset is a small class whose ``__getitem__``
returns ``(events, target)``.
"""

from beamnet.data.events import EVENT_DTYPE, EventArchive, pack_events
from beamnet.data.splits import stratified_split

__all__ = ["EVENT_DTYPE", "EventArchive", "pack_events", "stratified_split"]
