"""The plotly template and the chart rules every report and the dashboard share.

* one template (:data:`TEMPLATE`): the page's font, a white plot, light grid, legend above the plot;
* every axis titled with its unit (:func:`axis`); a log axis says so in its title and labels 1-2-5 ticks
  in full (no "4 5 6 7 8 9 1" minor labels);
* money and power axes scaled to one unit ($M, MW...) chosen from the data (:func:`money_axis`,
  :func:`power_axis`);
* SLO lines (:func:`slo_line`), the current plan marked (:func:`mark`), a series of one point drawn as a
  labelled point (:func:`series`), fleet switches as steps (``line_shape="hv"``);
* no twin axes: several quantities are small multiples (``make_subplots`` with shared x).

Titles of charts live in the page (an HTML heading above each chart), not inside the figure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Literal

import plotly.graph_objects as go

from tokenfleet.viz.fmt import money, scale_for, sig

FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d", "#4d7c0f", "#6b7280",
           "#1e3a8a")
VENDOR_COLOURS = {"NVIDIA": "#4d7c0f", "AMD": "#b91c1c", "Cerebras": "#ea580c", "Groq": "#7c3aed",
                  "Google": "#2563eb", "AWS": "#d97706", "SambaNova": "#0891b2"}
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
MARK = "#111827"  # the current plan, SLO lines' text
GRID = "#e5e7eb"
HEIGHT = 340

_AXIS = {"gridcolor": GRID, "linecolor": "#9ca3af", "showline": True, "zeroline": False, "ticks": "outside",
         "tickcolor": "#9ca3af", "automargin": True, "title": {"standoff": 8, "font": {"size": 12}},
         "tickfont": {"size": 11}}
TEMPLATE = go.layout.Template(layout={
    "font": {"family": FONT, "size": 12, "color": "#1f2937"},
    "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff", "colorway": list(PALETTE),
    "xaxis": _AXIS, "yaxis": _AXIS,
    "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom", "traceorder": "normal",
               "font": {"size": 11}, "bgcolor": "rgba(255,255,255,0)"},
    "margin": {"t": 36, "b": 8, "l": 8, "r": 16, "autoexpand": True},
    "hoverlabel": {"font": {"family": FONT}},
    "bargap": 0.3,
})


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def vendor_colour(vendor: str, i: int = 0) -> str:
    return VENDOR_COLOURS.get(vendor, colour(i))


def new(height: int = HEIGHT, rows: int = 1, cols: int = 1, shared_x: bool = False,
        titles: Sequence[str] = (), vspace: float | None = None) -> go.Figure:
    """A figure on the shared template; with ``rows``/``cols`` > 1, small multiples."""
    if rows * cols > 1 or titles:
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=rows, cols=cols, shared_xaxes=shared_x, subplot_titles=list(titles) or None,
                            vertical_spacing=vspace if vspace is not None else (0.12 if titles else 0.06),
                            horizontal_spacing=0.1)
        for a in fig.layout.annotations:  # subplot titles: the page's size, left-aligned over their plot
            a.update(font={"size": 12}, xanchor="left", x=a.x - 0.5 / cols + 0.01 if cols > 1 else 0.0)
        if titles:  # the legend above the subplot titles, not over them
            fig.update_layout(legend={"yref": "container", "y": 1.0, "yanchor": "top"}, margin={"t": 64})
    else:
        fig = go.Figure()
    fig.update_layout(template=TEMPLATE, height=height, showlegend=True)
    return fig


def log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Tick values covering [lo, hi] on a log axis, each labelled in full: 1-2-5 per decade, powers of ten
    over a wide range, more mantissas over a narrow one."""
    if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
        return [], []
    lo, hi = min(lo, hi), max(lo, hi)

    def ticks(mantissas: tuple[float, ...]) -> list[float]:
        out = []
        for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
            for m in mantissas:
                v = m * 10.0 ** e
                if lo <= v <= hi:
                    out.append(v)
        return out

    vals = ticks((1, 2, 5))
    if len(vals) > 9:  # a wide range: powers of ten only
        vals = ticks((1,))
    elif len(vals) < 3:  # a narrow range
        vals = ticks((1, 1.5, 2, 3, 4, 5, 6, 8))
        if len(vals) > 6:
            vals = vals[:: math.ceil(len(vals) / 6)]
    if len(vals) < 2:
        vals = [lo, math.sqrt(lo * hi), hi]
    out: dict[str, float] = {}
    for v in vals:  # two ticks never read the same
        out.setdefault(sig(v, 3), v)
    return list(out.values()), list(out)


def axis(fig: go.Figure, which: Literal["x", "y"], title: str, unit: str = "", *, log: bool = False,
         values: Sequence[float] = (), row: int | None = None, col: int | None = None, **kw: Any) -> None:
    """Title an axis with its unit; a log axis says so and gets 1-2-5 ticks over ``values``."""
    text = title + (f" ({unit}{', log scale' if log else ''})" if unit else (" (log scale)" if log else ""))
    upd: dict[str, Any] = {"title": {"text": text}, **kw}
    if log:
        upd["type"] = "log"
        pos = [v for v in values if isinstance(v, int | float) and v > 0 and math.isfinite(v)]
        if pos:
            lo, hi = min(pos) / 1.25, max(pos) * 1.25
            tv, tt = log_ticks(lo, hi)
            upd.update(tickvals=tv, ticktext=tt, range=[math.log10(lo), math.log10(hi)])
    sel = {"row": row, "col": col} if row is not None else {}
    (fig.update_xaxes if which == "x" else fig.update_yaxes)(**upd, **sel)


