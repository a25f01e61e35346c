"""Provenance stamped on every output: git commit, config hash and package versions.

No wall-clock time is recorded, so that the same config, seed and code give the same bytes.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import subprocess
from collections.abc import Iterable, Mapping
from typing import Any

from beamnet import __version__
from beamnet.config import REPO_ROOT, config_hash

TRACKED_PACKAGES = ("numpy", "torch", "tonic", "polars", "pyarrow", "duckdb", "scikit-learn", "lava-nc")


def git_commit() -> str:
    """The repository's HEAD commit, suffixed ``-dirty`` when tracked files differ from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty.strip() else "")


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names``; packages absent from this environment are left out."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def provenance(config: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """A JSON-serialisable provenance record for an output made from ``config``."""
    record: dict[str, Any] = {
        "beamnet_version": __version__,
        "git_commit": git_commit(),
        "config_hash": config_hash(config),
        "python": platform.python_version(),
        "packages": package_versions(),
    }
    record.update(extra)
    return record


def provenance_json(config: Mapping[str, Any], **extra: Any) -> str:
    """:func:`provenance` as canonical JSON text."""
    return json.dumps(provenance(config, **extra), sort_keys=True)
