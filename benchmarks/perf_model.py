"""Speed of the performance model: step-time evaluations per second on one core, fit and validate times.

Run: python benchmarks/perf_model.py [--repeat 3] [--cv]
Target (issue 10): >= 1,000,000 step-time evaluations per second on one core (the simulator calls it
millions of times). Each figure is printed per CPU second (what one core delivers) beside wall time, with
the machine's load average, because the development machine is shared.
"""

from __future__ import annotations

import argparse
import os
import random
import time

from tokenfleet import perf
from tokenfleet.perf import calibrate
from tokenfleet.perf.results import read_results
from tokenfleet.perf.validate import packaged_results_path, validate


def load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average n/a"


def step_time_rate(dep: perf.Deployment, n: int = 400_000) -> tuple[float, float]:
    """(evaluations per CPU second, per wall second)."""
    rng = random.Random(0)
    batches = [(rng.choice((0, 0, 0, 512)), rng.randint(1, 256), 0) for _ in range(1000)]
    batches = [(p, d, d * rng.randint(100, 4000)) for p, d, _ in batches]
    step = dep.step_time
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        p, d, c = batches[i % 1000]
        step(p, d, c)
    return n / (time.process_time() - c0), n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cv", action="store_true", help="also time leave-one-group-out cross-validation")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    cases = [("llama-3.1-70b", "h100", perf.Layout(8, 8, 1, "fp8", "fp8")),
             ("deepseek-r1", "gb200", None), ("llama-3.3-70b", "cs3", None), ("gpt-oss-120b", "b200", None),
             ("llama-3.1-405b", "sn40l", None)]
    print(f"step-time evaluations per second (one core; {load()}):")
    for model, hw, layout in cases:
        dep = perf.deploy(model, hw, layout)
        runs = [step_time_rate(dep) for _ in range(args.repeat)]
        cpu = ", ".join(f"{c:,.0f}" for c, _ in runs)
        wall = ", ".join(f"{w:,.0f}" for _, w in runs)
        print(f"  {dep.describe():50s} per CPU s {cpu}  (per wall s {wall})")
    t0, c0 = time.perf_counter(), time.process_time()
    _preds, summary = validate()
    print(f"validate on the packaged published_results.csv ({summary.n_predicted} rows predicted): "
          f"{time.process_time() - c0:.2f} s CPU, {time.perf_counter() - t0:.2f} s wall")
    rows = read_results(packaged_results_path())
    t0, c0 = time.perf_counter(), time.process_time()
    calibrate.fit(rows)
    print(f"fit (every calibration group) on {len(rows)} rows: {time.process_time() - c0:.1f} s CPU, "
          f"{time.perf_counter() - t0:.1f} s wall")
    if args.cv:
        t0, c0 = time.perf_counter(), time.process_time()
        calibrate.cross_validate(rows)
        print(f"leave-one-(hardware, model)-group-out cross-validation: {time.process_time() - c0:.1f} s CPU, "
              f"{time.perf_counter() - t0:.1f} s wall")
    print(load())


if __name__ == "__main__":
    main()
