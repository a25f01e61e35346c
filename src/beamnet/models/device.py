"""Where the models run: the compiled CPU kernels or their tensor-operation twins.

BEAM-Net's three hot paths (the event coincidence sum, Eqs. 21-22; the mean-field LIF, Eqs. 8-9;
the predictive-coding loop, Eq. 16) are numba kernels that read tensors' memory as NumPy arrays,
so they run on the CPU only. Each has a twin in tensor operations (the reference the tests
compare the kernels with), which runs wherever its tensors live. :func:`tensor_path` picks the
twin for CUDA tensors, and on the CPU where :func:`force_tensor_path` asks for it (the tests'
way of checking, on a machine without a GPU, that the twins train as the kernels do).

``train.device`` (auto | cpu | cuda) chooses where training runs (:func:`resolve_device`). The
default is cpu: the CPU kernels give byte-identical checkpoints per seed. On CUDA, training sets
``torch.backends.cudnn.deterministic``, turns off cuDNN's benchmark search and TF32, and asks for
deterministic algorithms (with a warning, not an error, where an operation has none), so reruns on
the same GPU agree; CUDA results are not byte-identical to CPU ones.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

DEVICES = ("auto", "cpu", "cuda")
_forced = False


def tensor_path(tensor: torch.Tensor) -> bool:
    """Whether to run the tensor-operation twin instead of the CPU kernel for ``tensor``."""
    return tensor.is_cuda or _forced


@contextlib.contextmanager
def force_tensor_path() -> Iterator[None]:
    """Within the block, the tensor twins run on the CPU too."""
    global _forced
    previous, _forced = _forced, True
    try:
        yield
    finally:
        _forced = previous


def resolve_device(setting: str) -> torch.device:
    """``train.device`` -> a torch device: auto is cuda where available, else cpu.

    Raises
    ------
    ValueError
        For an unknown setting, or cuda on a machine without one (naming the key).
    """
    if setting not in DEVICES:
        raise ValueError(f"config key 'train.device' = {setting!r}: expected one of {list(DEVICES)}")
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                "config key 'train.device' = 'cuda' but torch finds no CUDA device "
                f"(torch {torch.__version__}, CUDA build {torch.version.cuda}): use cpu or auto"
            )
        make_cuda_deterministic()
    return torch.device(setting)


def make_cuda_deterministic() -> None:
    """The determinism settings for CUDA (PyTorch's reproducibility notes)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's parameters (cpu for a model without any)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")
