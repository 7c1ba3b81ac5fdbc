"""Result types of a deal valuation (frozen dataclasses) and their JSON form (``deal.json``)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TrancheValue:
    warrant: str
    name: str
    conditions: str
    shares: float
    vest_probability: float
    expected_vest_date: dt.date | None  # mean vesting date given it vests
    value_usd: float  # Monte Carlo mean PV
    stderr_usd: float
    closed_form_usd: float | None
    method: str  # which closed form applies, or "Monte Carlo only"
    cumulative_vest_probability: tuple[float, ...]  # on the report grid
    vesting: str = "concurrent"  # the vesting rule
    warning: str | None = None  # why the tranche cannot vest (or did not vest on any path)


@dataclass(frozen=True, slots=True)
class Distribution:
    mean: float
    stdev: float
    stderr: float
    p5: float
    p25: float
    p50: float
    p75: float
    p95: float
    probability_zero: float
    bin_edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ContractOutcome:
    scheduled_spend_usd: float  # firm deliveries, no delays
    scheduled_spend_with_options_usd: float
    expected_purchases_usd: float
    expected_shortfall_usd: float  # take-or-pay payments
    shortfall_probability: float
    other_payments_usd: float  # data-center funding not credited against spend
    expected_total_payments_usd: float  # purchases + shortfall + other payments
    expected_mw_delivered: float  # by the end of the term
    expected_mw_years: float
    pv_buyer_payments_usd: float  # at the buyer's discount rate, financing included
    pv_issuer_receipts_usd: float  # at the issuer's discount rate, financing included
    pv_compute_value_usd: float | None  # market value of the capacity, if a market price is given
    spend_path_usd: tuple[float, ...]  # expected cumulative purchases on the grid
    mw_path: tuple[float, ...]  # expected MW delivered on the grid


@dataclass(frozen=True, slots=True)
class EffectivePrices:
    usd_per_mw_year: float | None
    net_usd_per_mw_year: float | None
    usd_per_mw: float | None
    net_usd_per_mw: float | None
    usd_per_mtok: float | None
    net_usd_per_mtok: float | None


@dataclass(frozen=True, slots=True)
class Ownership:
    holder: str
    shares_before: float
    expected_shares: tuple[float, ...]  # holder's shares on the grid
    fraction: tuple[float, ...]  # holder / (outstanding + issued warrant shares)
    fully_vested_fraction: float


@dataclass(frozen=True, slots=True)
class PointValue:
    label: str
    date: dt.date
    share_price_usd: float
    warrant_value_usd: float
    stderr_usd: float


@dataclass(frozen=True, slots=True)
class DealValuation:
    deal: str
    paths: int
    seed: int
    steps_per_year: int
    start_date: dt.date
    grid_dates: tuple[dt.date, ...]
    tranches: tuple[TrancheValue, ...]
    total: Distribution | None
    contract: ContractOutcome
    prices: EffectivePrices
    buyer_npv_usd: float | None  # compute value - payments + warrants; None without a compute value
    buyer_net_cost_usd: float  # PV of buyer payments less the warrant value
    issuer_net_usd: float
    warrant_value_to_revenue: float | None
    ownership: tuple[Ownership, ...]
    valuation_points: tuple[PointValue, ...]
    notes: tuple[str, ...]
    warnings: tuple[str, ...]
    elapsed_s: float

    @property
    def warrant_value_usd(self) -> float:
        return self.total.mean if self.total is not None else 0.0

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, dt.date):
        return obj.isoformat()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    return obj


__all__ = [
    "ContractOutcome",
    "DealValuation",
    "Distribution",
    "EffectivePrices",
    "Ownership",
    "PointValue",
    "TrancheValue",
]
