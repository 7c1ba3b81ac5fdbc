"""``tokenfleet serve GATEWAY.yaml``: the live OpenAI-compatible gateway; ``tokenfleet hash-key``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        config: Path = typer.Argument(..., help="GATEWAY.yaml: pools, backends, classes, keys, ledger."),
        host: str | None = typer.Option(None, help="Override listen.host."),
        port: int | None = typer.Option(None, help="Override listen.port."),
        check: bool = typer.Option(False, "--check", help="Validate the file, show the pools and exit."),
    ) -> None:
        """Run the gateway: SLO-tiered routing across pools, failover, metering ledger, /metrics."""
        from tokenfleet.gateway.app import create_app
        from tokenfleet.gateway.config import load_config
        from tokenfleet.gateway.fleet import Pool
        from tokenfleet.gateway.runner import GatewayServer, uvicorn_config

        cfg = load_config(config)
        console = Console(stderr=True)
        table = Table(title=f"{config.name}: routing policy {cfg.routing.policy}")
        for col in ("pool", "model", "tiers", "backends", "$/Mtok in/out", "performance model"):
            table.add_column(col)
        for p in cfg.pools:
            table.add_row(p.name, p.model, ",".join(p.tiers) or "-", str(len(p.backends)),
                          f"{p.usd_per_mtok_in:g} / {p.usd_per_mtok_out:g}", Pool(p).perf_note)
        console.print(table)
        if check:
            return
        h = host or cfg.listen.host
        pt = cfg.listen.port if port is None else port
        console.print(f"gateway on http://{h}:{pt}  ledger {cfg.ledger.url}")
        # GatewayServer: on SIGTERM /readyz turns 503 while in-flight streams drain, then uvicorn shuts down
        GatewayServer(uvicorn_config(create_app(cfg), h, pt, cfg.drain_timeout_s, "info")).run()

    @app.command("hash-key")
    def hash_key_cmd(
        key: str | None = typer.Argument(None, help="An API key to hash; omit to generate a new one."),
    ) -> None:
        """Print an API key and the sha256 that goes in GATEWAY.yaml ``keys``."""
        from tokenfleet.gateway.auth import hash_key, new_key

        k = key or new_key()
        typer.echo(f"key:    {k}\nsha256: {hash_key(k)}")
