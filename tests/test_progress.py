"""Progress bars and timestamped log lines: on at INFO, off above it, and never in the outputs."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from beamnet.progress import configure_logging, progress

STAMP = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \[beamnet\] INFO "


def test_progress_yields_every_item_and_draws_a_bar(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    assert list(progress(range(5), "counting", 5, "thing")) == [0, 1, 2, 3, 4]
    bar = capsys.readouterr().err
    assert "counting" in bar and "5/5" in bar and "thing" in bar


def test_above_info_hides_the_bar(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING")
    try:
        assert list(progress(range(3), "quiet", 3)) == [0, 1, 2]
        assert "quiet" not in capsys.readouterr().err
    finally:
        configure_logging("INFO")


def test_unknown_level_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="log level 'LOUD'"):
        configure_logging("LOUD")


def test_cli_lines_carry_timestamps_and_obey_log_level(tmp_path, nmnist_root) -> None:
    """A step's log lines start with a timestamp; --log-level WARNING silences INFO lines."""
    output = tmp_path / "raw_files.csv"
    command = [sys.executable, "-m", "beamnet"]
    step = ["raw-manifest", "--root", str(nmnist_root), "--output", str(output)]
    loud = subprocess.run([*command, *step], capture_output=True, text=True, check=True)
    assert re.search(STAMP + "checksummed 800 recordings", loud.stderr), loud.stderr
    quiet = subprocess.run([*command, "--log-level", "warning", *step], capture_output=True, text=True, check=True)
    assert quiet.stderr == ""
    refused = subprocess.run([*command, "--log-level", "LOUD", *step], capture_output=True, text=True)
    assert refused.returncode == 2 and "--log-level" in refused.stderr
