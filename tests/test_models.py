"""Model components against their equations, and the baselines' parameter budget."""

from __future__ import annotations

import copy

import pytest
import torch

from beamnet.config import ConfigError, encoded_input_count, model_encoding
from beamnet.models import beam_net_parameter_count, build_model, count_parameters
from beamnet.models.bayesian_lif import BayesianLIF
from beamnet.models.coincidence import CoincidenceDetector, coincidence_kernel
from beamnet.models.dirichlet import DirichletAttention, evidential_kl


def test_coincidence_matches_direct_sum() -> None:
    """Eqs. 21-22: the event-driven sum equals the dense sum_i w_ij kappa(t_i - t_ij) (float32)."""
    generator = torch.Generator().manual_seed(0)
    detector = CoincidenceDetector(n_inputs=40, n_patterns=12, tau_c=5.0, t_ref=20.0, dt=1.0)
    with torch.no_grad():
        detector.pattern_logits.normal_(0.0, 1.5, generator=generator)
        detector.weights.normal_(0.0, 1.0, generator=generator)
    times = torch.rand(8, 40, generator=generator) * 20.0
    active = torch.rand(8, 40, generator=generator) < 0.6
    fast = detector(times, active)
    kappa = coincidence_kernel(times[:, None, :] - detector.pattern_times[None], 5.0)
    direct = (kappa * detector.pattern_weights[None] * active[:, None, :]).sum(-1)
    torch.testing.assert_close(fast, direct, rtol=1e-5, atol=1e-5 * float(direct.detach().abs().max()))


