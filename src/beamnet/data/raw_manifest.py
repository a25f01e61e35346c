"""Checksums of a dataset's raw files: the manifest that makes changed recordings rerun ``prepare``.

``results/datasets/nmnist/raw_files.csv`` lists every recording under the N-MNIST root
(``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin``, the files :class:`NMNISTFolder` reads) with
its size and SHA-256. The workflow's checksum rule has the recordings as inputs, so a recording
that is added, removed or rewritten reruns it; ``prepare`` has the manifest as input, checks
that the recordings it reads are the ones listed, and records the manifest's digest in the
events archive's provenance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from beamnet.data.nmnist import FOLDERS, N_CLASSES, NMNISTDataError
from beamnet.io import atomic_paths

COLUMNS = ("path", "bytes", "sha256")
_CHUNK = 1 << 20


def nmnist_raw_files(root: str | Path) -> list[Path]:
    """Every recording under ``root`` that the N-MNIST reader would read, in a fixed order."""
    root = Path(root)
    return [
        path
        for folder in FOLDERS.values()
        for digit in range(N_CLASSES)
        for path in sorted((root / folder / str(digit)).glob("*.bin"))
    ]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def write_raw_manifest(root: str | Path, files: Iterable[Path], output: Path) -> pl.DataFrame:
    """Hash ``files`` (under ``root``) into ``output`` (CSV: path relative to root, bytes, sha256)."""
    root = Path(root)
    rows = [(str(path.relative_to(root)), path.stat().st_size, file_sha256(path)) for path in files]
    if not rows:
        raise NMNISTDataError(f"no recordings to checksum under '{root}' (expected Train/ and Test/ with .bin files)")
    table = pl.DataFrame(rows, schema=list(COLUMNS), orient="row")
    with atomic_paths(output) as (temp,):
        table.write_csv(temp)
    return table


def manifest_sha256(path: Path) -> str:
    """The digest of the manifest itself: one value that names the whole set of raw files."""
    return file_sha256(Path(path))


def check_against_manifest(root: str | Path, files: Iterable[Path], manifest: Path) -> None:
    """Refuse to prepare from recordings other than those the manifest lists (names and sizes;
    the contents were hashed when the manifest was written)."""
    root = Path(root)
    listed = pl.read_csv(manifest)
    if tuple(listed.columns) != COLUMNS:
        raise NMNISTDataError(f"raw manifest '{manifest}' has columns {listed.columns}, expected {list(COLUMNS)}")
    expected = dict(zip(listed["path"].to_list(), listed["bytes"].to_list(), strict=True))
    found = {str(Path(path).relative_to(root)): Path(path).stat().st_size for path in files}
    if found != expected:
        extra = sorted(set(found) - set(expected))[:3]
        gone = sorted(set(expected) - set(found))[:3]
        resized = sorted(name for name in set(found) & set(expected) if found[name] != expected[name])[:3]
        raise NMNISTDataError(
            f"the recordings under '{root}' differ from the raw manifest '{manifest}' "
            f"(not listed: {extra}, missing: {gone}, other size: {resized}): rerun its checksum rule "
            "(snakemake does so when a recording changes)"
        )
