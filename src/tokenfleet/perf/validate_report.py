"""``report.html`` of ``tokenfleet validate --out DIR``: the model against published results, in one page
(with ``tables.xlsx`` and ``tables/*.csv``).

* the error of every row on one % axis, by report family (rows off by 50 % or more labelled);
* per metric (offline / server / per-user / per-chip throughput, TTFT), published against predicted in
  that metric's own unit, with the 1:1 line and the ±25 % band (a metric with fewer than three rows is a
  table row, not a chart);
* wall power of whole nodes, measured against predicted (1:1, ±10 %);
* the per-family summary and every row, rows off by 50 % or more highlighted.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from tokenfleet.perf.predict import Prediction
from tokenfleet.perf.validate import Summary, by_family, power_groups, report_family
from tokenfleet.viz import theme as T
from tokenfleet.viz.fmt import pct, sig
from tokenfleet.viz.page import Card, Page
from tokenfleet.viz.page import write_report as write_page
from tokenfleet.viz.table import Column, Table

BAND = 0.25  # ±25 % around the 1:1 line
POWER_BAND = 0.10
OUTLIER = 50.0  # % error: labelled on the chart, highlighted in the table
MIN_ROWS_FOR_CHART = 3
METRICS = {"offline_tok_s": ("offline throughput", "tok/s"), "server_tok_s": ("server throughput", "tok/s"),
           "per_user_tok_s": ("speed per user", "tok/s"), "per_chip_tok_s": ("throughput per chip", "tok/s"),
           "max_aggregate_tok_s": ("maximum aggregate throughput", "tok/s"), "ttft_ms": ("time to first token", "ms")}


def _ok(p: Prediction) -> bool:
    return p.predicted is not None and p.predicted > 0 and p.pct_error is not None


def _families(preds: list[Prediction]) -> list[str]:
    return sorted({report_family(p.result) for p in preds})


def error_figure(preds: list[Prediction], cv: list[Prediction] | None) -> go.Figure:
    """Every row's % error, one line per report family; outliers labelled by row."""
    fams = _families(preds)
    fig = T.new(height=110 + 46 * len(fams))
    fig.add_vrect(x0=-BAND * 100, x1=BAND * 100, fillcolor="#dcfce7", opacity=0.6, line_width=0, layer="below")
    for label, ps, symbol, col in (("in-sample", preds, "circle", T.colour(0)),
                                   ("cross-validated", cv or [], "x", T.colour(1))):
        sel = [p for p in ps if _ok(p)]
        if not sel:
            continue
        fig.add_trace(go.Scatter(
            x=[p.pct_error for p in sel], y=[report_family(p.result) for p in sel], mode="markers+text", name=label,
            marker={"symbol": symbol, "size": 9, "color": col, "opacity": 0.75},
            text=[f"row {p.result.row}" if abs(p.pct_error or 0) >= OUTLIER else "" for p in sel],
            textposition="top center", textfont={"size": 10}, cliponaxis=False,
            hovertext=[f"row {p.result.row}: {p.result.label()} ({pct((p.pct_error or 0) / 100, signed=True)})"
                       for p in sel], hoverinfo="text"))
    errs = [p.pct_error or 0.0 for p in [*preds, *(cv or [])] if _ok(p)]
    lo, hi = min([-60.0, *errs]), max([60.0, *errs])
    T.axis(fig, "x", "predicted over published − 1", "%", range=[lo * 1.1, hi * 1.1], zeroline=True,
           zerolinecolor="#111827", ticksuffix="%")
    T.axis(fig, "y", "report family", categoryorder="array", categoryarray=fams[::-1])
    fig.add_annotation(text=f"green band: within ±{BAND:.0%}", xref="paper", yref="paper", x=1, y=1,
                       xanchor="right", yanchor="bottom", showarrow=False, font={"size": 11, "color": "#047857"})
    return fig


def _one_to_one(fig: go.Figure, lo: float, hi: float, band: float) -> None:
    xs = [lo, hi]
    fig.add_trace(go.Scatter(x=xs + xs[::-1], y=[x * (1 + band) for x in xs] + [x * (1 - band) for x in xs[::-1]],
                             mode="lines", fill="toself", fillcolor="rgba(5,150,105,0.12)", line={"width": 0},
                             name=f"±{band:.0%}", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=xs, y=xs, mode="lines", name="predicted = published",
                             line={"color": "#111827", "width": 1}, hoverinfo="skip"))


