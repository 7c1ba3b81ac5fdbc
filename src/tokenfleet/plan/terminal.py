"""A plan in the terminal: the pools, what to order, power on the budget's basis beside the modelled draw,
cost by class, what binds, what moves the answer (tornado, SLO breakpoints), pools that idle and why, and
the verification at the planned load. Every table fits 80 columns (:mod:`tokenfleet.plan.text`)."""

from __future__ import annotations

from rich.console import Console

from tokenfleet.plan.planner import PlanResult
from tokenfleet.plan.text import money, mw, num, pct, table
from tokenfleet.plan.verify import MET_DEFINITION


def basis_text(r: PlanResult) -> str:
    """``units' nameplate power x PUE 1.2`` (or the modelled peak draw), with the oversubscription."""
    p = r.scenario.plan
    what = "units' nameplate power" if p.power_basis == "nameplate" else "modelled peak draw"
    over = p.oversubscription or 1.0
    return f"{what} x PUE {r.scenario.facility.pue:g}" + (f" / oversubscription {over:g}" if over != 1.0 else "")


def _pools(r: PlanResult, c: Console) -> None:
    sc = r.scenario
    checks = {k.name: k for k in (r.verification.classes if r.verification else [])}
    rows = []
    for p in r.pools:
        mine = [checks[n] for n in p.classes if n in checks]
        if not mine:
            met = "-"
        elif all(k.simulated for k in mine):
            met = pct(min(k.attainment for k in mine)) + ("" if all(k.met for k in mine) else " MISS")
        else:
            met = "analytic"
        lay = p.layout + (f" +spec({p.speculative})" if p.speculative else "")
        rows.append([p.name, lay, f"{p.replicas:,}", f"{p.units:,}" if p.units else "shared", pct(p.peak_load),
                     pct(p.headroom), num(p.per_user_tok_s), met])
    c.print(table(f"{sc.name}: {sc.plan.objective}-optimal fleet",
                  ["pool", "layout", "repl.", "units", "load@pk", "headroom", "tok/s/u", "SLO met"], rows, 2))
    shared = [p for p in r.pools if p.shared]
    if shared:
        c.print("Shared pools (sized at the tightest SLO of the classes they carry, its anchor's): " + "; ".join(
            f"{p.name} carries " + ", ".join(f"{k} {num(v)} req/s" for k, v in p.class_rps.items())
            for p in shared))
    for note in r.low_load:
        c.print(f"[bold]Low load:[/] {note.text()}.")
    c.print("[dim]units: whole units bought (replicas of one size on one hardware share units; a shared unit "
            "counts with the pool that fills it first); load@pk: planned peak over capacity at the SLO; "
            "headroom: spare capacity at peak; SLO met: the lowest share of requests within both targets "
            "among the pool's classes[/]")


def _order(r: PlanResult, c: Console) -> None:
    bom = r.bill_of_materials
    c.print(table("What to order", ["hardware", "unit", "count", "chips", "prov. MW", "capex", "lead"],
                  [[str(b["hardware"]), str(b["unit"]), f"{b['count']:,}", f"{b['chips']:,}",
                    mw(float(b["provisioned_mw"])),  # type: ignore[arg-type]
                    money(float(b["capex_usd"])), f"{float(b['lead_time_months']):g} mo"]  # type: ignore[arg-type]
                   for b in bom], 2))


def power_line(r: PlanResult) -> str:
    sc, sol = r.scenario, r.solution
    budget = f" of a {mw(sc.plan.power_budget_mw)} MW budget" if sc.plan.power_budget_mw else ""
    return (f"Power: {mw(sol.provisioned_mw)} MW provisioned ({basis_text(r)}){budget}; modelled draw "
            f"{mw(sol.peak_facility_mw)} MW at peak, {mw(sol.avg_facility_mw)} MW on average (x PUE).")


