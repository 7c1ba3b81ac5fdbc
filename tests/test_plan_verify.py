"""Verification at the planned load: the simulated slice carries the per-replica load the plan sized (traffic
scale applied), says how big it is, grows on request, and judges each class with its typed SLO."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from tokenfleet.plan.default import default_text
from tokenfleet.plan.planner import PlanResult, plan
from tokenfleet.plan.schema import parse_plan_scenario
from tokenfleet.scenario import Slo


def _goodput_default(**verify: object) -> dict[str, object]:
    """The default scenario under the goodput objective with a budget that lets it serve several times its
    traffic: a plan whose traffic scale is far from 1."""
    data = yaml.safe_load(default_text())
    data["plan"].update(objective="goodput", budget_usd_per_year=20e6, power_budget_mw=None, pareto_points=0,
                        budget_options_mw=[])
    data["plan"]["verify"] = {"duration_s": 60, "max_replicas": 12, "max_requests": 20000, **verify}
    return data


@pytest.fixture(scope="module")
def scaled() -> PlanResult:
    return plan(parse_plan_scenario(_goodput_default()), Path("."), pareto=False, shadow=False)


def test_the_slice_carries_the_planned_load_with_the_traffic_scale(scaled: PlanResult) -> None:
    sol, v = scaled.solution, scaled.verification
    assert v is not None and sol.scale > 2.0  # the bug this guards against simulated at 1x
    for k in v.classes:
        d = next(d for d in scaled.demands if d.name == k.name)
        pools = [p for p in scaled.pools if k.name in p.class_rps]  # its own pools and shared ones
        fleet_reps = sum(p.replicas for p in pools)
        assert k.fleet_replicas == fleet_reps and 1 <= k.replicas <= fleet_reps
        assert sum(p.class_rps[k.name] for p in pools) == pytest.approx(d.peak_rps * sol.scale, rel=1e-6)
        per_rep = [p.class_rps[k.name] / p.replicas for p in pools]  # as in the fleet
        assert min(per_rep) * k.replicas * (1 - 1e-9) <= k.planned_rps <= max(per_rep) * k.replicas * (1 + 1e-9)
        if len(pools) == 1:
            assert k.planned_rps == pytest.approx(d.peak_rps * sol.scale * k.replicas / fleet_reps, rel=1e-9)
        assert k.simulated_rps == pytest.approx(k.planned_rps, rel=0.10)
        assert k.simulated  # every class got requests


def test_the_slice_is_stated_and_grows_on_request(scaled: PlanResult) -> None:
    v = scaled.verification
    assert v is not None
    fleet = sum(p.replicas for p in scaled.pools)
    assert v.fleet_replicas == fleet and v.sim_replicas <= max(12, len(scaled.pools)) < fleet
    assert v.slice_fraction == pytest.approx(v.sim_replicas / fleet)
    assert f"{v.sim_replicas:,} of {fleet:,} replicas" in v.slice_text
    bigger = plan(parse_plan_scenario(_goodput_default()), Path("."), pareto=False, shadow=False,
                  verify_replicas=fleet)
    vb = bigger.verification
    assert vb is not None and vb.sim_replicas == fleet and vb.slice_text.startswith("all ")
    for k in vb.classes:
        assert k.replicas == k.fleet_replicas
        assert k.simulated_rps == pytest.approx(k.planned_rps, rel=0.10)


def test_met_is_the_p99_definition_and_attainment_the_per_request_one(scaled: PlanResult) -> None:
    """Recomputed from the simulated requests' own latencies: p99 against the typed SLO for ``met``, the share
    of requests within both targets for ``attainment``."""
    v = scaled.verification
    assert v is not None
    for k in v.classes:
        d = next(d for d in scaled.demands if d.name == k.name)
        assert k.slo == d.slo and isinstance(k.slo, Slo)
        ttft, tpot = (np.asarray(v.latencies[k.name][m]) for m in ("ttft_s", "tpot_s"))
        assert k.ttft_p99_s == pytest.approx(float(np.percentile(ttft, 99)), rel=1e-9)
        assert k.met == k.slo.is_met_at_p99(float(np.percentile(ttft, 99)), float(np.percentile(tpot, 99)))
        assert k.attainment <= float(np.mean(ttft <= k.slo.ttft_s)) + 1e-12  # within both <= within TTFT alone


def test_slo_value_object_definitions() -> None:
    s = Slo(ttft_p99_ms=800, min_user_tok_s=250)
    assert s.ttft_s == pytest.approx(0.8) and s.tpot_s == pytest.approx(0.004)
    assert s.fields == ("ttft_p99_ms", "min_user_tok_s")
    assert s.loosened(2.0) == Slo(1600, None, 125)
    assert s.covers(Slo(3000, 60)) and not Slo(3000, 60).covers(s)
    assert not s.covers(Slo(700, 60))  # a tighter TTFT elsewhere: this SLO does not meet it
    assert s.is_met_at_p99(0.8, 0.004) and not s.is_met_at_p99(0.81, 0.001)
    assert s.is_met_at_p99(0.1, float("nan"))  # no request with a second token: TPOT does not fail it
    assert s.describe() == "TTFT p99 800 ms, >= 250 tok/s/user"
