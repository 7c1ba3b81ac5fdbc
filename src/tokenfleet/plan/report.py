"""``report.html`` of a plan (and ``tables.xlsx`` + ``tables/*.csv``), drawn from ``plan.json`` with its cost
over time and the simulated latencies, in the shared visual language (:mod:`tokenfleet.viz`).

:func:`build_page` is what the dashboard reuses: the same figures and tables, from the same dict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenfleet.plan import report_figures as F
from tokenfleet.plan import report_tables as R
from tokenfleet.viz.fmt import money, mw, pct, sig
from tokenfleet.viz.page import Card, Page
from tokenfleet.viz.page import write_report as write_page

if TYPE_CHECKING:
    from tokenfleet.plan.planner import PlanResult

Latencies = Mapping[str, Mapping[str, Sequence[float]]]


def report_data(r: PlanResult) -> tuple[dict[str, Any], Latencies | None]:
    """plan.json with its ``cost_over_time``, and the simulated latencies per class (if simulated)."""
    from tokenfleet.plan.cashflow import cost_over_time
    from tokenfleet.plan.output import plan_json

    pj = plan_json(r)
    pj.setdefault("cost_over_time", cost_over_time(r).as_dict())
    pj.setdefault("description", r.scenario.description)
    ver = r.verification
    return pj, (ver.latencies if ver is not None and getattr(ver, "latencies", None) else None)


def _notes(pj: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(warnings, notes): pools with no headroom or almost idle, missed SLOs, binding constraints."""
    warn, notes = [], []
    for q in pj.get("pools", []):
        load = q.get("peak_load")
        if not isinstance(load, int | float):
            continue
        why = q.get("note") or q.get("why")
        if load >= R.FULL_LOAD:
            warn.append(f"{q['name']} is planned at {pct(load)} of its capacity at the SLO: a burst above the planned "
                        "peak misses the SLO (add plan.constraints.peak_headroom to keep spare capacity).")
        elif load < R.LOW_LOAD:
            notes.append(f"{q['name']} runs at {pct(load)} of its capacity at peak"
                         + (f": {why}" if why else (
                             f": {q.get('replicas', 1)} replica(s) of the smallest {q.get('hardware')} layout that "
                             f"meets the SLO ({q.get('layout')}) carry {sig(1 / load)}× its planned peak"
                             if load > 0 else "")) + ".")
    ver = pj.get("verification") or {}
    missed = [c["class"] for c in ver.get("classes", []) if c.get("met") is False]
    if missed:
        warn.append(f"The simulation missed the SLO of {', '.join(missed)} (see the simulation check).")
    return warn, notes


