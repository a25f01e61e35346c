"""Energy model (Eq. 25) and the energy sweep's crossing computation, on hand-computed numbers."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import polars as pl
import pytest

from beamnet.energy import (
    DRAM_READ_64BIT_PJ,
    PLATFORMS,
    ann_counts,
    ann_dense_counts,
    ann_parameter_words,
    beam_net_memory_reads,
    inference_energy_nj,
    loop_memory_reads,
    memory_read_64bit_pj,
    memory_read_pj,
    native_energy_nj,
)
from beamnet.energy_sweep import crossing, find_crossings

KB, MB = 1024.0, 1024.0 * 1024.0


def test_loihi_energy_of_a_known_count():
    # 1000 synaptic ops, 100 neuron updates of which 10 spiked, 10 spikes routed (Davies et al. 2018):
    # 1000 * 23.6 + 90 * 52 + 10 * 81 + 10 * 1.7 = 29107 pJ
    counts = {"synops": 1000, "neuron_updates": 100, "active_updates": 10, "spikes": 10}
    assert inference_energy_nj(counts, "loihi") == pytest.approx(29.107)


def test_memory_read_energy_follows_horowitz_by_size():
    """Horowitz 2014's 64-bit reads: 10 / 20 / 100 pJ at 8 kB / 32 kB / 1 MB, log-log between
    them, the 32 kB-1 MB slope above, never above DRAM's 1.3 nJ; w-bit words cost w / 64."""
    assert memory_read_64bit_pj(100) == 10.0 and memory_read_64bit_pj(8 * KB) == pytest.approx(10.0)
    assert memory_read_64bit_pj(32 * KB) == pytest.approx(20.0)
    assert memory_read_64bit_pj(MB) == pytest.approx(100.0)
    assert memory_read_64bit_pj(16 * KB) == pytest.approx(10.0 * math.sqrt(2.0))  # midpoint in log-log
    slope = math.log(5.0) / math.log(32.0)
    assert memory_read_64bit_pj(4 * MB) == pytest.approx(100.0 * 4**slope)
    assert memory_read_64bit_pj(1e12) == DRAM_READ_64BIT_PJ[0]
    sizes = [2.0**k for k in range(10, 40)]
    energies = [memory_read_64bit_pj(size) for size in sizes]
    assert all(b >= a for a, b in pairwise(energies))
    # 8192 fp32 words = 32 kB: half of a 64-bit read there; 1 Mi int8 words = 1 MB: an eighth
    assert memory_read_pj(8192, 32) == pytest.approx(10.0)
    assert memory_read_pj(MB, 8) == pytest.approx(12.5)
    with pytest.raises(ValueError, match="bytes"):
        memory_read_64bit_pj(0)


def test_cmos_energy_counts_macs_and_memory_reads():
    # fp32 from a 32 kB memory (8192 words): 2 MACs * 4.6 + 3 ACs * 0.9 + 4 reads * 10 pJ = 51.9 pJ
    counts = {"macs": 2, "synops": 3, "memory_reads": 4}
    assert inference_energy_nj(counts, "cmos45_fp32", stored_words=8192) == pytest.approx(0.0519)
    # int8 from 8192 words = 8 kB: 10 pJ per 64 bits, 1.25 pJ per byte
    assert inference_energy_nj(counts, "cmos45_int8", stored_words=8192) == pytest.approx(
        (2 * 0.23 + 3 * 0.03 + 4 * 1.25) / 1000
    )
    with pytest.raises(ValueError, match="stored_words"):
        inference_energy_nj(counts, "cmos45_fp32")


def test_loihi_refuses_multiply_accumulates():
    with pytest.raises(ValueError, match="host"):
        inference_energy_nj({"macs": 1.0}, "loihi")


def test_native_energy_puts_the_loop_on_the_host():
    """BEAM-Net on Loihi: spikes, synaptic ops and updates on chip; the loop's MACs and its reads
    of the pattern table on the fp32 host; the total is their sum."""
    counts = {
        "synops": np.array([1000.0]),
        "neuron_updates": np.array([100.0]),
        "active_updates": np.array([10.0]),
        "spikes": np.array([10.0]),
        "macs": np.array([300.0]),
        "memory_reads": np.array([100.0]),
    }
    energy = native_energy_nj("beam_net", counts, stored_words=8192)
    assert energy["energy_on_chip_nj"][0] == pytest.approx(29.107)
    assert energy["energy_host_nj"][0] == pytest.approx((300 * 4.6 + 100 * 10.0) / 1000)
    assert energy["energy_nj"][0] == pytest.approx(29.107 + 2.38)
    ann = native_energy_nj("ann_mlp", {"macs": 2.0, "synops": 3.0, "memory_reads": 4.0}, stored_words=8192)
    assert ann["energy_host_nj"] == 0.0 and ann["energy_nj"] == pytest.approx(0.0519)