def _totals(r: PlanResult, c: Console) -> None:
    sc, sol = r.scenario, r.solution
    c.print(table("Cost by class", ["class", "capex", "opex/yr", "TCO/yr", "share", "$/M out tok"],
                  [[k.name, money(k.capex_usd), money(k.opex_usd_per_year), money(k.tco_usd_per_year),
                    pct(k.share_of_tco), num(k.usd_per_mtok)] for k in r.class_costs], 1))
    tokens = sum(p.output_tokens_per_year for p in r.pools)
    capex = sum(p.capex_usd for p in r.pools)
    c.print(
        f"[bold]TCO {money(sol.tco_usd_per_year)} per year[/] ({money(sol.tco_usd_per_year * sc.plan.horizon_years)}"
        f" over the {sc.plan.horizon_years:g}-year horizon): capex {money(capex)} depreciated over "
        f"{sc.facility.depreciation_years:g} years, opex {money(sum(p.opex_usd_per_year for p in r.pools))}/yr; "
        f"${sol.tco_usd_per_year / max(tokens, 1) * 1e6:,.3g} per M output tokens"
        + (f"; serves {sol.scale:,.3f}x the traffic" if sc.plan.objective == "goodput" else "") + ".")
    c.print(power_line(r))


def _binding(r: PlanResult, c: Console) -> None:
    sc = r.scenario
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
                f"TCO {money(s.tco_usd_per_year)}/yr, {mw(s.provisioned_mw)} MW provisioned"
                + (f", {s.scale:,.2f}x traffic" if s.objective == "goodput" else "")))


def _curves(r: PlanResult, c: Console) -> None:
    at = "" if r.scenario.plan.objective == "cost" else ", cheapest fleet for 1x the traffic"
    for label, pts in ((f"Pareto (cost vs provisioned MW{at})", r.pareto_mw),
                       ("SLO tightness" + (f" ({at[2:]})" if at else ""), r.pareto_slo)):
        if pts:
            c.print(f"{label}: " + "; ".join(
                (f"{q.x:g}x" if label.startswith("SLO") else f"{mw(q.x)} MW") + " "
                + ("infeasible" if q.tco_usd_per_year is None else money(q.tco_usd_per_year))
                + f" ({q.status})" for q in pts))


def _value(unit: str, v: float) -> str:
    if unit == "$":
        return money(v)
    return num(v) + ("x" if unit == "x" else "")


def _sensitivity(r: PlanResult, c: Console) -> None:
    from tokenfleet.plan.sensitivity import nearest
    from tokenfleet.scenario.slo import UNITS

    if r.sensitivity:
        goodput = r.scenario.plan.objective == "goodput"
        rows = []
        for b in r.sensitivity:
            row = [b.input, _value(b.unit, b.low), _value(b.unit, b.high),
                   money(b.tco_low_usd) if b.tco_low_usd is not None else "infeasible",
                   money(b.tco_high_usd) if b.tco_high_usd is not None else "infeasible"]
            if goodput:
                row.append(f"{num(b.scale_low)}x / {num(b.scale_high)}x")
            rows.append(row)
        head = ["input", "low", "high", "TCO at low", "TCO at high"] + (["traffic served"] if goodput else [])
        c.print(table("What moves the answer (each bar a re-solve at the input's low and high value)", head, rows,
                      1))
    if r.breakpoints:
        rows = [[b.class_name, UNITS[b.slo], num(b.base_value), num(b.value),
                 money(b.tco_tighter_usd) if b.tco_tighter_usd is not None else "infeasible",
                 money(b.tco_looser_usd) if b.tco_looser_usd is not None else "infeasible"] for b in r.breakpoints]
        c.print(table("SLO breakpoints (where the fleet changes, by bisection)",
                      ["class", "SLO", "plan", "changes at", "TCO tighter", "TCO looser"], rows, 2))
    if r.breakpoints_searched:
        bp = nearest(r.breakpoints)
        c.print("[bold]Nearest SLO breakpoint:[/] " + (bp.sentence() if bp is not None else
                "none within 2x of any SLO (the fleet stays the same from half to twice each target)") + ".")


def _verification(r: PlanResult, c: Console) -> None:
    v = r.verification
    if v is None:
        return
    steps = f"{len(r.iterations)} iteration(s): " + ", ".join(
        f"#{i.index} missed {', '.join(i.missed) or 'none'}" for i in r.iterations)
    if v.fleet is not None:
        _fleet(r, c, steps)
        return
    c.print(f"Simulated {v.requests:,} requests over {v.duration_s:,.3g} s on {v.slice_text}; {steps}")
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


