"""Self-contained ``report.html`` of a plan: tables plus plotly charts (Pareto frontiers, cost and power by
vendor, latency CDFs per class from the simulation, utilisation); plotly.js is embedded once."""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from tokenfleet.plan.economics import FORMULAS
from tokenfleet.plan.planner import PlanResult

CDF_POINTS = 400


def _cdf(values: list[float]) -> tuple[list[float], list[float]]:
    v = np.asarray(values)
    if v.size == 0:
        return [], []
    idx = np.unique(np.linspace(0, v.size - 1, min(CDF_POINTS, v.size)).astype(int))
    return [float(x) for x in v[idx]], [float((i + 1) / v.size) for i in idx]


def figures(r: PlanResult) -> list[go.Figure]:
    figs = []
    if r.pareto_mw:
        f = go.Figure(go.Scatter(x=[q.facility_mw for q in r.pareto_mw],
                                 y=[(q.tco_usd_per_year or 0) / 1e6 for q in r.pareto_mw], mode="lines+markers",
                                 name="cheapest fleet at each MW"))
        f.add_trace(go.Scatter(x=[r.solution.peak_facility_mw], y=[r.solution.tco_usd_per_year / 1e6],
                               mode="markers", marker={"size": 14, "symbol": "star"}, name="plan"))
        f.update_layout(title="Pareto frontier: TCO against facility power", xaxis_title="facility MW (peak)",
                        yaxis_title="TCO $M per year")
        figs.append(f)
    feas = [q for q in r.pareto_slo if q.tco_usd_per_year is not None]
    if feas:
        f = go.Figure(go.Scatter(x=[q.x for q in feas], y=[(q.tco_usd_per_year or 0) / 1e6 for q in feas],
                                 mode="lines+markers"))
        f.update_layout(title="TCO against SLO tightness (every TTFT / TPOT target x factor; < 1 is tighter)",
                        xaxis_title="SLO factor", yaxis_title="TCO $M per year", xaxis_type="log")
        figs.append(f)
    vendors = sorted({p.vendor for p in r.pools})
    f = go.Figure()
    f.add_trace(go.Bar(x=vendors, y=[sum(p.capex_usd for p in r.pools if p.vendor == v) / 1e6 for v in vendors],
                       name="capex $M"))
    f.add_trace(go.Bar(x=vendors, y=[sum(p.opex_usd_per_year for p in r.pools if p.vendor == v) / 1e6
                                     for v in vendors], name="opex $M / year"))
    f.add_trace(go.Bar(x=vendors, y=[sum(p.facility_mw for p in r.pools if p.vendor == v) for v in vendors],
                       name="facility MW", yaxis="y2", opacity=0.6))
    f.update_layout(title="Cost and power by vendor", barmode="group", yaxis_title="$M",
                    yaxis2={"title": "MW", "overlaying": "y", "side": "right"})
    figs.append(f)
    ver = r.verification
    if ver is not None and ver.latencies:
        for metric, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT")):
            f = go.Figure()
            for name, lat in ver.latencies.items():
                x, y = _cdf(lat.get(metric, []))
                f.add_trace(go.Scatter(x=[v * 1e3 for v in x], y=y, mode="lines", name=name))
            f.update_layout(title=f"{label} CDF per class (simulated)", xaxis_title=f"{label} ms",
                            yaxis_title="fraction of requests", xaxis_type="log")
            figs.append(f)
    names = [p.name for p in r.pools]
    f = go.Figure(go.Bar(x=names, y=[p.peak_load * 100 for p in r.pools], name="planned load at peak"))
    if ver is not None and ver.summary:
        sim_pools: dict[str, float] = {}
        for q in ver.summary.get("pools", []):  # type: ignore[attr-defined]
            key = str(q["pool"]).rsplit("/", 1)[0]  # class/hardware
            sim_pools[key] = max(sim_pools.get(key, 0.0), float(q["utilisation"]))
        f.add_trace(go.Bar(x=names, y=[sim_pools.get("/".join(n.split("/")[:2]), math.nan) * 100 for n in names],
                           name="simulated busy time (busiest pool of that class and hardware)"))
    f.update_layout(title="Utilisation per pool", yaxis_title="%", barmode="group")
    figs.append(f)
    return figs


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(r: PlanResult, path: Path) -> Path:
    sc, sol = r.scenario, r.solution
    pools = _table(
        ["pool", "hardware", "layout", "replicas", "chips", "IT MW", "facility MW", "capex $M", "opex $M/yr",
         "$/M out tok", "per-user tok/s", "load at peak"],
        [[p.name, p.hw_id, p.layout + (f" + spec {p.speculative}" if p.speculative else ""), f"{p.replicas:,}",
          f"{p.chips:,}", f"{p.it_mw:,.3f}", f"{p.facility_mw:,.3f}", f"{p.capex_usd / 1e6:,.2f}",
          f"{p.opex_usd_per_year / 1e6:,.2f}", f"{p.usd_per_mtok:,.3f}", f"{p.per_user_tok_s:,.0f}",
          f"{p.peak_load:.0%}"] for p in r.pools])
    ver = r.verification
    checks = "" if ver is None else _table(
        ["class", "simulated", "requests", "TTFT p99 ms", "TPOT p99 ms", "SLO attainment", "met", "note"],
        [[c.name, str(c.simulated), f"{c.requests:,}", f"{c.ttft_p99_s * 1e3:,.1f}", f"{c.tpot_p99_s * 1e3:,.2f}",
          f"{c.attainment:.2%}" if c.attainment == c.attainment else "-", "yes" if c.met else "NO", c.note]
         for c in ver.classes])
    binding = "<p>No constraint binds: the plan is the unconstrained optimum.</p>" if not r.binding else _table(
        ["constraint", "detail"], [[b.constraint, b.detail] for b in r.binding])
    parts = [
        f"<h1>Fleet plan: {html.escape(sc.name)}</h1>",
        f"<p>{html.escape(sc.description)}</p>",
        f"<p><b>Objective:</b> {sc.plan.objective}. <b>TCO:</b> ${sol.tco_usd_per_year / 1e6:,.2f}M per year "
        f"(${sol.tco_usd_per_year * sc.plan.horizon_years / 1e6:,.1f}M over {sc.plan.horizon_years:g} years); "
        f"<b>capex</b> ${sum(p.capex_usd for p in r.pools) / 1e6:,.1f}M; <b>facility power</b> "
        f"{sol.peak_facility_mw:,.3f} MW peak at PUE {sc.facility.pue:g}"
        + (f" of a {sc.plan.power_budget_mw:,.0f} MW budget" if sc.plan.power_budget_mw else "") + ".</p>",
        "<h2>Pools</h2>", pools, "<h2>Binding constraints</h2>", binding,
        "<h2>Simulation check</h2>",
        "" if ver is None else (f"<p>{ver.requests:,} requests over {ver.duration_s:,.0f} simulated s on "
                                f"{ver.sim_replicas} replicas (slice fraction {ver.slice_fraction:.4f}: each "
                                f"replica carries its full-fleet load).</p>" + checks),
        "<h2>Cost formulas</h2>", f"<pre>{html.escape(FORMULAS)}</pre>",
    ]
    for i, fig in enumerate(figures(r)):
        parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False))
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}")
    doc = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(sc.name)} plan</title>"
           f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")
    return path


__all__ = ["figures", "write_report"]
