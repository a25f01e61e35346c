"""BEAM-Net's components (one module each) and the two baselines.

- :mod:`~beamnet.models.encoder`       Component 1, Eq. 7 (caches -> tensors)
- :mod:`~beamnet.models.coincidence`   Component 2a, Eqs. 21-22
- :mod:`~beamnet.models.bayesian_lif`  Component 2b, Eqs. 8-9, Prop. 3.3
- :mod:`~beamnet.models.dirichlet`     Component 3, Eq. 12, Eqs. 14-15
- :mod:`~beamnet.models.bidirectional` Component 4, Eq. 16, Thm. 3.6, Thm. 4.1
- :mod:`~beamnet.models.beam_net`      the assembled model
- :mod:`~beamnet.models.baselines`     ANN-MLP and rate-coded SNN
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from beamnet.config import MODELS, channel_count, encoded_input_count, model_encoding
from beamnet.models.baselines import ANNMLP, RateSNN, matched_hidden_width
from beamnet.models.beam_net import BEAMNet


def beam_net_parameter_count(n_inputs: int, n_classes: int, n_patterns: int) -> int:
    """2 N D (pattern times and weights) + N K (readout) + N (biases)."""
    return 2 * n_patterns * n_inputs + n_patterns * n_classes + n_patterns


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_model(name: str, n_inputs: int, n_classes: int, config: Mapping[str, Any], dataset: str) -> nn.Module:
    """Construct ``name`` for D = ``n_inputs`` inputs of ``dataset``.

    The baselines match BEAM-Net's parameter count on the same dataset, counted with the
    inputs of BEAM-Net's own cache there: both caches are read back to their channels (pixels),
    and population coding gives each channel l inputs.
    ``config`` needs the ``model`` and ``encoding`` sections.
    """
    if name not in MODELS:
        raise ValueError(f"model '{name}': expected one of {', '.join(MODELS)}")
    models = config["model"]
    beam = models["beam_net"]
    encoding = config["encoding"]
    if name == "beam_net":
        return BEAMNet(n_inputs, n_classes, beam, encoding["t_ref_ms"], encoding["dt_ms"])
    channels = channel_count(config, model_encoding(config, name, dataset), n_inputs)
    # BEAM-Net's spatial pooling (model.beam_net.input_pool = f) leaves one channel per f x f block
    channels //= int(beam.get("input_pool", 1)) ** 2
    beam_inputs = encoded_input_count(config, model_encoding(config, "beam_net", dataset), channels)
    target = beam_net_parameter_count(beam_inputs, n_classes, beam["n_patterns"])
    hidden = matched_hidden_width(target, n_inputs, n_classes)
    if name == "ann_mlp":
        return ANNMLP(n_inputs, hidden, n_classes)
    snn = models["rate_snn"]
    return RateSNN(
        n_inputs, hidden, n_classes, snn["tau_m_ms"], snn["threshold"], snn["surrogate_slope"], encoding["dt_ms"]
    )
