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
    from tokenfleet.plan.text import money, mw, num, pct, table

    c = out or console
    sc, sol = r.scenario, r.solution
    checks = {k.name: k for k in (r.verification.classes if r.verification else [])}
    rows = []
    for p in r.pools:
        chk = checks.get(p.class_name)
        met = "-" if chk is None else (pct(chk.attainment) if chk.simulated else "analytic") + (
            "" if chk.met else " MISS")
        lay = p.layout + (f" +spec({p.speculative})" if p.speculative else "")
        rows.append([p.name, lay, f"{p.replicas:,}", f"{p.units:,}" if p.units else "shared", pct(p.peak_load),
                     pct(p.headroom),
                     num(p.per_user_tok_s), met])
    c.print(table(f"{sc.name}: {sc.plan.objective}-optimal fleet",
                  ["pool", "layout", "repl.", "units", "load@pk", "headroom", "tok/s/u", "SLO met"], rows, 2))
    c.print("[dim]units: whole units bought (replicas of one size on one hardware share units; a shared unit "
            "counts with the pool that fills it first); load@pk: planned peak over capacity at the SLO; "
            "headroom: spare capacity at peak[/]")
    bom = r.bill_of_materials
    c.print(table("What to order", ["hardware", "unit", "count", "chips", "fac. MW", "plate MW", "capex", "lead"],
                  [[str(b["hardware"]), str(b["unit"]), f"{b['count']:,}", f"{b['chips']:,}",
                    mw(float(b["facility_mw"])), mw(float(b["nameplate_facility_mw"])),  # type: ignore[arg-type]
                    money(float(b["capex_usd"])), f"{float(b['lead_time_months']):g} mo"]  # type: ignore[arg-type]
                   for b in bom], 2))
    c.print("[dim]fac. MW: planned peak draw x PUE; plate MW: units' nameplate power x PUE[/]")
    c.print(table("Cost by class", ["class", "capex", "opex/yr", "TCO/yr", "share", "$/M out tok"],
                  [[k.name, money(k.capex_usd), money(k.opex_usd_per_year), money(k.tco_usd_per_year),
                    pct(k.share_of_tco), num(k.usd_per_mtok)] for k in r.class_costs], 1))
    tokens = sum(p.output_tokens_per_year for p in r.pools)
    budget = f" of a {mw(sc.plan.power_budget_mw)} MW budget" if sc.plan.power_budget_mw else ""
    capex = sum(p.capex_usd for p in r.pools)
    c.print(
        f"[bold]TCO {money(sol.tco_usd_per_year)} per year[/] ({money(sol.tco_usd_per_year * sc.plan.horizon_years)}"
        f" over the {sc.plan.horizon_years:g}-year horizon): capex {money(capex)} depreciated over "
        f"{sc.facility.depreciation_years:g} years, opex {money(sum(p.opex_usd_per_year for p in r.pools))}/yr; "
        f"{mw(sol.peak_facility_mw)} MW facility peak{budget} (IT {mw(sol.peak_facility_mw / sc.facility.pue)} MW"
        f" x PUE {sc.facility.pue:g}); ${sol.tco_usd_per_year / max(tokens, 1) * 1e6:,.3g} per M output tokens"
        + (f"; serves {sol.scale:,.3f}x the traffic" if sc.plan.objective == "goodput" else "") + ".")
    if r.binding:
        c.print("[bold]Binding:[/] " + "; ".join(f"{b.constraint} ({b.detail})" for b in r.binding))
    else:
        c.print("[bold]Binding:[/] none (the SLOs and prices alone set the plan)")
    if r.shadow:
        unit = {"cost": "saves/yr", "power": "saves MW", "goodput": "more traffic"}[sc.plan.objective]
        fmt = money if sc.plan.objective == "cost" else (lambda x: num(x))
        c.print(table("What relaxing each by 10 % saves", ["constraint", "change", unit, "of total"],
                      [[s.constraint, s.change, "infeasible" if s.saving is None else fmt(s.saving),
                        "-" if s.saving is None else pct(s.saving_frac)] for s in r.shadow], 2))
    for e in r.excluded:
        c.print(f"excluded: {e}")
    for b_mw, s in r.budget_options:
        c.print(f"at {mw(b_mw)} MW: " + ("infeasible" if s is None else
                f"TCO {money(s.tco_usd_per_year)}/yr, {mw(s.peak_facility_mw)} MW"
                + (f", {s.scale:,.2f}x traffic" if s.objective == "goodput" else "")))
    at = "" if sc.plan.objective == "cost" else ", cheapest fleet for 1x the traffic"
    for label, pts in ((f"Pareto (cost vs MW{at})", r.pareto_mw),
                       ("SLO tightness" + (f" ({at[2:]})" if at else ""), r.pareto_slo)):
        if pts:
            c.print(f"{label}: " + "; ".join(
                (f"{q.x:g}x" if label.startswith("SLO") else f"{mw(q.x)} MW") + " "
                + ("infeasible" if q.tco_usd_per_year is None else money(q.tco_usd_per_year))
                + f" ({q.status})" for q in pts))
    v = r.verification
    if v is not None:
        _print_verification(r, c)
    tm = r.timings_s
    extra = f", curves {tm['verify_curves_s']:.2f} s" if "verify_curves_s" in tm else ""
    c.print(f"[dim]capacity {tm.get('capacity_s', 0):.2f} s, MILP {tm.get('solve_s', 0):.2f} s, simulation "
            f"{tm.get('verify_s', 0):.2f} s, Pareto {tm.get('pareto_s', 0):.2f} s{extra}, total "
            f"{tm.get('total_s', 0):.2f} s[/]")


def _print_verification(r: PlanResult, c: Console) -> None:
    from tokenfleet.plan.text import num, table
    from tokenfleet.plan.verify import MET_DEFINITION

    v = r.verification
    assert v is not None
    c.print(f"Simulated {v.requests:,} requests over {v.duration_s:,.3g} s on {v.slice_text}; "
            f"{len(r.iterations)} iteration(s): " + ", ".join(
                f"#{i.index} missed {', '.join(i.missed) or 'none'}" for i in r.iterations))
    rows = []
    for k in v.classes:
        if not k.simulated:
            rows.append([k.name, f"{k.replicas:,}", num(k.planned_rps), num(k.simulated_rps), "-", "-", "-", "-"])
            continue
        rows.append([k.name, f"{k.replicas:,}", num(k.planned_rps), num(k.simulated_rps),
                     f"{k.ttft_p99_s * 1e3:,.0f}", f"{k.tpot_p99_s * 1e3:,.3g}",
                     "yes" if k.met else "MISSED", f"{k.attainment:.2%}"])
    c.print(table("Verification at the planned load (the slice's replicas)",
                  ["class", "repl.", "plan rps", "sim rps", "TTFT ms", "TPOT ms", "met", "within"], rows, 1))
    c.print(f"[dim]p99 latencies; {MET_DEFINITION.replace('attainment', 'within')}; plan rps: the plan's peak "
            "rate for these replicas (traffic scale applied); sim rps: arrivals in the simulation[/]")


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
    kw: dict[str, Any] = {"run_verify": run_verify, "pareto": pareto, "verify_curves": verify_curves,
                          "verify_replicas": verify_replicas}
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
