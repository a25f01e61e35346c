"""The BEAM-Net theory, each statement asserted where it has an analytic answer.

Eqs. 14-15 (uncertainty decomposition), Prop. 3.3 (firing rates -> posterior: its symmetric and
sub-threshold limits; the general distance is measured by the workflow, not asserted), Thm. 3.6
(loop iteration bound) and Thm. 4.1 (loop energy descent).
"""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import pytest
import torch

from beamnet.models.bidirectional import predictive_coding_loop
from beamnet.models.dirichlet import dirichlet_uncertainty
from beamnet.models.encoder import load_cache
from beamnet.theory import NeuronConstants, rate_posterior_distance, sweep_rate_posterior, sweep_values

N_CLASSES = 10
LN_K = math.log(N_CLASSES)


def _concentrations() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    random = torch.distributions.Gamma(0.7, 0.1).sample((500, N_CLASSES)) + 1e-3
    tiny = torch.full((4, N_CLASSES), 1e-4)
    huge = torch.full((4, N_CLASSES), 1e5)
    one_hot = torch.full((4, N_CLASSES), 1e-3)
    one_hot[:, 0] = 1e6
    lopsided = torch.rand((200, N_CLASSES), generator=generator) ** 8 * 1e4 + 1e-3
    return [random, tiny, huge, one_hot, lopsided]


@pytest.mark.parametrize("alpha", _concentrations(), ids=["random", "tiny", "huge", "one-hot", "lopsided"])
def test_uncertainty_decomposition_bounds(alpha: torch.Tensor) -> None:
    """Eqs. 14-15: aleatoric, epistemic >= 0; they sum to H[p]; each <= ln K."""
    parts = dirichlet_uncertainty(alpha.double())
    assert torch.all(parts.aleatoric >= -1e-9)
    assert torch.all(parts.epistemic >= -1e-9)
    torch.testing.assert_close(parts.aleatoric + parts.epistemic, parts.total)
    assert torch.all(parts.total <= LN_K + 1e-9)
    assert torch.all(parts.aleatoric <= LN_K + 1e-9) and torch.all(parts.epistemic <= LN_K + 1e-9)


def test_epistemic_shrinks_as_evidence_grows() -> None:
    """Eq. 14: with the same proportions, more evidence means less epistemic uncertainty."""
    proportions = torch.softmax(torch.randn(50, N_CLASSES, generator=torch.Generator().manual_seed(3)), 1)
    scales = torch.logspace(-1, 4, 12)
    epistemic = torch.stack(
        [dirichlet_uncertainty(1e-3 + s * proportions.double() * N_CLASSES).epistemic for s in scales], 1
    )
    assert torch.all(epistemic[:, 1:] < epistemic[:, :-1])
    assert float(epistemic[:, -1].max()) < 1e-3


def test_uncertainty_matches_monte_carlo() -> None:
    """Eq. 15 in closed form agrees with E_Dir[H(pi)] estimated by sampling."""
    alpha = torch.tensor([[2.0, 5.0, 1.0, 0.5, 3.0, 1.0, 1.0, 0.7, 4.0, 1.5]], dtype=torch.float64)
    samples = torch.distributions.Dirichlet(alpha[0]).sample((200_000,))
    entropy = -(samples * torch.log(samples.clamp_min(1e-300))).sum(1).mean()
    assert float(dirichlet_uncertainty(alpha).aleatoric[0]) == pytest.approx(float(entropy), abs=2e-3)


NEURONS = NeuronConstants(tau_m=10.0, theta=1.0, delta=0.5, dt=1.0)


@pytest.mark.parametrize("w_inh", [0.5, 2.0, 4.0, 16.0])
def test_equal_drives_give_the_posterior_exactly(w_inh: float) -> None:
    """Prop. 3.3, symmetric limit: equal drives give equal mean-field rates at every w_inh (by the
    permutation symmetry of Eqs. 8-9), and the posterior of equal drives is uniform, so TV = 0 up to
    float64 rounding."""
    currents = torch.full((6, N_CLASSES), NEURONS.theta + 0.3, dtype=torch.float64)
    result = rate_posterior_distance(currents, w_inh, NEURONS, steps=60, dynamics="mean_field")
    assert not bool(result.silent.any())
    assert float(result.distance.max()) < 1e-12


