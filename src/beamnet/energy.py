"""Energy per inference from measured activity (BEAM-Net Eq. 25), under one convention.

    E_inference = SynOps * E_synop + MACs * E_mac + NeuronUpdates * E_update
                  + Spikes * E_spike + MemoryReads * E_read(memory size)

The convention, the same in the headline table, the energy sweep, its crossings and the Loihi
section:

1. Every model is priced from its own measured operation counts (per sample, in
   :mod:`beamnet.evaluate`, the sweep and the Loihi runner); a dense ANN (every weight used) is
   shown beside the measured-sparsity ANN and labelled as such, never in its place.
2. Each model runs on its native platform (:data:`NATIVE_PLATFORM`). On a neuromorphic chip the
   dense arithmetic it cannot do (BEAM-Net's predictive-coding loop, Eq. 16: MACs and the reads
   of the pattern table) runs on a host, priced on :data:`HOST_PLATFORM`; the on-chip and host
   parts are reported side by side (:func:`native_energy_nj`).
3. A memory read costs what the memory that holds the structure being read costs
   (:func:`memory_read_pj`): Horowitz (ISSCC 2014, 45 nm) gives 10, 20 and 100 pJ per 64-bit
   read from 8 kB, 32 kB and 1 MB SRAM, and 1.3-2.6 nJ from DRAM. Between those sizes the energy
   is interpolated in log-log (the points follow E ~ size^0.5, the wire length of a square
   array); above 1 MB the last segment's slope is extrapolated (a larger on-chip SRAM), capped at
   DRAM's 1.3 nJ, the low end of Horowitz's range. A read of a w-bit word costs w / 64 of a
   64-bit read. On Loihi the synaptic-op energy already includes the on-core synapse read
   (Davies et al. 2018), so reads are charged only where they leave the chip.

Constants per platform, each naming the chip generation it was measured on (:class:`Platform`):

- ``cmos45_fp32``: 45 nm CMOS, fp32 (Horowitz 2014): MAC 4.6 pJ (3.7 mult + 0.9 add),
  accumulate (AC) 0.9 pJ, 32-bit reads.
- ``cmos45_int8``: 45 nm CMOS, int8 (Horowitz 2014): MAC 0.23 pJ (0.2 mult + 0.03 add),
  AC 0.03 pJ, 8-bit reads: the quantised ANN of the fair comparison (Shen et al., CVPR 2024).
- ``loihi``: Intel Loihi 1 (Davies et al., IEEE Micro 2018, 14 nm): 23.6 pJ per synaptic spike
  op (a lower bound), 52 pJ per inactive / 81 pJ per active neuron update, 1.7 pJ per
  within-tile spike. The Lava simulation targets Loihi 2's process models; Intel has published
  no per-operation energies for Loihi 2, so its runs are priced with Loihi 1's.
- Reference anchors from the BEAM-Net README (not counted from activity): GPU attention
  ~150 nJ per retrieval, biological cortex ~0.77 nJ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

PICO_PER_NANO = 1000.0
KIB = 1024.0


@dataclass(frozen=True)
class Platform:
    """Energy per operation in pJ, the chip it was measured on, and where each number comes from."""

    name: str
    chip: str  # the chip generation and process the constants were measured on
    synop_pj: float  # accumulate triggered by a binary spike (AC)
    mac_pj: float  # multiply-accumulate on real values
    neuron_update_pj: float  # one neuron state update (inactive)
    active_update_pj: float  # one neuron update that emits a spike
    spike_pj: float  # routing one spike
    word_bits: int  # width of one weight read from memory
    reads_in_synop: bool  # True where the synaptic op already includes the weight read
    source: str


PLATFORMS: dict[str, Platform] = {
    "cmos45_fp32": Platform(
        "cmos45_fp32",
        chip="45 nm CMOS (fp32 datapath)",
        synop_pj=0.9,
        mac_pj=4.6,
        neuron_update_pj=4.6,
        active_update_pj=4.6,
        spike_pj=0.0,
        word_bits=32,
        reads_in_synop=False,
        source="Horowitz, ISSCC 2014 (45 nm, fp32)",
    ),
    "cmos45_int8": Platform(
        "cmos45_int8",
        chip="45 nm CMOS (int8 datapath)",
        synop_pj=0.03,
        mac_pj=0.23,
        neuron_update_pj=0.23,
        active_update_pj=0.23,
        spike_pj=0.0,
        word_bits=8,
        reads_in_synop=False,
        source="Horowitz, ISSCC 2014 (45 nm, int8)",
    ),
    "loihi": Platform(
        "loihi",
        chip="Intel Loihi 1, 14 nm (applied to the Loihi 2 simulation)",
        synop_pj=23.6,
        mac_pj=0.0,
        neuron_update_pj=52.0,
        active_update_pj=81.0,
        spike_pj=1.7,
        word_bits=0,
        reads_in_synop=True,
        source="Davies et al., IEEE Micro 2018 (Loihi 1: synaptic op, neuron update, spike)",
    ),
}
# Dense arithmetic a neuromorphic platform cannot do runs here (Loihi's embedded x86 cores or a host).
HOST_PLATFORM = "cmos45_fp32"
HOST_COUNTS = ("macs", "memory_reads")

# Horowitz 2014, 45 nm: energy of one 64-bit read by memory size (bytes, pJ), and DRAM's range.
SRAM_READ_64BIT_PJ = ((8 * KIB, 10.0), (32 * KIB, 20.0), (KIB * KIB, 100.0))
DRAM_READ_64BIT_PJ = (1300.0, 2600.0)

REFERENCE_ANCHORS_NJ = {
    "gpu_attention": (150.0, "BEAM-Net README: transformer attention on GPU, per retrieval"),
    "cortex": (0.77, "BEAM-Net README: biological cortex, equivalent attentional selection"),
}


def memory_read_64bit_pj(memory_bytes: float) -> float:
    """Energy of one 64-bit read from a memory of ``memory_bytes`` (Horowitz 2014; module doc, 3).

    At most 8 kB: 10 pJ. Between Horowitz's SRAM sizes: log-log interpolation. Above 1 MB: the
    32 kB-1 MB slope extrapolated, capped at DRAM's 1.3 nJ.
    """
    if not memory_bytes > 0:
        raise ValueError(f"memory size {memory_bytes!r} bytes: expected a positive number of bytes")
    sizes = [math.log(size) for size, _ in SRAM_READ_64BIT_PJ]
    energies = [math.log(pj) for _, pj in SRAM_READ_64BIT_PJ]
    x = math.log(memory_bytes)
    if x <= sizes[0]:
        return SRAM_READ_64BIT_PJ[0][1]
    segment = next((k for k in range(len(sizes) - 1) if x <= sizes[k + 1]), len(sizes) - 2)
    slope = (energies[segment + 1] - energies[segment]) / (sizes[segment + 1] - sizes[segment])
    return min(math.exp(energies[segment] + slope * (x - sizes[segment])), DRAM_READ_64BIT_PJ[0])


def memory_read_pj(stored_words: float, word_bits: int) -> float:
    """Energy of one ``word_bits`` read from the memory holding ``stored_words`` such words."""
    if word_bits <= 0:
        raise ValueError(f"word width {word_bits!r} bits: expected a positive width")
    return memory_read_64bit_pj(float(stored_words) * word_bits / 8.0) * word_bits / 64.0


def inference_energy_nj(
    counts: Mapping[str, float | np.ndarray], platform: str | Platform, stored_words: float | None = None
) -> float | np.ndarray:
    """Eq. 25 in nJ per inference from ``counts`` of synops, macs, neuron_updates,
    active_updates (updates that spiked), spikes and memory_reads (missing counts are 0).

    Memory reads are priced by :func:`memory_read_pj` for a memory of ``stored_words`` words of
    the platform's width (required when there are reads), and not at all where the platform's
    synaptic op includes them. Counts may be scalars or per-sample arrays (then so is the result).
    """
    chosen = PLATFORMS[platform] if isinstance(platform, str) else platform

    def get(key: str) -> np.ndarray:
        return np.asarray(counts.get(key, 0.0), dtype=np.float64)

    inactive = np.maximum(get("neuron_updates") - get("active_updates"), 0.0)
    picojoules = (
        get("synops") * chosen.synop_pj
        + get("macs") * chosen.mac_pj
        + inactive * chosen.neuron_update_pj
        + get("active_updates") * chosen.active_update_pj
        + get("spikes") * chosen.spike_pj
    )
    if chosen.reads_in_synop and np.any(get("macs") > 0):
        raise ValueError(
            f"'{chosen.name}' has no multiply-accumulate units: price MACs on the host "
            "(beamnet.energy.native_energy_nj)"
        )
    reads = get("memory_reads")
    if not chosen.reads_in_synop and np.any(reads > 0):
        if stored_words is None:
            raise ValueError(
                f"pricing memory reads on '{chosen.name}' needs the size of the memory read (stored_words)"
            )
        picojoules = picojoules + reads * memory_read_pj(stored_words, chosen.word_bits)
    result = picojoules / PICO_PER_NANO
    return float(result) if np.ndim(result) == 0 else result


def native_energy_nj(
    model_name: str, counts: Mapping[str, float | np.ndarray], stored_words: float | None
) -> dict[str, float | np.ndarray]:
    """Energy of ``model_name`` on its native platform, split into on-chip and host parts.

    On a platform whose synaptic op includes the weight read (Loihi), the :data:`HOST_COUNTS`
    (MACs, memory reads) are host work priced on :data:`HOST_PLATFORM` with ``stored_words`` the
    size of what the host reads; elsewhere everything is on-chip and ``stored_words`` is the
    model's weights. Returns ``energy_on_chip_nj``, ``energy_host_nj`` and their sum ``energy_nj``.
    """
    platform = PLATFORMS[NATIVE_PLATFORM[model_name]]
    if platform.reads_in_synop:
        chip = {key: value for key, value in counts.items() if key not in HOST_COUNTS}
        host = {key: counts[key] for key in HOST_COUNTS if key in counts}
        on_chip = inference_energy_nj(chip, platform)
        host_energy = inference_energy_nj(host, HOST_PLATFORM, stored_words) if host else 0.0 * on_chip
    else:
        on_chip = inference_energy_nj(counts, platform, stored_words)
        host_energy = 0.0 * on_chip
    return {"energy_on_chip_nj": on_chip, "energy_host_nj": host_energy, "energy_nj": on_chip + host_energy}


NATIVE_PLATFORM = {"beam_net": "loihi", "rate_snn": "loihi", "ann_mlp": "cmos45_fp32"}


def ann_counts(nonzero_inputs, nonzero_hidden, hidden: int, n_classes: int) -> dict[str, np.ndarray]:
    """Operation counts of one D -> H -> K MLP inference that skips zero activations.

    Each non-zero input reaches H hidden units and each non-zero hidden unit K outputs: one MAC
    and one weight read each (weights do not fit in registers; Horowitz 2014 charges each read
    separately); the H + K bias additions are accumulates. The same formula prices the headline
    (measured non-zeros), the sweep and the dense ANN (every input and hidden unit non-zero).
    """
    macs = (
        np.asarray(nonzero_inputs, dtype=np.float64) * hidden + np.asarray(nonzero_hidden, dtype=np.float64) * n_classes
    )
    return {"macs": macs, "synops": np.full_like(macs, float(hidden + n_classes)), "memory_reads": macs.copy()}


def ann_dense_counts(n_inputs: int, hidden: int, n_classes: int) -> dict[str, float]:
    """:func:`ann_counts` with every input and hidden unit non-zero: the dense ANN (no sparsity
    exploited), shown beside the measured-sparsity ANN, never in its place."""
    return {key: float(value) for key, value in ann_counts(n_inputs, hidden, hidden, n_classes).items()}


def ann_parameter_words(n_inputs: int, hidden: int, n_classes: int) -> int:
    """Weights and biases of a D -> H -> K MLP: the words its memory holds."""
    return n_inputs * hidden + hidden + hidden * n_classes + n_classes


def beam_net_memory_reads(n_active_inputs, n_patterns: int, spikes, n_classes: int):
    """Weight reads of BEAM-Net run on a von-Neumann platform (the sweep's CMOS rows).

    Each input spike reads w_ij and t_ij for its N pattern synapses (2 reads each); each
    pattern spike reads its K readout weights. On Loihi the synaptic-op energy (Davies et al.
    2018) already includes the synapse read, so ``loihi`` charges none.
    """
    return (
        2.0 * np.asarray(n_active_inputs, dtype=np.float64) * n_patterns
        + np.asarray(spikes, dtype=np.float64) * n_classes
    )


def beam_net_parameter_words(n_inputs: int, n_patterns: int, n_classes: int) -> int:
    """Words BEAM-Net's weights hold on a von-Neumann platform: w_ij and t_ij per coincidence
    synapse, the readout and the biases (the memory its CMOS reads come from)."""
    return 2 * n_inputs * n_patterns + n_patterns * n_classes + n_patterns + n_classes


def loop_memory_reads(iterations, n_active_inputs, n_patterns: int):
    """Host reads of the predictive-coding loop (Eq. 16): each iteration reads the stored time
    t_ij of every (active input, pattern) pair once; its three MACs per pair reuse that word.
    The memory read holds the pattern table, n_inputs x N words."""
    return np.asarray(iterations, dtype=np.float64) * np.asarray(n_active_inputs, dtype=np.float64) * n_patterns
