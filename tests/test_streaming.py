"""Bounded memory: chunked encoding, streamed event archives and caches read batch by batch.

The memory itself is measured by the scale benchmark (benchmarks/scale.py); these tests check
that streaming never changes a result: the chunk size leaves a cache's bytes unchanged, rows read
from disk equal the arrays ``np.load`` gives, and training on a cache read on demand writes the
same checkpoint as training on the same cache held in memory.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from beamnet.config import SPLITS
from beamnet.data.events import EVENT_DTYPE, EventArchive, pack_events, write_event_archive
from beamnet.encoding import encode_dataset
from beamnet.io import NpzStreamWriter, open_npz_rows, write_npz
from beamnet.models.encoder import (
    concatenate_splits,
    load_cache,
    materialise,
    open_cache,
    pool_inputs,
    select_samples,
    take_batch,
)
from tests.test_encoding import _tiny_event_dataset


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _encode(config: dict[str, Any], dataset: str, encoding: str, source: Path, manifest: Path, out: Path, chunk: int):
    outputs = [out / f"{split}.npz" for split in SPLITS]
    encode_dataset(config, dataset, encoding, source, manifest, outputs, chunk_samples=chunk)
    return outputs


@pytest.fixture(scope="module")
def saccade_archive(tmp_path_factory: pytest.TempPathFactory, _default_config, digit_images) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("saccade")
    config = {"data": _default_config["data"], "encoding": _default_config["encoding"]}
    return _tiny_event_dataset(tmp, config, digit_images)


@pytest.mark.parametrize("encoding", ["latency", "rate"])
def test_chunk_size_never_changes_a_cache(tmp_path: Path, default_config, saccade_archive, encoding: str) -> None:
    """Chunks of 1, 7 and the whole split give byte-identical caches (the Poisson draws of the
    rate code consume one generator in sample order however they are chunked)."""
    source, manifest = saccade_archive
    config = {"data": default_config["data"], "encoding": default_config["encoding"]}
    digests = {
        chunk: [
            _digest(p)
            for p in _encode(config, "digits_saccade", encoding, source, manifest, tmp_path / str(chunk), chunk)
        ]
        for chunk in (1, 7, 10_000)
    }
    assert digests[1] == digests[7] == digests[10_000]


def test_chunk_size_never_changes_an_image_cache(tmp_path: Path, default_config, digits_caches) -> None:
    """The same for digits' population code, against the session's caches (default chunk)."""
    from beamnet.data.prepare import prepare_digits

    config = default_config  # the session's caches were written with the whole default config
    prepare_digits(config, tmp_path / "manifest.csv", tmp_path / "images.npz")
    outputs = _encode(
        config, "digits", "population", tmp_path / "images.npz", tmp_path / "manifest.csv", tmp_path / "c", 7
    )
    for split, path in zip(SPLITS, outputs, strict=True):
        assert _digest(path) == _digest(digits_caches[f"population/{split}"])


def test_chunk_size_below_one_is_refused(tmp_path: Path, default_config, saccade_archive) -> None:
    source, manifest = saccade_archive
    with pytest.raises(ValueError, match=r"chunk size 0 \(--chunk-samples\)"):
        _encode(default_config, "digits_saccade", "latency", source, manifest, tmp_path, 0)
    assert not list(tmp_path.glob("*.npz"))


def test_stored_rows_read_what_np_load_reads(tmp_path: Path) -> None:
    """Rows read from the file, in any order and with repeats, equal the loaded array's rows."""
    rng = np.random.default_rng(3)
    values = rng.random((41, 3, 5)).astype(np.float32)
    with NpzStreamWriter(tmp_path) as writer:
        for start in range(0, 41, 6):
            writer.append("values", values[start : start + 6])
        writer.put("labels", np.arange(41))
        writer.write(tmp_path / "a.npz")
    arrays = open_npz_rows(tmp_path / "a.npz")
    rows = np.array([40, 0, 7, 7, 8, 9, 3])
    np.testing.assert_array_equal(arrays["values"].read(rows), values[rows])
    np.testing.assert_array_equal(arrays["values"].read_range(5, 12), values[5:12])
    np.testing.assert_array_equal(arrays["labels"], np.arange(41))
    with np.load(tmp_path / "a.npz") as loaded:
        np.testing.assert_array_equal(loaded["values"], values)
    with pytest.raises(IndexError, match="rows outside"):
        arrays["values"].read(np.array([41]))
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]  # the spool files are gone


def test_streamed_chunk_of_another_shape_is_refused(tmp_path: Path) -> None:
    with NpzStreamWriter(tmp_path) as writer:
        writer.append("x", np.zeros((2, 3), np.float32))
        with pytest.raises(ValueError, match=r"chunk of array 'x' has dtype float32 and rows of shape \(4,\)"):
            writer.append("x", np.zeros((2, 4), np.float32))