def _fleet(r: PlanResult, c: Console, steps: str) -> None:
    """A full-fleet verification: what ran, per class and per pool."""
    v = r.verification
    assert v is not None
    f = v.fleet
    assert f is not None
    lo, hi = f.warmup_s
    warm = f"{lo:,.3g} s" if lo == hi else f"{lo:,.3g}-{hi:,.3g} s by pool"
    c.print(f"Simulated every replica: {v.sim_replicas:,} replicas in {f.shards:,} cells on {f.backend}, "
            f"{v.requests:,} requests; measured {f.measured_requests:,} arriving over {v.duration_s:,.3g} s after "
            f"a warm-up of {warm}; {num(f.cpu_s)} CPU s, {num(v.wall_s)} s wall (the slices while planning: "
            f"{steps})")
    rows = [[k.name, f"{k.replicas:,}", num(k.planned_rps), num(k.simulated_rps), f"{k.ttft_p99_s * 1e3:,.0f}",
             f"{k.tpot_p99_s * 1e3:,.3g}", "yes" if k.met else "MISSED", f"{k.attainment:.2%}"]
            if k.simulated else [k.name, f"{k.replicas:,}", num(k.planned_rps), num(k.simulated_rps)] + ["-"] * 4
            for k in v.classes]
    c.print(table("Verification of the whole fleet at the planned load",
                  ["class", "repl.", "plan rps", "sim rps", "TTFT ms", "TPOT ms", "met", "within"], rows, 1))
    rows = [[q.name, f"{q.replicas:,}", f"{q.requests:,}", f"{q.ttft_p99_s * 1e3:,.0f}", f"{q.tpot_p99_s * 1e3:,.3g}",
             f"{q.attainment:.2%}", pct(q.utilisation), pct(q.max_kv_use_frac)] for q in v.pools]
    c.print(table("Per pool", ["pool", "repl.", "requests", "TTFT ms", "TPOT ms", "within", "busy", "max KV"],
                  rows, 1))
    c.print(f"[dim]p99 latencies; {MET_DEFINITION.replace('attainment', 'within')}; {f.percentiles}; "
            f"routing: {f.routing}; busy: share of replica time with a batch running[/]")


def _terms(r: PlanResult, c: Console) -> None:
    t = r.terms
    if t is None:
        return
    for line in t.lines():
        c.print(line)
    rows = [[s.model, s.layout or "-", num(s.per_user_tok_s), num(s.tok_s_per_unit), num(s.tok_s_total),
             num(s.usd_per_mtok)] if s.layout else [s.model, "out of reach", "-", "-", "-", "-"] for s in t.serves]
    c.print(table(f"What {num(t.facility_mw)} MW of {t.hardware} serves at >= {num(t.min_user_tok_s)} tok/s/user",
                  ["model", "layout", "tok/s/u", "tok/s/unit", "tok/s all", "$/M tok"], rows, 2))
    if r.scenario.plan.deal_terms is not None and r.scenario.plan.deal_terms.price_candidate:
        c.print(f"[dim]The plan below buys {t.hardware} at the equivalent purchase price; $/M tok: the all-in "
                "unit-year price over the tokens a unit carries at the floor[/]")


def print_plan(r: PlanResult, c: Console) -> None:
    _terms(r, c)
    _pools(r, c)
    _order(r, c)
    _totals(r, c)
    _binding(r, c)
    _sensitivity(r, c)
    _curves(r, c)
    _verification(r, c)
    tm = r.timings_s
    extra = f", curves {tm['verify_curves_s']:.2f} s" if "verify_curves_s" in tm else ""
    extra += f", whole fleet {tm['verify_fleet_s']:.2f} s" if "verify_fleet_s" in tm else ""
    c.print(f"[dim]capacity {tm.get('capacity_s', 0):.2f} s, MILP {tm.get('solve_s', 0):.2f} s, simulation "
            f"{tm.get('verify_s', 0):.2f} s, sensitivity {tm.get('sensitivity_s', 0):.2f} s, Pareto "
            f"{tm.get('pareto_s', 0):.2f} s{extra}, total {tm.get('total_s', 0):.2f} s[/]")


__all__ = ["basis_text", "power_line", "print_plan"]
