"""Held-out check of the performance model on SemiAnalysis InferenceMAX's measured sweeps (not calibration data).

InferenceMAX publishes, per (hardware, engine, model, ISL/OSL, TP, concurrency), the output throughput per GPU
and the mean time per output token of a benchmark run. This script reads a directory of its raw ``agg_bmk.json``
files (as mirrored, for example, under ``reconcile/sources/inferencemax/raw`` of github.com/gminneci/mantile),
keeps single-node runs without speculation or disaggregation on hardware in the catalog, turns each point into a
results row (``per_chip_tok_s`` at the run's measured per-user speed ``1 / mean TPOT``, TP and concurrency in
its notes, so the model predicts it on that layout and batch cap), and predicts every row with the packaged
calibration. Nothing is downloaded; no file is shipped.

Run: python benchmarks/inferencemax_heldout.py RAW_DIR [--csv OUT.csv]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from tokenfleet.perf.predict import predict
from tokenfleet.perf.results import read_results

HARDWARE = {"b200": "b200", "b200-trt": "b200", "h200": "h200", "h100": "h100", "mi355x": "mi355x",
            "mi325x": "mi325x", "mi300x": "mi300x"}
MODELS = {"gptoss": "gpt-oss-120b", "dsr1": "deepseek-r1"}
COLUMNS = ["hw_id", "num_chips", "model_id", "precision_id", "workload_id", "metric_id", "ttft_p99_ms", "tpot_p99_ms",
           "user_tok_s", "spec_decode", "hardware", "vendor", "n_chips_or_systems", "model", "precision",
           "scenario_metric", "value", "unit", "value_per_chip", "constraints", "date", "evidence_type",
           "source_url", "notes"]


def points(raw_dir: Path) -> list[dict[str, object]]:
    """The latest run of each configuration, as results rows."""
    best: dict[tuple[object, ...], tuple[str, dict[str, object]]] = {}
    files = sorted(raw_dir.rglob("*.json"))
    if not files:
        raise SystemExit(f"error: {raw_dir}: no InferenceMAX agg_bmk.json files found")
    for f in files:
        try:
            runs = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise SystemExit(f"error: {f}: not a JSON list of benchmark runs ({e})") from None
        for r in runs if isinstance(runs, list) else []:
            if (r.get("hw") not in HARDWARE or r.get("infmax_model_prefix") not in MODELS or r.get("disagg")
                    or r.get("is_multinode") or r.get("spec_decoding") not in (None, "none")):
                continue
            key = tuple(r.get(k) for k in ("hw", "framework", "infmax_model_prefix", "precision", "isl", "osl", "tp",
                                           "ep", "dp_attention", "conc"))
            if key not in best or f.parent.name > best[key][0]:
                best[key] = (f.parent.name, r)
    rows = []
    for run, r in best.values():
        tpot, tput = float(r["mean_tpot"]), float(r["output_tput_per_gpu"])  # type: ignore[arg-type]
        if not (tpot > 0 and tput > 0):
            continue
        dp = "; attention DP" if str(r.get("dp_attention")).lower() == "true" else ""
        model = MODELS[str(r["infmax_model_prefix"])]
        rows.append({"hw_id": HARDWARE[str(r["hw"])], "num_chips": r["tp"], "model_id": model,
                     "precision_id": r["precision"], "workload_id": f"isl{r['isl']}-osl{r['osl']}",
                     "metric_id": "per_chip_tok_s", "user_tok_s": round(1.0 / tpot, 2), "spec_decode": "no",
                     "hardware": r["hw"], "scenario_metric": "InferenceMAX output tok/s per GPU at a concurrency",
                     "value": round(tput, 2), "unit": "tok/s/GPU", "constraints": f"concurrency {r['conc']}",
                     "evidence_type": "third-party measured (SemiAnalysis InferenceMAX), held out",
                     "source_url": "InferenceMAX agg_bmk.json", "date": "2025-12",
                     "notes": f"TP{r['tp']}; concurrency {r['conc']}; {r['framework']}{dp}; run {run}"})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("raw_dir", type=Path)
    ap.add_argument("--csv", type=Path, default=Path("inferencemax-heldout.csv"), help="where the rows are written")
    args = ap.parse_args()
    if not args.raw_dir.is_dir():
        sys.exit(f"error: {args.raw_dir}: not a directory")
    rows = points(args.raw_dir)
    if not rows:
        sys.exit(f"error: {args.raw_dir}: no single-node run of {', '.join(MODELS.values())} on "
                 f"{', '.join(sorted(set(HARDWARE.values())))} without speculation")
    with args.csv.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    preds = [predict(r) for r in read_results(args.csv)]
    groups: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for p in preds:
        if p.pct_error is not None:
            groups[(p.result.hw_id, p.result.model_id, p.result.precision or "-")].append(p.pct_error)
    every = np.array([e for v in groups.values() for e in v])
    skipped = sum(p.predicted is None for p in preds)
    print(f"InferenceMAX held-out: {len(preds)} points from {args.raw_dir}; wrote {args.csv}")
    for (hw, model, prec), v in sorted(groups.items()):
        e = np.array(v)
        print(f"  {hw:7s} {model:13s} {prec:4s} {e.size:4d}  |error| median {np.median(abs(e)):5.1f}%  "
              f"signed median {np.median(e):+6.1f}%")
    if every.size:
        print(f"predicted {every.size}, skipped {skipped} (no layout reaches the measured per-user speed); "
              f"|error| median {np.median(abs(every)):.1f}%, p90 {np.percentile(abs(every), 90):.1f}%")


if __name__ == "__main__":
    main()
