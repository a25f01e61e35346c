"""Energy per inference from measured activity (BEAM-Net Eq. 25).

    E_inference = SynOps * E_synop + MACs * E_mac + NeuronUpdates * E_update
                  + Spikes * E_spike + MemoryReads * E_read

Every count is measured per sample during evaluation (see :mod:`beamnet.evaluate`); the
constants per platform, with their sources:

- ``cmos45_fp32``: 45 nm CMOS, fp32 (Horowitz, ISSCC 2014): MAC 4.6 pJ (3.7 mult + 0.9 add),
  accumulate (AC) 0.9 pJ, 32-bit SRAM read ~5 pJ (8 kB array).
- ``cmos45_int8``: 45 nm CMOS, int8 (Horowitz 2014): MAC 0.23 pJ (0.2 mult + 0.03 add),
  AC 0.03 pJ, 8-bit SRAM read ~1.25 pJ (a quarter of the 32-bit read). The quantised ANN
  of the fair comparison (Shen et al., CVPR 2024).
- ``loihi``: Intel Loihi (Davies et al., IEEE Micro 2018): 23.6 pJ per synaptic spike op
  (a lower bound), 52 pJ per inactive / 81 pJ per active neuron update, 1.7 pJ per
  within-tile spike. Dense (non-spiking) arithmetic that BEAM-Net's loop needs is charged at
  the fp32 CMOS MAC cost, as it would run on Loihi's embedded x86 cores or a host.
- Reference anchors from the BEAM-Net README (not counted from activity): GPU attention
  ~150 nJ per retrieval, biological cortex ~0.77 nJ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

PICO_PER_NANO = 1000.0


@dataclass(frozen=True)
class Platform:
    """Energy per operation in pJ, and where each number comes from."""

    name: str
    synop_pj: float          # accumulate triggered by a binary spike (AC)
    mac_pj: float            # multiply-accumulate on real values
    neuron_update_pj: float  # one neuron state update (inactive)
    active_update_pj: float  # one neuron update that emits a spike
    spike_pj: float          # routing one spike
    memory_read_pj: float    # one weight read from SRAM
    source: str


PLATFORMS: dict[str, Platform] = {
    "cmos45_fp32": Platform("cmos45_fp32", synop_pj=0.9, mac_pj=4.6, neuron_update_pj=4.6,
                            active_update_pj=4.6, spike_pj=0.0, memory_read_pj=5.0,
                            source="Horowitz, ISSCC 2014 (45 nm, fp32)"),
    "cmos45_int8": Platform("cmos45_int8", synop_pj=0.03, mac_pj=0.23, neuron_update_pj=0.23,
                            active_update_pj=0.23, spike_pj=0.0, memory_read_pj=1.25,
                            source="Horowitz, ISSCC 2014 (45 nm, int8)"),
    "loihi": Platform("loihi", synop_pj=23.6, mac_pj=4.6, neuron_update_pj=52.0,
                      active_update_pj=81.0, spike_pj=1.7, memory_read_pj=0.0,
                      source="Davies et al., IEEE Micro 2018 (synaptic op, neuron update, spike)"),
}

REFERENCE_ANCHORS_NJ = {
    "gpu_attention": (150.0, "BEAM-Net README: transformer attention on GPU, per retrieval"),
    "cortex": (0.77, "BEAM-Net README: biological cortex, equivalent attentional selection"),
}


def inference_energy_nj(counts: Mapping[str, float | np.ndarray], platform: str | Platform) -> float | np.ndarray:
    """Eq. 25 in nJ per inference from ``counts`` of synops, macs, neuron_updates,
    active_updates (updates that spiked), spikes and memory_reads (missing counts are 0).

    Counts may be scalars or per-sample arrays (then so is the result).
    """
    chosen = PLATFORMS[platform] if isinstance(platform, str) else platform
    get = lambda key: np.asarray(counts.get(key, 0.0), dtype=np.float64)
    inactive = np.maximum(get("neuron_updates") - get("active_updates"), 0.0)
    picojoules = (get("synops") * chosen.synop_pj + get("macs") * chosen.mac_pj
                  + inactive * chosen.neuron_update_pj + get("active_updates") * chosen.active_update_pj
                  + get("spikes") * chosen.spike_pj + get("memory_reads") * chosen.memory_read_pj)
    result = picojoules / PICO_PER_NANO
    return float(result) if np.ndim(result) == 0 else result


NATIVE_PLATFORM = {"beam_net": "loihi", "rate_snn": "loihi", "ann_mlp": "cmos45_fp32"}


def ann_dense_counts(n_inputs: int, hidden: int, n_classes: int) -> dict[str, float]:
    """Operation counts of one dense D -> H -> K MLP inference (no sparsity exploited).

    Every weight is one multiply-accumulate and one SRAM read (weights do not fit in
    registers; Horowitz 2014 charges each read separately); the H + K bias additions are
    accumulates. The same counts price the fp32 ANN (``cmos45_fp32``) and the int8 quantised
    ANN (``cmos45_int8``) of the fair comparison (Shen et al., CVPR 2024).
    """
    macs = float(n_inputs * hidden + hidden * n_classes)
    return {"macs": macs, "synops": float(hidden + n_classes), "memory_reads": macs + hidden + n_classes}


def beam_net_memory_reads(n_active_inputs, n_patterns: int, spikes, n_classes: int):
    """SRAM reads BEAM-Net needs on a von-Neumann platform (CMOS rows of the sweep).

    Each input spike reads w_ij and t_ij for its N pattern synapses (2 reads each); each
    pattern spike reads its K readout weights. On Loihi the synaptic-op energy (Davies et al.
    2018) already includes the synapse memory read, so ``loihi`` charges 0 pJ per read.
    """
    return 2.0 * np.asarray(n_active_inputs, dtype=np.float64) * n_patterns \
        + np.asarray(spikes, dtype=np.float64) * n_classes