def _dense_similarity(detector: CoincidenceDetector, times: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    kappa = coincidence_kernel(times[:, None, :] - detector.pattern_times[None], detector.tau_c)
    return (kappa * detector.pattern_weights[None] * active[:, None, :]).sum(-1)


def test_coincidence_gradients_match_autograd_of_the_dense_sum() -> None:
    """The hand-written backward pass of Eqs. 21-22 equals autograd through the dense formula
    for the pattern-time logits and the weights (float64, to 1e-10)."""
    generator = torch.Generator().manual_seed(3)
    detector = CoincidenceDetector(n_inputs=30, n_patterns=7, tau_c=5.0, t_ref=20.0, dt=1.0).double()
    with torch.no_grad():
        detector.pattern_logits.normal_(0.0, 1.5, generator=generator)
        detector.weights.normal_(0.0, 1.0, generator=generator)
    times = torch.rand(5, 30, generator=generator, dtype=torch.float64) * 20.0
    active = torch.rand(5, 30, generator=generator) < 0.5
    upstream = torch.randn(5, 7, generator=generator, dtype=torch.float64)
    gradients = []
    for similarity in (detector(times, active), _dense_similarity(detector, times, active)):
        logits_grad, weights_grad = torch.autograd.grad(
            (similarity * upstream).sum(), [detector.pattern_logits, detector.weights]
        )
        gradients.append((logits_grad, weights_grad))
    for fast, reference in zip(*gradients, strict=True):
        torch.testing.assert_close(fast, reference, rtol=1e-10, atol=1e-12)
    assert gradients[0][0].abs().sum() > 0 and gradients[0][1].abs().sum() > 0


@pytest.mark.parametrize("w_inh", [0.0, 2.5, 10.0])
def test_compiled_mean_field_lif_matches_the_step_by_step_reference(w_inh: float) -> None:
    """Eqs. 8-9, mean field: the compiled simulation and its BPTT equal the tensor-operation
    simulation and autograd through it (float64, to 1e-10), inhibition included."""
    generator = torch.Generator().manual_seed(5)
    lif = BayesianLIF(tau_m=10.0, theta=4.0, delta=0.5, w_inh=w_inh, steps=20, dt=1.0)
    current = (torch.randn(6, 9, generator=generator, dtype=torch.float64) * 3.0 + 6.0).requires_grad_()
    upstream = torch.randn(6, 9, generator=generator, dtype=torch.float64)
    fast, reference = lif(current), lif.simulate(current, stochastic=False)
    torch.testing.assert_close(fast.rates, reference.rates, rtol=1e-10, atol=1e-12)
    assert 0.0 < float(fast.rates.detach().mean()) < 1.0
    (fast_grad,) = torch.autograd.grad((fast.rates * upstream).sum(), current)
    (reference_grad,) = torch.autograd.grad((reference.rates * upstream).sum(), current)
    torch.testing.assert_close(fast_grad, reference_grad, rtol=1e-8, atol=1e-12)


def test_silent_inputs_add_nothing() -> None:
    """Eq. 21: a sample with no firing input has S = 0 for every pattern."""
    detector = CoincidenceDetector(10, 4, 5.0, 20.0, 1.0)
    with torch.no_grad():
        detector.weights.fill_(1.0)
    similarity = detector(torch.full((2, 10), 3.0), torch.zeros(2, 10, dtype=torch.bool))
    assert torch.equal(similarity, torch.zeros(2, 4))


def test_coincidence_peaks_at_the_stored_times() -> None:
    """kappa is largest when input spikes coincide with the pattern's spike times."""
    detector = CoincidenceDetector(6, 1, 5.0, 20.0, 1.0)
    with torch.no_grad():
        detector.weights.fill_(1.0)
    stored = detector.pattern_times.detach()
    active = torch.ones(3, 6, dtype=torch.bool)
    similarity = detector(torch.stack([stored[0], stored[0] + 3.0, stored[0] + 8.0]).clamp(0, 20), active)
    assert similarity[0, 0] > similarity[1, 0] > similarity[2, 0]


def test_dirichlet_prediction_is_normalised_mean() -> None:
    """Eq. 12: alpha = alpha_0 + eta * R r with R >= 0; p = alpha / A sums to one."""
    attention = DirichletAttention(n_patterns=5, n_classes=3, alpha_0=1.0, eta=10.0)
    rates = torch.rand(4, 5)
    alpha = attention(rates)
    assert torch.all(alpha >= 1.0)
    expected = 1.0 + 10.0 * rates @ torch.nn.functional.softplus(attention.readout).t()
    torch.testing.assert_close(alpha, expected)


def test_evidential_kl_is_zero_without_misleading_evidence() -> None:
    """Sensoy et al.'s KL vanishes when only the true class holds evidence, grows otherwise."""
    labels = torch.tensor([0, 1])
    clean = torch.tensor([[50.0, 1.0, 1.0], [1.0, 9.0, 1.0]])
    misleading = torch.tensor([[50.0, 20.0, 1.0], [1.0, 9.0, 30.0]])
    assert torch.allclose(evidential_kl(clean, labels), torch.zeros(2), atol=1e-5)
    assert torch.all(evidential_kl(misleading, labels) > 0.1)


@pytest.mark.parametrize(("dataset", "n_inputs"), [("digits", 64), ("digits_saccade", 2400), ("nmnist", 6936)])
@pytest.mark.parametrize("baseline", ["ann_mlp", "rate_snn"])
def test_baselines_match_beam_net_parameter_count(default_config, dataset: str, n_inputs: int, baseline: str) -> None:
    """Baselines have BEAM-Net's parameter count on the same dataset within the configured +-20 %,
    counted with BEAM-Net's own inputs there (population coding gives each pixel l of them)."""
    beam_inputs = encoded_input_count(default_config, model_encoding(default_config, "beam_net", dataset), n_inputs)
    beam = build_model("beam_net", beam_inputs, 10, default_config, dataset)
    other = build_model(baseline, n_inputs, 10, default_config, dataset)
    target = beam_net_parameter_count(beam_inputs, 10, default_config["model"]["beam_net"]["n_patterns"])
    assert count_parameters(beam) == target
    tolerance = default_config["model"]["parameter_tolerance"]
    assert abs(count_parameters(other) - target) <= tolerance * target


def test_unknown_model_is_refused(default_config) -> None:
    with pytest.raises(ValueError, match="model 'transformer'"):
        build_model("transformer", 64, 10, default_config, "digits")


@pytest.mark.parametrize(
    ("beam_code", "ann_code"), [("auto", "population"), ("latency", "population"), ("population", "latency")]
)
def test_baseline_matches_beam_net_whichever_code_each_reads(default_config, beam_code: str, ann_code: str) -> None:
    """On digits (64 pixels) the ANN-MLP matches BEAM-Net's parameter count however many
    inputs each one's code gives it (l per pixel for the population code, 1 for latency)."""
    config = copy.deepcopy(default_config)
    config["model"]["beam_net"]["encoding"], config["model"]["ann_mlp"]["encoding"] = beam_code, ann_code
    pixels = 64
    beam_inputs = encoded_input_count(config, model_encoding(config, "beam_net", "digits"), pixels)
    ann_inputs = encoded_input_count(config, ann_code, pixels)
    target = beam_net_parameter_count(beam_inputs, 10, config["model"]["beam_net"]["n_patterns"])
    ann = build_model("ann_mlp", ann_inputs, 10, config, "digits")
    assert abs(count_parameters(ann) - target) <= config["model"]["parameter_tolerance"] * target


def test_auto_encoding_is_population_for_images_and_latency_for_events(default_config) -> None:
    """'auto' reads the W-TCRL population cache where intensities exist, the event latency cache
    elsewhere; an encoding a dataset lacks is refused with the key, value and dataset named."""
    config = copy.deepcopy(default_config)
    config["model"]["beam_net"]["encoding"] = "auto"
    assert model_encoding(config, "beam_net", "digits") == "population"
    assert model_encoding(config, "beam_net", "digits_saccade") == "latency"
    assert model_encoding(config, "beam_net", "nmnist") == "latency"
    assert encoded_input_count(config, "population", 64) == 64 * config["encoding"]["population"]["neurons_per_input"]
    config["model"]["beam_net"]["encoding"] = "population"
    with pytest.raises(
        ConfigError, match=r"model.beam_net.encoding: 'population' is not available for dataset 'nmnist'"
    ):
        model_encoding(config, "beam_net", "nmnist")


def test_disabled_loop_leaves_the_encoded_times_unchanged(default_config) -> None:
    """loop.enabled = false (the ablation without Eq. 16): zero iterations, every sample counted as
    settled, and the similarity is that of the encoded times; enabled, the loop moves them."""
    generator = torch.Generator().manual_seed(0)
    times = torch.rand(6, 64, generator=generator) * 20.0
    active = torch.rand(6, 64, generator=generator) > 0.4
    config = copy.deepcopy(default_config)
    model = build_model("beam_net", 64, 10, config, "digits")
    model.initialise_from_samples(times, active, torch.arange(6) % 10, torch.Generator().manual_seed(1))
    on = model(times, active)
    model.settings["loop"]["enabled"] = False
    off = model(times, active)
    assert int(off.iterations.max()) == 0 and bool(off.converged.all())
    assert int(on.iterations.max()) > 0
    direct = model.coincidence(times, active, model.coincidence.times_by_input())
    lif = model.lif(direct + model.bias)
    torch.testing.assert_close(off.rates, lif.rates)
    assert not torch.equal(on.rates, off.rates)
