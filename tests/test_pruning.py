"""Sparse coincidence connectivity (``model.beam_net.prune``): magnitude pruning with fine-tuning."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import train_digits_beam_net

from beamnet.config import ConfigError, check_theory, model_encoding, validate_schema
from beamnet.evaluate import predict, restore_model
from beamnet.io import load_torch_file
from beamnet.models.coincidence import CoincidenceDetector, dense_coincidence
from beamnet.models.encoder import model_view, open_cache


def _detector(n_inputs: int = 12, n_patterns: int = 5, connections: int | None = 3) -> CoincidenceDetector:
    generator = torch.Generator().manual_seed(0)
    detector = CoincidenceDetector(n_inputs, n_patterns, 5.0, 20.0, 1.0, connections)
    with torch.no_grad():
        detector.weights.copy_(torch.randn(n_inputs, n_patterns, generator=generator))
        detector.pattern_logits.copy_(torch.randn(n_inputs, n_patterns, generator=generator))
    return detector


def test_prune_keeps_each_patterns_largest_weights() -> None:
    """After pruning, pattern j keeps exactly k inputs, those of largest |w_ij|, and the rest are 0."""
    detector = _detector()
    before = detector.weights.detach().clone()
    assert not detector.is_pruned
    detector.prune()
    assert detector.is_pruned
    mask = detector.connection_mask
    assert mask.sum(0).tolist() == [3] * 5
    for j in range(5):
        kept = set(torch.nonzero(mask[:, j]).flatten().tolist())
        largest = set(torch.topk(before[:, j].abs(), 3).indices.tolist())
        assert kept == largest
    assert torch.equal(detector.weights[~mask], torch.zeros(int((~mask).sum())))
    assert torch.equal(detector.weights[mask], before[mask])


def test_drive_preserving_prune_keeps_each_patterns_mean_drive() -> None:
    """With firing fractions f, the mask is the magnitude mask, and each pattern's kept weights are
    scaled so that sum_i m_ij |w_ij| f_i equals sum_i |w_ij| f_i before pruning (signs kept)."""
    plain, preserving = _detector(), _detector()
    firing = torch.rand(12, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    firing[0] = 0.0  # an input that never fires adds no drive
    before = preserving.weights.detach().clone()
    plain.prune()
    preserving.prune(firing)
    assert torch.equal(preserving.connection_mask, plain.connection_mask)
    drive_before = (before.abs().double() * firing[:, None]).sum(0)
    drive_after = (preserving.weights.detach().abs().double() * firing[:, None]).sum(0)
    torch.testing.assert_close(drive_after, drive_before, rtol=1e-6, atol=0.0)  # float32 weights
    mask = preserving.connection_mask
    assert torch.equal(torch.sign(preserving.weights[mask]), torch.sign(before[mask]))
    assert torch.all(preserving.weights[mask].abs() >= before[mask].abs())  # scales are >= 1


def test_pruned_similarity_and_synaptic_events_count_only_kept_synapses() -> None:
    """The event sum (Eqs. 21-22) uses m_ij w_ij, its gradient leaves dropped synapses alone, and an
    input spike costs as many synaptic events as patterns listen to it."""
    detector = _detector()
    detector.prune()
    generator = torch.Generator().manual_seed(1)
    spike_times = 20.0 * torch.rand(4, 12, generator=generator)
    active = torch.rand(4, 12, generator=generator) < 0.6
    similarity = detector(spike_times, active)
    masked = detector.weights.detach() * detector.connection_mask
    expected = dense_coincidence(spike_times, active, detector.times_by_input().detach(), masked, 5.0)
    torch.testing.assert_close(similarity, expected.to(similarity.dtype))
    similarity.sum().backward()
    assert torch.all(detector.weights.grad[~detector.connection_mask] == 0)
    fan_out = detector.connection_mask.sum(1).double()
    assert torch.equal(detector.synaptic_events(active), (active.double() * fan_out).sum(1))
    dense = _detector(connections=None)
    assert torch.equal(dense.synaptic_events(active), active.sum(1).double() * 5)


def test_connections_outside_one_to_d_are_refused_naming_the_key(default_config) -> None:
    with pytest.raises(ConfigError, match=r"model\.beam_net\.prune\.connections.*\[1, D = 12\]"):
        CoincidenceDetector(12, 5, 5.0, 20.0, 1.0, 13)
    default_config["model"]["beam_net"]["prune"] = {"connections": 0, "at_epoch": 1}
    with pytest.raises(ConfigError, match=r"prune.*connections"):
        validate_schema(default_config)


def test_prune_epoch_must_be_a_training_epoch(default_config) -> None:
    default_config["model"]["beam_net"]["prune"] = {"connections": 8, "at_epoch": default_config["train"]["epochs"]}
    with pytest.raises(ConfigError, match=r"model\.beam_net\.prune\.at_epoch"):
        check_theory(default_config)


def _train(config, caches, out: Path, **kwargs) -> Path:
    return train_digits_beam_net(config, caches, out, **kwargs)


@pytest.fixture
def pruned_config(tiny_training_config):
    tiny_training_config["model"]["beam_net"]["prune"] = {"connections": 8, "at_epoch": 1}
    return tiny_training_config


def test_training_prunes_then_fine_tunes_and_selects_a_pruned_epoch(pruned_config, digits_caches, tmp_path) -> None:
    """The checkpoint is sparse (k synapses per pattern), its selected epoch comes after the
    pruning, and evaluation counts fewer synaptic events than all N per input spike."""
    checkpoint = _train(pruned_config, digits_caches, tmp_path)
    payload = load_torch_file(checkpoint)
    mask = payload["state_dict"]["coincidence.connection_mask"]
    assert mask.sum(0).tolist() == [8] * pruned_config["model"]["beam_net"]["n_patterns"]
    assert torch.all(payload["state_dict"]["coincidence.weights"][~mask] == 0)
    assert payload["selected_epoch"] >= 2  # epochs are 1-based; pruning came before the second
    model = restore_model(payload, pruned_config, checkpoint)
    encoding = model_encoding(pruned_config, "beam_net", "digits")
    data = model_view(open_cache(digits_caches[f"{encoding}/test"]), pruned_config, "beam_net")
    result = predict(model, data, 2, 0)
    spikes_to_readout = result["spikes"] * model.n_classes
    coincidence_events = result["synops"] - spikes_to_readout
    active = data.active[torch.arange(len(data))]
    expected = (active.double() * mask.sum(1).double()).sum(1).numpy()
    assert coincidence_events == pytest.approx(expected)
    assert coincidence_events.sum() < active.sum().item() * model.coincidence.n_patterns


def test_training_with_preserved_drive_scales_the_kept_weights(pruned_config, digits_caches, tmp_path) -> None:
    """preserve_drive changes the pruned weights (scaled up), not the mask, and still resumes."""
    plain = load_torch_file(_train(pruned_config, digits_caches, tmp_path / "plain"))
    pruned_config["model"]["beam_net"]["prune"]["preserve_drive"] = True
    reference = _train(pruned_config, digits_caches, tmp_path / "drive")
    kept = load_torch_file(reference)["state_dict"]
    assert (
        kept["coincidence.connection_mask"].sum(0).tolist()
        == plain["state_dict"]["coincidence.connection_mask"].sum(0).tolist()
    )
    assert kept["coincidence.weights"].abs().sum() > plain["state_dict"]["coincidence.weights"].abs().sum()
    partial = _train(pruned_config, digits_caches, tmp_path / "cut", stop_after_epochs=2)
    assert not partial.exists()
    assert _train(pruned_config, digits_caches, tmp_path / "cut").read_bytes() == reference.read_bytes()


@pytest.mark.parametrize("stop_after", [1, 2])
def test_a_pruned_run_killed_before_or_after_pruning_resumes_to_the_same_bytes(
    pruned_config, digits_caches, tmp_path, stop_after
) -> None:
    reference = _train(pruned_config, digits_caches, tmp_path / "full")
    partial = _train(pruned_config, digits_caches, tmp_path / "cut", stop_after_epochs=stop_after)
    assert not partial.exists()
    resumed = _train(pruned_config, digits_caches, tmp_path / "cut")
    assert resumed.read_bytes() == reference.read_bytes()
