"""The ``tokenfleet`` command line: one typer app, one module per command group.

Each ``tokenfleet.cli.<name>`` module exposes ``register(app)``; adding a command is one module plus
one line in ``_COMMAND_MODULES``. User errors (:class:`TokenfleetError`) print a clear message and exit 2.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer
from rich.console import Console

from tokenfleet.errors import TokenfleetError

app = typer.Typer(
    name="tokenfleet",
    help="Plan, simulate and run multi-vendor AI inference fleets; value the compute deals behind them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_COMMAND_MODULES = [
    "catalog",
    "validate",
    "perf",
    "serve",
    "emulate",
    "usage",
    "deal",
    "simulate",
    "plan",
    "sweep",
    "ui",
]

for _name in _COMMAND_MODULES:
    importlib.import_module(f"tokenfleet.cli.{_name}").register(app)

err_console = Console(stderr=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tokenfleet`` console script."""
    if not sys.stdout.isatty():  # piped or captured: render tables at a readable width instead of 80 columns
        os.environ.setdefault("COLUMNS", "160")
    try:
        app(args=argv, standalone_mode=True)
    except TokenfleetError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)


__all__ = ["app", "main"]
