"""Benchmark the deal Monte Carlo: speed on one core, and memory that stays flat as paths grow.

Uses examples/deals/amd-openai.yaml (six tranches, each a GW milestone AND a price hurdle, concurrent rule,
lognormal delivery delays, 5-year horizon), without the valuation-point re-runs.

- ``speed``: the ladder with its hurdles tested continuously on the monthly grid (60 steps + fixed dates, pure
  GBM), 1,000,000 paths, repeated; wall and CPU time per run. Target: under 5 s.
- ``example``: the shipped file as it is (30-trading-day VWAP tests on ~1,260 NYSE trading days, jumps), 100,000
  paths: what ``tokenfleet deal examples/deals/amd-openai.yaml`` costs.
- ``memory``: peak resident memory of a fresh process valuing 1e6 and then 1e7 paths (monthly ladder); flat
  memory means the two agree within a few MB (every statistic streams; percentiles come from a fixed histogram).

Usage: python benchmarks/deal.py [speed|example|memory ...] [--paths N] [--repeat K]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from tokenfleet.deal import Deal, load_deal, value_deal  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "deals" / "amd-openai.yaml"


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def monthly_ladder() -> Deal:
    """The example with continuous hurdles on the monthly grid and pure GBM (no jumps, no valuation points)."""
    deal = load_deal(EXAMPLE)
    assert deal.equity is not None
    warrants = tuple(
        dataclasses.replace(
            w,
            tranches=tuple(
                dataclasses.replace(t, hurdle=dataclasses.replace(t.hurdle, monitoring="continuous", average_days=1))
                if t.hurdle is not None
                else t
                for t in w.tranches
            ),
        )
        for w in deal.warrants
    )
    equity = dataclasses.replace(deal.equity, jump_intensity_per_year=0.0)
    return dataclasses.replace(deal, equity=equity, warrants=warrants, valuation_points=())


def timed(deal: Deal, paths: int, repeat: int, label: str) -> None:
    value_deal(deal, paths=20_000, seed=1)  # warm-up
    print(f"{label}: {paths:,} paths x {len(deal.tranches())} tranches; load: {load()}")
    for k in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        v = value_deal(deal, paths=paths, seed=1 + k)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        se = v.total.stderr if v.total is not None else 0.0
        print(
            f"  run {k + 1}: wall {wall:6.2f} s ({paths / wall:,.0f} paths/s), cpu {cpu:6.2f} s "
            f"({paths / cpu:,.0f} paths/s/core); warrant value ${v.warrant_value_usd / 1e9:,.3f}B ± {se / 1e9:,.3f}"
        )


def child(paths: int) -> None:
    """Run in a fresh process: value the monthly ladder and print peak RSS as JSON."""
    t0, c0 = time.perf_counter(), time.process_time()
    v = value_deal(monthly_ladder(), paths=paths, seed=1)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux
    print(
        json.dumps(
            {
                "paths": paths,
                "peak_rss_mb": peak_mb,
                "wall_s": time.perf_counter() - t0,
                "cpu_s": time.process_time() - c0,
                "p50": v.total.p50 if v.total else None,
                "mean": v.warrant_value_usd,
            }
        )
    )


def memory(sizes: list[int]) -> None:
    print(f"memory: peak RSS of a fresh process per run (monthly ladder); load: {load()}")
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n)], capture_output=True, text=True, check=True
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"  {n:>12,} paths: peak RSS {r['peak_rss_mb']:7.1f} MB; wall {r['wall_s']:7.1f} s, "
            f"cpu {r['cpu_s']:7.1f} s; mean ${r['mean'] / 1e9:,.3f}B, p50 ${r['p50'] / 1e9:,.3f}B"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", nargs="*", help="speed, example and/or memory (default: all three)")
    ap.add_argument("--paths", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    unknown = set(args.what) - {"speed", "example", "memory"}
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    args.what = args.what or ["speed", "example", "memory"]
    if "speed" in args.what:
        timed(monthly_ladder(), args.paths, args.repeat, "speed (monthly grid, continuous hurdles; target < 5 s)")
    if "example" in args.what:
        deal = dataclasses.replace(load_deal(EXAMPLE), valuation_points=())
        timed(deal, 100_000, args.repeat, "example as shipped (30-day VWAP on NYSE trading days, jumps)")
    if "memory" in args.what:
        memory([1_000_000, 10_000_000])


if __name__ == "__main__":
    main()
