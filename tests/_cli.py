"""Run ``tokenfleet.cli.main`` in-process and capture its exit code and output (shared by CLI tests)."""

from __future__ import annotations

import pytest

from tokenfleet.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``tokenfleet ARGS``."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
