"""``tokenfleet simulate --out DIR``: the report, the per-request Parquet and the exports; the per-pool time
series checked against brute force (time-averaged counts by sampling) and against the simulator's own
aggregates (mean busy share, energy)."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import numpy as np
import openpyxl
import pyarrow.parquet as pq
import pytest
import yaml

from _cli import run_cli
from test_report_plan import axis_problems
from tokenfleet.report.series import SeriesSink, busy_intervals, occupancy, series
from tokenfleet.report.simulate import build_page, slo_of
from tokenfleet.scenario import parse_scenario
from tokenfleet.sim.engine import Simulation
from tokenfleet.sim.summary import summarize

SIM = {
    "name": "two-pools",
    "traffic": [
        {"name": "chat", "model": "llama-3.1-8b", "arrivals": {"process": "poisson", "rate_rps": 30},
         "input_tokens": {"dist": "fixed", "value": 600}, "output_tokens": {"dist": "fixed", "value": 80},
         "slo": {"ttft_p99_ms": 800, "tpot_p99_ms": 60}},
        {"name": "batch", "model": "llama-3.1-8b", "arrivals": {"process": "poisson", "rate_rps": 10},
         "input_tokens": {"dist": "fixed", "value": 2000}, "output_tokens": {"dist": "fixed", "value": 200},
         "slo": {"ttft_p99_ms": 5000}},
    ],
    "pools": [{"name": "gpu", "hardware": "h100", "replicas": 2}, {"name": "big", "hardware": "b200", "replicas": 1}],
    "sim": {"seed": 4, "max_requests": 2000, "power_bin_s": 5},
}


def brute_occupancy(start: np.ndarray, end: np.ndarray, edges: np.ndarray, per_bin: int = 400) -> np.ndarray:
    out = []
    for a, b in itertools.pairwise(edges):
        t = np.linspace(a, b, per_bin, endpoint=False) + (b - a) / per_bin / 2
        out.append(((start[None, :] <= t[:, None]) & (t[:, None] < end[None, :])).sum(axis=1).mean())
    return np.array(out)


def test_occupancy_is_the_time_average_of_the_count() -> None:
    rng = np.random.default_rng(3)
    start = rng.uniform(0, 50, 300)
    end = start + rng.exponential(4, 300)
    edges = np.linspace(0, 60, 13)
    assert occupancy(start, end, edges) == pytest.approx(brute_occupancy(start, end, edges), abs=0.05)
    w = rng.uniform(1, 3, 300)  # weighted: sum of weights in flight
    exact = occupancy(start, end, edges, w)
    assert exact.sum() * 5 == pytest.approx(float(np.sum(w * (np.minimum(end, 60) - start))), rel=1e-9)


def test_busy_intervals_are_the_union_per_replica() -> None:
    rep = np.array([0, 0, 0, 1, 1])
    s = np.array([0.0, 1.0, 5.0, 2.0, 2.5])
    e = np.array([2.0, 3.0, 6.0, 3.0, 2.7])
    bs, be = busy_intervals(rep, s, e)
    got = sorted((round(a, 9), round(b, 9)) for a, b in zip(bs.tolist(), be.tolist(), strict=True))
    assert got == [(0, 3), (2, 3), (5, 6)]


def test_series_agree_with_the_simulators_aggregates() -> None:
    sc = parse_scenario(SIM, "sim.yaml")
    sink = SeriesSink()
    res = Simulation(sc, ".", keep_requests=False, sinks=[sink]).run()
    s = summarize(res)
    ser = series(res, sink)
    for p, summ in zip(ser.pools, s["pools"], strict=True):
        # the mean of the facility power series is the run's average power (same energy, spread over bins)
        assert np.mean(p.facility_mw) == pytest.approx(summ["avg_mw"], rel=0.02)
        assert max(p.kv_use) <= 1.0 + 1e-9 and min(p.queue_per_replica) >= 0
        assert 0 < np.mean(p.utilisation) <= 1.0
    page = build_page(s, ser, sink, slo_of(sc), [c.name for c in sc.traffic])
    assert {"attainment", "cdf_ttft_s", "cdf_tpot_s", "series"} <= set(page.figures)
    assert axis_problems(page) == []
    assert len(page.figures["series"]["data"]) == 5 * len(sc.pools)  # five panels, one line per pool each


def test_simulate_out_writes_report_parquet_and_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "sim.yaml"
    f.write_text(yaml.safe_dump(SIM))
    out = tmp_path / "rep"
    code, stdout, err = run_cli(capsys, "simulate", str(f), "--out", str(out))
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    rows = pq.read_table(out / "requests.parquet")
    assert rows.num_rows == summary["requests"] == 2000
    html = (out / "report.html").read_text()
    assert "src='plotly.min.js'" in html and (out / "plotly.min.js").exists() and len(html) < 1_000_000
    book = openpyxl.load_workbook(io.BytesIO((out / "tables.xlsx").read_bytes()))
    assert {"classes", "pools"} <= set(book.sheetnames)
    assert "wrote" in stdout
    code, _, err = run_cli(capsys, "simulate", str(f), "--out", str(out))  # the folder is taken
    assert code == 2 and "--force" in err
    code, _, err = run_cli(capsys, "simulate", str(f), "--out", str(out), "--force")
    assert code == 0, err
