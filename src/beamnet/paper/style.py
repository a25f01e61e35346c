"""Figure style and display names shared by the notebooks and the manuscript's tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

MODEL_NAMES = {"beam_net": "BEAM-Net", "ann_mlp": "ANN-MLP", "rate_snn": "Rate-coded SNN"}


DATASET_NAMES = {
    "digits": "Digits (8x8)",
    "digits_saccade": "Digits-saccade (DVS)",
    "nmnist": "N-MNIST",
    "dvs_gesture": "DVS Gesture",
}


MODEL_COLOURS = {"BEAM-Net": "#0072B2", "ANN-MLP": "#E69F00", "Rate-coded SNN": "#009E73"}  # Okabe-Ito


FIGURE_DPI = 200


def apply_figure_style() -> None:
    """One legible style for every notebook's figures (seaborn paper context)."""
    import seaborn as sns

    sns.set_theme(
        context="paper",
        style="whitegrid",
        font_scale=1.15,
        rc={"figure.dpi": 100, "savefig.bbox": "tight", "axes.titleweight": "bold", "legend.frameon": False},
    )


def save_figure(figure: Any, output_dir: str | Path, stem: str) -> list[Path]:
    """Write ``figure`` as ``stem``.png (for the manuscript and the HTML report) and ``stem``.pdf."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = [output_dir / f"{stem}.png", output_dir / f"{stem}.pdf"]
    figure.savefig(paths[0], dpi=FIGURE_DPI)
    figure.savefig(paths[1])
    return paths


def display_names(frame: pl.DataFrame) -> pl.DataFrame:
    """Replace model and dataset identifiers by the names the manuscript prints."""
    return frame.with_columns(pl.col("model").replace(MODEL_NAMES), pl.col("dataset").replace(DATASET_NAMES))


BASELINE_NAMES = {
    "ann_mlp_fp32": "the fp32 ANN-MLP",
    "ann_mlp_int8": "the int8 ANN-MLP",
    "ann_mlp_dense_fp32": "the dense fp32 ANN",
    "ann_mlp_dense_int8": "the dense int8 ANN",
    "gpu_attention": "the GPU-attention anchor",
    "cortex": "the cortex anchor",
}


REFERENCE_LABELS = ("gpu_attention", "cortex")  # the report's anchors (energy.REFERENCE_ANCHORS_NJ)


PLATFORM_NAMES = {"loihi": "Loihi", "cmos45_fp32": "45 nm CMOS fp32", "cmos45_int8": "45 nm CMOS int8"}
