"""The fleet MILP, solved with HiGHS through :func:`scipy.optimize.milp`.

Variables (see :mod:`tokenfleet.plan.problem` for the coefficients): ``n_j`` replicas of each option
(integer), ``s_h`` purchasable units of each hardware (integer), ``x_f`` requests/s of a class on an option
(continuous: the flows that let classes of one model share replicas), ``y_v`` "vendor v is used" (binary,
only with ``min_vendors > 1``), ``t`` traffic scale (goodput objective).

    demand_c:   sum_{f of c} x_f = D_c                      (goodput: = D_c t)
    replicas_j: sum_{f on j} x_f / rate_f <= n_j            (a replica's time, shared by its flows)
    units_h:    sum_{j on h} eff_j n_j <= chips_per_unit_h s_h   (eff: unit chips one replica takes)
    supply_h:   s_h <= cap_h                                (a bound)
    power:      provisioned MW(n, s, x) <= budget           (nameplate x PUE by default)
    share_v:    basis_v <= max_share x basis                (basis = provisioned MW or capex)
    vendors:    sum_v y_v >= min_vendors;  y_v = 1  =>  basis_v >= min_share x basis  and  units_v >= 1
    money:      tco $/yr <= budget_usd_per_year             (goodput objective)

Objectives: ``cost`` (TCO $/yr), ``power`` (provisioned MW, ties broken by cost), ``goodput`` (max t, ties
broken by cost).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from tokenfleet.plan.problem import (
    Limits,
    Problem,
    Rows,
    build,
    placement_arrays,
    rows,
    unit_chips,
    vendor_rows,
)

MIP_REL_GAP = 1e-7
TIME_LIMIT_S = 60.0
TIE_LIMIT_S = 10.0  # the least-MW re-solve among cost-equal fleets keeps the best it finds in this time
GOODPUT_MAX_SCALE = 1e4
GOODPUT_REL_GAP = 1e-3  # the goodput objective (a continuous traffic scale) is proven to 0.1 %


_QUIET_LOCK = threading.Lock()
_quiet: dict[str, int] = {"depth": 0, "saved": -1}


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """HiGHS prints some MIP diagnostics straight to file descriptor 1 whatever its output flag (e.g.
    "HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();"): keep them out of a plan's
    output. Where stdout is not a file descriptor (captured by a test) nothing is redirected; solves in
    several threads share one redirection (the first in redirects, the last out restores)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    with _QUIET_LOCK:
        if _quiet["depth"] == 0:
            sys.stdout.flush()
            _quiet["saved"] = os.dup(fd)
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), fd)
        _quiet["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _quiet["depth"] -= 1
            if _quiet["depth"] == 0:
                os.dup2(_quiet["saved"], fd)
                os.close(_quiet["saved"])


@dataclass(frozen=True, slots=True)
class Solution:
    replicas: np.ndarray  # per option
    systems: np.ndarray  # per hardware: whole units bought (the sum of ``units`` over its options)
    scale: float  # traffic multiple served (1 unless objective goodput)
    tco_musd_per_year: float
    peak_facility_mw: float  # modelled peak draw x PUE
    avg_facility_mw: float
    capex_musd: float
    objective: str
    units: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # per option: units it occupies
    flows: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per flow: requests/s (sized, scale in)
    provisioned_mw: float = 0.0  # what the power budget holds (basis / oversubscription)

    @property
    def tco_usd_per_year(self) -> float:
        return self.tco_musd_per_year * 1e6


def _class_cost_per_rps(p: Problem, per_n: np.ndarray, per_s: np.ndarray, per_x: np.ndarray) -> np.ndarray:
    """Per class: the least of a row's value per request/s over its flows (a replica's part included)."""
    eff = unit_chips(p)
    out = np.full(len(p.demands), math.inf)
    for f in range(len(p.flow_opt)):
        j, c = int(p.flow_opt[f]), int(p.flow_cls[f])
        h = int(p.hw_of[j])
        per_rep = per_n[j] + per_s[h] * eff[j] / p.hardware[h].chips_per_system
        out[c] = min(out[c], per_rep / p.flow_rate[f] + per_x[f])
    return out


def _goodput_scale_bound(p: Problem) -> float:
    """An upper bound on the traffic scale: serving t x the demand takes at least t x the sum over classes
    of (least provisioned MW, or $M/yr, per request/s of any flow) x demand; inf without a budget."""
    nj, nh, _ = p.sizes
    r = rows(p)
    bounds = []
    for budget, row in ((p.limits.power_budget_mw, r.provisioned),
                        (None if p.limits.budget_usd_per_year is None else p.limits.budget_usd_per_year / 1e6,
                         r.cost)):
        if budget is None:
            continue
        per = _class_cost_per_rps(p, row[:nj], row[nj: nj + nh], row[nj + nh:])
        need = float(np.sum(np.where(np.isfinite(per), per, 0.0) * p.sized_rps))
        if need > 0:
            bounds.append(budget / need)
    return min(bounds) if bounds else math.inf


def _big_m(p: Problem) -> float:
    """An upper bound on any vendor's share basis in a sensible plan."""
    nj, nh, _ = p.sizes
    _, basis = vendor_rows(p)
    per = _class_cost_per_rps(p, basis[:nj], basis[nj: nj + nh], basis[nj + nh:])
    worst = float(np.sum(np.where(np.isfinite(per), per, 0.0) * p.sized_rps)) + float(np.sum(basis[nj: nj + nh]))
    return max(worst * 8.0, 1.0)


def units_per_option(p: Problem, n: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Each hardware's units handed to its pools, largest replicas first: a pool owns the units its
    replicas start (a unit shared by two pools counts with the first); spare units go to the last pool."""
    eff = unit_chips(p)
    out = np.zeros(len(p.options), np.int64)
    for h, hw in enumerate(p.hardware):
        js = sorted((j for j in np.flatnonzero(p.hw_of == h) if n[j] > 0), key=lambda j: (-eff[j], j))
        used, owned = 0.0, 0
        for j in js:
            before = math.ceil(used / hw.chips_per_system - 1e-9)
            used += float(n[j] * eff[j])
            after = math.ceil(used / hw.chips_per_system - 1e-9)
            out[j] = after - before
            owned += after - before
        if js:
            out[js[-1]] += int(s[h]) - owned
        elif s[h] > 0:
            out[int(np.flatnonzero(p.hw_of == h)[0])] += int(s[h])
    return out


class _Rows:
    """Constraint rows scaled to a largest coefficient of 1: MW per replica (~1e-4) beside chips (~1e2)
    otherwise spans eight orders of magnitude and stalls HiGHS's root heuristics."""

    def __init__(self, nvar: int) -> None:
        self.nvar, self.a, self.lo, self.hi = nvar, [], [], []  # type: ignore[var-annotated]

    def add(self, row: np.ndarray, lb: float, ub: float) -> None:
        full = np.zeros(self.nvar)
        full[: row.size] = row
        scale = float(np.max(np.abs(full))) or 1.0
        self.a.append(full / scale)
        self.lo.append(lb / scale)
        self.hi.append(ub / scale)


def _constraints(p: Problem, goodput: bool, use_y: bool, nvar: int) -> _Rows:
    nj, nh, nf = p.sizes
    nx = nj + nh + nf
    t_col = nvar - 1
    lim = p.limits
    rs = _Rows(nvar)
    for c in range(len(p.demands)):
        r = np.zeros(nvar)
        r[nj + nh:nx] = (p.flow_cls == c).astype(float)
        d = float(p.sized_rps[c])
        if goodput:
            r[t_col] = -d
            rs.add(r, 0.0, 0.0)
        else:
            rs.add(r, d, d)
    for j in range(nj):  # a replica's time is shared by its flows
        r = np.zeros(nvar)
        sel = p.flow_opt == j
        r[nj + nh:nx][sel] = 1.0 / p.flow_rate[sel]
        r[j] = -1.0
        rs.add(r, -math.inf, 0.0)
    eff = unit_chips(p)
    for h, hw in enumerate(p.hardware):  # replicas live on whole units: sum_j eff_j n_j <= c_h s_h
        r = np.zeros(nvar)
        r[:nj] = np.where(p.hw_of == h, eff, 0.0)
        r[nj + h] = -hw.chips_per_system
        rs.add(r, -math.inf, 0.0)
    rr = rows(p)
    if lim.power_budget_mw is not None:
        rs.add(rr.provisioned, -math.inf, lim.power_budget_mw)
    basis_v, basis = vendor_rows(p)
    vendors = p.vendors
    if lim.max_vendor_share < 1.0:
        for v in range(len(vendors)):
            rs.add(basis_v[v] - lim.max_vendor_share * basis, -math.inf, 0.0)
    if use_y:
        big = _big_m(p)
        v_of_h = np.array([vendors.index(h.vendor) for h in p.hardware])
        yrow = np.zeros(nvar)
        for v in range(len(vendors)):
            yrow[nx + v] = 1.0
            r = np.zeros(nvar)
            r[:nx] = basis_v[v] - lim.min_vendor_share * basis
            r[nx + v] = -big
            rs.add(r, -big, math.inf)
            r2 = np.zeros(nvar)
            r2[nj: nj + nh] = (v_of_h == v).astype(float)
            r2[nx + v] = -1.0
            rs.add(r2, 0.0, math.inf)
        rs.add(yrow, float(lim.min_vendors), math.inf)
    if lim.budget_usd_per_year is not None:
        rs.add(rr.cost, -math.inf, lim.budget_usd_per_year / 1e6)
    return rs


def _bounds(p: Problem, goodput: bool, use_y: bool, nvar: int) -> tuple[np.ndarray, np.ndarray]:
    nj, nh, nf = p.sizes
    nx = nj + nh + nf
    lb, ub = np.zeros(nvar), np.full(nvar, np.inf)
    t_max = _goodput_scale_bound(p) if goodput else 1.0
    if math.isfinite(t_max):  # finite bounds tighten HiGHS's probing: no option needs more replicas than it
        # takes to carry every class it may carry (at the largest traffic scale any fleet could serve)
        per_flow = p.sized_rps[p.flow_cls] * t_max * (1 + 1e-9)
        need = np.ceil(np.bincount(p.flow_opt, weights=per_flow / p.flow_rate, minlength=nj))
        eff = unit_chips(p)
        ub[:nj] = need
        ub[nj: nj + nh] = np.ceil(np.bincount(p.hw_of, weights=need * eff, minlength=nh)
                                  / np.array([h.chips_per_system for h in p.hardware]) - 1e-9)
        ub[nj + nh: nx] = per_flow
    if p.limits.supply_caps:
        for h, hw in enumerate(p.hardware):
            if hw.max_systems is not None:
                ub[nj + h] = min(ub[nj + h], hw.max_systems)
    if use_y:
        ub[nx: nvar - (1 if goodput else 0)] = 1.0
    if goodput:
        ub[nvar - 1] = min(GOODPUT_MAX_SCALE, t_max)
    return lb, ub


def solve(p: Problem, objective: str = "cost", tie_rel: float = 0.0, gap: float | None = None) -> Solution | None:
    """Optimal fleet, or None when the constraints cannot all be met.

    With ``tie_rel > 0`` (objective cost) a second solve takes, among fleets within ``tie_rel`` of the
    cheapest, the one with the least provisioned MW (cost-equal plans do not spend megawatts for nothing).
    """
    nj, nh, nf = p.sizes
    use_y = p.limits.min_vendors > 1
    nv = len(p.vendors) if use_y else 0
    goodput = objective == "goodput"
    nx = nj + nh + nf
    nvar = nx + nv + (1 if goodput else 0)
    rs = _constraints(p, goodput, use_y, nvar)
    lb, ub = _bounds(p, goodput, use_y, nvar)
    rr = rows(p)
    obj = np.zeros(nvar)
    if objective == "cost":
        obj[:nx] = rr.cost
    elif objective == "power":
        obj[:nx] = rr.provisioned + 1e-9 * rr.cost
    else:
        obj[nvar - 1] = -1.0
        obj[:nx] = 1e-9 * rr.cost
    integrality = np.zeros(nvar)
    integrality[: nj + nh] = 1
    integrality[nx: nx + nv] = 1

    rel_gap = max(gap or 0.0, GOODPUT_REL_GAP if goodput else MIP_REL_GAP)

    def run(c_obj: np.ndarray, limit_s: float = TIME_LIMIT_S) -> Any:
        with quiet_stdout():
            return milp(c_obj, constraints=LinearConstraint(np.array(rs.a), rs.lo, rs.hi), integrality=integrality,
                        bounds=Bounds(lb, ub), options={"mip_rel_gap": rel_gap, "time_limit": limit_s})

    t0 = time.process_time()
    res = run(obj)
    first_s = time.process_time() - t0
    if res.x is None or res.status not in (0, 1):
        return None
    x_best = res.x
    if tie_rel > 0 and objective == "cost":
        best = float(rr.cost @ _rounded(res.x, nj + nh)[:nx])
        n_rows = len(rs.a)
        rs.add(rr.cost, -math.inf, best * (1.0 + tie_rel))
        obj2 = np.zeros(nvar)
        obj2[:nx] = rr.provisioned + 1e-9 * rr.cost
        res2 = run(obj2, min(TIE_LIMIT_S, max(1.0, 2.0 * first_s)))  # best found in time
        del rs.a[n_rows:], rs.lo[n_rows:], rs.hi[n_rows:]
        if res2.x is not None and res2.status in (0, 1):
            x_best = res2.x
    x = _rounded(x_best, nj + nh)
    return _solution(p, x[:nj], x[nj: nj + nh], x[nj + nh: nx], float(x[nvar - 1]) if goodput else 1.0,
                     objective)


def _rounded(x: np.ndarray, n_int: int) -> np.ndarray:
    out = np.array(x, float)
    out[:n_int] = np.round(out[:n_int])
    out[n_int:] = np.maximum(out[n_int:], 0.0)
    return out


def _solution(p: Problem, n: np.ndarray, s: np.ndarray, flows: np.ndarray, scale: float, objective: str) -> Solution:
    rr = rows(p)
    core = np.concatenate([n, s, flows])
    n_i, s_i = n.astype(np.int64), s.astype(np.int64)
    return Solution(n_i, s_i, scale, float(rr.cost @ core), float(rr.draw @ core), float(rr.avg @ core),
                    float(p.capex_musd_s @ s), objective, units_per_option(p, n_i, s_i), flows,
                    float(rr.provisioned @ core))


def check(p: Problem, n: np.ndarray, s: np.ndarray, x: np.ndarray, r: Rows | None = None) -> tuple[bool, float]:
    """Feasibility and TCO ($M/yr) of replicas ``n``, units ``s`` (per hardware) and flows ``x`` under the
    problem's limits, by arithmetic (objective cost)."""
    lim = p.limits
    r = r or rows(p)
    nh = len(p.hardware)
    served = np.bincount(p.flow_cls, weights=x, minlength=len(p.demands))
    ok = bool(np.allclose(served, p.sized_rps, rtol=1e-7, atol=1e-9)) and bool(np.all(x >= -1e-12))
    busy = np.bincount(p.flow_opt, weights=x / p.flow_rate, minlength=len(p.options))
    ok &= bool(np.all(busy <= n + 1e-7))
    used = np.bincount(p.hw_of, weights=unit_chips(p) * n, minlength=nh)
    ok &= bool(np.all(used <= np.array([h.chips_per_system for h in p.hardware]) * s + 1e-9))
    if lim.supply_caps:
        ok &= all(h.max_systems is None or s[i] <= h.max_systems for i, h in enumerate(p.hardware))
    core = np.concatenate([n, s, x]).astype(float)
    if lim.power_budget_mw is not None:
        ok &= float(r.provisioned @ core) <= lim.power_budget_mw * (1 + 1e-9)
    basis_v, basis = vendor_rows(p)
    total = float(basis @ core)
    shares = basis_v @ core / total if total > 0 else np.zeros(len(basis_v))
    ok &= bool(np.all(shares <= lim.max_vendor_share + 1e-9))
    if lim.min_vendors > 1:
        v_of_h = np.array([p.vendors.index(h.vendor) for h in p.hardware])
        present = [(shares[v] >= lim.min_vendor_share - 1e-12) and s[v_of_h == v].sum() >= 1
                   for v in range(len(basis_v))]
        ok &= sum(present) >= lim.min_vendors
    cost = float(r.cost @ core)
    if lim.budget_usd_per_year is not None:
        ok &= cost <= lim.budget_usd_per_year / 1e6 * (1 + 1e-9)
    return ok, cost


def evaluate(p: Problem, n: np.ndarray, u: np.ndarray) -> tuple[bool, float]:
    """Feasibility and TCO ($M/yr) of replicas ``n`` and units ``u`` (both per option; units of one
    hardware are pooled) with each class's rate routed over its replicas at least cost (a linear program
    over the flows), checked by :func:`check` — for tests and checks. Objective cost."""
    nj, nh, nf = p.sizes
    s = np.bincount(p.hw_of, weights=u, minlength=nh).astype(float)
    rs = _constraints(p, False, False, nj + nh + nf)
    fixed = np.concatenate([n.astype(float), s])
    a, lo, hi = np.array(rs.a), np.array(rs.lo), np.array(rs.hi)
    rest = a[:, : nj + nh] @ fixed
    up, down = np.isfinite(hi), np.isfinite(lo)
    res = linprog(rows(p).cost[nj + nh:], A_ub=np.vstack([a[up, nj + nh:], -a[down, nj + nh:]]),
                  b_ub=np.concatenate([hi[up] - rest[up], rest[down] - lo[down]]), bounds=(0, None),
                  method="highs")
    if res.status != 0:
        return False, math.inf
    return check(p, n.astype(float), s, res.x)


__all__ = ["GOODPUT_MAX_SCALE", "Limits", "Problem", "Solution", "build", "check", "evaluate", "placement_arrays",
           "rows", "solve", "unit_chips", "units_per_option"]
