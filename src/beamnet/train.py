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

from beamnet.augment import augment_batch, augmentation_enabled
from beamnet.config import config_hash
from beamnet.io import atomic_paths, load_torch_file, torch_bytes
from beamnet.metrics import accuracy, expected_calibration_error
from beamnet.models import build_model, count_parameters
from beamnet.models.beam_net import BEAMNet, prune_epoch
from beamnet.models.device import model_device, resolve_device
from beamnet.models.encoder import EncodedSplit, iter_batches, model_view, open_cache, take_batch
from beamnet.progress import progress
from beamnet.provenance import provenance

log = logging.getLogger("beamnet.train")
CHECKPOINT_FORMAT = 2  # 2: coincidence parameters stored input-major (D, N)
EVAL_BATCH = 256  # samples per batch when scoring a split (no gradients)


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
    activity: torch.Tensor  # (B,) fraction of active neuron-steps
    iterations: torch.Tensor  # (B,) loop iterations (0 for the baselines)


def model_inputs(model: nn.Module, data: EncodedSplit, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The tensors ``model`` reads for the samples ``index``, on the model's device."""
    device = model_device(model)
    if isinstance(model, BEAMNet):
        return data.spike_times[index].to(device), data.active[index].to(device)
    if data.encoding == "rate" and data.spikes is not None and hasattr(model, "decay"):
        return (data.spikes[index].to(device),)
    return (data.intensity[index].to(device),)


def run_batch(
    model: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    labels: torch.Tensor,
    train_settings: Mapping[str, Any],
    kl_weight: float,
    stochastic: bool = False,
    generator: torch.Generator | None = None,
) -> BatchResult:
    """Forward one batch and compute the training loss (on the inputs' device)."""
    labels = labels.to(inputs[0].device)
    if isinstance(model, BEAMNet):
        out = model(*inputs, stochastic=stochastic, generator=generator)
        loss = model.loss(out, labels, kl_weight, train_settings["sparsity_weight"], train_settings["sparsity_target"])
        return BatchResult(loss, out.probabilities, out.activity, out.iterations)
    result = model(*inputs)
    logits, counts = result if isinstance(result, tuple) else (result, None)
    loss = nn.functional.cross_entropy(logits, labels)
    activity = (
        (counts / (model.hidden.out_features * inputs[0].shape[1])).mean(1)
        if counts is not None
        else torch.zeros(len(labels), device=logits.device)
    )
    iterations = torch.zeros(len(labels), dtype=torch.int64, device=logits.device)
    return BatchResult(loss, torch.softmax(logits, 1), activity, iterations)


def parameter_groups(model: nn.Module, train_settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Adam parameter groups: BEAM-Net's pattern spike times t = T_ref * sigmoid(u) move slowly
    through the sigmoid, so their logits take ``pattern_times_lr_scale`` times the step."""
    rate = float(train_settings["learning_rate"])
    if not isinstance(model, BEAMNet):
        return [{"params": list(model.parameters()), "lr": rate}]
    times = model.coincidence.pattern_logits
    rest = [p for p in model.parameters() if p is not times]
    return [
        {"params": [times], "lr": rate * float(train_settings.get("pattern_times_lr_scale", 1.0))},
        {"params": rest, "lr": rate},
    ]


def kl_weight_at(epoch: int, train_settings: Mapping[str, Any]) -> float:
    """Evidential KL weight, ramped linearly over ``kl_anneal_epochs`` (Sensoy et al. 2018)."""
    ramp = max(int(train_settings.get("kl_anneal_epochs", 0)), 1)
    return float(train_settings["evidential_kl_weight"]) * min(1.0, (epoch + 1) / ramp)


@torch.no_grad()
def evaluate_split(
    model: nn.Module,
    data: EncodedSplit,
    train_settings: Mapping[str, Any],
    kl_weight: float,
    batch_size: int,
    ece_bins: int,
) -> dict[str, float]:
    """Loss, accuracy, ECE, activity and mean loop iterations on a split (mean-field pass)."""
    model.eval()
    losses, probs, activity, iterations = [], [], [], []
    for start in range(0, len(data), batch_size):
        index = torch.arange(start, min(start + batch_size, len(data)))
        result = run_batch(model, model_inputs(model, data, index), data.labels[index], train_settings, kl_weight)
        losses.append(float(result.loss) * len(index))
        probs.append(result.probabilities.cpu())
        activity.append(result.activity.cpu())
        iterations.append(result.iterations.float().cpu())
    probabilities = torch.cat(probs)
    return {
        "loss": sum(losses) / len(data),
        "accuracy": accuracy(probabilities, data.labels),
        "ece": expected_calibration_error(probabilities, data.labels, ece_bins),
        "activity": float(torch.cat(activity).mean()),
        "iterations": float(torch.cat(iterations).mean()),
    }


CALIBRATION_GRID = torch.logspace(-2.0, 3.0, 201)
EVIDENCE_POWER_GRID = torch.linspace(0.5, 4.0, 15)


@torch.no_grad()
def calibrate(
    model: nn.Module,
    data: EncodedSplit,
    train_settings: Mapping[str, Any],
    batch_size: int = EVAL_BATCH,
    passes: int = 1,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Fit the calibration map on the validation split by NLL (temperature scaling, Guo et al. 2017).

    For the baselines one scale multiplies the logits. For BEAM-Net the map acts on the
    Dirichlet evidence e (Eq. 12): alpha = alpha_0 + eta * s * e**gamma, with s and gamma
    fitted together. A scale alone cannot make BEAM-Net more confident than the normalised
    evidence e / sum(e) (its limit as s grows); the power can. The softmax head fits a
    temperature alone, p = softmax(g * s * e). All maps are monotone, so the accuracy is
    unchanged: only the confidence moves.

    The map is fitted to the predictive that evaluation reports. Given a ``generator``, that is
    BEAM-Net's Monte-Carlo predictive: the evidence averaged over P = ``passes`` passes of
    sampled spikes (Eq. 9) drawn from it (:func:`monte_carlo_evidence`), then mapped once, so
    that calibration never changes a prediction; without one, the mean-field pass. Values
    come from fixed grids and a seeded generator, so the result is deterministic.
    Returns {"scale": s, "power": gamma}.
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
            outputs.append(
                monte_carlo_evidence(model, inputs, passes if stochastic else 1, generator if stochastic else None)
            )
        else:
            result = model(*inputs)
            outputs.append(result[0] if isinstance(result, tuple) else result)  # logits
    raw = torch.cat(outputs)
    labels = data.labels
    best = {"scale": 1.0, "power": 1.0}
    best_nll = math.inf
    fits_power = beam and model.attention.fits_power  # the softmax head fits a temperature alone
    for power in EVIDENCE_POWER_GRID.tolist() if fits_power else [1.0]:
        for scale in CALIBRATION_GRID.tolist():
            if beam:
                log_p = torch.log(model.attention.predictive(raw, scale, power))
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


@torch.no_grad()
def monte_carlo_evidence(
    model: BEAMNet, inputs: tuple[torch.Tensor, ...], passes: int, generator: torch.Generator | None
) -> torch.Tensor:
    """Dirichlet evidence averaged over ``passes`` passes, before calibration (Eq. 12).

    e_bar = (1/P) sum_p R r^(p): with a generator the passes sample Bernoulli spikes (Eq. 9),
    without one a single mean-field pass is returned. The evidence is linear in the firing
    rates, so this is the evidence of the mean rates. The calibration map then acts once on
    e_bar, alpha = alpha_0 + eta * s * e_bar**gamma, the same increasing function for every
    class: the arg-max of the predictive alpha / A is that of e_bar whatever s and gamma are.
    """
    stochastic = generator is not None
    total = 0.0
    for _ in range(passes if stochastic else 1):
        rates = model(*inputs, stochastic=stochastic, generator=generator).rates
        total = total + model.attention.evidence(rates)
    return total / (passes if stochastic else 1)


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


@dataclass
class TrainingRun:
    """The state one training run carries from epoch to epoch (and through a resume file)."""

    model: nn.Module
    optimiser: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    history: list[dict[str, float]]
    wall_times: list[float]
    next_epoch: int = 0
    best: dict[str, Any] | None = None  # epoch, val accuracy and loss, weights of the best epoch


@dataclass
class FittedModel:
    """A trained, epoch-selected and calibrated model with its record."""

    model: nn.Module
    history: list[dict[str, float]]
    wall_times: list[float]
    selected_epoch: int
    calibration: dict[str, float]


def mean_active_inputs(data: EncodedSplit) -> torch.Tensor:
    """Mean number of active inputs per sample, read batch by batch (float32, as one pass over
    the whole split would give it)."""
    per_sample = [batch.active.float().sum(1) for batch in iter_batches(data, EVAL_BATCH)]
    return torch.cat(per_sample).mean()


def start_run(
    config: Mapping[str, Any], dataset: str, model_name: str, seed: int, train_data: EncodedSplit, threads: int
) -> TrainingRun:
    """Seed everything, build the model (BEAM-Net's patterns from training samples), Adam and
    its cosine schedule over ``train.epochs``."""
    train_settings = config["train"]
    generator = seed_everything(seed, threads)
    model = build_model(model_name, train_data.n_inputs, train_data.n_classes, config, dataset)
    if isinstance(model, BEAMNet):
        model.initialise_from_samples(
            train_data.spike_times, train_data.active, train_data.labels, generator, mean_active_inputs(train_data)
        )
    model.to(resolve_device(str(train_settings.get("device", "cpu"))))
    optimiser = torch.optim.Adam(
        parameter_groups(model, train_settings),
        lr=train_settings["learning_rate"],
        weight_decay=train_settings.get("weight_decay", 0.0),
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=int(train_settings["epochs"]))
    return TrainingRun(model, optimiser, scheduler, generator, history=[], wall_times=[])


def restore_run(run: TrainingRun, resume: Path, digest: str, seed: int, model_name: str) -> None:
    """Continue ``run`` from a resume file written by this config, seed and model (else ignore it)."""
    if not resume.exists():
        return
    state = load_torch_file(resume)
    if not (
        state.get("format_version") == CHECKPOINT_FORMAT
        and state["config_hash"] == digest
        and state["seed"] == seed
        and state["model"] == model_name
    ):
        log.info("ignoring %s: it was made with another checkpoint format, config, seed or model", resume)
        return
    run.model.load_state_dict(state["model_state"])
    run.optimiser.load_state_dict(state["optimiser_state"])
    run.scheduler.load_state_dict(state["scheduler_state"])
    run.generator.set_state(state["generator_state"])
    torch.set_rng_state(state["torch_rng_state"])
    run.history, run.wall_times, run.next_epoch = state["history"], state["wall_times"], state["epoch"]
    run.best = state.get("best")
    log.info("resuming %s from epoch %d", resume, run.next_epoch)


def save_run(run: TrainingRun, resume: Path, digest: str, seed: int, model_name: str) -> None:
    """Write ``run``'s state after a finished epoch, atomically."""
    with atomic_paths(resume) as (temp,):
        temp.write_bytes(
            torch_bytes(
                {
                    "format_version": CHECKPOINT_FORMAT,
                    "config_hash": digest,
                    "seed": seed,
                    "model": model_name,
                    "epoch": run.next_epoch,
                    "model_state": run.model.state_dict(),
                    "optimiser_state": run.optimiser.state_dict(),
                    "scheduler_state": run.scheduler.state_dict(),
                    "generator_state": run.generator.get_state(),
                    "torch_rng_state": torch.get_rng_state(),
                    "history": run.history,
                    "wall_times": run.wall_times,
                    "best": run.best,
                }
            )
        )


def train_epoch(
    run: TrainingRun,
    train_data: EncodedSplit,
    train_settings: Mapping[str, Any],
    epoch: int,
    what: str,
    augment: Mapping[str, Any] | None = None,
    augment_key: str = "augment",
) -> float:
    """One pass over the shuffled training split; returns the mean training loss. ``augment`` is
    the model's ``model.<name>.augment`` section (:mod:`beamnet.augment`; None or zeros: off),
    ``augment_key`` its dotted name for error messages.

    Raises
    ------
    TrainingDiverged
        If the loss becomes NaN or infinite (``what`` names the run in the message).
    """
    model, batch_size = run.model, int(train_settings["batch_size"])
    model.train()
    kl_weight = kl_weight_at(epoch, train_settings)
    order = torch.randperm(len(train_data), generator=run.generator)
    total_loss, seen = 0.0, 0
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        if augmentation_enabled(augment):
            batch = augment_batch(take_batch(train_data, index), augment, run.generator, augment_key)
            inputs = model_inputs(model, batch, torch.arange(len(index)))
        else:
            inputs = model_inputs(model, train_data, index)
        result = run_batch(model, inputs, train_data.labels[index], train_settings, kl_weight)
        loss = float(result.loss.detach())
        if not math.isfinite(loss):
            raise TrainingDiverged(f"{what}: loss became {loss} in epoch {epoch + 1}; no checkpoint written")
        run.optimiser.zero_grad()
        result.loss.backward()
        run.optimiser.step()
        if isinstance(model, BEAMNet) and model.coincidence.is_sparse:
            model.coincidence.apply_mask()  # Adam's momentum must not revive a dropped synapse
        total_loss += loss * len(index)
        seen += len(index)
    run.scheduler.step()
    return total_loss / seen


def input_firing_fractions(data: EncodedSplit) -> torch.Tensor:
    """f_i: the fraction of the split's samples in which input i fires, (D,) float64, read batch
    by batch."""
    counts = None
    for batch in iter_batches(data, EVAL_BATCH):
        part = batch.active.to(torch.float64).sum(0)
        counts = part if counts is None else counts + part
    return counts / len(data)


def prune_before_epoch(run: TrainingRun, epoch: int, train_data: EncodedSplit) -> bool:
    """Prune BEAM-Net's coincidence synapses before ``epoch`` where ``model.beam_net.prune`` asks.

    Magnitude pruning with fine-tuning (Han et al. 2015,
    :meth:`beamnet.models.coincidence.CoincidenceDetector.prune`): at the epoch
    ``prune.at_epoch`` each pattern keeps its k largest |w_ij| (with ``prune.preserve_drive``,
    rescaled to keep its mean drive on ``train_data``). The best epoch kept so far is
    dropped, so that epoch selection only sees pruned models (the checkpoint is always sparse).
    The mask is part of the model's state, so a resumed run continues with it. Returns whether
    it pruned now.
    """
    model = run.model
    if not isinstance(model, BEAMNet) or prune_epoch(model.settings) != epoch:
        return False
    preserve = bool(model.settings["prune"].get("preserve_drive", False))
    model.coincidence.prune(input_firing_fractions(train_data) if preserve else None)
    run.best = None
    log.info(
        "pruned the coincidence synapses before epoch %d: each pattern keeps %d of %d inputs",
        epoch + 1,
        model.coincidence.connections,
        model.coincidence.n_inputs,
    )
    return True


def record_epoch(
    run: TrainingRun, val_data: EncodedSplit, config: Mapping[str, Any], epoch: int, train_loss: float, wall_time: float
) -> None:
    """Score the epoch on val (mean-field pass), append it to the history, keep it if best."""
    train_settings = config["train"]
    val = evaluate_split(
        run.model,
        val_data,
        train_settings,
        kl_weight_at(epoch, train_settings),
        EVAL_BATCH,
        int(config["evaluate"]["ece_bins"]),
    )
    run.history.append(
        {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
            "val_ece": val["ece"],
            "val_activity": val["activity"],
            "val_iterations": val["iterations"],
        }
    )
    run.wall_times.append(wall_time)
    run.next_epoch = epoch + 1
    if train_settings.get("select_best_epoch", False) and is_better_epoch(val, run.best):
        run.best = {
            "epoch": epoch + 1,
            "accuracy": val["accuracy"],
            "loss": val["loss"],
            "state": {key: value.clone() for key, value in run.model.state_dict().items()},
        }
    log.info(
        "epoch %d/%d train_loss %.4f val_loss %.4f val_acc %.4f val_ece %.4f activity %.4f iterations %.2f (%.1f s)",
        epoch + 1,
        int(train_settings["epochs"]),
        train_loss,
        val["loss"],
        val["accuracy"],
        val["ece"],
        val["activity"],
        val["iterations"],
        wall_time,
    )


def select_epoch(run: TrainingRun, epochs: int) -> int:
    """Load the best-validation epoch's weights where ``train.select_best_epoch`` kept one, and
    bring the model back to the CPU (calibration and evaluation run there, with seeded CPU
    generators, whichever device trained it)."""
    run.model.cpu()
    if run.best is None:
        return epochs
    run.model.load_state_dict(run.best["state"])
    log.info(
        "keeping epoch %d (val accuracy %.4f, val loss %.4f)", run.best["epoch"], run.best["accuracy"], run.best["loss"]
    )
    return int(run.best["epoch"])


def fit_model(
    config: Mapping[str, Any],
    dataset: str,
    model_name: str,
    seed: int,
    train_data: EncodedSplit,
    val_data: EncodedSplit,
    threads: int = 1,
    resume: Path | None = None,
    stop_after_epochs: int | None = None,
) -> FittedModel | None:
    """Train on ``train_data``, select the epoch and fit the calibration map on ``val_data``.

    The steps: start (or resume) the run, train and record each epoch (saving the resume
    state after each where ``resume`` is given), keep the best-validation epoch, calibrate.
    Returns None where ``stop_after_epochs`` stopped it early (as if killed).
    """
    if train_data.dataset != dataset or val_data.dataset != dataset:
        raise ValueError(
            f"training data hold dataset '{train_data.dataset}' and validation data "
            f"'{val_data.dataset}', expected '{dataset}'"
        )
    train_settings = config["train"]
    epochs = int(train_settings["epochs"])
    digest = config_hash(config)
    run = start_run(config, dataset, model_name, seed, train_data, threads)
    if resume is not None:
        restore_run(run, resume, digest, seed, model_name)
    what = f"{model_name} on {dataset}, seed {seed}"
    first_epoch = run.next_epoch
    for epoch in progress(range(first_epoch, epochs), f"train {what}", epochs - first_epoch, "epoch"):
        if stop_after_epochs is not None and epoch - first_epoch >= stop_after_epochs:
            log.info("stopping after %d epochs as asked; resume state in %s", stop_after_epochs, resume)
            return None
        began = time.perf_counter()
        prune_before_epoch(run, epoch, train_data)
        try:
            train_loss = train_epoch(
                run,
                train_data,
                train_settings,
                epoch,
                what,
                config["model"][model_name].get("augment"),
                f"model.{model_name}.augment",
            )
        except TrainingDiverged:
            if resume is not None:
                resume.unlink(missing_ok=True)
            raise
        record_epoch(run, val_data, config, epoch, train_loss, time.perf_counter() - began)
        if resume is not None:
            save_run(run, resume, digest, seed, model_name)
    selected_epoch = select_epoch(run, epochs)
    calibration = (
        calibrate(
            run.model,
            val_data,
            train_settings,
            passes=int(config["evaluate"]["mc_passes"]),
            generator=torch.Generator().manual_seed(seed),
        )
        if train_settings.get("calibrate", True)
        else {"scale": 1.0, "power": 1.0}
    )
    return FittedModel(run.model, run.history, run.wall_times, selected_epoch, calibration)


def checkpoint_payload(
    config: Mapping[str, Any],
    dataset: str,
    model_name: str,
    seed: int,
    train_data: EncodedSplit,
    val_data: EncodedSplit,
    fitted: FittedModel,
    threads: int,
) -> dict[str, Any]:
    """What a checkpoint holds (tensors and plain types only): weights, history, configuration,
    selected epoch, the calibration map with the calibrated model's mean-field pass on val (the
    map itself is fitted to the sampled predictive), and provenance."""
    train_settings = config["train"]
    calibrated = evaluate_split(
        fitted.model,
        val_data,
        train_settings,
        kl_weight_at(int(train_settings["epochs"]) - 1, train_settings),
        EVAL_BATCH,
        int(config["evaluate"]["ece_bins"]),
    )
    calibration = fitted.calibration
    log.info(
        "calibration scale %.4g power %.3g; mean-field pass on val: loss %.4f acc %.4f ece %.4f",
        calibration["scale"],
        calibration["power"],
        calibrated["loss"],
        calibrated["accuracy"],
        calibrated["ece"],
    )
    return {
        "format_version": CHECKPOINT_FORMAT,
        "dataset": dataset,
        "model": model_name,
        "seed": seed,
        "encoding": train_data.encoding,
        "n_inputs": train_data.n_inputs,
        "n_classes": train_data.n_classes,
        "input_shape": list(train_data.input_shape),
        "parameter_count": count_parameters(fitted.model),
        "state_dict": fitted.model.state_dict(),
        "history": _canonical(fitted.history),
        "config": _canonical(config),
        "selected_epoch": fitted.selected_epoch,
        "calibration": {
            **calibration,
            "mean_field_val_ece": calibrated["ece"],
            "mean_field_val_accuracy": calibrated["accuracy"],
            "mean_field_val_loss": calibrated["loss"],
        },
        "provenance": provenance(config, dataset=dataset, model=model_name, seed=seed, threads=threads),
    }


def history_table(fitted: FittedModel) -> pl.DataFrame:
    """The per-epoch history as written beside the checkpoint: wall time and the selected epoch marked."""
    return pl.DataFrame(fitted.history).with_columns(
        pl.Series("wall_time_s", fitted.wall_times), (pl.col("epoch") == fitted.selected_epoch).alias("selected")
    )


def train_model(
    config: Mapping[str, Any],
    dataset: str,
    model_name: str,
    seed: int,
    train_cache: Path,
    val_cache: Path,
    checkpoint: Path,
    history_path: Path,
    threads: int = 1,
    stop_after_epochs: int | None = None,
    mlflow_store: Path | None = None,
) -> None:
    """Train ``model_name`` on ``dataset`` with ``seed``; write the checkpoint and history.

    The steps: load the caches and take the model's view of them, fit (:func:`fit_model`:
    start or resume, epochs, selection, calibration), assemble the checkpoint
    (:func:`checkpoint_payload`), write it and the history together (atomically), then log the
    run where tracking is on.

    Parameters
    ----------
    stop_after_epochs
        Stop (as if killed) after this many epochs of this invocation, leaving the resume
        state behind; used to test resumption.
    mlflow_store
        Where given, the finished run is also logged to this MLflow store (beamnet.tracking);
        the checkpoint's bytes do not depend on it.
    """
    train_data, val_data = open_cache(train_cache), open_cache(val_cache)
    if train_data.dataset != dataset or val_data.dataset != dataset:
        raise ValueError(
            f"caches '{train_cache}', '{val_cache}' hold dataset '{train_data.dataset}', expected '{dataset}'"
        )
    train_data, val_data = model_view(train_data, config, model_name), model_view(val_data, config, model_name)
    resume = _resume_path(checkpoint)
    fitted = fit_model(config, dataset, model_name, seed, train_data, val_data, threads, resume, stop_after_epochs)
    if fitted is None:
        return
    payload = checkpoint_payload(config, dataset, model_name, seed, train_data, val_data, fitted, threads)
    with atomic_paths(checkpoint, history_path) as (ckpt_temp, history_temp):
        ckpt_temp.write_bytes(torch_bytes(payload))
        history_table(fitted).write_csv(history_temp)
    resume.unlink(missing_ok=True)
    if mlflow_store is not None:
        from beamnet.tracking import log_training_run

        log_training_run(
            mlflow_store,
            dataset=dataset,
            model_name=model_name,
            seed=seed,
            config=config,
            history=fitted.history,
            calibration=payload["calibration"],
            selected_epoch=fitted.selected_epoch,
            provenance=payload["provenance"],
            artifacts=[checkpoint, history_path],
        )
