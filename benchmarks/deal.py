"""Benchmark the deal Monte Carlo: 1,000,000 paths x monthly steps x 6 tranches on one core.

Uses examples/deals/amd-openai.yaml (six tranches on GW delivered AND share-price touch hurdles, lognormal
delivery delays, 5-year horizon = 60 monthly steps), without the valuation-point re-runs. Prints paths per
second for the full valuation (prices, bridge maxima, deliveries, vesting, contract cash flows, statistics).
Target: under 5 s. Usage: python benchmarks/deal.py [--paths N] [--jumps]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from tokenfleet.deal import load_deal, value_deal  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "deals" / "amd-openai.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=1_000_000)
    ap.add_argument(
        "--jumps", action="store_true", help="keep the example's Merton jumps (default: pure GBM)"
    )
    args = ap.parse_args()
    deal = load_deal(EXAMPLE)
    assert deal.equity is not None
    equity = deal.equity if args.jumps else dataclasses.replace(deal.equity, jump_intensity_per_year=0.0)
    deal = dataclasses.replace(deal, equity=equity, valuation_points=())
    steps = round(deal.horizon_years * deal.settings.steps_per_year)
    value_deal(deal, paths=20_000, seed=1)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    v = value_deal(deal, paths=args.paths, seed=1)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"deal MC: {args.paths:,} paths x {steps} monthly steps x {len(v.tranches)} tranches"
        f"{' (with jumps)' if args.jumps else ''}"
    )
    print(f"wall {wall:.2f} s, {args.paths / wall:,.0f} paths/s (target: under 5 s)")
    print(
        f"cpu  {cpu:.2f} s, {args.paths / cpu:,.0f} paths/s per core (wall > cpu when the machine is shared)"
    )
    print(f"warrant value ${v.warrant_value_usd / 1e9:,.3f}B ± {v.total.stderr / 1e9 if v.total else 0:,.3f}")


if __name__ == "__main__":
    main()
