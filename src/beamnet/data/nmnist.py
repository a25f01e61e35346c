"""N-MNIST (Orchard et al. 2015) read through tonic.

The recordings live under a root folder in the dataset's own layout, ``Train/<digit>/*.bin`` and
``Test/<digit>/*.bin``; each event is 5 bytes (x, y, polarity, 23-bit microsecond timestamp)
and ``tonic.io.read_mnist_file`` decodes them. :class:`NMNISTFolder` is a tonic-style dataset
over such a root that checks every file before trusting it. Where a root is absent and
downloading is enabled, :func:`resolve_root` points at the folder that the download step
(beamnet.data.download, rule ``download_nmnist``) fills; reading never downloads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from beamnet.data.events import EVENT_DTYPE

SENSOR_SIZE = (34, 34, 2)  # ATIS crop used by N-MNIST: width, height, polarities
BYTES_PER_EVENT = 5
FOLDERS = {"train": "Train", "test": "Test"}
DOWNLOAD_FOLDER = "NMNIST"  # the download step's root under data.nmnist.download_dir (tonic's own name)
N_CLASSES = 10
_TONIC_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])


class NMNISTDataError(ValueError):
    """An N-MNIST root or recording is missing, empty, truncated or corrupt."""


def read_recording(path: str | Path) -> np.ndarray:
    """Decode one N-MNIST ``.bin`` recording, refusing truncated or corrupt files.

    Raises
    ------
    NMNISTDataError
        Naming the file and what was expected of it.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise NMNISTDataError(f"N-MNIST recording '{path}' is empty: expected 5-byte events")
    if size % BYTES_PER_EVENT:
        raise NMNISTDataError(
            f"N-MNIST recording '{path}' is truncated: {size} bytes is not a "
            f"multiple of the {BYTES_PER_EVENT}-byte event size"
        )
    from tonic.io import read_mnist_file  # tonic is imported only when recordings are read

    decoded = read_mnist_file(str(path), dtype=_TONIC_DTYPE)
    if len(decoded) == 0:
        raise NMNISTDataError(f"N-MNIST recording '{path}' holds no events")
    width, height, _ = SENSOR_SIZE
    if decoded["x"].max() >= width or decoded["y"].max() >= height:
        raise NMNISTDataError(
            f"N-MNIST recording '{path}' is corrupt: event coordinates up to "
            f"({decoded['x'].max()}, {decoded['y'].max()}), expected < {width}x{height}"
        )
    if np.any(np.diff(decoded["t"]) < 0):
        raise NMNISTDataError(f"N-MNIST recording '{path}' is corrupt: timestamps go backwards")
    events = np.empty(len(decoded), dtype=EVENT_DTYPE)
    for name in EVENT_DTYPE.names:
        events[name] = decoded[name]
    return events


class NMNISTFolder:
    """Tonic-style N-MNIST dataset over ``root/<Train|Test>/<digit>/*.bin``.

    Parameters
    ----------
    root
        The folder holding ``Train`` and ``Test``.
    split
        ``"train"`` or ``"test"`` (the dataset's own partition).
    """

    sensor_size = SENSOR_SIZE

    def __init__(self, root: str | Path, split: str) -> None:
        if split not in FOLDERS:
            raise NMNISTDataError(f"N-MNIST split '{split}': expected one of {sorted(FOLDERS)}")
        self.root = Path(root)
        folder = self.root / FOLDERS[split]
        if not folder.is_dir():
            raise NMNISTDataError(
                f"N-MNIST folder '{folder}' does not exist: expected "
                f"{FOLDERS[split]}/<digit>/*.bin under the root '{self.root}'"
            )
        self.folder = folder
        # "<digit>/<name>.bin" relative to the split's folder: strings, not Path objects, so that
        # 60,000 recordings cost a few MB (beamnet.data.prepare holds both splits' listings)
        self.names: list[str] = []
        self.targets: list[int] = []
        for digit in range(N_CLASSES):
            class_dir = folder / str(digit)
            names = sorted(path.name for path in class_dir.glob("*.bin")) if class_dir.is_dir() else []
            if not names:
                raise NMNISTDataError(
                    f"N-MNIST class folder '{class_dir}' is missing or holds no "
                    ".bin recordings: expected at least one per digit"
                )
            self.names.extend(f"{digit}/{name}" for name in names)
            self.targets.extend([digit] * len(names))

    @property
    def files(self) -> list[Path]:
        """Every recording's path, in the reader's order (built on each call)."""
        return [self.folder / name for name in self.names]

    def iter_files(self) -> Iterator[Path]:
        """:attr:`files` one at a time."""
        return (self.folder / name for name in self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return read_recording(self.folder / self.names[index]), self.targets[index]


def resolve_root(root: str | None, download: bool, download_dir: str | Path) -> Path:
    """Return a folder with N-MNIST's ``Train``/``Test`` layout: ``root`` where it has them, else
    (``download`` on) the download step's folder ``download_dir``/NMNIST. Never downloads.

    Raises
    ------
    NMNISTDataError
        If no such folder exists, naming the config keys and the step that would fill it.
    """
    if has_nmnist_layout(root):
        return Path(root)
    fetched = Path(download_dir) / DOWNLOAD_FOLDER
    if download and has_nmnist_layout(fetched):
        return fetched
    if download:
        raise NMNISTDataError(
            f"N-MNIST root '{root}' (config key data.nmnist.root) holds no Train/ and Test/ folders and "
            f"the download folder '{fetched}' (data.nmnist.download_dir) has not been filled: run the "
            "download step first (`snakemake download_nmnist`, where the network is reachable); "
            "reading never downloads"
        )
    raise NMNISTDataError(
        f"N-MNIST root '{root}' (config key data.nmnist.root) holds no Train/ and Test/ folders "
        "and data.nmnist.download is false: point the root at an extracted N-MNIST copy or "
        "set data.nmnist.download: true and run the download step where the network is reachable"
    )


def has_nmnist_layout(root: str | Path | None) -> bool:
    """Whether ``root`` holds N-MNIST's ``Train/`` and ``Test/`` folders."""
    return root is not None and all((Path(root) / folder).is_dir() for folder in FOLDERS.values())


def nmnist_available(root: str | None, download: bool) -> bool:
    """Whether the nmnist dataset can be built: a root with its layout exists or download is on."""
    return download or has_nmnist_layout(root)
