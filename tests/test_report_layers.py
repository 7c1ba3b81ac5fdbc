"""The deal, validate and sweep reports: ``deal --out``'s tables.xlsx holds every table of the report; the
figures follow the shared rules (axes titled with units, no twin axes: spend and MW are small multiples);
grid values and table cells print as what they are ($1M, 0.5×), never as raw floats."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest

from _cli import run_cli
from test_report_plan import axis_problems
from tokenfleet.deal import load_deal, value_deal
from tokenfleet.deal.report import build_page as deal_page
from tokenfleet.perf.validate import validate, validate_power
from tokenfleet.perf.validate_report import OUTLIER
from tokenfleet.perf.validate_report import build_page as validate_page
from tokenfleet.sweep.report import build_page as sweep_page
from tokenfleet.sweep.report import key_label

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_deal_out_writes_every_table_and_no_twin_axes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "deal", str(EXAMPLES / "deals" / "openai-cerebras.yaml"), "--paths", "3000",
                           "--out", str(tmp_path))
    assert code == 0, err
    deal = load_deal(EXAMPLES / "deals" / "openai-cerebras.yaml")
    v = value_deal(deal, paths=3000)
    page = deal_page(deal, v)
    book = openpyxl.load_workbook(io.BytesIO((tmp_path / "tables.xlsx").read_bytes()))
    assert [t.id for t in page.tables] == book.sheetnames[1:]
    for t in page.tables:
        assert book[t.id].max_row == 1 + len(t.rows)
    assert axis_problems(page) == []
    spend = page.figures["spend"]["layout"]
    assert "yaxis2" in spend and not spend["yaxis2"].get("overlaying")  # two panels, not twin axes
    assert "MW" in spend["yaxis2"]["title"]["text"] or "W" in spend["yaxis2"]["title"]["text"]
    # the warrant histogram is scaled to its values: the axis unit matches the mean's ($B for ~$4.6B)
    hist = page.figures["value"]["layout"]["xaxis"]["title"]["text"]
    assert "($B)" in hist or "($M)" in hist
    # "$/MW-year" prints as money, not 21,777,423
    prices = next(t for t in page.tables if t.id == "prices")
    assert prices.text()[0][1].startswith("$") and prices.text()[0][1].endswith("M")


def test_validate_report_charts_one_unit_per_chart_and_marks_outliers() -> None:
    preds, summary = validate(None)
    power_preds, power_summary = validate_power(None)
    page = validate_page("packaged", preds, summary, None, power_preds, power_summary)
    assert axis_problems(page) == []
    metric_figs = [k for k in page.figures if k.startswith("m_")]
    for k in metric_figs:  # each metric chart is in one unit, named on its axes
        title = page.figures[k]["layout"]["xaxis"]["title"]["text"]
        assert "tok/s" in title or "ms" in title
    rows = next(t for t in page.tables if t.id == "rows")
    err = [c.name for c in rows.columns].index("error")
    worst = [i for i, r in enumerate(rows.rows) if r[err] is not None and abs(r[err]) * 100 >= OUTLIER]
    assert worst and set(worst) <= set(rows.highlight)  # the +392 % row is highlighted
    few = {p.result.metric for p in preds} - {k[2:] for k in metric_figs}
    assert few  # metrics with one or two rows get no chart of their own


def test_sweep_report_prints_grid_values_as_what_they_are() -> None:
    keys = ["plan.candidates.cs3.unit_price_usd", "plan.candidates.cs3.speed_factor"]
    rows = []
    for i, (price, speed) in enumerate((p, s) for p in (1e6, 2.5e6) for s in (0.5, 2.0)):
        cs3 = speed == 2.0 and price == 1e6
        rows.append({"point": i, keys[0]: price, keys[1]: speed, "seed": 0, "status": "ok", "message": "",
                     "plan.tco_usd_per_year": 1.0e6 if cs3 else 1.27e6, "plan.facility_mw": 0.08 if cs3 else 0.17,
                     "plan.hardware.low-latency": "cs3" if cs3 else "gb200-nvl72",
                     "plan.chips.cs3": 4 if cs3 else None, "plan.chips.gb200-nvl72": None if cs3 else 144,
                     "plan.mw.NVIDIA": None if cs3 else 0.17, "plan.mw.Cerebras": 0.08 if cs3 else None})
    page = sweep_page(rows, keys, "sweep")
    assert axis_problems(page) == []
    heat = page.figures["serves_low-latency"]["data"][0]
    assert heat["x"] == ["$1M", "$2.5M"] and heat["y"] == ["0.5×", "2×"]
    assert key_label(keys[0]) == "cs3 unit price"
    cells = [c for t in page.tables for r in t.text() for c in r]
    assert "$1M" in cells and "1000000.0" not in cells and not any("e+" in c for c in cells)
    tco = page.figures["line_plan_tco_usd_per_year"]["data"]
    # the fleet changes between $1M and $2.5M at speed 2x: no line joins those two points
    at2 = next(t for t in tco if "2×" in t["name"])
    assert None in at2["y"]
