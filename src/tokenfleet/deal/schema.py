"""Pydantic models of a deal YAML file (the edge); :mod:`tokenfleet.deal.load` turns them into domain types.

Layout of a deal file (amounts in USD, dates as ISO dates, rates as fractions per year)::

    name, description, sources: [{url, note, status}], assumptions: [str]
    contract:    buyer, seller, start_date, end_date, pricing, deliveries | from_plan, options,
                 commitments (take-or-pay), financing (loan / prepayment / datacenter_funding),
                 delivery_delay, service_years, tokens_per_mw_year
    company:     the warrant issuer's equity: share price, shares outstanding, volatility, jumps,
                 valuation points
    warrants:    [{name, holder, shares | percent_of_company, strike_usd, expiry, tranches: [...]}]
    valuation:   risk_free_rate, discount_rate, paths, seed, steps_per_year, vested_value

Cross-field rules (tranche shares within the warrant, hurdle order, dates inside the term) live in
:mod:`tokenfleet.deal.checks` so that each error can name the exact field.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Model):
    url: str
    note: str = ""
    status: Literal["C", "R", "D"] | None = None


class DelaySpec(_Model):
    """Delivery delay: ``lognormal`` (median months, log-sd) or ``slip`` (slip N months w.p. probability)."""

    distribution: Literal["none", "lognormal", "slip"] = "none"
    median_months: NonNegativeFloat = 0.0
    sigma: NonNegativeFloat = 0.5
    probability: float = Field(default=0.0, ge=0.0, le=1.0)
    months: NonNegativeFloat = 0.0
    correlated: bool = False  # one draw per path shared by all deliveries


class DeliverySpec(_Model):
    """One capacity tranche: MW (facility) and/or systems delivered on a scheduled date."""

    name: str | None = None
    date: dt.date
    mw: NonNegativeFloat = 0.0
    systems: NonNegativeFloat = 0.0
    spend_usd: NonNegativeFloat | None = (
        None  # one-off payment at delivery (overrides usd_per_mw / per_system)
    )
    delay: DelaySpec | None = None  # overrides contract.delivery_delay


class PricingSpec(_Model):
    usd_per_mw: NonNegativeFloat = 0.0  # one-off, at delivery
    usd_per_system: NonNegativeFloat = 0.0  # one-off, at delivery
    usd_per_mw_year: NonNegativeFloat = 0.0  # accrues while a delivery is in service
    usd_per_mtok: NonNegativeFloat = 0.0  # accrues on tokens_per_mw_year while in service


class OptionSpec(_Model):
    """Extra capacity the buyer may call (e.g. +1.25 GW), exercised with ``exercise_probability``."""

    name: str
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
    buyer: str
    seller: str
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
    service_years: PositiveFloat | None = None  # each delivery serves this long; default: until end_date
    tokens_per_mw_year: NonNegativeFloat | None = None
    market_usd_per_mw_year: NonNegativeFloat | None = None  # what the buyer would pay elsewhere (NPV)


class JumpSpec(_Model):
    """Merton jumps in the share price: Poisson intensity, normal log-jump mean and sd."""

    intensity_per_year: NonNegativeFloat
    mean: float = 0.0
    stdev: NonNegativeFloat = 0.0


class ValuationPointSpec(_Model):
    date: dt.date
    label: str
    share_price_usd: PositiveFloat | None = None
    valuation_usd: PositiveFloat | None = None
    source: str = ""


class CompanySpec(_Model):
    name: str
    ticker: str = ""
    share_price_usd: PositiveFloat
    shares_outstanding: PositiveFloat
    volatility: PositiveFloat
    dividend_yield: NonNegativeFloat = 0.0
    jumps: JumpSpec | None = None
    valuation_points: list[ValuationPointSpec] = []


class HurdleSpec(_Model):
    """Price condition: ``touch``: price >= H in the window; ``at_date``: price >= H on ``date``."""

    price_usd: PositiveFloat
    mode: Literal["touch", "at_date"] = "touch"
    date: dt.date | None = None
    window_start: dt.date | None = None
    window_end: dt.date | None = None


class TrancheSpec(_Model):
    name: str | None = None
    shares: PositiveFloat | None = None
    fraction: float | None = Field(default=None, gt=0.0, le=1.0)  # of the warrant's shares
    spend_usd: NonNegativeFloat | None = None  # cumulative spend needed
    gw_delivered: NonNegativeFloat | None = None  # cumulative GW delivered needed
    hurdle: HurdleSpec | None = None


class WarrantSpec(_Model):
    name: str
    holder: str
    shares: PositiveFloat | None = None
    percent_of_company: float | None = Field(default=None, gt=0.0, lt=1.0)  # of fully diluted, after issue
    strike_usd: NonNegativeFloat
    expiry: dt.date
    holder_shares_before: NonNegativeFloat = 0.0
    tranches: list[TrancheSpec] = Field(min_length=1)


class ValuationSpec(_Model):
    risk_free_rate: float = Field(default=0.04, ge=-0.05, le=0.5)
    discount_rate: float = Field(default=0.08, ge=-0.05, le=1.0)  # buyer's, for cash flows
    issuer_discount_rate: float | None = Field(default=None, ge=-0.05, le=1.0)
    paths: int = Field(default=100_000, ge=100)
    seed: int = 0
    steps_per_year: int = Field(default=12, ge=1, le=365)
    vested_value: Literal["black_scholes", "intrinsic"] = "black_scholes"


class DealSpec(_Model):
    name: str
    description: str = ""
    sources: list[SourceSpec] = []
    assumptions: list[str] = []
    contract: ContractSpec
    company: CompanySpec | None = None
    warrants: list[WarrantSpec] = []
    valuation: ValuationSpec = ValuationSpec()


__all__ = [
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
    "SourceSpec",
    "TrancheSpec",
    "ValuationPointSpec",
    "ValuationSpec",
    "WarrantSpec",
]
