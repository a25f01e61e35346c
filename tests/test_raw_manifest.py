"""The raw recordings' checksum manifest: what it lists, what prepare checks, what reruns."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml
from workflow_helpers import copy_workflow, default_config_dict, snakemake, write_config

from beamnet.data.nmnist import NMNISTDataError, NMNISTFolder
from beamnet.data.raw_manifest import check_against_manifest, nmnist_raw_files, write_raw_manifest


@pytest.fixture
def small_root(nmnist_root: Path, tmp_path: Path) -> Path:
    """Two recordings per digit and split, copied from the real subset."""
    root = tmp_path / "nmnist"
    for folder in ("Train", "Test"):
        for digit in range(10):
            target = root / folder / str(digit)
            target.mkdir(parents=True)
            for path in sorted((nmnist_root / folder / str(digit)).glob("*.bin"))[:2]:
                shutil.copy2(path, target / path.name)
    return root


def test_manifest_lists_every_recording_the_reader_reads_with_its_digest(small_root: Path, tmp_path: Path) -> None:
    files = nmnist_raw_files(small_root)
    reader = NMNISTFolder(small_root, "train").files + NMNISTFolder(small_root, "test").files
    assert files == reader and len(files) == 40
    assert write_raw_manifest(small_root, iter(files), tmp_path / "raw.csv") == 40  # streamed from an iterator
    table = pl.read_csv(tmp_path / "raw.csv")
    assert table.columns == ["path", "bytes", "sha256"] and table.height == 40
    # the bytes Polars would write for the same table, so that the digest prepare records is unchanged
    assert (tmp_path / "raw.csv").read_text() == table.write_csv()
    first = table.row(0, named=True)
    data = (small_root / first["path"]).read_bytes()
    assert first["bytes"] == len(data) and first["sha256"] == hashlib.sha256(data).hexdigest()
    check_against_manifest(small_root, reader, tmp_path / "raw.csv")  # the same recordings pass
    check_against_manifest(small_root, iter(reader), tmp_path / "raw.csv")  # also as a stream


@pytest.mark.parametrize("change", ["added", "removed", "resized"])
def test_prepare_refuses_recordings_the_manifest_does_not_list(small_root: Path, tmp_path: Path, change) -> None:
    manifest = tmp_path / "raw.csv"
    write_raw_manifest(small_root, nmnist_raw_files(small_root), manifest)
    first = nmnist_raw_files(small_root)[5]  # a recording after some that still agree
    named = str(first.relative_to(small_root))
    if change == "added":
        shutil.copy2(first, first.with_name("copy_" + first.name))
        named = str(first.with_name("copy_" + first.name).relative_to(small_root))
    elif change == "removed":
        first.unlink()
    else:
        with first.open("ab") as handle:
            handle.write(b"\0" * 5)
    label = {"added": "not listed", "removed": "missing", "resized": "other size"}[change]
    with pytest.raises(NMNISTDataError, match=rf"differ from the raw manifest '{manifest}'") as error:
        check_against_manifest(small_root, nmnist_raw_files(small_root), manifest)
    assert f"{label}: ['{named}']" in str(error.value)


@pytest.mark.workflow
def test_a_changed_recording_reruns_the_checksum_and_prepare(small_root: Path, tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "work")
    config = default_config_dict()
    config["datasets"] = ["nmnist"]
    config["data"]["nmnist"]["root"] = str(small_root)
    write_config(work / "config.yaml", config)
    target = "results/datasets/nmnist/raw_files.csv"
    built = snakemake(target, "--cores", "1", cwd=work)
    assert built.returncode == 0, built.stdout[-3000:]
    assert pl.read_csv(work / target).height == 40
    unchanged = snakemake("-n", "results/datasets/nmnist/events.npz", cwd=work)
    assert "checksum_nmnist" not in unchanged.stdout.split("Job stats")[-1], unchanged.stdout[-2000:]
    recording = nmnist_raw_files(small_root)[3]
    data = bytearray(recording.read_bytes())
    data[-1] ^= 0xFF  # one event's last byte: other contents (Snakemake compares checksums of small inputs)
    recording.chmod(0o644)
    recording.write_bytes(bytes(data))
    rerun = snakemake("-n", "results/datasets/nmnist/events.npz", cwd=work)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    stats = rerun.stdout.split("Job stats")[-1]
    assert "checksum_nmnist" in stats and "prepare_nmnist" in stats
    assert yaml.safe_load((work / "config.yaml").read_text())["data"]["nmnist"]["root"] == str(small_root)
