"""The fleet MILP, solved with HiGHS through :func:`scipy.optimize.milp`.

Variables: ``n_j`` replicas of each option (integer), ``s_h`` systems of each hardware (integer),
``y_v`` "vendor v is used" (binary, only with ``min_vendors > 1``), ``t`` traffic scale (goodput objective).
Units inside: MW and $M per year, so coefficients stay within a few orders of magnitude.

    demand_c:   sum_{j in c} rate_j n_j >= D_c            (goodput: >= D_c t)
    chips_h:    sum_{j on h} chips_j n_j <= cps_h s_h      (replicas live in whole systems)
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
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from tokenfleet.plan.capacity import Option
from tokenfleet.plan.demand import Demand
from tokenfleet.plan.economics import Economics, HardwareEcon, mean_it_w

MIP_REL_GAP = 1e-7
TIME_LIMIT_S = 60.0
GOODPUT_MAX_SCALE = 1e4


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
    peak_w = np.array([o.peak_it_w for o in options])
    avg_w = np.array([mean_it_w(o, demands[o.class_idx], float(sized_rps[o.class_idx])) for o in options])
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
    systems: np.ndarray  # per hardware
    scale: float  # traffic multiple served (1 unless objective goodput)
    tco_musd_per_year: float
    peak_facility_mw: float
    avg_facility_mw: float
    capex_musd: float
    objective: str

    @property
    def tco_usd_per_year(self) -> float:
        return self.tco_musd_per_year * 1e6


def _basis_rows(p: Problem, nj: int, nh: int) -> tuple[np.ndarray, np.ndarray]:
    """Per vendor and total share basis as rows over [n, s]."""
    vendors = p.vendors
    rows = np.zeros((len(vendors), nj + nh))
    v_of_h = np.array([vendors.index(h.vendor) for h in p.hardware])
    if p.limits.share_basis == "capex":
        for h in range(nh):
            rows[v_of_h[h], nj + h] = p.capex_musd_s[h]
    else:
        for j in range(nj):
            rows[v_of_h[p.hw_of[j]], j] = p.peak_mw_n[j]
        for h in range(nh):
            rows[v_of_h[h], nj + h] = p.peak_mw_s[h]
    return rows, rows.sum(axis=0)


def solve(p: Problem, objective: str = "cost") -> Solution | None:
    """Optimal fleet, or None when the constraints cannot all be met."""
    nj, nh, nc = len(p.options), len(p.hardware), len(p.demands)
    lim = p.limits
    vendors = p.vendors
    use_y = lim.min_vendors > 1
    nv = len(vendors) if use_y else 0
    goodput = objective == "goodput"
    nvar = nj + nh + nv + (1 if goodput else 0)
    t_col = nj + nh + nv
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
    chips = np.array([o.chips for o in p.options], float)
    for h, hw in enumerate(p.hardware):
        r = np.zeros(nj + nh)
        r[:nj] = np.where(p.hw_of == h, chips, 0.0)
        r[nj + h] = -hw.chips_per_system
        add(r, -math.inf, 0.0)
    power = np.concatenate([p.peak_mw_n, p.peak_mw_s])
    if lim.power_budget_mw is not None:
        add(power, -math.inf, lim.power_budget_mw)
    basis_v, basis = _basis_rows(p, nj, nh)
    if lim.max_vendor_share < 1.0:
        for v in range(len(vendors)):
            add(basis_v[v] - lim.max_vendor_share * basis, -math.inf, 0.0)
    if use_y:
        big = _big_m(p)
        v_of_h = np.array([vendors.index(h.vendor) for h in p.hardware])
        yrow = np.zeros(nvar)
        for v in range(nv):
            yrow[nj + nh + v] = 1.0
            r = np.zeros(nvar)
            r[: nj + nh] = basis_v[v] - lim.min_vendor_share * basis
            r[nj + nh + v] = -big
            add(r, -big, math.inf)
            r2 = np.zeros(nvar)
            r2[nj: nj + nh] = (v_of_h == v).astype(float)
            r2[nj + nh + v] = -1.0
            add(r2, 0.0, math.inf)
        add(yrow, float(lim.min_vendors), math.inf)
    cost = np.concatenate([p.cost_n, p.cost_s])
    if lim.budget_usd_per_year is not None:
        add(cost, -math.inf, lim.budget_usd_per_year / 1e6)

    obj = np.zeros(nvar)
    if objective == "cost":
        obj[: nj + nh] = cost
    elif objective == "power":
        obj[: nj + nh] = power + 1e-9 * cost
    else:
        obj[t_col] = -1.0
        obj[: nj + nh] = 1e-9 * cost
    lb = np.zeros(nvar)
    ub = np.full(nvar, np.inf)
    if not goodput:  # finite bounds tighten HiGHS's probing: no option needs more replicas than its whole class
        need = np.array([math.ceil(p.sized_rps[o.class_idx] / p.rate[j]) if p.rate[j] > 0 else 0
                         for j, o in enumerate(p.options)], float)
        ub[:nj] = need
        for h in range(nh):
            ub[nj + h] = min(ub[nj + h], math.ceil(float(np.sum(np.where(p.hw_of == h, need * chips, 0.0)))
                                                   / p.hardware[h].chips_per_system))
    for h, hw in enumerate(p.hardware):
        if lim.supply_caps and hw.max_systems is not None:
            ub[nj + h] = hw.max_systems
    if use_y:
        ub[nj + nh: nj + nh + nv] = 1.0
    if goodput:
        ub[t_col] = GOODPUT_MAX_SCALE
    integrality = np.ones(nvar)
    if goodput:
        integrality[t_col] = 0
    res = milp(obj, constraints=LinearConstraint(np.array(rows), lo, hi), integrality=integrality,
               bounds=Bounds(lb, ub), options={"mip_rel_gap": MIP_REL_GAP, "time_limit": TIME_LIMIT_S})
    if res.x is None or res.status not in (0, 1):
        return None
    x = np.round(res.x).astype(float)
    if goodput:
        x[t_col] = res.x[t_col]
    n, s = x[:nj].astype(np.int64), x[nj: nj + nh].astype(np.int64)
    return Solution(
        n, s, float(x[t_col]) if goodput else 1.0,
        float(cost @ x[: nj + nh]), float(power @ x[: nj + nh]),
        float(np.concatenate([p.avg_mw_n, p.peak_mw_s]) @ x[: nj + nh]), float(p.capex_musd_s @ s),
        objective,
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


def evaluate(p: Problem, n: np.ndarray, s: np.ndarray) -> tuple[bool, float]:
    """Feasibility and TCO ($M/yr) of a given (n, s) under the problem's limits — for tests and checks."""
    lim = p.limits
    served = np.bincount([o.class_idx for o in p.options], weights=p.rate * n, minlength=len(p.demands))
    ok = bool(np.all(served >= p.sized_rps - 1e-9))
    chips = np.array([o.chips for o in p.options], float)
    used = np.bincount(p.hw_of, weights=chips * n, minlength=len(p.hardware))
    ok &= bool(np.all(used <= np.array([h.chips_per_system for h in p.hardware]) * s + 1e-9))
    x = np.concatenate([n, s]).astype(float)
    power = float(np.concatenate([p.peak_mw_n, p.peak_mw_s]) @ x)
    if lim.power_budget_mw is not None:
        ok &= power <= lim.power_budget_mw + 1e-9
    if lim.supply_caps:
        ok &= all(h.max_systems is None or s[i] <= h.max_systems for i, h in enumerate(p.hardware))
    basis_v, basis = _basis_rows(p, len(n), len(s))
    total = float(basis @ x)
    shares = basis_v @ x / total if total > 0 else np.zeros(len(basis_v))
    ok &= bool(np.all(shares <= lim.max_vendor_share + 1e-9))
    if lim.min_vendors > 1:
        v_of_h = np.array([p.vendors.index(h.vendor) for h in p.hardware])
        present = [(shares[v] >= lim.min_vendor_share - 1e-12) and s[v_of_h == v].sum() >= 1
                   for v in range(len(basis_v))]
        ok &= sum(present) >= lim.min_vendors
    cost = float(np.concatenate([p.cost_n, p.cost_s]) @ x)
    if lim.budget_usd_per_year is not None:
        ok &= cost <= lim.budget_usd_per_year / 1e6 + 1e-9
    return ok, cost


__all__ = ["Limits", "Problem", "Solution", "build", "evaluate", "solve"]
