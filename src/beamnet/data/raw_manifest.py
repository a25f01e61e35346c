"""Checksums of a dataset's raw files: the manifest that makes changed recordings rerun ``prepare``.

``results/datasets/nmnist/raw_files.csv`` lists every recording under the N-MNIST root
(``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin``, the files :class:`NMNISTFolder` reads) with
its size and SHA-256. The workflow's checksum rule has the recordings as inputs, so a recording
that is added, removed or rewritten reruns it; ``prepare`` has the manifest as input, checks
that the recordings it reads are the ones listed, and records the manifest's digest in the
events archive's provenance.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl

from beamnet.data.nmnist import FOLDERS, N_CLASSES, NMNISTDataError
from beamnet.io import atomic_paths

COLUMNS = ("path", "bytes", "sha256")
_CHUNK = 1 << 20


def iter_nmnist_raw_files(root: str | Path) -> Iterator[Path]:
    """Every recording under ``root`` that the N-MNIST reader would read, in a fixed order (the
    reader's: Train then Test, digit by digit, names sorted), one class folder listed at a time."""
    root = Path(root)
    for folder in FOLDERS.values():
        for digit in range(N_CLASSES):
            yield from sorted((root / folder / str(digit)).glob("*.bin"))


def nmnist_raw_files(root: str | Path) -> list[Path]:
    """:func:`iter_nmnist_raw_files` as a list."""
    return list(iter_nmnist_raw_files(root))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def write_raw_manifest(root: str | Path, files: Iterable[Path], output: Path) -> int:
    """Hash ``files`` (under ``root``) into ``output`` (CSV: path relative to root, bytes, sha256),
    a row at a time, so that memory does not grow with the number of recordings. The bytes are
    those of Polars' ``write_csv`` of the same table (a test checks it), so that the manifest's
    digest, which prepare records, does not depend on how it was written. Returns the row count.
    """
    root = Path(root)
    count = 0
    with atomic_paths(output) as (temp,):
        with temp.open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COLUMNS)
            for path in files:
                writer.writerow((str(path.relative_to(root)), path.stat().st_size, file_sha256(path)))
                count += 1
        if not count:
            raise NMNISTDataError(
                f"no recordings to checksum under '{root}' (expected Train/ and Test/ with .bin files)"
            )
    return count


def manifest_sha256(path: Path) -> str:
    """The digest of the manifest itself: one value that names the whole set of raw files."""
    return file_sha256(Path(path))


def check_against_manifest(root: str | Path, files: Iterable[Path], manifest: Path) -> None:
    """Refuse to prepare from recordings other than those the manifest lists (names and sizes;
    the contents were hashed when the manifest was written).

    The manifest and ``files`` are compared row by row in the reader's order, so that memory does
    not grow with the number of recordings; only on a difference are both read whole, to name it.
    """
    root = Path(root)
    files = iter(files)
    with Path(manifest).open(newline="") as handle:
        rows = csv.reader(handle)
        header = tuple(next(rows, ()))
        if header != COLUMNS:
            raise NMNISTDataError(f"raw manifest '{manifest}' has columns {list(header)}, expected {list(COLUMNS)}")
        for matched, (row, path) in enumerate(itertools.zip_longest(rows, files)):
            found = None if path is None else (str(Path(path).relative_to(root)), Path(path).stat().st_size)
            if row is None or found is None or (row[0], int(row[1])) != found:
                rest = [found] if found is not None else []
                rest += [(str(Path(p).relative_to(root)), Path(p).stat().st_size) for p in files]
                _raise_difference(root, Path(manifest), matched, rest)


def _raise_difference(root: Path, manifest: Path, matched: int, rest: list[tuple[str, int]]) -> None:
    """Name what differs: the recordings are the manifest's first ``matched`` rows (they agreed)
    followed by ``rest`` (this is the error path, so both are held whole)."""
    listed = pl.read_csv(manifest)
    expected = dict(zip(listed["path"].to_list(), listed["bytes"].to_list(), strict=True))
    found = dict(zip(listed["path"].to_list()[:matched], listed["bytes"].to_list()[:matched], strict=True))
    found.update(rest)
    extra = sorted(set(found) - set(expected))[:3]
    gone = sorted(set(expected) - set(found))[:3]
    resized = sorted(name for name in set(found) & set(expected) if found[name] != expected[name])[:3]
    raise NMNISTDataError(
        f"the recordings under '{root}' differ from the raw manifest '{manifest}' "
        f"(not listed: {extra}, missing: {gone}, other size: {resized}): rerun its checksum rule "
        "(snakemake does so when a recording changes)"
    )
