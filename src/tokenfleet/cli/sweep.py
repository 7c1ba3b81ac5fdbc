"""``tokenfleet sweep SCENARIO.yaml --grid KEY=VALUES ...``: every grid point planned (and optionally simulated,
and its deal valued) in parallel on Ray, or serially with ``--no-ray``; a Parquet / CSV table and a report."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tokenfleet.errors import InputError
from tokenfleet.sweep.report import write_report
from tokenfleet.sweep.runner import make_tasks, run_ray, run_serial
from tokenfleet.sweep.spec import build_sweep
from tokenfleet.sweep.table import write
from tokenfleet.yamlio import read_mapping

_GRID_HELP = (
    "KEY=VALUES, repeatable. KEY is a dotted scenario path (plan.power_budget_mw, facility.usd_per_mwh, "
    "plan.candidates.cs3.price_usd, traffic.chat.arrivals.rate_rps) or share.<tier>; VALUES is start:stop:step "
    "(stop included) or a comma list."
)


def _load_deal(path: Path, planned: bool) -> dict[str, Any]:
    """The deal's YAML, checked once up front; with ``planned`` its ``from_plan`` link is filled per point."""
    raw = read_mapping(path)
    from pydantic import ValidationError

    from tokenfleet.deal.load import parse_deal, pydantic_error
    from tokenfleet.deal.schema import DealSpec

    if planned and isinstance((raw.get("contract") or {}).get("from_plan"), dict):
        try:
            DealSpec.model_validate(raw)
        except ValidationError as exc:
            raise pydantic_error(exc, path.name) from None
    else:
        parse_deal(raw, path.name, path.parent)
    return json.loads(json.dumps(raw, default=str))


def _summary(rows: list[dict[str, Any]], keys: list[str]) -> Table:
    t = Table(title=f"{len(rows)} points")
    shown = [*keys, "status"]
    for c in ("plan.tco_usd_per_year", "plan.facility_mw", "plan.chips", "sim.ttft_p99_ms", "sim.slo_attainment",
              "sim.cost_usd", "deal.warrant_value_usd"):
        if any(c in r for r in rows):
            shown.append(c)
    for c in shown:
        t.add_column(c, justify="left" if c in keys or c == "status" else "right")
    for r in rows[:60]:
        t.add_row(*[f"{v:,.4g}" if isinstance(v, float) else str(v if v is not None else "-")
                    for v in (r.get(c) for c in shown)])
    return t


def sweep_cmd(
    scenario: Path = typer.Argument(..., help="Scenario YAML (a plan scenario, or a simulate scenario with pools)."),
    grid: list[str] = typer.Option(..., "--grid", "-g", help=_GRID_HELP),
    out: Path = typer.Option(Path("sweep-out"), "--out", help="Folder for sweep.parquet, sweep.csv, report.html."),
    simulate: bool = typer.Option(False, "--simulate", help="Also simulate each point's planned fleet."),
    deal: Path | None = typer.Option(None, "--deal", help="Value this deal YAML at each point (from_plan links)."),
    deal_paths: int | None = typer.Option(None, "--deal-paths", min=100, help="Monte Carlo paths per deal."),
    max_requests: int | None = typer.Option(None, "--max-requests", min=1, help="Cap simulated requests per point."),
    duration_s: float | None = typer.Option(None, "--duration", help="Simulated seconds per point."),
    use_ray: bool = typer.Option(True, "--ray/--no-ray", help="Fan out on Ray (default) or run serially."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster (host:port, ray://host:10001, auto); "
                                       "default: start a local Ray."),
    num_cpus: int | None = typer.Option(None, "--num-cpus", min=1, help="Workers of the local Ray (default: all)."),
    independent_seeds: bool = typer.Option(False, "--independent-seeds",
                                           help="A seed per point (default: the scenario's seed at every point)."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
) -> None:
    """Run SCENARIO at every combination of the --grid values and report how the fleet, MW and cost move."""
    if address is not None and not use_ray:
        raise InputError("--address needs Ray; drop --no-ray", where="--address")
    sw = build_sweep(scenario, grid, independent_seeds)
    is_plan = "plan" in sw.data
    steps: tuple[str, ...] = ("plan",) if is_plan else ("simulate",)
    if simulate and is_plan:
        steps += ("simulate",)
    deal_raw = None
    if deal is not None:
        deal_raw = _load_deal(deal, is_plan)
        steps += ("deal",)
    tasks = make_tasks(sw, steps, max_requests=max_requests, duration_s=duration_s, deal=deal_raw,
                       deal_dir=deal.resolve().parent if deal else None, deal_paths=deal_paths)
    err = Console(stderr=True)
    t0 = time.perf_counter()
    with Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  transient=True, disable=as_json or not err.is_terminal) as bar:
        task = bar.add_task("points", total=len(tasks))

        def tick(_row: dict[str, Any]) -> None:
            bar.advance(task)

        rows = run_ray(tasks, tick, address=address, num_cpus=num_cpus) if use_ray else run_serial(tasks, tick)
    wall = time.perf_counter() - t0
    keys = [a.key for a in sw.axes]
    pq_path, csv_path = write(rows, out)
    backend = f"Ray ({address or 'local'})" if use_ray else "serial"
    report = write_report(rows, keys, out / "report.html", f"Sweep of {sw.where}",
                          f"{len(rows)} points over {', '.join(keys)}; {' + '.join(steps)}; {backend}, {wall:.1f} s")
    if as_json:
        typer.echo(json.dumps(rows, indent=1, default=str))
        return
    console = Console()
    console.print(_summary(rows, keys))
    bad = sum(r["status"] != "ok" for r in rows)
    if bad:
        console.print(f"[yellow]{bad} point(s) did not solve; see the status and message columns[/]")
    console.print(f"{len(rows)} points in {wall:.1f} s ({backend}); wrote {pq_path}, {csv_path}, {report}")


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep_cmd)


__all__ = ["register"]
