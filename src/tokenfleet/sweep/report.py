"""A self-contained HTML report of a sweep: how cost, MW, fleet mix and latency move across the grid.

The first grid key is the x axis; every combination of the other keys is one line (at most
:data:`MAX_SERIES`). Fleet mix is a stacked bar of chips per hardware and of facility MW per vendor for
every point. plotly.js is embedded once, so the file opens without a network.
"""

from __future__ import annotations

import contextlib
import html
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from tokenfleet.sweep.table import columns

MAX_SERIES = 12
LEGEND = {"orientation": "h", "yanchor": "top", "y": -0.28, "x": 0}  # under the x-axis title, covering nothing
LINES = (
    ("plan.tco_usd_per_year", "Plan TCO ($M / year)", 1e-6),
    ("plan.facility_mw", "Plan facility MW (peak, IT x PUE)", 1.0),
    ("plan.usd_per_mtok", "Plan $ per million output tokens", 1.0),
    ("sim.cost_usd", "Simulated cost ($ over the run)", 1.0),
    ("sim.avg_mw", "Simulated average facility MW", 1.0),
    ("sim.ttft_p99_ms", "Simulated TTFT p99 (ms), all classes", 1.0),
    ("sim.slo_attainment", "Simulated SLO attainment", 1.0),
    ("deal.warrant_value_usd", "Deal: warrant value ($M)", 1e-6),
    ("deal.buyer_npv_usd", "Deal: buyer NPV ($M)", 1e-6),
)


def _series(rows: list[dict[str, Any]], keys: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        label = ", ".join(f"{k}={r.get(k)}" for k in keys[1:]) or keys[0]
        out.setdefault(label, []).append(r)
    return dict(list(out.items())[:MAX_SERIES])


def line_figures(rows: list[dict[str, Any]], keys: list[str]) -> list[go.Figure]:
    cols = set(columns(rows))
    x = keys[0]
    figs = []
    series = _series(rows, keys)
    metrics = [m for m in LINES if m[0] in cols]
    metrics += [(c, f"Simulated TTFT p99 (ms), class {c.split('.')[1]}", 1.0) for c in sorted(cols)
                if c.endswith(".ttft_p99_ms") and c.count(".") == 2]
    for col, title, scale in metrics:
        f = go.Figure()
        for label, rs in series.items():
            ok = [r for r in rs if r.get(col) is not None]
            f.add_trace(go.Scatter(x=[r[x] for r in ok], y=[r[col] * scale for r in ok], mode="lines+markers",
                                   name=label))
        f.update_layout(title=title, xaxis_title=x, yaxis_title=title.split("(")[-1].rstrip(")") if "(" in title
                        else title, height=420, margin={"t": 50, "b": 120}, legend=LEGEND)
        figs.append(f)
    return figs


def who_serves_figures(rows: list[dict[str, Any]], keys: list[str]) -> list[go.Figure]:
    """With two grid keys: a map of which hardware serves each class at each point (break-even lines)."""
    if len(keys) != 2:
        return []
    figs = []
    xs: list[Any] = sorted({r.get(keys[0]) for r in rows}, key=str)
    ys: list[Any] = sorted({r.get(keys[1]) for r in rows}, key=str)
    with contextlib.suppress(TypeError):
        xs, ys = sorted(xs), sorted(ys)  # numeric axes in order
    for col in sorted({c for r in rows for c in r if c.startswith("plan.hardware.")}):
        cats = sorted({str(r.get(col)) for r in rows if r.get(col)})
        at = {(r.get(keys[0]), r.get(keys[1])): r.get(col) for r in rows}
        z = [[cats.index(str(at[(x, y)])) if at.get((x, y)) else None for x in xs] for y in ys]
        text = [[str(at.get((x, y)) or "-") for x in xs] for y in ys]
        f = go.Figure(go.Heatmap(x=[str(x) for x in xs], y=[str(y) for y in ys], z=z, text=text,
                                 texttemplate="%{text}", showscale=False, colorscale="Viridis"))
        f.update_layout(title=f"Hardware serving class {col.removeprefix('plan.hardware.')}", xaxis_title=keys[0],
                        yaxis_title=keys[1], height=420, margin={"t": 50, "b": 60})
        figs.append(f)
    return figs


def mix_figures(rows: list[dict[str, Any]], keys: list[str]) -> list[go.Figure]:
    cols = columns(rows)
    labels = [", ".join(str(r.get(k)) for k in keys) for r in rows]
    figs = []
    for prefix, title in (("plan.chips.", "Fleet mix: chips per hardware"), ("plan.mw.", "Facility MW per vendor")):
        parts = [c for c in cols if c.startswith(prefix)]
        if not parts:
            continue
        f = go.Figure()
        for c in parts:
            f.add_trace(go.Bar(x=labels, y=[r.get(c) or 0 for r in rows], name=c[len(prefix):]))
        f.update_layout(barmode="stack", title=title, xaxis_title=" / ".join(keys), height=440,
                        yaxis_title="chips" if prefix == "plan.chips." else "facility MW",
                        margin={"t": 50, "b": 130}, legend=LEGEND)
        figs.append(f)
    return figs


def _table(rows: list[dict[str, Any]], limit: int = 200) -> str:
    cols = [c for c in columns(rows) if c not in ("message",)]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.4g}"
        return html.escape("" if v is None else str(v))

    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows[:limit])
    return f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>"


def write_report(rows: list[dict[str, Any]], keys: list[str], path: Path, title: str, note: str = "") -> Path:
    figs = who_serves_figures(rows, keys) + line_figures(rows, keys) + mix_figures(rows, keys)
    parts = [f.to_html(full_html=False, include_plotlyjs=("inline" if i == 0 else False), default_width="100%",
                       config={"responsive": True}) for i, f in enumerate(figs)]
    bad = [r for r in rows if r.get("status") != "ok"]
    problems = "".join(f"<li>point {r['point']}: {html.escape(str(r.get('message')))}</li>" for r in bad[:50])
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px;color:#222}} table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ddd;padding:3px 6px;text-align:right}} .scroll{{overflow:auto;max-height:480px}}
.grid{{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:12px}}
.grid>div{{min-width:0}}</style></head><body>
<h1>{html.escape(title)}</h1><p>{html.escape(note)}</p>
{f"<h3>Points that did not solve</h3><ul>{problems}</ul>" if bad else ""}
<div class="grid">{"".join(f"<div>{p}</div>" for p in parts)}</div>
<h2>All points</h2>{_table(rows)}
<script>window.addEventListener("load", () =>
  document.querySelectorAll(".js-plotly-plot").forEach(d => Plotly.Plots.resize(d)));</script></body></html>"""
    path.write_text(doc, encoding="utf-8")
    return path


__all__ = ["line_figures", "mix_figures", "who_serves_figures", "write_report"]
