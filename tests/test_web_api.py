"""The dashboard's JSON API without a browser: field-level validation with the CLI's models, background runs
(plan, simulate, deal on a plan run), downloads, the run store on disk, static assets served locally."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

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
    ],
)
def test_validate_names_the_field(client: TestClient, edit: tuple[str, str, Any], path: str, needle: str) -> None:
    data = yaml.safe_load(default_scenario())
    data[edit[0]][edit[1]] = edit[2]
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
    pools = next(t for t in plan["tables"] if t["id"] == "plan")
    chips_col = pools["columns"].index("chips")
    assert sum(row[chips_col] for row in pools["rows"]) == plan["summary"]["chips"]["value"]
    assert {f["id"] for f in plan["figures"]} >= {"pareto", "vendor", "util"}
    assert sorted(plan["files"]) == ["plan.json", "report.html", "scenario.yaml"]
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
    cerebras_mw = sum(p["facility_mw"] for p in plan_json["pools"] if p["vendor"] == "Cerebras")
    assert 0 < deal["summary"]["mw"]["value"] <= cerebras_mw + 1e-9
    assert deal["figures"][0]["title"].startswith("Vesting")
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
    cdf = next(f for f in run["figures"] if f["id"] == "cdf_ttft_s")["figure"]
    ys = cdf["data"][0]["y"]
    assert ys[-1] == pytest.approx(1.0) and all(a <= b for a, b in itertools.pairwise(ys))
    # the CDF's median agrees with the table's TTFT p50 (same requests, exact percentiles)
    xs = cdf["data"][0]["x"]
    median = next(x for x, y in zip(xs, ys, strict=True) if y >= 0.5)
    table = next(t for t in run["tables"] if t["id"] == "classes")
    assert median == pytest.approx(table["rows"][0][table["columns"].index("TTFT p50")], rel=0.05)
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
