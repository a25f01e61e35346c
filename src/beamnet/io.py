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
