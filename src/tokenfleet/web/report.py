"""report.html of a dashboard run: its headline numbers, tables and the same figures as the page, in one file
with plotly.js embedded once (opens without a network)."""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return html.escape("-" if v is None else str(v))


def render(title: str, output: dict[str, Any]) -> str:
    summary = output.get("summary", {})
    cards = "".join(
        f"<div class='card'><div class='k'>{html.escape(s['label'])}</div>"
        f"<div class='v'>{_fmt(s['value'])} <small>{html.escape(s.get('unit', ''))}</small></div></div>"
        for s in summary.values()
    )
    tables = []
    for t in output.get("tables", []):
        head = "".join(f"<th>{html.escape(c)}</th>" for c in t["columns"])
        body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in r) + "</tr>" for r in t["rows"])
        tables.append(f"<h2>{html.escape(t['title'])}</h2><table><tr>{head}</tr>{body}</table>")
    figs = []
    for i, f in enumerate(output.get("figures", [])):
        fig = go.Figure(f["figure"])
        figs.append("<div class='fig'>" + fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False)
                    + "</div>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>
body{{font-family:system-ui,-apple-system,sans-serif;margin:28px;color:#1f2937}}
.cards{{display:flex;flex-wrap:wrap;gap:10px}} .card{{border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px}}
.k{{font-size:12px;color:#6b7280}} .v{{font-size:20px;font-weight:600}}
table{{border-collapse:collapse;font-size:13px;margin-bottom:12px}} td,th{{border-bottom:1px solid #e5e7eb;
padding:4px 8px;text-align:right}} th{{background:#f9fafb}}
.figs{{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:12px}}</style></head><body>
<h1>{html.escape(title)}</h1><div class="cards">{cards}</div>{''.join(tables)}
<div class="figs">{''.join(figs)}</div></body></html>"""


__all__ = ["render"]
