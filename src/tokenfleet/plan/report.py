"""Self-contained ``report.html`` of a plan: tables plus plotly charts (Pareto frontiers, cost and power by
vendor, latency CDFs per class from the simulation, utilisation); plotly.js is embedded once."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tokenfleet.plan.economics import FORMULAS
from tokenfleet.plan.planner import PlanResult
from tokenfleet.plan.text import money, mw, num, pct

CDF_POINTS = 400


def _cdf(values: list[float]) -> tuple[list[float], list[float]]:
    v = np.asarray(values)
    if v.size == 0:
        return [], []
    idx = np.unique(np.linspace(0, v.size - 1, min(CDF_POINTS, v.size)).astype(int))
    return [float(x) for x in v[idx]], [float((i + 1) / v.size) for i in idx]


LEGEND = {"orientation": "h", "yanchor": "top", "y": -0.22, "x": 0}  # below the x-axis title, covering nothing


def _layout(f: go.Figure, title: str, x: str, y: str) -> go.Figure:
    f.update_layout(title=title, xaxis_title=x, yaxis_title=y, legend=LEGEND, template="plotly_white",
                    margin={"t": 60, "b": 110, "l": 70, "r": 20}, height=420)
    return f


def _curve(f: go.Figure, pts: list, xs: list[float], ys: list[float], name: str) -> None:
    """A curve whose markers say which points were simulated (filled) and which are estimates (open)."""
    f.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=name, line={"color": "#2563eb"}))
    for sim, label, sym in ((True, "simulated", "circle"), (False, "estimated (not simulated)", "circle-open")):
        sel = [i for i, q in enumerate(pts) if q.simulated == sim]
        if sel:
            f.add_trace(go.Scatter(x=[xs[i] for i in sel], y=[ys[i] for i in sel], mode="markers", name=label,
                                   marker={"size": 10, "symbol": sym, "color": "#2563eb"},
                                   text=[pts[i].status + (f"; {pts[i].note}" if pts[i].note else "") for i in sel]))


def figures(r: PlanResult) -> list[go.Figure]:
    figs = []
    if r.pareto_mw:
        pts = r.pareto_mw
        xs, ys = [q.facility_mw or 0.0 for q in pts], [(q.tco_usd_per_year or 0) / 1e6 for q in pts]
        f = go.Figure()
        _curve(f, pts, xs, ys, "cheapest fleet at each MW")
        f.add_trace(go.Scatter(x=[r.solution.peak_facility_mw], y=[r.solution.tco_usd_per_year / 1e6],
                               mode="markers", marker={"size": 16, "symbol": "star", "color": "#dc2626"}, name="plan"))
        _layout(f, "Pareto frontier: TCO against facility power", "facility MW (peak)", "TCO, $M per year")
        allx = [*xs, r.solution.peak_facility_mw]
        lo, hi = min(allx), max(allx)
        if hi - lo < 1e-9 * max(1.0, hi):  # one fleet: centre it instead of plotly's default axis around 0
            f.update_xaxes(range=[lo * 0.8, hi * 1.2])
            f.add_annotation(text="one fleet: no cheaper fleet uses less power", showarrow=False, x=lo, y=ys[0],
                             yshift=24)
        figs.append(f)
    feas = [q for q in r.pareto_slo if q.tco_usd_per_year is not None]
    if feas:
        f = go.Figure()
        _curve(f, feas, [q.x for q in feas], [(q.tco_usd_per_year or 0) / 1e6 for q in feas], "cheapest fleet")
        _layout(f, "TCO against SLO tightness (every TTFT / TPOT target x factor; < 1 is tighter)",
                "SLO factor (x every latency target)", "TCO, $M per year")
        f.update_xaxes(type="log")
        figs.append(f)
    vendors = sorted({p.vendor for p in r.pools})
    f = make_subplots(rows=1, cols=3, subplot_titles=("capex, $M", "opex, $M per year", "facility MW (peak)"))
    for col, vals in enumerate((
            [sum(p.capex_usd for p in r.pools if p.vendor == v) / 1e6 for v in vendors],
            [sum(p.opex_usd_per_year for p in r.pools if p.vendor == v) / 1e6 for v in vendors],
            [sum(p.facility_mw for p in r.pools if p.vendor == v) for v in vendors]), start=1):
        f.add_trace(go.Bar(x=vendors, y=vals, showlegend=False, marker_color="#2563eb"), row=1, col=col)
    f.update_layout(title="Cost and power by vendor", template="plotly_white", height=380,
                    margin={"t": 90, "b": 60, "l": 60, "r": 20})
    figs.append(f)
    if r.class_costs:
        names = [k.name for k in r.class_costs]
        f = go.Figure()
        f.add_trace(go.Bar(x=names, y=[k.capex_usd / r.scenario.facility.depreciation_years / 1e6
                                       for k in r.class_costs], name="capex / depreciation years"))
        f.add_trace(go.Bar(x=names, y=[k.opex_usd_per_year / 1e6 for k in r.class_costs], name="opex"))
        f.update_layout(barmode="stack")
        _layout(f, "TCO by traffic class ($M per year)", "traffic class", "TCO, $M per year")
        figs.append(f)
    ver = r.verification
    if ver is not None and ver.latencies:
        for metric, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT")):
            f = go.Figure()
            for name, lat in ver.latencies.items():
                x, y = _cdf(lat.get(metric, []))
                f.add_trace(go.Scatter(x=[v * 1e3 for v in x], y=y, mode="lines", name=name))
            _layout(f, f"{label} CDF per class (simulated)", f"{label}, ms", "fraction of requests")
            f.update_xaxes(type="log")
            figs.append(f)
    names = [p.name for p in r.pools]
    f = go.Figure(go.Bar(x=names, y=[p.peak_load * 100 for p in r.pools], name="planned peak load"))
    f.add_hline(y=100, line_dash="dash", annotation_text="capacity at the SLO")
    _layout(f, "Peak load over capacity at the SLO, per pool (100 % = no headroom)", "pool",
            "% of capacity at the SLO")
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
         "$/M out tok", "per-user tok/s", "load at peak", "headroom", "units"],
        [[p.name, p.hw_id, p.layout + (f" + spec {p.speculative}" if p.speculative else ""), f"{p.replicas:,}",
          f"{p.chips:,}", f"{p.it_mw:,.3f}", f"{p.facility_mw:,.3f}", f"{p.capex_usd / 1e6:,.2f}",
          f"{p.opex_usd_per_year / 1e6:,.2f}", f"{p.usd_per_mtok:,.3f}", f"{p.per_user_tok_s:,.0f}",
          f"{p.peak_load:.0%}", pct(p.headroom), f"{p.units:,} x {p.unit_name}"] for p in r.pools])
    ver = r.verification
    checks = "" if ver is None else _table(
        ["class", "simulated", "requests", "TTFT p99 ms", "TPOT p99 ms", "SLO attainment", "met", "note"],
        [[c.name, str(c.simulated), f"{c.requests:,}", f"{c.ttft_p99_s * 1e3:,.1f}", f"{c.tpot_p99_s * 1e3:,.2f}",
          f"{c.attainment:.2%}" if c.attainment == c.attainment else "-", "yes" if c.met else "NO", c.note]
         for c in ver.classes])
    binding = "<p>No constraint binds: the plan is the unconstrained optimum.</p>" if not r.binding else _table(
        ["constraint", "detail"], [[b.constraint, b.detail] for b in r.binding])
    bom = _table(["hardware", "unit", "count", "chips", "facility MW (planned peak)", "nameplate MW x PUE", "capex",
                  "lead time"],
                 [[str(b["hardware"]), str(b["unit"]), f"{b['count']:,}", f"{b['chips']:,}",
                   mw(float(b["facility_mw"])), mw(float(b["nameplate_facility_mw"])),  # type: ignore[arg-type]
                   money(float(b["capex_usd"])), f"{float(b['lead_time_months']):g} months"]  # type: ignore[arg-type]
                  for b in r.bill_of_materials])
    by_class = _table(["class", "capex", "opex / yr", "TCO / yr", "share of TCO", "$ per M output tokens"],
                      [[k.name, money(k.capex_usd), money(k.opex_usd_per_year), money(k.tco_usd_per_year),
                        pct(k.share_of_tco), num(k.usd_per_mtok)] for k in r.class_costs])
    shadow = "" if not r.shadow else _table(
        ["constraint / SLO", "relaxed by 10 %", "saves per year" if sc.plan.objective == "cost" else "gain",
         "of the objective"],
        [[s_.constraint, s_.change, "infeasible" if s_.saving is None else
          (money(s_.saving) if sc.plan.objective == "cost" else num(s_.saving)), pct(s_.saving_frac)]
         for s_ in r.shadow])
    parts = [
        f"<h1>Fleet plan: {html.escape(sc.name)}</h1>",
        f"<p>{html.escape(sc.description)}</p>",
        f"<p><b>Objective:</b> {sc.plan.objective}. <b>TCO:</b> ${sol.tco_usd_per_year / 1e6:,.2f}M per year "
        f"(${sol.tco_usd_per_year * sc.plan.horizon_years / 1e6:,.1f}M over {sc.plan.horizon_years:g} years); "
        f"<b>capex</b> ${sum(p.capex_usd for p in r.pools) / 1e6:,.1f}M (depreciated over "
        f"{sc.facility.depreciation_years:g} years in the TCO); <b>facility power</b> "
        f"{sol.peak_facility_mw:,.3f} MW peak at PUE {sc.facility.pue:g}"
        + (f" of a {sc.plan.power_budget_mw:,.0f} MW budget" if sc.plan.power_budget_mw else "") + ".</p>",
        "<h2>Pools</h2>", pools, "<h2>What to order</h2>", bom, "<h2>Cost by traffic class</h2>", by_class,
        "<h2>Binding constraints</h2>", binding, "<h2>What relaxing each constraint or SLO by 10 % saves</h2>", shadow,
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
