"""Sweeps end to end: plan sweeps against hand arithmetic, Ray vs serial identical, outputs, bad input exit 2."""

from __future__ import annotations

import itertools
import json
import socket
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from _scenarios import two_class_plan
from tokenfleet.cli import app, main
from tokenfleet.sweep import build_sweep, make_tasks, run_ray, run_serial

PLAN = two_class_plan("sweep-plan", pareto_points=0)


@pytest.fixture()
def plan_file(tmp_path: Path) -> Path:
    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump(PLAN))
    return p


def _serial(path: Path, grid: list[str]) -> list[dict[str, Any]]:
    return run_serial(make_tasks(build_sweep(path, grid), ("plan",)))


def test_cs3_price_moves_tco_by_capex_over_depreciation(plan_file: Path) -> None:
    """With the fleet unchanged, TCO/yr changes by exactly (price change) x (CS-3 systems) / depreciation."""
    rows = _serial(plan_file, ["plan.candidates.cs3.price_usd=2000000,2000001"])
    a, b = rows
    assert a["status"] == b["status"] == "ok"
    assert a["plan.chips.cs3"] == b["plan.chips.cs3"] > 0
    assert b["plan.tco_usd_per_year"] - a["plan.tco_usd_per_year"] == pytest.approx(a["plan.chips.cs3"] / 4, rel=1e-6)


def test_budget_sweep_cost_never_rises_with_more_mw(plan_file: Path) -> None:
    """A larger power budget relaxes the MILP: TCO is non-increasing and the plan stays within budget."""
    rows = _serial(plan_file, ["plan.power_budget_mw=0.1:0.4:0.1"])  # the fleet needs ~0.2 MW
    ok = [r for r in rows if r["status"] == "ok"]
    assert rows[0]["status"] == "infeasible" and "budget" in rows[0]["message"]
    assert len(ok) >= 2
    for r in ok:
        assert r["plan.facility_mw"] <= r["plan.power_budget_mw"] + 1e-9
    tco = [r["plan.tco_usd_per_year"] for r in ok]
    assert all(x >= y - 1e-6 for x, y in itertools.pairwise(tco))


def test_ray_and_serial_give_identical_rows(plan_file: Path) -> None:
    pytest.importorskip("ray")
    grid = ["plan.power_budget_mw=0.5,1", "facility.usd_per_mwh=40,120"]
    tasks = make_tasks(build_sweep(plan_file, grid), ("plan",))
    serial = run_serial(tasks)
    ray_rows = run_ray(tasks, num_cpus=2)
    strip = [{k: v for k, v in r.items() if k != "wall_s"} for r in serial]
    assert [{k: v for k, v in r.items() if k != "wall_s"} for r in ray_rows] == strip
    assert len(strip) == 4 and {r["status"] for r in strip} == {"ok"}
    # energy price moves opex only: higher $/MWh never makes the plan cheaper
    assert strip[1]["plan.tco_usd_per_year"] > strip[0]["plan.tco_usd_per_year"]


def test_cli_writes_table_and_report(plan_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["sweep", str(plan_file), "--grid", "plan.power_budget_mw=0.5,1",
                                   "--grid", "share.ultra-low-latency=0.1,0.3", "--no-ray", "--out", str(out)])
    assert res.exit_code == 0, res.output
    t = pq.read_table(out / "sweep.parquet").to_pylist()
    assert [r["point"] for r in t] == [0, 1, 2, 3]
    assert [(r["plan.power_budget_mw"], r["share.ultra-low-latency"]) for r in t] == [
        (0.5, 0.1), (0.5, 0.3), (1.0, 0.1), (1.0, 0.3)]
    # more of the traffic on the 300 tok/s tier needs more CS-3 systems (at 10 % GB200 racks at a few users
    # each may serve it instead: a tensor-core GPU decodes a small batch at its HBM bandwidth)
    assert t[1]["plan.chips.cs3"] > (t[0]["plan.chips.cs3"] or 0)
    assert (out / "sweep.csv").read_text().count("\n") == 5
    html = (out / "report.html").read_text()
    assert "Fleet mix" in html and "src='plotly.min.js'" in html and (out / "plotly.min.js").exists()
    assert (out / "tables.xlsx").exists() and "e+" not in html.split("tf-figures", 1)[0]  # no scientific notation


def test_simulate_sweep_json(tmp_path: Path) -> None:
    sc = {"name": "s", "traffic": [PLAN["traffic"][1] | {"model": "llama-3.1-8b"}],
          "pools": [{"name": "gpu", "hardware": "h100", "replicas": 1}], "sim": {"seed": 1, "max_requests": 300}}
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(sc))
    res = CliRunner().invoke(app, ["sweep", str(p), "--grid", "pools.gpu.replicas=1,4", "--no-ray", "--json",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["sim.requests"] for r in rows] == [300, 300]
    assert rows[1]["sim.ttft_p99_ms"] < rows[0]["sim.ttft_p99_ms"]  # 4x the replicas queue less


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--grid", "facility.power_budget_mw=500:2000:250"], "did you mean 'plan.power_budget_mw'"),
        (["--grid", "plan.power_budget_mw=lots"], "valid number"),
        (["--grid", "plan.candidates.tpu.price_usd=1"], "no item named 'tpu'"),
        (["--grid", "plan.power_budget_mw"], "KEY=VALUES"),
        (["--grid", "plan.power_budget_mw=1", "--address", "127.0.0.1:{port}"], "cannot reach a Ray cluster"),
        (["--grid", "plan.power_budget_mw=1", "--address", "nonsense"], "host:port"),
    ],
)
def test_bad_input_exits_2(plan_file: Path, args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = [a.replace("{port}", str(_closed_port())) for a in args]
    with pytest.raises(SystemExit) as info:
        main(["sweep", str(plan_file), *args])
    assert info.value.code == 2
    assert needle in " ".join(capsys.readouterr().err.split())
