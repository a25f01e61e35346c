"""Progress bars and log format shared by every step.

:func:`progress` wraps an iterable in a tqdm bar on stderr (count, rate and ETA). In a
terminal it redraws often; in a log file (Snakemake redirects each job's stderr to its log) it
writes a line at most every ``LOG_INTERVAL_S`` seconds, so logs stay short. Bars are off where
the log level is above INFO (``python -m beamnet --log-level WARNING ...``) or
``BEAMNET_PROGRESS=0``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

LOG_FORMAT = "%(asctime)s [beamnet] %(levelname)s %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_INTERVAL_S = 30.0


def configure_logging(level: str = "INFO") -> None:
    """Timestamped log lines at ``level`` (one of LOG_LEVELS)."""
    if level.upper() not in LOG_LEVELS:
        raise ValueError(f"log level '{level}': expected one of {list(LOG_LEVELS)}")
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, datefmt=DATE_FORMAT, force=True)


def progress_enabled() -> bool:
    return os.environ.get("BEAMNET_PROGRESS", "1") != "0" and logging.getLogger("beamnet").isEnabledFor(logging.INFO)


def progress(iterable: Iterable[T], description: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """``iterable`` with a progress bar named ``description`` (see the module docstring)."""
    if not progress_enabled():
        yield from iterable
        return
    from tqdm import tqdm

    interactive = sys.stderr.isatty()
    yield from tqdm(
        iterable,
        desc=description,
        total=total,
        unit=unit,
        file=sys.stderr,
        mininterval=0.5 if interactive else LOG_INTERVAL_S,
        maxinterval=LOG_INTERVAL_S * 2,
        dynamic_ncols=interactive,
        ascii=not interactive,
    )
