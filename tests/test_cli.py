"""The command line the rules call: a version, and help text for every option of every step."""

from __future__ import annotations

import argparse

import pytest

import beamnet
from beamnet.cli import build_parser, main


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


def test_version_is_the_package_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"beamnet {beamnet.__version__}"


def test_every_option_of_every_step_has_help_text() -> None:
    steps = _subparsers(build_parser())
    assert {"prepare", "encode", "train", "evaluate", "tune-fold", "paper-render", "loihi-export"} <= set(steps)
    undocumented = [
        f"{name} {action.option_strings[0]}"
        for name, step in steps.items()
        for action in step._actions
        if action.option_strings and action.option_strings[0] != "-h" and not (action.help or "").strip()
    ]
    assert undocumented == []
