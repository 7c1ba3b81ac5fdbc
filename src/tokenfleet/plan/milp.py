"""The fleet MILP, solved with HiGHS through :func:`scipy.optimize.milp`.

Variables: ``n_j`` replicas of each option (integer), ``s_h`` purchasable units (servers, racks, CS-3
systems) of each hardware (integer; see :func:`unit_chips` for how replicas pack into them),
``y_v`` "vendor v is used" (binary, only with ``min_vendors > 1``), ``t`` traffic scale (goodput objective).
Units inside: MW and $M per year, so coefficients stay within a few orders of magnitude.

    demand_c:   sum_{j in c} rate_j n_j >= D_c            (goodput: >= D_c t)
    units_h:    sum_{j on h} eff_j n_j <= chips_per_unit_h s_h   (eff: unit chips one replica takes)
    supply_h:   s_h <= cap_h                                (a bound)
    power:      facility MW(n, s) <= budget
    share_v:    basis_v(n, s) <= max_share x basis(n, s)    (basis = facility MW or capex)
    vendors:    sum_v y_v >= min_vendors;  y_v = 1  =>  basis_v >= min_share x basis  and  systems_v >= 1
    money:      tco $/yr <= budget_usd_per_year             (goodput objective)

Objectives: ``cost`` (TCO $/yr), ``power`` (peak facility MW, ties broken by cost), ``goodput`` (max t,
ties broken by cost).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from tokenfleet.plan.capacity import Option
from tokenfleet.plan.demand import Demand
from tokenfleet.plan.economics import Economics, HardwareEcon, mean_it_w

MIP_REL_GAP = 1e-7
TIME_LIMIT_S = 60.0
TIE_LIMIT_S = 10.0  # the least-MW re-solve among cost-equal fleets keeps the best it finds in this time
GOODPUT_MAX_SCALE = 1e4
GOODPUT_REL_GAP = 1e-3  # the goodput objective (a continuous traffic scale) is proven to 0.1 %


def _goodput_scale_bound(p: Problem, rpu: np.ndarray, upr: np.ndarray) -> float:
    """An upper bound on the traffic scale: serving t x the demand takes at least t x the sum over classes
    of (least MW, or $M/yr, per request/s of any of its options) x demand; inf without a budget."""
    per_mw = (p.peak_mw_n + p.peak_mw_s[p.hw_of] * upr / rpu) / p.rate
    per_usd = (p.cost_n + p.cost_s[p.hw_of] * upr / rpu) / p.rate
    cls = np.array([o.class_idx for o in p.options], np.int64)
    bounds = []
    for budget, per in ((p.limits.power_budget_mw, per_mw),
                        (None if p.limits.budget_usd_per_year is None else p.limits.budget_usd_per_year / 1e6,
                         per_usd)):
        if budget is None:
            continue
        need = sum(float(np.min(per[cls == c])) * float(p.sized_rps[c]) for c in range(len(p.demands))
                   if np.any(cls == c))
        if need > 0:
            bounds.append(budget / need)
    return min(bounds) if bounds else math.inf


@dataclass(frozen=True, slots=True)
class Limits:
    """The constraint settings one solve uses (changed by binding analysis, Pareto sweeps)."""

    power_budget_mw: float | None = None
    max_vendor_share: float = 1.0
    share_basis: str = "power"
    min_vendors: int = 1
    min_vendor_share: float = 0.0
    budget_usd_per_year: float | None = None
    supply_caps: bool = True


@dataclass(frozen=True)
class Problem:
    options: list[Option]
    hardware: list[HardwareEcon]
    demands: list[Demand]
    sized_rps: np.ndarray  # per class: peak x (1 + headroom)
    econ: Economics
    limits: Limits
    # derived coefficient arrays (filled by build())
    rate: np.ndarray = field(default_factory=lambda: np.zeros(0))
    peak_mw_n: np.ndarray = field(default_factory=lambda: np.zeros(0))
    peak_mw_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    avg_mw_n: np.ndarray = field(default_factory=lambda: np.zeros(0))
    capex_musd_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cost_n: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cost_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hw_of: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def vendors(self) -> list[str]:
        return sorted({h.vendor for h in self.hardware})


def build(options: list[Option], hardware: list[HardwareEcon], demands: list[Demand], sized_rps: np.ndarray,
          econ: Economics, limits: Limits) -> Problem:
    """Coefficients: facility MW and $M/yr per replica (n) and per system (s)."""
    h_idx = {h.hw_id: i for i, h in enumerate(hardware)}
    hw_of = np.array([h_idx[o.hw_id] for o in options], np.int64)
    pue = econ.pue
    idle_chip = np.array([h.idle_w_per_chip for h in hardware])
    cps = np.array([h.chips_per_system for h in hardware], float)
    chips = np.array([o.chips for o in options], float)
    # each replica at its planned peak load, the class's sized rate over the replicas this option alone would
    # need (at capacity a 2 %-loaded CS-3 pool would be charged as if full), never above capacity
    need = [math.ceil(float(sized_rps[o.class_idx]) / o.rate_rps) if o.rate_rps > 0 else 1 for o in options]
    load = np.array([min(1.0, float(sized_rps[o.class_idx]) / (k * o.rate_rps)) if o.rate_rps > 0 else 1.0
                     for o, k in zip(options, need, strict=True)])
    idle_w = np.array([o.idle_it_w for o in options])
    peak_w = idle_w + load * (np.array([o.peak_it_w for o in options]) - idle_w)
    avg_w = np.array([mean_it_w(o, demands[o.class_idx], float(sized_rps[o.class_idx])) for o in options])
    avg_w = idle_w + load * (avg_w - idle_w)
    # a replica replaces idle chips of its system: count its power over the idle floor of those chips
    peak_mw_n = (peak_w - idle_chip[hw_of] * chips) * pue / 1e6
    avg_mw_n = (avg_w - idle_chip[hw_of] * chips) * pue / 1e6
    sys_mw = idle_chip * cps * pue / 1e6
    e_usd = econ.energy_usd_per_year_per_facility_w() * 1e6 / 1e6  # $M/yr per facility MW
    f_usd = econ.facility_usd_per_year_per_facility_w() * 1e6 / 1e6
    capex_musd_s = np.array([h.capex_per_system_usd for h in hardware]) / 1e6
    rent_musd_s = np.array([h.rent_per_system_usd_per_year for h in hardware]) / 1e6
    cost_n = avg_mw_n * e_usd + peak_mw_n * f_usd
    cost_s = capex_musd_s / econ.depreciation_years + rent_musd_s + sys_mw * (e_usd + f_usd)
    return replace(
        Problem(options, hardware, demands, np.asarray(sized_rps, float), econ, limits),
        rate=np.array([o.rate_rps for o in options]), peak_mw_n=peak_mw_n, peak_mw_s=sys_mw,
        avg_mw_n=avg_mw_n, capex_musd_s=capex_musd_s, cost_n=cost_n, cost_s=cost_s, hw_of=hw_of,
    )


@dataclass(frozen=True, slots=True)
class Solution:
    replicas: np.ndarray  # per option
    systems: np.ndarray  # per hardware: whole units bought (the sum of ``units`` over its options)
    scale: float  # traffic multiple served (1 unless objective goodput)
    tco_musd_per_year: float
    peak_facility_mw: float
    avg_facility_mw: float
    capex_musd: float
    objective: str
    units: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # per option: units it occupies

    @property
    def tco_usd_per_year(self) -> float:
        return self.tco_musd_per_year * 1e6


def placement_arrays(p: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Per option: replicas per unit and units per replica (see :mod:`tokenfleet.plan.units`)."""
    rpu, upr = [], []
    for j, o in enumerate(p.options):
        c = p.hardware[p.hw_of[j]].chips_per_system
        if o.chips <= c:
            rpu.append(c // o.chips)
            upr.append(1)
        else:
            rpu.append(1)
            upr.append(math.ceil(o.chips / c))
    return np.array(rpu, float), np.array(upr, float)


def unit_chips(p: Problem) -> np.ndarray:
    """Per option: the chips of a unit one replica takes up ("effective chips"): ``c / (c // r)`` when ``r``
    chips fit ``c // r`` times in a unit of ``c`` chips, ``c x ceil(r / c)`` when a replica spans units.

    With the power-of-two layouts the planner builds, replicas packed largest first then fill the units
    exactly (16-chip replicas take 18 of an NVL72's 72 chips, four to a rack; 8-GPU servers hold 8 / r), so
    ``sum_j eff_j n_j <= chips_per_unit x units`` is the packing itself, not a relaxation of it.
    """
    rpu, upr = placement_arrays(p)
    c = np.array([p.hardware[h].chips_per_system for h in p.hw_of], float)
    return np.where(upr > 1, c * upr, c / rpu)


def _basis_rows(p: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Per vendor and total share basis as rows over [n, s] (s: units per hardware)."""
    nj, nh = len(p.options), len(p.hardware)
    vendors = p.vendors
    rows = np.zeros((len(vendors), nj + nh))
    v_of_h = np.array([vendors.index(h.vendor) for h in p.hardware])
    for j in range(nj):
        if p.limits.share_basis != "capex":
            rows[v_of_h[p.hw_of[j]], j] = p.peak_mw_n[j]
    for h in range(nh):
        rows[v_of_h[h], nj + h] = p.capex_musd_s[h] if p.limits.share_basis == "capex" else p.peak_mw_s[h]
    return rows, rows.sum(axis=0)


def coefficient_rows(p: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cost $M/yr, peak facility MW, average facility MW) as rows over [n, s]."""
    cost = np.concatenate([p.cost_n, p.cost_s])
    power = np.concatenate([p.peak_mw_n, p.peak_mw_s])
    avg = np.concatenate([p.avg_mw_n, p.peak_mw_s])
    return cost, power, avg


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


def solve(p: Problem, objective: str = "cost", tie_rel: float = 0.0) -> Solution | None:
    """Optimal fleet, or None when the constraints cannot all be met.

    With ``tie_rel > 0`` (objective cost) a second solve takes, among fleets within ``tie_rel`` of the
    cheapest, the one with the least peak facility MW (cost-equal plans do not spend megawatts for nothing).
    """
    nj, nh, nc = len(p.options), len(p.hardware), len(p.demands)
    lim = p.limits
    vendors = p.vendors
    use_y = lim.min_vendors > 1
    nv = len(vendors) if use_y else 0
    goodput = objective == "goodput"
    nx = nj + nh  # [n, s]
    nvar = nx + nv + (1 if goodput else 0)
    t_col = nx + nv
    rows: list[np.ndarray] = []
    lo: list[float] = []
    hi: list[float] = []

    def add(row: np.ndarray, lb: float, ub: float) -> None:
        # scale each row to a largest coefficient of 1: MW per replica (~1e-4) beside chips (~1e2) otherwise
        # spans eight orders of magnitude and stalls HiGHS's root heuristics; the feasible set is unchanged
        full = np.zeros(nvar)
        full[: row.size] = row
        scale = float(np.max(np.abs(full))) or 1.0
        rows.append(full / scale)
        lo.append(lb / scale)
        hi.append(ub / scale)

    cls = np.array([o.class_idx for o in p.options], np.int64)
    for c in range(nc):
        r = np.zeros(nvar)
        r[:nj] = np.where(cls == c, p.rate, 0.0)
        d = float(p.sized_rps[c])
        if goodput:
            r[t_col] = -d
            add(r, 0.0, math.inf)
        else:
            add(r, d, math.inf)
    rpu, upr = placement_arrays(p)
    eff = unit_chips(p)
    for h, hw in enumerate(p.hardware):  # replicas live on whole units: sum_j eff_j n_j <= c_h s_h
        r = np.zeros(nvar)
        r[:nj] = np.where(p.hw_of == h, eff, 0.0)
        r[nj + h] = -hw.chips_per_system
        add(r, -math.inf, 0.0)
    cost, power, _ = coefficient_rows(p)
    if lim.power_budget_mw is not None:
        add(power, -math.inf, lim.power_budget_mw)
    basis_v, basis = _basis_rows(p)
    if lim.max_vendor_share < 1.0:
        for v in range(len(vendors)):
            add(basis_v[v] - lim.max_vendor_share * basis, -math.inf, 0.0)
    if use_y:
        big = _big_m(p)
        v_of_j = np.array([vendors.index(h.vendor) for h in p.hardware])
        yrow = np.zeros(nvar)
        for v in range(nv):
            yrow[nx + v] = 1.0
            r = np.zeros(nvar)
            r[:nx] = basis_v[v] - lim.min_vendor_share * basis
            r[nx + v] = -big
            add(r, -big, math.inf)
            r2 = np.zeros(nvar)
            r2[nj: nx] = (v_of_j == v).astype(float)
            r2[nx + v] = -1.0
            add(r2, 0.0, math.inf)
        add(yrow, float(lim.min_vendors), math.inf)
    if lim.budget_usd_per_year is not None:
        add(cost, -math.inf, lim.budget_usd_per_year / 1e6)

    obj = np.zeros(nvar)
    if objective == "cost":
        obj[:nx] = cost
    elif objective == "power":
        obj[:nx] = power + 1e-9 * cost
    else:
        obj[t_col] = -1.0
        obj[:nx] = 1e-9 * cost
    lb = np.zeros(nvar)
    ub = np.full(nvar, np.inf)
    t_max = _goodput_scale_bound(p, rpu, upr) if goodput else 1.0
    if math.isfinite(t_max):  # finite bounds tighten HiGHS's probing: no option needs more replicas than its
        # whole class (at the largest traffic scale any fleet within the budgets could serve)
        need = np.array([math.ceil(p.sized_rps[o.class_idx] * t_max / p.rate[j] * (1 + 1e-9)) if p.rate[j] > 0
                         else 0 for j, o in enumerate(p.options)], float)
        ub[:nj] = need
        ub[nj: nx] = np.ceil(np.bincount(p.hw_of, weights=need * eff, minlength=nh)
                             / np.array([h.chips_per_system for h in p.hardware]) - 1e-9)
    if lim.supply_caps:
        for h, hw in enumerate(p.hardware):
            if hw.max_systems is not None:
                ub[nj + h] = min(ub[nj + h], hw.max_systems)
    if use_y:
        ub[nx: nx + nv] = 1.0
    if goodput:
        ub[t_col] = min(GOODPUT_MAX_SCALE, t_max)
    integrality = np.ones(nvar)
    if goodput:
        integrality[t_col] = 0

    def run(c_obj: np.ndarray, A: list[np.ndarray], lo_: list[float], hi_: list[float],
            limit_s: float = TIME_LIMIT_S) -> Any:
        gap = GOODPUT_REL_GAP if goodput else MIP_REL_GAP
        return milp(c_obj, constraints=LinearConstraint(np.array(A), lo_, hi_), integrality=integrality,
                    bounds=Bounds(lb, ub), options={"mip_rel_gap": gap, "time_limit": limit_s})

    t0 = time.process_time()
    res = run(obj, rows, lo, hi)
    first_s = time.process_time() - t0
    if res.x is None or res.status not in (0, 1):
        return None
    x_best = res.x
    if tie_rel > 0 and objective == "cost":
        best = float(cost @ np.round(res.x[:nx]))
        n_rows = len(rows)
        add(cost, -math.inf, best * (1.0 + tie_rel))
        obj2 = np.zeros(nvar)
        obj2[:nx] = power + 1e-9 * cost
        res2 = run(obj2, rows, lo, hi, min(TIE_LIMIT_S, max(1.0, 2.0 * first_s)))  # best found in time
        del rows[n_rows:], lo[n_rows:], hi[n_rows:]
        if res2.x is not None and res2.status in (0, 1):
            x_best = res2.x
    x = np.round(x_best).astype(float)
    if goodput:
        x[t_col] = x_best[t_col]
    n, s = x[:nj].astype(np.int64), x[nj: nx].astype(np.int64)
    u = units_per_option(p, n, s)
    _, _, avg = coefficient_rows(p)
    return Solution(
        n, s, float(x[t_col]) if goodput else 1.0,
        float(cost @ x[:nx]), float(power @ x[:nx]), float(avg @ x[:nx]), float(p.capex_musd_s @ s),
        objective, u,
    )


def _big_m(p: Problem) -> float:
    """An upper bound on any vendor's share basis in a sensible plan (worst option for every class)."""
    worst = 0.0
    for c, d in enumerate(p.sized_rps):
        per = [(p.peak_mw_n[j] + p.peak_mw_s[p.hw_of[j]]) * math.ceil(d / p.rate[j]) if p.limits.share_basis
               == "power" else p.capex_musd_s[p.hw_of[j]] * math.ceil(d / p.rate[j])
               for j in range(len(p.options)) if p.options[j].class_idx == c]
        worst += max(per, default=0.0)
    return max(worst * 4.0, 1.0)


def evaluate(p: Problem, n: np.ndarray, u: np.ndarray) -> tuple[bool, float]:
    """Feasibility and TCO ($M/yr) of replicas ``n`` and units ``u`` (both per option; units of one
    hardware are pooled) under the problem's limits — for tests and checks."""
    lim = p.limits
    s = np.bincount(p.hw_of, weights=u, minlength=len(p.hardware))
    served = np.bincount([o.class_idx for o in p.options], weights=p.rate * n, minlength=len(p.demands))
    ok = bool(np.all(served >= p.sized_rps - 1e-9))
    used = np.bincount(p.hw_of, weights=unit_chips(p) * n, minlength=len(p.hardware))
    ok &= bool(np.all(used <= np.array([h.chips_per_system for h in p.hardware]) * s + 1e-9))
    x = np.concatenate([n, s]).astype(float)
    cost_row, power_row, _ = coefficient_rows(p)
    power = float(power_row @ x)
    if lim.power_budget_mw is not None:
        ok &= power <= lim.power_budget_mw + 1e-9
    if lim.supply_caps:
        ok &= all(h.max_systems is None or s[i] <= h.max_systems for i, h in enumerate(p.hardware))
    basis_v, basis = _basis_rows(p)
    total = float(basis @ x)
    shares = basis_v @ x / total if total > 0 else np.zeros(len(basis_v))
    ok &= bool(np.all(shares <= lim.max_vendor_share + 1e-9))
    if lim.min_vendors > 1:
        v_of_h = np.array([p.vendors.index(h.vendor) for h in p.hardware])
        present = [(shares[v] >= lim.min_vendor_share - 1e-12) and s[v_of_h == v].sum() >= 1
                   for v in range(len(basis_v))]
        ok &= sum(present) >= lim.min_vendors
    cost = float(cost_row @ x)
    if lim.budget_usd_per_year is not None:
        ok &= cost <= lim.budget_usd_per_year / 1e6 + 1e-9
    return ok, cost


__all__ = ["Limits", "Problem", "Solution", "build", "coefficient_rows", "evaluate", "placement_arrays", "solve",
           "unit_chips", "units_per_option"]