def metric_figure(metric: str, preds: list[Prediction], cv: list[Prediction] | None) -> go.Figure | None:
    sel = [p for p in preds if p.result.metric == metric and _ok(p)]
    if len(sel) < MIN_ROWS_FOR_CHART:
        return None
    name, unit = METRICS.get(metric, (metric, ""))
    cv_sel = [p for p in cv or [] if p.result.metric == metric and _ok(p)]
    vals = [v for p in [*sel, *cv_sel] for v in (p.result.value, float(p.predicted or 0))]
    lo, hi = min(vals) / 1.4, max(vals) * 1.4
    fig = T.new(height=380)
    _one_to_one(fig, lo, hi, BAND)
    fams = _families(sel)
    for i, fam in enumerate(fams):
        mine = [p for p in sel if report_family(p.result) == fam]
        fig.add_trace(go.Scatter(x=[p.result.value for p in mine], y=[p.predicted for p in mine], mode="markers",
                                 name=fam, marker={"size": 9, "color": T.colour(i + 2)},
                                 hovertext=[f"row {p.result.row}: {p.result.label()} "
                                            f"({pct((p.pct_error or 0) / 100, signed=True)})" for p in mine],
                                 hoverinfo="text"))
    if cv_sel:
        fig.add_trace(go.Scatter(x=[p.result.value for p in cv_sel], y=[p.predicted for p in cv_sel], mode="markers",
                                 name="cross-validated", marker={"size": 8, "symbol": "x", "color": "#6b7280"},
                                 hovertext=[f"row {p.result.row} (CV): {pct((p.pct_error or 0) / 100, signed=True)}"
                                            for p in cv_sel], hoverinfo="text"))
    T.axis(fig, "x", f"published {name}", unit, log=True, values=[lo * 1.25, hi / 1.25])
    T.axis(fig, "y", f"predicted {name}", unit, log=True, values=[lo * 1.25, hi / 1.25])
    return fig


def power_figure(power_preds: list[Any]) -> go.Figure | None:
    rows = [p for p in power_preds if p.predicted_w]
    if not rows:
        return None
    vals = [v / 1e3 for p in rows for v in (p.row.system_power_w, p.predicted_w)]
    lo, hi = min(vals) / 1.3, max(vals) * 1.3
    fig = T.new(height=380)
    _one_to_one(fig, lo, hi, POWER_BAND)
    for i, (label, sel) in enumerate((("loaded runs", [p for p in rows if p.row.scenario != "idle"]),
                                      ("idle floors", [p for p in rows if p.row.scenario == "idle"]))):
        if sel:
            fig.add_trace(go.Scatter(x=[p.row.system_power_w / 1e3 for p in sel], y=[p.predicted_w / 1e3 for p in sel],
                                     mode="markers", name=label, marker={"size": 9, "color": T.colour(i)},
                                     hovertext=[f"row {p.row.row}: {p.row.label()} "
                                                f"({pct((p.pct_error or 0) / 100, signed=True)})" for p in sel],
                                     hoverinfo="text"))
    T.axis(fig, "x", "measured wall power", "kW", log=True, values=[lo * 1.25, hi / 1.25])
    T.axis(fig, "y", "predicted wall power", "kW", log=True, values=[lo * 1.25, hi / 1.25])
    return fig


def family_table(preds: list[Prediction], cvr: Any = None) -> Table:
    columns = {"in-sample": by_family(preds), **({"CV": cvr.families} if cvr is not None else {})}
    fams = sorted({f for c in columns.values() for f in c})
    cols = [Column("report family")]
    for c in columns:
        cols += [Column(f"{c} rows", "int"), Column(f"{c} skipped", "int"), Column(f"{c} median |error|", "pct"),
                 Column(f"{c} p90 |error|", "pct"), Column(f"{c} max |error|", "pct")]
    rows = []
    for f in fams:
        row: list[Any] = [f]
        for c in columns.values():
            s = c.get(f)
            row += ([None] * 5 if s is None else [
                s.n_predicted, s.n_skipped, *(None if x is None else x / 100 for x in
                                              (s.median_abs_pct_error, s.p90_abs_pct_error, s.max_abs_pct_error))])
        rows.append(row)
    return Table("families", "Per report family", cols, rows)


def rows_table(preds: list[Prediction], cv_preds: list[Prediction] | None) -> Table:
    cv_by_row = {p.result.row: p for p in cv_preds or []}
    rows, hl = [], []
    for i, p in enumerate(preds):
        r, c = p.result, cv_by_row.get(p.result.row)
        err = None if p.pct_error is None else p.pct_error / 100
        if (err is not None and abs(err) * 100 >= OUTLIER) or (c is not None and c.pct_error is not None
                                                              and abs(c.pct_error) >= OUTLIER):
            hl.append(i)
        name, unit = METRICS.get(r.metric, (r.metric, ""))
        rows.append([r.row, f"{r.num_chips or '?'}× {r.hw_id}", r.model_id, r.precision or "", r.workload_id,
                     f"{name} ({unit})" if unit else name, report_family(r), r.value, p.predicted, err,
                     None if c is None else c.predicted,
                     None if c is None or c.pct_error is None else c.pct_error / 100,
                     p.layout or p.skipped or ""])
    return Table("rows", "Every row", [
        Column("row", "int"), Column("system"), Column("model"), Column("precision"), Column("workload"),
        Column("metric"), Column("family"), Column("published", "number"), Column("predicted", "number"),
        Column("error", "pct"), Column("CV predicted", "number"), Column("CV error", "pct"),
        Column("layout, or why skipped")], rows, highlight=hl,
        note=f"Highlighted: off by {OUTLIER:g} % or more (in-sample or cross-validated).")


