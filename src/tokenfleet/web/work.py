"""What a dashboard run does: plan, simulate or value a deal, and shape the result for the page.

Each ``*_work(run, progress)`` reads the run's YAML, calls the same library code as the CLI (the planner,
:class:`~tokenfleet.sim.Simulation`, :func:`~tokenfleet.deal.value_deal`), reports progress, and returns the
run's output: ``summary`` (headline numbers: ``{key: {label, value, unit, text}}``, ``text`` formatted by
:mod:`tokenfleet.viz.fmt`), ``page`` (the report's blocks as data: cards, callouts, tables, figures — the
same page as report.html), ``export`` (every table, for tables.xlsx / CSV) and ``files`` (report.html,
plan.json / summary.json / deal.json, the input YAML).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tokenfleet.errors import InputError
from tokenfleet.viz.fmt import Kind, cell
from tokenfleet.web.jobs import Progress, Run
from tokenfleet.yamlio import parse_mapping

PlanLookup = Callable[[str], dict[str, Any] | None]


def _s(label: str, value: Any, kind: Kind = "text") -> dict[str, Any]:
    return {"label": label, "value": value, "kind": kind, "text": cell(value, kind)}


def _load(text: str, what: str) -> dict[str, Any]:
    return parse_mapping(text, what)


def _finish(run: Run, page: Any, summary: dict[str, Any], files: dict[str, str],
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run's output; its report.html is the page, loading plotly.min.js from beside it."""
    page.title = f"{page.title} ({run.id})"
    files["report.html"] = page.render()
    data = page.as_json()
    return {"summary": summary, "page": {"title": data["title"], "lede": data["lede"], "items": data["items"]},
            "export": data["export"], "files": files, **(extra or {})}


# ---- plan ---------------------------------------------------------------------------------------------
def plan_work(run: Run, progress: Progress) -> dict[str, Any]:
    """A plan; ``options.fast`` (what-if): no simulation check, no Pareto or SLO curves, no shadow prices."""
    from tokenfleet.plan.planner import plan
    from tokenfleet.plan.report import build_page, report_data
    from tokenfleet.plan.schema import parse_plan_scenario

    data = _load(run.scenario_yaml, "scenario.yaml")
    if "plan" not in data:
        raise InputError("the scenario has no plan: section, so there is nothing to plan", where="plan")
    fast = bool(run.options.get("fast"))
    verify = bool(run.options.get("verify")) and not fast
    if isinstance(data.get("plan"), dict):  # the tick box wins over the file's verify.enabled
        data["plan"]["verify"] = {**(data["plan"].get("verify") or {}), "enabled": verify}
    sc = parse_plan_scenario(data, "scenario.yaml")
    result = plan(sc, Path(run.options.get("base_dir", ".")), lambda stage, frac: progress(stage, frac),
                  run_verify=verify, pareto=not fast, shadow=not fast)
    pj, lat = report_data(result)
    t = pj["totals"]
    summary = {
        "tco": _s("TCO per year", t["tco_usd_per_year"], "money"),
        "capex": _s("Capex", t["capex_usd"], "money"),
        "mw": _s("Power provisioned (what the budget holds)", t.get("provisioned_mw", t["facility_mw"]), "mw"),
        "usd_per_mtok": _s("Cost per M output tokens", t["usd_per_mtok"], "money"),
        "chips": _s("Chips", sum(q.get("chips") or 0 for q in pj["pools"]), "int"),
        "vendors": _s("Vendors", ", ".join(sorted({str(q["vendor"]) for q in pj["pools"]}))),
        "budget": _s("Power budget", pj.get("power_budget_mw"), "mw"),
    }
    ver = pj.get("verification")
    if ver is not None:
        met = all(c.get("met") for c in ver.get("classes", []))
        summary["slo"] = _s("SLOs met in simulation", "yes" if met else "no")
    page = build_page(pj, lat, f"Plan: {run.label}")
    return _finish(run, page, summary, {"plan.json": json.dumps(pj, indent=1, default=lambda x: None),
                                        "scenario.yaml": run.scenario_yaml}, {"plan": pj})


