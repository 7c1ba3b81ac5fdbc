"""Planner benchmark: MILP solve time and plan-plus-verify time on a large instance.

    python benchmarks/planner.py            # 14 hardware types x 6 classes, all their layouts
    python benchmarks/planner.py --full     # also shadow prices and both curves

Prints capacity, the MILP solve (min cost, whole purchasable units, the classes of one model sharing
replicas through flows) beside the same instance without sharing (every class its own island: the peer, in
the same run, alternating), plan-plus-verify, the sensitivity re-solves (tornado and SLO breakpoints) and,
with ``--full``, shadow prices and the Pareto curves; CPU time beside wall time and the machine load.
Target: solve < 5 s.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from tokenfleet.plan.capacity import all_options
from tokenfleet.plan.demand import class_demands
from tokenfleet.plan.milp import solve
from tokenfleet.plan.planner import make_problem, plan
from tokenfleet.plan.schema import parse_plan_scenario
from tokenfleet.plan.sensitivity import breakpoints, tornado

HARDWARE = ["h100", "h200", "b200", "b300", "gb200-nvl72", "gb300-nvl72", "mi300x", "mi325x", "mi355x", "cs3",
            "tpu-v5p", "tpu7x", "trn2", "groq-lpu"]
CLASSES = [  # name, model, mean rps, isl, osl, ttft ms, tpot ms
    ("chat-70b", "llama-3.3-70b", 400, 1200, 300, 3000, 60),
    ("realtime-70b", "llama-3.3-70b", 40, 600, 250, 800, 4),
    ("chat-120b", "gpt-oss-120b", 800, 1500, 700, 2000, 40),
    ("api-8b", "llama-3.1-8b", 1500, 2000, 200, 5000, 100),
    ("code-32b", "qwen3-32b", 300, 4000, 400, 4000, 50),
    ("batch-120b", "gpt-oss-120b", 300, 4000, 1000, 60000, 200),
]


def scenario() -> dict[str, object]:
    traffic = [{"name": n, "model": m, "arrivals": {"process": "diurnal", "rate_rps": r, "peak_to_mean": 1.4},
                "input_tokens": {"dist": "lognormal", "mean": i, "cv": 1.0, "max_tokens": 32000},
                "output_tokens": {"dist": "lognormal", "mean": o, "cv": 1.0, "max_tokens": 8000},
                "slo": {"ttft_p99_ms": t, "tpot_p99_ms": p}} for n, m, r, i, o, t, p in CLASSES]
    return {"name": "bench-14hw-6cls", "traffic": traffic, "facility": {"pue": 1.2, "usd_per_mwh": 70},
            "plan": {"candidates": [{"hardware": h} for h in HARDWARE], "power_budget_mw": 200,
                     "constraints": {"max_vendor_share": 0.7, "min_vendors": 2, "peak_headroom": 0.1},
                     "verify": {"duration_s": 60, "max_replicas": 48, "max_requests": 30000}}}


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="also shadow prices and the Pareto curves")
    args = ap.parse_args()
    sc = parse_plan_scenario(scenario(), "benchmark")
    demands = class_demands(sc, Path("."))
    t = time.perf_counter()
    options = all_options(sc, demands)
    cap_s = time.perf_counter() - t
    problems = {"shared": make_problem(sc, demands, options),
                "islands": make_problem(sc, demands, all_options(sc, demands, share=False))}
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in problems}
    sols = {}
    for _ in range(3):  # alternate the two, so load swings hit both
        for k, p in problems.items():
            t, c = time.perf_counter(), time.process_time()
            sols[k] = solve(p, "cost")
            times[k].append((time.perf_counter() - t, time.process_time() - c))
    p = problems["shared"]
    nj, nh, nf = p.sizes
    print(f"{len(HARDWARE)} hardware types x {len(CLASSES)} classes: {nj} (class, hardware, layout) options, "
          f"{nf} flows (classes a replica may carry), {nh} hardware with a feasible option")
    print(f"capacity (cold cache, with the shared flows): {cap_s:.2f} s")
    print(f"load before: {_load()}")
    for k in problems:
        sol = sols[k]
        assert sol is not None
        w, c = [x[0] for x in times[k]], [x[1] for x in times[k]]
        print(f"MILP solve, {k} (min cost, integer units, vendor share + min vendors + power budget on nameplate): "
              f"wall best {min(w):.3f} s, worst {max(w):.3f} s; CPU best {min(c):.3f} s; "
              f"TCO ${sol.tco_usd_per_year / 1e6:,.2f}M/yr, {sol.provisioned_mw:,.2f} MW provisioned, "
              f"{int(sol.systems.sum()):,} units")
    ratio = min(x[1] for x in times["shared"]) / max(min(x[1] for x in times["islands"]), 1e-9)
    print(f"shared / islands solve CPU: {ratio:.2f}x")
    t, c = time.perf_counter(), time.process_time()
    r = plan(sc, Path("."), pareto=False, shadow=False, sensitivity=False)
    print(f"plan + verify (warm capacity cache, no curves, no shadow prices, no sensitivity): wall "
          f"{time.perf_counter() - t:.2f} s, CPU {time.process_time() - c:.2f} s (solve "
          f"{r.timings_s.get('solve_s', 0):.2f} s, simulation {r.timings_s.get('verify_s', 0):.2f} s over "
          f"{len(r.iterations)} iteration(s))")
    t, c = time.perf_counter(), time.process_time()
    bars = tornado(sc, r.problem, {}, "cost", sc.plan.sensitivity)
    tw, tc = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    bps = breakpoints(sc, r.problem, r.solution, {}, "cost", sc.plan.sensitivity)
    print(f"sensitivity: tornado of {len(bars)} inputs ({2 * len(bars)} re-solves) wall {tw:.2f} s, CPU {tc:.2f} s; "
          f"SLO breakpoints ({len(bps)} found) wall {time.perf_counter() - t:.2f} s, CPU "
          f"{time.process_time() - c:.2f} s")
    if args.full:
        t, c = time.perf_counter(), time.process_time()
        r = plan(sc, Path("."), sensitivity=False)
        wall, cpu_s = time.perf_counter() - t, time.process_time() - c
        tm = r.timings_s
        print(f"plan + verify + shadow prices + both curves: wall {wall:.2f} s, CPU {cpu_s:.2f} s (solve "
              f"{tm.get('solve_s', 0):.2f} s, simulation {tm.get('verify_s', 0):.2f} s, binding + shadow prices "
              f"{tm.get('binding_s', 0):.2f} s, Pareto {tm.get('pareto_s', 0):.2f} s)")
    print(f"load after: {_load()}")
    print("binding: " + ("; ".join(f"{b.constraint}: {b.detail}" for b in r.binding) or "none"))


if __name__ == "__main__":
    main()
