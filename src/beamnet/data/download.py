"""Fetching the full N-MNIST through tonic, as a step of its own (rule ``download_nmnist``).

Compute nodes of a cluster are often offline, so ``prepare`` never downloads: the
``download_nmnist`` rule (a local rule: run it once on a login node, ``snakemake
download_nmnist``) fetches tonic's two archives of N-MNIST (the URLs and MD5 checksums are
``tonic.datasets.NMNIST``'s own) into ``data.nmnist.download_dir``/NMNIST, verifies them and
extracts ``Train/`` and ``Test/`` there; the workflow then reads that folder as its root.

Offline: archives already in that folder (copied from another machine) are verified and
extracted without touching the network; with ``offline=True`` a missing archive is an error
that says where to put it. Nothing is half-written: a download goes to a temporary name and
is moved into place only once its checksum matches, and an archive is extracted into a
temporary folder that replaces ``Train/`` or ``Test/`` only once its layout is checked.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from beamnet.data.nmnist import DOWNLOAD_FOLDER, FOLDERS, N_CLASSES, NMNISTDataError, has_nmnist_layout
from beamnet.io import atomic_paths

log = logging.getLogger(__name__)

MARKER = "download.json"


@dataclass(frozen=True)
class Archive:
    """One of N-MNIST's archives as tonic describes it."""

    split: str  # train | test
    url: str
    filename: str
    md5: str
    folder: str  # the folder the archive holds: Train | Test


def tonic_archives() -> tuple[Archive, ...]:
    """N-MNIST's archives, from ``tonic.datasets.NMNIST``'s class attributes."""
    from tonic.datasets import NMNIST

    return (
        Archive("train", NMNIST.train_url, NMNIST.train_filename, NMNIST.train_md5, NMNIST.train_folder),
        Archive("test", NMNIST.test_url, NMNIST.test_filename, NMNIST.test_md5, NMNIST.test_folder),
    )


def download_root(download_dir: str | Path) -> Path:
    """The N-MNIST root that the download step fills: ``download_dir``/NMNIST."""
    return Path(download_dir) / DOWNLOAD_FOLDER


def _md5(path: Path) -> str:
    from tonic.download_utils import calculate_md5

    return calculate_md5(str(path))


def _fetch(archive: Archive, folder: Path, offline: bool) -> Path:
    """The verified archive in ``folder``, downloaded first where absent (and allowed)."""
    target = folder / archive.filename
    if target.exists():
        found = _md5(target)
        if found != archive.md5:
            raise NMNISTDataError(
                f"N-MNIST archive '{target}' has MD5 {found}, expected {archive.md5} (tonic's checksum): "
                "it is corrupt or incomplete; remove it to download it again"
            )
        log.info("using the verified archive %s", target)
        return target
    if offline:
        raise NMNISTDataError(
            f"N-MNIST archive '{target}' is missing and the download step runs offline: copy "
            f"{archive.filename} (MD5 {archive.md5}, from {archive.url}) there, "
            "or run it where the network is reachable"
        )
    from tonic.download_utils import download_url

    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as scratch:
        log.info("downloading %s -> %s", archive.url, target)
        try:
            download_url(archive.url, scratch, archive.filename, md5=None)
        except Exception as error:  # network errors differ by platform and urllib version
            raise NMNISTDataError(
                f"downloading N-MNIST's {archive.filename} from {archive.url} into '{folder}' failed: {error}; "
                "nothing was kept (rerun where the network is reachable, or copy the archive there)"
            ) from error
        partial = Path(scratch) / archive.filename
        found = _md5(partial) if partial.exists() else "nothing"
        if found != archive.md5:
            raise NMNISTDataError(
                f"the download of N-MNIST's {archive.filename} from {archive.url} has MD5 {found}, "
                f"expected {archive.md5}: it is incomplete or corrupt and was not kept"
            )
        os.replace(partial, target)
    return target


def _extract(archive: Archive, path: Path, folder: Path) -> None:
    """Extract ``archive`` into a temporary folder, check its layout, then move its split folder
    into ``folder`` (replacing an earlier, incomplete one)."""
    from tonic.download_utils import extract_archive

    with tempfile.TemporaryDirectory(dir=folder, prefix=f".extract-{archive.split}-") as scratch:
        try:
            extract_archive(str(path), scratch)
        except Exception as error:
            raise NMNISTDataError(f"N-MNIST archive '{path}' could not be extracted: {error}") from error
        found = [candidate for candidate in Path(scratch).rglob(archive.folder) if candidate.is_dir()]
        digits = [str(digit) for digit in range(N_CLASSES)]
        if not found or not all(any((found[0] / digit).glob("*.bin")) for digit in digits):
            raise NMNISTDataError(
                f"N-MNIST archive '{path}' does not hold {archive.folder}/<digit>/*.bin "
                f"for every digit 0-{N_CLASSES - 1}"
            )
        destination = folder / archive.folder
        if destination.exists():
            shutil.rmtree(destination)
        os.replace(found[0], destination)


def fetch_nmnist(
    download_dir: str | Path, marker: Path, *, offline: bool = False, archives: tuple[Archive, ...] | None = None
) -> Path:
    """Fill ``download_dir``/NMNIST with N-MNIST's ``Train/`` and ``Test/``; write ``marker``
    (JSON: each archive's name and verified MD5) last. Returns the root."""
    archives = archives if archives is not None else tonic_archives()
    folder = download_root(download_dir)
    folder.mkdir(parents=True, exist_ok=True)
    record = {}
    for archive in archives:
        path = _fetch(archive, folder, offline)
        _extract(archive, path, folder)
        record[archive.split] = {"archive": archive.filename, "md5": archive.md5, "url": archive.url}
    if not has_nmnist_layout(folder):
        raise NMNISTDataError(f"after extraction '{folder}' lacks {sorted(FOLDERS.values())}")
    with atomic_paths(marker) as (temp,):
        temp.write_text(json.dumps({"root": str(folder), "archives": record}, indent=1, sort_keys=True) + "\n")
    return folder
