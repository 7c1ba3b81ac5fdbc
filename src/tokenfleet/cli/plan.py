"""``tokenfleet plan [SCENARIO.yaml]``: the cheapest fleet meeting every SLO within a megawatt budget, proven
in the simulator. With no argument it plans the built-in default scenario. Heavy modules (scipy, the
simulator, plotly) are imported when the command runs, not when the CLI starts."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from tokenfleet.plan.planner import PlanResult

console = Console()


def _print(r: PlanResult, out: Console | None = None) -> None:
    from tokenfleet.plan.terminal import print_plan

    print_plan(r, out or console)


def plan_cmd(
    scenario: Path = typer.Argument(None, help="Plan scenario YAML (default: the built-in scenario)."),
    out: Path = typer.Option(None, "--out", help="Write report.html, plan.json, plan.csv, tables.xlsx and "
                             "tables/*.csv to this folder."),
    objective: str = typer.Option(None, "--objective", help="Override plan.objective: cost, power or goodput."),
    budget_mw: float = typer.Option(None, "--budget-mw", help="Override plan.power_budget_mw (facility MW)."),
    run_verify: bool = typer.Option(True, "--verify/--no-verify", help="Check the plan in the simulator."),
    pareto: bool = typer.Option(True, "--pareto/--no-pareto", help="Re-solve for the Pareto and SLO curves."),
    verify_curves: bool = typer.Option(False, "--verify-curves/--no-verify-curves",
                                       help="Simulate every point of both curves (else they are estimates)."),
    as_json: bool = typer.Option(False, "--json/--no-json", help="Print plan.json to stdout instead of tables."),
    verify_replicas: int = typer.Option(None, "--verify-replicas", min=1, max=20_000,
                                        help="Replicas to simulate (default: plan.verify.max_replicas)."),
    sensitivity: bool = typer.Option(True, "--sensitivity/--no-sensitivity",
                                     help="Re-solve for the tornado and the SLO breakpoints (plan.sensitivity)."),
    verify_fleet: bool = typer.Option(False, "--verify-fleet/--verify-slice",
                                      help="Verify every replica of the plan (sharded over Ray) instead of a "
                                      "slice."),
    verify_duration: float = typer.Option(None, "--verify-duration",
                                          help="Simulated seconds measured (default: plan.verify.duration_s)."),
    verify_warmup: float = typer.Option(None, "--verify-warmup", help="Fleet: simulated seconds before the "
                                        "measured ones (default: 2 mean service times per pool)."),
    cell_replicas: int = typer.Option(None, "--cell-replicas", min=1, max=10_000,
                                      help="Fleet: replicas behind one simulated router, one shard "
                                      "(default 1,024)."),
    use_ray: bool = typer.Option(True, "--ray/--no-ray", help="Fleet: fan out on Ray (default) or run serially."),
    address: str = typer.Option(None, "--address", help="Fleet: Ray cluster (host:port, ray://host:10001, auto; "
                                "default $RAY_ADDRESS, else a local Ray)."),
    num_cpus: int = typer.Option(None, "--num-cpus", min=1, help="Fleet: workers of the local Ray (default: all)."),
) -> None:
    """Choose the fleet (hardware x count x layout per traffic class) meeting every SLO at least cost."""
    from tokenfleet.errors import InputError
    from tokenfleet.plan.default import default_scenario
    from tokenfleet.plan.output import plan_json, write_plan_files
    from tokenfleet.plan.planner import plan
    from tokenfleet.plan.schema import load_plan_scenario

    if scenario is None:
        sc, base = default_scenario()
    else:
        sc, base = load_plan_scenario(scenario)
    upd: dict[str, object] = {}
    if objective is not None:
        if objective not in ("cost", "power", "goodput"):
            raise InputError(f"must be cost, power or goodput, got {objective!r}", where="--objective")
        upd["objective"] = objective
    if budget_mw is not None:
        if not math.isfinite(budget_mw) or budget_mw <= 0:
            raise InputError(f"must be a positive, finite number of facility MW, got {budget_mw}", where="--budget-mw")
        upd["power_budget_mw"] = budget_mw
    if upd:
        sc = sc.model_copy(update={"plan": sc.plan.model_copy(update=upd)})
    fleet_only = {"--verify-warmup": verify_warmup, "--address": address, "--num-cpus": num_cpus,
                  "--cell-replicas": cell_replicas, "--no-ray": not use_ray or None}
    for flag, value in fleet_only.items():
        if value is not None and not verify_fleet:
            raise InputError("applies to the full-fleet check: add --verify-fleet", where=flag)
    if verify_fleet and not run_verify:
        raise InputError("--verify-fleet simulates the plan: drop --no-verify", where="--verify-fleet")
    if address is not None and not use_ray:
        raise InputError("--address needs Ray; drop --no-ray", where="--address")
    if verify_duration is not None:
        if not math.isfinite(verify_duration) or verify_duration <= 0:
            raise InputError(f"must be a positive number of simulated seconds, got {verify_duration}",
                             where="--verify-duration")
        v = sc.plan.verify.model_copy(update={"duration_s": verify_duration})
        sc = sc.model_copy(update={"plan": sc.plan.model_copy(update={"verify": v})})
    fleet = None
    if verify_fleet:
        from tokenfleet.plan.verify_fleet import CELL_REPLICAS, FleetOptions

        fleet = FleetOptions(None, verify_warmup, cell_replicas or CELL_REPLICAS, use_ray, address, num_cpus)
    kw: dict[str, Any] = {"run_verify": run_verify, "pareto": pareto, "verify_curves": verify_curves,
                          "verify_replicas": verify_replicas, "sensitivity": sensitivity, "fleet": fleet}
    if as_json:
        r = plan(sc, base, **kw)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description:<10}"), BarColumn(), TimeElapsedColumn(), console=console,
                      transient=True, disable=not console.is_terminal) as bar:
            task = bar.add_task("planning", total=1.0)
            r = plan(sc, base, lambda stage, frac: bar.update(task, description=stage, completed=frac), **kw)
    if out is not None:
        from tokenfleet.plan.report import write_report

        files = [*write_plan_files(r, out), *write_report(r, out)]
    if as_json:
        typer.echo(json.dumps(plan_json(r), indent=1, default=lambda x: None if isinstance(x, float)
                              and not math.isfinite(x) else str(x)))
    else:
        _print(r)
        if out is not None:
            console.print(f"wrote {out}/: " + ", ".join(f.name for f in files if f.parent == out) + ", tables/*.csv")


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_cmd)
