"""Money and megawatts of a fleet, linear in replica, unit and flow counts (so the MILP can use them).

Formulas (stated in the report too)::

    units_h          = whole purchasable units (8-GPU servers, NVL72 racks, CS-3s, ...) of hardware h
    capex_usd        = sum_h units_h x unit_price_h                                    (bought candidates)
    rent_usd_per_yr  = sum_h units_h x chips_per_unit_h x usd_per_chip_hour_h x 8760   (rented ones)
    IT_w (peak)      = idle_w_per_chip x every chip bought
                       + sum_j replicas_j x (idle_j - its chips' idle)  +  sum_f rps_f x (P_f - idle_j) / rate_f
    IT_w (average)   = the same with each class at its mean rate
    facility_w       = IT_w x PUE                                       (modelled draw, peak and average)
    provisioned_mw   = nameplate: sum_h units_h x unit nameplate W x PUE / 1e6 / oversubscription
                       measured_peak: facility_w (peak) / 1e6 / oversubscription
    energy_usd_per_yr   = facility_w(average) x 8760 h x usd_per_mwh / 1e6
    facility_usd_per_yr = facility_usd_per_mw x provisioned_mw / facility_life_years
    opex_usd_per_yr  = energy + facility + rent
    tco_usd_per_yr   = capex_usd / depreciation_years + opex_usd_per_yr         (the ``cost`` objective)
    tco_usd (horizon)= horizon_years x tco_usd_per_yr
    the power budget holds provisioned_mw
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenfleet import catalog
from tokenfleet.perf import power_model
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


__all__ = ["FORMULAS", "HOURS_PER_YEAR", "Economics", "HardwareEcon", "economics", "hardware_econ"]