def test_per_sample_arrays_give_per_sample_energies():
    energies = inference_energy_nj({"synops": [0, 1000]}, "loihi")
    assert list(energies) == pytest.approx([0.0, 23.6])


def test_ann_counts_by_hand():
    counts = ann_dense_counts(64, 10, 10)  # 64*10 + 10*10 = 740 MACs, 20 bias adds
    assert counts == {"macs": 740.0, "synops": 20.0, "memory_reads": 740.0}
    words = ann_parameter_words(64, 10, 10)  # 640 + 10 + 100 + 10 weights and biases
    assert words == 760
    read = memory_read_pj(words, 32)  # 3040 bytes: the 8 kB floor, 5 pJ per fp32 word
    assert read == pytest.approx(5.0)
    assert inference_energy_nj(counts, "cmos45_fp32", words) == pytest.approx((740 * 4.6 + 20 * 0.9 + 740 * 5) / 1000)
    sparse = ann_counts(np.array([16.0]), np.array([5.0]), 10, 10)  # 16*10 + 5*10 MACs
    assert float(sparse["macs"][0]) == 210.0 and float(sparse["memory_reads"][0]) == 210.0


def test_beam_net_memory_reads():
    assert float(beam_net_memory_reads(30, 16, 4, 10)) == 2 * 30 * 16 + 4 * 10
    assert float(loop_memory_reads(3, 30, 16)) == 3 * 30 * 16


def test_every_platform_names_its_source_and_chip():
    assert {"cmos45_fp32", "cmos45_int8", "loihi"} <= set(PLATFORMS)
    assert all(p.source and p.chip for p in PLATFORMS.values())
    assert "Loihi 1" in PLATFORMS["loihi"].chip


def test_crossing_interpolates_in_log_n():
    # diff = beam - base = [-7, -4, 8]: crossing between 64 and 256 at 1/3 of the way in log N
    found = crossing([16, 64, 256], [1, 4, 16], [8, 8, 8])
    assert found["crossing_n"] == pytest.approx(64 * 4 ** (1 / 3))
    assert found["direction"] == "beam_net becomes dearer"
    falling = crossing([10, 100], [5, 1], [2, 2])  # diff [3, -1]: at 3/4 of log(10)..log(100)
    assert falling["crossing_n"] == pytest.approx(10**1.75)
    assert falling["direction"] == "beam_net becomes cheaper"


def test_no_crossing_and_ties():
    none = crossing([16, 32, 64], [1, 2, 3], [10, 10, 10])
    assert none["crossing_n"] is None and none["note"].startswith("no crossing in range: BEAM-Net lower")
    tie = crossing([16, 32, 64], [1, 10, 30], [10, 10, 10])
    assert tie["crossing_n"] == 32 and tie["direction"] == "beam_net becomes dearer"


def test_find_crossings_on_a_hand_table():
    rows = []
    for n, beam in zip([16, 64, 256], [1.0, 4.0, 16.0], strict=True):
        base = {"dataset": "digits", "lif_steps": 20, "n_patterns": n}
        rows += [
            {**base, "model": "beam_net", "platform": "loihi", "energy_nj": beam},
            {**base, "model": "ann_mlp_fp32", "platform": "cmos45_fp32", "energy_nj": 8.0},
            {**base, "model": "ann_mlp_int8", "platform": "cmos45_int8", "energy_nj": 0.5},
            {**base, "model": "gpu_attention", "platform": "reference", "energy_nj": 150.0},
            {**base, "model": "cortex", "platform": "reference", "energy_nj": 0.77},
        ]
    table = find_crossings(pl.DataFrame(rows))
    loihi = {row["baseline"]: row for row in table.filter(pl.col("beam_net_platform") == "loihi").to_dicts()}
    assert loihi["ann_mlp_fp32"]["crossing_n"] == pytest.approx(64 * 4 ** (1 / 3))
    assert loihi["ann_mlp_int8"]["crossing_n"] is None and "higher" in loihi["ann_mlp_int8"]["note"]
    assert loihi["gpu_attention"]["crossing_n"] is None and "lower" in loihi["gpu_attention"]["note"]
    assert math.isclose(loihi["cortex"]["n_min"], 16) and loihi["cortex"]["n_max"] == 256


def test_config_sections_are_validated(default_config):
    from beamnet.config import ConfigError, validate_schema

    validate_schema(default_config)
    default_config["loihi"]["v_scale_log2"] = 30
    with pytest.raises(ConfigError, match="loihi.v_scale_log2"):
        validate_schema(default_config)
    default_config["loihi"]["v_scale_log2"] = "auto"
    default_config["energy"]["n_patterns"] = [16]
    with pytest.raises(ConfigError, match="energy.n_patterns"):
        validate_schema(default_config)
