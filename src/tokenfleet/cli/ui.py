"""``tokenfleet ui [SCENARIO.yaml] [--port P]``: the planning dashboard in the browser (local server)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console


def ui_cmd(
    scenario: Path | None = typer.Argument(None, help="Scenario YAML to open (default: a shipped example)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (default: this machine only)."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="TCP port."),
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help="Keep runs in this folder across restarts."),
    workers: int = typer.Option(2, "--workers", min=1, max=64, help="Runs executed at the same time."),
) -> None:
    """Serve the dashboard: edit a scenario, run plan / simulate / deal, compare runs, download reports."""
    from tokenfleet.inputs import check_listen, check_output_dir

    if scenario is not None:  # validated by create_app; here: readable, UTF-8, a YAML mapping
        from tokenfleet.yamlio import read_mapping

        read_mapping(scenario)
    if runs_dir is not None:
        check_output_dir(runs_dir, "--runs-dir", force=True)
    check_listen(host, port, "--port")

    import uvicorn

    from tokenfleet.web.app import create_app

    app = create_app(scenario, runs_dir=runs_dir, workers=workers)
    Console(stderr=True).print(f"tokenfleet dashboard on [bold]http://{host}:{port}/[/] (Ctrl-C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("ui")(ui_cmd)


__all__ = ["register"]
