"""The plan report's charts, built from ``plan.json`` (plus ``cost_over_time`` and the simulated latencies):
report.html and the dashboard draw the same figures. Each function returns ``None`` when it has nothing
honest to draw (one Pareto point is a sentence, not a chart)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from tokenfleet.plan.report_tables import LOW_LOAD, pool_classes
from tokenfleet.viz import theme as T
from tokenfleet.viz.charts import cdf_panels
from tokenfleet.viz.fmt import money, mw, pct, sig

COMPONENT_COLOURS = {"depreciation": "#2563eb", "energy": "#d97706", "facility": "#6b7280", "rent": "#7c3aed",
                     "financing": "#be185d"}


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) else None


def cost_components(pj: dict[str, Any]) -> go.Figure | None:
    cot = pj.get("cost_over_time")
    if not cot:
        return None
    comp = {k: v for k, v in cot["tco_by_component_usd_per_year"].items() if v > 0}
    if not comp:
        return None
    total = sum(comp.values())
    names = list(comp)[::-1]
    vals = [comp[k] for k in names]
    fig = T.new(height=60 + 42 * len(names))
    div = T.money_axis(fig, "x", "cost", vals, per_year=True)
    fig.add_trace(go.Bar(y=names, x=[v / div for v in vals], orientation="h", showlegend=False,
                         marker_color=[COMPONENT_COLOURS.get(k, T.colour(0)) for k in names],
                         text=[f"{money(v)} ({pct(v / total)})" for v in vals], textposition="outside",
                         cliponaxis=False, hoverinfo="text"))
    fig.update_xaxes(range=T.pad_range([v / div for v in vals], pad=0.35))
    T.axis(fig, "y", "component")
    return fig


def cash_flow(pj: dict[str, Any]) -> go.Figure | None:
    cot = pj.get("cost_over_time")
    if not cot or not cot["years"]:
        return None
    years = cot["years"]
    xs = [f"year {y['year']}" for y in years]
    deal = [y.get("deal_payments_usd") for y in years]
    allv = [y["cost_usd"] for y in years] + [y["cash_out_usd"] for y in years] + [d or 0.0 for d in deal]
    fig = T.new(height=380)
    div = T.money_axis(fig, "y", "cost", allv)
    for k in ("depreciation", "energy", "facility", "rent", "financing"):
        vals = [y[f"{k}_usd"] for y in years]
        if any(v > 0 for v in vals):
            fig.add_trace(go.Bar(x=xs, y=[v / div for v in vals], name=k, marker_color=COMPONENT_COLOURS[k],
                                 hovertext=[f"{k}: {money(v)}" for v in vals], hoverinfo="text"))
    fig.add_trace(go.Scatter(x=xs, y=[y["cash_out_usd"] / div for y in years], mode="markers+text",
                             name="cash out (capex when delivered + opex)", marker={"symbol": "diamond", "size": 11,
                                                                                  "color": T.MARK},
                             text=[money(y["cash_out_usd"]) for y in years], textposition="top center",
                             cliponaxis=False, hoverinfo="text",
                             hovertext=[f"cash out {money(y['cash_out_usd'])}" for y in years]))
    if any(d is not None for d in deal):
        fig.add_trace(go.Scatter(x=xs, y=[(d or 0.0) / div for d in deal], mode="markers", name="deal payments",
                                 marker={"symbol": "x", "size": 11, "color": "#b91c1c"},
                                 hovertext=[money(d) for d in deal], hoverinfo="text"))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(range=T.pad_range([v / div for v in allv], pad=0.18))
    T.axis(fig, "x", "year of the horizon")
    return fig


def by_vendor(pj: dict[str, Any]) -> go.Figure:
    vendors: dict[str, dict[str, float]] = {}
    for q in pj.get("pools", []):
        v = vendors.setdefault(str(q.get("vendor")), {"capex": 0.0, "tco": 0.0, "mw": 0.0})
        v["capex"] += _num(q.get("capex_usd")) or 0.0
        v["tco"] += _num(q.get("tco_usd_per_year")) or 0.0
        v["mw"] += _num(q.get("facility_mw")) or 0.0
    names = sorted(vendors)
    fig = T.new(height=70 + 34 * max(2, len(names)), cols=3)
    cols = [T.vendor_colour(n, i) for i, n in enumerate(names)]
    for c, key in enumerate(("capex", "tco", "mw"), start=1):
        vals = [vendors[n][key] for n in names]
        if key == "mw":
            div = T.power_axis(fig, "x", "planned peak", vals, row=1, col=c)
            text = [mw(v) for v in vals]
        else:
            div = T.money_axis(fig, "x", "capex" if key == "capex" else "TCO", vals, row=1, col=c,
                               per_year=key == "tco")
            text = [money(v) for v in vals]
        fig.add_trace(go.Bar(y=names, x=[v / div for v in vals], orientation="h", marker_color=cols, text=text,
                             textposition="outside", cliponaxis=False, showlegend=False, hoverinfo="text"),
                      row=1, col=c)
        fig.update_xaxes(range=T.pad_range([v / div for v in vals], pad=0.45), row=1, col=c)
        T.axis(fig, "y", "vendor", row=1, col=c)
    return fig


def by_class(pj: dict[str, Any]) -> go.Figure | None:
    rows = pj.get("cost_by_class") or []
    if not rows:
        return None
    dep = _num(pj.get("depreciation_years")) or 1.0
    names = [str(k["class"]) for k in rows][::-1]
    capex = [(_num(k.get("capex_usd")) or 0.0) / dep for k in rows][::-1]
    opex = [_num(k.get("opex_usd_per_year")) or 0.0 for k in rows][::-1]
    tot = [a + b for a, b in zip(capex, opex, strict=True)]
    fig = T.new(height=80 + 40 * len(names))
    div = T.money_axis(fig, "x", "TCO", tot, per_year=True)
    fig.add_trace(go.Bar(y=names, x=[v / div for v in capex], orientation="h", name="depreciation of capex",
                         marker_color=COMPONENT_COLOURS["depreciation"], hoverinfo="text",
                         hovertext=[money(v) for v in capex]))
    fig.add_trace(go.Bar(y=names, x=[v / div for v in opex], orientation="h", name="opex (energy, facility, rent)",
                         marker_color=COMPONENT_COLOURS["energy"], hoverinfo="text",
                         hovertext=[money(v) for v in opex]))
    share = [_num(k.get("share_of_tco")) for k in rows][::-1]
    fig.add_trace(go.Scatter(y=names, x=[v / div for v in tot], mode="text", showlegend=False, hoverinfo="skip",
                             text=[f"  {money(v)} ({pct(s)})" for v, s in zip(tot, share, strict=True)],
                             textposition="middle right", cliponaxis=False))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(range=T.pad_range([v / div for v in tot], pad=0.45))
    T.axis(fig, "y", "traffic class")
    return fig


def power(pj: dict[str, Any]) -> go.Figure | None:
    t = pj.get("totals", {})
    pw = pj.get("power") if isinstance(pj.get("power"), dict) else None
    if pw:
        bars = [("provisioned", _num(pw.get("provisioned_mw"))), ("modelled peak draw", _num(pw.get("peak_draw_mw"))),
                ("modelled average draw", _num(pw.get("average_draw_mw")))]
        budget = _num(pw.get("budget_mw"))
    else:
        plate = sum(_num(b.get("nameplate_facility_mw")) or 0.0 for b in pj.get("bill_of_materials", []))
        bars = [("units' nameplate x PUE", plate or None), ("modelled peak draw", _num(t.get("facility_mw"))),
                ("modelled average draw", _num(t.get("avg_facility_mw")))]
        budget = _num(pj.get("power_budget_mw"))
    drawn: list[tuple[str, float]] = [(k, v) for k, v in bars if v is not None]
    if not drawn:
        return None
    vals = [v for _, v in drawn] + ([budget] if budget else [])
    fig = T.new(height=90 + 44 * len(drawn))
    div = T.power_axis(fig, "x", "facility power", [v for v in vals if v is not None])
    names = [k for k, _ in drawn][::-1]
    xs = [v for _, v in drawn][::-1]
    fig.add_trace(go.Bar(y=names, x=[v / div for v in xs], orientation="h", showlegend=False,
                         marker_color=["#9ca3af", "#d97706", "#2563eb"][: len(xs)][::-1],
                         text=[mw(v) for v in xs], textposition="outside", cliponaxis=False, hoverinfo="text"))
    if budget:
        T.slo_line(fig, x=budget / div, text=f"budget {mw(budget)}", colour_="#b91c1c")
    T.axis(fig, "y", "measure")
    fig.update_xaxes(range=T.pad_range([v / div for v in vals if v is not None], pad=0.3))
    return fig


def pareto(pj: dict[str, Any]) -> go.Figure | None:
    pts = [q for q in pj.get("pareto_cost_vs_mw", []) if _num(q.get("tco_usd_per_year")) is not None
           and _num(q.get("facility_mw")) is not None]
    if len({(round(q["facility_mw"], 9), round(q["tco_usd_per_year"], 2)) for q in pts}) < 2:
        return None  # one fleet: a sentence in the report, not a chart
    pts.sort(key=lambda q: q["facility_mw"])
    t = pj.get("totals", {})
    mws = [q["facility_mw"] for q in pts] + [t.get("facility_mw", 0.0)]
    costs = [q["tco_usd_per_year"] for q in pts] + [t.get("tco_usd_per_year", 0.0)]
    fig = T.new(height=360)
    xdiv = T.power_axis(fig, "x", "facility power, planned peak", mws)
    ydiv = T.money_axis(fig, "y", "TCO", costs, per_year=True)
    hover = [f"{mw(q['facility_mw'])}: {money(q['tco_usd_per_year'])} ({q.get('status', '')})" for q in pts]
    T.series(fig, [q["facility_mw"] / xdiv for q in pts], [q["tco_usd_per_year"] / ydiv for q in pts],
             "cheapest fleet at each power budget", T.colour(0), step=True, hover=hover)
    T.mark(fig, t.get("facility_mw", 0.0) / xdiv, t.get("tco_usd_per_year", 0.0) / ydiv,
           f"this plan: {money(t.get('tco_usd_per_year'))}, {mw(t.get('facility_mw'))}")
    fig.update_yaxes(range=T.pad_range([c / ydiv for c in costs]))
    return fig


def slo_curve(pj: dict[str, Any]) -> go.Figure | None:
    pts = [q for q in pj.get("pareto_cost_vs_slo", []) if _num(q.get("slo_factor")) is not None]
    ok = [q for q in pts if _num(q.get("tco_usd_per_year")) is not None]
    if len(ok) < 2:
        return None
    ok.sort(key=lambda q: q["slo_factor"])
    xs = [q["slo_factor"] for q in ok]
    ys = [q["tco_usd_per_year"] for q in ok]
    fig = T.new(height=360)
    div = T.money_axis(fig, "y", "TCO", ys, per_year=True)
    T.axis(fig, "x", "SLO factor: every latency target × factor (log scale; < 1 is tighter)")
    fig.update_xaxes(type="log", tickvals=xs, ticktext=[f"{sig(x)}×" for x in xs])
    hover = [f"{sig(q['slo_factor'])}×: {money(q['tco_usd_per_year'])}; {q.get('note') or q.get('status', '')}"
             for q in ok]
    T.series(fig, xs, [y / div for y in ys], "cheapest fleet", T.colour(0), step=True, hover=hover,
             text=[money(y) for y in ys])
    cur = next((q for q in ok if abs(q["slo_factor"] - 1.0) < 1e-9), None)
    lab = [(x, y) for x, y in zip(xs, ys, strict=True) if cur is None or x != cur["slo_factor"]]
    fig.add_trace(go.Scatter(x=[x for x, _ in lab], y=[y / div for _, y in lab], mode="text",
                             text=[money(y) for _, y in lab], textposition="top right", showlegend=False,
                             hoverinfo="skip", cliponaxis=False))
    tco = pj.get("totals", {}).get("tco_usd_per_year")
    if tco is not None:
        at = cur["tco_usd_per_year"] if cur else tco
        T.mark(fig, 1.0, at / div, f"this plan (1×): {money(at)}", position="bottom center")
    bad = [q["slo_factor"] for q in pts if _num(q.get("tco_usd_per_year")) is None]
    if bad:
        fig.add_annotation(text="no fleet at " + ", ".join(f"{sig(x)}×" for x in bad), xref="paper", yref="paper",
                           x=0, y=1.0, xanchor="left", yanchor="bottom", showarrow=False, font={"size": 11})
    fig.update_yaxes(range=T.pad_range([y / div for y in ys], pad=0.2))
    return fig


def breakpoints(pj: dict[str, Any]) -> go.Figure | None:
    bps = [b for b in pj.get("slo_breakpoints") or [] if _num(b.get("value")) is not None]
    if not bps:
        return None
    classes = list(dict.fromkeys(str(b["class"]) for b in bps))
    fig = T.new(height=300 * len(classes), rows=len(classes), titles=[f"class {c}" for c in classes], vspace=0.18)
    allc = [v for b in bps for v in (_num(b.get("tco_tighter_usd")), _num(b.get("tco_looser_usd"))) if v is not None]
    div = T.money_axis(fig, "y", "TCO", allc, row=1, col=1, per_year=True)
    for i, c in enumerate(classes, start=1):
        mine = [b for b in bps if str(b["class"]) == c]
        slo = str(mine[0].get("slo", "SLO"))
        for b in mine:
            x = float(b["value"])
            lo, hi = _num(b.get("tco_tighter_usd")), _num(b.get("tco_looser_usd"))
            ys = [v / div for v in (lo, hi) if v is not None]
            fig.add_trace(go.Scatter(x=[x] * len(ys), y=ys, mode="lines+markers+text", showlegend=False,
                                     line={"color": T.colour(0), "width": 3}, marker={"size": 9},
                                     text=[f"tighter: {money(lo)}", f"looser: {money(hi)}"][: len(ys)],
                                     textposition="middle right", cliponaxis=False, hoverinfo="text"), row=i, col=1)
        T.axis(fig, "x", slo, row=i, col=1)
        if i > 1:
            T.money_axis(fig, "y", "TCO", allc, row=i, col=1, per_year=True)
    return fig


def tornado(pj: dict[str, Any]) -> go.Figure | None:
    rows = [s for s in pj.get("sensitivity") or [] if _num(s.get("tco_low_usd")) is not None
            or _num(s.get("tco_high_usd")) is not None]
    base = _num(pj.get("totals", {}).get("tco_usd_per_year"))
    if not rows or base is None:
        return None

    def swing(s: dict[str, Any]) -> float:
        vals = [v for v in (_num(s.get("tco_low_usd")), _num(s.get("tco_high_usd"))) if v is not None]
        return max(abs(v - base) for v in vals) if vals else 0.0

    rows.sort(key=swing)
    names = [f"{s['input']} ({sig(s['low']) if _num(s.get('low')) is not None else '–'} … "
             f"{sig(s['high']) if _num(s.get('high')) is not None else '–'})" for s in rows]
    allv = [base] + [v for s in rows for v in (_num(s.get("tco_low_usd")), _num(s.get("tco_high_usd")))
                     if v is not None]
    fig = T.new(height=90 + 34 * len(rows))
    div = T.money_axis(fig, "x", "TCO", allv, per_year=True)
    for key, label, col in (("tco_low_usd", "input at its low value", "#2563eb"),
                            ("tco_high_usd", "input at its high value", "#d97706")):
        vals = [_num(s.get(key)) for s in rows]
        fig.add_trace(go.Bar(y=names, x=[((v if v is not None else base) - base) / div for v in vals], base=base / div,
                             orientation="h", name=label, marker_color=col,
                             hovertext=[money(v) for v in vals], hoverinfo="text"))
    fig.update_layout(barmode="overlay")
    T.slo_line(fig, x=base / div, text=f"this plan {money(base)}")
    T.axis(fig, "y", "input (low … high)")
    return fig


def latency_cdfs(pj: dict[str, Any], latencies: Mapping[str, Mapping[str, Sequence[float]]] | None,
                 metric: str) -> go.Figure | None:
    """Small multiples, one per class: the simulated CDF of ``metric`` (ttft_s | tpot_s) with the SLO line."""
    if not latencies:
        return None
    label = {"ttft_s": "TTFT", "tpot_s": "TPOT"}[metric]
    slos = {str(c.get("class")): _num(c.get("ttft_p99_ms" if metric == "ttft_s" else "tpot_p99_ms"))
            for c in pj.get("classes", [])}
    return cdf_panels({n: v.get(metric, []) for n, v in latencies.items()}, slos, label)


def load(pj: dict[str, Any]) -> go.Figure:
    pools = pj.get("pools", [])
    names = [str(q.get("name")) for q in pools][::-1]
    vals = [(_num(q.get("peak_load")) or 0.0) * 100 for q in pools][::-1]
    colours = ["#b91c1c" if v >= 95 else "#d97706" if v < LOW_LOAD * 100 else T.colour(0) for v in vals]
    fig = T.new(height=90 + 34 * len(names))
    fig.add_trace(go.Bar(y=names, x=vals, orientation="h", marker_color=colours, showlegend=False,
                         text=[f"{v:.0f}%" if v >= 1 else f"{sig(v, 2)}%" for v in vals], textposition="outside",
                         cliponaxis=False, hoverinfo="text"))
    T.axis(fig, "x", "planned peak over capacity at the SLO", "%", range=[0, max(118.0, max(vals, default=0) * 1.15)])
    T.slo_line(fig, x=100, text="capacity at the SLO")
    T.axis(fig, "y", "pool")
    return fig


def planned_rates(pj: dict[str, Any]) -> go.Figure | None:
    ver = pj.get("verification") or {}
    cls = [c for c in ver.get("classes", []) if _num(c.get("planned_rps")) is not None]
    if not cls:
        return None
    names = [str(c["class"]) for c in cls]
    fig = T.new(height=320)
    for key, label, col in (("planned_rps", "planned (per simulated slice)", T.colour(0)),
                            ("simulated_rps", "simulated", T.colour(2))):
        vals = [_num(c.get(key)) or 0.0 for c in cls]
        fig.add_trace(go.Bar(x=names, y=vals, name=label, marker_color=col, text=[sig(v) for v in vals],
                             textposition="outside", cliponaxis=False))
    T.axis(fig, "y", "request rate", "req/s")
    T.axis(fig, "x", "traffic class")
    fig.update_layout(barmode="group")
    return fig


def pool_classes_of(pj: dict[str, Any]) -> dict[str, list[str]]:
    return {str(q.get("name")): pool_classes(q) for q in pj.get("pools", [])}


__all__ = ["breakpoints", "by_class", "by_vendor", "cash_flow", "cost_components", "latency_cdfs", "load", "pareto",
           "planned_rates", "power", "slo_curve", "tornado"]
