"""Run an exported network on Loihi 2's bit-accurate simulator in lava-nc (the ``loihi_run`` rule).

Two kinds of network (the archive's ``network_kind``), one module each: BEAM-Net
(:mod:`beamnet.loihi.lava_beam_net`) and the rate-coded SNN baseline
(:mod:`beamnet.loihi.lava_rate_snn`, format in :mod:`beamnet.loihi.rate_snn`); their lava
wiring is data (a list of connections, :mod:`beamnet.loihi.lava_common`). This module reads
the archives, runs the chunks, checks the run and writes its outputs.

Runs in the Python 3.10 lava-nc environment and imports NumPy, lava and the standard library
only (plus the torch-free :mod:`beamnet.loihi` modules and :mod:`beamnet.energy`)::

    python src/beamnet/loihi/run_lava.py --network network.npz --inputs inputs.npz \
        --predictions predictions.csv --summary summary.json [--chunk-samples 20] [--limit N]

Processes are fixed-point models run on ``Loihi2SimCfg(select_tag='fixed_pt')``.
Samples run back to back, ``T + 2`` steps each (see :func:`beamnet.loihi.fixed_point.period`),
``--chunk-samples`` per lava network (the input lines of a chunk are the rows its Dense
holds: the grid points that chunk's samples use). Every sample is also run through the NumPy
reference (:func:`beamnet.loihi.fixed_point.simulate_sample`) and the two must agree bit for
bit (spike rasters and evidence); a mismatch is reported in the summary.

Measured per sample: spikes of the pattern and relay neurons (BEAM-Net) or of the hidden
neurons (rate-SNN), read by lava Monitors; input-line spikes; synaptic events (each spike times
the non-zero synapses it reaches); neuron updates (every neuron every step); and Eq. 25 energy
under :mod:`beamnet.energy`'s convention: those counts on the ``loihi`` platform
(``energy_on_chip_nj``), the host loop's MACs and pattern-table reads exported per sample
(``energy_host_nj``), and their sum (``energy_nj``).

The run fails (exit status 3, the summary printed first so that the log keeps it) when lava
differs from the NumPy integer reference on any sample, or when the agreement with the torch
model's prediction is below ``--agreement-floor``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the torch-free beamnet modules importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from beamnet.energy import HOST_PLATFORM, PLATFORMS
from beamnet.loihi.fixed_point import ArchiveError, check_network, period
from beamnet.loihi.lava_beam_net import beam_net_rows
from beamnet.loihi.lava_rate_snn import rate_snn_rows
from beamnet.loihi.rate_snn import rate_period

REPORT_PROJECTION_NJ = (5.0, 7.0)  # the BEAM-Net README's projected Loihi energy per inference


def load_inputs(path: Path, net: dict) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        inputs = {key: archive[key] for key in archive.files}
    version = int(inputs.get("format_version", -1))
    if version != net["format_version"]:
        raise ArchiveError(f"inputs archive '{path}': format version {version}, expected {net['format_version']}")
    kind = str(inputs["network_kind"]) if "network_kind" in inputs else None
    if kind != net["network_kind"]:
        raise ArchiveError(
            f"inputs archive '{path}' was made for a {kind} network, the network is a {net['network_kind']}"
        )
    if kind == "rate_snn":
        if int(inputs["steps"]) != net["steps"] or int(inputs["n_inputs"]) != net["n_inputs"]:
            raise ArchiveError(
                f"inputs archive '{path}' holds {int(inputs['n_inputs'])} inputs x "
                f"{int(inputs['steps'])} steps, the network has {net['n_inputs']} x {net['steps']}"
            )
        return inputs
    if int(inputs["grid_points"]) != net["grid_points"] or int(inputs["n_inputs"]) != net["n_inputs"]:
        raise ArchiveError(
            f"inputs archive '{path}' was made for {int(inputs['n_inputs'])} inputs x "
            f"{int(inputs['grid_points'])} grid points, the network has "
            f"{net['n_inputs']} x {net['grid_points']}"
        )
    return inputs


class RunCheckError(RuntimeError):
    """A finished run that fails its checks: the simulator differs from the integer reference, or
    its agreement with the torch model is below the floor."""


def check_run(summary: dict, agreement_floor: float) -> None:
    """Fail a run whose lava spikes differ from the NumPy integer reference on any sample, or
    whose agreement with the torch model's prediction is below ``agreement_floor``."""
    problems = []
    if summary["simulator"] == "lava" and summary["reference_mismatches"] > 0:
        problems.append(
            f"lava differed from the NumPy integer reference on {summary['reference_mismatches']} of "
            f"{summary['samples']} samples (spike rasters or evidence): expected 0"
        )
    if summary["agreement_torch"] < agreement_floor:
        problems.append(
            f"agreement with the torch model {summary['agreement_torch']:.4f} is below the floor "
            f"loihi.agreement_floor = {agreement_floor:g}"
        )
    if problems:
        raise RunCheckError(f"{summary['model']} on {summary['dataset']}: " + "; ".join(problems))


