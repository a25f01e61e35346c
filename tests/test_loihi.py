"""Loihi export and lava simulation: quantisation, archive checks, a hand-computed lava spike
train, and the exported network against the torch model (tiny config).

Lava code runs in the Python 3.10 lava-nc venv through a subprocess; those tests skip (with the
reason) where ``.venv-lava`` is missing.
"""

from __future__ import annotations

import json
import subprocess
import textwrap

import numpy as np
import pytest
from conftest import REPO_ROOT, tiny_config

from beamnet.config import model_encoding
from beamnet.loihi.fixed_point import (
    FORMAT_VERSION,
    ArchiveError,
    check_network,
    period,
    sample_lines,
    simulate_sample,
)
from beamnet.loihi.rate_snn import rate_period, sample_events, simulate_rate_snn_sample

LAVA_PYTHON = REPO_ROOT / ".venv-lava" / "bin" / "python"
needs_lava = pytest.mark.skipif(
    not LAVA_PYTHON.exists(), reason=f"lava-nc venv missing ({LAVA_PYTHON}); run `make setup-lava`"
)


def run_lava_runner(network, inputs, out_dir, *options: str) -> subprocess.CompletedProcess[str]:
    """src/beamnet/loihi/run_lava.py in the lava venv, writing p.csv and s.json to ``out_dir``."""
    return subprocess.run(
        [
            str(LAVA_PYTHON),
            "src/beamnet/loihi/run_lava.py",
            "--network",
            str(network),
            "--inputs",
            str(inputs),
            "--predictions",
            str(out_dir / "p.csv"),
            "--summary",
            str(out_dir / "s.json"),
            *options,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )


def lava_run_summary(exported, out_dir, *options: str) -> dict:
    """Run an exported (folder, info) pair in lava; the summary it wrote (the run must succeed)."""
    root, _ = exported
    result = run_lava_runner(root / "network.npz", root / "inputs.npz", out_dir, *options)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads((out_dir / "s.json").read_text())


def run_lava_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LAVA_PYTHON), "-c", textwrap.dedent(code)],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


def tiny_network(**changes):
    """A valid 2-pattern, 2-input, 3-grid-point, 2-class network."""
    net = {
        "format_version": FORMAT_VERSION,
        "network_kind": "beam_net",
        "n_inputs": 2,
        "n_patterns": 2,
        "n_classes": 2,
        "grid_points": 3,
        "lif_steps": 6,
        "du": 0,
        "dv": 410,
        "vth": 100,
        "bias_exp": 0,
        "coincidence_exp": 0,
        "inhibition_mant": -200,
        "inhibition_exp": 0,
        "readout_exp": 0,
        "stop_exp": 7,
        "coincidence_mant": np.zeros((2, 2, 3), np.int16),
        "bias_mant": np.zeros(2, np.int16),
        "readout_mant": np.array([[255, 0], [0, 255]], np.int16),
    }
    net.update(changes)
    return net


# --- quantisation -----------------------------------------------------------------------------


def test_quantisation_round_trip_within_one_step():
    """8-bit mixed-sign mantissas (even values) times 2**e reproduce the values within 2**e."""
    from beamnet.loihi.quantise import _exp_for, quantise_even

    rng = np.random.default_rng(0)
    values = rng.normal(0.0, 3.0, size=10_000)
    exponent = _exp_for(float(np.abs(values).max()), 254)
    mant = quantise_even(values, exponent)
    assert mant.min() >= -256 and mant.max() <= 254 and not np.any(mant % 2)
    error = np.abs(mant * 2.0**exponent - values)
    assert error.max() <= 2.0**exponent + 1e-12  # stated bound: one exponent unit
    assert error.max() <= np.abs(values).max() / 127  # i.e. < 0.8 % of the largest weight


