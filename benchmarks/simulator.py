"""Simulator speed: the Azure 2023 conversation trace, rate-scaled and looped to N requests, on a
two-hardware fleet (96 GB200 replicas + 8 four-system CS-3 replicas of Llama 3.3 70B = 104 replicas).

    python benchmarks/simulator.py        # 1,000,000 requests, per-request rows streamed to a temp Parquet
    python benchmarks/simulator.py --requests 200000 --no-output
    python benchmarks/simulator.py --compiled         # the sim core compiled with mypyc (build/mypyc-sim)

Prints simulated requests per second of wall time and of CPU time (one core, pure Python unless
``--compiled``), peak resident memory, and what bounds the speed.

What bounds it (pyinstrument profile of the pure-Python run, 200,000 requests): the Python interpreter on
one core -- the run is CPU-bound, with no I/O wait. Per request there are ~2.4 replica events (a prefill
iteration, the end of a decode run, a run cut short by an arrival); their bookkeeping in
``Replica.advance`` / ``_schedule`` / ``admit`` is ~65% of the CPU time, including ~10% in the
performance model's ``Deployment.step_time`` (~5 calls per request: one per prefill iteration, three per
decode run: first, last and middle iteration to check the run is affine). Publishing replica state and
routing (an incremental least-outstanding index, O(1) per decision) take ~13%, the event loop ~10%,
request objects ~5%, per-request output chunks ~5%.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tokenfleet.sim.replica
from tokenfleet.scenario import Scenario, parse_scenario
from tokenfleet.sim.engine import Simulation
from tokenfleet.sim.output import RequestWriter

REPO = Path(__file__).resolve().parents[1]
BOUND = (
    "CPU-bound in the Python interpreter (one core, no I/O wait): ~65% replica event bookkeeping "
    "(Replica.advance/_schedule/admit, incl. ~10% perf step_time, ~5 calls/request), ~13% publishing "
    "state + routing, ~10% event loop, ~5% request objects, ~5% output chunks (pyinstrument, pure Python)"
)
COMPILED_MODULES = ["sim/replica.py", "sim/itertime.py", "sim/kv.py", "sim/seq.py", "sim/engine.py"]


def build_compiled() -> Path:
    """Copy the package to build/mypyc-sim and compile the simulator core there with mypyc (cached)."""
    out = REPO / "build" / "mypyc-sim"
    src = REPO / "src" / "tokenfleet"
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(src.rglob("*.py")))).hexdigest()
    stamp = out / "STAMP"
    if stamp.is_file() and stamp.read_text() == digest:
        return out
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(src, out / "tokenfleet", ignore=shutil.ignore_patterns("__pycache__"))
    print("compiling the simulator core with mypyc (about a minute) ...", file=sys.stderr)
    subprocess.run(
        [sys.executable, "-m", "mypyc", *(f"tokenfleet/{m}" for m in COMPILED_MODULES)],
        cwd=out,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    stamp.write_text(digest)
    return out


def scenario(n: int, policy: str, exact: bool) -> dict[str, object]:
    return {
        "name": "bench-azure-conv",
        "traffic": [
            {
                "name": "chat",
                "model": "llama-3.3-70b",
                "slo": {"ttft_p99_ms": 2000, "tpot_p99_ms": 100},
                "arrivals": {
                    "trace": "shared:traces/azure2023_conv.csv",
                    "rate_multiplier": 80,
                    "loop": True,
                },
            }
        ],
        "pools": [
            {"name": "gb200", "hardware": "gb200-nvl72", "replicas": 96},
            {"name": "cs3", "hardware": "cs3", "replicas": 8},
        ],
        "routing": {"policy": policy},
        "sim": {"max_requests": n, "seed": 1, "exact": exact},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--policy", default="least-outstanding")
    ap.add_argument("--no-output", action="store_true", help="do not stream per-request rows to disk")
    ap.add_argument("--exact", action="store_true", help="step every iteration (slow)")
    ap.add_argument("--compiled", action="store_true", help="run the sim core compiled with mypyc")
    args = ap.parse_args(argv)
    if args.compiled and os.environ.get("TOKENFLEET_BENCH_COMPILED") != "1":
        path = build_compiled()
        env = dict(
            os.environ,
            PYTHONPATH=f"{path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            TOKENFLEET_BENCH_COMPILED="1",
        )
        return subprocess.run(
            [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:])], env=env, check=False
        ).returncode
    sc: Scenario = parse_scenario(scenario(args.requests, args.policy, args.exact), "bench")
    with tempfile.TemporaryDirectory() as tmp:
        sinks = []
        if not args.no_output:
            sinks.append(RequestWriter(Path(tmp) / "requests.parquet", ["chat"], [p.name for p in sc.pools]))
        sim = Simulation(sc, keep_requests=False, sinks=sinks)
        t0, c0 = time.perf_counter(), time.process_time()
        res = sim.run()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tot = res.collector.total.summary(res.period_s)
    runs = sum(r.stats.runs for r in res.replicas)
    iters = sum(r.stats.iterations for r in res.replicas)
    impl = "mypyc-compiled" if tokenfleet.sim.replica.__file__.endswith(".so") else "pure Python"
    print(f"implementation         {impl} ({tokenfleet.sim.replica.__file__})")
    print(
        f"requests simulated     {res.requests:,} on {len(res.replicas)} replicas "
        f"({', '.join(f'{p.replicas}x {p.spec.hardware}' for p in res.pools)}), policy {args.policy}"
    )
    print(f"simulated period       {res.period_s:,.0f} s   throughput {tot['throughput_rps']:,.1f} req/s")
    print(f"wall time              {wall:,.1f} s   -> {res.requests / wall:,.0f} simulated requests/s")
    print(
        f"CPU time (this process) {cpu:,.1f} s  -> {res.requests / cpu:,.0f} simulated requests/s of CPU "
        "(differs from wall time when other processes share the core)"
    )
    print(f"engine iterations      {iters:,} in {runs:,} events ({iters / max(runs, 1):.1f} per event)")
    print(
        f"CPU per request        {cpu / res.requests * 1e6:.1f} us = {runs / res.requests:.2f} replica events "
        f"x {cpu / max(runs, 1) * 1e6:.1f} us (event, routing, request and output work included)"
    )
    print(f"what bounds the speed  {BOUND}")
    print(f"peak memory (RSS)      {peak_mb:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
