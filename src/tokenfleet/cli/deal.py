"""``tokenfleet deal DEAL.yaml``: value a compute deal (contract + warrants); print or write it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tokenfleet.deal.load import load_deal
from tokenfleet.deal.model import Deal
from tokenfleet.deal.results import DealValuation
from tokenfleet.deal.schema import paths_error
from tokenfleet.deal.valuation import value_deal
from tokenfleet.errors import InputError

_USAGE = (
    "give a deal file, e.g. `tokenfleet deal examples/deals/openai-cerebras.yaml` "
    "(shipped: openai-cerebras, amd-openai, take-or-pay-capacity in examples/deals/)"
)


def _usd(x: float | None) -> str:
    if x is None:
        return "-"
    a = abs(x)
    if a >= 1e9:
        return f"${x / 1e9:,.2f}B"
    if a >= 1e6:
        return f"${x / 1e6:,.2f}M"
    return f"${x:,.2f}"


def _paths_option(text: str | None) -> int | None:
    """``--paths`` as a whole number of paths (``1e6`` allowed), within the bounds, or a clear error."""
    if text is None:
        return None
    try:
        number = float(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise InputError(f"{text!r} is not a number of paths", where="--paths") from None
    if not math.isfinite(number) or number != int(number):
        raise InputError(f"{text!r} is not a whole number of paths", where="--paths")
    why = paths_error(number)
    if why is not None:
        raise InputError(why, where="--paths")
    return int(number)


def register(app: typer.Typer) -> None:
    @app.command("deal")
    def deal_command(
        file: Path | None = typer.Argument(None, help="Deal YAML file (see examples/deals/)."),
        paths: str | None = typer.Option(
            None, "--paths", help="Monte Carlo paths, e.g. 200000 or 1e6 (default: the file's, 100,000)."
        ),
        seed: int | None = typer.Option(
            None, "--seed", min=0, max=2**63 - 1, help="Random seed, 0 or more (default: the file's)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print deal.json to stdout instead of tables."),
        out: Path | None = typer.Option(
            None, "--out", help="Write report.html, deal.json, tables.xlsx and tables/*.csv into this directory."
        ),
    ) -> None:
        """Value a compute deal: vesting probabilities, warrant values, effective prices, NPV, ownership."""
        if file is None:
            raise typer.BadParameter(_USAGE, param_hint="DEAL.yaml")
        n_paths = _paths_option(paths)
        deal = load_deal(file)
        n_paths = n_paths if n_paths is not None else deal.settings.paths
        err = Console(stderr=True)
        with Progress(
            TextColumn("simulating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        ) as bar:
            task = bar.add_task("paths", total=n_paths)
            result = value_deal(deal, paths=n_paths, seed=seed, progress=lambda k: bar.advance(task, k))
        payload = result.to_dict()
        if out is not None:
            from tokenfleet.deal.report import write_report

            out.mkdir(parents=True, exist_ok=True)
            (out / "deal.json").write_text(json.dumps(payload, indent=2))
            write_report(deal, result, out)
        if as_json:
            typer.echo(json.dumps(payload, indent=2))
            return
        console = Console()
        print_tables(console, deal, result)
        if out is not None:
            console.print(f"wrote {out}/: report.html, plotly.min.js, deal.json, tables.xlsx, tables/*.csv")


def print_tables(console: Console, deal: Deal, v: DealValuation) -> None:
    c = deal.contract
    eq = deal.equity
    head = f"[bold]{deal.name}[/]: {c.buyer} buys from {c.seller}; {v.paths:,} paths, seed {v.seed}"
    if eq is not None:
        head += f"; {eq.name} at ${eq.share_price_usd:,.2f}, vol {eq.volatility:.0%}"
    console.print(head)
    co = v.contract
    t = Table(title="Contract", show_header=False)
    rows = [
        (
            "scheduled spend (firm / with options)",
            f"{_usd(co.scheduled_spend_usd)} / {_usd(co.scheduled_spend_with_options_usd)}",
        ),
        ("expected purchases", _usd(co.expected_purchases_usd)),
        (
            "take-or-pay shortfall (expected, P>0)",
            f"{_usd(co.expected_shortfall_usd)}, {co.shortfall_probability:.1%}",
        ),
        ("other payments (data-center funding)", _usd(co.other_payments_usd)),
        (
            "MW delivered by term end / MW-years",
            f"{co.expected_mw_delivered:,.0f} MW / {co.expected_mw_years:,.0f}",
        ),
        ("PV buyer payments (incl. financing)", _usd(co.pv_buyer_payments_usd)),
    ]
    if co.pv_compute_value_usd is not None:
        rows.append(("PV compute value at market price", _usd(co.pv_compute_value_usd)))
    for k, val in rows:
        t.add_row(k, val)
    console.print(t)
    if v.tranches:
        tt = Table(title="Tranches: vesting and value (PV at the risk-free rate)")
        for col in ("tranche", "shares", "P(vest)", "E\\[vest date]", "value (MC ± se)", "closed form"):
            tt.add_column(col, justify="right" if col in ("shares", "P(vest)") else "left")
        for tr in v.tranches:
            tt.add_row(
                tr.name,
                f"{tr.shares / 1e6:,.2f}M",
                f"{tr.vest_probability:.1%}",
                str(tr.expected_vest_date or "never"),
                f"{_usd(tr.value_usd)} ± {_usd(tr.stderr_usd)}",
                _usd(tr.closed_form_usd),
            )
        console.print(tt)
        for tr in v.tranches:
            how = f"\n      closed form: {tr.method}" if tr.closed_form_usd is not None else ""
            console.print(f"  {tr.name}: {tr.conditions}{how}", highlight=False)
    if v.total is not None:
        d = v.total
        tot = Table(title="Total warrant value (per-path distribution)")
        for col in ("mean ± se", "sd", "p5", "p50", "p95", "P(0)", "/ revenue"):
            tot.add_column(col)
        ratio = f"{v.warrant_value_to_revenue:.1%}" if v.warrant_value_to_revenue is not None else "-"
        tot.add_row(
            f"{_usd(d.mean)} ± {_usd(d.stderr)}",
            _usd(d.stdev),
            _usd(d.p5),
            _usd(d.p50),
            _usd(d.p95),
            f"{d.probability_zero:.1%}",
            ratio,
        )
        console.print(tot)
    p = v.prices
    pt = Table(title="Effective prices (expected payments, net = less expected warrant value)")
    for col in ("unit", "headline", "net of warrants"):
        pt.add_column(col)
    pt.add_row("per MW-year", _usd(p.usd_per_mw_year), _usd(p.net_usd_per_mw_year))
    pt.add_row("per MW delivered", _usd(p.usd_per_mw), _usd(p.net_usd_per_mw))
    pt.add_row("per million tokens", _usd(p.usd_per_mtok), _usd(p.net_usd_per_mtok))
    console.print(pt)
    buyer_rate, issuer_rate = deal.settings.discount_rate, deal.settings.issuer_discount_rate
    if v.buyer_npv_usd is not None:
        console.print(
            f"NPV to buyer @ {buyer_rate:.1%}: [bold]{_usd(v.buyer_npv_usd)}[/] (compute value - payments + warrants)"
        )
    else:
        console.print(
            f"PV of buyer payments less warrants @ {buyer_rate:.1%}: [bold]{_usd(v.buyer_net_cost_usd)}[/] "
            "(no NPV: the file gives no contract.market_usd_per_mw_year to value the compute)"
        )
    console.print(f"issuer PV receipts @ {issuer_rate:.1%} less warrant cost: [bold]{_usd(v.issuer_net_usd)}[/]")
    if v.ownership:
        steps = v.steps_per_year
        ot = Table(title="Vesting timeline: expected shares held and ownership (holder / (outstanding + issued))")
        ot.add_column("date")
        for o in v.ownership:
            ot.add_column(f"{o.holder} shares")
            ot.add_column(f"{o.holder} %")
        for i in range(0, len(v.grid_dates), steps):
            ot.add_row(
                str(v.grid_dates[i]),
                *[x for o in v.ownership for x in (f"{o.expected_shares[i] / 1e6:,.2f}M", f"{o.fraction[i]:.2%}")],
            )
        console.print(ot)
        for o in v.ownership:
            console.print(f"{o.holder}: {o.fully_vested_fraction:.2%} if every tranche vests")
    if v.valuation_points:
        vt = Table(title="Warrant value at valuation points (same seed, fewer paths)")
        for col in ("point", "date", "price/share", "warrant value"):
            vt.add_column(col)
        for pv in v.valuation_points:
            vt.add_row(
                pv.label,
                str(pv.date),
                f"${pv.share_price_usd:,.2f}",
                f"{_usd(pv.warrant_value_usd)} ± {_usd(pv.stderr_usd)}",
            )
        console.print(vt)
    for warning in v.warnings:
        console.print(f"[yellow]warning: {warning}[/]")
    for note in v.notes:
        console.print(f"[dim]note: {note}[/]")
    console.print(f"[dim]{v.elapsed_s:.2f} s[/]")


__all__ = ["print_tables", "register"]
