"""The report of a sweep (``report.html`` + ``tables.xlsx`` + ``tables/*.csv``): how cost, MW, fleet mix and
latency move across the grid, in the shared visual language.

The first grid key is the x axis; every combination of the other keys is one line (at most
:data:`MAX_SERIES`); lines that coincide share one legend entry. With two keys, a map says which hardware
serves each class at each point. The fleet mix is a stacked bar per point, one panel per value of the
second key. Grid values are printed as what they are ($1M, 0.5×, 750 MW), never as raw floats.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from tokenfleet.sweep.table import columns
from tokenfleet.viz import theme as T
from tokenfleet.viz.fmt import Kind, cell
from tokenfleet.viz.page import Page
from tokenfleet.viz.page import write_report as write_page
from tokenfleet.viz.table import Column, Table

MAX_SERIES = 12
MAX_ROWS_SHOWN = 200
# (column, chart title, axis name, kind)
LINES: tuple[tuple[str, str, str, Kind], ...] = (
    ("plan.tco_usd_per_year", "Plan TCO per year", "TCO per year", "money"),
    ("plan.facility_mw", "Plan facility power, peak (IT × PUE)", "facility power", "mw"),
    ("plan.usd_per_mtok", "Plan cost per million output tokens", "cost per M output tokens", "money"),
    ("sim.cost_usd", "Simulated cost over the run", "cost", "money"),
    ("sim.avg_mw", "Simulated average facility power", "facility power", "mw"),
    ("sim.ttft_p99_ms", "Simulated TTFT p99, all classes", "TTFT p99", "ms"),
    ("sim.slo_attainment", "Simulated SLO attainment", "attainment", "pct"),
    ("deal.warrant_value_usd", "Deal: warrant value", "warrant value", "money"),
    ("deal.buyer_npv_usd", "Deal: buyer NPV", "buyer NPV", "money"),
)


def key_label(key: str) -> str:
    """``plan.candidates.cs3.unit_price_usd`` -> ``cs3 unit price``."""
    parts = [p for p in key.split(".") if p not in ("plan", "candidates", "sim", "facility", "traffic")]
    text = " ".join(parts[-2:]).replace("_", " ")
    for suffix in (" usd", " mw", " ms", " s"):
        text = text.removesuffix(suffix)
    return text or key


def key_kind(key: str) -> Kind:
    k = key.lower()
    if "usd" in k or "price" in k:
        return "money"
    if k.endswith("_mw") or k.endswith(".mw"):
        return "mw"
    if "factor" in k or "multiplier" in k or "scale" in k:
        return "ratio"
    if k.endswith("_ms"):
        return "ms"
    if "share" in k or "headroom" in k:
        return "pct"
    return "number"


def column_kind(col: str) -> Kind:
    c = col.lower()
    if c in ("point", "seed") or c.startswith(("plan.chips", "plan.units", "sim.requests")):
        return "int"
    if "usd" in c:
        return "money"
    if c.endswith("_mw") or c.startswith("plan.mw."):
        return "mw"
    if c.endswith("_ms"):
        return "ms"
    if c.endswith("wall_s"):
        return "s"
    if "attainment" in c or "share" in c:
        return "pct"
    return "number"


def fmt_key(key: str) -> Callable[[Any], str]:
    kind = key_kind(key)
    return lambda v: cell(v, kind) if isinstance(v, int | float) and not isinstance(v, bool) else str(v)


def _sorted_values(rows: list[dict[str, Any]], key: str) -> list[Any]:
    vals: list[Any] = sorted({r.get(key) for r in rows}, key=str)
    with contextlib.suppress(TypeError):
        vals = sorted(vals)
    return vals


def _series(rows: list[dict[str, Any]], keys: list[str]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(tuple(r.get(k) for k in keys[1:]), []).append(r)
    return dict(list(out.items())[:MAX_SERIES])


def _series_names(keys: list[str], combos: list[tuple[Any, ...]]) -> str:
    """One legend entry for the series that coincide: ``speed factor 0.5×, 0.75×, 1×``."""
    if len(keys) == 2:
        return f"{key_label(keys[1])} " + ", ".join(fmt_key(keys[1])(c[0]) for c in combos)
    return "; ".join(", ".join(f"{key_label(k)} {fmt_key(k)(v)}" for k, v in zip(keys[1:], c, strict=True))
                     for c in combos)


def _fleet(r: dict[str, Any]) -> tuple[Any, ...]:
    """What the plan bought at a point: a line joins two points only when this is the same."""
    return tuple(sorted((k, v) for k, v in r.items() if k.startswith(("plan.hardware.", "plan.units."))))


def line_figures(rows: list[dict[str, Any]], keys: list[str]) -> list[tuple[str, str, go.Figure]]:
    """(id, title, figure) per metric. Points that coincide for several series are drawn once; a line joins
    neighbouring points only where the fleet is the same at both (a gap: it changes in between)."""
    cols = set(columns(rows))
    x = keys[0]
    xfmt = fmt_key(x)
    xs_all = _sorted_values(rows, x)
    numeric_x = all(isinstance(v, int | float) and not isinstance(v, bool) for v in xs_all)
    log_x = numeric_x and _log_spaced(xs_all)
    metrics: list[tuple[str, str, str, Kind]] = [m for m in LINES if m[0] in cols]
    metrics += [(c, f"Simulated TTFT p99, class {c.split('.')[1]}", "TTFT p99", "ms") for c in sorted(cols)
                if c.endswith(".ttft_p99_ms") and c.count(".") == 2]
    out = []
    for col, title, axis_name, kind in metrics:
        groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        for combo, rs in _series(rows, keys).items():
            got = [(r[x], float(r[col]), _fleet(r)) for r in rs if isinstance(r.get(col), int | float)]
            got.sort(key=lambda p: xs_all.index(p[0]))
            groups.setdefault(tuple(got), []).append(combo)
        vals = [p[1] for pts in groups for p in pts]
        if not vals:
            continue
        fig = T.new(height=360)
        if kind == "money":
            div = T.money_axis(fig, "y", axis_name, vals)
        elif kind == "mw":
            div = T.power_axis(fig, "y", axis_name, vals)
        else:
            div = 0.01 if kind == "pct" else 1.0
            T.axis(fig, "y", axis_name, "%" if kind == "pct" else "ms")
        for i, (pts, combos) in enumerate(groups.items()):
            if not pts:
                continue
            name = _series_names(keys, combos) if len(keys) > 1 else title
            xs: list[Any] = []
            ys: list[float | None] = []
            hover: list[str] = []
            for j, p in enumerate(pts):
                if j and pts[j - 1][2] != p[2]:  # the fleet changes between the two points: no line
                    xs.append(p[0] if numeric_x else xfmt(p[0]))
                    ys.append(None)
                    hover.append("")
                xs.append(p[0] if numeric_x else xfmt(p[0]))
                ys.append(p[1] / div)
                hover.append(f"{name}<br>{key_label(x)} {xfmt(p[0])}: {cell(p[1], kind)}")
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=name, connectgaps=False,
                                     line={"color": T.colour(i), "dash": T.DASHES[i % len(T.DASHES)]},
                                     marker={"size": 8, "color": T.colour(i)},
                                     hovertext=hover, hoverinfo="text"))
        T.axis(fig, "x", key_label(x), "log scale" if log_x else "")
        if log_x:
            fig.update_xaxes(type="log")
        if numeric_x:
            fig.update_xaxes(tickvals=xs_all, ticktext=[xfmt(v) for v in xs_all])
        fig.update_yaxes(range=T.pad_range([v / div for v in vals], lo_zero=kind != "pct", pad=0.1))
        fig.update_layout(showlegend=len(groups) > 1)
        out.append((f"line_{col.replace('.', '_')}", title, fig))
    return out


def _log_spaced(xs: list[Any]) -> bool:
    pos = [float(v) for v in xs if isinstance(v, int | float) and v > 0]
    return len(pos) == len(xs) >= 3 and max(pos) / min(pos) >= 20


def who_serves_figures(rows: list[dict[str, Any]], keys: list[str]) -> list[tuple[str, str, go.Figure]]:
    """With two grid keys: a map of which hardware serves each class at each point (break-even lines)."""
    if len(keys) != 2:
        return []
    xs, ys = _sorted_values(rows, keys[0]), _sorted_values(rows, keys[1])
    xf, yf = fmt_key(keys[0]), fmt_key(keys[1])
    out = []
    for col in sorted({c for r in rows for c in r if c.startswith("plan.hardware.")}):
        cats = sorted({str(r.get(col)) for r in rows if r.get(col)})
        at = {(r.get(keys[0]), r.get(keys[1])): r.get(col) for r in rows}
        n = max(len(cats), 1)
        z = [[cats.index(str(at[(x, y)])) if at.get((x, y)) else None for x in xs] for y in ys]
        text = [[str(at.get((x, y)) or "none") for x in xs] for y in ys]
        scale = []
        for i, _ in enumerate(cats):
            c = T.colour(i)
            scale += [[i / n, c], [(i + 1) / n, c]]
        fig = T.new(height=120 + 46 * len(ys))
        fig.add_trace(go.Heatmap(x=[xf(v) for v in xs], y=[yf(v) for v in ys], z=z, text=text, zmin=0, zmax=n,
                                 texttemplate="%{text}", textfont={"color": "#ffffff", "size": 12},
                                 showscale=False, colorscale=scale or None, xgap=2, ygap=2, hoverinfo="text"))
        for i, c in enumerate(cats):  # a legend of the hardware names
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=c,
                                     marker={"size": 12, "symbol": "square", "color": T.colour(i)}))
        T.axis(fig, "x", key_label(keys[0]), type="category")
        T.axis(fig, "y", key_label(keys[1]), type="category")
        out.append((f"serves_{col.split('.')[-1]}", f"Hardware serving class {col.removeprefix('plan.hardware.')}",
                    fig))
    return out


def mix_figures(rows: list[dict[str, Any]], keys: list[str]) -> list[tuple[str, str, go.Figure]]:
    """Chips per hardware and facility MW per vendor, stacked per point; one panel per value of the second key."""
    cols = columns(rows)
    out = []
    facets = _sorted_values(rows, keys[1]) if len(keys) >= 2 else [None]
    facets = facets[:6]
    x = keys[0]
    xf = fmt_key(x)
    mixes: tuple[tuple[str, str, Kind], ...] = (("plan.chips.", "Fleet mix: chips per hardware", "int"),
                                                ("plan.mw.", "Facility power per vendor", "mw"))
    for prefix, title, kind in mixes:
        parts = [c for c in cols if c.startswith(prefix)]
        if not parts:
            continue
        ncols = min(3, len(facets))
        nrows = math.ceil(len(facets) / ncols)
        ff = fmt_key(keys[1]) if len(keys) >= 2 else str
        fig = T.new(height=260 * nrows + 60, rows=nrows, cols=ncols, vspace=0.22,
                    titles=[f"{key_label(keys[1])} {ff(f)}" for f in facets] if len(keys) >= 2 else ())
        allv = [float(r.get(c) or 0) for r in rows for c in parts]
        div = T.power_axis(fig, "y", "facility power", allv, row=1, col=1) if kind == "mw" else 1.0
        for fi, f in enumerate(facets):
            rr, cc = fi // ncols + 1, fi % ncols + 1
            mine = [r for r in rows if len(keys) < 2 or r.get(keys[1]) == f]
            for pi, c in enumerate(parts):
                fig.add_trace(go.Bar(x=[xf(r.get(x)) for r in mine], y=[float(r.get(c) or 0) / div for r in mine],
                                     name=c[len(prefix):], marker_color=T.colour(pi), showlegend=fi == 0,
                                     legendgroup=c, hovertext=[cell(r.get(c) or 0, kind) for r in mine],
                                     hoverinfo="text"), row=rr, col=cc)
            T.axis(fig, "x", key_label(x), row=rr, col=cc, type="category")
            if kind == "mw":
                T.power_axis(fig, "y", "facility power", allv, row=rr, col=cc)
            else:
                T.axis(fig, "y", "chips", row=rr, col=cc, separatethousands=True)
        fig.update_layout(barmode="stack")
        out.append((f"mix_{prefix.strip('.').replace('.', '_')}", title, fig))
    return out


HIDDEN_PREFIXES = ("plan.chips.", "plan.units.", "plan.mw.")
HIDDEN = ("seed", "wall_s", "plan.avg_facility_mw", "plan.capex_usd")


def column_label(col: str) -> str:
    for c, _, name, _ in LINES:
        if c == col:
            return name
    if col.startswith("plan.hardware."):
        return f"{col.removeprefix('plan.hardware.')} on"
    return key_label(col) if "." in col else col.replace("_", " ")


def table(rows: list[dict[str, Any]], keys: list[str] | None = None) -> Table:
    """Every column in the export; the page shows the grid keys, status and the headline metrics."""
    cols = [c for c in columns(rows) if c not in ("message",)]
    spec = []
    for c in cols:
        hidden = c in HIDDEN or c.startswith(HIDDEN_PREFIXES)
        if keys and c in keys:
            spec.append(Column(key_label(c), key_kind(c) if key_kind(c) != "number" else "number"))
        elif any(isinstance(r.get(c), str) for r in rows) or c == "status":
            spec.append(Column(column_label(c), hidden=hidden))
        else:
            spec.append(Column(column_label(c), column_kind(c), hidden=hidden))
    return Table("points", "Every point", spec, [[r.get(c) for c in cols] for r in rows],
                 note="tables.xlsx and tables/points.csv also hold chips, units and MW per hardware, capex, the "
                      "seed and the wall time of each point.")


def build_page(rows: list[dict[str, Any]], keys: list[str], title: str, note: str = "") -> Page:
    page = Page(title, note)
    bad = [r for r in rows if r.get("status") != "ok"]
    page.callout([f"point {r['point']}: {r.get('message')}" for r in bad[:50]], bad=True,
                 title="Points that did not solve")
    page.text("Grid: " + "; ".join(f"{key_label(k)} ∈ {{{', '.join(fmt_key(k)(v) for v in _sorted_values(rows, k))}}}"
                                   for k in keys) + ".")
    for fid, ftitle, fig in who_serves_figures(rows, keys):
        page.figure(fid, ftitle, fig)
    for fid, ftitle, fig in line_figures(rows, keys):
        page.figure(fid, ftitle, fig, "A gap in a line: the fleet bought changes between the two grid points.")
    for fid, ftitle, fig in mix_figures(rows, keys):
        page.figure(fid, ftitle, fig, wide=True)
    page.section("Every point")
    page.table(table(rows, keys), max_rows=MAX_ROWS_SHOWN)
    return page


def write_report(rows: list[dict[str, Any]], keys: list[str], path: Path, title: str, note: str = "") -> Path:
    """``path`` (report.html) with plotly.min.js, tables.xlsx and tables/*.csv beside it."""
    write_page(build_page(rows, keys, title, note), path.parent, path.name)
    return path


__all__ = ["build_page", "key_label", "line_figures", "mix_figures", "table", "who_serves_figures", "write_report"]