def build_page(pj: dict[str, Any], latencies: Latencies | None = None, title: str | None = None) -> Page:
    t = pj.get("totals", {})
    page = Page(title or f"Fleet plan: {pj.get('scenario', '')}", str(pj.get("description") or ""))
    page.cards([Card(k, v, s, bad) for k, v, s, bad in R.headline(pj)])
    warn, notes = _notes(pj)
    page.callout(warn, bad=True, title="Check before buying")
    page.callout(notes, title="Notes")
    obj = pj.get("objective", "cost")
    page.text(f"Objective: {obj}. TCO {money(t.get('tco_usd_per_year'))} per year = capex depreciated over "
              f"{pj.get('depreciation_years', 0):g} years + energy, facility and rent; {mw(t.get('facility_mw'))} "
              f"planned peak at PUE {pj.get('pue', 0):g}"
              + (f" within a {mw(pj['power_budget_mw'])} budget" if pj.get("power_budget_mw") else "") + ".")

    page.section("Fleet")
    page.table(R.pools_table(pj))
    page.table(R.bom_table(pj))
    page.figure("load", "Peak load per pool", F.load(pj),
                "Planned peak rate over the pool's capacity at its SLO; 100 % leaves no headroom.", wide=True)

    page.section("Cost")
    for fid, title, fig, cap in (
            ("components", "TCO by component", F.cost_components(pj), "Steady state: every unit in service."),
            ("cashflow", "Cost and cash flow by year", F.cash_flow(pj),
             "Bars: cost by component (P&L); diamonds: cash out (capex when delivered, then opex)."),
            ("by_class", "TCO by traffic class", F.by_class(pj), "Each class's pools; labels: TCO and share."),
    ):
        if fig is not None:
            page.figure(fid, title, fig, cap)
    page.figure("vendor", "Cost and power by vendor", F.by_vendor(pj), wide=True)
    for tab in (*R.cost_tables(pj), R.class_table(pj)):
        page.table(tab)

    page.section("Power")
    fig = F.power(pj)
    if fig is not None:
        pw: dict[str, Any] = pj["power"] if isinstance(pj.get("power"), dict) else {}
        basis = f"Budget basis: {pw['basis']}." if pw.get("basis") else (
            "The budget is checked on the modelled peak draw x PUE; the nameplate bar is what the units can draw.")
        page.figure("power", "Power: provisioned against drawn", fig, basis, wide=True)
    ptab = R.power_table(pj)
    if ptab is not None:
        page.table(ptab)

    page.section("What moves the answer")
    fig = F.tornado(pj)
    if fig is not None:
        page.figure("tornado", "What moves TCO", fig, "Each bar is a re-solve with one input at its low or high "
                    "value; the line is this plan.", wide=True)
    fig = F.slo_curve(pj)
    if fig is not None:
        page.figure("slo", "TCO against SLO tightness", fig, "Every TTFT / TPOT target times a factor. A fleet "
                    "switch is a step: between two factors the tighter factor's fleet still serves.")
    fig = F.breakpoints(pj)
    if fig is not None:
        page.figure("breakpoints", "SLO breakpoints per class", fig, "Where the fleet changes as one class's SLO "
                    "moves: TCO just tighter and just looser.")
    fig = F.pareto(pj)
    if fig is not None:
        page.figure("pareto", "TCO against facility power", fig, "The cheapest fleet at each power budget (steps: "
                    "a fleet holds until a cheaper one fits).")
    elif pj.get("pareto_cost_vs_mw"):
        page.text("TCO against power: one fleet. No fleet that uses less power meets every SLO, and no cheaper "
                  "fleet exists at more power.")
    for maybe in (R.sensitivity_table(pj), R.breakpoints_table(pj), R.shadow_table(pj)):
        if maybe is not None:
            page.table(maybe)
    binding = pj.get("binding") or []
    page.text("Binding constraints: " + ("; ".join(f"{b['constraint']} ({b['detail']})" for b in binding)
                                         if binding else "none; the SLOs and prices alone set the plan."))

    ver = pj.get("verification")
    page.section("Simulation check")
    if not ver:
        page.text("Not simulated (--no-verify).")
    else:
        frac = ver.get("slice_fraction", 1.0)
        where = ver.get("slice") or (f"{ver.get('sim_replicas', 0):,} replicas" + (
            f" (a slice: {pct(frac)} of the fleet, each replica at its full-fleet load)" if frac < 1 else
            " (the whole fleet)"))
        page.text(f"{ver.get('requests', 0):,} requests over {sig(ver.get('duration_s', 0))} simulated s on {where}. "
                  + (str(ver["met_definition"]).capitalize() if ver.get("met_definition") else
                     "SLO met: the class's p99 TTFT and TPOT are within its targets") + ".")
        page.table(R.verification_table(pj))  # type: ignore[arg-type]
        for metric, label in (("ttft_s", "Time to first token"), ("tpot_s", "Time per output token")):
            fig = F.latency_cdfs(pj, latencies, metric)
            if fig is not None:
                page.figure(f"cdf_{metric}", f"{label}: simulated distribution per class", fig,
                            "Dashed: the class's p99 SLO; dotted: the 99th percentile.", wide=True)
        fig = F.planned_rates(pj)
        if fig is not None:
            page.figure("rates", "Planned against simulated request rate", fig)
    if pj.get("formulas"):
        page.section("Cost formulas")
        page.raw(f"<pre>{_esc(pj['formulas'])}</pre>")
    return page


def _esc(text: str) -> str:
    import html

    return html.escape(text)


def write_report(r: PlanResult, out_dir: Path) -> list[Path]:
    """report.html, plotly.min.js, tables.xlsx and tables/*.csv in ``out_dir``."""
    pj, lat = report_data(r)
    return write_page(build_page(pj, lat), out_dir)


__all__ = ["build_page", "report_data", "write_report"]
