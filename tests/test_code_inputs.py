"""The per-model code lists of the workflow (which src/beamnet modules rerun which model's training
and evaluation) agree with the import graph: a module a model's code imports is in its list, so
that editing it reruns that model."""

from __future__ import annotations

import ast
import re

from conftest import REPO_ROOT

SRC = REPO_ROOT / "src" / "beamnet"
# Modules that change no number a model produces: configuration parsing, file writing and reading,
# provenance, progress bars and tracking; the data modules build the caches, which are the
# training rule's inputs in their own right.
NEUTRAL = {"config.py", "io.py", "provenance.py", "progress.py", "tracking.py"}
NEUTRAL_PREFIXES = ("data/",)


def code_lists() -> tuple[list[str], dict[str, list[str]]]:
    text = (REPO_ROOT / "workflow/rules/common.smk").read_text()
    shared = ast.literal_eval(re.search(r"^SHARED_MODEL_CODE = (\[.*?\])", text, re.M | re.S).group(1))
    per_model = ast.literal_eval(re.search(r"^MODEL_CODE = (\{.*?\n\})", text, re.M | re.S).group(1))
    return shared, per_model


def beamnet_imports(module: str) -> set[str]:
    """The src/beamnet files that ``module`` imports directly."""
    found = set()
    for node in ast.walk(ast.parse((SRC / module).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("beamnet"):
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.startswith("beamnet")]
        else:
            continue
        for name in names:
            parts = name.split(".")[1:]
            for candidate in ("/".join(parts) + ".py", "/".join(parts) + "/__init__.py"):
                if parts and (SRC / candidate).is_file():
                    found.add(candidate)
    return found


def test_lists_name_existing_modules() -> None:
    shared, per_model = code_lists()
    assert set(per_model) == {"beam_net", "ann_mlp", "rate_snn"}
    for module in shared + [m for modules in per_model.values() for m in modules]:
        assert (SRC / module).is_file(), module


def test_every_import_of_a_models_code_is_in_its_list() -> None:
    """For each model: what its listed modules import is listed too (shared or its own), apart
    from the neutral modules and the model package's imports of the other models' modules."""
    shared, per_model = code_lists()
    other_models = {m for modules in per_model.values() for m in modules}
    for model, own in per_model.items():
        listed = set(shared) | set(own)
        for module in sorted(listed):
            imported = beamnet_imports(module)
            if module in ("models/__init__.py", "train.py"):  # they build every model
                imported -= other_models - set(own)
            missing = {
                name
                for name in imported - listed
                if name not in NEUTRAL and not name.startswith(NEUTRAL_PREFIXES) and name != "evaluate.py"
            }
            assert not missing, f"{model}: {module} imports {sorted(missing)}, which its code list lacks"
