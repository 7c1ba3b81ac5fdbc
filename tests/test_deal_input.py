"""Bad deal files: a clear message naming the field, and exit code 2 from the CLI."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from tokenfleet.cli import main
from tokenfleet.deal.load import load_deal, parse_deal
from tokenfleet.errors import ScenarioError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "deals"

GOOD: dict[str, Any] = {
    "name": "t",
    "contract": {
        "buyer": "B",
        "seller": "S",
        "start_date": "2026-01-01",
        "end_date": "2029-12-31",
        "pricing": {"usd_per_mw_year": 1e7},
        "deliveries": [{"date": "2026-06-30", "mw": 100}, {"date": "2027-06-30", "mw": 100}],
        "commitments": [{"by": "2029-12-31", "minimum_spend_usd": 1e9}],
        "financing": [{"kind": "loan", "amount_usd": 1e8, "date": "2026-01-01", "maturity": "2028-01-01"}],
    },
    "company": {"name": "S", "share_price_usd": 50, "shares_outstanding": 1e8, "volatility": 0.6},
    "warrants": [
        {
            "name": "w",
            "holder": "B",
            "shares": 1e6,
            "strike_usd": 0.01,
            "expiry": "2030-12-31",
            "tranches": [
                {"shares": 4e5, "spend_usd": 1e9, "hurdle": {"price_usd": 60}},
                {"shares": 6e5, "spend_usd": 2e9, "hurdle": {"price_usd": 80, "window_end": "2030-06-30"}},
            ],
        }
    ],
}


def mutate(path: str, value: Any) -> dict[str, Any]:
    d = copy.deepcopy(GOOD)
    keys = path.split(".")
    node: Any = d
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return d


_DELETE = object()

# (mutation path, value, field named in the message, words in the message)
BAD = [
    ("warrants.0.tranches.1.shares", -5.0, "warrants.0.tranches.1.shares", "must be > 0"),
    ("warrants.0.tranches.1.shares", 9e5, "warrants.0.tranches", "beyond the warrant"),
    (
        "warrants.0.tranches.1.hurdle.price_usd",
        55.0,
        "warrants.0.tranches.1.hurdle.price_usd",
        "must not decrease",
    ),
    ("warrants.0.tranches.1.spend_usd", 5e8, "warrants.0.tranches.1.spend_usd", "must not decrease"),
    ("contract.deliveries.1.date", "2031-01-01", "contract.deliveries.1.date", "outside the term"),
    ("contract.deliveries.0.mw", -1.0, "contract.deliveries.0.mw", "must be >= 0"),
    ("contract.commitments.0.by", "2025-01-01", "contract.commitments.0.by", "outside the term"),
    ("contract.commitments.0.minimum_spend_usd", -1.0, "contract.commitments.0.minimum_spend_usd", ">= 0"),
    ("contract.financing.0.maturity", "2025-06-01", "contract.financing.0.maturity", "maturity after"),
    ("contract.financing.0.amount_usd", -1e9, "contract.financing.0.amount_usd", "must be > 0"),
    ("contract.end_date", "2025-12-31", "contract.end_date", "not after start_date"),
    ("warrants.0.expiry", "2025-06-01", "warrants.0.expiry", "not after the deal start"),
    (
        "warrants.0.tranches.1.hurdle.window_end",
        "2031-06-30",
        "warrants.0.tranches.1.hurdle.window_end",
        "expiry",
    ),
    (
        "warrants.0.tranches.0.hurdle",
        {"price_usd": 60, "mode": "at_date"},
        "warrants.0.tranches.0.hurdle.date",
        "needs a date",
    ),
    ("company", _DELETE, "company", "required"),
    ("company.volatility", 0, "company.volatility", "must be > 0"),
    ("contract.deliveries", [], "contract.deliveries", "no deliveries"),
    ("warrants.0.strike_usd", -0.01, "warrants.0.strike_usd", ">= 0"),
    ("warrants.0.tranches.0.colour", "red", "warrants.0.tranches.0.colour", "unknown field"),
    ("contract.buyer", _DELETE, "contract.buyer", "missing"),
    # numbers that make no physical sense, with the reason in the field's units
    ("company.dividend_yield", math.inf, "company.dividend_yield", "finite"),
    ("company.dividend_yield", 2.0, "company.dividend_yield", "fraction per year"),
    ("company.volatility", 50, "company.volatility", "0.5 is 50 %/yr"),
    ("company.share_price_usd", math.nan, "company.share_price_usd", "finite"),
    ("warrants.0.shares", math.inf, "warrants.0.shares", "finite"),
    ("company.shares_outstanding", 5e5, "warrants.0.shares", "exceed the 500,000 shares outstanding"),
    ("warrants.0.tranches.0.name", "", "warrants.0.tranches.0.name", "must not be empty"),
    ("warrants.0.tranches.0.name", "   ", "warrants.0.tranches.0.name", "blank"),
    ("company.name", "x" * 200_000, "company.name", "at most 200 characters"),
    ("valuation", {"paths": "1e9"}, "valuation.paths", "1,000,000,000 paths would take about 128 min"),
    ("valuation", {"paths": 1500.5}, "valuation.paths", "whole number"),
    ("valuation", {"seed": -1}, "valuation.seed", ">= 0"),
    ("company.jumps", {"intensity_per_year": 1e9}, "company.jumps.intensity_per_year", "jumps per year"),
    ("contract.schedule_risk", {"sigma": -0.1}, "contract.schedule_risk.sigma", ">= 0"),
    (
        "warrants.0.tranches.0.hurdle",
        {"price_usd": 60, "monitoring": "continuous", "vwap_days": 20},
        "warrants.0.tranches.0.hurdle.monitoring",
        "trading-day closes",
    ),
    (
        "warrants.0.tranches.0.hurdle",
        {"price_usd": 60, "vwap_days": 0},
        "warrants.0.tranches.0.hurdle.vwap_days",
        ">= 1",
    ),
    ("warrants.0.tranches.0.vesting", "eventually", "warrants.0.tranches.0.vesting", "concurrent"),
]


def test_duplicate_tranche_names() -> None:
    d = copy.deepcopy(GOOD)
    d["warrants"][0]["tranches"][0]["name"] = "A"
    d["warrants"][0]["tranches"][1]["name"] = "A"
    with pytest.raises(ScenarioError, match=r"deal.yaml: warrants.0.tranches.1.name: 'A' is already the name"):
        parse_deal(d, "deal.yaml")
    d["warrants"][0]["tranches"][0]["name"] = "T2"  # collides with the default name of the second tranche
    d["warrants"][0]["tranches"][1].pop("name")
    with pytest.raises(ScenarioError, match="'T2' is already the name of tranche 0"):
        parse_deal(d, "deal.yaml")


def test_long_name_is_not_echoed_back() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_deal(mutate("company.name", "x" * 200_000), "deal.yaml")
    assert len(str(info.value)) < 300 and "200,000-character" in str(info.value)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--paths", "2e9"], "2,000,000,000 paths would take about"),
        (["--paths", "2000000000"], "the limit is 100,000,000"),
        (["--paths", "12.5"], "not a whole number"),
        (["--paths", "many"], "not a number of paths"),
        (["--paths", "9" * 40], "more than 1e15 paths"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_cli_flags_out_of_range_exit_2(args: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["deal", str(EXAMPLES / "amd-openai.yaml"), *args])
    assert info.value.code == 2
    assert words in capsys.readouterr().err


def test_paths_written_as_1e6_are_accepted() -> None:
    d = copy.deepcopy(GOOD)
    d["valuation"] = {"paths": "1e5"}
    assert parse_deal(d).settings.paths == 100_000


def test_good_file_parses() -> None:
    deal = parse_deal(GOOD)
    assert len(deal.tranches()) == 2 and deal.warrants[0].shares == 1e6


@pytest.mark.parametrize(("path", "value", "field", "words"), BAD, ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_bad_input_names_the_field(path: str, value: Any, field: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_deal(mutate(path, value), "deal.yaml")
    msg = str(info.value)
    assert msg.startswith(f"deal.yaml: {field}:"), msg
    assert words in msg, msg


def test_cli_exits_2_with_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(mutate("warrants.0.tranches.1.shares", 9e5)))
    with pytest.raises(SystemExit) as info:
        main(["deal", str(bad)])
    assert info.value.code == 2
    assert "bad.yaml: warrants.0.tranches" in capsys.readouterr().err


def test_missing_file_and_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ScenarioError, match="not found"):
        load_deal(tmp_path / "nope.yaml")
    with pytest.raises(SystemExit) as info:
        main(["deal"])
    assert info.value.code == 2
    assert "examples/deals/openai-cerebras.yaml" in capsys.readouterr().err


def test_not_yaml(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"x\.yaml: not valid YAML"):
        load_deal(p)


@pytest.mark.parametrize("name", ["openai-cerebras", "amd-openai", "take-or-pay-capacity"])
def test_shipped_examples_load_and_cite_sources(name: str) -> None:
    deal = load_deal(EXAMPLES / f"{name}.yaml")
    assert deal.sources and all(s.url.startswith("http") for s in deal.sources)
    assert deal.assumptions
    text = (EXAMPLES / f"{name}.yaml").read_text().lower()
    assert "assumption" in text and ("disagree" in text or "not public" in text)
