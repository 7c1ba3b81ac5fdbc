"""The dashboard's charts and tables as plain JSON: plotly figures (``{"data", "layout"}``, drawn by the page
with ``Plotly.newPlot`` and embedded in report.html) and tables (``{"title", "columns", "rows"}``)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

CDF_POINTS = 300
PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d", "#4d7c0f")


def fig_json(fig_id: str, title: str, fig: go.Figure) -> dict[str, Any]:
    fig.update_layout(margin={"t": 40, "l": 60, "r": 20, "b": 50}, height=340, template="plotly_white",
                      legend={"orientation": "h", "y": -0.2}, title={"text": title, "font": {"size": 14}})
    return {"id": fig_id, "title": title, "figure": json.loads(fig.to_json())}


def table(table_id: str, title: str, columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"id": table_id, "title": title, "columns": columns, "rows": [[_cell(v) for v in r] for r in rows]}


def _cell(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def cdf_figure(fig_id: str, title: str, samples_s: dict[str, np.ndarray], slo_ms: dict[str, float | None]) -> dict[
        str, Any]:
    """Empirical CDF per class (x in ms, log axis), each class's SLO as a dashed line of its colour."""
    fig = go.Figure()
    for i, (name, xs) in enumerate(samples_s.items()):
        v = np.sort(np.asarray(xs, dtype=float))
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        idx = np.unique(np.linspace(0, v.size - 1, min(CDF_POINTS, v.size)).astype(int))
        colour = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=(v[idx] * 1e3).tolist(), y=((idx + 1) / v.size).tolist(), mode="lines", name=name,
                                 line={"color": colour}))
        slo = slo_ms.get(name)
        if slo:
            fig.add_vline(x=slo, line_dash="dash", line_color=colour, opacity=0.6)
    fig.update_xaxes(title="ms", type="log")
    fig.update_yaxes(title="fraction of requests", range=[0, 1.02])
    return fig_json(fig_id, title, fig)


def vendor_figure(fig_id: str, by_vendor: dict[str, dict[str, float]], cost_key: str, cost_label: str,
                  mw_key: str = "facility_mw") -> dict[str, Any]:
    vendors = sorted(by_vendor)
    fig = make_subplots(rows=1, cols=2, subplot_titles=(cost_label, "facility MW"))
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(vendors))]
    fig.add_trace(go.Bar(x=vendors, y=[by_vendor[v][cost_key] for v in vendors], marker_color=colours,
                         showlegend=False), row=1, col=1)
    fig.add_trace(go.Bar(x=vendors, y=[by_vendor[v][mw_key] for v in vendors], marker_color=colours,
                         showlegend=False), row=1, col=2)
    out = fig_json(fig_id, "Cost and power by vendor", fig)
    out["figure"]["layout"]["margin"]["t"] = 70
    return out


def utilisation_figure(fig_id: str, title: str, names: list[str], values: list[float], axis: str) -> dict[str, Any]:
    fig = go.Figure(go.Bar(x=names, y=[v * 100 for v in values], marker_color=PALETTE[0]))
    fig.update_yaxes(title=axis, range=[0, max(100.0, *(v * 100 for v in values)) * 1.05])
    return fig_json(fig_id, title, fig)


def pareto_figure(fig_id: str, points: list[dict[str, Any]], chosen_mw: float | None,
                  chosen_tco: float | None) -> dict[str, Any]:
    ok = [p for p in points if p["tco_usd_per_year"] is not None]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[p["facility_mw"] for p in ok], y=[p["tco_usd_per_year"] / 1e6 for p in ok],
                             mode="lines+markers", name="frontier", line={"color": PALETTE[0]}))
    if chosen_mw is not None and chosen_tco is not None:
        fig.add_trace(go.Scatter(x=[chosen_mw], y=[chosen_tco / 1e6], mode="markers", name="this plan",
                                 marker={"size": 13, "color": PALETTE[1], "symbol": "star"}))
    fig.update_xaxes(title="facility MW (peak)")
    fig.update_yaxes(title="TCO $M / year")
    xs = [p["facility_mw"] for p in ok] + ([chosen_mw] if chosen_mw is not None else [])
    if xs and max(xs) - min(xs) < 1e-9 * max(1.0, max(xs)):  # one point: centre it instead of plotly's -0.5..1
        fig.update_xaxes(range=[xs[0] * 0.9, xs[0] * 1.1])
    return fig_json(fig_id, "Pareto frontier: cost against MW", fig)


__all__ = ["cdf_figure", "fig_json", "pareto_figure", "table", "utilisation_figure", "vendor_figure"]
