"""The device switch: the tensor-operation twins of the compiled kernels train as the kernels do
(checked on the CPU), train.device resolves with clear errors, and a CUDA run where a GPU exists."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from beamnet.config import model_encoding
from beamnet.io import load_torch_file
from beamnet.models.coincidence import CoincidenceDetector, dense_coincidence
from beamnet.models.device import force_tensor_path, resolve_device, tensor_path
from beamnet.train import train_model

# float32 has eps = 1.2e-7; the twins add the same terms in another order (sums over up to a few
# hundred inputs, then a mean over batches), so rounding alone can move a loss by a few hundred eps.
FLOAT32_REORDER_RTOL = 1e-5


def _train(config, caches, out: Path, model: str) -> tuple[Path, Path]:
    encoding = model_encoding(config, model, "digits")
    checkpoint, history = out / "model.pt", out / "history.csv"
    train_model(config, "digits", model, 0, caches[f"{encoding}/train"], caches[f"{encoding}/val"], checkpoint, history)
    return checkpoint, history


def test_dense_coincidence_matches_the_event_kernel_and_its_gradients() -> None:
    generator = torch.Generator().manual_seed(0)
    detector = CoincidenceDetector(n_inputs=40, n_patterns=12, tau_c=5.0, t_ref=20.0, dt=1.0)
    with torch.no_grad():
        detector.pattern_logits.copy_(torch.randn(40, 12, generator=generator))
        detector.weights.copy_(torch.rand(40, 12, generator=generator))
    times = 20.0 * torch.rand(7, 40, generator=generator)
    active = torch.rand(7, 40, generator=generator) < 0.4
    compiled = detector(times, active)
    grads_compiled = torch.autograd.grad(compiled.square().sum(), [detector.pattern_logits, detector.weights])
    twin = dense_coincidence(times, active, detector.times_by_input(), detector.weights, detector.tau_c, chunk=3)
    grads_twin = torch.autograd.grad(twin.square().sum(), [detector.pattern_logits, detector.weights])
    torch.testing.assert_close(twin, compiled, rtol=FLOAT32_REORDER_RTOL, atol=1e-6)
    for mine, theirs in zip(grads_twin, grads_compiled, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=FLOAT32_REORDER_RTOL, atol=1e-6)


def test_tensor_path_is_chosen_for_cuda_or_when_forced() -> None:
    cpu = torch.zeros(2)
    assert not tensor_path(cpu)
    with force_tensor_path():
        assert tensor_path(cpu)
    assert not tensor_path(cpu)


@pytest.mark.parametrize("loop", [True, False])
def test_beam_net_trains_alike_on_the_tensor_twins(tiny_training_config, digits_caches, tmp_path, loop) -> None:
    """Every history value of a BEAM-Net trained through the twins equals the compiled run's to
    float32 reordering, and the checkpoints hold the same weights to that tolerance."""
    config = copy.deepcopy(tiny_training_config)
    config["model"]["beam_net"]["loop"]["enabled"] = loop
    compiled_ckpt, compiled_history = _train(config, digits_caches, tmp_path / "compiled", "beam_net")
    with force_tensor_path():
        twin_ckpt, twin_history = _train(config, digits_caches, tmp_path / "twin", "beam_net")
    columns = ["train_loss", "val_loss", "val_accuracy", "val_ece", "val_activity"]
    np.testing.assert_allclose(
        pl.read_csv(twin_history).select(columns).to_numpy(),
        pl.read_csv(compiled_history).select(columns).to_numpy(),
        rtol=FLOAT32_REORDER_RTOL,
        atol=1e-7,
    )
    compiled_state, twin_state = load_torch_file(compiled_ckpt)["state_dict"], load_torch_file(twin_ckpt)["state_dict"]
    for name, value in compiled_state.items():
        torch.testing.assert_close(twin_state[name], value, rtol=1e-4, atol=1e-5)


def test_device_settings_resolve_or_fail_by_name() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match=r"'train.device' = 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"'train.device' = 'cuda' but torch finds no CUDA device"):
            resolve_device("cuda")


def test_schema_refuses_an_unknown_device(default_config) -> None:
    from beamnet.config import ConfigError, validate_schema

    default_config["train"]["device"] = "gpu"
    with pytest.raises(ConfigError, match="train.device"):
        validate_schema(default_config)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the CUDA run needs a GPU")
@pytest.mark.parametrize("model", ["beam_net", "ann_mlp", "rate_snn"])
def test_training_on_cuda_matches_the_cpu_run(tiny_training_config, digits_caches, tmp_path, model) -> None:
    """On a GPU the twins train each model; the history agrees with the CPU run to a looser
    tolerance (CUDA's kernels sum in other orders and may fuse multiply-adds)."""
    config = copy.deepcopy(tiny_training_config)
    _, cpu_history = _train(config, digits_caches, tmp_path / "cpu", model)
    config["train"]["device"] = "cuda"
    checkpoint, cuda_history = _train(config, digits_caches, tmp_path / "cuda", model)
    assert all(value.device.type == "cpu" for value in load_torch_file(checkpoint)["state_dict"].values())
    np.testing.assert_allclose(
        pl.read_csv(cuda_history)["train_loss"].to_numpy(), pl.read_csv(cpu_history)["train_loss"].to_numpy(), rtol=1e-3
    )
