"""The ablation against a softmax head (``model.beam_net.head: softmax``)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import train_digits_beam_net

from beamnet.config import ConfigError, model_encoding, validate_schema
from beamnet.evaluate import predict, restore_model
from beamnet.io import load_torch_file
from beamnet.models.dirichlet import DirichletAttention, SoftmaxHead, make_head
from beamnet.models.encoder import model_view, open_cache


def _evidence(batch: int = 6, classes: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, classes, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_softmax_head_predictive_is_the_softmax_of_the_scaled_evidence() -> None:
    head = SoftmaxHead(n_patterns=5, n_classes=4, gain=10.0)
    evidence = _evidence()
    expected = torch.exp(10.0 * 0.5 * evidence)
    torch.testing.assert_close(head.predictive(evidence, 0.5, 1.0), expected / expected.sum(1, keepdim=True))
    dirichlet = DirichletAttention(5, 4, alpha_0=1.0, eta=300.0)
    # both links are increasing in each class's evidence: the same arg-max
    assert torch.equal(
        head.predictive(evidence, 1.0, 1.0).argmax(1), dirichlet.predictive(evidence, 1.0, 1.0).argmax(1)
    )
    with pytest.raises(TypeError, match="no Dirichlet"):
        head.concentrations(evidence, 1.0, 1.0)
    assert torch.equal(head.training_penalty(evidence, torch.zeros(6, dtype=torch.int64)), torch.zeros(6))


def test_softmax_head_uncertainty_is_bald_over_the_passes() -> None:
    """total = H[p], 0 <= aleatoric <= total, epistemic = total - aleatoric; one pass or identical
    passes leave no epistemic part, disagreeing passes do."""
    head = SoftmaxHead(n_patterns=5, n_classes=4, gain=10.0)
    passes = [_evidence(seed=s).float() for s in range(5)]
    mean = torch.stack(passes).double().mean(0)
    result = head.uncertainty(mean, passes)
    p = head.predictive(mean, 1.0, 1.0)
    torch.testing.assert_close(result.total, -(p * p.log()).sum(1))
    assert torch.all(result.aleatoric >= 0) and torch.all(result.aleatoric <= result.total)
    torch.testing.assert_close(result.epistemic, result.total - result.aleatoric)
    assert float(result.epistemic.max()) > 0.0
    agreeing = head.uncertainty(mean, [mean.float()] * 3)
    torch.testing.assert_close(agreeing.epistemic, torch.zeros(6, dtype=torch.float64), atol=1e-6, rtol=0.0)
    assert torch.all(agreeing.total <= math.log(4) + 1e-9)


def test_head_is_checked_by_the_schema(default_config) -> None:
    default_config["model"]["beam_net"]["head"] = "sigmoid"
    with pytest.raises(ConfigError, match=r"head"):
        validate_schema(default_config)
    default_config["model"]["beam_net"]["head"] = "softmax"
    default_config["model"]["beam_net"]["softmax_gain"] = 0.0
    with pytest.raises(ConfigError, match=r"softmax_gain"):
        validate_schema(default_config)
    assert isinstance(make_head(5, 3, {"head": "softmax", "softmax_gain": 2.0}), SoftmaxHead)


@pytest.fixture
def softmax_config(tiny_training_config):
    tiny_training_config["model"]["beam_net"]["head"] = "softmax"
    return tiny_training_config


def _train(config, caches, out: Path, **kwargs) -> Path:
    return train_digits_beam_net(config, caches, out, **kwargs)


def test_a_softmax_head_model_trains_calibrates_a_temperature_and_evaluates(
    softmax_config, digits_caches, tmp_path
) -> None:
    """Training and evaluation run end to end; the calibration map is a temperature (power 1);
    evaluation's predictive is softmax(g s e_bar) and calibration keeps every prediction."""
    checkpoint = _train(softmax_config, digits_caches, tmp_path)
    payload = load_torch_file(checkpoint)
    assert payload["calibration"]["power"] == 1.0
    model = restore_model(payload, softmax_config, checkpoint)
    assert isinstance(model.attention, SoftmaxHead)
    encoding = model_encoding(softmax_config, "beam_net", "digits")
    data = model_view(open_cache(digits_caches[f"{encoding}/test"]), softmax_config, "beam_net")
    result = predict(model, data, 3, 0)
    probabilities = torch.as_tensor(result["probabilities"])
    torch.testing.assert_close(probabilities.sum(1), torch.ones(len(data), dtype=probabilities.dtype))
    uncalibrated = torch.as_tensor(result["uncalibrated_probabilities"])
    assert torch.equal(probabilities.argmax(1), uncalibrated.argmax(1))
    assert (torch.as_tensor(result["aleatoric"]) <= torch.as_tensor(result["total"])).all()
    # the fitted temperature is the one the restored head applies
    assert float(model.attention.evidence_scale) == pytest.approx(payload["calibration"]["scale"])
    assert float(model.attention.evidence_power) == 1.0
