"""The purchasable unit of each candidate (catalog/data/units.yaml with the scenario's overrides) and how
replicas are placed on units.

Placement: a replica of ``r`` chips on units of ``c`` chips takes ``c // r`` replicas per unit when
``r <= c`` (the rest of the unit's chips stay idle), else ``ceil(r / c)`` whole units (pipeline stages
across units). A tensor-parallel group must stay inside one unit (its scale-up link), so a layout with
``tp > c`` cannot be hosted.
"""

from __future__ import annotations

import math
from dataclasses import replace

from tokenfleet import catalog, perf
from tokenfleet.catalog.units import UnitSpec, unit
from tokenfleet.errors import ScenarioError
from tokenfleet.plan.schema import CandidateSpec


def candidate_unit(c: CandidateSpec, where: str = "scenario: plan.candidates") -> UnitSpec:
    """The unit ``c`` buys: the catalog's, with the candidate's overrides; bad combinations raise
    ScenarioError naming the field."""
    base = unit(c.hardware)
    u = base
    o = c.unit
    if o is not None:
        chips = o.chips or base.chips
        price = o.price_usd
        if price is None and c.unit_price_usd is None and c.price_usd is None and c.usd_per_hour is None:
            if chips != base.chips:
                raise ScenarioError(
                    f"unit price missing: a {chips}-chip unit of {c.hardware} is not in the catalog (its unit is "
                    f"the {base.chips}-chip {base.name}); give unit.price_usd, unit_price_usd or price_usd "
                    "(per chip)", where=f"{where}.unit.price_usd")
            price = base.price_usd
        power = o.power_w or base.power_w * chips / base.chips
        u = replace(base, name=o.name or (base.name if chips == base.chips else f"{chips}-chip {c.hardware} unit"),
                    chips=chips, price_usd=price or base.price_usd, power_w=power,
                    sources={**base.sources, "scenario": "unit overridden in the scenario"},
                    items=base.items if price is None or price == base.price_usd else {"unit (scenario)": price})
    if c.unit_price_usd is not None:
        u = replace(u, price_usd=c.unit_price_usd, items={"unit (scenario)": c.unit_price_usd})
    elif c.price_usd is not None:
        u = replace(u, price_usd=c.price_usd * u.chips, items={"unit (scenario)": c.price_usd * u.chips})
    if c.lead_time_months is not None:
        u = replace(u, lead_time_months=c.lead_time_months)
    if c.supply_cap_chips is not None and c.supply_cap_chips < u.chips:
        raise ScenarioError(
            f"a {u.name} holds {u.chips:,} chips but supply_cap_chips is {c.supply_cap_chips:,}: not one whole "
            "unit can be bought (raise the cap or choose a smaller unit)", where=f"{where}.supply_cap_chips")
    caps = [x for x in (u.supply_cap_units, c.supply_cap_systems,
                        None if c.supply_cap_chips is None else c.supply_cap_chips // u.chips) if x is not None]
    return replace(u, supply_cap_units=min(caps) if caps else None)


def lead_time_months(c: CandidateSpec) -> float:
    return c.lead_time_months if c.lead_time_months is not None else unit(c.hardware).lead_time_months


def placement(replica_chips: int, unit_chips: int) -> tuple[int, int]:
    """(replicas per unit, units per replica): one of the two is 1."""
    if replica_chips <= unit_chips:
        return unit_chips // replica_chips, 1
    return 1, math.ceil(replica_chips / unit_chips)


def hosting_problem(layout: perf.Layout, u: UnitSpec, hw: catalog.HardwareSpec) -> str | None:
    """Why units ``u`` cannot host ``layout`` (None: they can)."""
    if not hw.is_sram and layout.tp > u.chips:
        return (f"{layout.describe()} needs a tensor-parallel group of {layout.tp} chips inside one unit, but a "
                f"{u.name} holds {u.chips}")
    return None


__all__ = ["candidate_unit", "hosting_problem", "lead_time_months", "placement"]
