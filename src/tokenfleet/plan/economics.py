"""Money and megawatts of a fleet, linear in replica and system counts (so the MILP can use them).

Formulas (stated in the report too)::

    units_j          = whole purchasable units (8-GPU servers, NVL72 racks, CS-3s, ...) bought for option j
    capex_usd        = sum_j units_j x unit_price_h(j)                                  (bought candidates)
    rent_usd_per_yr  = sum_j units_j x chips_per_unit_h x usd_per_chip_hour_h x 8760   (rented ones)
    IT_w (peak)      = sum_j replicas_j x P_j(at its planned peak rate)  +  idle_w_per_chip_h x unused chips
    IT_w (average)   = the same with each replica at the class's mean / sized-peak load
    facility_w       = IT_w x PUE
    energy_usd_per_yr   = facility_w(average) x 8760 h x usd_per_mwh / 1e6
    facility_usd_per_yr = facility_usd_per_mw x facility_mw(peak) / facility_life_years
    opex_usd_per_yr  = energy + facility + rent
    tco_usd_per_yr   = capex_usd / depreciation_years + opex_usd_per_yr         (the ``cost`` objective)
    tco_usd (horizon)= horizon_years x tco_usd_per_yr
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenfleet import catalog
from tokenfleet.perf import power_model
from tokenfleet.plan.capacity import Option
from tokenfleet.plan.demand import Demand
from tokenfleet.plan.schema import CandidateSpec, PlanScenario

HOURS_PER_YEAR = 8760.0
FORMULAS = __doc__.split("::", 1)[1].strip("\n") if __doc__ else ""


@dataclass(frozen=True, slots=True)
class HardwareEcon:
    hw_id: str
    vendor: str
    chips_per_system: int
    capex_per_system_usd: float
    rent_per_system_usd_per_year: float
    idle_w_per_chip: float
    max_systems: int | None
    lead_time_months: float
    unit_name: str = "system"
    unit_power_w: float = 0.0  # nameplate power of one unit


@dataclass(frozen=True, slots=True)
class Economics:
    pue: float
    usd_per_mwh: float
    depreciation_years: float
    facility_usd_per_mw: float
    facility_life_years: float
    horizon_years: float

    def energy_usd_per_year_per_facility_w(self) -> float:
        return HOURS_PER_YEAR * self.usd_per_mwh / 1e6

    def facility_usd_per_year_per_facility_w(self) -> float:
        return self.facility_usd_per_mw / 1e6 / self.facility_life_years


def hardware_econ(cand: CandidateSpec) -> HardwareEcon:
    """Per purchasable unit (:func:`tokenfleet.plan.units.candidate_unit`): price, rent, idle power, cap."""
    from tokenfleet.plan.units import candidate_unit

    hw = catalog.hardware(cand.hardware)
    u = candidate_unit(cand)
    rented = cand.usd_per_hour is not None
    idle = power_model.idle_w(hw, 1)  # one chip and its host share, at idle
    return HardwareEcon(
        hw.hw_id, hw.vendor, u.chips,
        0.0 if rented else u.price_usd,
        (cand.usd_per_hour or 0.0) * u.chips * HOURS_PER_YEAR,
        idle, u.supply_cap_units, u.lead_time_months, u.name, u.power_w,
    )


def economics(sc: PlanScenario) -> Economics:
    f, p = sc.facility, sc.plan
    return Economics(f.pue, f.usd_per_mwh, f.depreciation_years, p.facility_usd_per_mw, p.facility_life_years,
                     p.horizon_years)


def mean_it_w(o: Option, d: Demand, sized_rps: float) -> float:
    """IT power of one replica of ``o`` at the class's mean load (power is linear in utilisation)."""
    frac = min(1.0, d.mean_rps / sized_rps) if sized_rps > 0 else 1.0
    return o.idle_it_w + frac * (o.peak_it_w - o.idle_it_w)


__all__ = ["FORMULAS", "HOURS_PER_YEAR", "Economics", "HardwareEcon", "economics", "hardware_econ", "mean_it_w"]