def test_archive_checks_refuse_bad_input():
    check_network(tiny_network())
    with pytest.raises(ArchiveError, match="format version 0 is incompatible"):
        check_network(tiny_network(format_version=0))
    with pytest.raises(ArchiveError, match="'dv' out of range"):
        check_network(tiny_network(dv=5000))
    with pytest.raises(ArchiveError, match="'vth' out of range"):
        check_network(tiny_network(vth=2**17))
    with pytest.raises(ArchiveError, match="'coincidence_mant' out of range"):
        check_network(tiny_network(coincidence_mant=np.full((2, 2, 3), 3, np.int16)))
    with pytest.raises(ArchiveError, match="missing keys"):
        check_network({k: v for k, v in tiny_network().items() if k != "readout_mant"})
    with pytest.raises(ArchiveError, match="'network_kind' is 'hopfield', expected one of"):
        check_network(tiny_network(network_kind="hopfield"))


def tiny_rate_network(**changes):
    """A valid rate-SNN archive: 2 inputs (+ bias line) -> 1 hidden -> 2 classes, T = 6."""
    net = {
        "format_version": FORMAT_VERSION,
        "network_kind": "rate_snn",
        "n_inputs": 2,
        "n_hidden": 1,
        "n_classes": 2,
        "steps": 6,
        "hidden_exp": 0,
        "hidden_dv": 0,
        "hidden_vth": 100,
        "output_exp": 0,
        "output_dv": 2048,
        "hidden_mant": np.array([[100, 0, 0]], np.int16),
        "output_mant": np.array([[10, 0], [0, 2]], np.int16),
    }
    net.update(changes)
    return net


def test_rate_snn_archive_checks_refuse_bad_input():
    check_network(tiny_rate_network())
    with pytest.raises(ArchiveError, match="'hidden_mant' out of range: expected shape \\(1, 3\\)"):
        check_network(tiny_rate_network(hidden_mant=np.zeros((1, 2), np.int16)))
    with pytest.raises(ArchiveError, match="'output_mant' out of range: expected even 8-bit"):
        check_network(tiny_rate_network(output_mant=np.array([[11, 0], [0, 2]], np.int16)))
    with pytest.raises(ArchiveError, match="'hidden_dv' out of range"):
        check_network(tiny_rate_network(hidden_dv=4096))
    with pytest.raises(ArchiveError, match="missing keys \\['steps'\\]"):
        check_network({k: v for k, v in tiny_rate_network().items() if k != "steps"})


def test_rate_snn_reference_by_hand():
    """Input 0 fires at steps 0, 1, 2: a_in = 100, u = 100 << 6 = 6400 (du = 4095: u = a_in), dv = 0;
    the hidden neuron fires when v > 100 << 6 = 6400: v = 6400, 12800 -> spike, 0 + 6400 = 6400.
    Readout class 0 gets 10 << 6 = 640 the step the hidden neuron fires, halving each step (dv = 2048);
    class 1 gets its bias line, 2 << 6 = 128 every step."""
    net = check_network(tiny_rate_network())
    out = simulate_rate_snn_sample(net, np.array([0, 1, 2]), np.array([0, 0, 0]))
    assert out["raster"][:, 0].astype(int).tolist() == [0, 1, 0, 0, 0, 0]
    assert out["trace"][:, 0].tolist() == [0, 640, 320, 160, 80, 40]
    assert out["trace"][:, 1].tolist() == [128, 192, 224, 240, 248, 252]
    assert out["logits"].tolist() == [1240, 1284]


def test_numpy_reference_spike_train_by_hand():
    """Pattern 0 receives a_in = 20 once: u = 20 << 6 = 1280, decaying 1/4096 per step (du = 0);
    dv = 2048 halves v each step; it fires when v > 32 << 6 = 2048. Pattern 1 gets no drive.
    """
    mant = np.zeros((2, 2, 3), np.int16)
    mant[0, 0, 1] = 20
    net = check_network(tiny_network(coincidence_mant=mant, vth=32, dv=2048))
    out = simulate_sample(net, sample_lines([0], [1], 3))
    # by hand: u1 = 1280, v1 = 1280; u2 = 1279 (1280*4095>>12), v2 = 640 + 1279 = 1919;
    # u3 = 1278, v3 = 959 + 1278 = 2237 > 2048 -> spike, v = 0; u4 = 1277, v4 = 1277; u5 = 1276,
    # v5 = 638 + 1276 = 1914; u6 = 1275, v6 = 957 + 1275 = 2232 -> spike
    assert out["raster"][:, 0].astype(int).tolist() == [0, 0, 1, 0, 0, 1]
    assert out["raster"][:, 1].sum() == 0
    assert out["evidence"].tolist() == [2 * 255 * 64, 0]
    assert out["late_spikes"] == 0


