"""The plan report: cost over time against the planner's own TCO, ``plan --out``'s tables.xlsx holding every
table of the report, and the figures' rules (every axis titled with its unit, log axes said so, no twin axes,
SLO lines on the latency charts, the SLO curve drawn as steps with the current plan marked)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from _cli import run_cli
from tokenfleet.plan.cashflow import PoolCost, compute, cost_over_time
from tokenfleet.plan.default import default_scenario
from tokenfleet.plan.planner import plan
from tokenfleet.plan.report import build_page, report_data
from tokenfleet.viz.page import Page


def axis_problems(page: Page) -> list[str]:
    """Every axis of every figure titled, a log axis says so, no twin axes (figure JSON, no browser)."""
    out = []
    for fid, fig in page.figures.items():
        lay = fig["layout"]
        axes = [k for k in lay if k.startswith(("xaxis", "yaxis"))] or ["xaxis", "yaxis"]
        for k in axes:
            ax = lay.get(k, {})
            if ax.get("showticklabels") is False or ax.get("visible") is False:
                continue
            title = (ax.get("title") or {}).get("text", "")
            if not title.strip():
                out.append(f"{fid}.{k}: no title")
            if ax.get("type") == "log" and "log" not in title:
                out.append(f"{fid}.{k}: log axis not said")
            if ax.get("overlaying"):
                out.append(f"{fid}.{k}: twin axis")
    return out


@pytest.fixture(scope="module")
def default_plan() -> Any:
    sc, base = default_scenario()
    return plan(sc, base)


def test_cash_flow_adds_up_to_the_planners_tco(default_plan: Any) -> None:
    cot = cost_over_time(default_plan)
    sol = default_plan.solution
    # steady state: depreciation + energy + facility + rent is the planner's TCO per year (financing is 0)
    assert sum(cot.steady_state.values()) == pytest.approx(sol.tco_usd_per_year, rel=1e-9)
    lead = max(p.lead_time_months for p in default_plan.pools) / 12
    years = cot.years
    assert sum(y.capex_usd for y in years) == pytest.approx(sum(p.capex_usd for p in default_plan.pools))
    # a year with every unit in service costs the steady state; the delivery year costs less
    full = [y for y in years if y.year - 1 >= lead and y.year <= default_plan.scenario.plan.horizon_years]
    assert full and all(y.cost_usd == pytest.approx(sol.tco_usd_per_year, rel=1e-9) for y in full)
    assert years[0].cost_usd < sol.tco_usd_per_year


def test_cash_flow_by_hand() -> None:
    """One pool, $10M capex delivered at 6 months, 4-year depreciation, 3-year horizon, 8 % financing."""
    p = PoolCost("p", "cs3", 10e6, 1e6, 0.5e6, 0.0, 6.0)
    cot = compute([p], horizon_years=3.0, depreciation_years=4.0, financing_rate=0.08, deal_payments={1: 4e6})
    y1, y2, y3 = cot.years
    assert (y1.capex_usd, y2.capex_usd) == (10e6, 0.0)
    assert y1.depreciation_usd == pytest.approx(10e6 / 4 * 0.5) and y2.depreciation_usd == pytest.approx(2.5e6)
    assert y1.energy_usd == pytest.approx(0.5e6) and y3.facility_usd == pytest.approx(0.5e6)
    # interest on the book value: over year 2 it falls from 7/8 to 5/8 of the capex (mean 6/8)
    assert y2.financing_usd == pytest.approx(0.08 * 10e6 * 6 / 8)
    assert y1.deal_payments_usd == 4e6 and y2.deal_payments_usd == 0.0
    assert y1.cash_out_usd == pytest.approx(10e6 + 0.5e6 + 0.25e6 + y1.financing_usd)


def test_plan_out_writes_every_table_to_xlsx_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "plan", "--out", str(tmp_path), "--no-verify")
    assert code == 0, err
    pj = json.loads((tmp_path / "plan.json").read_text())
    page = build_page(pj | {"cost_over_time": None}, None)  # the report's own tables, rebuilt from plan.json
    book = openpyxl.load_workbook(io.BytesIO((tmp_path / "tables.xlsx").read_bytes()))
    html = (tmp_path / "report.html").read_text()
    assert {"pools", "order", "classes", "tco_components", "cash_flow"} <= set(book.sheetnames)
    for t in page.tables:
        assert t.id in book.sheetnames and f"id='tbl-{t.id}'" in html
        ws = book[t.id]
        assert [c.value for c in ws[1]] == [c.header for c in t.columns]
        assert ws.max_row == 1 + len(t.rows)
        assert (tmp_path / "tables" / f"{t.id}.csv").read_text().count("\n") == 1 + len(t.rows)
    pools = book["pools"]
    head = [c.value for c in pools[1]]
    capex = [r[head.index("capex (USD)")] for r in pools.iter_rows(min_row=2, values_only=True)]
    assert sum(capex) == pytest.approx(pj["totals"]["capex_usd"])  # numbers as numbers
    assert (tmp_path / "report.html").stat().st_size < 1_000_000


def test_plan_figures_follow_the_rules(default_plan: Any) -> None:
    pj, lat = report_data(default_plan)
    page = build_page(pj, lat)
    assert axis_problems(page) == []
    for fid in ("cdf_ttft_s", "cdf_tpot_s"):  # one SLO line per class (and the dotted p99 line)
        shapes = page.figures[fid]["layout"]["shapes"]
        assert sum(1 for s in shapes if s["line"].get("dash") == "dash") == len(pj["classes"])
    slo = page.figures["slo"]["data"]
    assert slo[0]["line"]["shape"] == "hv"  # a fleet switch is a step, not a slope
    assert any(t.get("name") == "this plan" and t["x"] == [1.0] for t in slo)
    by_class = page.figures["by_class"]["data"]
    assert len(by_class[0]["y"]) == len(pj["cost_by_class"])  # every class drawn, each labelled
    assert all("$" in label for label in by_class[-1]["text"])


def test_a_single_pareto_point_is_a_sentence_not_a_chart(default_plan: Any) -> None:
    pj, lat = report_data(default_plan)
    one = dict(pj, pareto_cost_vs_mw=pj["pareto_cost_vs_mw"][:1])
    page = build_page(one, lat)
    assert "pareto" not in page.figures
    assert any("one fleet" in i.get("text", "") for i in page.items if i["type"] == "text")


def test_planner_fields_are_drawn_when_present(default_plan: Any) -> None:
    """plan.json's tornado, SLO breakpoints and provisioned power (the planner computes them) are drawn."""
    pj, lat = report_data(default_plan)
    tco = pj["totals"]["tco_usd_per_year"]
    pj = pj | {
        "sensitivity": [{"input": "cs3 unit price", "low": 2e6, "high": 3e6, "tco_low_usd": tco * 0.8,
                         "tco_high_usd": tco * 1.2},
                        {"input": "$/MWh", "low": 40, "high": 120, "tco_low_usd": tco * 0.99,
                         "tco_high_usd": tco * 1.01}],
        "slo_breakpoints": [{"class": "realtime", "slo": "min_user_tok_s", "value": 199.0,
                             "tco_tighter_usd": tco, "tco_looser_usd": tco * 0.07}],
        "power": {"basis": "nameplate", "oversubscription": 1.0, "budget_mw": 2.0, "provisioned_mw": 0.13,
                  "peak_draw_mw": 0.045, "average_draw_mw": 0.043},
    }
    page = build_page(pj, lat)
    assert {"tornado", "breakpoints", "power"} <= set(page.figures)
    assert {"sensitivity", "slo_breakpoints", "power"} <= {t.id for t in page.tables}
    tornado = page.figures["tornado"]["data"]
    assert tornado[0]["y"][-1].startswith("cs3 unit price")  # the biggest swing on top
    assert axis_problems(page) == []
