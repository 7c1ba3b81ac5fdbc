"""The throughput of published power runs as performance rows: ``published_power.csv`` is calibration data for
the step-time model too (MLPerf power submissions report the run's output tokens/s beside its wall power).

Only official Offline runs are taken (a ranging run replicates its official run; a Server run's latency bounds
are not in the file), each as an ``offline_tok_s`` row at the power cap in force ("power cap 500 W": see
:mod:`tokenfleet.perf.published`), and only where the results file does not already hold the same run (same
hardware, model, workload and throughput within 0.5 %). Row numbers are ``POWER_ROW_BASE +`` the power row's.
"""

from __future__ import annotations

from pathlib import Path

from tokenfleet.perf.power_data import read_power
from tokenfleet.perf.published import MATCH_TOLERANCE
from tokenfleet.perf.results import PublishedResult

POWER_ROW_BASE = 10_000


def power_throughput_rows(results: list[PublishedResult], path: str | Path | None = None) -> list[PublishedResult]:
    out = []
    for p in read_power(path):
        if p.scenario != "offline" or not p.throughput_tok_s or not p.model_id or "official run" not in p.evidence:
            continue
        if any((r.hw_id, r.model_id, r.workload_id) == (p.hw_id, p.model_id, p.workload_id)
               and abs(r.value - p.throughput_tok_s) <= MATCH_TOLERANCE * r.value for r in results):
            continue
        cap = f"power cap {p.tdp_setting_w:g} W" if p.tdp_setting_w else ""
        out.append(PublishedResult(
            row=POWER_ROW_BASE + p.row, hw_id=p.hw_id, num_chips=p.num_chips, model_id=p.model_id,
            precision=p.precision, workload_id=p.workload_id or "", metric="offline_tok_s", ttft_p99_ms=None,
            tpot_p99_ms=None, user_tok_s=None, spec_decode="no", value=p.throughput_tok_s,
            source_url=p.source_url, date=p.date, notes=f"published_power.csv row {p.row} ({p.evidence}); {cap}"))
    return out
