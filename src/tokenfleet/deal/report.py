"""Self-contained HTML report of a deal valuation (plotly JavaScript embedded once; no network needed)."""

from __future__ import annotations

import html
import itertools
from pathlib import Path

import plotly.graph_objects as go

from tokenfleet.deal.model import Deal
from tokenfleet.deal.results import DealValuation


def figures(v: DealValuation) -> list[go.Figure]:
    """Vesting over time, distribution of total warrant value, ownership path, expected spend and MW."""
    dates = [d.isoformat() for d in v.grid_dates]
    figs = []
    if v.tranches:
        f = go.Figure()
        for tr in v.tranches:
            f.add_trace(go.Scatter(x=dates, y=list(tr.cumulative_vest_probability), mode="lines", name=tr.name))
        f.update_layout(title="Vesting over time: P(tranche vested by date)", yaxis={"range": [0, 1.02]})
        figs.append(f)
    if v.total is not None:
        edges = v.total.bin_edges
        mids = [(a + b) / 2 / 1e9 for a, b in itertools.pairwise(edges)]
        f = go.Figure(go.Bar(x=mids, y=list(v.total.counts), name="paths"))
        f.add_vline(x=v.total.mean / 1e9, line_dash="dash", annotation_text="mean")
        f.update_layout(title="Distribution of total warrant value (PV, $B)", xaxis_title="$B", yaxis_title="paths")
        figs.append(f)
    if v.ownership:
        f = go.Figure()
        for o in v.ownership:
            f.add_trace(go.Scatter(x=dates, y=[x * 100 for x in o.fraction], mode="lines", name=o.holder))
        f.update_layout(title="Ownership path: expected % of the issuer held", yaxis_title="%")
        figs.append(f)
    f = go.Figure()
    f.add_trace(go.Scatter(x=dates, y=[x / 1e9 for x in v.contract.spend_path_usd], name="cumulative purchases ($B)"))
    f.add_trace(go.Scatter(x=dates, y=list(v.contract.mw_path), name="MW delivered", yaxis="y2"))
    f.update_layout(
        title="Expected spend and capacity",
        yaxis={"title": "$B"},
        yaxis2={"title": "MW", "overlaying": "y", "side": "right"},
    )
    figs.append(f)
    return figs


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def render(deal: Deal, v: DealValuation) -> str:
    """The report as one HTML string."""
    parts = []
    for i, fig in enumerate(figures(v)):
        parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False))
    tranche_rows = "".join(
        f"<tr><td>{html.escape(t.name)}</td><td>{html.escape(t.conditions)}</td><td>{t.shares:,.0f}</td>"
        f"<td>{t.vest_probability:.1%}</td><td>{t.expected_vest_date or 'never'}</td>"
        f"<td>${t.value_usd / 1e9:,.3f}B ± {t.stderr_usd / 1e9:,.3f}</td>"
        f"<td>{'' if t.closed_form_usd is None else f'${t.closed_form_usd / 1e9:,.3f}B'}</td>"
        f"<td>{html.escape(t.method)}</td></tr>"
        for t in v.tranches
    )
    p = v.prices
    summary = _table(
        [
            ("paths / seed", f"{v.paths:,} / {v.seed}"),
            ("expected total payments", f"${v.contract.expected_total_payments_usd / 1e9:,.2f}B"),
            ("expected warrant value", f"${v.warrant_value_usd / 1e9:,.2f}B"),
            (
                ("buyer NPV", f"${v.buyer_npv_usd / 1e9:,.2f}B")
                if v.buyer_npv_usd is not None
                else (
                    "PV buyer payments less warrants (no NPV: no market price)",
                    f"${v.buyer_net_cost_usd / 1e9:,.2f}B",
                )
            ),
            ("issuer PV receipts less warrant cost", f"${v.issuer_net_usd / 1e9:,.2f}B"),
            (
                "$/MW-year headline / net",
                f"{_num(p.usd_per_mw_year, ',.0f')} / {_num(p.net_usd_per_mw_year, ',.0f')}",
            ),
            ("$/Mtok headline / net", f"{_num(p.usd_per_mtok, ',.4f')} / {_num(p.net_usd_per_mtok, ',.4f')}"),
        ]
    )
    sources = "".join(
        f"<li><a href='{html.escape(s.url)}'>{html.escape(s.url)}</a> {html.escape(s.note)}"
        f"{' [' + s.status + ']' if s.status else ''}</li>"
        for s in deal.sources
    )
    assumptions = "".join(f"<li>{html.escape(a)}</li>" for a in deal.assumptions)
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in v.warnings)
    if warnings:
        warnings = f"<h2>Warnings</h2><ul>{warnings}</ul>"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(deal.name)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}</style></head><body>
<h1>{html.escape(deal.name)}</h1><p>{html.escape(deal.description)}</p>{summary}{warnings}
<h2>Tranches</h2><table><tr><th>tranche</th><th>conditions</th><th>shares</th><th>P(vest)</th>
<th>E[vest date]</th><th>value (MC ± se)</th><th>closed form</th><th>method</th></tr>{tranche_rows}</table>
{"".join(parts)}
<h2>Assumptions</h2><ul>{assumptions}</ul><h2>Sources</h2><ul>{sources}</ul></body></html>"""


def write_report(deal: Deal, v: DealValuation, path: Path) -> None:
    path.write_text(render(deal, v), encoding="utf-8")


__all__ = ["figures", "render", "write_report"]
