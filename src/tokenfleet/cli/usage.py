"""``tokenfleet usage``: the metering ledger summarised by key, pool and day."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("usage")
    def usage(
        ledger: str | None = typer.Option(None, "--ledger", help="Ledger URL (sqlite:///x.db, postgresql://user@host/db)."),
        config: Path | None = typer.Option(None, "--config", help="GATEWAY.yaml whose ledger to read."),
        by: str = typer.Option("key,pool,day", help="Group by a comma list of key, pool, day, class, "
                                                    "backend, model."),
        since: str | None = typer.Option(None, help="First UTC day to include, YYYY-MM-DD."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON rows."),
    ) -> None:
        """Requests, tokens, energy and dollars per key, pool and day."""
        from rich.console import Console

        from tokenfleet.cli.tables import Column, table
        from tokenfleet.errors import InputError
        from tokenfleet.gateway.ledger import GROUPS, summarise

        if ledger is None:
            if config is None:
                raise InputError("give --ledger URL or --config GATEWAY.yaml", where="usage")
            from tokenfleet.gateway.config import load_config

            ledger = load_config(config).ledger.url
        groups = [g.strip() for g in by.split(",") if g.strip()]
        bad = [g for g in groups if g not in GROUPS]
        if bad:
            raise InputError(f"unknown group {bad}; choose from {', '.join(GROUPS)}", where="--by")
        if ledger.startswith("sqlite:///") and not Path(ledger[len("sqlite:///"):]).exists():
            raise InputError("no such ledger file", where=ledger)
        rows = summarise(ledger, groups, since)
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        cols = [*(Column(g, "id") for g in groups), Column("requests"), Column("errors", priority=2),
                Column("prompt tok", priority=3), Column("completion tok", priority=3), Column("kWh", priority=1),
                Column("$"), Column("mean TTFT ms", priority=1)]
        cells = []
        for r in rows:
            kwh = (r["joules"] or 0.0) / 3.6e6
            ttft = f"{r['mean_ttft_ms']:.1f}" if r["mean_ttft_ms"] is not None else "-"
            cells.append([*[str(r[g]) for g in groups], str(r["requests"]), str(r["errors"] or 0),
                          str(r["prompt_tokens"] or 0), str(r["completion_tokens"] or 0), f"{kwh:.6f}",
                          f"{r['usd'] or 0.0:.6f}", ttft])
        Console().print(table(f"usage from {ledger}", cols, cells))
