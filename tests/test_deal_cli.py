"""``tokenfleet deal`` end to end on the shipped examples (few paths, so fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tokenfleet.deal as deal_pkg
from tokenfleet.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "deals"


def run(args: list[str]) -> None:
    """Run the CLI; a successful click command ends with SystemExit(0)."""
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code


def test_json_output_is_reproducible(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["deal", str(EXAMPLES / "amd-openai.yaml"), "--paths", "3000", "--seed", "5", "--json"]
    run(args)
    first = json.loads(capsys.readouterr().out)
    run(args)
    second = json.loads(capsys.readouterr().out)
    first.pop("elapsed_s")
    second.pop("elapsed_s")
    assert first == second
    assert first["paths"] == 3000 and first["seed"] == 5
    assert len(first["tranches"]) == 6
    probs = [t["vest_probability"] for t in first["tranches"]]
    assert probs == sorted(probs, reverse=True)  # higher GW and hurdles vest less often
    assert "30-day VWAP >= $600.00" in first["tranches"][-1]["conditions"]
    assert all(t["vesting"] == "concurrent" for t in first["tranches"])


def test_tables_and_out_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(["deal", str(EXAMPLES / "openai-cerebras.yaml"), "--paths", "2000", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    for words in ("Tranches", "Effective prices", "NPV to buyer", "Vesting timeline", "valuation points"):
        assert words in out
    report = (tmp_path / "report.html").read_text()
    assert "plotly" in report and "Vesting over time" in report and "Ownership path" in report
    assert "src='plotly.min.js'" in report and (tmp_path / "plotly.min.js").exists()  # no network needed
    assert (tmp_path / "tables.xlsx").exists() and (tmp_path / "tables" / "tranches.csv").exists()
    data = json.loads((tmp_path / "deal.json").read_text())
    assert data["deal"] == "openai-cerebras" and data["total"]["mean"] > 0


def test_plain_take_or_pay_has_no_warrant_rows(capsys: pytest.CaptureFixture[str]) -> None:
    run(["deal", str(EXAMPLES / "take-or-pay-capacity.yaml"), "--paths", "2000", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["tranches"] == [] and data["total"] is None
    assert data["prices"]["usd_per_mw_year"] == data["prices"]["net_usd_per_mw_year"]
    assert 0 < data["contract"]["shortfall_probability"] < 1


def test_public_api_matches_all() -> None:
    for name in deal_pkg.__all__:
        assert hasattr(deal_pkg, name)
