"""``report.html`` (and ``tables.xlsx`` + ``tables/*.csv``) of a deal valuation, in the shared visual
language: expected spend and MW delivered as small multiples on one time axis, vesting per tranche, the
warrant value distribution, the ownership path and payments by year. :func:`build_page` is what the
dashboard reuses."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import plotly.graph_objects as go

from tokenfleet.deal.model import Deal
from tokenfleet.deal.results import DealValuation
from tokenfleet.viz import theme as T
from tokenfleet.viz.fmt import count, money, mw, pct
from tokenfleet.viz.page import Card, Page
from tokenfleet.viz.page import write_report as write_page
from tokenfleet.viz.table import Column, Table, kv_table

DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star")


def spend_and_mw(v: DealValuation) -> go.Figure:
    """Cumulative expected purchases and MW delivered: two panels on one date axis (no twin axes)."""
    dates = [d.isoformat() for d in v.grid_dates]
    c = v.contract
    fig = T.new(height=440, rows=2, shared_x=True, vspace=0.08)
    div = T.money_axis(fig, "y", "purchases to date", c.spend_path_usd, row=1, col=1)
    fig.add_trace(go.Scatter(x=dates, y=[x / div for x in c.spend_path_usd], mode="lines", name="expected purchases",
                             line={"color": T.colour(0), "width": 2.5}, showlegend=False,
                             hovertext=[money(x) for x in c.spend_path_usd], hoverinfo="x+text"), row=1, col=1)
    mdiv = T.power_axis(fig, "y", "delivered", c.mw_path, row=2, col=1)
    fig.add_trace(go.Scatter(x=dates, y=[x / mdiv for x in c.mw_path], mode="lines", name="expected MW delivered",
                             line={"color": T.colour(3), "width": 2.5, "shape": "hv"}, showlegend=False,
                             hovertext=[mw(x) for x in c.mw_path], hoverinfo="x+text"), row=2, col=1)
    T.axis(fig, "x", "date", row=2, col=1)
    for i, (vals, d, fmt) in enumerate(((c.spend_path_usd, div, money), (c.mw_path, mdiv, mw)), start=1):
        if vals:
            fig.add_annotation(x=dates[-1], y=vals[-1] / d, text=fmt(vals[-1]), showarrow=False, xanchor="right",
                               yanchor="bottom", row=i, col=1, font={"size": 11})
            fig.update_yaxes(range=T.pad_range([x / d for x in vals], pad=0.15), row=i, col=1)
    return fig


def vesting(v: DealValuation) -> go.Figure | None:
    if not v.tranches:
        return None
    dates = [d.isoformat() for d in v.grid_dates]
    fig = T.new(height=380)
    seen: dict[tuple[float, ...], str] = {}
    for i, tr in enumerate(v.tranches):
        key = tuple(round(p, 3) for p in tr.cumulative_vest_probability)
        name = tr.name + (f" (same as {seen[key]})" if key in seen else "")
        seen.setdefault(key, tr.name)
        fig.add_trace(go.Scatter(x=dates, y=[p * 100 for p in tr.cumulative_vest_probability], mode="lines+markers",
                                 name=name, line={"color": T.colour(i), "dash": DASHES[i % len(DASHES)], "width": 2},
                                 marker={"symbol": SYMBOLS[i % len(SYMBOLS)], "size": 6, "maxdisplayed": 12}))
    T.axis(fig, "x", "date")
    T.axis(fig, "y", "probability the tranche has vested", "%", range=[0, 103])
    return fig


def value_distribution(v: DealValuation) -> go.Figure | None:
    if v.total is None or not v.total.counts:
        return None
    edges = v.total.bin_edges
    mids = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    fig = T.new(height=340)
    div = T.money_axis(fig, "x", "total warrant value, present value", [*edges, v.total.mean])
    n = sum(v.total.counts) or 1
    fig.add_trace(go.Bar(x=[m / div for m in mids], y=[k / n * 100 for k in v.total.counts], showlegend=False,
                         marker_color=T.colour(0), hovertext=[f"{money(a)} – {money(b)}: {pct(k / n)}"
                                                              for (a, b), k in zip(itertools.pairwise(edges),
                                                                                   v.total.counts, strict=True)],
                         hoverinfo="text"))
    T.axis(fig, "y", "share of paths", "%")
    T.slo_line(fig, x=v.total.mean / div, text=f"mean {money(v.total.mean)}")
    fig.update_layout(bargap=0.05)
    return fig


def ownership(v: DealValuation) -> go.Figure | None:
    if not v.ownership:
        return None
    dates = [d.isoformat() for d in v.grid_dates]
    fig = T.new(height=340)
    for i, o in enumerate(v.ownership):
        T.series(fig, dates, [x * 100 for x in o.fraction], o.holder, T.colour(i))
    T.axis(fig, "x", "date")
    T.axis(fig, "y", "expected share of the issuer held", "%", rangemode="tozero")
    return fig


def purchases_by_year(v: DealValuation) -> list[tuple[int, float, float]]:
    """(calendar year, expected purchases in the year, MW delivered in the year) from the grid paths."""
    out: list[tuple[int, float, float]] = []
    c = v.contract
    dates: list[dt.date] = list(v.grid_dates)
    if not dates:
        return out
    years = sorted({d.year for d in dates})
    for y in years:
        idx = [i for i, d in enumerate(dates) if d.year == y]
        last = idx[-1]
        prev = idx[0] - 1
        s0 = c.spend_path_usd[prev] if prev >= 0 else 0.0
        m0 = c.mw_path[prev] if prev >= 0 else 0.0
        out.append((y, c.spend_path_usd[last] - s0, c.mw_path[last] - m0))
    return out


def yearly(v: DealValuation) -> go.Figure | None:
    rows = [r for r in purchases_by_year(v) if r[1] > 0 or r[2] > 0]
    if not rows:
        return None
    fig = T.new(height=380, rows=2, shared_x=True, vspace=0.1)
    xs = [str(r[0]) for r in rows]
    div = T.money_axis(fig, "y", "purchases", [r[1] for r in rows], row=1, col=1)
    fig.add_trace(go.Bar(x=xs, y=[r[1] / div for r in rows], marker_color=T.colour(0), showlegend=False,
                         text=[money(r[1]) for r in rows], textposition="outside", cliponaxis=False), row=1, col=1)
    mdiv = T.power_axis(fig, "y", "delivered", [r[2] for r in rows], row=2, col=1)
    fig.add_trace(go.Bar(x=xs, y=[r[2] / mdiv for r in rows], marker_color=T.colour(3), showlegend=False,
                         text=[mw(r[2]) for r in rows], textposition="outside", cliponaxis=False), row=2, col=1)
    fig.update_yaxes(range=T.pad_range([r[1] / div for r in rows], pad=0.25), row=1, col=1)
    fig.update_yaxes(range=T.pad_range([r[2] / mdiv for r in rows], pad=0.25), row=2, col=1)
    T.axis(fig, "x", "calendar year", row=2, col=1)
    return fig


def tables(v: DealValuation) -> list[Table]:
    c, p = v.contract, v.prices
    summary = kv_table("summary", "Contract and value", [
        ("Monte Carlo paths", v.paths, "int"), ("seed", str(v.seed), "text"),
        ("scheduled spend, firm", c.scheduled_spend_usd, "money"),
        ("scheduled spend with options", c.scheduled_spend_with_options_usd, "money"),
        ("expected purchases", c.expected_purchases_usd, "money"),
        ("expected take-or-pay shortfall", c.expected_shortfall_usd, "money"),
        ("probability of a shortfall", c.shortfall_probability, "pct"),
        ("other payments (not credited against spend)", c.other_payments_usd, "money"),
        ("expected total payments", c.expected_total_payments_usd, "money"),
        ("MW delivered by the end of the term", c.expected_mw_delivered, "mw"),
        ("PV of buyer payments", c.pv_buyer_payments_usd, "money"),
        ("PV of the compute at market price", c.pv_compute_value_usd, "money"),
        ("expected warrant value", v.warrant_value_usd, "money"),
        ("warrant value / revenue", v.warrant_value_to_revenue, "pct"),
        ("buyer NPV", v.buyer_npv_usd, "money"),
        ("buyer PV payments less warrants", v.buyer_net_cost_usd, "money"),
        ("issuer PV receipts less warrant cost", v.issuer_net_usd, "money"),
    ])
    prices = Table("prices", "Effective prices", [Column("per"), Column("headline", "money"),
                                                  Column("net of warrants", "money")], [
        ["MW-year", p.usd_per_mw_year, p.net_usd_per_mw_year], ["MW delivered", p.usd_per_mw, p.net_usd_per_mw],
        ["million output tokens", p.usd_per_mtok, p.net_usd_per_mtok]],
        note="Headline: expected payments over the capacity or tokens; net: less the expected warrant value.")
    tranches = Table("tranches", "Tranches: vesting and value", [
        Column("tranche"), Column("conditions"), Column("shares", "int"), Column("P(vest)", "pct"),
        Column("expected vest date", "date"), Column("value (Monte Carlo)", "money"),
        Column("standard error", "money"), Column("closed form", "money"), Column("method")],
        [[t.name, t.conditions, t.shares, t.vest_probability, t.expected_vest_date, t.value_usd, t.stderr_usd,
          t.closed_form_usd, t.method] for t in v.tranches])
    out = [summary, prices, tranches]
    if v.total is not None:
        d = v.total
        out.append(kv_table("distribution", "Total warrant value per path", [
            ("mean", d.mean, "money"), ("standard error", d.stderr, "money"), ("standard deviation", d.stdev, "money"),
            ("5th percentile", d.p5, "money"), ("median", d.p50, "money"), ("95th percentile", d.p95, "money"),
            ("probability of zero", d.probability_zero, "pct")]))
    by_year = purchases_by_year(v)
    if by_year:
        out.append(Table("by_year", "Expected purchases and MW by calendar year", [
            Column("year"), Column("purchases", "money"), Column("MW delivered", "mw")],
            [[str(y), s, m] for y, s, m in by_year]))
    if v.valuation_points:
        out.append(Table("valuation_points", "Warrant value at named share prices", [
            Column("point"), Column("date", "date"), Column("share price", "number", "$"),
            Column("warrant value", "money"), Column("standard error", "money")],
            [[q.label, q.date, q.share_price_usd, q.warrant_value_usd, q.stderr_usd] for q in v.valuation_points]))
    return out


def build_page(deal: Deal, v: DealValuation) -> Page:
    c = v.contract
    page = Page(f"Deal: {deal.name}", deal.description)
    npv = v.buyer_npv_usd
    page.cards([
        Card("Expected payments", money(c.expected_total_payments_usd),
             f"firm schedule {money(c.scheduled_spend_usd)}"),
        Card("MW delivered", mw(c.expected_mw_delivered), "expected, by the end of the term"),
        Card("Warrant value", money(v.warrant_value_usd), f"{count(v.paths)} paths"),
        Card("Buyer NPV" if npv is not None else "Buyer net cost", money(npv if npv is not None else
                                                                         v.buyer_net_cost_usd),
             "compute value - payments + warrants" if npv is not None else "PV payments less warrants"),
        Card("Per MW-year", money(v.prices.usd_per_mw_year), f"net of warrants {money(v.prices.net_usd_per_mw_year)}"),
    ])
    page.callout(list(v.warnings), bad=True, title="Warnings")
    page.callout(list(v.notes), title="Notes")
    tabs = tables(v)
    page.section("Spend and capacity")
    page.figure("spend", "Expected purchases and MW delivered", spend_and_mw(v), "Cumulative, averaged over paths.")
    fig = yearly(v)
    if fig is not None:
        page.figure("by_year", "By calendar year", fig)
    for t in tabs[:2]:
        page.table(t)
    page.section("Warrants")
    for fid, title, fig_, cap in (("vesting", "Vesting over time", vesting(v), "Tranches with the same path are named "
                                   "so in the legend."),
                                  ("value", "Distribution of total warrant value", value_distribution(v), ""),
                                  ("ownership", "Ownership path", ownership(v), "")):
        if fig_ is not None:
            page.figure(fid, title, fig_, cap)
    for t in tabs[2:]:
        page.table(t)
    if deal.assumptions or deal.sources:
        page.section("Assumptions and sources")
        if deal.assumptions:
            page.callout(list(deal.assumptions), title="Assumptions")
        page.tables.append(Table("sources", "Sources", [Column("source"), Column("note"), Column("status")],
                                 [[s.url, s.note, s.status or ""] for s in deal.sources]))
        import html

        page.raw("<ul class='sources'>" + "".join(
            f"<li><a href='{html.escape(s.url)}'>{html.escape(s.url)}</a> {html.escape(s.note)}"
            + (f" [{html.escape(s.status)}]" if s.status else "") + "</li>" for s in deal.sources) + "</ul>")
    return page


def write_report(deal: Deal, v: DealValuation, out_dir: Path) -> list[Path]:
    """report.html, plotly.min.js, tables.xlsx and tables/*.csv in ``out_dir``."""
    return write_page(build_page(deal, v), out_dir)


def render(deal: Deal, v: DealValuation) -> str:
    return build_page(deal, v).render()


__all__ = ["build_page", "render", "tables", "write_report"]