# ---- simulate -----------------------------------------------------------------------------------------
def simulate_work(run: Run, progress: Progress) -> dict[str, Any]:
    from tokenfleet.report.series import SeriesSink, series
    from tokenfleet.report.simulate import build_page, slo_of
    from tokenfleet.scenario import Scenario, parse_scenario
    from tokenfleet.sim.engine import Simulation
    from tokenfleet.sim.summary import summarize

    data = _load(run.scenario_yaml, "scenario.yaml")
    if not data.get("pools"):
        raise InputError("this scenario has no pools to simulate: add pools, or plan it with 'simulate the plan' "
                         "ticked (the planner simulates the fleet it chooses)", where="pools")
    plain = {k: v for k, v in data.items() if k != "plan"}
    sc: Scenario = parse_scenario(plain, "scenario.yaml")
    sink = SeriesSink()
    sim = Simulation(sc, Path(run.options.get("base_dir", ".")), keep_requests=False, sinks=[sink])
    total = sc.sim.max_requests
    progress("simulating", 0.0 if total else None)
    res = sim.run(progress=lambda n: progress(f"simulating: {n:,} requests", n / total if total else None))
    s = summarize(res)
    f = s["fleet"]
    summary = {
        "requests": _s("Requests", s["requests"], "int"),
        "slo": _s("SLO attainment", f["slo_attainment"], "pct"),
        "ttft_p99": _s("TTFT p99", f["ttft_s"]["p99"], "s"),
        "tpot_p99": _s("TPOT p99", f["tpot_s"]["p99"], "s"),
        "cost": _s("Cost over the run", f["cost_usd"], "money"),
        "usd_per_mtok": _s("Cost per M output tokens", f["usd_per_mtok"], "money"),
        "avg_mw": _s("Average facility power", f["avg_mw"], "mw"),
        "peak_mw": _s("Peak facility power", f["peak_mw"], "mw"),
    }
    page = build_page(s, series(res, sink), sink, slo_of(sc), [c.name for c in sc.traffic])
    page.title = f"Simulation: {run.label}"
    return _finish(run, page, summary, {"summary.json": json.dumps(s, indent=1, default=lambda x: None),
                                        "scenario.yaml": run.scenario_yaml})


# ---- deal ---------------------------------------------------------------------------------------------
def deal_work(run: Run, progress: Progress, plan_of: PlanLookup) -> dict[str, Any]:
    import tempfile

    from tokenfleet.deal.load import parse_deal
    from tokenfleet.deal.report import build_page
    from tokenfleet.deal.valuation import value_deal

    data = _load(run.deal_yaml or "", "deal.yaml")
    paths = run.options.get("paths")
    plan: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="tokenfleet-ui-") as tmp:
        link = (data.get("contract") or {}).get("from_plan")
        if isinstance(link, dict):
            plan_id = run.options.get("plan_run")
            plan = plan_of(plan_id) if plan_id else None
            if plan is None:
                raise InputError("this deal builds its deliveries from a plan: pick a finished plan run",
                                 where="contract.from_plan")
            (Path(tmp) / "plan.json").write_text(json.dumps(plan))
            link["path"] = str(Path(tmp) / "plan.json")
        deal = parse_deal(data, "deal.yaml", Path(run.options.get("base_dir", ".")))
    n = int(paths or deal.settings.paths)
    done = [0]

    def tick(k: int) -> None:
        done[0] += k
        progress(f"Monte Carlo: {done[0]:,} / {n:,} paths", done[0] / n)

    v = value_deal(deal, paths=n, progress=tick)
    c = v.contract
    summary = {
        "warrant": _s("Warrant value", v.warrant_value_usd, "money"),
        "npv": _s("Buyer NPV", v.buyer_npv_usd, "money") if v.buyer_npv_usd is not None
        else _s("Buyer PV payments less warrants (no market price: no NPV)", v.buyer_net_cost_usd, "money"),
        "issuer": _s("Issuer net", v.issuer_net_usd, "money"),
        "payments": _s("Expected payments", c.expected_total_payments_usd, "money"),
        "mw": _s("MW delivered", c.expected_mw_delivered, "mw"),
        "net_mw_year": _s("Net $ per MW-year", v.prices.net_usd_per_mw_year, "money"),
    }
    page = build_page(deal, v)
    if plan is not None and plan.get("cost_over_time"):
        _plan_cash_flow(page, plan, v)
    return _finish(run, page, summary, {"deal.json": json.dumps(v.to_dict(), indent=1),
                                        "deal.yaml": run.deal_yaml or ""})


def _plan_cash_flow(page: Any, plan: dict[str, Any], v: Any) -> None:
    """The linked plan's cost over time with this deal's expected purchases by year beside it."""
    from tokenfleet.deal.report import purchases_by_year
    from tokenfleet.plan import report_figures, report_tables

    by_year = purchases_by_year(v)
    first = by_year[0][0] if by_year else 0
    pj = json.loads(json.dumps(plan))
    pay = {y - first + 1: s for y, s, _ in by_year}
    for y in pj["cost_over_time"]["years"]:
        y["deal_payments_usd"] = pay.get(y["year"], 0.0)
    page.section("The linked plan's cost over time", "Year 1 of the plan is the deal's first calendar year.")
    fig = report_figures.cash_flow(pj)
    if fig is not None:
        page.figure("plan_cashflow", "Plan cost and cash flow by year, with the deal's payments", fig, wide=True)
    for tab in report_tables.cost_tables(pj)[1:]:
        page.table(tab)


__all__ = ["deal_work", "plan_work", "simulate_work"]