def power_table(power_preds: list[Any]) -> Table:
    rows = []
    for p in power_preds:
        r, mj = p.row, p.model_j_per_token
        rows.append([r.row, r.label(), r.system_power_w, p.predicted_w,
                     None if p.pct_error is None else p.pct_error / 100, r.joules_per_output_token,
                     mj if mj is not None and math.isfinite(mj) else None,
                     None if p.j_pct_error is None else p.j_pct_error / 100, p.layout or p.skipped or ""])
    return Table("power", "Wall power", [
        Column("row", "int"), Column("run"), Column("measured", "w"), Column("predicted", "w"), Column("error", "pct"),
        Column("J per output token, published", "number", "J"), Column("J per output token, model", "number", "J"),
        Column("J error", "pct"), Column("layout")], rows)


def _err_card(label: str, s: Summary) -> list[Card]:
    def p(x: float | None) -> str:
        return "–" if x is None else pct(x / 100)

    return [Card(f"{label} median |error|", p(s.median_abs_pct_error), f"{s.n_predicted} rows"),
            Card(f"{label} p90 |error|", p(s.p90_abs_pct_error)),
            Card(f"{label} max |error|", p(s.max_abs_pct_error), bad=(s.max_abs_pct_error or 0) >= 100)]


def build_page(source: str, preds: list[Prediction], summary: Summary, cvr: Any = None,
               power_preds: list[Any] | None = None, power_summary: Summary | None = None) -> Page:
    cv_preds = cvr.predictions if cvr is not None else None
    page = Page("tokenfleet validate: the performance model against published results",
                f"Results: {source}. In-sample: {summary.line()}.")
    cards = _err_card("in-sample", summary) + (_err_card("CV", cvr.summary)[:2] if cvr is not None else [])
    if power_summary is not None:
        cards.append(Card("power median |error|", "–" if power_summary.median_abs_pct_error is None
                          else pct(power_summary.median_abs_pct_error / 100), f"{power_summary.n_predicted} rows"))
    page.cards(cards)
    if cvr is None:
        page.text("Cross-validation was not run: add --cv (each hardware × model group is predicted by a fit that "
                  "never saw it; a few minutes).", cls="note")
    else:
        page.text(f"Cross-validated ({cvr.as_json()['method']}): {cvr.summary.line()}.")
    worst = sorted((p for p in preds if _ok(p) and abs(p.pct_error or 0) >= OUTLIER),
                   key=lambda p: -abs(p.pct_error or 0))
    page.callout([f"row {p.result.row}: {p.result.label()}: predicted {sig(p.predicted or 0)} against "
                  f"{sig(p.result.value)} published ({pct((p.pct_error or 0) / 100, signed=True)})" for p in worst],
                 bad=True, title=f"Rows off by {OUTLIER:g} % or more")
    page.section("Error of every row")
    page.figure("errors", "Prediction error per row, by report family", error_figure(preds, cv_preds),
                "Each dot is one published result.", wide=True)
    page.table(family_table(preds, cvr))
    page.section("Published against predicted, per metric")
    few = []
    for metric in sorted({p.result.metric for p in preds}):
        fig = metric_figure(metric, preds, cv_preds)
        name = METRICS.get(metric, (metric, ""))[0]
        n = sum(1 for p in preds if p.result.metric == metric and _ok(p))
        if fig is None:
            few.append(f"{name} ({n} row{'s' if n != 1 else ''})")
        else:
            page.figure(f"m_{metric}", f"{name[0].upper()}{name[1:]} ({n} rows)", fig,
                        "Log scales; the band is ±25 % around predicted = published.")
    if few:
        page.text("Too few rows for a chart (see the table of every row): " + ", ".join(few) + ".", cls="note")
    if power_preds:
        page.section("Wall power")
        if power_summary is not None:
            g = power_groups(power_preds)
            page.text(f"{power_summary.line()}; loaded runs {g['loaded'].line()}; idle floors {g['idle'].line()}.")
        fig = power_figure(power_preds)
        if fig is not None:
            page.figure("power", "Wall power of whole nodes", fig, "Log scales; the band is ±10 %.")
        page.table(power_table(power_preds))
    page.section("Every row")
    page.table(rows_table(preds, cv_preds))
    return page


def render(source: str, preds: list[Prediction], summary: Summary, cvr: Any = None,
           power_preds: list[Any] | None = None, power_summary: Summary | None = None) -> str:
    return build_page(source, preds, summary, cvr, power_preds, power_summary).render()


def write_report(out_dir: Path, source: str, preds: list[Prediction], summary: Summary, cvr: Any = None,
                 power_preds: list[Any] | None = None, power_summary: Summary | None = None) -> Path:
    """report.html (returned), plotly.min.js, tables.xlsx and tables/*.csv in ``out_dir``."""
    out_dir.mkdir(parents=False, exist_ok=True)
    written = write_page(build_page(source, preds, summary, cvr, power_preds, power_summary), out_dir)
    return written[0]


__all__ = ["build_page", "render", "write_report"]
