"""What a dashboard run does: plan, simulate or value a deal, and shape the result for the page.

Each ``*_work(run, progress)`` reads the run's YAML, calls the same library code as the CLI (the planner,
:class:`~tokenfleet.sim.Simulation`, :func:`~tokenfleet.deal.value_deal`), reports progress, and returns the
run's output: ``summary`` (headline numbers: ``{key: {label, value, unit}}``), ``tables``, ``figures`` and
``files`` (report.html, plan.json / summary.json / deal.json, the input YAML).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tokenfleet import catalog
from tokenfleet.errors import InputError
from tokenfleet.web import figures as F
from tokenfleet.web.jobs import Progress, Run
from tokenfleet.web.report import render
from tokenfleet.yamlio import parse_mapping

PlanLookup = Callable[[str], dict[str, Any] | None]


def _s(label: str, value: Any, unit: str = "") -> dict[str, Any]:
    return {"label": label, "value": value, "unit": unit}


def _load(text: str, what: str) -> dict[str, Any]:
    return parse_mapping(text, what)


def _finish(run: Run, out: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
    title = f"{run.label} — {run.kind} ({run.id})"
    files["report.html"] = render(title, out)
    out["files"] = files
    return out


# ---- plan ---------------------------------------------------------------------------------------------
def plan_work(run: Run, progress: Progress) -> dict[str, Any]:
    from tokenfleet.sweep.planlink import run_plan

    data = _load(run.scenario_yaml, "scenario.yaml")
    verify = bool(run.options.get("verify"))
    if verify and isinstance(data.get("plan"), dict):  # the tick box wins over the file's verify.enabled
        data["plan"]["verify"] = {**(data["plan"].get("verify") or {}), "enabled": True}
    _, p, result = run_plan(data, Path(run.options.get("base_dir", ".")), "scenario.yaml", verify=verify,
                            pareto=True, progress=lambda stage, frac: progress(stage, frac))
    t = p["totals"]
    vendors = ", ".join(sorted(p["by_vendor"]))
    summary = {
        "tco": _s("TCO per year", t["tco_usd_per_year"], "$"),
        "mw": _s("Facility MW (peak)", t["facility_mw"], "MW"),
        "capex": _s("Capex", t["capex_usd"], "$"),
        "usd_per_mtok": _s("Cost per M output tokens", t["usd_per_mtok"], "$"),
        "chips": _s("Chips", t["chips"], ""),
        "vendors": _s("Vendors", vendors, ""),
        "budget": _s("Power budget", p["power_budget_mw"], "MW"),
    }
    ver = p.get("verification")
    if ver is not None:
        summary["slo"] = _s("SLOs met in simulation", "yes" if ver["all_met"] else "no", "")
    pools = F.table("plan", "Plan: pools", [
        "pool", "class", "hardware", "vendor", "layout", "replicas", "chips", "peak load", "facility MW",
        "capex $", "TCO $/yr", "$/Mtok"], [
        [q["name"], q["class"], q["hardware"], q["vendor"], q["layout"], q["replicas"], q["count"],
         q["peak_load"], q["facility_mw"], q["capex_usd"], q["tco_usd_per_year"], q["usd_per_mtok"]]
        for q in p["pools"]])
    binding = F.table("binding", "Binding constraints", ["constraint", "detail", "gain if relaxed"],
                      [[b["constraint"], b["detail"], b["gain"]] for b in p["binding"]])
    figs = []
    if p["pareto_mw"]:
        figs.append(F.pareto_figure("pareto", p["pareto_mw"], t["facility_mw"], t["tco_usd_per_year"]))
    by_v = {v: {"tco": x["tco_usd_per_year"] / 1e6, "facility_mw": x["facility_mw"]} for v, x in p["by_vendor"].items()}
    figs.append(F.vendor_figure("vendor", by_v, "tco", "TCO $M / year"))
    figs.append(F.utilisation_figure("util", "Planned peak load per pool", [q["name"] for q in p["pools"]],
                                     [q["peak_load"] or 0.0 for q in p["pools"]], "% of capacity at peak"))
    if ver is not None:
        slo = _class_slos(data)
        for metric, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT")):
            samples = {c: np.asarray(v.get(metric, [])) for c, v in ver["latencies"].items()}
            figs.append(F.cdf_figure(f"cdf_{metric}", f"{label} CDF per class (simulated plan)", samples,
                                     {c: s[metric] for c, s in slo.items()}))
    from tokenfleet.plan.output import plan_json
    from tokenfleet.plan.report import write_report

    official = plan_json(result)  # the same plan.json and report.html as `tokenfleet plan --out`
    out = {"summary": summary, "tables": [pools, binding], "figures": figs, "plan": official}
    files = _finish(run, out, {"plan.json": json.dumps(official, indent=1, default=lambda x: None),
                               "scenario.yaml": run.scenario_yaml})
    with tempfile.TemporaryDirectory(prefix="tokenfleet-ui-") as tmp:
        report = write_report(result, Path(tmp) / "report.html")
        files["files"]["report.html"] = report.read_text(encoding="utf-8")
    return files


def _class_slos(data: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    out = {}
    for c in data.get("traffic", []):
        slo = c.get("slo") or {}
        tpot = slo.get("tpot_p99_ms") or (1e3 / slo["min_user_tok_s"] if slo.get("min_user_tok_s") else None)
        out[c["name"]] = {"ttft_s": slo.get("ttft_p99_ms"), "tpot_s": tpot}
    return out


# ---- simulate -----------------------------------------------------------------------------------------
def simulate_work(run: Run, progress: Progress) -> dict[str, Any]:
    from tokenfleet.scenario import Scenario, parse_scenario
    from tokenfleet.sim.engine import Simulation
    from tokenfleet.sim.summary import summarize

    data = _load(run.scenario_yaml, "scenario.yaml")
    if not data.get("pools"):
        raise InputError("this scenario has no pools to simulate: run Plan with 'simulate the plan' ticked, "
                         "or add pools", where="pools")
    plain = {k: v for k, v in data.items() if k != "plan"}
    sc: Scenario = parse_scenario(plain, "scenario.yaml")
    sim = Simulation(sc, Path(run.options.get("base_dir", ".")), keep_requests=True)
    total = sc.sim.max_requests
    progress("simulating", 0.0 if total else None)
    res = sim.run(progress=lambda n: progress(f"simulating: {n:,} requests", n / total if total else None))
    s = summarize(res)
    f = s["fleet"]
    summary = {
        "requests": _s("Requests", s["requests"], ""),
        "slo": _s("SLO attainment", f["slo_attainment"] * 100, "%"),
        "ttft_p99": _s("TTFT p99", f["ttft_s"]["p99"] * 1e3, "ms"),
        "tpot_p99": _s("TPOT p99", f["tpot_s"]["p99"] * 1e3, "ms"),
        "cost": _s("Cost over the run", f["cost_usd"], "$"),
        "usd_per_mtok": _s("Cost per M output tokens", f["usd_per_mtok"], "$"),
        "avg_mw": _s("Average facility MW", f["avg_mw"], "MW"),
        "peak_mw": _s("Peak facility MW", f["peak_mw"], "MW"),
    }
    classes = F.table("classes", "Latency per class (ms)", [
        "class", "requests", "TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99", "SLO met %", "goodput rps"], [
        [c["class"], c["requests"], c["ttft_s"]["p50"] * 1e3, c["ttft_s"]["p99"] * 1e3, c["tpot_s"]["p50"] * 1e3,
         c["tpot_s"]["p99"] * 1e3, c["slo_attainment"] * 100, c["goodput_rps"]] for c in s["classes"]])
    pools = F.table("pools", "Pools", ["pool", "hardware", "replicas", "chips", "utilisation %", "avg MW",
                                       "peak MW", "cost $", "J / token"], [
        [p["pool"], p["hardware"], p["replicas"], p["chips"], p["utilisation"] * 100, p["avg_mw"], p["peak_mw"],
         p["cost_usd"], p["joules_per_output_token"]] for p in s["pools"]])
    samples: dict[str, dict[str, np.ndarray]] = {"ttft_s": {}, "tpot_s": {}}
    for g in res.collector.classes:
        for m in samples:
            samples[m][g.name] = np.concatenate(g.kept[m]) if g.kept[m] else np.zeros(0)
    slo = {c["class"]: {"ttft_s": c["ttft_slo_ms"], "tpot_s": c["tpot_slo_ms"]} for c in s["classes"]}
    by_v: dict[str, dict[str, float]] = {}
    for p in s["pools"]:
        v = by_v.setdefault(catalog.hardware(p["hardware"]).vendor, {"cost": 0.0, "facility_mw": 0.0})
        v["cost"] += p["cost_usd"]
        v["facility_mw"] += p["avg_mw"]
    figs = [
        F.cdf_figure("cdf_ttft_s", "TTFT CDF per class", samples["ttft_s"],
                     {k: v["ttft_s"] for k, v in slo.items()}),
        F.cdf_figure("cdf_tpot_s", "TPOT CDF per class", samples["tpot_s"],
                     {k: v["tpot_s"] for k, v in slo.items()}),
        F.vendor_figure("vendor", by_v, "cost", "cost $ over the run"),
        F.utilisation_figure("util", "Utilisation per pool", [p["pool"] for p in s["pools"]],
                             [p["utilisation"] for p in s["pools"]], "% busy"),
    ]
    out = {"summary": summary, "tables": [classes, pools], "figures": figs}
    return _finish(run, out, {"summary.json": json.dumps(s, indent=1, default=lambda x: None),
                              "scenario.yaml": run.scenario_yaml})


# ---- deal ---------------------------------------------------------------------------------------------
def deal_work(run: Run, progress: Progress, plan_of: PlanLookup) -> dict[str, Any]:
    from tokenfleet.deal.load import parse_deal
    from tokenfleet.deal.report import figures as deal_figures
    from tokenfleet.deal.valuation import value_deal

    data = _load(run.deal_yaml or "", "deal.yaml")
    paths = run.options.get("paths")
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
        "warrant": _s("Warrant value", v.warrant_value_usd, "$"),
        "npv": _s("Buyer NPV", v.buyer_npv_usd, "$") if v.buyer_npv_usd is not None
        else _s("Buyer PV payments less warrants (no market price: no NPV)", v.buyer_net_cost_usd, "$"),
        "issuer": _s("Issuer net", v.issuer_net_usd, "$"),
        "payments": _s("Expected payments", c.expected_total_payments_usd, "$"),
        "mw": _s("MW delivered", c.expected_mw_delivered, "MW"),
        "net_mw_year": _s("Net $ per MW-year", v.prices.net_usd_per_mw_year, "$"),
    }
    tranches = F.table("tranches", "Tranches", ["tranche", "conditions", "shares", "P(vest) %", "E[vest date]",
                                                "value $", "± se", "closed form $"], [
        [t.name, t.conditions, t.shares, t.vest_probability * 100, str(t.expected_vest_date or "never"), t.value_usd,
         t.stderr_usd, t.closed_form_usd] for t in v.tranches])
    titles = {0: "Vesting timeline", 1: "Warrant value distribution"}
    figs = []
    for i, fig in enumerate(deal_figures(v)):
        text = fig.layout.title.text or titles.get(i, f"figure {i + 1}")
        figs.append(F.fig_json(f"deal{i}", text, fig))
    out = {"summary": summary, "tables": [tranches], "figures": figs}
    return _finish(run, out, {"deal.json": json.dumps(v.to_dict(), indent=1), "deal.yaml": run.deal_yaml or ""})


__all__ = ["deal_work", "plan_work", "simulate_work"]