def test_event_archive_streamed_equals_packed(tmp_path: Path) -> None:
    """An archive written one stream at a time reads back every stream, as one built whole does."""
    rng = np.random.default_rng(0)
    streams = []
    for length in (5, 0, 17, 1):
        events = np.zeros(length, EVENT_DTYPE)
        events["x"], events["y"] = rng.integers(0, 34, length), rng.integers(0, 34, length)
        events["t"], events["p"] = np.sort(rng.integers(0, 300_000, length)), rng.integers(0, 2, length)
        streams.append(events)
    extra = {"labels": np.array([1, 0, 2, 1]), "sensor_size": np.array([34, 34, 2])}
    assert write_event_archive(tmp_path / "streamed.npz", iter(streams), extra) == 4
    write_npz(tmp_path / "packed.npz", pack_events(streams) | extra)
    streamed, packed = EventArchive(tmp_path / "streamed.npz"), EventArchive(tmp_path / "packed.npz")
    for i, events in enumerate(streams):
        np.testing.assert_array_equal(streamed[i][0], events)
        np.testing.assert_array_equal(packed[i][0], events)
        assert streamed[i][1] == packed[i][1] == extra["labels"][i]


def test_open_cache_reads_what_load_cache_holds(digits_caches) -> None:
    """A split read on demand gives the same tensors as one read whole, through selection,
    joining and pooling."""
    lazy = open_cache(digits_caches["latency/train"])
    whole = load_cache(digits_caches["latency/train"])
    index = torch.tensor([9, 2, 2, 0, len(whole) - 1])
    for name in ("spike_times", "active", "intensity"):
        assert torch.equal(getattr(lazy, name)[index], getattr(whole, name)[index])
    joined = concatenate_splits(lazy, open_cache(digits_caches["latency/val"]))
    joined_whole = concatenate_splits(whole, load_cache(digits_caches["latency/val"]))
    chosen = select_samples(joined, torch.argsort(joined.sample_ids))
    chosen_whole = select_samples(joined_whole, torch.argsort(joined_whole.sample_ids))
    pooled, pooled_whole = pool_inputs(chosen, 2), pool_inputs(chosen_whole, 2)
    batch = take_batch(pooled, torch.arange(0, len(pooled), 3))
    for name in ("spike_times", "active", "intensity"):
        assert torch.equal(getattr(batch, name), getattr(pooled_whole, name)[torch.arange(0, len(pooled), 3)])
    assert torch.equal(batch.labels, pooled_whole.labels[::3])
    assert torch.equal(
        materialise(open_cache(digits_caches["rate/test"])).spikes, load_cache(digits_caches["rate/test"]).spikes
    )


@pytest.mark.parametrize("model_name", ["beam_net", "rate_snn"])
def test_training_reads_batches_and_writes_the_same_checkpoint(
    tiny_training_config, digits_caches, tmp_path: Path, model_name: str
) -> None:
    """fit_model on splits read on demand and on the same splits in memory: equal weights."""
    from beamnet.config import model_encoding
    from beamnet.models.encoder import model_view
    from beamnet.train import fit_model

    config = tiny_training_config
    config["train"]["epochs"] = 2
    encoding = model_encoding(config, model_name, "digits")
    fitted = {}
    for reader in (open_cache, load_cache):
        train, val = (
            model_view(reader(digits_caches[f"{encoding}/{split}"]), config, model_name) for split in ("train", "val")
        )
        fitted[reader.__name__] = fit_model(config, "digits", model_name, 0, train, val, 1)
    lazy, whole = fitted["open_cache"].model.state_dict(), fitted["load_cache"].model.state_dict()
    assert fitted["open_cache"].history == fitted["load_cache"].history
    assert lazy.keys() == whole.keys()
    for key in lazy:
        assert torch.equal(lazy[key], whole[key]), key


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the heap policy is glibc's (mallopt)")
def test_mmap_threshold_is_fixed_on_glibc() -> None:
    """mallopt accepts the fixed threshold (in a fresh interpreter: the test process's heap is
    left as it is)."""
    script = "from beamnet.memory import fix_mmap_threshold; print(fix_mmap_threshold())"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


def test_every_cli_step_fixes_the_mmap_threshold(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The threshold is fixed before a step runs (here one that fails on a missing file)."""
    import beamnet.cli

    calls: list[bool] = []
    monkeypatch.setattr(beamnet.cli, "fix_mmap_threshold", lambda: calls.append(True) or True)
    status = beamnet.cli.main(
        ["raw-manifest", "--root", str(tmp_path / "nowhere"), "--output", str(tmp_path / "m.csv")]
    )
    assert status == 2 and calls == [True] and not (tmp_path / "m.csv").exists()
