"""Training: one checkpoint per dataset x model x seed (the ``train_model`` rule).

- Seeds for ``random``, NumPy and torch are set in one place (:func:`seed_everything`) and
  torch runs with deterministic algorithms, so the same config and seed give byte-identical
  checkpoints on CPU (for a fixed thread count).
- State is saved atomically after every epoch to ``<checkpoint>.resume``; a run killed mid-way
  resumes from its last finished epoch and ends with the same bytes as an uninterrupted run.
- A NaN or infinite loss stops training with an error and writes no checkpoint.
- With ``train.select_best_epoch`` the weights saved are those of the epoch with the highest
  validation accuracy (ties: the lower validation loss, then the earlier epoch), the same rule
  for every model: early stopping without stopping (Prechelt 1998). The test split is never
  looked at.
- Checkpoints hold the weights, the per-epoch history (without wall time) and provenance; the
  history table (with wall time) is written beside it as CSV.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import nn

from beamnet.config import config_hash
from beamnet.io import atomic_paths, torch_bytes
from beamnet.metrics import accuracy, expected_calibration_error
from beamnet.models import build_model, count_parameters
from beamnet.models.beam_net import BEAMNet
from beamnet.models.encoder import EncodedSplit, load_cache
from beamnet.provenance import provenance

log = logging.getLogger("beamnet.train")
CHECKPOINT_FORMAT = 2  # 2: coincidence parameters stored input-major (D, N)
N_CLASSES = 10


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def seed_everything(seed: int, threads: int) -> torch.Generator:
    """Seed random, NumPy and torch; deterministic algorithms; fixed thread count."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(seed)
    return generator


@dataclass
class BatchResult:
    loss: torch.Tensor
    probabilities: torch.Tensor
    activity: torch.Tensor       # (B,) fraction of active neuron-steps
    iterations: torch.Tensor     # (B,) loop iterations (0 for the baselines)


