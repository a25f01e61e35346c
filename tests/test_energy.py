"""Energy model (Eq. 25) and the energy sweep's crossing computation, on hand-computed numbers."""

from __future__ import annotations

import math

import polars as pl
import pytest

from beamnet.energy import (
    PLATFORMS,
    ann_dense_counts,
    beam_net_memory_reads,
    inference_energy_nj,
)
from beamnet.energy_sweep import crossing, find_crossings


def test_loihi_energy_of_a_known_count():
    # 1000 synaptic ops, 100 neuron updates of which 10 spiked, 10 spikes routed (Davies et al. 2018):
    # 1000 * 23.6 + 90 * 52 + 10 * 81 + 10 * 1.7 = 29107 pJ
    counts = {"synops": 1000, "neuron_updates": 100, "active_updates": 10, "spikes": 10}
    assert inference_energy_nj(counts, "loihi") == pytest.approx(29.107)


def test_cmos_energy_counts_macs_and_memory_reads():
    # Horowitz 2014 fp32: 2 MACs * 4.6 + 3 ACs * 0.9 + 4 reads * 5.0 = 31.9 pJ
    counts = {"macs": 2, "synops": 3, "memory_reads": 4}
    assert inference_energy_nj(counts, "cmos45_fp32") == pytest.approx(0.0319)
    assert inference_energy_nj(counts, "cmos45_int8") == pytest.approx((2 * 0.23 + 3 * 0.03 + 4 * 1.25) / 1000)


def test_per_sample_arrays_give_per_sample_energies():
    energies = inference_energy_nj({"synops": [0, 1000]}, "loihi")
    assert list(energies) == pytest.approx([0.0, 23.6])


def test_ann_dense_counts_by_hand():
    counts = ann_dense_counts(64, 10, 10)          # 64*10 + 10*10 = 740 MACs, 20 bias adds
    assert counts == {"macs": 740.0, "synops": 20.0, "memory_reads": 760.0}
    assert inference_energy_nj(counts, "cmos45_fp32") == pytest.approx((740 * 4.6 + 20 * 0.9 + 760 * 5.0) / 1000)


def test_beam_net_memory_reads():
    assert float(beam_net_memory_reads(30, 16, 4, 10)) == 2 * 30 * 16 + 4 * 10


def test_every_platform_names_its_source():
    assert {"cmos45_fp32", "cmos45_int8", "loihi"} <= set(PLATFORMS)
    assert all(p.source for p in PLATFORMS.values())


def test_crossing_interpolates_in_log_n():
    # diff = beam - base = [-7, -4, 8]: crossing between 64 and 256 at 1/3 of the way in log N
    found = crossing([16, 64, 256], [1, 4, 16], [8, 8, 8])
    assert found["crossing_n"] == pytest.approx(64 * 4 ** (1 / 3))
    assert found["direction"] == "beam_net becomes dearer"
    falling = crossing([10, 100], [5, 1], [2, 2])        # diff [3, -1]: at 3/4 of log(10)..log(100)
    assert falling["crossing_n"] == pytest.approx(10 ** 1.75)
    assert falling["direction"] == "beam_net becomes cheaper"


def test_no_crossing_and_ties():
    none = crossing([16, 32, 64], [1, 2, 3], [10, 10, 10])
    assert none["crossing_n"] is None and none["note"].startswith("no crossing in range: BEAM-Net lower")
    tie = crossing([16, 32, 64], [1, 10, 30], [10, 10, 10])
    assert tie["crossing_n"] == 32 and tie["direction"] == "beam_net becomes dearer"


def test_find_crossings_on_a_hand_table():
    rows = []
    for n, beam in zip([16, 64, 256], [1.0, 4.0, 16.0]):
        base = {"dataset": "digits", "lif_steps": 20, "n_patterns": n}
        rows += [{**base, "model": "beam_net", "platform": "loihi", "energy_nj": beam},
                 {**base, "model": "ann_mlp_fp32", "platform": "cmos45_fp32", "energy_nj": 8.0},
                 {**base, "model": "ann_mlp_int8", "platform": "cmos45_int8", "energy_nj": 0.5},
                 {**base, "model": "gpu_attention", "platform": "reference", "energy_nj": 150.0},
                 {**base, "model": "cortex", "platform": "reference", "energy_nj": 0.77}]
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
