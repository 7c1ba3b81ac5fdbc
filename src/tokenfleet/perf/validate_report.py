"""``report.html`` of ``tokenfleet validate --out DIR``: the model against published results, in one page.

Per report family a log-log scatter of predicted against published values (in-sample and cross-validated
markers, the 1:1 line and the ±25 % band), the per-family summaries, the per-row table, and measured against
predicted wall power (1:1 line, ±10 % band). plotly.js is embedded once, so the file opens offline.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from tokenfleet.perf.predict import Prediction
from tokenfleet.perf.validate import Summary, by_family, power_groups, report_family

BAND = 0.25  # ±25 % around the 1:1 line
POWER_BAND = 0.10


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:+.1f}%"


def _abs(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}%"


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.1f}" if abs(v) < 1e5 else f"{v:,.0f}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _one_to_one(f: go.Figure, lo: float, hi: float, band: float) -> None:
    xs = [lo, hi]
    f.add_trace(go.Scatter(x=xs, y=xs, mode="lines", name="1:1", line={"color": "#111827"}))
    for k, name in ((1 + band, f"+{band:.0%}"), (1 - band, f"-{band:.0%}")):
        f.add_trace(go.Scatter(x=xs, y=[x * k for x in xs], mode="lines", name=name,
                               line={"color": "#9ca3af", "dash": "dash"}))


def _scatter(family: str, preds: list[Prediction], cv: list[Prediction] | None) -> go.Figure:
    f = go.Figure()
    values: list[float] = []
    for label, ps, symbol in (("in-sample", preds, "circle"), ("cross-validated", cv or [], "x")):
        sel = [p for p in ps if p.predicted is not None and p.predicted > 0 and report_family(p.result) == family]
        if not sel:
            continue
        xs, ys = [p.result.value for p in sel], [float(p.predicted or 0.0) for p in sel]
        values += xs + ys
        f.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=label, marker={"symbol": symbol, "size": 9},
                               text=[f"row {p.result.row}: {p.result.label()} ({_pct(p.pct_error)})" for p in sel],
                               hoverinfo="text"))
    if values:
        _one_to_one(f, min(values) / 1.5, max(values) * 1.5, BAND)
    f.update_layout(title=f"{family}: predicted vs published (each metric in its own unit)",
                    xaxis={"type": "log", "title": "published"}, yaxis={"type": "log", "title": "predicted"},
                    template="plotly_white", height=440, margin={"t": 60, "b": 60, "l": 70, "r": 20})
    return f


def _power_figure(power_preds: list[Any]) -> go.Figure:
    f = go.Figure()
    for label, sel in (("loaded runs", [p for p in power_preds if p.row.scenario != "idle"]),
                       ("idle floors", [p for p in power_preds if p.row.scenario == "idle"])):
        sel = [p for p in sel if p.predicted_w]
        if sel:
            f.add_trace(go.Scatter(x=[p.row.system_power_w / 1e3 for p in sel],
                                   y=[p.predicted_w / 1e3 for p in sel], mode="markers", name=label,
                                   text=[f"row {p.row.row}: {p.row.label()} ({_pct(p.pct_error)})" for p in sel],
                                   hoverinfo="text", marker={"size": 10}))
    vals = [p.row.system_power_w / 1e3 for p in power_preds] + [p.predicted_w / 1e3 for p in power_preds
                                                                 if p.predicted_w]
    if vals:
        _one_to_one(f, min(vals) / 1.3, max(vals) * 1.3, POWER_BAND)
    f.update_layout(title="Wall power of whole nodes: predicted vs measured (kW)",
                    xaxis={"type": "log", "title": "measured kW"}, yaxis={"type": "log", "title": "predicted kW"},
                    template="plotly_white", height=440)
    return f


def _summary_rows(columns: dict[str, dict[str, Summary]]) -> list[list[str]]:
    fams = sorted({f for c in columns.values() for f in c})
    out = []
    for f in fams:
        cells = [f]
        for c in columns.values():
            s = c.get(f)
            cells += (["-"] * 4 if s is None else [f"{s.n_predicted}", f"{s.n_skipped}",
                                                   _abs(s.median_abs_pct_error), _abs(s.p90_abs_pct_error)])
        out.append(cells)
    return out


def render(source: str, preds: list[Prediction], summary: Summary, cvr: Any = None,
           power_preds: list[Any] | None = None, power_summary: Summary | None = None) -> str:
    cv_preds = cvr.predictions if cvr is not None else None
    figs = [_scatter(f, preds, cv_preds) for f in sorted({report_family(p.result) for p in preds})]
    if power_preds:
        figs.append(_power_figure(power_preds))
    parts = [f"<h1>tokenfleet validate: the performance model against published results</h1>"
             f"<p>Results: {html.escape(source)}. In-sample: {html.escape(summary.line())}.</p>"]
    if cvr is not None:
        parts.append(f"<p>Cross-validated ({html.escape(cvr.as_json()['method'])}): "
                     f"{html.escape(cvr.summary.line())}.</p>")
    if power_summary is not None and power_preds is not None:
        g = power_groups(power_preds)
        parts.append(f"<p>Power: {html.escape(power_summary.line())}; loaded runs {html.escape(g['loaded'].line())}"
                     f"; idle floors {html.escape(g['idle'].line())}.</p>")
    columns = {"in-sample": by_family(preds), **({"CV": cvr.families} if cvr is not None else {})}
    head = ["family"] + [f"{c} {k}" for c in columns for k in ("rows", "skipped", "median", "p90")]
    parts.append("<h2>Per family</h2>" + _table(head, _summary_rows(columns)))
    for i, fig in enumerate(figs):
        parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False))
    cv_by_row = {p.result.row: p for p in cv_preds or []}
    rows = []
    for p in preds:
        r, c = p.result, cv_by_row.get(p.result.row)
        rows.append([str(r.row), f"{r.num_chips or '?'}x {r.hw_id}", r.model_id, r.precision or "-", r.workload_id,
                     r.metric, report_family(r), _num(r.value), _num(p.predicted), _pct(p.pct_error),
                     _num(c.predicted) if c else "-", _pct(c.pct_error) if c else "-",
                     p.layout or p.skipped])
    parts.append("<h2>Every row</h2>" + _table(
        ["row", "system", "model", "prec", "workload", "metric", "family", "published", "predicted", "error",
         "CV predicted", "CV error", "layout / reason skipped"], rows))
    if power_preds:
        prow = []
        for p in power_preds:
            r = p.row
            mj = p.model_j_per_token
            prow.append([str(r.row), r.label(), f"{r.system_power_w:,.0f}",
                         "-" if p.predicted_w is None else f"{p.predicted_w:,.0f}", _pct(p.pct_error),
                         "-" if r.joules_per_output_token is None else f"{r.joules_per_output_token:.4f}",
                         "-" if mj is None or not math.isfinite(mj) else f"{mj:.4f}", _pct(p.j_pct_error),
                         p.layout or p.skipped])
        parts.append("<h2>Wall power</h2>" + _table(
            ["row", "run", "measured W", "predicted W", "error", "J/tok published", "J/tok model", "J error",
             "layout"], prow))
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;"
             "font-size:13px;margin:1em 0}td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}"
             "td:nth-child(-n+7),th{text-align:left}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>tokenfleet validate</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def write_report(out_dir: Path, source: str, preds: list[Prediction], summary: Summary, cvr: Any = None,
                 power_preds: list[Any] | None = None, power_summary: Summary | None = None) -> Path:
    out_dir.mkdir(parents=False, exist_ok=True)
    path = out_dir / "report.html"
    path.write_text(render(source, preds, summary, cvr, power_preds, power_summary), encoding="utf-8")
    return path
