"""``tokenfleet plan [SCENARIO.yaml]``: the cheapest fleet meeting every SLO within a megawatt budget, proven
in the simulator. With no argument it plans the built-in default scenario."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tokenfleet.plan.default import default_scenario
from tokenfleet.plan.output import plan_json, write_plan_files
from tokenfleet.plan.planner import PlanResult, plan
from tokenfleet.plan.schema import load_plan_scenario

console = Console()


def _money(x: float) -> str:
    return f"${x / 1e9:,.2f}B" if abs(x) >= 1e9 else f"${x / 1e6:,.2f}M"


def _print(r: PlanResult) -> None:
    sc, sol = r.scenario, r.solution
    t = Table(title=f"{sc.name}: {sc.plan.objective}-optimal fleet")
    for col in ("pool", "hardware", "layout", "replicas", "chips", "IT MW", "fac. MW", "capex", "opex/yr",
                "$/M out tok", "tok/s/user", "load@peak", "SLO met"):
        t.add_column(col, justify="left" if col in ("pool", "hardware", "layout") else "right")
    checks = {c.name: c for c in (r.verification.classes if r.verification else [])}
    for p in r.pools:
        chk = checks.get(p.class_name)
        met = "-" if chk is None else (f"{chk.attainment:.1%}" if chk.simulated else "analytic") + (
            "" if chk.met else " [red]MISS[/]")
        lay = p.layout + (f" +spec({p.speculative})" if p.speculative else "")
        t.add_row(p.name, p.hw_id, lay, f"{p.replicas:,}", f"{p.chips:,}", f"{p.it_mw:,.3f}",
                  f"{p.facility_mw:,.3f}", _money(p.capex_usd), _money(p.opex_usd_per_year),
                  f"{p.usd_per_mtok:,.3f}", f"{p.per_user_tok_s:,.0f}", f"{p.peak_load:.0%}", met)
    console.print(t)
    tokens = sum(p.output_tokens_per_year for p in r.pools)
    budget = f" of {sc.plan.power_budget_mw:,.1f} MW budget" if sc.plan.power_budget_mw else ""
    console.print(
        f"[bold]TCO {_money(sol.tco_usd_per_year)} per year[/] ({_money(sol.tco_usd_per_year * sc.plan.horizon_years)}"
        f" over {sc.plan.horizon_years:g} years): capex {_money(sum(p.capex_usd for p in r.pools))}, opex "
        f"{_money(sum(p.opex_usd_per_year for p in r.pools))}/yr; {sol.peak_facility_mw:,.3f} MW facility peak"
        f"{budget} (IT {sol.peak_facility_mw / sc.facility.pue:,.3f} MW x PUE {sc.facility.pue:g}); "
        f"${sol.tco_usd_per_year / max(tokens, 1) * 1e6:,.3f} per M output tokens"
        + (f"; serves {sol.scale:,.3f}x the traffic" if sc.plan.objective == "goodput" else "") + ".")
    if r.binding:
        console.print("[bold]Binding:[/] " + "; ".join(f"{b.constraint} ({b.detail})" for b in r.binding))
    else:
        console.print("[bold]Binding:[/] none (the SLOs and prices alone set the plan)")
    for e in r.excluded:
        console.print(f"excluded: {e}")
    for mw, s in r.budget_options:
        console.print(f"at {mw:,.0f} MW: " + ("infeasible" if s is None else
                      f"TCO {_money(s.tco_usd_per_year)}/yr, {s.peak_facility_mw:,.2f} MW"
                      + (f", {s.scale:,.2f}x traffic" if s.objective == "goodput" else "")))
    v = r.verification
    if v is not None:
        sl = (f"a slice of {v.sim_replicas} replicas (fraction {v.slice_fraction:.4f} of the fleet, same load per "
              "replica)" if v.slice_fraction < 1 else f"all {v.sim_replicas} replicas")
        console.print(f"Simulated {v.requests:,} requests over {v.duration_s:,.0f} s on {sl}; "
                      f"{len(r.iterations)} iteration(s): " + ", ".join(
                          f"#{i.index} missed {', '.join(i.missed) or 'none'}" for i in r.iterations))
        for c in v.classes:
            if c.simulated:
                console.print(f"  {c.name}: TTFT p99 {c.ttft_p99_s * 1e3:,.0f} ms, TPOT p99 "
                              f"{c.tpot_p99_s * 1e3:,.1f} ms, SLO attainment {c.attainment:.2%}"
                              + ("" if c.met else " [red]MISSED[/]"))
            else:
                console.print(f"  {c.name}: {c.note}")
    tm = r.timings_s
    console.print(f"[dim]capacity {tm.get('capacity_s', 0):.2f} s, MILP {tm.get('solve_s', 0):.2f} s, simulation "
                  f"{tm.get('verify_s', 0):.2f} s, Pareto {tm.get('pareto_s', 0):.2f} s, total "
                  f"{tm.get('total_s', 0):.2f} s[/]")


def plan_cmd(
    scenario: Path = typer.Argument(None, help="Plan scenario YAML (default: the built-in scenario)."),
    out: Path = typer.Option(None, "--out", help="Write report.html, plan.json and plan.csv to this folder."),
    objective: str = typer.Option(None, "--objective", help="Override plan.objective: cost, power or goodput."),
    budget_mw: float = typer.Option(None, "--budget-mw", help="Override plan.power_budget_mw."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip the simulation check."),
    no_pareto: bool = typer.Option(False, "--no-pareto", help="Skip the Pareto sweeps."),
    as_json: bool = typer.Option(False, "--json", help="Print plan.json to stdout instead of tables."),
) -> None:
    """Choose the fleet (hardware x count x layout per traffic class) meeting every SLO at least cost."""
    if scenario is None:
        sc, base = default_scenario()
    else:
        sc, base = load_plan_scenario(scenario)
    upd: dict[str, object] = {}
    if objective is not None:
        if objective not in ("cost", "power", "goodput"):
            from tokenfleet.errors import InputError

            raise InputError(f"must be cost, power or goodput, got {objective!r}", where="--objective")
        upd["objective"] = objective
    if budget_mw is not None:
        upd["power_budget_mw"] = budget_mw
    if upd:
        sc = sc.model_copy(update={"plan": sc.plan.model_copy(update=upd)})
    if as_json:
        r = plan(sc, base, run_verify=not no_verify, pareto=not no_pareto)
    else:
        with Progress(TextColumn("{task.description:<10}"), BarColumn(), TimeElapsedColumn(), console=console,
                      transient=True) as bar:
            task = bar.add_task("planning", total=1.0)
            r = plan(sc, base, lambda stage, frac: bar.update(task, description=stage, completed=frac),
                     run_verify=not no_verify, pareto=not no_pareto)
    if out is not None:
        from tokenfleet.plan.report import write_report

        files = [*write_plan_files(r, out), write_report(r, out / "report.html")]
    if as_json:
        typer.echo(json.dumps(plan_json(r), indent=1, default=lambda x: None if isinstance(x, float)
                              and not math.isfinite(x) else str(x)))
    else:
        _print(r)
        if out is not None:
            console.print("wrote " + ", ".join(str(f) for f in files))


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_cmd)
