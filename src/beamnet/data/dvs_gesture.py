"""DVS Gesture (Amir et al. 2017): 11 hand and arm gestures seen by a 128 x 128 DVS, read through tonic.

The recordings live in tonic's preprocessed layout (what ``tonic.datasets.DVSGesture`` extracts
under ``<save_to>/DVSGesture``): ``ibmGestureTrain/user<NN>_<lighting>/<label>.npy`` and
``ibmGestureTest/...``, each an (n, 4) array of x, y, polarity and t in milliseconds, one gesture
per file, the label being the file name. ``data.dvs_gesture.root`` points at the folder holding
the two ``ibmGesture*`` folders. :class:`GestureFolder` lists them as tonic does; each recording
is decoded with tonic's own event dtype, moved to start at t = 0, and passed through tonic's
``transforms.Downsample``:

- ``spatial_factor`` s maps pixel x to floor(s * x), so 128 x 128 x 2 becomes 32 x 32 x 2 at
  s = 1/4 (6,144 inputs over three windows instead of 98,304);
- ``time_factor`` f maps t to f * t, so that a gesture's first 300 ms / f fall inside the
  encoder's ``encoding.events.duration_ms`` (f = 0.05: six seconds onto 300 ms).

Reading never downloads: fetch the dataset once with tonic (``tonic.datasets.DVSGesture``) where
the network is reachable and point the root at it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from beamnet.data.events import EVENT_DTYPE

FOLDERS = {"train": "ibmGestureTrain", "test": "ibmGestureTest"}
SENSOR_SIZE = (128, 128, 2)  # tonic.datasets.DVSGesture.sensor_size (width, height, polarities)
N_CLASSES = 11  # len(tonic.datasets.DVSGesture.classes): ten gestures and "other"


class GestureDataError(ValueError):
    """A DVS Gesture root or recording is missing, empty or malformed."""


def downsampled_sensor(spatial_factor: float, key: str = "data.dvs_gesture.spatial_factor") -> tuple[int, int, int]:
    """The sensor after ``Downsample(spatial_factor=...)``: the factor must map 128 pixels onto
    a whole number of pixels (1/2, 1/4, 1/8, ...), or pixels would be merged unevenly.

    Raises
    ------
    GestureDataError
        Naming ``key``, if the factor is outside (0, 1] or 128 x factor is not a whole number.
    """
    width, height, polarities = SENSOR_SIZE
    scaled = width * spatial_factor
    if not 0.0 < spatial_factor <= 1.0 or abs(scaled - round(scaled)) > 1e-9:
        raise GestureDataError(
            f"config key '{key}' = {spatial_factor}: expected a factor in (0, 1] that maps the "
            f"{width} x {height} sensor onto whole pixels (such as 0.5 or 0.25)"
        )
    return round(scaled), round(height * spatial_factor), polarities


def read_gesture(path: str | Path, spatial_factor: float, time_factor: float) -> np.ndarray:
    """Decode one recording (tonic's dtype), start it at t = 0 and downsample it with tonic.

    Raises
    ------
    GestureDataError
        Naming the file, if it is not an (n, 4) array of events on the 128 x 128 sensor.
    """
    import numpy.lib.recfunctions as rfn
    from tonic.datasets import DVSGesture
    from tonic.transforms import Downsample

    path = Path(path)
    try:
        raw = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise GestureDataError(f"DVS Gesture recording '{path}' cannot be read as a .npy array: {error}") from error
    if raw.ndim != 2 or raw.shape[1] != 4 or len(raw) == 0:
        raise GestureDataError(
            f"DVS Gesture recording '{path}' holds an array of shape {raw.shape}: expected (n > 0, 4) "
            "columns x, y, polarity, t (ms)"
        )
    width, height, _ = SENSOR_SIZE
    if raw[:, 0].min() < 0 or raw[:, 0].max() >= width or raw[:, 1].min() < 0 or raw[:, 1].max() >= height:
        raise GestureDataError(f"DVS Gesture recording '{path}' has events outside the {width} x {height} sensor")
    raw = raw.astype(np.float64)
    raw[:, 3] = (raw[:, 3] - raw[:, 3].min()) * 1000.0  # ms -> us from the first event, as tonic reads it
    events = rfn.unstructured_to_structured(raw, DVSGesture.dtype)
    events = Downsample(time_factor=time_factor, spatial_factor=spatial_factor)(events)
    out = np.empty(len(events), dtype=EVENT_DTYPE)
    for name in EVENT_DTYPE.names:
        out[name] = events[name]
    return out[np.argsort(out["t"], kind="stable")]


class GestureFolder:
    """Tonic-style DVS Gesture split over ``root/ibmGesture<Train|Test>/user*_*/<label>.npy``,
    listed in the order tonic lists them (sorted folders, then files)."""

    sensor_size = SENSOR_SIZE

    def __init__(self, root: str | Path, split: str, spatial_factor: float = 1.0, time_factor: float = 1.0) -> None:
        if split not in FOLDERS:
            raise GestureDataError(f"DVS Gesture split '{split}': expected one of {sorted(FOLDERS)}")
        self.root, self.spatial_factor, self.time_factor = Path(root), spatial_factor, time_factor
        self.sensor_size = downsampled_sensor(spatial_factor)
        folder = self.root / FOLDERS[split]
        if not folder.is_dir():
            raise GestureDataError(
                f"DVS Gesture folder '{folder}' does not exist: expected {FOLDERS[split]}/user<NN>_<lighting>/"
                f"<label>.npy under the root '{self.root}' (config key data.dvs_gesture.root)"
            )
        self.files: list[Path] = []
        self.targets: list[int] = []
        for session in sorted(p for p in folder.iterdir() if p.is_dir()):
            for file in sorted(session.glob("*.npy")):
                if not file.stem.isdigit() or not 0 <= int(file.stem) < N_CLASSES:
                    raise GestureDataError(
                        f"DVS Gesture recording '{file}': expected a file named <label>.npy with a label "
                        f"in 0..{N_CLASSES - 1}"
                    )
                self.files.append(file)
                self.targets.append(int(file.stem))
        if not self.files:
            raise GestureDataError(f"DVS Gesture folder '{folder}' holds no user*_*/<label>.npy recordings")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return read_gesture(self.files[index], self.spatial_factor, self.time_factor), self.targets[index]


def has_gesture_layout(root: str | Path | None) -> bool:
    """Whether ``root`` holds the ``ibmGestureTrain/`` and ``ibmGestureTest/`` folders."""
    return root is not None and all((Path(root) / folder).is_dir() for folder in FOLDERS.values())


def gesture_recordings(root: str | Path | None) -> list[Path]:
    """Every recording under ``root`` (none where it lacks the layout): the prepare step's inputs."""
    if not has_gesture_layout(root):
        return []
    return sorted(p for folder in FOLDERS.values() for p in (Path(root) / folder).glob("*/*.npy"))