@pytest.mark.parametrize("w_inh", [0.5, 4.0])
def test_rates_reach_the_posterior_far_below_threshold(w_inh: float) -> None:
    """Prop. 3.3, sub-threshold limit. With P = P(spike) small, the mean-field rates of Eqs. 8-9
    are c_j ~ T sigmoid((V*_j - theta) / Delta) at the steady potential V*_j, and sigmoid(x) ~ e^x,
    so q -> softmax(I / Delta) = p. To first order in P_max = sigmoid(max_j (I_j - theta) / Delta)
    each exponent is off by at most: P_max (sigmoid vs exp); I_max P_max tau_m / (dt Delta) (the
    reset V <- V (1 - s) lowers V* by that fraction); w_inh P_max / Delta (a neuron does not inhibit
    itself); and the leak's transient from V = 0 to V* covers about tau_m / dt of the T steps. TV is
    at most the largest exponent error, so it must fall with every step below threshold and stay
    under that first-order bound. Drives stay positive (V rises monotonically towards V*)."""
    neurons = NeuronConstants(tau_m=10.0, theta=1.0, delta=0.1, dt=1.0)
    u = torch.rand(200, N_CLASSES, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    steps = int(200 * neurons.tau_m / neurons.dt)
    depths = (0.0, 2.0, 4.0, 6.0, 8.0)
    distances = []
    for depth in depths:
        currents = neurons.theta + neurons.delta * (u - depth)
        assert float(currents.min()) > 0.0
        distances.append(float(rate_posterior_distance(currents, w_inh, neurons, steps, "mean_field").distance.max()))
    assert all(later < earlier for earlier, later in pairwise(distances))
    deepest = neurons.theta + neurons.delta * (1.0 - depths[-1])  # I_max at the last depth
    p_max = 1.0 / (1.0 + math.exp(-(deepest - neurons.theta) / neurons.delta))
    leak_steps = neurons.tau_m / neurons.dt
    bound = p_max * (1.0 + (deepest * leak_steps + w_inh) / neurons.delta) + leak_steps / steps
    assert distances[-1] < bound


def test_sweep_is_reproducible_and_shares_its_drives(default_config) -> None:
    """The sweep table is a function of the config: two runs give equal tables; every w_inh sees
    the same number of drive vectors, and mean-field rows carry no sampling noise."""
    config = {
        **default_config,
        "theory": {**default_config["theory"], "n_drive_vectors": 40, "w_inh": [1.0, 4.0], "bootstrap_resamples": 200},
    }
    first, second = sweep_rate_posterior(config), sweep_rate_posterior(config)
    assert first.equals(second)
    assert first.height == 4 and set(first["n_vectors"].to_list()) == {40}
    assert first.filter(first["dynamics"] == "mean_field")["sampling_noise"].to_list() == [0.0, 0.0]
    assert bool(
        (
            (first["distance_ci_low"] <= first["distance_mean"]) & (first["distance_mean"] <= first["distance_ci_high"])
        ).all()
    )


def test_sweep_values_come_from_the_table(default_config) -> None:
    """The manuscript's theory.* values name the grid point nearest the model's w_inh."""
    config = {
        **default_config,
        "theory": {
            **default_config["theory"],
            "n_drive_vectors": 30,
            "w_inh": [1.5, 2.5, 8.0],
            "bootstrap_resamples": 100,
        },
    }
    table = sweep_rate_posterior(config)
    values = sweep_values(table, model_w_inh=2.4)
    assert values["theory.at_model"].endswith("at w_inh = 2.5")
    assert values["theory.below_threshold"].endswith("at w_inh = 1.5")
    assert values["theory.w_inh_grid"] == "1.5, 2.5, 8"


@pytest.fixture(scope="module")
def real_samples_and_patterns(digits_caches: dict[str, Path]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Real test digits and N = 128 patterns stored from real training digits (silent -> T_ref)."""
    train, test = load_cache(digits_caches["latency/train"]), load_cache(digits_caches["latency/test"])
    patterns = torch.where(
        train.active[:128], train.spike_times[:128], torch.full_like(train.spike_times[:128], train.t_ref_ms)
    )
    return test.spike_times, test.active, patterns


def test_loop_converges_within_theorem_3_6_bound(real_samples_and_patterns, default_config) -> None:
    """Thm. 3.6: left to run freely, the loop settles within ceil(3 tau_m / tau_s) iterations."""
    beam = default_config["model"]["beam_net"]
    bound = math.ceil(3 * beam["tau_m_ms"] / beam["tau_s_ms"])
    times, active, patterns = real_samples_and_patterns
    result = predictive_coding_loop(
        times,
        active,
        patterns,
        beam["tau_c_ms"],
        beta=1.0,
        pull=0.5,
        max_iterations=100,
        tolerance=beam["loop"]["tolerance"],
    )
    assert bool(result.converged.all())
    assert int(result.iterations.max()) <= bound


def test_loop_energy_never_increases(real_samples_and_patterns, default_config) -> None:
    """Thm. 4.1: the log-sum-exp energy is non-increasing across iterations, for any pull in (0, 1]."""
    beam = default_config["model"]["beam_net"]
    times, active, patterns = real_samples_and_patterns
    for pull in (0.1, 0.5, 1.0):
        result = predictive_coding_loop(
            times, active, patterns, beam["tau_c_ms"], beta=1.0, pull=pull, max_iterations=12, tolerance=0.0
        )
        steps = result.energies[:, 1:] - result.energies[:, :-1]
        assert float(steps.max()) <= 1e-5
        assert float(steps.min()) < 0.0  # and it really moves


def test_compiled_loop_matches_the_tensor_reference(real_samples_and_patterns, default_config) -> None:
    """Eq. 16 compiled per sample over firing inputs equals the batched tensor version: refined
    times within 1e-4 ms, the same iteration counts and convergence, energies within 1e-5."""
    from beamnet.models.bidirectional import predictive_coding_loop_reference

    beam = default_config["model"]["beam_net"]
    times, active, patterns = real_samples_and_patterns
    for pull in (0.1, 0.5):
        arguments = (
            times,
            active,
            patterns,
            beam["tau_c_ms"],
            1.0,
            pull,
            beam["loop"]["max_iterations"],
            beam["loop"]["tolerance"],
        )
        fast, reference = predictive_coding_loop(*arguments), predictive_coding_loop_reference(*arguments)
        torch.testing.assert_close(fast.spike_times[active], reference.spike_times[active], rtol=0.0, atol=1e-4)
        assert torch.equal(fast.spike_times[~active], times[~active])
        assert torch.equal(fast.iterations, reference.iterations) and torch.equal(fast.converged, reference.converged)
        torch.testing.assert_close(fast.energies, reference.energies, rtol=0.0, atol=1e-5)
