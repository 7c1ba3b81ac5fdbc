"""Reported deal terms read as prices: what a capacity deal ($X for Y MW over Z years) implies per system and
per MW-year, what that capacity serves, and the candidate priced at it (``plan.deal_terms``).

Two readings of a reported total, both shown:

* **bought outright** — the contract buys the systems: ``contract_usd / systems``, where ``systems`` is the
  capacity at the meter over one unit's nameplate x PUE (how a site is provisioned);
* **all-in service** — the contract pays for capacity in service: ``contract_usd / mw_years`` per MW-year
  (``mw_years``: MW in service summed over the term, e.g. a phased ramp), i.e. per system-year the MW-year
  price x one unit's provisioned MW. Turned into the planner's terms, the **equivalent purchase price** is
  what a unit may cost so that its depreciation plus its power (nameplate x PUE x 8,760 h x $/MWh) and
  facility cost per year equal that system-year price::

      price = (usd_per_system_year - energy_usd_per_year - facility_usd_per_year) x depreciation_years

With ``price_candidate`` the plan buys the candidate at the equivalent purchase price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tokenfleet.plan.capacity import options_for, usable_candidates
from tokenfleet.plan.demand import Demand
from tokenfleet.plan.economics import HOURS_PER_YEAR
from tokenfleet.plan.schema import PlanScenario
from tokenfleet.plan.units import candidate_unit
from tokenfleet.scenario import Slo

SECONDS_PER_YEAR = HOURS_PER_YEAR * 3600.0


@dataclass(frozen=True, slots=True)
class Serves:
    """What the deal's capacity serves of one model at the tier's per-user floor (None: out of reach)."""

    model: str
    layout: str | None
    per_user_tok_s: float | None
    tok_s_per_unit: float | None  # output tokens/s one unit carries at the floor (its best layout)
    tok_s_total: float | None  # x the units in the deal's MW
    usd_per_mtok: float | None  # at the all-in system-year price


@dataclass(frozen=True, slots=True)
class ImpliedTerms:
    hardware: str
    unit_name: str
    contract_usd: float
    facility_mw: float
    term_years: float
    mw_years: float
    units: float  # the MW over one unit's nameplate x PUE
    usd_per_unit_bought: float
    usd_per_mw_year: float
    usd_per_unit_year: float
    equivalent_unit_price_usd: float  # may be <= 0: the service price does not cover power and facility
    catalog_unit_price_usd: float
    min_user_tok_s: float
    serves: tuple[Serves, ...]
    source: str

    def lines(self) -> list[str]:
        from tokenfleet.plan.text import money, num

        t = self
        eq = (f"{money(t.equivalent_unit_price_usd)} per {t.unit_name}" if t.equivalent_unit_price_usd > 0
              else "none: the price does not cover power and facility")
        return [
            f"Reported terms: {money(t.contract_usd)} for {num(t.facility_mw)} MW over {t.term_years:g} years"
            + (f" ({t.source})" if t.source else "") + ".",
            f"At one {t.unit_name}'s nameplate x PUE, {num(t.facility_mw)} MW is {t.units:,.0f} units: "
            f"{money(t.usd_per_unit_bought)} per unit if the contract bought them; as an all-in service price "
            f"{money(t.usd_per_mw_year)} per MW-year ({num(t.mw_years)} MW-years), {money(t.usd_per_unit_year)} per "
            f"unit-year; the equivalent purchase price on this plan's terms: {eq} (the catalog's: "
            f"{money(t.catalog_unit_price_usd)}).",
        ]


def _tier_demand(sc: PlanScenario, model: str, cls: str | None, floor: float) -> Demand:
    """The tier's lengths and TTFT target (from ``tier_class``), at the terms' per-user floor, on ``model``."""
    from tokenfleet.plan.demand import length_mean

    c = next((c for c in sc.traffic if c.name == cls), None) if cls else None
    isl = length_mean(c.input_tokens) if c is not None and c.input_tokens else 1000.0
    osl = length_mean(c.output_tokens) if c is not None and c.output_tokens else 200.0
    ttft = c.slo.ttft_p99_ms if c is not None else None
    return Demand(cls or "tier", model, 1.0, 1.0, isl, osl, Slo(ttft, None, floor))


def implied(sc: PlanScenario) -> ImpliedTerms | None:
    t = sc.plan.deal_terms
    if t is None:
        return None
    cand = next(c for c in sc.plan.candidates if c.hardware == t.hardware)
    u = candidate_unit(cand)
    f, p = sc.facility, sc.plan
    unit_mw = u.power_w * f.pue / 1e6
    units = t.facility_mw / unit_mw
    mw_years = t.mw_years or t.facility_mw * t.term_years
    per_mw_year = t.contract_usd / mw_years
    per_unit_year = per_mw_year * unit_mw
    energy = unit_mw * HOURS_PER_YEAR * f.usd_per_mwh
    facility = unit_mw * p.facility_usd_per_mw / p.facility_life_years
    equivalent = (per_unit_year - energy - facility) * f.depreciation_years
    models = list(dict.fromkeys([*( [c.model for c in sc.traffic if c.name == t.tier_class] ), *t.models]))
    serves = []
    for m in models:
        d = _tier_demand(sc, m, t.tier_class, t.min_user_tok_s)
        best = None
        for c in usable_candidates(sc):
            if c.hardware != t.hardware:
                continue
            for o in options_for(d, 0, c):
                per_unit = o.rate_rps * d.osl / (o.chips / u.chips)
                if best is None or per_unit > best[0]:
                    best = (per_unit, o)
        if best is None:
            serves.append(Serves(m, None, None, None, None, None))
            continue
        per_unit, o = best
        total = per_unit * units
        usd = per_unit_year / (per_unit * SECONDS_PER_YEAR) * 1e6 if per_unit > 0 else math.nan
        serves.append(Serves(m, o.label, o.per_user_tok_s, per_unit, total, usd))
    return ImpliedTerms(t.hardware, u.name, t.contract_usd, t.facility_mw, t.term_years, mw_years, units,
                        t.contract_usd / units, per_mw_year, per_unit_year, equivalent, u.price_usd,
                        t.min_user_tok_s, tuple(serves), t.source)


def apply_terms(sc: PlanScenario) -> PlanScenario:
    """The scenario with the terms' candidate bought at the equivalent purchase price (``price_candidate``)."""
    t = sc.plan.deal_terms
    if t is None or not t.price_candidate:
        return sc
    imp = implied(sc)
    assert imp is not None
    price = max(imp.equivalent_unit_price_usd, 1.0)
    cands = [c.model_copy(update={"unit_price_usd": price, "price_usd": None}) if c.hardware == t.hardware else c
             for c in sc.plan.candidates]
    return sc.model_copy(update={"plan": sc.plan.model_copy(update={"candidates": cands})})


__all__ = ["ImpliedTerms", "Serves", "apply_terms", "implied"]
