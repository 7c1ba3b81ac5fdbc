"""The dashboard's JSON API without a browser: field-level validation with the CLI's models, background runs
(plan, simulate, deal on a plan run), downloads, the run store on disk, static assets served locally."""

from __future__ import annotations

import io
import itertools
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from starlette.testclient import TestClient

from tokenfleet.web.app import create_app
from tokenfleet.web.examples import default_deal, default_scenario

PLAN: dict[str, Any] = yaml.safe_load(default_scenario())
PLAN["traffic"][0]["arrivals"]["rate_rps"] = 40
PLAN["traffic"][1]["arrivals"]["rate_rps"] = 200
PLAN["plan"]["pareto_points"] = 3
SIM = {
    "name": "sim",
    "traffic": [{"name": "chat", "model": "llama-3.1-8b", "arrivals": {"process": "poisson", "rate_rps": 20},
                 "input_tokens": {"dist": "fixed", "value": 500}, "output_tokens": {"dist": "fixed", "value": 50},
                 "slo": {"ttft_p99_ms": 500, "tpot_p99_ms": 50}}],
    "pools": [{"name": "gpu", "hardware": "h100", "replicas": 2}],
    "sim": {"seed": 1, "max_requests": 400},
}


def _tables(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["table"]["id"]: i["table"] for i in run["page"]["items"] if i["type"] == "table"}


def _figures(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["id"]: i for i in run["page"]["items"] if i["type"] == "figure"}


def _col(table: dict[str, Any], name: str) -> list[Any]:
    j = [c["name"] for c in table["columns"]].index(name)
    return [r[j] for r in table["values"]]


def plan_tables(run: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_tables(run).values())


