"""Cross-field rules of a deal file; each failure is a :class:`ScenarioError` naming ``file: field.path``.

Rules: the term ends after it starts; deliveries, commitments and financing dates lie inside the term;
a loan matures after it is made; warrants need a ``company``; a warrant gives ``shares`` or
``percent_of_company`` (one of them) and expires after the start; each tranche gives ``shares`` or
``fraction``; tranche names are unique and not blank; a warrant has no more shares than the company has
outstanding; tranche shares add up to no more than the warrant; spend, GW and price hurdles do not decrease
from one tranche to the next; hurdle dates lie between the start and the expiry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from tokenfleet.deal.schema import CompanySpec, DealSpec, DeliverySpec, TrancheSpec, WarrantSpec
from tokenfleet.errors import ScenarioError

_Fail = Callable[[str, str], ScenarioError]


def check_deal(spec: DealSpec, file: str) -> None:
    """Raise :class:`ScenarioError` for the first inconsistent term in ``spec``."""
    c = spec.contract

    def fail(field: str, message: str) -> ScenarioError:
        return ScenarioError(message, where=f"{file}: {field}")

    start, end = c.start_date, c.end_date
    if end <= start:
        raise fail("contract.end_date", f"{end} is not after start_date {start}")
    term = f"the term {start}..{end}"
    if c.from_plan is not None and c.deliveries:
        raise fail("contract.from_plan", "give either deliveries or from_plan, not both")
    if c.from_plan is None and not c.deliveries:
        raise fail("contract.deliveries", "no deliveries: list them or take them from a plan (from_plan)")
    _check_deliveries(c.deliveries, "contract.deliveries", start, end, fail)
    for i, opt in enumerate(c.options):
        _check_deliveries(opt.deliveries, f"contract.options.{i}.deliveries", start, end, fail)
    if c.from_plan is not None and not start <= c.from_plan.first_delivery <= end:
        raise fail("contract.from_plan.first_delivery", f"{c.from_plan.first_delivery} is outside {term}")
    needs_tokens = c.pricing.usd_per_mtok > 0 or any(o.pricing and o.pricing.usd_per_mtok > 0 for o in c.options)
    if needs_tokens and c.tokens_per_mw_year is None and c.from_plan is None:
        raise fail("contract.tokens_per_mw_year", "needed to charge pricing.usd_per_mtok")
    for i, com in enumerate(c.commitments):
        if not start <= com.by <= end:
            raise fail(f"contract.commitments.{i}.by", f"{com.by} is outside {term}")
    for i, fin in enumerate(c.financing):
        if not start <= fin.date <= end:
            raise fail(f"contract.financing.{i}.date", f"{fin.date} is outside {term}")
        if fin.kind == "loan" and (fin.maturity is None or fin.maturity <= fin.date):
            raise fail(f"contract.financing.{i}.maturity", "a loan needs a maturity after its date")
    if spec.warrants and spec.company is None:
        raise fail("company", "required when the deal has warrants (share price, shares outstanding, volatility)")
    if spec.company is not None:
        for i, vp in enumerate(spec.company.valuation_points):
            if (vp.share_price_usd is None) == (vp.valuation_usd is None):
                raise fail(f"company.valuation_points.{i}", "give exactly one of share_price_usd or valuation_usd")
    for i, w in enumerate(spec.warrants):
        _check_warrant(w, f"warrants.{i}", start, fail)
        if spec.company is not None:
            _check_against_company(w, f"warrants.{i}", spec.company, fail)


def _check_against_company(w: WarrantSpec, field: str, company: CompanySpec, fail: _Fail) -> None:
    if w.shares is not None and w.shares > company.shares_outstanding:
        raise fail(
            f"{field}.shares",
            f"{w.shares:,.0f} warrant shares exceed the {company.shares_outstanding:,.0f} shares outstanding "
            "(company.shares_outstanding); check both counts",
        )


def _check_deliveries(items: list[DeliverySpec], field: str, start: dt.date, end: dt.date, fail: _Fail) -> None:
    for j, d in enumerate(items):
        if not start <= d.date <= end:
            raise fail(f"{field}.{j}.date", f"{d.date} is outside the term {start}..{end}")
        if d.mw <= 0.0 and d.systems <= 0.0:
            raise fail(f"{field}.{j}", "a delivery needs mw > 0 or systems > 0")


def _check_warrant(w: WarrantSpec, field: str, start: dt.date, fail: _Fail) -> None:
    if (w.shares is None) == (w.percent_of_company is None):
        raise fail(field, "give exactly one of shares or percent_of_company")
    if w.expiry <= start:
        raise fail(f"{field}.expiry", f"{w.expiry} is not after the deal start {start}")
    total = w.shares if w.shares is not None else None
    tranche_shares = 0.0
    fractions = 0.0
    names: dict[str, int] = {}
    for k, t in enumerate(w.tranches):
        tf = f"{field}.tranches.{k}"
        if t.name is not None and not t.name.strip():
            raise fail(f"{tf}.name", "must not be blank")
        label = t.name.strip() if t.name is not None else f"T{k + 1}"
        if label in names:
            raise fail(f"{tf}.name", f"{label!r} is already the name of tranche {names[label]}; names must differ")
        names[label] = k
        if (t.shares is None) == (t.fraction is None):
            raise fail(tf, "give exactly one of shares or fraction")
        tranche_shares += t.shares or 0.0
        fractions += t.fraction or 0.0
        _check_hurdle(t, tf, start, w.expiry, fail)
    if fractions > 1.0 + 1e-9:
        raise fail(f"{field}.tranches", f"tranche fractions add up to {fractions:.4g}, beyond the whole warrant")
    if total is not None and tranche_shares + fractions * total > total * (1.0 + 1e-9):
        raise fail(
            f"{field}.tranches",
            f"tranche shares add up to {tranche_shares + fractions * total:,.0f}, beyond the warrant's {total:,.0f}",
        )
    if total is None and tranche_shares > 0.0:
        raise fail(f"{field}.tranches", "use fraction (not shares) when the warrant is given as percent_of_company")
    _check_order(w.tranches, field, fail)


def _check_hurdle(t: TrancheSpec, tf: str, start: dt.date, expiry: dt.date, fail: _Fail) -> None:
    h = t.hurdle
    if h is None:
        return
    span = f"between the deal start {start} and the expiry {expiry}"
    if h.vwap_days is not None and h.average_over_days is not None:
        raise fail(f"{tf}.hurdle.vwap_days", "give vwap_days or average_over_days, not both")
    if h.monitoring == "continuous" and (h.vwap_days is not None or h.average_over_days is not None):
        raise fail(
            f"{tf}.hurdle.monitoring",
            "vwap_days / average_over_days test trading-day closes; use monitoring: close or leave it out",
        )
    if h.mode == "at_date":
        if h.date is None:
            raise fail(f"{tf}.hurdle.date", "an at_date hurdle needs a date")
        if not start <= h.date <= expiry:
            raise fail(f"{tf}.hurdle.date", f"{h.date} is not {span}")
        return
    for name, when in (("window_start", h.window_start), ("window_end", h.window_end)):
        if when is not None and not start <= when <= expiry:
            raise fail(f"{tf}.hurdle.{name}", f"{when} is not {span}")
    if h.window_start is not None and h.window_end is not None and h.window_end <= h.window_start:
        raise fail(f"{tf}.hurdle.window_end", f"{h.window_end} is not after window_start {h.window_start}")


def _check_order(tranches: list[TrancheSpec], field: str, fail: _Fail) -> None:
    last: dict[str, tuple[float, int]] = {}
    for k, t in enumerate(tranches):
        values = {
            "spend_usd": t.spend_usd,
            "gw_delivered": t.gw_delivered,
            "hurdle.price_usd": t.hurdle.price_usd if t.hurdle is not None else None,
        }
        for key, value in values.items():
            if value is None:
                continue
            if key in last and value < last[key][0]:
                prev, pk = last[key]
                raise fail(
                    f"{field}.tranches.{k}.{key}",
                    f"{value:,.6g} is below tranche {pk}'s {prev:,.6g} (tranche conditions must not decrease)",
                )
            last[key] = (value, k)


__all__ = ["check_deal"]
