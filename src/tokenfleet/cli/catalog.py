"""``tokenfleet catalog``: list and show hardware and model entries."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="List and show catalog entries (hardware, models, workloads).", no_args_is_help=True)
    app.add_typer(sub, name="catalog")
