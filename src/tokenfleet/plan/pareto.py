"""Pareto frontiers by re-solving: TCO against provisioned MW (sweeping the power budget between the
lowest-power and the cheapest fleet) and TCO against SLO tightness (every class's TTFT and TPOT targets
scaled by a factor).

Both are monotone by construction: the MW frontier keeps only fleets no other fleet beats on both MW and
cost; on the SLO curve a looser factor never costs more than a tighter one, because the tighter point's
fleet meets the looser SLOs too (it is carried over and marked so). Each point says whether it was
simulated (``--verify-curves``) or is the model's estimate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from tokenfleet.plan.milp import Problem, Solution, solve
from tokenfleet.plan.problem import vendor_rows

SLO_FACTORS = (0.5, 0.75, 1.0, 1.5, 2.0)


@dataclass(frozen=True, slots=True)
class ParetoPoint:
    x: float  # provisioned MW budget, or SLO factor
    tco_usd_per_year: float | None  # None: infeasible
    facility_mw: float | None  # provisioned MW (what the budget holds)
    mw_by_vendor: dict[str, float]
    note: str = ""  # e.g. "fleet of factor 0.75 (cheaper, meets these SLOs too)"
    status: str = "estimated"  # estimated | simulated: met | simulated: missed <classes>
    fleet: tuple[Problem, Solution] | None = field(default=None, compare=False, repr=False)

    @property
    def simulated(self) -> bool:
        return self.status.startswith("simulated")


def _by_vendor(p: Problem, sol: Solution) -> dict[str, float]:
    """Provisioned MW per vendor."""
    per_v, _ = vendor_rows(replace(p, limits=replace(p.limits, share_basis="power")))
    core = np.concatenate([sol.replicas, sol.systems, sol.flows]).astype(float)
    return {v: float(per_v[i] @ core) for i, v in enumerate(p.vendors) if float(per_v[i] @ core) > 0}


def _point(p: Problem, x: float, sol: Solution | None) -> ParetoPoint:
    if sol is None:
        return ParetoPoint(x, None, None, {})
    return ParetoPoint(x, sol.tco_usd_per_year, sol.provisioned_mw, _by_vendor(p, sol), fleet=(p, sol))


def cost_vs_mw(p: Problem, points: int, plan: Solution | None = None) -> list[ParetoPoint]:
    """Cheapest fleet at each power budget from the lowest-power fleet's MW to the cheapest fleet's MW
    (``plan``: the chosen fleet, which is on the frontier)."""
    low = solve(p, "power")
    cheap = plan or solve(p, "cost", tie_rel=1e-4)
    if low is None or cheap is None or points <= 0:
        return []
    lo_mw, hi_mw = low.provisioned_mw, cheap.provisioned_mw
    out = [_point(p, hi_mw, cheap), _point(p, lo_mw, low)]
    if hi_mw > lo_mw * (1 + 1e-6):
        for mw in np.linspace(lo_mw, hi_mw, points)[1:-1]:
            sol = solve(replace(p, limits=replace(p.limits, power_budget_mw=float(mw) * (1 + 1e-9))), "cost")
            out.append(_point(p, float(mw), sol))
    return _frontier(out)


def _frontier(points: list[ParetoPoint]) -> list[ParetoPoint]:
    """Distinct fleets, by MW, keeping only those no other fleet beats on both MW and cost."""
    seen: dict[tuple[float, float], ParetoPoint] = {}
    for q in points:
        if q.tco_usd_per_year is not None and q.facility_mw is not None:
            seen.setdefault((round(q.facility_mw, 9), round(q.tco_usd_per_year, 3)), q)
    pts = sorted(seen.values(), key=lambda q: (q.facility_mw or 0.0, q.tco_usd_per_year or 0.0))
    out: list[ParetoPoint] = []
    for q in pts:
        if not out or (q.tco_usd_per_year or 0.0) < (out[-1].tco_usd_per_year or 0.0):
            out.append(replace(q, x=q.facility_mw or 0.0))
    return out


def cost_vs_slo(problem_for: Callable[[float], Problem | None],
                factors: tuple[float, ...] = SLO_FACTORS) -> list[ParetoPoint]:
    """Cheapest fleet when every SLO is scaled by each factor (< 1 tighter, > 1 looser); non-increasing in
    the factor (a tighter point's fleet is carried to a looser factor when it is cheaper there)."""
    out: list[ParetoPoint] = []
    best: ParetoPoint | None = None
    for f in sorted(factors):
        p = problem_for(f)
        q = _point(p, f, solve(p, "cost", tie_rel=1e-4)) if p is not None else ParetoPoint(f, None, None, {})
        if best is not None and (q.tco_usd_per_year is None or q.tco_usd_per_year > (best.tco_usd_per_year or 0)):
            fleet = best.fleet
            if fleet is not None and p is not None:  # verify it against this factor's SLOs
                fleet = (replace(fleet[0], demands=p.demands), fleet[1])
            q = replace(best, x=f, note=f"fleet of factor {best.x:g} (cheaper here; it meets these SLOs too)",
                        fleet=fleet)
        if q.tco_usd_per_year is not None:
            best = q
        out.append(q)
    return out


__all__ = ["SLO_FACTORS", "ParetoPoint", "cost_vs_mw", "cost_vs_slo"]