def _wait(c: TestClient, run_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        run: dict[str, Any] = c.get(f"/api/runs/{run_id}").json()
        if run["status"] in ("done", "failed"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


@pytest.fixture()
def client(tmp_path: Path) -> Any:
    with TestClient(create_app(runs_dir=tmp_path / "runs")) as c:
        yield c


@pytest.mark.parametrize(
    ("edit", "path", "needle"),
    [
        (("facility", "pue", 5), "facility.pue", "pue must be in [1.0, 3.0]"),
        (("plan", "power_budget_mw", "lots"), "plan.power_budget_mw", "valid number"),
        (("plan", "objective", "speed"), "plan.objective", "'cost', 'power' or 'goodput'"),
        (("plan", "colour", "red"), "plan.colour", "unknown field"),
        (("plan", "power_budjet_mw", 3), "plan.power_budjet_mw", "did you mean 'power_budget_mw'?"),
    ],
)
def test_validate_names_the_field(client: TestClient, edit: tuple[str, str, Any], path: str, needle: str) -> None:
    data = yaml.safe_load(default_scenario())
    data[edit[0]][edit[1]] = edit[2]
    if edit[1] == "power_budjet_mw":
        del data["plan"]["power_budget_mw"]
    errors = client.post("/api/validate", json={"kind": "scenario", "data": data}).json()["errors"]
    assert [e["path"] for e in errors] == [path]
    assert needle in errors[0]["message"]


def test_validate_catalog_ids_and_yaml(client: TestClient) -> None:
    data = yaml.safe_load(default_scenario())
    data["plan"]["candidates"][0]["hardware"] = "cs-3"
    errors = client.post("/api/validate", json={"kind": "scenario", "data": data}).json()["errors"]
    assert errors[0]["path"] == "plan.candidates.0.hardware" and "did you mean 'cs3'" in errors[0]["message"]
    bad = client.post("/api/validate", json={"kind": "scenario", "yaml": "traffic: [unclosed"}).json()
    assert bad["data"] is None and "not valid YAML" in bad["errors"][0]["message"]
    ok = client.post("/api/validate", json={"kind": "scenario", "yaml": default_scenario()}).json()
    assert ok["errors"] == [] and ok["data"]["plan"]["power_budget_mw"] == 5


def test_invalid_run_is_refused_with_field_errors(client: TestClient) -> None:
    bad = dict(PLAN, facility={"pue": 0.5})
    r = client.post("/api/runs", json={"kind": "plan", "scenario_yaml": yaml.safe_dump(bad)})
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "facility.pue"
    assert client.get("/api/runs").json() == []


def test_plan_then_deal_on_it(client: TestClient, tmp_path: Path) -> None:
    r = client.post("/api/runs", json={"kind": "plan", "scenario_yaml": yaml.safe_dump(PLAN)})
    assert r.status_code == 202
    plan = _wait(client, r.json()["id"])
    assert plan["status"] == "done", plan["error"]
    pools = _tables(plan)["pools"]
    assert sum(_col(pools, "chips")) == plan["summary"]["chips"]["value"]
    assert {"vendor", "load", "components", "cashflow"} <= set(_figures(plan))
    assert sorted(plan["files"]) == ["plan.json", "report.html", "report.zip", "scenario.yaml", "tables.xlsx",
                                     "tables.zip"]
    for row in pools["cells"]:  # formatted on the server: no raw float reaches the page
        assert not any(re.fullmatch(r"-?\d+\.\d{4,}", c) for c in row), row
    xlsx = client.get(f"/api/runs/{plan['id']}/files/tables.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert {t["id"] for t in plan_tables(plan)} <= set(book.sheetnames)
    zipped = zipfile.ZipFile(io.BytesIO(client.get(f"/api/runs/{plan['id']}/files/report.zip").content))
    assert {f"{plan['id']}/report.html", f"{plan['id']}/plotly.min.js", f"{plan['id']}/tables.xlsx"} <= set(
        zipped.namelist())
    html = client.get(f"/api/runs/{plan['id']}/files/report.html").text
    assert "src='plotly.min.js'" in html  # served beside it:
    assert client.get(f"/api/runs/{plan['id']}/files/plotly.min.js").status_code == 200
    plan_json = client.get(f"/api/runs/{plan['id']}/files/plan.json").json()
    mw = sum(p["facility_mw"] for p in plan_json["pools"])
    assert mw == pytest.approx(plan_json["totals"]["facility_mw"], rel=1e-6)  # pools add up to the total
    dl = client.get(f"/api/runs/{plan['id']}/files/scenario.yaml?dl=1")
    assert "attachment" in dl.headers["content-disposition"] and yaml.safe_load(dl.text)["name"] == PLAN["name"]
    # the deal takes the Cerebras pools of that plan: MW delivered cannot exceed the plan's Cerebras MW
    r = client.post("/api/runs", json={"kind": "deal", "scenario_yaml": yaml.safe_dump(PLAN),
                                       "deal_yaml": default_deal(), "options": {"plan_run": plan["id"], "paths": 2000}})
    deal = _wait(client, r.json()["id"])
    assert deal["status"] == "done", deal["error"]
    cerebras_mw = sum(p["provisioned_mw"] for p in plan_json["pools"] if p["vendor"] == "Cerebras")  # deal MW
    assert 0 < deal["summary"]["mw"]["value"] <= cerebras_mw + 1e-9
    figs = _figures(deal)
    assert {"spend", "vesting", "plan_cashflow"} <= set(figs)
    # the linked plan's cost over time carries the deal's payments by year: they add up to its purchases
    cash = _tables(deal)["cash_flow"]
    assert sum(_col(cash, "deal payments")) <= deal["summary"]["payments"]["value"] * (1 + 1e-9)
    # runs persist: a new app on the same folder lists them
    with TestClient(create_app(runs_dir=tmp_path / "runs")) as again:
        assert [x["id"] for x in again.get("/api/runs").json()] == [plan["id"], deal["id"]]


def test_deal_from_plan_without_a_plan_run_fails_clearly(client: TestClient) -> None:
    r = client.post("/api/runs", json={"kind": "deal", "scenario_yaml": yaml.safe_dump(PLAN),
                                       "deal_yaml": default_deal()})
    run = _wait(client, r.json()["id"])
    assert run["status"] == "failed" and "pick a finished plan run" in run["error"]


def test_simulate_run_has_cdfs_and_conserves_requests(client: TestClient) -> None:
    r = client.post("/api/runs", json={"kind": "simulate", "scenario_yaml": yaml.safe_dump(SIM)})
    run = _wait(client, r.json()["id"])
    assert run["status"] == "done", run["error"]
    assert run["summary"]["requests"]["value"] == 400
    cdf = _figures(run)["cdf_ttft_s"]["figure"]
    ys = cdf["data"][0]["y"]
    assert ys[-1] == pytest.approx(100.0) and all(a <= b for a, b in itertools.pairwise(ys))
    # the CDF's median agrees with the table's TTFT p50 (the table's percentile comes from the histograms)
    xs = cdf["data"][0]["x"]
    median = next(x for x, y in zip(xs, ys, strict=True) if y >= 50)
    assert median == pytest.approx(_col(_tables(run)["classes"], "TTFT p50")[0], rel=0.05)
    assert "series" in _figures(run)  # per-pool time series
    plan_only = client.post("/api/runs", json={"kind": "simulate", "scenario_yaml": yaml.safe_dump(PLAN)})
    failed = _wait(client, plan_only.json()["id"])
    assert failed["status"] == "failed" and "no pools" in failed["error"]


def test_static_assets_are_local(client: TestClient) -> None:
    page = client.get("/").text
    assert "/vendor/plotly.min.js" in page and "cdn" not in page
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/api/runs/r999").status_code == 404
    names = [e["name"] for e in client.get("/api/init").json()["examples"]]
    assert "starter: plan.yaml" in names
    assert client.get("/api/examples/starter: deal.yaml").json()["yaml"] == default_deal()
    assert client.get("/api/examples/..%2Fetc%2Fpasswd").status_code == 404


def test_runs_are_labelled_by_what_changed_and_compare_names_the_inputs(client: TestClient) -> None:
    r1 = client.post("/api/runs", json={"kind": "plan", "scenario_yaml": yaml.safe_dump(PLAN),
                                        "options": {"fast": True}}).json()["id"]
    cheaper = dict(PLAN, facility=dict(PLAN["facility"], usd_per_mwh=200))
    r2 = client.post("/api/runs", json={"kind": "plan", "scenario_yaml": yaml.safe_dump(cheaper),
                                        "options": {"fast": True}}).json()["id"]
    a, b = _wait(client, r1), _wait(client, r2)
    assert a["status"] == b["status"] == "done"
    assert a["label"] == PLAN["name"] and "usd_per_mwh 70 → 200" in b["label"]
    assert b["changed"] == [{"path": "facility.usd_per_mwh", "before": 70, "after": 200}] and b["after"] == r1
    assert b["fast"] and not any(f == "slo" for f in _figures(b))  # what-if: no curves, no simulation
    diff = client.get(f"/api/compare?a={r1}&b={r2}").json()
    assert diff["changes"] == b["changed"]
    # energy costs more, so TCO rises by exactly the energy bill's change (same fleet at this price)
    assert b["summary"]["tco"]["value"] > a["summary"]["tco"]["value"]
