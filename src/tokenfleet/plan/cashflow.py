"""A plan's cost over time: TCO by component and cash flow by year over the horizon.

Each pool's units are paid for when they are delivered (its lead time after the plan starts) and serve
from then to the end of the horizon. Per year ``k`` (the interval ``[k-1, k)`` years from the start)::

    capex (cash)   = capex of the units delivered in year k
    depreciation   = capex / depreciation_years per year of service, for at most depreciation_years
    energy         = average facility MW x 8760 h x $/MWh x years in service that year
    facility       = the pool's facility charge per year (the planner's: $/MW / facility life) x years in service
    rent           = rented units' $ per year x years in service
    financing      = financing_rate x the undepreciated capex, integrated over the year
    cost (P&L)     = depreciation + energy + facility + rent + financing
    cash out       = capex + energy + facility + rent + financing

Energy, facility and rent split each pool's planned opex (energy from its average draw and the power price,
rent from its candidate's $ per chip-hour, facility the rest), so they add up to the planner's opex. The
planner's TCO per year is the steady state (every unit in service); over the horizon, units wait for their
lead time, so the first year costs less than the steady state. A linked deal's payments by year are shown
beside the plan's cash out, not added to it: they pay for the same units.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tokenfleet.plan.economics import HOURS_PER_YEAR

if TYPE_CHECKING:
    from tokenfleet.plan.planner import PlanResult

COMPONENTS = ("depreciation", "energy", "facility", "rent", "financing")


@dataclass(frozen=True, slots=True)
class PoolCost:
    name: str
    hardware: str
    capex_usd: float
    energy_usd_per_year: float
    facility_usd_per_year: float
    rent_usd_per_year: float
    lead_time_months: float


@dataclass(frozen=True, slots=True)
class YearCost:
    year: int
    capex_usd: float
    depreciation_usd: float
    energy_usd: float
    facility_usd: float
    rent_usd: float
    financing_usd: float
    deal_payments_usd: float | None = None

    @property
    def cost_usd(self) -> float:
        return self.depreciation_usd + self.energy_usd + self.facility_usd + self.rent_usd + self.financing_usd

    @property
    def cash_out_usd(self) -> float:
        return self.capex_usd + self.energy_usd + self.facility_usd + self.rent_usd + self.financing_usd


@dataclass(frozen=True, slots=True)
class CostOverTime:
    horizon_years: float
    depreciation_years: float
    financing_rate: float
    steady_state: dict[str, float]  # $ per year by component, every unit in service
    years: list[YearCost] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "horizon_years": self.horizon_years, "depreciation_years": self.depreciation_years,
            "financing_rate": self.financing_rate, "tco_by_component_usd_per_year": self.steady_state,
            "years": [{"year": y.year, "capex_usd": y.capex_usd, "depreciation_usd": y.depreciation_usd,
                       "energy_usd": y.energy_usd, "facility_usd": y.facility_usd, "rent_usd": y.rent_usd,
                       "financing_usd": y.financing_usd, "cost_usd": y.cost_usd, "cash_out_usd": y.cash_out_usd,
                       "deal_payments_usd": y.deal_payments_usd} for y in self.years],
        }


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _financing(capex: float, rate: float, dep: float, d: float, t0: float, t1: float) -> float:
    """rate x integral over [t0, t1) of the book value capex x (1 - (t - d) / dep) on [d, d + dep)."""
    lo, hi = max(t0, d), min(t1, d + dep)
    if hi <= lo or rate <= 0:
        return 0.0
    book = lambda t: capex * (1.0 - (t - d) / dep)  # noqa: E731
    return rate * (book(lo) + book(hi)) / 2.0 * (hi - lo)


def compute(pools: Sequence[PoolCost], horizon_years: float, depreciation_years: float,
            financing_rate: float = 0.0, deal_payments: Mapping[int, float] | None = None) -> CostOverTime:
    """Cost by component and year (see the module docstring); ``deal_payments``: $ by year number."""
    dep = max(depreciation_years, 1e-9)
    last = max([math.ceil(horizon_years - 1e-9)] + [math.floor(p.lead_time_months / 12.0) + 1 for p in pools])
    years = []
    for k in range(1, last + 1):
        t0, t1 = float(k - 1), float(k)
        acc = dict.fromkeys(("capex", *COMPONENTS), 0.0)
        for p in pools:
            d = p.lead_time_months / 12.0
            if t0 <= d < t1:
                acc["capex"] += p.capex_usd
            served = _overlap(t0, t1, d, horizon_years)
            acc["depreciation"] += p.capex_usd / dep * _overlap(t0, t1, d, min(d + dep, horizon_years))
            acc["energy"] += p.energy_usd_per_year * served
            acc["facility"] += p.facility_usd_per_year * served
            acc["rent"] += p.rent_usd_per_year * served
            acc["financing"] += _financing(p.capex_usd, financing_rate, dep, d, t0, min(t1, horizon_years))
        pay = None if deal_payments is None else float(deal_payments.get(k, 0.0))
        years.append(YearCost(k, acc["capex"], acc["depreciation"], acc["energy"], acc["facility"], acc["rent"],
                              acc["financing"], pay))
    capex = sum(p.capex_usd for p in pools)
    steady = {
        "depreciation": capex / dep,
        "energy": sum(p.energy_usd_per_year for p in pools),
        "facility": sum(p.facility_usd_per_year for p in pools),
        "rent": sum(p.rent_usd_per_year for p in pools),
        "financing": financing_rate * capex / 2.0,  # the mean book value over a unit's depreciation life
    }
    return CostOverTime(horizon_years, depreciation_years, financing_rate, steady, years)


def pool_costs(r: PlanResult) -> list[PoolCost]:
    """Split each planned pool's opex into energy, facility and rent (see the module docstring)."""
    sc = r.scenario
    usd_per_mwh = sc.facility.usd_per_mwh
    hourly = {c.hardware: c.usd_per_hour for c in sc.plan.candidates if c.usd_per_hour is not None}
    out = []
    for p in r.pools:
        energy = p.avg_facility_mw * HOURS_PER_YEAR * usd_per_mwh
        rent = (hourly[p.hw_id] * p.units * p.unit_chips * HOURS_PER_YEAR) if p.hw_id in hourly else 0.0
        rent = min(rent, max(p.opex_usd_per_year - energy, 0.0))
        facility = max(p.opex_usd_per_year - energy - rent, 0.0)
        out.append(PoolCost(p.name, p.hw_id, p.capex_usd, energy, facility, rent, p.lead_time_months))
    return out


def cost_over_time(r: PlanResult, deal_payments: Mapping[int, float] | None = None) -> CostOverTime:
    sc = r.scenario
    rate = float(getattr(sc.plan, "financing_rate", 0.0) or 0.0)
    return compute(pool_costs(r), sc.plan.horizon_years, sc.facility.depreciation_years, rate, deal_payments)


__all__ = ["COMPONENTS", "CostOverTime", "PoolCost", "YearCost", "compute", "cost_over_time", "pool_costs"]
