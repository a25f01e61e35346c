"""Atomic file output: every result is written to a temporary sibling and renamed into place.

A crash, a kill or a raised error therefore never leaves a half-written result where a later
rule (or a resumed run) would mistake it for a finished one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Zip members carry a modification time; a fixed one keeps npz files byte-reproducible
# (np.savez stamps the current time).
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_paths(*finals: str | Path) -> Iterator[list[Path]]:
    """Yield temporary paths beside ``finals``; rename them all into place only on success.

    On any exception the temporary files are removed and no final path is touched.
    """
    temps: list[Path] = []
    try:
        for final in finals:
            final = Path(final)
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)
            os.close(fd)
            os.chmod(name, 0o666 & ~_UMASK)  # mkstemp creates 0600; results are shared files
            temps.append(Path(name))
        yield temps
        placed: list[Path] = []
        try:
            for temp, final in zip(temps, finals, strict=True):
                os.replace(temp, final)
                placed.append(Path(final))
        except OSError:
            for final in placed:  # a set written together appears together or not at all
                final.unlink(missing_ok=True)
            raise
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


def write_npz(path: str | Path, arrays: dict[str, Any]) -> None:
    """Write ``arrays`` as a compressed ``.npz`` that ``np.load`` reads, byte-reproducibly."""
    with zipfile.ZipFile(path, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(arrays):
            member = zipfile.ZipInfo(f"{key}.npy", date_time=_FIXED_ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            with archive.open(member, mode="w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(arrays[key]), allow_pickle=False)


def save_npz_atomic(path: str | Path, arrays: dict[str, Any]) -> None:
    """:func:`write_npz` to ``path`` atomically."""
    with atomic_paths(path) as (temp,):
        write_npz(temp, arrays)


def torch_bytes(payload: Any) -> bytes:
    """``torch.save`` into memory: the archive's inner folder name does not then depend on the
    (temporary) file name, so equal payloads give equal bytes."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def load_torch_file(path: str | Path) -> Any:
    """Read a checkpoint or resume file written by :func:`torch_bytes`, allowing only tensors and
    plain types (``torch.load(..., weights_only=True)``): a file that carries any other pickled
    object (one that could run code when unpickled) is refused with an error naming the file."""
    import pickle

    import torch

    try:
        return torch.load(path, weights_only=True)
    except pickle.UnpicklingError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"'{path}' holds objects other than tensors and plain types, so it is not loaded "
            f"(torch.load with weights_only=True refused it: {first_line}); checkpoints written by "
            "this workflow hold only tensors and plain types"
        ) from error


def save_many_npz_atomic(paths: Sequence[str | Path], arrays: Sequence[dict[str, Any]]) -> None:
    """Write several npz files so that either all of them appear or none does."""
    with atomic_paths(*paths) as temps:
        for temp, payload in zip(temps, arrays, strict=True):
            write_npz(temp, payload)


class NpzStreamWriter:
    """Write an ``.npz`` whose large arrays arrive in chunks of rows, holding one chunk at a time.

    :meth:`append` spools each chunk of a streamed array to a file beside the output;
    :meth:`put` keeps a small array whole. :meth:`write` then assembles the archive: streamed
    arrays are *stored* (uncompressed), so that :func:`open_npz_rows` reads rows of them straight
    from the file, and small arrays are deflated as :func:`write_npz` does. ``np.load`` reads the
    result like any ``.npz``, and its bytes depend only on the arrays, never on how they were
    chunked. Use as a context manager: the spool files go when it closes.
    """

    _COPY_BYTES = 1 << 24  # spool -> archive copy buffer

    def __init__(self, spool_dir: str | Path) -> None:
        self._spool = tempfile.TemporaryDirectory(prefix=".spool.", dir=spool_dir)
        self._streams: dict[str, tuple[Any, np.dtype, tuple[int, ...], list[int]]] = {}
        self._small: dict[str, np.ndarray] = {}

    def __enter__(self) -> NpzStreamWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for handle, *_ in self._streams.values():
            handle.close()
        self._spool.cleanup()

    def append(self, name: str, rows: np.ndarray) -> None:
        """Append ``rows`` (first axis = rows) to the streamed array ``name``.

        Raises
        ------
        ValueError
            If a chunk's dtype or row shape differs from the array's first chunk.
        """
        rows = np.ascontiguousarray(rows)
        if name in self._small:
            raise ValueError(f"array '{name}' was put whole; it cannot also be streamed")
        if name not in self._streams:
            handle = open(Path(self._spool.name) / f"{len(self._streams)}.raw", "wb")  # noqa: SIM115 (closed in close())
            self._streams[name] = (handle, rows.dtype, rows.shape[1:], [0])
        handle, dtype, row_shape, count = self._streams[name]
        if rows.dtype != dtype or rows.shape[1:] != row_shape:
            raise ValueError(
                f"chunk of array '{name}' has dtype {rows.dtype} and rows of shape {rows.shape[1:]}; "
                f"its first chunk had {dtype} and {row_shape}"
            )
        handle.write(rows.tobytes())
        count[0] += rows.shape[0]

    def put(self, name: str, value: Any) -> None:
        """Store the small array ``name`` whole (deflated)."""
        if name in self._streams:
            raise ValueError(f"array '{name}' is streamed; it cannot also be put whole")
        self._small[name] = np.asanyarray(value)

    def write(self, path: str | Path) -> None:
        """Assemble the archive at ``path`` (a temporary path from :func:`atomic_paths`)."""
        names = sorted(set(self._streams) | set(self._small))
        with zipfile.ZipFile(path, mode="w") as archive:
            for name in names:
                member = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ZIP_TIME)
                member.external_attr = 0o644 << 16
                if name in self._small:
                    member.compress_type = zipfile.ZIP_DEFLATED
                    with archive.open(member, mode="w", force_zip64=True) as out:
                        np.lib.format.write_array(out, self._small[name], allow_pickle=False)
                    continue
                handle, dtype, row_shape, count = self._streams[name]
                handle.flush()
                member.compress_type = zipfile.ZIP_STORED
                header = {
                    "descr": np.lib.format.dtype_to_descr(dtype),
                    "fortran_order": False,
                    "shape": (count[0], *row_shape),
                }
                with archive.open(member, mode="w", force_zip64=True) as out, open(handle.name, "rb") as spooled:
                    np.lib.format.write_array_header_1_0(out, header)
                    while block := spooled.read(self._COPY_BYTES):
                        out.write(block)


