"""Which constraints bind an optimal plan (and what relaxing each is worth), and why an infeasible one is
infeasible — both by re-solving the MILP with one constraint group relaxed at a time."""

from __future__ import annotations

from dataclasses import dataclass, replace

from tokenfleet.errors import InfeasibleError
from tokenfleet.plan.milp import GOODPUT_MAX_SCALE, Problem, Solution, solve

REL_TOL = 1e-5


@dataclass(frozen=True, slots=True)
class Binding:
    constraint: str  # "power budget", "supply cap gb200-nvl72", "max vendor share", "min vendors", ...
    detail: str
    gain: float  # objective improvement when relaxed: $/yr (cost), MW (power), x traffic (goodput)


def _objective_value(sol: Solution) -> float:
    if sol.objective == "cost":
        return sol.tco_usd_per_year
    if sol.objective == "power":
        return sol.provisioned_mw
    return -sol.scale


def _gain_text(objective: str, gain: float) -> str:
    if objective == "cost":
        return f"relaxing it saves ${gain:,.0f} per year"
    if objective == "power":
        return f"relaxing it saves {gain:,.2f} MW"
    return f"relaxing it serves {gain:,.3f}x more traffic"


def _relaxations(p: Problem, sol: Solution) -> list[tuple[str, str, Problem]]:
    lim, out = p.limits, []
    if lim.power_budget_mw is not None and sol.provisioned_mw >= lim.power_budget_mw * 0.98:
        out.append(("power budget", f"uses {_sig(sol.provisioned_mw)} of {_sig(lim.power_budget_mw)} MW",
                    replace(p, limits=replace(lim, power_budget_mw=None))))
    if lim.supply_caps:
        for h, hw in enumerate(p.hardware):
            if hw.max_systems is not None and sol.systems[h] >= hw.max_systems:
                hws = list(p.hardware)
                hws[h] = replace(hw, max_systems=None)
                out.append((f"supply cap {hw.hw_id}", f"buys all {hw.max_systems:,} systems available",
                            replace(p, hardware=hws)))
    if lim.max_vendor_share < 1.0:
        out.append(("max vendor share", f"no vendor above {lim.max_vendor_share:.0%} of {lim.share_basis}",
                    replace(p, limits=replace(lim, max_vendor_share=1.0))))
    if lim.min_vendors > 1:
        out.append(("min vendors", f"at least {lim.min_vendors} vendors",
                    replace(p, limits=replace(lim, min_vendors=1, min_vendor_share=0.0))))
    if lim.budget_usd_per_year is not None:
        out.append(("money budget", f"TCO <= ${lim.budget_usd_per_year / 1e6:,.1f}M per year",
                    replace(p, limits=replace(lim, budget_usd_per_year=None))))
    return out


def binding_constraints(p: Problem, sol: Solution) -> list[Binding]:
    """Constraints whose relaxation improves the optimum, with the improvement."""
    base = _objective_value(sol)
    out = []
    for name, detail, relaxed in _relaxations(p, sol):
        alt = solve(relaxed, sol.objective)
        if alt is None:
            continue
        gain = base - _objective_value(alt)
        if gain > REL_TOL * max(1.0, abs(base)):
            text = _gain_text(sol.objective, gain)
            if sol.objective == "goodput" and alt.scale >= GOODPUT_MAX_SCALE * 0.999:
                text = "it is what limits the traffic served"
            out.append(Binding(name, f"{detail}; {text}", gain))
    return out


def _sig(x: float) -> str:
    """Enough digits to see a gap: 4 significant figures, more when needed to tell 0.1234 from 0.1235."""
    return f"{x:,.4g}" if abs(x) >= 1e-3 else f"{x:.3g}"


def explain_infeasible(p: Problem, objective: str) -> InfeasibleError:
    """An InfeasibleError naming what binds, e.g. "needs 812 MW at PUE 1.2; budget is 750 MW"."""
    lim = p.limits
    msgs: list[str] = []
    binds: list[str] = []
    free = replace(p, limits=replace(lim, power_budget_mw=None, budget_usd_per_year=None))
    if lim.power_budget_mw is not None:
        need = solve(free, "power")
        if need is not None and need.provisioned_mw > lim.power_budget_mw:
            gap = need.provisioned_mw - lim.power_budget_mw
            basis = "nameplate" if lim.power_basis == "nameplate" else "modelled peak draw"
            oversub = f" / oversubscription {lim.oversubscription:g}" if lim.oversubscription != 1.0 else ""
            msgs.append(f"needs {_sig(need.provisioned_mw)} MW provisioned ({basis} x PUE {p.econ.pue:g}{oversub}); "
                        f"budget is {_sig(lim.power_budget_mw)} MW (short by {_sig(gap)} MW)")
            binds.append("power budget")
    if lim.supply_caps:
        uncapped = solve(replace(p, limits=replace(free.limits, supply_caps=False)), "cost")
        if uncapped is not None and solve(replace(free, limits=replace(free.limits)), "cost") is None:
            over = [f"needs {int(uncapped.systems[h]):,} {hw.hw_id} systems; supply cap is {hw.max_systems:,}"
                    for h, hw in enumerate(p.hardware)
                    if hw.max_systems is not None and uncapped.systems[h] > hw.max_systems]
            msgs.extend(over or ["the supply caps together leave too little hardware"])
            binds.append("supply caps")
    if lim.max_vendor_share < 1.0 or lim.min_vendors > 1:
        plain = replace(p, limits=replace(lim, max_vendor_share=1.0, min_vendors=1, min_vendor_share=0.0))
        if solve(plain, objective if objective != "goodput" else "cost") is not None:
            msgs.append(f"the vendor limits (max share {lim.max_vendor_share:.0%} of {lim.share_basis}, "
                        f"min {lim.min_vendors} vendors) cannot be met together with the other constraints")
            binds.append("vendor limits")
    if lim.budget_usd_per_year is not None:
        cheapest = solve(replace(p, limits=replace(lim, budget_usd_per_year=None)), "cost")
        if cheapest is None or cheapest.tco_usd_per_year > lim.budget_usd_per_year:
            msgs.append(f"the cheapest fleet costs ${cheapest.tco_usd_per_year / 1e6:,.1f}M per year; budget is "
                        f"${lim.budget_usd_per_year / 1e6:,.1f}M" if cheapest else "no fleet fits the money budget")
            binds.append("money budget")
    if not msgs:
        msgs.append("the constraints together admit no fleet (each alone could be met)")
    return InfeasibleError("no fleet meets every constraint: " + "; ".join(msgs), binding=binds)


__all__ = ["Binding", "binding_constraints", "explain_infeasible"]
