"""What drives a plan's cost: each class's share of capex, opex and TCO (pools own their units, so the
shares add up to the fleet's totals exactly) and shadow prices — what relaxing each binding constraint, and
each class's SLO, by 10 % saves, found by re-solving the MILP."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from tokenfleet.plan.capacity import Option
from tokenfleet.plan.demand import Demand
from tokenfleet.plan.milp import Problem, Solution, solve

RELAX = 0.10


@dataclass(frozen=True, slots=True)
class ClassCost:
    name: str
    capex_usd: float
    opex_usd_per_year: float
    tco_usd_per_year: float
    share_of_tco: float
    output_tokens_per_year: float

    @property
    def usd_per_mtok(self) -> float:
        t = self.output_tokens_per_year
        return self.tco_usd_per_year / t * 1e6 if t > 0 else math.nan


@dataclass(frozen=True, slots=True)
class Shadow:
    constraint: str  # "power budget", "supply cap cs3", "SLO realtime", ...
    change: str  # "750 -> 825 MW"
    saving: float | None  # objective units ($/yr, MW, x traffic); None: the relaxed problem was not solved
    saving_frac: float  # of the objective value


def class_costs(pools: list, demands: list[Demand]) -> list[ClassCost]:  # pools: list[PoolPlan]
    """Each class's part of every pool it rides (a shared pool splits by the share of its replicas' time
    each class takes), so the classes add up to the fleet."""
    total = sum(p.tco_usd_per_year for p in pools)
    out = []
    for d in demands:
        mine = [(p, p.class_share.get(d.name, 0.0)) for p in pools if d.name in p.class_share]
        tco = sum(p.tco_usd_per_year * w for p, w in mine)
        out.append(ClassCost(d.name, sum(p.capex_usd * w for p, w in mine),
                             sum(p.opex_usd_per_year * w for p, w in mine), tco, tco / total if total > 0 else 0.0,
                             sum(p.class_tokens.get(d.name, 0.0) for p, _ in mine)))
    return out


def objective_value(sol: Solution) -> float:
    if sol.objective == "cost":
        return sol.tco_usd_per_year
    if sol.objective == "power":
        return sol.provisioned_mw
    return -sol.scale


def _constraint_relaxations(p: Problem, sol: Solution) -> list[tuple[str, str, Problem]]:
    lim, out = p.limits, []
    if lim.power_budget_mw is not None and sol.provisioned_mw >= lim.power_budget_mw * 0.98:
        b = lim.power_budget_mw
        out.append(("power budget", f"{b:,.4g} -> {b * (1 + RELAX):,.4g} MW",
                    replace(p, limits=replace(lim, power_budget_mw=b * (1 + RELAX)))))
    if lim.supply_caps:
        for h, hw in enumerate(p.hardware):
            if hw.max_systems is not None and sol.systems[h] >= hw.max_systems:
                hws = list(p.hardware)
                cap = math.ceil(hw.max_systems * (1 + RELAX))
                hws[h] = replace(hw, max_systems=cap)
                out.append((f"supply cap {hw.hw_id}", f"{hw.max_systems:,} -> {cap:,} units", replace(p, hardware=hws)))
    if lim.max_vendor_share < 1.0:
        s = min(1.0, lim.max_vendor_share * (1 + RELAX))
        out.append(("max vendor share", f"{lim.max_vendor_share:.0%} -> {s:.0%}",
                    replace(p, limits=replace(lim, max_vendor_share=s))))
    if lim.min_vendors > 1 and lim.min_vendor_share > 0:
        s = lim.min_vendor_share * (1 - RELAX)
        out.append(("min vendor share", f"{lim.min_vendor_share:.1%} -> {s:.1%}",
                    replace(p, limits=replace(lim, min_vendor_share=s))))
    if lim.budget_usd_per_year is not None:
        b = lim.budget_usd_per_year
        out.append(("money budget", f"${b / 1e6:,.4g}M -> ${b * (1 + RELAX) / 1e6:,.4g}M per year",
                    replace(p, limits=replace(lim, budget_usd_per_year=b * (1 + RELAX)))))
    return out


def loosen(d: Demand, factor: float) -> Demand:
    """The class with TTFT / TPOT targets x factor and a per-user speed floor / factor."""
    return replace(d, slo=d.slo.loosened(factor))


def shadow_prices(p: Problem, sol: Solution,
                  slo_problem: Callable[[int, float], Problem | None] | None = None) -> list[Shadow]:
    """Saving from relaxing each binding constraint, and each class's SLO (``slo_problem(class, factor)``),
    by 10 %; a relaxation that saves nothing is listed with saving 0."""
    base = objective_value(sol)
    cands = _constraint_relaxations(p, sol)
    if slo_problem is not None:
        for ci, d in enumerate(p.demands):
            q = slo_problem(ci, 1.0 + RELAX)
            if q is not None:
                what = (f"min {d.min_user_tok_s:,.0f} -> {d.min_user_tok_s / (1 + RELAX):,.0f} tok/s/user"
                        if d.min_user_tok_s else "TTFT / TPOT p99 x 1.1")
                cands.append((f"SLO {d.name}", what, q))
    out = []
    for name, change, q in cands:
        alt = solve(q, sol.objective)
        if alt is None:
            out.append(Shadow(name, change, None, 0.0))
            continue
        gain = base - objective_value(alt)
        gain = gain if gain > 1e-7 * max(1.0, abs(base)) else 0.0  # solver noise is no saving
        out.append(Shadow(name, change, gain, gain / abs(base) if base else 0.0))
    return out


def with_extra_options(p: Problem, extra: list[Option]) -> list[Option]:
    """The problem's options plus ``extra`` (a looser SLO keeps every option that met the tighter one)."""
    return [*p.options, *extra]


__all__ = ["RELAX", "ClassCost", "Shadow", "class_costs", "loosen", "objective_value", "shadow_prices",
           "with_extra_options"]