def model_inputs(model: nn.Module, data: EncodedSplit, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The tensors ``model`` reads for the samples ``index``."""
    if isinstance(model, BEAMNet):
        return data.spike_times[index], data.active[index]
    if data.encoding == "rate" and data.spikes is not None and hasattr(model, "decay"):
        return (data.spikes[index],)
    return (data.intensity[index],)


def run_batch(model: nn.Module, inputs: tuple[torch.Tensor, ...], labels: torch.Tensor,
              train_settings: Mapping[str, Any], kl_weight: float, stochastic: bool = False,
              generator: torch.Generator | None = None) -> BatchResult:
    """Forward one batch and compute the training loss."""
    if isinstance(model, BEAMNet):
        out = model(*inputs, stochastic=stochastic, generator=generator)
        loss = model.loss(out, labels, kl_weight, train_settings["sparsity_weight"],
                          train_settings["sparsity_target"])
        return BatchResult(loss, out.probabilities, out.activity, out.iterations)
    result = model(*inputs)
    logits, counts = result if isinstance(result, tuple) else (result, None)
    loss = nn.functional.cross_entropy(logits, labels)
    activity = (counts / (model.hidden.out_features * inputs[0].shape[1])).mean(1) if counts is not None \
        else torch.zeros(len(labels))
    return BatchResult(loss, torch.softmax(logits, 1), activity, torch.zeros(len(labels), dtype=torch.int64))


def parameter_groups(model: nn.Module, train_settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Adam parameter groups: BEAM-Net's pattern spike times t = T_ref * sigmoid(u) move slowly
    through the sigmoid, so their logits take ``pattern_times_lr_scale`` times the step."""
    rate = float(train_settings["learning_rate"])
    if not isinstance(model, BEAMNet):
        return [{"params": list(model.parameters()), "lr": rate}]
    times = model.coincidence.pattern_logits
    rest = [p for p in model.parameters() if p is not times]
    return [{"params": [times], "lr": rate * float(train_settings.get("pattern_times_lr_scale", 1.0))},
            {"params": rest, "lr": rate}]


def kl_weight_at(epoch: int, train_settings: Mapping[str, Any]) -> float:
    """Evidential KL weight, ramped linearly over ``kl_anneal_epochs`` (Sensoy et al. 2018)."""
    ramp = max(int(train_settings.get("kl_anneal_epochs", 0)), 1)
    return float(train_settings["evidential_kl_weight"]) * min(1.0, (epoch + 1) / ramp)


@torch.no_grad()
def evaluate_split(model: nn.Module, data: EncodedSplit, train_settings: Mapping[str, Any],
                   kl_weight: float, batch_size: int, ece_bins: int) -> dict[str, float]:
    """Loss, accuracy, ECE, activity and mean loop iterations on a split (mean-field pass)."""
    model.eval()
    losses, probs, activity, iterations = [], [], [], []
    for start in range(0, len(data), batch_size):
        index = torch.arange(start, min(start + batch_size, len(data)))
        result = run_batch(model, model_inputs(model, data, index), data.labels[index], train_settings, kl_weight)
        losses.append(float(result.loss) * len(index))
        probs.append(result.probabilities)
        activity.append(result.activity)
        iterations.append(result.iterations.float())
    probabilities = torch.cat(probs)
    return {"loss": sum(losses) / len(data), "accuracy": accuracy(probabilities, data.labels),
            "ece": expected_calibration_error(probabilities, data.labels, ece_bins),
            "activity": float(torch.cat(activity).mean()),
            "iterations": float(torch.cat(iterations).mean())}


CALIBRATION_GRID = torch.logspace(-2.0, 3.0, 201)
EVIDENCE_POWER_GRID = torch.linspace(0.5, 4.0, 15)


@torch.no_grad()
def calibrate(model: nn.Module, data: EncodedSplit, train_settings: Mapping[str, Any],
              batch_size: int = 256, passes: int = 1,
              generator: torch.Generator | None = None) -> dict[str, float]:
    """Fit the calibration map on the validation split by NLL (temperature scaling, Guo et al. 2017).

    For the baselines one scale multiplies the logits. For BEAM-Net the map acts on the
    Dirichlet evidence e (Eq. 12): alpha = alpha_0 + eta * s * e**gamma, with s and gamma
    fitted together. A scale alone cannot make BEAM-Net more confident than the normalised
    evidence e / sum(e) (its limit as s grows); the power can. Both maps are monotone, so the
    accuracy is unchanged: only the confidence moves.

    The map is fitted to the predictive that evaluation reports. Given a ``generator``, that is
    BEAM-Net's Monte-Carlo predictive p = (1/P) sum_p alpha^(p) / A^(p) over P = ``passes``
    passes of sampled spikes (Eq. 9) drawn from it; without one, the mean-field pass.
    (Fitted to the mean-field pass, the map is too sharp for the sampled one: averaging over
    passes already spreads the predictive.) Values come from fixed grids and a seeded
    generator, so the result is deterministic. Returns {"scale": s, "power": gamma}.
    """
    model.eval()
    beam = isinstance(model, BEAMNet)
    if beam:
        model.attention.evidence_scale.fill_(1.0)
        model.attention.evidence_power.fill_(1.0)
    else:
        model.logit_scale.fill_(1.0)
    stochastic = beam and generator is not None
    outputs = []
    for start in range(0, len(data), batch_size):
        index = torch.arange(start, min(start + batch_size, len(data)))
        inputs = model_inputs(model, data, index)
        if beam:
            outputs.append(torch.stack([
                model.attention.evidence(model(*inputs, stochastic=stochastic, generator=generator).rates)
                for _ in range(passes if stochastic else 1)]))                       # (P, B, K)
        else:
            result = model(*inputs)
            outputs.append(result[0] if isinstance(result, tuple) else result)  # logits
    raw = torch.cat(outputs, dim=1 if beam else 0)
    labels = data.labels
    best = {"scale": 1.0, "power": 1.0}
    best_nll = math.inf
    for power in (EVIDENCE_POWER_GRID.tolist() if beam else [1.0]):
        for scale in CALIBRATION_GRID.tolist():
            if beam:
                alpha = model.attention.concentrations(raw, scale, power)
                log_p = torch.log((alpha / alpha.sum(-1, keepdim=True)).mean(0))
            else:
                log_p = torch.log_softmax(scale * raw, 1)
            nll = float(-log_p.gather(1, labels[:, None]).mean())
            if nll < best_nll:
                best, best_nll = {"scale": scale, "power": power}, nll
    if beam:
        model.attention.evidence_scale.fill_(best["scale"])
        model.attention.evidence_power.fill_(best["power"])
    else:
        model.logit_scale.fill_(best["scale"])
    return best


def is_better_epoch(val: Mapping[str, float], best: Mapping[str, Any] | None) -> bool:
    """Higher validation accuracy wins; on a tie, lower validation loss; else the earlier epoch."""
    if best is None:
        return True
    return (val["accuracy"], -val["loss"]) > (best["accuracy"], -best["loss"])


def _canonical(value: Any) -> Any:
    """A JSON round trip: equal values then pickle to equal bytes, whether they were built in
    this process or read back from a resume file (pickle shares repeated objects)."""
    return json.loads(json.dumps(value, sort_keys=True))


def _resume_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".resume")


