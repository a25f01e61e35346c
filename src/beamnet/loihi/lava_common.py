"""What both lava networks share: the wiring written as data, the Eq. 25 pricing of one sample
and the per-chunk progress line (standard library and NumPy only, as run_lava.py needs)."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from beamnet.energy import HOST_PLATFORM, inference_energy_nj

# (source process, its output port, target process, its input port): one lava connection each
Connection = tuple[str, str, str, str]


def wire(processes: Mapping[str, Any], connections: Sequence[Connection]) -> None:
    """Connect ``processes`` (by name) as ``connections`` lists, in that order."""
    for source, out_port, target, in_port in connections:
        getattr(processes[source], out_port).connect(getattr(processes[target], in_port))


def report_chunk(done: int, total: int, began: float) -> None:
    """One timestamped progress line per chunk (samples done, rate, ETA) on stderr, the job's log;
    the lava environment has no tqdm, so the standard library writes it."""
    elapsed = time.perf_counter() - began
    rate = done / elapsed if elapsed > 0 else float("inf")
    eta = (total - done) / rate if rate > 0 else float("nan")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(
        f"{stamp} [run_lava] INFO {done}/{total} samples ({rate:.2f} samples/s, ETA {eta:.0f} s)",
        file=sys.stderr,
        flush=True,
    )


def sample_energy(counts: dict[str, float], inputs: dict[str, np.ndarray], sample: int) -> dict[str, float]:
    """Eq. 25 for one sample under beamnet.energy's convention: the chip's counts on ``loihi``, the
    host loop's MACs and pattern-table reads (exported per sample) on the host, and their sum."""
    on_chip = float(inference_energy_nj(counts, "loihi"))
    host = 0.0
    if "host_macs" in inputs:
        host_counts = {
            "macs": float(inputs["host_macs"][sample]),
            "memory_reads": float(inputs["host_memory_reads"][sample]),
        }
        host = float(inference_energy_nj(host_counts, HOST_PLATFORM, float(inputs["host_stored_words"])))
    return {"energy_on_chip_nj": on_chip, "energy_host_nj": host, "energy_nj": on_chip + host}
