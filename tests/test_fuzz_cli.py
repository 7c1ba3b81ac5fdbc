"""CLI-wide input handling: lazy command loading (help without heavy imports), one-line errors with exit
codes 2 / 3 / 1, switches with a --no-X form that take no value."""

from __future__ import annotations

import errno
import json
import subprocess
import sys

import pytest
import typer

from _cli import run_cli
from tokenfleet import cli
from tokenfleet.errors import EnvironmentProblem, InputError, ScenarioError

HEAVY = ("scipy", "highspy", "plotly", "pyarrow", "starlette", "sqlalchemy", "ray", "uvicorn", "pandas")


def _modules_after(*argv: str) -> set[str]:
    code = ("import sys, json\nfrom tokenfleet.cli import main\n"
            f"try:\n    main({list(argv)!r})\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(json.dumps(sorted(sys.modules)))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return set(json.loads(r.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--help"], ["catalog", "hardware"]], ids=["help", "catalog"])
def test_help_and_catalog_import_no_heavy_library(argv: list[str]) -> None:
    mods = _modules_after(*argv)
    loaded = sorted(m for m in HEAVY if m in mods)
    assert not loaded, f"tokenfleet {' '.join(argv)} imported {loaded}"


def test_lazy_table_matches_what_the_modules_register() -> None:
    """Every command a module registers is in the lazy table (``tokenfleet.cli._LAZY``), whose one-line help
    starts like the command's docstring (update the table when a docstring changes its meaning)."""
    seen: dict[str, str] = {}
    for module in {m for m, _ in cli._LAZY.values()}:
        group = cli._module_group(module)
        for name, cmd in group.commands.items():
            seen[name] = module
            _, short = cli._LAZY[name]
            assert (cmd.help or "").split()[:3] == short.split()[:3], f"{name}: update _LAZY in tokenfleet/cli"
    assert {n: m for n, (m, _) in cli._LAZY.items()} == seen


@pytest.mark.parametrize(
    ("exc", "code", "text"),
    [
        (InputError("bad value", where="x.yaml: a.b"), 2, "x.yaml: a.b: bad value"),
        (ScenarioError("nested deeper than 64 levels", where="s.yaml"), 2, "s.yaml: nested deeper than 64 levels"),
        (EnvironmentProblem("127.0.0.1:80 is already in use", where="--port"), 3, "--port: 127.0.0.1:80 is already"),
        (OSError(errno.ENOSPC, "No space left on device", "/out/r.csv"), 3, "/out/r.csv: No space left on device"),
        (PermissionError(errno.EACCES, "Permission denied", "/root/x"), 2, "/root/x: Permission denied"),
        (ZeroDivisionError("division by zero"), 1, "internal error: ZeroDivisionError: division by zero"),
        (RuntimeError("x\n" * 5000), 1, "more characters)"),
    ],
)
def test_every_failure_is_one_line_with_its_exit_code(exc: BaseException, code: int, text: str) -> None:
    got, msg = cli.classify(exc)
    assert got == code and text in msg and "\n" not in msg


def test_switches_have_a_no_form_and_take_no_value(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "simulate", "--help")
    assert code == 0 and "--no-json" in out and "<bool>" not in out
    code, _, err = run_cli(capsys, "perf", "llama-3.1-8b", "h100", "--json", "yes")
    assert code == 2 and "not '--json yes'" in " ".join(err.split())
    code, _, err = run_cli(capsys, "catalog", "hardware", "h100", "--json", "false")
    assert code == 2 and "not '--json false'" in " ".join(err.split())


def test_unknown_command_and_bad_types_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "simulat")
    assert code == 2 and "Traceback" not in err
    code, _, err = run_cli(capsys, "simulate", "x.yaml", "--max-requests", "1e12")
    assert code == 2 and "--max-requests" in err


def test_group_is_a_typer_app() -> None:
    assert isinstance(cli.app, typer.Typer)
