"""Load a deal YAML file: parse, validate (pydantic + :mod:`checks`), and build the frozen :class:`Deal`.

Every problem becomes a :class:`ScenarioError` such as
``deal.yaml: warrants.0.tranches.2.shares: must be > 0``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tokenfleet.deal.checks import check_deal
from tokenfleet.deal.contract import (
    CapacityOption,
    Commitment,
    Contract,
    DelayModel,
    Delivery,
    Financing,
    ScheduleRisk,
    years_between,
)
from tokenfleet.deal.model import Deal, Source, ValuationPoint, ValuationSettings
from tokenfleet.deal.plan_link import deliveries_from_plan, load_plan
from tokenfleet.deal.schema import DealSpec, DelaySpec, DeliverySpec, PricingSpec, WarrantSpec
from tokenfleet.deal.warrant import Equity, Hurdle, Tranche, Warrant
from tokenfleet.errors import ScenarioError
from tokenfleet.yamlio import read_mapping

# Why a bound holds, in the field's own units (appended to range errors).
_HINTS = {
    "volatility": "volatility is a fraction per year: 0.5 is 50 %/yr",
    "dividend_yield": "dividend_yield is a fraction per year: 0.02 is 2 %/yr",
    "intensity_per_year": "jumps per year (4 = quarterly earnings); more than 1,000 is not a jump process",
    "stdev": "a log-jump sd: 0.1 is about a 10 % move",
    "mean": "a log-jump mean: -0.1 is about a 10 % fall",
    "shares": "a share count; no company has issued 1e13 shares",
    "shares_outstanding": "a share count; no company has issued 1e13 shares",
    "price_usd": "US dollars per share",
    "share_price_usd": "US dollars per share",
    "strike_usd": "US dollars per share",
    "sigma": "a log-sd: 0.3 is about +/-30 %",
    "median_factor": "a multiple of the scheduled lead time: 1 is on time, 1.2 is 20 % late",
    "median_months": "months",
    "months": "months",
    "seed": "a seed is a whole number from 0 to 2**63 - 1",
    "risk_free_rate": "a fraction per year: 0.04 is 4 %",
    "discount_rate": "a fraction per year: 0.08 is 8 %",
    "issuer_discount_rate": "a fraction per year: 0.08 is 8 %",
}
_MAX_SHOWN = 60

_MESSAGES = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
    "too_short": "must have at least {min_length} item(s)",
    "string_too_short": "must not be empty",
    "string_too_long": "must be at most {max_length} characters",
    "finite_number": "must be a finite number",
}


def _shown(value: Any) -> str:
    """``repr`` of an input, cut short (a 200,000-character name is not echoed back)."""
    text = repr(value)
    if isinstance(value, str) and len(value) > _MAX_SHOWN:
        return f"a {len(value):,}-character string {text[:_MAX_SHOWN]}...'"
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def pydantic_error(exc: ValidationError, file: str) -> ScenarioError:
    """The first validation error as ``file: a.b.0.c: message``."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    template = _MESSAGES.get(err["type"])
    ctx = err.get("ctx") or {}
    msg = template.format(**ctx) if template else str(err["msg"]).removeprefix("Value error, ")
    if err["type"] not in ("missing", "extra_forbidden", "value_error"):
        msg += f" (got {_shown(err.get('input'))})"
    hint = _HINTS.get(str(err["loc"][-1])) if err["loc"] else None
    if hint and err["type"] in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        msg += f"; {hint}"
    return ScenarioError(msg, where=f"{file}: {loc}")


def parse_deal(raw: Any, file: str = "deal.yaml", base_dir: Path | None = None) -> Deal:
    """Validate an already-parsed YAML mapping and build the :class:`Deal`."""
    if not isinstance(raw, dict):
        raise ScenarioError("a deal file must be a YAML mapping", where=file)
    try:
        spec = DealSpec.model_validate(raw)
    except ValidationError as exc:
        raise pydantic_error(exc, file) from exc
    check_deal(spec, file)
    return build_deal(spec, file, base_dir or Path("."))


