"""Contract terms a user writes: tranches that cannot vest (with the reason), multiplicative schedule risk, NPV
lines only from values that exist, bounded-memory percentiles and trading days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tokenfleet.cli import main
from tokenfleet.deal.calendar import nyse_holidays, trading_days
from tokenfleet.deal.load import load_deal, parse_deal
from tokenfleet.deal.stats import RELATIVE_BIN_WIDTH, StreamingDistribution
from tokenfleet.deal.valuation import value_deal

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "deals"


def two_gw(tranches: list[dict[str, Any]], **contract: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "contract": {
            "buyer": "B",
            "seller": "S",
            "start_date": "2026-01-01",
            "end_date": "2029-12-31",
            "pricing": {"usd_per_mw": 10e6},
            "deliveries": [{"date": "2027-01-01", "mw": 1000}, {"date": "2028-06-30", "mw": 1000}],
            **contract,
        },
        "company": {"name": "S", "share_price_usd": 100, "shares_outstanding": 1e9, "volatility": 0.5},
        "warrants": [
            {
                "name": "w",
                "holder": "B",
                "shares": 1e6,
                "strike_usd": 0.01,
                "expiry": "2028-12-31",
                "tranches": tranches,
            }
        ],
        "valuation": {"paths": 2000, "seed": 1},
    }


IMPOSSIBLE = [
    ({"shares": 1e5, "gw_delivered": 7}, "asks 7 GW delivered, but the contract delivers at most 2 GW"),
    ({"shares": 1e5, "spend_usd": 1e12}, "asks $1T of spend, but the contract can pay at most $20B"),
    (
        {"shares": 1e5, "gw_delivered": 2, "hurdle": {"price_usd": 50, "mode": "at_date", "date": "2027-06-30"}},
        "its price test is on 2027-06-30, before its milestone can be met (2028-06-30 at the earliest)",
    ),
    (
        {"shares": 1e5, "gw_delivered": 1, "hurdle": {"price_usd": 50, "window_end": "2026-12-01"}},
        "its price window closes on 2026-12-01, before its milestone can be met",
    ),
]


@pytest.mark.parametrize(("tranche", "reason"), IMPOSSIBLE, ids=[r[:30] for _, r in IMPOSSIBLE])
def test_tranche_that_cannot_vest_is_named_with_its_reason(tranche: dict[str, Any], reason: str) -> None:
    v = value_deal(parse_deal(two_gw([tranche])))
    tr = v.tranches[0]
    assert tr.vest_probability == 0.0 and tr.value_usd == 0.0 and tr.method == "cannot vest"
    assert tr.warning is not None and reason in tr.warning, tr.warning
    assert v.warnings == (f"T1: {tr.warning}",)


def test_milestone_after_expiry_and_sticky_window_that_closed() -> None:
    d = two_gw([{"shares": 1e5, "gw_delivered": 2}])
    d["contract"]["deliveries"][1]["date"] = "2029-06-30"
    first = value_deal(parse_deal(d)).tranches[0]
    assert (
        first.warning == "its milestone is met on 2029-06-30 at the earliest, after the warrant expires on 2028-12-31"
    )
    sticky = {
        "shares": 1e5,
        "gw_delivered": 1,
        "vesting": "sticky",
        "hurdle": {"price_usd": 50, "window_end": "2026-12-01"},
    }
    second = value_deal(parse_deal(two_gw([sticky]))).tranches[0]
    assert second.warning is None and second.vest_probability > 0.99  # sticky: the early touch (S0 > H) counts


def test_possible_tranche_has_no_warning_and_the_cli_prints_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    d = two_gw([{"shares": 1e5, "gw_delivered": 2}, {"shares": 1e5, "gw_delivered": 7}])
    v = value_deal(parse_deal(d))
    assert v.tranches[0].warning is None and v.tranches[0].vest_probability == 1.0
    f = tmp_path / "d.yaml"
    f.write_text(yaml.safe_dump(d))
    with pytest.raises(SystemExit) as info:
        main(["deal", str(f)])
    assert info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "warning: T2: asks 7 GW delivered" in " ".join(out.split())


def test_schedule_factor_is_shared_and_can_be_early() -> None:
    d = two_gw([{"shares": 1e5, "gw_delivered": 1}], schedule_risk={"sigma": 0.3})
    deal = parse_deal(d)
    c = deal.contract
    times = c.sample_times(np.random.default_rng(2), 20_000)
    sched = c.scheduled_times(True)[0]
    ratio = times / sched
    assert np.allclose(ratio[:, 0], ratio[:, 1])  # one factor per path for every delivery
    assert 0.47 < (ratio[:, 0] < 1.0).mean() < 0.53  # median factor 1: half the paths deliver early
    assert np.log(ratio[:, 0]).std() == pytest.approx(0.3, rel=0.03)
    own = parse_deal(two_gw([{"shares": 1e5, "gw_delivered": 1}], schedule_risk={"sigma": 0.3, "shared": False}))
    r2 = own.contract.sample_times(np.random.default_rng(2), 20_000) / sched
    assert abs(np.corrcoef(np.log(r2[:, 0]), np.log(r2[:, 1]))[0, 1]) < 0.05
    # additive delays still apply on top of the factor, and only make deliveries later
    both = parse_deal(
        two_gw(
            [{"shares": 1e5, "gw_delivered": 1}],
            schedule_risk={"sigma": 0.3},
            delivery_delay={"distribution": "slip", "probability": 1.0, "months": 6},
        )
    )
    t3 = both.contract.sample_times(np.random.default_rng(2), 20_000)
    assert np.allclose(t3 - times, 0.5)


def test_npv_only_from_values_that_exist(capsys: pytest.CaptureFixture[str]) -> None:
    v = value_deal(load_deal(EXAMPLES / "amd-openai.yaml"), paths=300)
    assert v.contract.pv_compute_value_usd is None and v.buyer_npv_usd is None
    assert v.buyer_net_cost_usd == pytest.approx(v.contract.pv_buyer_payments_usd - v.warrant_value_usd)
    with pytest.raises(SystemExit):
        main(["deal", str(EXAMPLES / "amd-openai.yaml"), "--paths", "200"])
    out = " ".join(capsys.readouterr().out.split())
    assert "NPV to buyer" not in out and "PV compute value" not in out
    assert "no NPV: the file gives no contract.market_usd_per_mw_year" in out
    with_market = value_deal(load_deal(EXAMPLES / "openai-cerebras.yaml"), paths=300)
    assert with_market.buyer_npv_usd is not None


def test_streaming_percentiles_match_numpy_within_a_bin() -> None:
    rng = np.random.default_rng(4)
    values = np.concatenate([np.zeros(30_000), rng.lognormal(20.0, 1.5, 70_000)])
    rng.shuffle(values)
    d = StreamingDistribution()
    for chunk in np.array_split(values, 13):
        d.add(chunk)
    assert d.zeros == 30_000 and d.n == values.size
    assert d.moments.mean[0] == pytest.approx(values.mean(), rel=1e-12)
    for q in (5, 25, 30, 31, 50, 75, 95, 99.9):
        exact = float(np.percentile(values, q))
        got = d.percentile(q)
        assert got == pytest.approx(exact, rel=2 * RELATIVE_BIN_WIDTH, abs=1e-9), q
    assert d.counts.nbytes < 300_000  # fixed, whatever the number of paths


def test_nyse_calendar() -> None:
    # NYSE's published holidays for 2027 (Juneteenth and Christmas on Saturdays are observed the Friday before)
    assert sorted(nyse_holidays(2027)) == [
        dt.date(2027, 1, 1), dt.date(2027, 1, 18), dt.date(2027, 2, 15), dt.date(2027, 3, 26), dt.date(2027, 5, 31),
        dt.date(2027, 6, 18), dt.date(2027, 7, 5), dt.date(2027, 9, 6), dt.date(2027, 11, 25), dt.date(2027, 12, 24),
    ]  # fmt: skip
    assert dt.date(2028, 1, 1) not in nyse_holidays(2028) and dt.date(2027, 12, 31) not in nyse_holidays(2027)
    assert len(trading_days(dt.date(2026, 1, 1), dt.date(2026, 12, 31))) == 251
