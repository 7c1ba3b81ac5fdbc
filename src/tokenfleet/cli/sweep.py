"""``tokenfleet sweep SCENARIO.yaml --grid KEY=VALUES ...``: every grid point planned (and optionally simulated,
and its deal valued) in parallel on Ray, or serially with ``--no-ray``; a Parquet / CSV table and a report."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from tokenfleet.errors import InputError

_GRID_HELP = (
    "KEY=VALUES, repeatable. KEY is a dotted scenario path (plan.power_budget_mw, facility.usd_per_mwh, "
    "plan.candidates.cs3.price_usd, traffic.chat.arrivals.rate_rps) or share.<tier>; VALUES is start:stop:step "
    "(stop included) or a comma list."
)


def _load_deal(path: Path, planned: bool) -> dict[str, Any]:
    """The deal's YAML, checked once up front; with ``planned`` its ``from_plan`` link is filled per point."""
    from pydantic import ValidationError

    from tokenfleet.yamlio import read_mapping

    raw = read_mapping(path)
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


SUMMARY_COLUMNS = (("plan.tco_usd_per_year", "TCO/yr"), ("plan.facility_mw", "MW"), ("plan.chips", "chips"),
                   ("sim.ttft_p99_ms", "TTFT p99 ms"), ("sim.slo_attainment", "SLO att."),
                   ("sim.cost_usd", "sim cost"), ("deal.warrant_value_usd", "warrants"))


def short_key(key: str) -> str:
    """``plan.candidates.cs3.unit_price_usd`` -> ``cs3.unit_price_usd`` (the last two parts)."""
    parts = key.split(".")
    return ".".join(parts[-2:]) if len(parts) > 2 else key


def _cell(col: str, v: Any) -> str:
    from tokenfleet.plan.text import money, mw, num, pct

    if v is None:
        return "-"
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if col.endswith("usd_per_year") or col.endswith("_usd"):
        return money(float(v))
    if col.endswith("_mw"):
        return mw(float(v))
    if col.endswith("attainment"):
        return pct(float(v))
    return num(float(v), 4)


# priority of the summary's columns at 80 columns (0: always shown; the grid keys and status always are)
_SUMMARY_PRIORITY = {"TCO/yr": 0, "MW": 1, "chips": 3, "TTFT p99 ms": 2, "SLO att.": 1, "sim cost": 4,
                     "warrants": 2}


def _summary(rows: list[dict[str, Any]], keys: list[str]) -> Any:
    from tokenfleet.cli.tables import Column, table

    lasts = [k.rsplit(".", 1)[-1] for k in keys]
    shown = [(k, last if lasts.count(last) == 1 else short_key(k)) for k, last in zip(keys, lasts, strict=True)]
    shown += [("status", "status")]
    shown += [(c, h) for c, h in SUMMARY_COLUMNS if any(c in r for r in rows)]
    shown += [(c, c.removeprefix("plan.hardware.") + " on") for c in sorted({c for r in rows for c in r
                                                                            if c.startswith("plan.hardware.")})]
    cols = [Column(h, "text" if c == "status" or c.startswith("plan.hardware.") else "num",
                   _SUMMARY_PRIORITY.get(h, 1 if c.startswith("plan.hardware.") else 0)) for c, h in shown]
    body = [[_cell(c, r.get(c)) for c, _ in shown] for r in rows[:60]]
    return table(f"{len(rows)} points", cols, body)


def sweep_cmd(
    scenario: Path = typer.Argument(..., help="Scenario YAML (a plan scenario, or a simulate scenario with pools)."),
    grid: list[str] = typer.Option([], "--grid", "-g", help=_GRID_HELP + " A file's own sweep: {grid: ...} "
                                   "section adds its axes."),
    out: Path = typer.Option(Path("sweep-out"), "--out", help="Folder for sweep.parquet, sweep.csv, report.html."),
    simulate: bool = typer.Option(False, "--simulate/--no-simulate", help="Also simulate each point's planned fleet."),
    deal: Path | None = typer.Option(None, "--deal", help="Value this deal YAML at each point (from_plan links)."),
    deal_paths: int | None = typer.Option(None, "--deal-paths", min=100, help="Monte Carlo paths per deal."),
    max_requests: int | None = typer.Option(None, "--max-requests", min=1, help="Cap simulated requests per point."),
    duration_s: float | None = typer.Option(None, "--duration", help="Simulated seconds per point."),
    use_ray: bool = typer.Option(True, "--ray/--no-ray", help="Fan out on Ray (default) or run serially."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster (host:port, ray://host:10001, auto); "
                                       "default: start a local Ray."),
    num_cpus: int | None = typer.Option(None, "--num-cpus", min=1, help="Workers of the local Ray (default: all)."),
    independent_seeds: bool = typer.Option(False, "--independent-seeds/--shared-seed",
                                           help="A seed per point (default: the scenario's seed at every point)."),
    as_json: bool = typer.Option(False, "--json/--no-json", help="Print the rows as JSON."),
) -> None:
    """Run SCENARIO at every combination of the --grid values and report how the fleet, MW and cost move."""
    if address is not None and not use_ray:
        raise InputError("--address needs Ray; drop --no-ray", where="--address")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tokenfleet.sweep.report import write_report
    from tokenfleet.sweep.runner import make_tasks, run_ray, run_serial
    from tokenfleet.sweep.spec import build_sweep
    from tokenfleet.sweep.table import write

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
    bad = [(i, r) for i, r in enumerate(rows) if r["status"] != "ok"]
    for i, r in bad[:20]:
        at = ", ".join(f"{short_key(k)}={r.get(k)}" for k in keys)
        console.print(f"[yellow]point {i} ({at}):[/] {r.get('message') or r['status']}")
    if bad:
        console.print(f"[yellow]{len(bad)} point(s) did not solve[/] (reasons above and in the message column "
                      f"of {out / 'sweep.csv'})")
    console.print(f"{len(rows)} points in {wall:.1f} s ({backend}); wrote {pq_path}, {csv_path}, {report}")


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep_cmd)


__all__ = ["register"]
