"""The MILP optimum equals brute-force enumeration on small instances; the cost and power formulas by hand
on both power bases; shared replicas by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tokenfleet import perf
from tokenfleet.plan.capacity import Option
from tokenfleet.plan.demand import Demand
from tokenfleet.plan.economics import Economics, HardwareEcon
from tokenfleet.plan.milp import Limits, build, check, evaluate, solve
from tokenfleet.plan.problem import rows
from tokenfleet.scenario import Slo

ECON = Economics(pue=1.2, usd_per_mwh=70.0, depreciation_years=4.0, facility_usd_per_mw=10e6,
                 facility_life_years=15.0, horizon_years=3.0)


def _demand(name: str, rps: float) -> Demand:
    return Demand(name, "m", rps, rps, 1000.0, 200.0, Slo(1000.0, 50.0))


def _opt(ci: int, hw: str, vendor: str, chips: int, rate: float, peak_w: float, idle_w: float,
         carries: tuple[tuple[int, float, float], ...] = ()) -> Option:
    return Option(ci, f"c{ci}", hw, vendor, perf.Layout(chips, chips, 1), None, chips, rate, 8, 50.0, peak_w, idle_w,
                  carries)


def _instance(seed: int, limits: Limits):
    rng = np.random.default_rng(seed)
    hws = [HardwareEcon("gpuA", "VendorA", 4, 4 * 30_000.0, 0.0, 300.0, int(rng.integers(2, 4)), 0.0,
                        unit_power_w=4 * 1_100.0),
           HardwareEcon("gpuB", "VendorB", 2, 2 * 45_000.0, 0.0, 400.0, None, 0.0, unit_power_w=2 * 1_500.0),
           HardwareEcon("wafer", "VendorC", 1, 2.5e6 / 10, 0.0, 5000.0, 3, 0.0, unit_power_w=20_000.0)]
    demands = [_demand("c0", float(rng.uniform(3, 6))), _demand("c1", float(rng.uniform(2, 5)))]
    opts = []
    for ci, chips in ((0, 1), (0, 2), (1, 1)):
        for hw in hws if ci == 0 and chips == 1 else hws[:2]:
            rate = float(rng.uniform(1.5, 3.0)) * chips
            idle = hw.idle_w_per_chip * chips
            opts.append(_opt(ci, hw.hw_id, hw.vendor, chips, rate, idle + float(rng.uniform(200, 900)) * chips, idle))
    sized = np.array([d.peak_rps for d in demands])
    return build(opts, hws, demands, sized, ECON, limits)


def _greedy(p, n: np.ndarray, per_rps: np.ndarray) -> np.ndarray:
    """Each class's rate over its options' replicas, cheapest per request/s first."""
    x = np.zeros(len(p.flow_opt))
    for c in range(len(p.demands)):
        need = float(p.sized_rps[c])
        for f in sorted(np.flatnonzero(p.flow_cls == c), key=lambda f: per_rps[f]):
            take = min(need, float(n[p.flow_opt[f]]) * float(p.flow_rate[f]))
            x[f], need = take, need - take
    return x


def _brute(p) -> float:
    """Cheapest feasible (n, u) by enumeration over small ranges: u is the fewest whole units that hold n
    (each replica takes c // r of a unit, or ceil(r / c) units), plus 0 or 1 spare unit per hardware (a
    spare idle unit can lift a vendor's share). On the nameplate basis the power budget and the vendor
    shares depend on the units alone, so each class's rate is routed cheapest option first."""
    best = math.inf
    r = rows(p)
    nj, nh, _ = p.sizes
    per_rps = r.cost[nj + nh:]
    ranges = [range(0, math.ceil(p.sized_rps[o.class_idx] / o.rate_rps) + 1) for o in p.options]
    c_of = np.array([h.chips_per_system for h in p.hardware], float)
    eff = np.array([c_of[p.hw_of[j]] / (c_of[p.hw_of[j]] // o.chips) if o.chips <= c_of[p.hw_of[j]]
                    else c_of[p.hw_of[j]] * math.ceil(o.chips / c_of[p.hw_of[j]]) for j, o in enumerate(p.options)])
    for n in itertools.product(*ranges):
        n_arr = np.array(n, float)
        served = np.bincount([o.class_idx for o in p.options], weights=p.rate * n_arr, minlength=2)
        if np.any(served < p.sized_rps - 1e-9):
            continue
        s = np.ceil(np.bincount(p.hw_of, weights=eff * n_arr, minlength=nh) / c_of - 1e-12)
        x = _greedy(p, n_arr, per_rps)
        for extra in itertools.product(range(2), repeat=nh):
            ok, cost = check(p, n_arr, s + np.array(extra), x, r)
            if ok and cost < best:
                best = cost
    return best


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("limits", [
    Limits(),
    Limits(power_budget_mw=0.03),
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
    assert cost == pytest.approx(sol.tco_musd_per_year, rel=1e-6)
    assert sol.tco_musd_per_year == pytest.approx(brute, rel=1e-6)
    if limits.power_budget_mw is not None:  # the budget holds the units' nameplate x PUE
        plate = sum(float(s) * h.unit_power_w for s, h in zip(sol.systems, p.hardware, strict=True)) * 1.2 / 1e6
        assert sol.provisioned_mw == pytest.approx(plate) and plate <= limits.power_budget_mw + 1e-12


def _one_option(limits: Limits):
    hw = HardwareEcon("g", "V", 8, 8 * 25_000.0, 0.0, 250.0, None, 0.0, unit_power_w=5_000.0)
    o = _opt(0, "g", "V", 2, 1.5, 2 * 250.0 + 1000.0, 2 * 250.0)
    d = Demand("c0", "m", 3.0, 4.0, 1000.0, 200.0, Slo(1000.0, 50.0))
    return build([o], [hw], [d], np.array([4.0]), ECON, limits)


@pytest.mark.parametrize("basis", ["nameplate", "measured_peak"])
def test_tco_and_power_formulas_by_hand(basis: str) -> None:
    """One class, one option, one hardware: TCO, draw and provisioned MW from the formulas in economics.py,
    on the nameplate basis (the default) and on the measured-peak basis with oversubscription 1.25."""
    over = 1.0 if basis == "nameplate" else 1.25
    sol = solve(_one_option(Limits(power_basis=basis, oversubscription=over)), "cost")
    assert sol is not None
    assert list(sol.replicas) == [3] and list(sol.systems) == [1]  # ceil(4 / 1.5) = 3 replicas, 6 of 8 chips
    peak_it = 8 * 250.0 + 4.0 * 1000.0 / 1.5  # every chip at idle + 4 req/s at 1,000 W per 1.5 req/s
    avg_it = 8 * 250.0 + 3.0 * 1000.0 / 1.5  # the mean rate, 3 req/s
    prov = 5_000.0 * 1.2 / 1e6 if basis == "nameplate" else peak_it * 1.2 / 1e6 / over
    tco = 8 * 25_000.0 / 4.0 + avg_it * 1.2 / 1e6 * 8760 * 70.0 + 10e6 * prov / 15.0
    assert sol.peak_facility_mw == pytest.approx(peak_it * 1.2 / 1e6, rel=1e-9)
    assert sol.avg_facility_mw == pytest.approx(avg_it * 1.2 / 1e6, rel=1e-9)
    assert sol.provisioned_mw == pytest.approx(prov, rel=1e-9)
    assert sol.tco_usd_per_year == pytest.approx(tco, rel=1e-9)


def test_a_budget_on_nameplate_buys_fewer_units_than_one_on_the_modelled_draw() -> None:
    """A unit's nameplate exceeds its modelled draw: a budget between the two fits on one basis only."""
    draw = solve(_one_option(Limits(power_basis="measured_peak")), "cost")
    assert draw is not None and draw.provisioned_mw < 5_000.0 * 1.2 / 1e6
    budget = (draw.provisioned_mw + 5_000.0 * 1.2 / 1e6) / 2
    assert solve(_one_option(Limits(power_budget_mw=budget, power_basis="measured_peak")), "cost") is not None
    assert solve(_one_option(Limits(power_budget_mw=budget)), "cost") is None  # nameplate: cannot be built


def test_classes_share_a_replica_when_its_slo_covers_theirs() -> None:
    """Two classes at 0.5 req/s each on a wafer whose replica carries 2 req/s of either: with the carry one
    replica serves both (time shared 0.25 + 0.25); without it each class buys its own."""
    hw = HardwareEcon("w", "V", 1, 1e6, 0.0, 5000.0, None, 0.0, unit_power_w=20_000.0)
    demands = [_demand("a", 0.5), _demand("b", 0.5)]
    alone = [_opt(0, "w", "V", 1, 2.0, 9000.0, 5000.0), _opt(1, "w", "V", 1, 2.0, 9000.0, 5000.0)]
    shared = [_opt(0, "w", "V", 1, 2.0, 9000.0, 5000.0, carries=((1, 2.0, 9000.0),)), alone[1]]
    sized = np.array([0.5, 0.5])
    islands = solve(build(alone, [hw], demands, sized, ECON, Limits()), "cost")
    pooled = solve(build(shared, [hw], demands, sized, ECON, Limits()), "cost")
    assert islands is not None and pooled is not None
    assert int(islands.systems.sum()) == 2 and int(pooled.systems.sum()) == 1
    assert pooled.tco_usd_per_year < islands.tco_usd_per_year
    p = build(shared, [hw], demands, sized, ECON, Limits())
    by_class = np.bincount(p.flow_cls, weights=pooled.flows, minlength=2)
    assert by_class == pytest.approx([0.5, 0.5])  # every class's demand routed, no more
    busy = np.bincount(p.flow_opt, weights=pooled.flows / p.flow_rate, minlength=2)
    assert np.all(busy <= pooled.replicas + 1e-9)  # no replica carries more than its time
