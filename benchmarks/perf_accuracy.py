"""Accuracy of the performance model on the packaged published results: in-sample and leave-one-(hardware,
model)-group-out cross-validated, overall and per family, against the issue-10 targets.

Run: python benchmarks/perf_accuracy.py [--cv] [--rows]
(``tokenfleet validate --cv`` reports the same cross-validation in the product.)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tokenfleet.perf import calibrate, kernel_check
from tokenfleet.perf.predict import Prediction
from tokenfleet.perf.results import read_results
from tokenfleet.perf.validate import packaged_results_path

TARGETS = {"in-sample": (10.0, 30.0, 20.0), "cross-validated": (15.0, 40.0, 25.0)}  # median, p90, family median


def report(title: str, preds: list[Prediction]) -> None:
    errs: dict[str, list[float]] = {}
    for p in preds:
        if p.pct_error is not None:
            errs.setdefault(calibrate.report_family(p.result), []).append(abs(p.pct_error))
    every = np.array([e for v in errs.values() for e in v])
    skipped = sum(1 for p in preds if p.predicted is None)
    med_t, p90_t, fam_t = TARGETS[title]
    print(f"{title}: {every.size} predicted, {skipped} skipped; |error| median {np.median(every):.1f}% "
          f"(target <= {med_t:g}%), p90 {np.percentile(every, 90):.1f}% (target <= {p90_t:g}%)")
    for fam, e in sorted(errs.items()):
        print(f"  {fam:13s} {len(e):3d} rows  median {np.median(e):6.1f}%  p90 {np.percentile(e, 90):6.1f}%"
              f"{'' if np.median(e) <= fam_t else f'  (family target <= {fam_t:g}%)'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cv", action="store_true", help="also leave-one-(hardware, model)-group-out (~1 min CPU)")
    ap.add_argument("--rows", action="store_true", help="print every row")
    args = ap.parse_args()
    rows = read_results(packaged_results_path())
    preds = [calibrate.predict_row(r) for r in rows]  # the packaged calibration.yaml
    report("in-sample", preds)
    print("independent kernel check: " + kernel_check.check_line())
    if args.rows:
        for p in preds:
            r = p.result
            print(f"  {r.row:4d} {r.label():70s} {r.value:>12,.1f} {p.predicted or 0:>12,.1f} "
                  f"{'' if p.pct_error is None else f'{p.pct_error:+.1f}%':>8s} {p.layout or p.skipped[:60]}")
    if args.cv:
        t0, c0 = time.perf_counter(), time.process_time()
        from tokenfleet.perf.power_runs import power_throughput_rows
        cv = calibrate.cross_validate(rows, extra=power_throughput_rows(rows))  # as `tokenfleet validate --cv`
        report("cross-validated", cv)
        print(f"  ({time.process_time() - c0:.0f} s CPU, {time.perf_counter() - t0:.0f} s wall)")


if __name__ == "__main__":
    main()
