"""Full-fleet verification at scale: the power-crunch plan (examples/power-crunch-2026.yaml, ~176,000 replicas)
simulated replica by replica at its planned peak, sharded into cells and fanned out on Ray.

    python benchmarks/fleet_verify.py                   # 60 measured seconds after the default warm-up, Ray
    python benchmarks/fleet_verify.py --duration 5 --warmup 0 --no-ray     # a quick look, serially

Prints the requests simulated, CPU seconds (summed over the cells, each measured in the process that ran it),
wall seconds on this machine with the load average around the run, simulated requests per CPU second, the
cost per pool, and the wall time projected onto N Ray workers from the measured per-cell CPU costs (longest
cell first onto the least loaded worker; Ray's start-up and scheduling not included), then the verification
itself: per class and per pool, p99 latencies and attainment.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "power-crunch-2026.yaml"
WORKERS = (1, 2, 8, 32, 128, 512)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", type=Path, default=EXAMPLE)
    ap.add_argument("--duration", type=float, default=60.0, help="measured simulated seconds")
    ap.add_argument("--warmup", type=float, default=None, help="simulated seconds before them (default: per pool)")
    ap.add_argument("--cell-replicas", type=int, default=None)
    ap.add_argument("--no-ray", action="store_true", help="run the cells serially in this process")
    ap.add_argument("--num-cpus", type=int, default=None, help="workers of the local Ray (default: all CPUs)")
    ap.add_argument("--core", default=None, help="simulator core: auto, compiled, python")
    args = ap.parse_args(argv)

    from tokenfleet.plan.planner import plan, pool_loads
    from tokenfleet.plan.schema import load_plan_scenario
    from tokenfleet.plan.verify_fleet import CELL_REPLICAS, FleetOptions, verify_fleet
    from tokenfleet.sim.core import load_core
    from tokenfleet.sim.shard import projected_wall_s

    sc, base = load_plan_scenario(args.scenario)
    t = time.perf_counter()
    r = plan(sc, base, run_verify=False, pareto=False, shadow=False, sensitivity=False)
    plan_s = time.perf_counter() - t
    cell = args.cell_replicas or CELL_REPLICAS
    opts = FleetOptions(args.duration, args.warmup, cell, not args.no_ray, None, args.num_cpus, args.core)
    fleet = sum(p.replicas for p in r.pools)
    core = load_core(args.core)
    print(f"{sc.name}: {fleet:,} replicas in {len(r.pools)} pools (traffic scale {r.solution.scale:.3f}, planned in "
          f"{plan_s:.1f} s); cells of <= {cell:,} replicas on {opts.backend}; {core.describe()} core; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    v = verify_fleet(sc, base, r.demands, pool_loads(r.problem, r.solution), opts, [p.name for p in r.pools])
    wall = time.perf_counter() - t0
    f = v.fleet
    assert f is not None
    cpu = f.cpu_s
    print(f"simulated {v.requests:,} requests ({f.measured_requests:,} measured over {v.duration_s:g} s after "
          f"warm-ups of {f.warmup_s[0]:.3g}-{f.warmup_s[1]:.3g} s) on every one of {v.sim_replicas:,} replicas in "
          f"{f.shards:,} cells")
    print(f"CPU {cpu:,.0f} s (summed over cells), wall {wall:,.0f} s here; {v.requests / cpu:,.0f} simulated "
          f"requests per CPU second; load average {load0[0]:.1f} before, {os.getloadavg()[0]:.1f} after "
          f"(1/5/15 min {', '.join(f'{x:.1f}' for x in os.getloadavg())})")
    print(f"  {'pool':<28} {'replicas':>9} {'cells':>6} {'requests':>13} {'CPU s':>9} {'req/CPU s':>10}")
    costs = [c[2] for c in f.shard_costs]
    i = 0
    for q in v.pools:
        n = 0
        reps = reqs = 0
        c_s = 0.0
        while reps < q.replicas:
            reps += f.shard_costs[i][0]
            reqs += f.shard_costs[i][1]
            c_s += f.shard_costs[i][2]
            i, n = i + 1, n + 1
        print(f"  {q.name:<28} {q.replicas:>9,} {n:>6,} {reqs:>13,} {c_s:>9,.0f} {reqs / max(c_s, 1e-9):>10,.0f}")
    print("projected wall time on N Ray workers from the measured per-cell CPU costs (start-up not included):")
    for n in (*WORKERS, f.shards):
        w = projected_wall_s(costs, n)
        print(f"  {n:>5,} workers: {w:>9,.0f} s" if w >= 10 else f"  {n:>5,} workers: {w:>9.2f} s")
    print(f"  (the largest cell costs {max(costs):,.1f} CPU s: no more workers go faster)")
    print(f"verification ({f.percentiles}; routing: {f.routing}):")
    print(f"  {'class':<14} {'replicas':>9} {'plan rps':>11} {'sim rps':>11} {'TTFT p99':>9} {'TPOT p99':>9} "
          f"{'within':>8}  met")
    for k in v.classes:
        print(f"  {k.name:<14} {k.replicas:>9,} {k.planned_rps:>11,.0f} {k.simulated_rps:>11,.0f} "
              f"{k.ttft_p99_s * 1e3:>7,.0f}ms {k.tpot_p99_s * 1e3:>7,.1f}ms {k.attainment:>8.3%}  "
              f"{'yes' if k.met else 'MISSED'}")
    print(f"  {'pool':<28} {'TTFT p99':>9} {'TPOT p99':>9} {'within':>8} {'busy':>6} {'max KV':>7} {'preempt':>8}")
    for q in v.pools:
        print(f"  {q.name:<28} {q.ttft_p99_s * 1e3:>7,.0f}ms {q.tpot_p99_s * 1e3:>7,.1f}ms {q.attainment:>8.3%} "
              f"{q.utilisation:>6.0%} {q.max_kv_use_frac:>7.0%} {q.preemptions:>8,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
