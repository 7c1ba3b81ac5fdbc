"""examples/mixed-vendor-cheaper.yaml: the planner's mixed fleet is strictly cheaper than every feasible
single-vendor fleet (each found by re-planning with that vendor's candidates only)."""

from __future__ import annotations

from pathlib import Path

from tokenfleet import catalog
from tokenfleet.errors import InfeasibleError
from tokenfleet.plan.planner import plan
from tokenfleet.plan.schema import load_plan_scenario

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mixed-vendor-cheaper.yaml"


def test_mixed_vendor_fleet_is_strictly_cheaper() -> None:
    sc, base = load_plan_scenario(EXAMPLE)
    mixed = plan(sc, base, run_verify=False, pareto=False)
    vendors = {p.vendor for p in mixed.pools}
    assert len(vendors) >= 2
    singles: dict[str, float | None] = {}
    for v in sorted({catalog.hardware(c.hardware).vendor for c in sc.plan.candidates}):
        cands = [c for c in sc.plan.candidates if catalog.hardware(c.hardware).vendor == v]
        one = sc.model_copy(update={"plan": sc.plan.model_copy(update={"candidates": cands})})
        try:
            singles[v] = plan(one, base, run_verify=False, pareto=False).solution.tco_usd_per_year
        except InfeasibleError:
            singles[v] = None
    feasible = {v: c for v, c in singles.items() if c is not None}
    assert feasible, "at least one single-vendor fleet must exist for the comparison to mean anything"
    assert all(mixed.solution.tco_usd_per_year < c for c in feasible.values())