def money_axis(fig: go.Figure, which: Literal["x", "y"], title: str, values: Sequence[float], *,
               row: int | None = None, col: int | None = None, per_year: bool = False) -> float:
    """Title and tick a money axis in the unit its values ask for; returns the divisor to plot with."""
    div, label = scale_for(list(values), "money")
    suffix = label[1:]
    axis(fig, which, title, label + (" per year" if per_year else ""), row=row, col=col, tickprefix="$",
         ticksuffix=suffix, separatethousands=True)
    return div


def power_axis(fig: go.Figure, which: Literal["x", "y"], title: str, values_mw: Sequence[float], *,
               row: int | None = None, col: int | None = None) -> float:
    """Title a power axis in W / kW / MW / GW from its values (given in MW); returns the divisor."""
    div, label = scale_for(list(values_mw), "mw")
    axis(fig, which, title, label, row=row, col=col, separatethousands=True)
    return div


def slo_line(fig: go.Figure, x: float | None = None, y: float | None = None, text: str = "SLO",
             colour_: str = MARK, row: int | None = None, col: int | None = None, log: bool = False) -> None:
    """A dashed line at an SLO (or a budget), labelled at its foot; ``log``: the x axis is a log axis."""
    sel: dict[str, Any] = {"row": row, "col": col} if row is not None else {}
    line = {"dash": "dash", "color": colour_, "width": 1.5}
    font = {"size": 11, "color": colour_}
    if x is not None:
        fig.add_vline(x=x, line=line, **sel)
        ax = fig.get_subplot(row, col) if row is not None else None
        xref = ax.xaxis.plotly_name.replace("axis", "") if ax is not None else "x"
        yref = ax.yaxis.plotly_name.replace("axis", "") if ax is not None else "y"
        fig.add_annotation(x=math.log10(x) if log else x, xref=xref, y=0, yref=f"{yref} domain", text=text,
                           showarrow=False, xanchor="right", yanchor="bottom", font=font,
                           bgcolor="rgba(255,255,255,0.85)")
    if y is not None:
        fig.add_hline(y=y, line=line, annotation={"text": text, "font": font, "bgcolor": "rgba(255,255,255,0.85)"},
                      annotation_position="top left", **sel)


def series(fig: go.Figure, xs: Sequence[Any], ys: Sequence[Any], name: str, colour_: str, *,
           step: bool = False, text: Sequence[str] | None = None, hover: Sequence[str] | None = None,
           row: int | None = None, col: int | None = None, showlegend: bool = True, dash: str | None = None,
           marker_symbol: str = "circle") -> None:
    """A line of points; one point alone is drawn as a labelled point (no line, no legend entry)."""
    sel: dict[str, Any] = {"row": row, "col": col} if row is not None else {}
    hov = list(hover) if hover is not None else None
    if len(xs) == 1:
        label = (text[0] if text else name)
        fig.add_trace(go.Scatter(x=list(xs), y=list(ys), mode="markers+text", name=name, text=[label],
                                 textposition="top center", marker={"size": 11, "color": colour_,
                                                                    "symbol": marker_symbol},
                                 hovertext=hov, hoverinfo="text" if hov else None, showlegend=False,
                                 cliponaxis=False), **sel)
        return
    fig.add_trace(go.Scatter(x=list(xs), y=list(ys), mode="lines+markers" if len(xs) <= 24 else "lines", name=name,
                             line={"color": colour_, "shape": "hv" if step else "linear",
                                   **({"dash": dash} if dash else {})},
                             marker={"size": 7, "color": colour_, "symbol": marker_symbol},
                             hovertext=hov, hoverinfo="text" if hov else None, showlegend=showlegend), **sel)


def mark(fig: go.Figure, x: Any, y: Any, text: str, *, row: int | None = None, col: int | None = None,
         position: str = "top center") -> None:
    """The current plan: a labelled star."""
    sel: dict[str, Any] = {"row": row, "col": col} if row is not None else {}
    fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers+text", name="this plan", text=[text],
                             textposition=position, marker={"size": 15, "symbol": "star", "color": MARK},
                             textfont={"size": 11, "color": MARK}, showlegend=False, cliponaxis=False,
                             hoverinfo="text", hovertext=[text]), **sel)


def bar_labels(values: Sequence[float], kind: Literal["money", "pct", "mw", "number"]) -> list[str]:
    from tokenfleet.viz.fmt import cell

    if kind == "money":
        return [money(v) for v in values]
    return [cell(v, kind) for v in values]


def pad_range(values: Sequence[float], lo_zero: bool = True, pad: float = 0.12) -> list[float]:
    """An axis range over ``values`` with room above for labels; from zero for bars and costs."""
    vals = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not vals:
        return [0.0, 1.0]
    lo, hi = (min(0.0, *vals) if lo_zero else min(vals)), max(vals)
    if hi == lo:
        hi = lo + (abs(lo) or 1.0)
    return [lo - (0 if lo_zero else (hi - lo) * pad), hi + (hi - lo) * pad]


def to_json(fig: go.Figure) -> dict[str, Any]:
    """``{"data", "layout"}`` as plain JSON (what ``Plotly.newPlot`` takes)."""
    out: dict[str, Any] = json.loads(fig.to_json())
    return {"data": out.get("data", []), "layout": out.get("layout", {})}


__all__ = ["DASHES", "FONT", "HEIGHT", "MARK", "PALETTE", "TEMPLATE", "axis", "bar_labels", "colour", "log_ticks",
           "mark", "money_axis", "new", "pad_range", "power_axis", "series", "slo_line", "to_json", "vendor_colour"]