# --- lava -------------------------------------------------------------------------------------


@needs_lava
def test_tiny_lava_network_reproduces_a_hand_computed_spike_train():
    """RingBuffer (always on) -> Dense(w=10) -> LIF(du=4095, dv=0, vth=25) in fixed point.

    The Dense delays one step; u = 10 << 6 = 640 each step, v accumulates 640 per step and
    fires when v > 25 << 6 = 1600: v = 0, 640, 1280, 1920 (spike), 640, 1280, 1920 (spike), 640.
    """
    result = run_lava_python("""
        import numpy as np
        from lava.proc.io.source import RingBuffer
        from lava.proc.dense.process import Dense
        from lava.proc.lif.process import LIF
        from lava.proc.monitor.process import Monitor
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.magma.core.run_conditions import RunSteps
        src = RingBuffer(data=np.ones((1, 8), dtype=np.int32))
        dense = Dense(weights=np.array([[10]]))
        lif = LIF(shape=(1,), du=4095, dv=0, vth=25, bias_mant=0, bias_exp=0)
        src.s_out.connect(dense.s_in); dense.a_out.connect(lif.a_in)
        spikes, volts = Monitor(), Monitor()
        spikes.probe(lif.s_out, 8); volts.probe(lif.v, 8)
        src.run(condition=RunSteps(num_steps=8), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        s = spikes.get_data()[lif.name]["s_out"].ravel().astype(int).tolist()
        v = volts.get_data()[lif.name]["v"].ravel().astype(int).tolist()
        src.stop()
        print(s); print(v)
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    spikes, volts = result.stdout.strip().splitlines()[-2:]
    assert spikes == str([0, 0, 0, 1, 0, 0, 1, 0])
    assert volts == str([0, 640, 1280, 0, 640, 1280, 0, 640])


def train_and_export(tmp_path_factory, digits_caches, config, model: str):
    """Train ``model`` on digits with ``config`` and export it for Loihi: (folder, export info)."""
    from beamnet.loihi.export import export_beam_net, export_rate_snn
    from beamnet.train import train_model

    encoding = model_encoding(config, model, "digits")
    root = tmp_path_factory.mktemp(f"loihi_{model}")
    checkpoint = root / "model.pt"
    train_model(
        config,
        "digits",
        model,
        0,
        digits_caches[f"{encoding}/train"],
        digits_caches[f"{encoding}/val"],
        checkpoint,
        root / "history.csv",
    )
    export = export_beam_net if model == "beam_net" else export_rate_snn
    info = export(
        config, "digits", 0, checkpoint, digits_caches[f"{encoding}/test"], root / "network.npz", root / "inputs.npz"
    )
    return root, info


@pytest.fixture(scope="module")
def exported_tiny(tmp_path_factory, digits_caches, _default_config):
    """A small BEAM-Net (N = 16, 8 epochs) trained on digits and exported."""
    return train_and_export(
        tmp_path_factory, digits_caches, tiny_config(_default_config, epochs=8, mc_passes=4), "beam_net"
    )


def test_export_matches_the_noise_free_torch_model_in_numpy(exported_tiny):
    root, _ = exported_tiny
    with np.load(root / "network.npz") as archive:
        net = check_network(archive)
    inputs = dict(np.load(root / "inputs.npz"))
    predictions = []
    for s in range(40):
        o, e = inputs["offsets"][s], inputs["offsets"][s + 1]
        out = simulate_sample(
            net, sample_lines(inputs["input_index"][o:e], inputs["grid_index"][o:e], net["grid_points"])
        )
        assert out["largest_input"] < 2**15 and out["late_spikes"] == 0
        predictions.append(int(np.argmax(out["evidence"])))
    agreement = np.mean(np.array(predictions) == inputs["torch_prediction_deterministic"][:40])
    assert agreement >= 0.95


def test_a_pruned_model_exports_only_its_kept_synapses(tmp_path_factory, digits_caches, _default_config):
    """With model.beam_net.prune, the exported coincidence lines of pattern j are zero on every
    input it dropped, so that the chip's synaptic events (non-zero synapses reached) fall."""
    config = tiny_config(_default_config, epochs=3)
    config["model"]["beam_net"]["prune"] = {"connections": 8, "at_epoch": 1}
    root, _ = train_and_export(tmp_path_factory, digits_caches, config, "beam_net")
    with np.load(root / "network.npz") as archive:
        net = check_network(archive)
    lines = net["coincidence_mant"].reshape(net["n_patterns"], net["n_inputs"], net["grid_points"])
    reached = np.count_nonzero(lines.any(-1), axis=1)  # inputs each pattern still listens to
    assert reached.max() <= 8 and reached.sum() > 0


@needs_lava
def test_exported_network_on_lava_agrees_with_torch(exported_tiny, tmp_path):
    summary = lava_run_summary(exported_tiny, tmp_path, "--limit", "20", "--chunk-samples", "10")
    assert summary["reference_mismatches"] == 0  # lava == NumPy reference, bit for bit
    assert summary["agreement_torch_deterministic"] >= 0.9  # 8-bit weights flip a few near-ties
    # the sampled (Eq. 9) torch model: a 16-pattern model is uncertain, so its 4-pass predictions
    # are noisy (about 80 % agreement over the whole split); the 90 % floor is measured on the
    # trained nmnist network, results/loihi/nmnist/beam_net/seed=0/summary.json
    assert summary["agreement_torch"] >= 0.5
    assert summary["energy_nj_mean"] > 0 and summary["samples"] == 20


@needs_lava
def test_runner_refuses_an_incompatible_archive(exported_tiny, tmp_path):
    root, _ = exported_tiny
    archive = dict(np.load(root / "network.npz"))
    archive["format_version"] = np.asarray(FORMAT_VERSION + 1)
    np.savez(tmp_path / "bad.npz", **archive)
    result = run_lava_runner(tmp_path / "bad.npz", root / "inputs.npz", tmp_path)
    assert result.returncode == 2
    assert f"export format version {FORMAT_VERSION + 1} is incompatible" in result.stderr
    assert not (tmp_path / "p.csv").exists()


def test_period_covers_input_lif_and_settling():
    assert period(tiny_network()) == 6 + 2


# --- the rate-coded SNN baseline on Loihi ---------------------------------------------------------


@pytest.fixture(scope="module")
def exported_rate_snn(tmp_path_factory, digits_caches, _default_config):
    """A rate-coded SNN (3 epochs) trained on digits' rate cache and exported."""
    return train_and_export(tmp_path_factory, digits_caches, tiny_config(_default_config, epochs=3), "rate_snn")


def test_rate_snn_export_matches_torch_in_numpy(exported_rate_snn):
    """The fixed-point rate-SNN (8-bit weights, dv = 410 for lambda = 0.9) predicts what torch
    predicts on >= 95 % of digits' test samples, with no overflow."""
    root, _ = exported_rate_snn
    with np.load(root / "network.npz") as archive:
        net = check_network(archive)
    inputs = dict(np.load(root / "inputs.npz"))
    samples = len(inputs["labels"])
    predictions = []
    for s in range(samples):
        out = simulate_rate_snn_sample(
            net, *sample_events(inputs["offsets"], inputs["input_index"], inputs["step_index"], s)
        )
        assert out["largest_input"] < 2**15 and out["largest_v"] < 2**23 - 64
        predictions.append(int(np.argmax(out["logits"])))
    assert np.mean(np.array(predictions) == inputs["torch_prediction"]) >= 0.95
    assert rate_period(net) == net["steps"] + 3


@needs_lava
def test_rate_snn_on_lava_matches_the_reference_and_torch(exported_rate_snn, tmp_path):
    summary = lava_run_summary(exported_rate_snn, tmp_path, "--limit", "8", "--chunk-samples", "4")
    assert summary["model"] == "rate_snn" and summary["samples"] == 8
    assert summary["reference_mismatches"] == 0 and summary["input_overflow_samples"] == 0
    assert summary["agreement_torch"] >= 0.875
    assert summary["mean_neuron_spikes"] > 0 and summary["energy_nj_mean"] > 0


def test_runner_refuses_inputs_made_for_another_network(exported_tiny, exported_rate_snn, tmp_path):
    """BEAM-Net's network with the rate-SNN's inputs archive: a clear error, nothing written."""
    from beamnet.loihi.run_lava import run

    with pytest.raises(ArchiveError, match="made for a rate_snn network, the network is a beam_net"):
        run(
            exported_tiny[0] / "network.npz",
            exported_rate_snn[0] / "inputs.npz",
            tmp_path / "p.csv",
            tmp_path / "s.json",
            chunk_samples=4,
            limit=2,
            use_lava=False,
        )
    assert not (tmp_path / "p.csv").exists()


@needs_lava
def test_rate_snn_reference_matches_lava_with_a_negative_readout_exponent(tmp_path):
    """W2 and b2 reach the readout through two Dense processes, each shifting its own sum: with
    output_exp = -2, (10 >> 2) + (6 >> 2) = 3, not (10 + 6) >> 2 = 4. The reference must agree
    with lava bit for bit there too."""
    net = tiny_rate_network(
        n_hidden=2,
        hidden_mant=np.array([[100, 0, 0], [0, 100, 0]], np.int16),
        output_mant=np.array([[10, 6, 6], [-6, 14, 2]], np.int16),
        output_exp=-2,
    )
    np.savez(tmp_path / "network.npz", **net)
    steps = [np.array([0, 1, 2, 3]), np.array([0, 1, 2, 3, 4]), np.array([1, 3])]
    sources = [np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1, 0]), np.array([1, 1])]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in steps])])
    inputs = {
        "format_version": FORMAT_VERSION,
        "network_kind": "rate_snn",
        "offsets": offsets,
        "input_index": np.concatenate(sources).astype(np.int32),
        "step_index": np.concatenate(steps).astype(np.int16),
        "labels": np.zeros(3, np.int64),
        "sample_ids": np.arange(3),
        "torch_prediction": np.zeros(3, np.int64),
        "torch_prediction_deterministic": np.zeros(3, np.int64),
        "steps": 6,
        "n_inputs": 2,
        "dataset": "digits",
    }
    np.savez(tmp_path / "inputs.npz", **inputs)
    summary = lava_run_summary((tmp_path, None), tmp_path, "--chunk-samples", "3")
    assert summary["reference_mismatches"] == 0 and summary["samples"] == 3
    assert summary["mean_neuron_spikes"] > 0


