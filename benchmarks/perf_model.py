"""Speed of the performance model: step-time evaluations per second on one core, and `validate` wall time.

Run: python benchmarks/perf_model.py
Target (issue 2): >= 200,000 step-time evaluations per second (the simulator calls it millions of times).
"""

from __future__ import annotations

import os
import random
import time

from tokenfleet import perf
from tokenfleet.perf.validate import validate


def step_time_rate(dep: perf.Deployment, n: int = 400_000) -> float:
    rng = random.Random(0)
    batches = [(rng.choice((0, 0, 0, 512)), rng.randint(1, 256), 0) for _ in range(1000)]
    batches = [(p, d, d * rng.randint(100, 4000)) for p, d, _ in batches]
    step = dep.step_time
    t0 = time.perf_counter()
    for i in range(n):
        p, d, c = batches[i % 1000]
        step(p, d, c)
    return n / (time.perf_counter() - t0)


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    cases = [("llama-3.1-70b", "h100", perf.Layout(8, 8, 1, "fp8", "fp8")),
             ("deepseek-r1", "gb200", None), ("llama-3.3-70b", "cs3", None), ("gpt-oss-120b", "b200", None)]
    print("step-time evaluations per second (one core):")
    for model, hw, layout in cases:
        dep = perf.deploy(model, hw, layout)
        print(f"  {dep.describe():55s} {step_time_rate(dep):>12,.0f} /s")
    t0 = time.perf_counter()
    _preds, summary = validate()
    wall = time.perf_counter() - t0
    print(f"validate on the shared published_results.csv ({summary.n_predicted} rows predicted): {wall:.2f} s wall")


if __name__ == "__main__":
    main()
