"""Full-fleet verification: every replica of a plan at its planned peak, in cells merged exactly, the same
through Ray as serially; and the pieces it stands on (merged histograms, the warm-up, cells, projections)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from _cli import run_cli
from tokenfleet.plan.default import default_text
from tokenfleet.plan.planner import PlanResult, plan, pool_loads
from tokenfleet.plan.schema import PlanScenario, parse_plan_scenario
from tokenfleet.plan.verify import Verification
from tokenfleet.plan.verify_fleet import FleetOptions, cell_sizes, verify_fleet
from tokenfleet.scenario import parse_scenario
from tokenfleet.sim import Simulation
from tokenfleet.sim.metrics import HIST_REL_ERROR, Collector, Group, merge_groups
from tokenfleet.sim.shard import projected_wall_s


def _goodput_default() -> dict[str, object]:
    """The default scenario under the goodput objective: ~550 replicas, a shared pool, traffic scale >> 1."""
    data = yaml.safe_load(default_text())
    data["plan"].update(objective="goodput", budget_usd_per_year=20e6, power_budget_mw=None, pareto_points=0,
                        budget_options_mw=[])
    return data


@pytest.fixture(scope="module")
def planned() -> tuple[PlanScenario, PlanResult]:
    sc = parse_plan_scenario(_goodput_default())
    return sc, plan(sc, Path("."), run_verify=False, pareto=False, shadow=False, sensitivity=False)


OPTS = FleetOptions(duration_s=4.0, warmup_s=2.0, cell_replicas=64, use_ray=False)


def _fleet(planned: tuple[PlanScenario, PlanResult], opts: FleetOptions = OPTS) -> Verification:
    sc, r = planned
    return verify_fleet(sc, Path("."), r.demands, pool_loads(r.problem, r.solution), opts, [p.name for p in r.pools])


@pytest.fixture(scope="module")
def serial(planned: tuple[PlanScenario, PlanResult]) -> Verification:
    return _fleet(planned)


def test_every_replica_runs_at_the_planned_peak(planned: tuple[PlanScenario, PlanResult],
                                                serial: Verification) -> None:
    _, r = planned
    v = serial
    fleet = sum(p.replicas for p in r.pools)
    assert r.solution.scale > 2.0 and len(r.pools) >= 3 and any(len(p.class_rps) > 1 for p in r.pools)
    assert v.mode == "fleet" and v.slice_fraction == 1.0 and v.sim_replicas == v.fleet_replicas == fleet
    assert v.fleet is not None and v.fleet.shards == sum(math.ceil(p.replicas / 64) for p in r.pools)
    assert v.fleet.warmup_s == (2.0, 2.0) and v.duration_s == 4.0
    for k in v.classes:
        d = next(d for d in r.demands if d.name == k.name)
        assert k.planned_rps == pytest.approx(d.peak_rps * r.solution.scale, rel=1e-9)  # all of it, scale applied
        assert k.replicas == sum(p.replicas for p in r.pools if k.name in p.class_rps)
        n = k.planned_rps * v.duration_s  # Poisson arrivals in the measured window: within 5 sigma
        assert abs(k.simulated_rps * v.duration_s - n) <= 5 * math.sqrt(n)
        assert k.simulated and k.met == d.slo.is_met_at_p99(k.ttft_p99_s, k.tpot_p99_s)
    by_pool = {q.name: q for q in v.pools}
    assert set(by_pool) == {p.name for p in r.pools}
    for p in r.pools:
        q = by_pool[p.name]
        assert q.replicas == p.replicas and set(q.classes) == set(p.class_rps)
        assert 0.0 < q.utilisation <= 1.0 and 0.0 <= q.attainment <= 1.0
    assert sum(q.requests for q in v.pools) == sum(k.requests for k in v.classes) == v.fleet.measured_requests
    assert v.requests > v.fleet.measured_requests  # the warm-up's requests ran, unmeasured


def test_ray_and_serial_give_the_same_merged_metrics(planned: tuple[PlanScenario, PlanResult],
                                                     serial: Verification) -> None:
    pytest.importorskip("ray")
    on_ray = _fleet(planned, replace(OPTS, use_ray=True, num_cpus=2))
    assert on_ray.fleet is not None and on_ray.fleet.backend == "Ray (local)"
    assert on_ray.classes == serial.classes  # every float equal: same cells, merged in the same order
    assert on_ray.pools == serial.pools
    assert on_ray.summary == serial.summary and on_ray.latencies == serial.latencies
    assert on_ray.requests == serial.requests
    assert serial.fleet is not None
    assert [c[:2] for c in on_ray.fleet.shard_costs] == [c[:2] for c in serial.fleet.shard_costs]


def _columns() -> tuple[dict[str, np.ndarray], Simulation]:
    doc = {
        "traffic": [{"name": "a", "model": "llama-3.1-8b", "arrivals": {"process": "poisson", "rate_rps": 60},
                     "input_tokens": {"dist": "lognormal", "mean": 900, "cv": 1.0},
                     "output_tokens": {"dist": "lognormal", "mean": 150, "cv": 1.0},
                     "slo": {"ttft_p99_ms": 400, "tpot_p99_ms": 30}}],
        "pools": [{"name": "h100", "hardware": "h100", "replicas": 3}],
        "routing": {"policy": "least-outstanding"},
        "sim": {"max_requests": 6000, "seed": 4},
    }
    sim = Simulation(parse_scenario(doc, "t.yaml"))
    res = sim.run()
    return res.columns, sim


def _collector(keep: bool = False, measure_from_s: float = 0.0) -> Collector:
    return Collector([Group("a", 0.4, 0.03)], [Group("h100")], np.zeros(1), keep, None, measure_from_s)


def test_merged_histograms_are_those_of_one_collector_and_near_exact_percentiles() -> None:
    cols, _ = _columns()
    n = cols["arrival_s"].size
    whole = _collector()
    whole.add_chunk(cols)
    parts = []
    for lo, hi in ((0, n // 3), (n // 3, n)):  # two shards' worth of requests
        c = _collector()
        c.add_chunk({k: v[lo:hi] for k, v in cols.items()})
        parts.append(c.classes[0].without_samples())
    merged = merge_groups("a", parts)
    g = whole.classes[0]
    for key in ("count", "slo_ok", "output_tokens", "tpot_count", "prompt_tokens"):
        assert getattr(merged, key) == getattr(g, key)
    for m in ("ttft_s", "tpot_s", "e2e_s", "queue_s"):
        assert np.array_equal(merged.hist[m], g.hist[m])
        assert merged.sums[m] == pytest.approx(g.sums[m], rel=1e-12)
    ttft = np.sort(cols["first_token_s"] - cols["arrival_s"])  # the exact values, an independent truth
    for q in (50, 90, 99):
        lo, hi = ttft[max(math.ceil(q / 100 * n) - 1, 0)], ttft[min(math.ceil(q / 100 * n), n - 1)]
        got = merged.quantile("ttft_s", q)
        assert lo / (1 + HIST_REL_ERROR) * (1 - 1e-12) <= got <= hi * (1 + HIST_REL_ERROR) * (1 + 1e-12)


def test_the_warm_up_is_simulated_but_not_measured() -> None:
    cols, sim = _columns()
    t0 = float(np.quantile(cols["arrival_s"], 0.3))
    again = Simulation(sim.sc, measure_from_s=t0)
    res = again.run()
    for k in ("arrival_s", "first_token_s", "finish_s", "replica"):  # the same run, request for request
        assert np.array_equal(res.columns[k], cols[k])
    late = cols["arrival_s"] >= t0
    g = res.collector.classes[0]
    assert g.count == int(late.sum()) < cols["arrival_s"].size
    ttft = (cols["first_token_s"] - cols["arrival_s"])[late]
    tpot = np.where(cols["output_tokens"] > 1, (cols["finish_s"] - cols["first_token_s"])
                    / np.maximum(cols["output_tokens"] - 1, 1), np.nan)[late]
    ok = (ttft <= 0.4) & ((tpot <= 0.03) | np.isnan(tpot))
    assert g.slo_ok == int(ok.sum())
    assert g.quantile("ttft_s", 99) == pytest.approx(float(np.percentile(ttft, 99)), rel=1e-12)


@pytest.mark.parametrize("replicas,cell", [(1, 1024), (1024, 1024), (1025, 1024), (96570, 1024), (7, 3), (5, 8)])
def test_cells_split_a_pool_evenly(replicas: int, cell: int) -> None:
    sizes = cell_sizes(replicas, cell)
    assert sum(sizes) == replicas and max(sizes) <= cell and max(sizes) - min(sizes) <= 1
    assert len(sizes) == math.ceil(replicas / cell)


def test_projected_wall_time() -> None:
    costs = [5.0, 3.0, 3.0, 2.0, 1.0]
    assert projected_wall_s(costs, 1) == pytest.approx(sum(costs))
    assert projected_wall_s(costs, 5) == projected_wall_s(costs, 50) == 5.0
    walls = [projected_wall_s(costs, n) for n in range(1, 7)]
    assert all(w >= max(max(costs), sum(costs) / n) for n, w in enumerate(walls, 1))  # no schedule beats these
    assert projected_wall_s(costs, 2) == 7.0  # 5+2 | 3+3+1
    with pytest.raises(ValueError):
        projected_wall_s(costs, 0)


def test_plan_verify_fleet_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "plan", "--verify-fleet", "--no-ray", "--verify-duration", "5",
                             "--verify-warmup", "1", "--no-pareto", "--no-sensitivity", "--json")
    assert code == 0, err
    ver = json.loads(out)["verification"]
    pools = json.loads(out)["pools"]
    assert ver["mode"] == "fleet" and ver["slice_fraction"] == 1.0
    assert ver["sim_replicas"] == sum(p["replicas"] for p in pools) and ver["duration_s"] == 5.0
    assert ver["fleet"]["backend"] == "serial" and {p["pool"] for p in ver["pools"]} == {p["name"] for p in pools}
    code, out, _ = run_cli(capsys, "plan", "--no-pareto", "--no-sensitivity", "--json")
    assert code == 0 and json.loads(out)["verification"]["mode"] == "slice"  # the slice stays the default


@pytest.mark.parametrize("argv,where", [
    (["--address", "127.0.0.1:1"], "--address"),  # a fleet-only flag without --verify-fleet
    (["--verify-fleet", "--no-verify"], "--verify-fleet"),
    (["--verify-fleet", "--no-ray", "--address", "127.0.0.1:1"], "--address"),
    (["--verify-fleet", "--verify-warmup", "-1"], "--verify-warmup"),
    (["--verify-duration", "0"], "--verify-duration"),
])
def test_bad_fleet_flags_are_named(argv: list[str], where: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "plan", "--no-pareto", "--no-sensitivity", *argv)
    assert code == 2 and where in err + out and "Traceback" not in err + out