# --- the run's checks and its energy convention -------------------------------------------------


def _summary(**changes) -> dict:
    summary = {
        "model": "beam_net",
        "dataset": "digits",
        "simulator": "lava",
        "samples": 20,
        "reference_mismatches": 0,
        "agreement_torch": 0.95,
    }
    return summary | changes


def test_run_checks_fail_below_the_floor_and_on_any_reference_mismatch():
    from beamnet.loihi.run_lava import RunCheckError, check_run

    check_run(_summary(), agreement_floor=0.9)  # holds: nothing raised
    with pytest.raises(RunCheckError, match=r"agreement with the torch model 0.8500 is below the floor"):
        check_run(_summary(agreement_torch=0.85), agreement_floor=0.9)
    with pytest.raises(RunCheckError, match="differed from the NumPy integer reference on 1 of 20 samples"):
        check_run(_summary(reference_mismatches=1), agreement_floor=0.9)
    check_run(_summary(simulator="numpy reference", reference_mismatches=0), agreement_floor=0.0)


def test_runner_exits_with_the_reason_when_below_the_floor(exported_tiny, tmp_path):
    """A floor the tiny model cannot meet (it agrees on less than every sample): exit status 3, the
    reason on stderr, the summary still printed (the rule's log keeps it)."""
    import sys

    root, _ = exported_tiny
    result = subprocess.run(
        [
            sys.executable,
            "src/beamnet/loihi/run_lava.py",
            "--network",
            str(root / "network.npz"),
            "--inputs",
            str(root / "inputs.npz"),
            "--predictions",
            str(tmp_path / "p.csv"),
            "--summary",
            str(tmp_path / "s.json"),
            "--numpy-only",
            "--limit",
            "40",
            "--agreement-floor",
            "1.0",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    summary = json.loads((tmp_path / "s.json").read_text())
    if summary["agreement_torch"] == 1.0:
        pytest.skip("the tiny model agreed on every sample; the floor cannot be missed")
    assert result.returncode == 3
    assert "is below the floor loihi.agreement_floor = 1" in result.stderr
    assert '"agreement_torch"' in result.stdout


def test_exported_beam_net_carries_its_host_loop_and_the_runner_prices_it(exported_tiny, tmp_path):
    """The loop's MACs and pattern-table reads travel with the inputs; the runner adds them, priced
    on the host, to the chip's energy (beamnet.energy's convention)."""
    from beamnet.energy import HOST_PLATFORM, inference_energy_nj
    from beamnet.loihi.run_lava import run

    root, _ = exported_tiny
    inputs = dict(np.load(root / "inputs.npz"))
    assert inputs["host_macs"].shape == inputs["labels"].shape and float(inputs["host_macs"].min()) > 0
    summary = run(
        root / "network.npz",
        root / "inputs.npz",
        tmp_path / "p.csv",
        tmp_path / "s.json",
        chunk_samples=10,
        limit=10,
        use_lava=False,
    )
    host = inference_energy_nj(
        {"macs": inputs["host_macs"][:10], "memory_reads": inputs["host_memory_reads"][:10]},
        HOST_PLATFORM,
        float(inputs["host_stored_words"]),
    )
    assert summary["energy_host_nj_mean"] == pytest.approx(float(np.mean(host)))
    assert summary["energy_nj_mean"] == pytest.approx(
        summary["energy_on_chip_nj_mean"] + summary["energy_host_nj_mean"]
    )


def test_a_test_samples_subset_exports_those_samples_as_the_whole_split_does(
    exported_rate_snn, digits_caches, _default_config
):
    """loihi.test_samples: N exports N distinct samples drawn by loihi.seed, in the cache's order,
    each with the spikes and torch prediction that the whole-split export gives it."""
    from beamnet.loihi.export import export_rate_snn
    from beamnet.loihi.samples import exported_rows

    root, _ = exported_rate_snn
    config = tiny_config(_default_config, epochs=3)
    config["loihi"] = {**config["loihi"], "test_samples": 25}
    test_cache = digits_caches["rate/test"]
    export_rate_snn(config, "digits", 0, root / "model.pt", test_cache, root / "sub_net.npz", root / "sub_in.npz")
    whole, subset = dict(np.load(root / "inputs.npz")), dict(np.load(root / "sub_in.npz"))
    rows = exported_rows(len(whole["sample_ids"]), 25, int(config["loihi"]["seed"]))
    assert len(np.unique(rows)) == 25 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(subset["sample_ids"], whole["sample_ids"][rows])
    np.testing.assert_array_equal(subset["torch_prediction"], whole["torch_prediction"][rows])
    for position, row in enumerate(rows):
        a, b = subset["offsets"][position : position + 2]
        c, d = whole["offsets"][row : row + 2]
        np.testing.assert_array_equal(subset["input_index"][a:b], whole["input_index"][c:d])
        np.testing.assert_array_equal(subset["step_index"][a:b], whole["step_index"][c:d])
    assert exported_rows(10, "all", 0).tolist() == list(range(10)) == exported_rows(10, 12, 0).tolist()