def run(
    network_path: Path,
    inputs_path: Path,
    predictions_path: Path,
    summary_path: Path,
    chunk_samples: int,
    limit: int | None,
    use_lava: bool = True,
    agreement_floor: float = 0.0,
) -> dict:
    with np.load(network_path) as archive:
        net = check_network(archive, source=f"network archive '{network_path}'")
    inputs = load_inputs(inputs_path, net)
    samples = len(inputs["labels"]) if limit is None else min(limit, len(inputs["labels"]))
    rate_snn = net["network_kind"] == "rate_snn"
    began = time.perf_counter()
    rows, mismatches, overflow = (rate_snn_rows if rate_snn else beam_net_rows)(
        net, inputs, samples, chunk_samples, use_lava
    )
    wall = time.perf_counter() - began
    table = {key: np.array([row[key] for row in rows]) for key in rows[0]}
    summary = {
        "dataset": str(net.get("dataset", "")),
        "model": net["network_kind"],
        "samples": samples,
        "simulator": "lava" if use_lava else "numpy reference",
        "run_config": "Loihi2SimCfg(select_tag='fixed_pt')" if use_lava else None,
        "lava_version": _lava_version() if use_lava else None,
        "wall_time_s": wall,
        "time_steps": samples * (rate_period(net) if rate_snn else period(net)),
        "chunk_samples": chunk_samples,
        "cpu_count": os.cpu_count(),
        "agreement_torch": float((table["prediction"] == table["torch_prediction"]).mean()),
        "agreement_torch_deterministic": float((table["prediction"] == table["torch_prediction_deterministic"]).mean()),
        "accuracy": float((table["prediction"] == table["label"]).mean()),
        "torch_accuracy": float((table["torch_prediction"] == table["label"]).mean()),
        "reference_mismatches": int(mismatches),
        "input_overflow_samples": int(overflow),
        "mean_neuron_spikes": float(table["neuron_spikes"].mean()),  # pattern (BEAM-Net) or hidden (rate-SNN) neurons
        "mean_synops": float(table["synops"].mean()),
        "mean_neuron_updates": float(table["neuron_updates"].mean()),
        "energy_nj_mean": float(table["energy_nj"].mean()),
        "energy_nj_std": float(table["energy_nj"].std()),
        "energy_on_chip_nj_mean": float(table["energy_on_chip_nj"].mean()),
        "energy_host_nj_mean": float(table["energy_host_nj"].mean()),
        "energy_synops_nj_mean": float(table["synops"].mean() * PLATFORMS["loihi"].synop_pj / 1000),
        "report_projection_nj": list(REPORT_PROJECTION_NJ),
        "threshold_mode": str(net.get("threshold_mode", "")),
        "platform_source": PLATFORMS["loihi"].source,
        "platform_chip": PLATFORMS["loihi"].chip,
        "host_platform": HOST_PLATFORM,
        "agreement_floor": agreement_floor,
    }
    predictions_path.parent.mkdir(parents=True, exist_ok=True)
    temp = predictions_path.with_name(f".{predictions_path.name}.partial")
    with open(temp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary_temp = summary_path.with_name(f".{summary_path.name}.partial")
    summary_temp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    os.replace(temp, predictions_path)
    os.replace(summary_temp, summary_path)
    return summary


def _lava_version() -> str:
    try:
        from importlib.metadata import version

        return version("lava-nc")
    except Exception:  # noqa: BLE001
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--predictions", required=True)
    parser.add_argument("--summary", required=True)
    parser.add_argument("--chunk-samples", type=int, default=20)
    parser.add_argument(
        "--agreement-floor",
        type=float,
        default=0.0,
        help="fail when the agreement with the torch model is below this fraction",
    )
    parser.add_argument("--limit", type=int, default=None, help="run only the first N samples")
    parser.add_argument("--numpy-only", action="store_true", help="skip lava; NumPy reference only")
    args = parser.parse_args(argv)
    if sys.version_info[:2] != (3, 10) and not args.numpy_only:
        print(
            f"run_lava: error: lava-nc 0.10 needs Python 3.10, this is {sys.version.split()[0]}; "
            "run it with .venv-lava/bin/python (make setup-lava, see README)",
            file=sys.stderr,
        )
        return 2
    try:
        summary = run(
            Path(args.network),
            Path(args.inputs),
            Path(args.predictions),
            Path(args.summary),
            args.chunk_samples,
            args.limit,
            use_lava=not args.numpy_only,
            agreement_floor=args.agreement_floor,
        )
    except (ArchiveError, FileNotFoundError) as err:
        print(f"run_lava: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2, sort_keys=True))  # kept in the log when the checks fail
    try:
        check_run(summary, args.agreement_floor)
    except RunCheckError as err:
        print(f"run_lava: error: {err}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