class StoredRows:
    """Rows of an array stored uncompressed inside an ``.npz``, read from the file on demand.

    Rows are read with ``os.pread`` (no memory map), so a process that reads a large cache batch
    by batch holds only its batches: the kernel's page cache, not the process, keeps the file.
    """

    def __init__(self, path: Path, offset: int, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        self.path, self.offset, self.dtype, self.shape = path, offset, dtype, shape
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The rows ``rows`` (any order, repeats allowed) as an in-memory array."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= self.shape[0]):
            raise IndexError(f"rows outside 0..{self.shape[0] - 1} of an array in '{self.path}'")
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        if not rows.size or not self.row_bytes:
            return out
        flat = out.reshape(len(rows), -1).view(np.uint8).reshape(len(rows), self.row_bytes)
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        # runs of consecutive rows are read with one call each
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for run in np.split(np.arange(len(ordered)), breaks):
                first, length = int(ordered[run[0]]), int(ordered[run[-1]] - ordered[run[0]] + 1)
                data = os.pread(fd, length * self.row_bytes, self.offset + first * self.row_bytes)
                block = np.frombuffer(data, dtype=np.uint8).reshape(length, self.row_bytes)
                flat[order[run]] = block[ordered[run] - first]
        finally:
            os.close(fd)
        return out

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop`` (exclusive), with one read."""
        if not 0 <= start <= stop <= self.shape[0]:
            raise IndexError(f"rows {start}..{stop} outside 0..{self.shape[0]} of an array in '{self.path}'")
        with open(self.path, "rb") as handle:
            handle.seek(self.offset + start * self.row_bytes)
            data = handle.read((stop - start) * self.row_bytes)
        return np.frombuffer(data, dtype=self.dtype).reshape(stop - start, *self.shape[1:]).copy()

    def read_all(self) -> np.ndarray:
        """Every row (for small arrays and tests)."""
        return self.read_range(0, self.shape[0])


def open_npz_rows(path: str | Path) -> dict[str, StoredRows | np.ndarray]:
    """The arrays of an ``.npz``: stored (uncompressed) members as :class:`StoredRows`, read on
    demand; deflated members loaded whole (they are the small ones, see :class:`NpzStreamWriter`).

    Raises
    ------
    ValueError
        If ``path`` is not a readable ``.npz``, naming it.
    """
    import struct

    path = Path(path)
    arrays: dict[str, StoredRows | np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
            for info in archive.infolist():
                name = info.filename.removesuffix(".npy")
                if info.compress_type != zipfile.ZIP_STORED:
                    with archive.open(info) as member:
                        arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
                    continue
                raw.seek(info.header_offset)
                local = raw.read(30)
                name_length, extra_length = struct.unpack("<HH", local[26:30])
                raw.seek(info.header_offset + 30 + name_length + extra_length)
                version = np.lib.format.read_magic(raw)
                read_header = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, fortran_order, dtype = read_header(raw)
                if fortran_order or dtype.hasobject:
                    raise ValueError(f"array '{name}' is not a C-ordered plain array")
                arrays[name] = StoredRows(path, raw.tell(), dtype, tuple(shape))
    except (OSError, zipfile.BadZipFile, ValueError) as error:
        raise ValueError(f"'{path}' cannot be read as an npz archive: {error}") from error
    return arrays
