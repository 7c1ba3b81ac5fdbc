"""Monte Carlo against closed forms (within three standard errors), martingale checks, seeds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tokenfleet.deal.closed_form import at_date_tranche_value, bs_call, touch_tranche_value
from tokenfleet.deal.load import parse_deal
from tokenfleet.deal.montecarlo import chunk_rng, simulate_log_prices
from tokenfleet.deal.valuation import value_deal
from tokenfleet.deal.warrant import Equity


def deal_dict(tranches: list[dict[str, Any]], **company: Any) -> dict[str, Any]:
    return {
        "name": "test",
        "contract": {
            "buyer": "B",
            "seller": "S",
            "start_date": "2026-01-01",
            "end_date": "2030-12-31",
            "pricing": {"usd_per_mw": 10e6},
            "deliveries": [{"date": "2027-01-01", "mw": 1000}, {"date": "2028-01-01", "mw": 1000}],
        },
        "company": {
            "name": "S",
            "share_price_usd": 100,
            "shares_outstanding": 1e9,
            "volatility": 0.5,
            **company,
        },
        "warrants": [
            {
                "name": "w",
                "holder": "B",
                "shares": 1e6,
                "strike_usd": 0.0,
                "expiry": "2029-01-01",
                "tranches": tranches,
            }
        ],
        "valuation": {"risk_free_rate": 0.04, "paths": 100_000, "seed": 11},
    }


def within_3se(mc: float, se: float, truth: float) -> bool:
    return abs(mc - truth) <= 3.0 * se


def test_single_touch_tranche_matches_one_touch_closed_form() -> None:
    deal = parse_deal(deal_dict([{"shares": 1e6, "hurdle": {"price_usd": 150}}]))
    v = value_deal(deal)
    tr = v.tranches[0]
    t_exp = deal.warrants[0].expiry_years
    truth = 1e6 * touch_tranche_value(100.0, 150.0, t_exp, t_exp, 0.0, 0.04, 0.0, 0.5)
    assert tr.closed_form_usd == pytest.approx(truth)
    assert tr.method == "one-touch closed form"
    assert within_3se(tr.value_usd, tr.stderr_usd, truth), (tr.value_usd, tr.stderr_usd, truth)


def test_touch_tranche_with_strike_and_dividend_matches_quadrature() -> None:
    d = deal_dict([{"shares": 1e6, "hurdle": {"price_usd": 130, "window_end": "2028-01-01"}}], dividend_yield=0.02)
    d["warrants"][0]["strike_usd"] = 20.0
    deal = parse_deal(d)
    tr = value_deal(deal).tranches[0]
    w = deal.warrants[0]
    h = w.tranches[0].hurdle
    assert h is not None
    truth = 1e6 * touch_tranche_value(100.0, 130.0, h.window_end_years, w.expiry_years, 20.0, 0.04, 0.02, 0.5)
    assert within_3se(tr.value_usd, tr.stderr_usd, truth), (tr.value_usd, tr.stderr_usd, truth)


def test_touch_in_a_window_that_opens_later_matches_its_closed_form() -> None:
    d = deal_dict(
        [{"shares": 1e6, "hurdle": {"price_usd": 150, "window_start": "2027-01-01", "window_end": "2028-06-30"}}]
    )
    d["warrants"][0]["strike_usd"] = 10.0
    tr = value_deal(parse_deal(d)).tranches[0]
    assert tr.method.startswith("one-touch from the window's start") and tr.closed_form_usd is not None
    assert within_3se(tr.value_usd, tr.stderr_usd, tr.closed_form_usd), (
        tr.value_usd,
        tr.stderr_usd,
        tr.closed_form_usd,
    )
    # an always-open window from the start is worth more (it contains this one)
    d2 = deal_dict([{"shares": 1e6, "hurdle": {"price_usd": 150, "window_end": "2028-06-30"}}])
    d2["warrants"][0]["strike_usd"] = 10.0
    assert value_deal(parse_deal(d2), paths=2000).tranches[0].closed_form_usd > tr.closed_form_usd


def test_at_date_tranche_matches_gap_call() -> None:
    deal = parse_deal(
        deal_dict([{"shares": 1e6, "hurdle": {"price_usd": 140, "mode": "at_date", "date": "2028-01-01"}}])
    )
    tr = value_deal(deal).tranches[0]
    w = deal.warrants[0]
    h = w.tranches[0].hurdle
    assert h is not None
    t_test = h.test_years  # tested on the date itself (a grid point), not the nearest month
    assert tr.closed_form_usd == pytest.approx(
        1e6 * at_date_tranche_value(100.0, 140.0, t_test, w.expiry_years, 0.0, 0.04, 0.0, 0.5)
    )
    truth = 1e6 * at_date_tranche_value(100.0, 140.0, t_test, w.expiry_years, 0.0, 0.04, 0.0, 0.5)
    assert within_3se(tr.value_usd, tr.stderr_usd, truth)


def test_performance_only_tranche_is_probability_times_black_scholes() -> None:
    d = deal_dict([{"shares": 1e6, "gw_delivered": 2}])
    d["contract"]["delivery_delay"] = {"distribution": "lognormal", "median_months": 6, "sigma": 1.0}
    deal = parse_deal(d)
    tr = value_deal(deal).tranches[0]
    assert 0.2 < tr.vest_probability < 0.99  # the delay makes it uncertain
    bs = 1e6 * float(bs_call(100.0, 0.0, deal.warrants[0].expiry_years, 0.04, 0.0, 0.5))
    assert within_3se(tr.value_usd, tr.stderr_usd, tr.vest_probability * bs)


def test_plain_tranche_is_black_scholes() -> None:
    d = deal_dict([{"shares": 1e6}])
    d["warrants"][0]["strike_usd"] = 90.0
    tr = value_deal(parse_deal(d)).tranches[0]
    assert tr.vest_probability == 1.0 and tr.method == "Black–Scholes"
    # vested at grant: every path holds the same option, so MC equals Black–Scholes up to float32 log prices
    assert tr.value_usd == pytest.approx(tr.closed_form_usd or 0.0, rel=1e-6)
    assert tr.stderr_usd < 1e-6 * tr.value_usd


@pytest.mark.parametrize("intensity", [0.0, 0.3, 4.0])  # none, rare (sparse draw), frequent (dense draw)
def test_discounted_price_is_a_martingale(intensity: float) -> None:
    eq = Equity(
        "x",
        100.0,
        1e9,
        0.5,
        dividend_yield=0.01,
        jump_intensity_per_year=intensity,
        jump_mean=-0.1,
        jump_stdev=0.2,
    )
    log_s, _ = simulate_log_prices(eq, 0.04, 1 / 12, 36, 200_000, chunk_rng(5, 0, 0), False)
    disc = np.exp(log_s[:, -1].astype(np.float64)) * math.exp(-(0.04 - 0.01) * 3)
    assert within_3se(float(disc.mean()), float(disc.std() / math.sqrt(disc.size)), 100.0)


def test_bridge_maximum_is_above_both_ends() -> None:
    eq = Equity("x", 100.0, 1e9, 0.4)
    log_s, step_max = simulate_log_prices(eq, 0.04, 1 / 12, 24, 1000, chunk_rng(1, 0, 0), True)
    assert step_max is not None
    assert np.all(step_max >= np.maximum(log_s[:, :-1], log_s[:, 1:]) - 1e-6)


def test_fixed_seed_reproduces_and_other_seed_differs() -> None:
    deal = parse_deal(
        deal_dict(
            [
                {"shares": 5e5, "gw_delivered": 1, "hurdle": {"price_usd": 120}},
                {"shares": 5e5, "gw_delivered": 2, "hurdle": {"price_usd": 180}},
            ]
        )
    )
    a = value_deal(deal, paths=40_000, seed=3)
    b = value_deal(deal, paths=40_000, seed=3)
    c = value_deal(deal, paths=40_000, seed=4)
    assert [t.value_usd for t in a.tranches] == [t.value_usd for t in b.tranches]
    assert a.total == b.total
    assert a.tranches[1].value_usd != c.tranches[1].value_usd


def test_tranche_that_cannot_vest_is_worth_zero() -> None:
    # 3 GW needed, only 2 GW can ever be delivered; and a hurdle far above reach inside a tiny window
    deal = parse_deal(
        deal_dict(
            [
                {"shares": 5e5, "gw_delivered": 3},
                {"shares": 5e5, "gw_delivered": 3, "hurdle": {"price_usd": 1e6, "window_end": "2026-02-01"}},
            ]
        )
    )
    v = value_deal(deal, paths=5_000)
    for tr in v.tranches:
        assert tr.vest_probability == 0.0 and tr.value_usd == 0.0 and tr.expected_vest_date is None
    assert v.total is not None and v.total.probability_zero == 1.0
