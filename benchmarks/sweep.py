"""Benchmark a 32-point sweep serially and on a local Ray: wall time of each and the speed-up.

Each point plans the dashboard's starter scenario (a real-time 70B tier plus bulk chat; CS-3, GB200 NVL72 and
H100 candidates) and, with --simulate (default), checks the planned fleet in the simulator: 4 power budgets
x 4 CS-3 prices x 2 power prices = 32 points. Ray time is shown with and without starting Ray. The rows of
both runs are compared (all columns but wall_s) and must be identical. The "ceiling" line measures how much
parallel CPU the machine really has (N processes of pure-Python work at once against one alone): virtual
CPUs that share a core cap the speed-up below N.
Usage: python benchmarks/sweep.py [--num-cpus N] [--no-simulate] [--address HOST:PORT]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

import yaml

from tokenfleet.sweep import build_sweep, make_tasks, run_ray, run_serial
from tokenfleet.web.examples import default_scenario

GRID = [
    "plan.power_budget_mw=0.34,0.4,0.6,1",
    "plan.candidates.cs3.price_usd=1500000,2000000,2500000,3000000",
    "facility.usd_per_mwh=50,120",
]


def scenario(path: Path) -> None:
    sc = yaml.safe_load(default_scenario())
    sc["traffic"][0]["arrivals"]["rate_rps"] = 40
    sc["traffic"][1]["arrivals"]["rate_rps"] = 200
    sc["plan"]["verify"] = {"enabled": True, "duration_s": 20, "max_replicas": 16, "max_requests": 4000,
                            "max_iterations": 1}
    sc["plan"]["pareto_points"] = 0
    path.write_text(yaml.safe_dump(sc))


def _burn(_: int) -> float:
    t0, s = time.perf_counter(), 0
    for i in range(5_000_000):
        s += i
    return time.perf_counter() - t0


def parallel_capacity(n: int) -> float:
    """How many single-core jobs this machine really runs at once: n x (time alone / time with n at once)."""
    with mp.Pool(1) as p:
        alone = p.map(_burn, [0])[0]
    with mp.Pool(n) as p:
        together = max(p.map(_burn, range(n)))
    return n * alone / together


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-cpus", type=int, default=os.cpu_count())
    ap.add_argument("--no-simulate", action="store_true", help="plan only (shorter points: Ray overhead shows)")
    ap.add_argument("--address", default=None, help="an existing Ray cluster instead of a local Ray")
    args = ap.parse_args()
    steps: tuple[str, ...] = ("plan",) if args.no_simulate else ("plan", "simulate")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        scenario(path)
        tasks = make_tasks(build_sweep(path, GRID), steps)
        print(f"{len(tasks)} points ({' + '.join(steps)}), {os.cpu_count()} CPUs on this machine")
        t0 = time.perf_counter()
        serial = run_serial(tasks)
        t_serial = time.perf_counter() - t0

        import ray

        t0 = time.perf_counter()
        if args.address:
            ray.init(address=args.address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
        t_start = time.perf_counter() - t0
        t0 = time.perf_counter()
        on_ray = run_ray(tasks)
        t_ray = time.perf_counter() - t0
        workers = int(ray.cluster_resources().get("CPU", 0))
        ray.shutdown()
    same = [{k: v for k, v in r.items() if k != "wall_s"} for r in serial] == [
        {k: v for k, v in r.items() if k != "wall_s"} for r in on_ray]
    ok = sum(r["status"] == "ok" for r in serial)
    point_s = sum(r["wall_s"] for r in serial) / len(serial)
    print(f"serial:          {t_serial:7.2f} s  ({point_s:.2f} s per point, {ok}/{len(serial)} solved)")
    print(f"Ray, {workers} CPUs:     {t_ray:7.2f} s  + {t_start:.2f} s to start Ray")
    print(f"speed-up:        {t_serial / t_ray:7.2f}x  ({t_serial / (t_ray + t_start):.2f}x counting Ray start)")
    print(f"ceiling:         {parallel_capacity(args.num_cpus):7.2f}x  ({args.num_cpus} processes of pure-Python work "
          "at once, against one alone)")
    print(f"identical rows:  {same}")


if __name__ == "__main__":
    main()