def load_deal(path: str | Path) -> Deal:
    """Read ``path`` (YAML) and return the validated :class:`Deal`."""
    p = Path(path)
    return parse_deal(read_mapping(p), p.name, p.parent)


def _delay(spec: DelaySpec) -> DelayModel:
    return DelayModel(
        distribution=spec.distribution,
        median_years=spec.median_months / 12.0,
        sigma=spec.sigma,
        probability=spec.probability,
        slip_years=spec.months / 12.0,
        correlated=spec.correlated,
    )


def _delivery(
    d: DeliverySpec,
    name: str,
    pricing: PricingSpec,
    tokens: float | None,
    start: dt.date,
    default: DelayModel,
    option: int | None,
) -> Delivery:
    lump = d.spend_usd if d.spend_usd is not None else d.mw * pricing.usd_per_mw + d.systems * pricing.usd_per_system
    accrual = d.mw * (pricing.usd_per_mw_year + pricing.usd_per_mtok * (tokens or 0.0) / 1e6)
    return Delivery(
        name=d.name or name,
        time_years=years_between(start, d.date),
        mw=d.mw,
        lump_usd=lump,
        accrual_usd_per_year=accrual,
        delay=_delay(d.delay) if d.delay is not None else default,
        option=option,
    )


def build_deal(spec: DealSpec, file: str, base_dir: Path) -> Deal:
    c = spec.contract
    start = c.start_date
    default_delay = _delay(c.delivery_delay)
    tokens = c.tokens_per_mw_year
    service_years = c.service_years
    deliveries: list[Delivery] = []
    if c.from_plan is not None:
        fp = c.from_plan
        try:
            plan = load_plan(base_dir / fp.path)
        except ScenarioError as exc:  # name the deal file and field that points at the plan, too
            raise ScenarioError(str(exc), where=f"{file}: contract.from_plan.path") from None
        sched = deliveries_from_plan(
            plan, fp.vendor, fp.deliveries, fp.spacing_months, fp.include, f"{file}: contract.from_plan"
        )
        tokens = tokens if tokens is not None else sched.tokens_per_mw_year
        service_years = service_years if service_years is not None else sched.horizon_years
        t0 = years_between(start, fp.first_delivery)
        for i, pd in enumerate(sched.deliveries):
            t = t0 + pd.offset_years
            if t > years_between(start, c.end_date) + 1e-9:
                raise ScenarioError(
                    f"delivery {i + 1} of {fp.deliveries} falls after the end_date {c.end_date}",
                    where=f"{file}: contract.from_plan.spacing_months",
                )
            deliveries.append(Delivery(f"plan {i + 1}", t, pd.mw, pd.lump_usd, pd.accrual_usd_per_year, default_delay))
    for i, d in enumerate(c.deliveries):
        deliveries.append(_delivery(d, f"delivery {i + 1}", c.pricing, tokens, start, default_delay, None))
    for k, opt in enumerate(c.options):
        pricing = opt.pricing or c.pricing
        for i, d in enumerate(opt.deliveries):
            deliveries.append(_delivery(d, f"{opt.name} {i + 1}", pricing, tokens, start, default_delay, k))
    financing = tuple(
        Financing(
            kind=f.kind,
            amount_usd=f.amount_usd,
            time_years=years_between(start, f.date),
            repay_time_years=years_between(start, f.maturity) if f.maturity is not None else None,
            repay_usd=(
                f.amount_usd * (1.0 + f.interest_rate) ** years_between(f.date, f.maturity)
                if f.kind == "loan" and f.maturity is not None
                else 0.0
            ),
            credited_against_spend=f.kind == "prepayment" or f.credited_against_spend,
            note=f.note,
        )
        for f in c.financing
    )
    contract = Contract(
        buyer=c.buyer,
        seller=c.seller,
        start_date=start,
        end_years=years_between(start, c.end_date),
        deliveries=tuple(deliveries),
        options=tuple(CapacityOption(o.name, o.exercise_probability) for o in c.options),
        commitments=tuple(Commitment(years_between(start, x.by), x.minimum_spend_usd) for x in c.commitments),
        shortfall_counts_toward_vesting=c.shortfall_counts_toward_vesting,
        financing=financing,
        service_years=service_years,
        tokens_per_mw_year=tokens,
        market_usd_per_mw_year=c.market_usd_per_mw_year,
        schedule_risk=(
            ScheduleRisk(c.schedule_risk.sigma, c.schedule_risk.median_factor, c.schedule_risk.shared)
            if c.schedule_risk is not None
            else None
        ),
    )
    equity = None
    points: tuple[ValuationPoint, ...] = ()
    if spec.company is not None:
        co = spec.company
        jumps = co.jumps
        equity = Equity(
            name=co.name,
            share_price_usd=co.share_price_usd,
            shares_outstanding=co.shares_outstanding,
            volatility=co.volatility,
            dividend_yield=co.dividend_yield,
            jump_intensity_per_year=jumps.intensity_per_year if jumps else 0.0,
            jump_mean=jumps.mean if jumps else 0.0,
            jump_stdev=jumps.stdev if jumps else 0.0,
            ticker=co.ticker,
        )
        points = tuple(
            ValuationPoint(
                date=v.date,
                label=v.label,
                share_price_usd=v.share_price_usd or (v.valuation_usd or 0.0) / co.shares_outstanding,
                source=v.source,
            )
            for v in co.valuation_points
        )
    warrants = tuple(_warrant(w, start, equity) for w in spec.warrants)
    v = spec.valuation
    settings = ValuationSettings(
        risk_free_rate=v.risk_free_rate,
        discount_rate=v.discount_rate,
        issuer_discount_rate=v.issuer_discount_rate if v.issuer_discount_rate is not None else v.discount_rate,
        paths=v.paths,
        seed=v.seed,
        steps_per_year=v.steps_per_year,
        vested_value=v.vested_value,
    )
    return Deal(
        name=spec.name,
        contract=contract,
        equity=equity,
        warrants=warrants,
        settings=settings,
        valuation_points=points,
        description=spec.description,
        sources=tuple(Source(s.url, s.note, s.status) for s in spec.sources),
        assumptions=tuple(spec.assumptions),
    )


