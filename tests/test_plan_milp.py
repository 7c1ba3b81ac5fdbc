"""The MILP optimum equals brute-force enumeration on small instances; the cost formula by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tokenfleet import perf
from tokenfleet.plan.capacity import Option
from tokenfleet.plan.demand import Demand
from tokenfleet.plan.economics import Economics, HardwareEcon
from tokenfleet.plan.milp import Limits, build, evaluate, solve
from tokenfleet.scenario import Slo

ECON = Economics(pue=1.2, usd_per_mwh=70.0, depreciation_years=4.0, facility_usd_per_mw=10e6,
                 facility_life_years=15.0, horizon_years=3.0)


def _demand(name: str, rps: float) -> Demand:
    return Demand(name, "m", rps, rps, 1000.0, 200.0, Slo(1000.0, 50.0))


def _opt(ci: int, hw: str, vendor: str, chips: int, rate: float, peak_w: float, idle_w: float) -> Option:
    return Option(ci, f"c{ci}", hw, vendor, perf.Layout(chips, chips, 1), None, chips, rate, 8, 50.0, peak_w, idle_w)


def _instance(seed: int, limits: Limits):
    rng = np.random.default_rng(seed)
    hws = [HardwareEcon("gpuA", "VendorA", 4, 4 * 30_000.0, 0.0, 300.0, int(rng.integers(2, 4)), 0.0),
           HardwareEcon("gpuB", "VendorB", 2, 2 * 45_000.0, 0.0, 400.0, None, 0.0),
           HardwareEcon("wafer", "VendorC", 1, 2.5e6 / 10, 0.0, 5000.0, 3, 0.0)]
    demands = [_demand("c0", float(rng.uniform(3, 6))), _demand("c1", float(rng.uniform(2, 5)))]
    opts = []
    for ci, chips in ((0, 1), (0, 2), (1, 1)):
        for hw in hws if ci == 0 and chips == 1 else hws[:2]:
            rate = float(rng.uniform(1.5, 3.0)) * chips
            idle = hw.idle_w_per_chip * chips
            opts.append(_opt(ci, hw.hw_id, hw.vendor, chips, rate, idle + float(rng.uniform(200, 900)) * chips, idle))
    sized = np.array([d.peak_rps for d in demands])
    return build(opts, hws, demands, sized, ECON, limits)


def _brute(p) -> float:
    """Cheapest feasible (n, u) by enumeration over small ranges: u is the fewest whole units that hold n
    (each replica takes c // r of a unit, or ceil(r / c) units), plus 0 or 1 spare unit per hardware (a
    spare idle unit can lift a vendor's share)."""
    best = math.inf
    ranges = []
    for _j, o in enumerate(p.options):
        need = math.ceil(p.sized_rps[o.class_idx] / o.rate_rps)
        ranges.append(range(0, need + 1))
    first_of_hw = [int(np.flatnonzero(p.hw_of == h)[0]) for h in range(len(p.hardware))]
    for n in itertools.product(*ranges):
        n_arr = np.array(n)
        served = np.bincount([o.class_idx for o in p.options], weights=p.rate * n_arr, minlength=2)
        if np.any(served < p.sized_rps - 1e-9):
            continue
        u = np.zeros(len(p.options), np.int64)
        for h, hw in enumerate(p.hardware):
            c = hw.chips_per_system
            take = sum(k * (c / (c // o.chips) if o.chips <= c else c * math.ceil(o.chips / c))
                       for j, (o, k) in enumerate(zip(p.options, n, strict=True)) if p.hw_of[j] == h)
            u[first_of_hw[h]] = math.ceil(take / c - 1e-12)
        for extra in itertools.product(range(2), repeat=len(p.hardware)):
            uu = u.copy()
            for h, e in enumerate(extra):
                uu[first_of_hw[h]] += e
            ok, cost = evaluate(p, n_arr, uu)
            if ok and cost < best:
                best = cost
    return best


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("limits", [
    Limits(),
    Limits(power_budget_mw=0.02),
    Limits(max_vendor_share=0.6),
    Limits(min_vendors=2, min_vendor_share=0.2),
])
def test_milp_equals_brute_force(seed: int, limits: Limits) -> None:
    p = _instance(seed, limits)
    sol = solve(p, "cost")
    brute = _brute(p)
    if sol is None:
        assert brute == math.inf
        return
    ok, cost = evaluate(p, sol.replicas, sol.units)
    assert ok
    assert cost == pytest.approx(sol.tco_musd_per_year, rel=1e-9)
    assert sol.tco_musd_per_year == pytest.approx(brute, rel=1e-6)


def test_tco_formula_by_hand() -> None:
    """One class, one option, one hardware: TCO and MW from the formulas in economics.py."""
    hw = HardwareEcon("g", "V", 8, 8 * 25_000.0, 0.0, 250.0, None, 0.0)
    o = _opt(0, "g", "V", 2, 1.5, 2 * 250.0 + 1000.0, 2 * 250.0)
    d = Demand("c0", "m", 4.0, 4.0, 1000.0, 200.0, Slo(1000.0, 50.0))
    p = build([o], [hw], [d], np.array([4.0]), ECON, Limits())
    sol = solve(p, "cost")
    assert sol is not None
    assert list(sol.replicas) == [3] and list(sol.systems) == [1]  # ceil(4 / 1.5) = 3 replicas, 6 of 8 chips
    assert list(sol.units) == [1]
    it_w = 3 * (500.0 + 4.0 / 4.5 * 1000.0) + 2 * 250.0  # 3 replicas at their planned load 4/4.5 + 2 idle chips
    fac_mw = it_w * 1.2 / 1e6
    capex = 8 * 25_000.0
    tco = capex / 4.0 + fac_mw * 8760 * 70.0 + 10e6 * fac_mw / 15.0
    assert sol.peak_facility_mw == pytest.approx(fac_mw, rel=1e-9)
    assert sol.tco_usd_per_year == pytest.approx(tco, rel=1e-9)
