"""Charts more than one report draws: latency CDFs per class with their SLO lines, labelled horizontal bars,
and time series as small multiples on one time axis."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from tokenfleet.viz import theme as T
from tokenfleet.viz.fmt import Kind, cell, ms

CDF_POINTS = 300


def cdf_points(values_s: Sequence[float] | np.ndarray) -> tuple[list[float], list[float]]:
    """(x in ms, share of requests at or below in %) at up to :data:`CDF_POINTS` points."""
    v = np.sort(np.asarray(values_s, dtype=float))
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return [], []
    idx = np.unique(np.linspace(0, v.size - 1, min(CDF_POINTS, v.size)).astype(int))
    return (v[idx] * 1e3).tolist(), ((idx + 1) / v.size * 100).tolist()


def cdf_panels(samples_s: Mapping[str, Sequence[float] | np.ndarray], slo_ms: Mapping[str, float | None],
               label: str) -> go.Figure | None:
    """One panel per class: the CDF of ``label`` (TTFT / TPOT / E2E) on a log ms axis, with the class's p99
    SLO as a dashed line and the 99th percentile dotted."""
    names = [n for n, v in samples_s.items() if len(v)]
    if not names:
        return None
    cols = min(3, len(names))
    nrows = math.ceil(len(names) / cols)
    fig = T.new(height=290 * nrows + 40, rows=nrows, cols=cols, titles=[f"class {n}" for n in names], vspace=0.2)
    for i, n in enumerate(names):
        r, c = i // cols + 1, i % cols + 1
        xs, ys = cdf_points(samples_s[n])
        slo = slo_ms.get(n)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=n, line={"color": T.colour(i), "width": 2},
                                 showlegend=False, hovertemplate="%{x:,.3~r} ms: %{y:.1f}%<extra></extra>"),
                      row=r, col=c)
        T.axis(fig, "x", label, "ms", log=True, values=xs + ([slo] if slo else []), row=r, col=c)
        T.axis(fig, "y", "requests at or below", "%", row=r, col=c, range=[0, 103])
        fig.add_hline(y=99, line={"dash": "dot", "color": "#9ca3af", "width": 1}, row=r, col=c)
        if slo:
            T.slo_line(fig, x=slo, text=f"p99 SLO {ms(slo)}", row=r, col=c, log=True)
        else:
            ax = fig.get_subplot(r, c)
            fig.add_annotation(text="no SLO on this metric", xref=f"{ax.xaxis.plotly_name.replace('axis', '')} domain",
                               yref=f"{ax.yaxis.plotly_name.replace('axis', '')} domain", x=0.02, y=0.02,
                               showarrow=False, xanchor="left", yanchor="bottom",
                               font={"size": 11, "color": "#6b7280"})
    return fig


def hbar(names: Sequence[str], values: Sequence[float], kind: Kind, axis_title: str, axis_unit: str = "", *,
         scale: float = 1.0, colours: Sequence[str] | None = None, line: float | None = None,
         line_text: str = "", max_value: float | None = None, names_title: str = "") -> go.Figure:
    """Labelled horizontal bars (first name on top); ``scale`` divides the plotted values (the labels keep the
    full value); ``line``: a dashed reference line (in plotted units)."""
    n = list(names)[::-1]
    v = list(values)[::-1]
    fig = T.new(height=80 + 36 * max(2, len(n)))
    fig.add_trace(go.Bar(y=n, x=[x / scale for x in v], orientation="h", showlegend=False,
                         marker_color=list(colours)[::-1] if colours else T.colour(0),
                         text=[cell(x, kind) for x in v], textposition="outside", cliponaxis=False,
                         hoverinfo="text", hovertext=[f"{a}: {cell(x, kind)}" for a, x in zip(n, v, strict=True)]))
    top = max([x / scale for x in v] + ([line] if line is not None else []) + ([max_value] if max_value else []))
    T.axis(fig, "x", axis_title, axis_unit, range=[0, top * 1.25 if top > 0 else 1])
    if line is not None:
        T.slo_line(fig, x=line, text=line_text)
    T.axis(fig, "y", names_title or "name")
    return fig


def time_panels(t_s: Sequence[float], panels: Sequence[tuple[str, str, Mapping[str, Sequence[float]]]],
                height_per_panel: int = 180) -> go.Figure:
    """Small multiples on one time axis: each panel ``(title, unit, {series name: values})``; a series keeps
    its colour in every panel and appears once in the legend."""
    rows = len(panels)
    fig = T.new(height=height_per_panel * rows + 70, rows=rows, shared_x=True, vspace=0.045)
    names = list(dict.fromkeys(n for _, _, s in panels for n in s))
    t_min = [t / 60 for t in t_s] if t_s and max(t_s) > 600 else list(t_s)
    unit = "min" if t_s and max(t_s) > 600 else "s"
    for r, (title, u, series) in enumerate(panels, start=1):
        for name, vals in series.items():
            i = names.index(name)
            fig.add_trace(go.Scatter(x=t_min, y=list(vals), mode="lines", name=name, legendgroup=name,
                                     showlegend=r == 1, line={"color": T.colour(i), "width": 1.6, "shape": "hv"},
                                     hovertemplate=f"{name}: %{{y:,.3~r}} {u}<extra></extra>"), row=r, col=1)
        T.axis(fig, "y", title, u, row=r, col=1, rangemode="tozero")
    T.axis(fig, "x", "simulated time", unit, row=rows, col=1)
    return fig


__all__ = ["cdf_panels", "cdf_points", "hbar", "time_panels"]
