"""Simulator speed and memory: the Azure 2023 conversation trace, rate-scaled and looped to N requests, on a
two-hardware fleet (96 GB200 replicas + 8 four-system CS-3 replicas of Llama 3.3 70B = 104 replicas).

    python benchmarks/simulator.py                  # 1,000,000 requests, both cores alternated, twice
    python benchmarks/simulator.py --requests 200000 --repeats 1 --no-output
    python benchmarks/simulator.py --cores compiled --memory   # peak RSS at N / 5 and at N

Each run is a fresh process (its own peak RSS) simulating the whole trace with per-request rows streamed to a
temporary Parquet file. The compiled and the pure-Python cores alternate, so both see the same machine; each
line prints CPU time beside wall time and the load average around the run. Vidur's figure is the side-by-side
measurement in /work/shared/design/ANCHORS.md (not rerun here: it needs its own environment).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VIDUR_REQ_PER_S = (364, 389)  # ANCHORS.md: Vidur's event loop, 10k requests, measured side by side 2026-12-01
TARGET = 100_000  # simulated requests per CPU second with the compiled core (issue 31)


def scenario(n: int, policy: str, exact: bool) -> dict[str, object]:
    return {
        "name": "bench-azure-conv",
        "traffic": [
            {
                "name": "chat",
                "model": "llama-3.3-70b",
                "slo": {"ttft_p99_ms": 2000, "tpot_p99_ms": 100},
                "arrivals": {"trace": "shared:traces/azure2023_conv.csv", "rate_multiplier": 80, "loop": True},
            }
        ],
        "pools": [
            {"name": "gb200", "hardware": "gb200-nvl72", "replicas": 96},
            {"name": "cs3", "hardware": "cs3", "replicas": 8},
        ],
        "routing": {"policy": policy},
        "sim": {"max_requests": n, "seed": 1, "exact": exact},
    }


def one_run(args: argparse.Namespace) -> None:
    """Child process: one simulation on ``args.core``; prints one JSON line."""
    from tokenfleet.scenario import parse_scenario
    from tokenfleet.sim.engine import Simulation
    from tokenfleet.sim.output import RequestWriter

    sc = parse_scenario(scenario(args.requests, args.policy, args.exact), "bench")
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        sinks = [] if args.no_output else [RequestWriter(Path(tmp) / "r.parquet", ["chat"], [p.name for p in sc.pools])]
        sim = Simulation(sc, keep_requests=False, sinks=sinks, core=args.core)
        t0, c0 = time.perf_counter(), time.process_time()  # the run: trace loading, simulation, output
        res = sim.run()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({
        "core": res.core, "requests": res.requests, "cpu_s": cpu, "wall_s": wall,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load": [load0, os.getloadavg()[0]], "events": sum(r.stats.runs for r in res.replicas),
        "iterations": sum(r.stats.iterations for r in res.replicas), "period_s": res.period_s,
    }))


def spawn(core: str, n: int, args: argparse.Namespace) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", "--core", core, "--requests", str(n), "--policy", args.policy]
    cmd += ["--no-output"] * args.no_output + ["--exact"] * args.exact
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def show(r: dict[str, object]) -> None:
    n, cpu, wall = int(r["requests"]), float(r["cpu_s"]), float(r["wall_s"])  # type: ignore[arg-type]
    lo, hi = r["load"]  # type: ignore[misc]
    print(f"  {r['core']:<9} {n:>10,} {cpu:>8.1f} {wall:>8.1f} {n / cpu:>12,.0f} {n / wall:>12,.0f} "
          f"{float(r['peak_mb']):>8,.0f}   {lo:.1f} -> {hi:.1f}")  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--policy", default="least-outstanding")
    ap.add_argument("--no-output", action="store_true", help="do not stream per-request rows to disk")
    ap.add_argument("--exact", action="store_true", help="step every iteration (slow)")
    ap.add_argument("--cores", default="compiled,python", help="cores to alternate (compiled, python)")
    ap.add_argument("--repeats", type=int, default=2, help="rounds of the alternation")
    ap.add_argument("--memory", action="store_true", help="also run the first core at N / 5 (memory flat in N)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--core", default="auto", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        one_run(args)
        return 0
    cores = [c.strip() for c in args.cores.split(",") if c.strip()]
    print(f"Azure conversation x80, looped; 104 replicas (96 GB200 + 8 CS-3), {args.policy}; rows "
          f"{'not written' if args.no_output else 'streamed to Parquet'}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    print(f"  {'core':<9} {'requests':>10} {'CPU s':>8} {'wall s':>8} {'req/CPU s':>12} {'req/wall s':>12} "
          f"{'peak MB':>8}   load average")
    runs: list[dict[str, object]] = []
    for _ in range(args.repeats):
        for core in cores:
            runs.append(spawn(core, args.requests, args))
            show(runs[-1])
    if args.memory:
        small = spawn(cores[0], args.requests // 5, args)
        show(small)
        big = [r for r in runs if r["core"] == small["core"]]
        print(f"peak RSS {small['peak_mb']:,.0f} MB at {args.requests // 5:,} requests, "
              f"{min(float(r['peak_mb']) for r in big):,.0f} MB at {args.requests:,}")  # type: ignore[arg-type]
    best = {c: max(int(r["requests"]) / float(r["cpu_s"]) for r in runs if r["core"] == c)  # type: ignore[arg-type]
            for c in {str(r["core"]) for r in runs}}
    for c, v in sorted(best.items()):
        print(f"{c} core: best {v:,.0f} simulated requests per CPU second = {v / VIDUR_REQ_PER_S[1]:,.0f}-"
              f"{v / VIDUR_REQ_PER_S[0]:,.0f}x Vidur's {VIDUR_REQ_PER_S[0]}-{VIDUR_REQ_PER_S[1]} (ANCHORS.md, "
              "measured side by side 2026-12-01; not rerun here)")
    if "compiled" in best and "python" in best:
        print(f"compiled / pure Python: {best['compiled'] / best['python']:.1f}x")
    if "compiled" in best:
        print(f"target >= {TARGET:,} per CPU second with the compiled core: "
              f"{'MET' if best['compiled'] >= TARGET else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