def train_model(config: Mapping[str, Any], dataset: str, model_name: str, seed: int,
                train_cache: Path, val_cache: Path, checkpoint: Path, history_path: Path,
                threads: int = 1, stop_after_epochs: int | None = None) -> None:
    """Train ``model_name`` on ``dataset`` with ``seed``; write the checkpoint and history.

    Parameters
    ----------
    stop_after_epochs
        Stop (as if killed) after this many epochs of this invocation, leaving the resume
        state behind; used to test resumption.
    """
    train_settings = config["train"]
    generator = seed_everything(seed, threads)
    train_data, val_data = load_cache(train_cache), load_cache(val_cache)
    if train_data.dataset != dataset or val_data.dataset != dataset:
        raise ValueError(f"caches '{train_cache}', '{val_cache}' hold dataset "
                         f"'{train_data.dataset}', expected '{dataset}'")
    model = build_model(model_name, train_data.n_inputs, N_CLASSES, config, dataset)
    if isinstance(model, BEAMNet):
        model.initialise_from_samples(train_data.spike_times, train_data.active, train_data.labels,
                                      generator)
    optimiser = torch.optim.Adam(parameter_groups(model, train_settings), lr=train_settings["learning_rate"],
                                 weight_decay=train_settings.get("weight_decay", 0.0))
    epochs, batch_size = int(train_settings["epochs"]), int(train_settings["batch_size"])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
    ece_bins = int(config["evaluate"]["ece_bins"])
    digest = config_hash(config)
    history: list[dict[str, float]] = []
    wall_times: list[float] = []
    start_epoch = 0
    select_best = bool(train_settings.get("select_best_epoch", False))
    best: dict[str, Any] | None = None   # epoch, val accuracy and loss, weights of the best epoch

    resume = _resume_path(checkpoint)
    if resume.exists():
        state = torch.load(resume, weights_only=False)
        if (state.get("format_version") == CHECKPOINT_FORMAT and state["config_hash"] == digest
                and state["seed"] == seed and state["model"] == model_name):
            model.load_state_dict(state["model_state"])
            optimiser.load_state_dict(state["optimiser_state"])
            scheduler.load_state_dict(state["scheduler_state"])
            generator.set_state(state["generator_state"])
            torch.set_rng_state(state["torch_rng_state"])
            history, wall_times, start_epoch = state["history"], state["wall_times"], state["epoch"]
            best = state.get("best")
            log.info("resuming %s from epoch %d", resume, start_epoch)
        else:
            log.info("ignoring %s: it was made with another checkpoint format, config, seed or model", resume)

    for epoch in range(start_epoch, epochs):
        if stop_after_epochs is not None and epoch - start_epoch >= stop_after_epochs:
            log.info("stopping after %d epochs as asked; resume state in %s", stop_after_epochs, resume)
            return
        began = time.perf_counter()
        model.train()
        kl_weight = kl_weight_at(epoch, train_settings)
        order = torch.randperm(len(train_data), generator=generator)
        total_loss, seen = 0.0, 0
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            result = run_batch(model, model_inputs(model, train_data, index), train_data.labels[index],
                               train_settings, kl_weight)
            if not math.isfinite(float(result.loss.detach())):
                resume.unlink(missing_ok=True)
                raise TrainingDiverged(f"{model_name} on {dataset}, seed {seed}: loss became "
                                       f"{float(result.loss.detach())} in epoch {epoch + 1}; no checkpoint written")
            optimiser.zero_grad()
            result.loss.backward()
            optimiser.step()
            total_loss += float(result.loss.detach()) * len(index)
            seen += len(index)
        scheduler.step()
        val = evaluate_split(model, val_data, train_settings, kl_weight, 256, ece_bins)
        history.append({"epoch": epoch + 1, "train_loss": total_loss / seen, "val_loss": val["loss"],
                        "val_accuracy": val["accuracy"], "val_ece": val["ece"],
                        "val_activity": val["activity"], "val_iterations": val["iterations"]})
        wall_times.append(time.perf_counter() - began)
        if select_best and is_better_epoch(val, best):
            best = {"epoch": epoch + 1, "accuracy": val["accuracy"], "loss": val["loss"],
                    "state": {key: value.clone() for key, value in model.state_dict().items()}}
        log.info("epoch %d/%d train_loss %.4f val_loss %.4f val_acc %.4f val_ece %.4f activity %.4f "
                 "iterations %.2f (%.1f s)", epoch + 1, epochs, history[-1]["train_loss"], val["loss"],
                 val["accuracy"], val["ece"], val["activity"], val["iterations"], wall_times[-1])
        with atomic_paths(resume) as (temp,):
            temp.write_bytes(torch_bytes({"format_version": CHECKPOINT_FORMAT, "config_hash": digest, "seed": seed,
                        "model": model_name, "epoch": epoch + 1,
                        "model_state": model.state_dict(), "optimiser_state": optimiser.state_dict(),
                        "scheduler_state": scheduler.state_dict(),
                        "generator_state": generator.get_state(),
                        "torch_rng_state": torch.get_rng_state(), "history": history,
                        "wall_times": wall_times, "best": best}))

    selected_epoch = epochs
    if select_best and best is not None:
        model.load_state_dict(best["state"])
        selected_epoch = int(best["epoch"])
        log.info("keeping epoch %d (val accuracy %.4f, val loss %.4f)", selected_epoch, best["accuracy"],
                 best["loss"])

    passes = int(config["evaluate"]["mc_passes"])
    calibration = (calibrate(model, val_data, train_settings, passes=passes,
                             generator=torch.Generator().manual_seed(seed))
                   if train_settings.get("calibrate", True) else {"scale": 1.0, "power": 1.0})
    calibrated = evaluate_split(model, val_data, train_settings, kl_weight_at(epochs - 1, train_settings),
                                256, ece_bins)
    log.info("calibration scale %.4g power %.3g; mean-field pass on val: loss %.4f acc %.4f ece %.4f",
             calibration["scale"],
             calibration["power"],
             calibrated["loss"], calibrated["accuracy"], calibrated["ece"])
    payload = {
        "format_version": CHECKPOINT_FORMAT, "dataset": dataset, "model": model_name, "seed": seed,
        "encoding": train_data.encoding, "n_inputs": train_data.n_inputs, "n_classes": N_CLASSES,
        "input_shape": list(train_data.input_shape), "parameter_count": count_parameters(model),
        "state_dict": model.state_dict(), "history": _canonical(history), "config": _canonical(config),
        "selected_epoch": selected_epoch,
        # the calibrated model's mean-field pass on val (the map itself is fitted to the sampled predictive)
        "calibration": {**calibration, "mean_field_val_ece": calibrated["ece"],
                        "mean_field_val_accuracy": calibrated["accuracy"], "mean_field_val_loss": calibrated["loss"]},
        "provenance": provenance(config, dataset=dataset, model=model_name, seed=seed, threads=threads),
    }
    table = pl.DataFrame(history).with_columns(pl.Series("wall_time_s", wall_times),
                                               (pl.col("epoch") == selected_epoch).alias("selected"))
    with atomic_paths(checkpoint, history_path) as (ckpt_temp, history_temp):
        ckpt_temp.write_bytes(torch_bytes(payload))
        table.write_csv(history_temp)
    resume.unlink(missing_ok=True)