def _warrant(w: WarrantSpec, start: dt.date, equity: Equity | None) -> Warrant:
    assert equity is not None  # checked: warrants need a company
    if w.shares is not None:
        shares = w.shares
    else:
        p = w.percent_of_company or 0.0
        shares = p * equity.shares_outstanding / (1.0 - p)  # p of the fully diluted count after issue
    expiry = years_between(start, w.expiry)
    tranches = []
    for k, t in enumerate(w.tranches):
        hurdle = None
        if t.hurdle is not None:
            h = t.hurdle
            days = h.vwap_days or h.average_over_days or 1
            hurdle = Hurdle(
                price_usd=h.price_usd,
                mode=h.mode,
                window_start_years=years_between(start, h.window_start) if h.window_start else 0.0,
                window_end_years=years_between(start, h.window_end) if h.window_end else expiry,
                test_years=years_between(start, h.date) if h.date else 0.0,
                monitoring=h.monitoring or ("close" if days > 1 or h.vwap_days else "continuous"),
                average_days=days,
                average_kind="vwap" if h.vwap_days else "close",
            )
        tranches.append(
            Tranche(
                name=t.name or f"T{k + 1}",
                shares=t.shares if t.shares is not None else (t.fraction or 0.0) * shares,
                spend_usd=t.spend_usd,
                mw_delivered=t.gw_delivered * 1000.0 if t.gw_delivered is not None else None,
                hurdle=hurdle,
                vesting=t.vesting,
            )
        )
    return Warrant(w.name, w.holder, shares, w.strike_usd, expiry, tuple(tranches), w.holder_shares_before)


__all__ = ["build_deal", "load_deal", "parse_deal", "pydantic_error"]
