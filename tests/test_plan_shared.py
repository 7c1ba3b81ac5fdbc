"""Shared pools: classes on one model share replicas sized at the tightest SLO among them; the simulator runs
the mixed-class replicas and judges every class on its own SLO."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tokenfleet.plan.capacity import all_options
from tokenfleet.plan.default import default_text
from tokenfleet.plan.demand import class_demands
from tokenfleet.plan.milp import solve
from tokenfleet.plan.planner import PlanResult, make_problem, plan
from tokenfleet.plan.schema import parse_plan_scenario

TENANTS = 20


def _tenants(n: int = TENANTS, rate: float = 2.0) -> dict[str, object]:
    """The default scenario's real-time class (Llama 3.3 70B, >= 250 tok/s/user) as ``n`` identical tenants."""
    data = yaml.safe_load(default_text())
    rt = next(c for c in data["traffic"] if c["name"] == "realtime")
    rt["arrivals"]["rate_rps"] = rate
    data["traffic"] = [dict(copy.deepcopy(rt), name=f"tenant{i:02d}") for i in range(n)]
    data["plan"].update(pareto_points=0, budget_options_mw=[], power_budget_mw=None)  # islands need > 2 MW
    return data


@pytest.fixture(scope="module")
def tenants() -> PlanResult:
    return plan(parse_plan_scenario(_tenants()), Path("."), pareto=False, shadow=False, sensitivity=False)


def test_twenty_identical_classes_buy_one_shared_replicas_units(tenants: PlanResult) -> None:
    one = plan(parse_plan_scenario(_tenants(1, 2.0 * TENANTS)), Path("."), run_verify=False, pareto=False,
               shadow=False, sensitivity=False)  # one class carrying all 40 req/s
    units = {str(b["hardware"]): b["count"] for b in tenants.bill_of_materials}
    assert units == {str(b["hardware"]): b["count"] for b in one.bill_of_materials}
    assert sum(p.replicas for p in tenants.pools) == sum(p.replicas for p in one.pools)
    shared = [p for p in tenants.pools if p.shared]
    assert shared and set().union(*(set(p.classes) for p in tenants.pools)) == {f"tenant{i:02d}" for i in
                                                                                range(TENANTS)}
    assert tenants.solution.tco_usd_per_year == pytest.approx(one.solution.tco_usd_per_year, rel=1e-6)


def test_a_shared_pool_is_cheaper_than_islands(tenants: PlanResult) -> None:
    sc = parse_plan_scenario(_tenants())
    demands = class_demands(sc, Path("."))
    islands = solve(make_problem(sc, demands, all_options(sc, demands, share=False)), "cost")
    assert islands is not None
    assert tenants.solution.tco_usd_per_year < islands.tco_usd_per_year
    assert int(tenants.solution.systems.sum()) * 2 <= int(islands.systems.sum())  # islands: a replica each


def test_the_simulator_runs_the_mixed_replicas_and_checks_each_class(tenants: PlanResult) -> None:
    v = tenants.verification
    assert v is not None and len(v.classes) == TENANTS
    for k in v.classes:
        assert k.simulated and k.met, k
        assert k.simulated_rps == pytest.approx(k.planned_rps, rel=0.10)
        assert k.planned_rps == pytest.approx(2.0 * k.replicas / k.fleet_replicas, rel=1e-6)


def test_classes_of_different_slos_share_only_under_the_tighter_one() -> None:
    """The default plan: chat (TTFT 3 s, TPOT 60 ms) may ride the real-time tier's replicas (800 ms, 4 ms);
    the real-time class never rides a chat-sized replica; each class's cost adds up to the fleet's."""
    r = plan(parse_plan_scenario(yaml.safe_load(default_text())), Path("."), run_verify=False, pareto=False,
             shadow=False, sensitivity=False)
    slo = {d.name: d.slo for d in r.demands}
    for p in r.pools:
        for name in p.classes:
            assert slo[p.class_name].covers(slo[name]), (p.name, name)  # sized at the tightest SLO it carries
    assert sum(k.tco_usd_per_year for k in r.class_costs) == pytest.approx(r.solution.tco_usd_per_year, rel=1e-9)
    for d in r.demands:  # every class's planned peak is carried, no more
        assert sum(p.class_rps.get(d.name, 0.0) for p in r.pools) == pytest.approx(d.peak_rps, rel=1e-6)
