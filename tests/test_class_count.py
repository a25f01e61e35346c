"""The class count flows from a dataset's labels through the caches, the models, the checkpoint,
the per-sample predictions and the summary: nothing assumes ten classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from conftest import tiny_config

from beamnet.config import model_encoding
from beamnet.data.prepare import prepare_digits
from beamnet.encoding import encode_dataset
from beamnet.evaluate import evaluate_checkpoint
from beamnet.io import load_torch_file, write_npz
from beamnet.models.encoder import load_cache
from beamnet.summarise import metrics_per_seed, read_predictions
from beamnet.train import train_model

CLASSES = 3


@pytest.fixture(scope="module")
def three_digits(tmp_path_factory: pytest.TempPathFactory, _default_config) -> tuple[dict, dict[str, Path]]:
    """The digits 0-2 only, prepared and encoded as a dataset of three classes."""
    config = tiny_config(_default_config, epochs=2, mc_passes=2)
    root = tmp_path_factory.mktemp("three")
    prepare_digits(config, root / "all.csv", root / "all.npz")
    manifest = pl.read_csv(root / "all.csv")
    with np.load(root / "all.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    keep = arrays["labels"] < CLASSES
    manifest.filter(pl.Series(keep)).write_csv(root / "manifest.csv")
    write_npz(
        root / "images.npz",
        {
            **arrays,
            "images": arrays["images"][keep],
            "labels": arrays["labels"][keep],
            "sample_ids": arrays["sample_ids"][keep],
        },
    )
    caches: dict[str, Path] = {}
    for model in ("beam_net", "ann_mlp"):
        encoding = model_encoding(config, model, "digits")
        paths = [root / encoding / f"{split}.npz" for split in ("train", "val", "test")]
        if not paths[0].exists():
            paths[0].parent.mkdir()
            encode_dataset(config, "digits", encoding, root / "images.npz", root / "manifest.csv", paths)
        caches[model] = paths[0].parent
    return config, caches


@pytest.mark.parametrize("model", ["beam_net", "ann_mlp"])
def test_three_classes_from_labels_to_summary(three_digits, tmp_path: Path, model: str) -> None:
    config, caches = three_digits
    folder = caches[model]
    for split in ("train", "val", "test"):
        assert load_cache(folder / f"{split}.npz").n_classes == CLASSES
    checkpoint = tmp_path / "model.pt"
    train_model(config, "digits", model, 0, folder / "train.npz", folder / "val.npz", checkpoint, tmp_path / "h.csv")
    payload = load_torch_file(checkpoint)
    assert payload["n_classes"] == CLASSES
    output = tmp_path / "predictions" / "dataset=digits" / f"model={model}" / "seed=0" / "predictions.parquet"
    evaluate_checkpoint(config, "digits", model, 0, checkpoint, folder / "test.npz", output)
    predictions = read_predictions([output])
    assert sorted(c for c in predictions.columns if c.startswith("prob_")) == [f"prob_{c}" for c in range(CLASSES)]
    probabilities = torch.tensor(predictions.select(f"prob_{c}" for c in range(CLASSES)).to_numpy())
    assert torch.allclose(probabilities.sum(1), torch.ones(len(predictions), dtype=probabilities.dtype), atol=1e-5)
    assert set(predictions["prediction"].unique()) <= set(range(CLASSES))
    per_seed = metrics_per_seed(predictions, int(config["evaluate"]["ece_bins"]))
    assert per_seed["accuracy"].item() > 1 / CLASSES  # better than chance among three classes


def test_a_cache_without_its_class_count_is_refused(three_digits, tmp_path: Path) -> None:
    _, caches = three_digits
    with np.load(caches["ann_mlp"] / "train.npz") as archive:
        arrays = {name: archive[name] for name in archive.files if name != "n_classes"}
    write_npz(tmp_path / "old.npz", arrays)
    with pytest.raises(ValueError, match=r"old\.npz' has no 'n_classes'.*re-encode"):
        load_cache(tmp_path / "old.npz")
