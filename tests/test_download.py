"""The N-MNIST download step: tonic's archives verified by MD5 and extracted atomically, an
offline path from archives already in place, clear errors that leave nothing half-written, and
a prepare step that never downloads."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

import beamnet.data.download as download
from beamnet.data.download import Archive, download_root, fetch_nmnist, tonic_archives
from beamnet.data.nmnist import NMNISTDataError, NMNISTFolder, resolve_root

RECORDINGS_PER_DIGIT = 2


def _zip_split(nmnist_root: Path, folder: str, archive: Path) -> str:
    """A zip of ``folder``/<digit>/*.bin with a few of the shared recordings (the layout tonic's
    archives have); returns its MD5."""
    with zipfile.ZipFile(archive, "w") as handle:
        for digit in range(10):
            for path in sorted((nmnist_root / folder / str(digit)).glob("*.bin"))[:RECORDINGS_PER_DIGIT]:
                handle.write(path, f"{folder}/{digit}/{path.name}")
    return hashlib.md5(archive.read_bytes()).hexdigest()


@pytest.fixture
def archives(nmnist_root: Path, tmp_path: Path) -> tuple[tuple[Archive, ...], dict[str, Path]]:
    """Two archives in tonic's layout, described as tonic describes its own (URL, name, MD5)."""
    made = tmp_path / "archives"
    made.mkdir()
    described, files = [], {}
    for split, folder in (("train", "Train"), ("test", "Test")):
        path = made / f"{split}.zip"
        md5 = _zip_split(nmnist_root, folder, path)
        described.append(Archive(split, f"https://example.invalid/{split}.zip", f"{split}.zip", md5, folder))
        files[split] = path
    return tuple(described), files


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """tonic's downloader replaced by one that records the call and fails as offline machines do."""
    calls: list[str] = []

    def refuse(url: str, root: str, filename: str | None = None, md5: str | None = None, **_: object) -> None:
        calls.append(url)
        raise OSError("network is unreachable")

    monkeypatch.setattr("tonic.download_utils.download_url", refuse)
    return calls


def test_tonic_describes_both_archives() -> None:
    """The URLs and checksums are tonic's own, one archive per split."""
    described = {archive.split: archive for archive in tonic_archives()}
    assert set(described) == {"train", "test"}
    assert all(len(archive.md5) == 32 and archive.url.startswith("https://") for archive in described.values())
    assert (described["train"].folder, described["test"].folder) == ("Train", "Test")


def test_archives_in_place_are_verified_and_extracted_offline(archives, tmp_path: Path, no_network) -> None:
    described, files = archives
    folder = download_root(tmp_path / "raw")
    folder.mkdir(parents=True)
    for archive in described:
        shutil.copy(files[archive.split], folder / archive.filename)
    marker = folder / "download.json"
    root = fetch_nmnist(tmp_path / "raw", marker, offline=True, archives=described)
    assert root == folder and no_network == []
    train, test = NMNISTFolder(root, "train"), NMNISTFolder(root, "test")
    assert len(train) == len(test) == 10 * RECORDINGS_PER_DIGIT
    assert len(train[0][0]) > 1000
    record = json.loads(marker.read_text())
    assert record["archives"]["train"]["md5"] == described[0].md5
    assert resolve_root("/no/such/root", True, tmp_path / "raw") == folder
    assert not list(folder.glob(".extract-*")) and not list(folder.glob(".download-*"))


def test_missing_archive_offline_names_the_file_and_writes_nothing(archives, tmp_path: Path, no_network) -> None:
    described, _ = archives
    marker = download_root(tmp_path / "raw") / "download.json"
    with pytest.raises(NMNISTDataError, match=r"train\.zip.*missing.*offline") as info:
        fetch_nmnist(tmp_path / "raw", marker, offline=True, archives=described)
    assert described[0].md5 in str(info.value)
    assert no_network == [] and not marker.exists()
    assert not (download_root(tmp_path / "raw") / "Train").exists()


def test_corrupt_archive_is_refused_by_checksum(archives, tmp_path: Path, no_network) -> None:
    described, files = archives
    folder = download_root(tmp_path / "raw")
    folder.mkdir(parents=True)
    for archive in described:
        shutil.copy(files[archive.split], folder / archive.filename)
    corrupt = folder / "test.zip"
    corrupt.write_bytes(corrupt.read_bytes()[: corrupt.stat().st_size // 2])
    with pytest.raises(NMNISTDataError, match=r"test\.zip' has MD5 [0-9a-f]{32}, expected") as info:
        fetch_nmnist(tmp_path / "raw", folder / "download.json", archives=described)
    assert described[1].md5 in str(info.value)
    assert not (folder / "download.json").exists() and not (folder / "Test").exists()
    assert corrupt.exists(), "the user's file is reported, not deleted"


def test_failed_download_keeps_nothing(archives, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A download cut off half-way leaves neither the partial archive nor a temporary folder."""
    described, files = archives

    def cut_off(url: str, root: str, filename: str | None = None, md5: str | None = None, **_: object) -> None:
        Path(root, filename).write_bytes(files["train"].read_bytes()[:1000])
        raise OSError("connection reset by peer")

    monkeypatch.setattr("tonic.download_utils.download_url", cut_off)
    folder = download_root(tmp_path / "raw")
    with pytest.raises(NMNISTDataError, match="connection reset by peer.*nothing was kept"):
        fetch_nmnist(tmp_path / "raw", folder / "download.json", archives=described)
    assert sorted(path.name for path in folder.iterdir()) == []


def test_download_with_a_wrong_checksum_is_not_kept(archives, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    described, files = archives

    def truncated(url: str, root: str, filename: str | None = None, md5: str | None = None, **_: object) -> None:
        Path(root, filename).write_bytes(files["train"].read_bytes()[:-10])

    monkeypatch.setattr("tonic.download_utils.download_url", truncated)
    folder = download_root(tmp_path / "raw")
    with pytest.raises(NMNISTDataError, match="incomplete or corrupt and was not kept"):
        fetch_nmnist(tmp_path / "raw", folder / "download.json", archives=described)
    assert sorted(path.name for path in folder.iterdir()) == []


def test_download_fetches_verifies_and_extracts(archives, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    described, files = archives
    fetched: list[str] = []

    def serve(url: str, root: str, filename: str | None = None, md5: str | None = None, **_: object) -> None:
        fetched.append(url)
        shutil.copy(files[Path(url).stem], Path(root, filename))

    monkeypatch.setattr("tonic.download_utils.download_url", serve)
    root = fetch_nmnist(tmp_path / "raw", download_root(tmp_path / "raw") / "download.json", archives=described)
    assert fetched == [archive.url for archive in described]
    assert len(NMNISTFolder(root, "test")) == 10 * RECORDINGS_PER_DIGIT
    assert (root / "train.zip").exists() and (root / "test.zip").exists()


def test_reading_never_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With download on and the download folder still empty, resolve_root names the download
    step instead of fetching anything."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("resolve_root tried to download")

    monkeypatch.setattr("tonic.datasets.NMNIST", forbidden)
    monkeypatch.setattr(download, "fetch_nmnist", forbidden)
    with pytest.raises(NMNISTDataError, match="download_nmnist") as info:
        resolve_root(str(tmp_path / "absent"), True, tmp_path / "raw")
    assert "data.nmnist.download_dir" in str(info.value)
    assert not (tmp_path / "raw").exists()


def test_workflow_downloads_in_a_local_step_before_checksumming(tmp_path: Path) -> None:
    """download on and no root: the DAG runs download_nmnist (a local rule), then the checksum
    and prepare steps on its folder."""
    from workflow_helpers import snakemake

    raw = tmp_path / "raw"
    result = snakemake(
        "-n",
        "-p",
        "results/datasets/nmnist/events.npz",
        "--config",
        f"data={{nmnist: {{root: {tmp_path / 'absent'}, download: true, download_dir: {raw}}}}}",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "rule download_nmnist:" in result.stdout
    assert f"python -m beamnet download-nmnist --download-dir {raw}" in result.stdout
    assert f"raw-manifest --root {raw / 'NMNIST'}" in result.stdout
