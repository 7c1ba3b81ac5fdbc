"""Pydantic models of a deal YAML file (the edge); :mod:`tokenfleet.deal.load` turns them into domain types.

Layout of a deal file (amounts in USD, dates as ISO dates, rates as fractions per year)::

    name, description, sources: [{url, note, status}], assumptions: [str]
    contract:    buyer, seller, start_date, end_date, pricing, deliveries | from_plan, options,
                 commitments (take-or-pay), financing (loan / prepayment / datacenter_funding),
                 delivery_delay (additive), schedule_risk (multiplicative), service_years, tokens_per_mw_year
    company:     the warrant issuer's equity: share price, shares outstanding, volatility, jumps,
                 valuation points
    warrants:    [{name, holder, shares | percent_of_company, strike_usd, expiry,
                  tranches: [{name, shares | fraction, spend_usd, gw_delivered, vesting, hurdle}]}]
    valuation:   risk_free_rate, discount_rate, paths, seed, steps_per_year, vested_value

Cross-field rules (tranche shares within the warrant, hurdle order, dates inside the term) live in
:mod:`tokenfleet.deal.checks` so that each error can name the exact field.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, field_validator

# Every number must be finite (``.inf`` / ``.nan`` are refused by ``allow_inf_nan=False``); names are short.
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 4000
MAX_PATHS = 100_000_000  # ~6 min on one core at the benchmark's rate; memory stays flat (chunks)
PATHS_PER_S = 130_000  # CPU rate of `benchmarks/deal.py speed` (monthly grid, 6 tranches) on the shared dev machine
MAX_SHARES = 1e13  # more shares than any company has issued
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, str_max_length=MAX_TEXT_CHARS)


def paths_error(paths: float) -> str | None:
    """Why ``paths`` Monte Carlo paths cannot run (with the time it would take), or ``None``."""
    if paths < 100:
        return f"must be at least 100 (got {paths:,.0f})"
    if paths > MAX_PATHS:
        if paths > 1e15:  # an integer too large for a float: say so without converting it
            return f"more than 1e15 paths asked; the limit is {MAX_PATHS:,}"
        minutes = paths / PATHS_PER_S / 60.0
        return (
            f"{paths:,.0f} paths would take about {minutes:,.0f} min on one core (~{PATHS_PER_S:,} paths/s on a "
            f"monthly grid; memory stays about 180 MB, flat in paths); the limit is {MAX_PATHS:,}"
        )
    return None


class SourceSpec(_Model):
    url: str = Field(max_length=2000)
    note: str = ""
    status: Literal["C", "R", "D"] | None = None


class DelaySpec(_Model):
    """Delivery delay: ``lognormal`` (median months, log-sd) or ``slip`` (slip N months w.p. probability)."""

    distribution: Literal["none", "lognormal", "slip"] = "none"
    median_months: float = Field(default=0.0, ge=0.0, le=600.0)
    sigma: float = Field(default=0.5, ge=0.0, le=5.0)
    probability: float = Field(default=0.0, ge=0.0, le=1.0)
    months: float = Field(default=0.0, ge=0.0, le=600.0)
    correlated: bool = False  # one draw per path shared by all deliveries


class ScheduleRiskSpec(_Model):
    """Multiplicative schedule risk: each delivery's lead time from the start is scaled by a lognormal factor
    ``median_factor * exp(sigma * Z)`` (below 1: early); ``shared``: one factor per path for all deliveries."""

    sigma: float = Field(ge=0.0, le=3.0)
    median_factor: float = Field(default=1.0, gt=0.0, le=10.0)
    shared: bool = True


class DeliverySpec(_Model):
    """One capacity tranche: MW (facility) and/or systems delivered on a scheduled date."""

    name: Name | None = None
    date: dt.date
    mw: NonNegativeFloat = 0.0
    systems: NonNegativeFloat = 0.0
    spend_usd: NonNegativeFloat | None = None  # one-off payment at delivery (overrides usd_per_mw / per_system)
    delay: DelaySpec | None = None  # overrides contract.delivery_delay


class PricingSpec(_Model):
    usd_per_mw: NonNegativeFloat = 0.0  # one-off, at delivery
    usd_per_system: NonNegativeFloat = 0.0  # one-off, at delivery
    usd_per_mw_year: NonNegativeFloat = 0.0  # accrues while a delivery is in service
    usd_per_mtok: NonNegativeFloat = 0.0  # accrues on tokens_per_mw_year while in service


class OptionSpec(_Model):
    """Extra capacity the buyer may call (e.g. +1.25 GW), exercised with ``exercise_probability``."""

    name: Name
    exercise_probability: float = Field(ge=0.0, le=1.0)
    deliveries: list[DeliverySpec] = Field(min_length=1)
    pricing: PricingSpec | None = None


class CommitmentSpec(_Model):
    """Take-or-pay: cumulative spend by ``by`` must reach ``minimum_spend_usd``; a shortfall is paid then."""

    by: dt.date
    minimum_spend_usd: NonNegativeFloat


class FinancingSpec(_Model):
    """Money the buyer puts in besides purchases.

    ``loan``: paid at ``date``, repaid with annually compounded ``interest_rate`` at ``maturity``.
    ``prepayment``: paid at ``date``, credited against the first purchases. ``datacenter_funding``: paid at
    ``date``; credited like a prepayment only when ``credited_against_spend``.
    """

    kind: Literal["loan", "prepayment", "datacenter_funding"]
    amount_usd: PositiveFloat
    date: dt.date
    interest_rate: NonNegativeFloat = 0.0
    maturity: dt.date | None = None
    credited_against_spend: bool = False
    note: str = ""


class FromPlanSpec(_Model):
    """Build the delivery schedule from a ``plan.json`` (see :mod:`tokenfleet.deal.plan_link`)."""

    path: str
    vendor: str
    first_delivery: dt.date
    deliveries: int = Field(default=1, ge=1)
    spacing_months: NonNegativeFloat = 12.0
    include: Literal["capex", "opex", "both"] = "both"


class ContractSpec(_Model):
    buyer: Name
    seller: Name
    start_date: dt.date
    end_date: dt.date
    pricing: PricingSpec = PricingSpec()
    deliveries: list[DeliverySpec] = []
    from_plan: FromPlanSpec | None = None
    options: list[OptionSpec] = []
    commitments: list[CommitmentSpec] = []
    shortfall_counts_toward_vesting: bool = False
    financing: list[FinancingSpec] = []
    delivery_delay: DelaySpec = DelaySpec()
    schedule_risk: ScheduleRiskSpec | None = None
    service_years: PositiveFloat | None = None  # each delivery serves this long; default: until end_date
    tokens_per_mw_year: NonNegativeFloat | None = None
    market_usd_per_mw_year: NonNegativeFloat | None = None  # what the buyer would pay elsewhere (NPV)


class JumpSpec(_Model):
    """Merton jumps in the share price: Poisson intensity, normal log-jump mean and sd."""

    intensity_per_year: float = Field(ge=0.0, le=1000.0)
    mean: float = Field(default=0.0, ge=-3.0, le=3.0)
    stdev: float = Field(default=0.0, ge=0.0, le=3.0)


class ValuationPointSpec(_Model):
    date: dt.date
    label: Name
    share_price_usd: PositiveFloat | None = None
    valuation_usd: PositiveFloat | None = None
    source: str = ""


class CompanySpec(_Model):
    name: Name
    ticker: str = Field(default="", max_length=16)
    share_price_usd: float = Field(gt=0.0, le=1e7)
    shares_outstanding: float = Field(gt=0.0, le=MAX_SHARES)
    volatility: float = Field(gt=0.0, le=5.0)  # a fraction per year
    dividend_yield: float = Field(default=0.0, ge=0.0, le=1.0)  # a fraction per year
    jumps: JumpSpec | None = None
    valuation_points: list[ValuationPointSpec] = []


class HurdleSpec(_Model):
    """Price condition: ``touch``: price >= H in the window; ``at_date``: price >= H on ``date``.

    ``monitoring``: ``continuous`` (any moment) or ``close`` (NYSE trading-day closes). ``vwap_days: N`` or
    ``average_over_days: N`` test the N-trading-day VWAP or average close (and imply ``close``).
    """

    price_usd: float = Field(gt=0.0, le=1e7)
    mode: Literal["touch", "at_date"] = "touch"
    date: dt.date | None = None
    window_start: dt.date | None = None
    window_end: dt.date | None = None
    monitoring: Literal["continuous", "close"] | None = None
    vwap_days: int | None = Field(default=None, ge=1, le=260)
    average_over_days: int | None = Field(default=None, ge=1, le=260)


class TrancheSpec(_Model):
    name: Name | None = None
    vesting: Literal["concurrent", "sticky"] = "concurrent"
    shares: float | None = Field(default=None, gt=0.0, le=MAX_SHARES)
    fraction: float | None = Field(default=None, gt=0.0, le=1.0)  # of the warrant's shares
    spend_usd: NonNegativeFloat | None = None  # cumulative spend needed
    gw_delivered: NonNegativeFloat | None = None  # cumulative GW delivered needed
    hurdle: HurdleSpec | None = None


class WarrantSpec(_Model):
    name: Name
    holder: Name
    shares: float | None = Field(default=None, gt=0.0, le=MAX_SHARES)
    percent_of_company: float | None = Field(default=None, gt=0.0, lt=1.0)  # of fully diluted, after issue
    strike_usd: float = Field(ge=0.0, le=1e7)
    expiry: dt.date
    holder_shares_before: float = Field(default=0.0, ge=0.0, le=MAX_SHARES)
    tranches: list[TrancheSpec] = Field(min_length=1)


class ValuationSpec(_Model):
    risk_free_rate: float = Field(default=0.04, ge=-0.05, le=0.5)
    discount_rate: float = Field(default=0.08, ge=-0.05, le=1.0)  # buyer's, for cash flows
    issuer_discount_rate: float | None = Field(default=None, ge=-0.05, le=1.0)
    paths: int = 100_000
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    steps_per_year: int = Field(default=12, ge=1, le=365)
    vested_value: Literal["black_scholes", "intrinsic"] = "black_scholes"

    @field_validator("paths", mode="before")
    @classmethod
    def _paths(cls, value: Any) -> Any:
        """Accept ``1e6`` (a string to YAML) or ``1.0e+6`` for a whole number of paths; check the bounds."""
        number = value
        if isinstance(value, str):
            try:
                number = float(value.replace("_", ""))
            except ValueError:
                return value
        if isinstance(number, float) and not isinstance(value, bool):
            if not number == number or number in (float("inf"), float("-inf")) or number != int(number):
                raise ValueError(f"must be a whole number of paths (got {value!r})")
            number = int(number)
        if isinstance(number, int) and not isinstance(number, bool):
            why = paths_error(number)
            if why is not None:
                raise ValueError(why)
        return number


class DealSpec(_Model):
    name: Name
    description: str = ""
    sources: list[SourceSpec] = []
    assumptions: list[str] = []
    contract: ContractSpec
    company: CompanySpec | None = None
    warrants: list[WarrantSpec] = []
    valuation: ValuationSpec = ValuationSpec()


__all__ = [
    "MAX_PATHS",
    "PATHS_PER_S",
    "CommitmentSpec",
    "CompanySpec",
    "ContractSpec",
    "DealSpec",
    "DelaySpec",
    "DeliverySpec",
    "FinancingSpec",
    "FromPlanSpec",
    "HurdleSpec",
    "JumpSpec",
    "OptionSpec",
    "PricingSpec",
    "ScheduleRiskSpec",
    "SourceSpec",
    "TrancheSpec",
    "ValuationPointSpec",
    "ValuationSpec",
    "WarrantSpec",
    "paths_error",
]
