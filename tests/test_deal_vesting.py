"""Vesting rule on hand-made paths: a table of conditions, paths and the expected vesting time and price."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tokenfleet.deal.warrant import (
    Hurdle,
    PathBlock,
    TouchCache,
    Tranche,
    first_grid_time_at_least,
    mw_hit_years,
    vest_tranche,
)

DT = 0.25  # quarterly grid, t = 0, 0.25, ..., 2.0
PRICES = [100, 110, 125, 118, 140, 160, 150, 170, 190]  # one path, grid values
SPEND = [0, 1, 2, 3, 4, 5, 6, 7, 8]  # $B, cumulative
INF = math.inf


def block(step_max_bump: float = 0.0) -> PathBlock:
    log_s = np.log(np.array([PRICES], dtype=np.float64))
    step_max = np.maximum(log_s[:, :-1], log_s[:, 1:]) + step_max_bump
    times = np.array([[0.6, 1.1]])  # two deliveries of 500 MW
    hits = {
        g: first_grid_time_at_least(mw_hit_years(times, np.array([500.0, 500.0]), g), DT)
        for g in (500.0, 1000.0)
    }
    spend = np.array([SPEND], dtype=np.float64) * 1e9
    return PathBlock(dt=DT, log_s=log_s, step_max=step_max, spend=spend, mw_hit_years=hits)


# (tranche, expiry, expected tau, expected price at vesting)
CASES = [
    ("no condition", Tranche("a", 1.0), 2.0, 0.0, 100.0),
    ("spend 3B", Tranche("a", 1.0, spend_usd=3e9), 2.0, 0.75, 118.0),
    ("spend 2.5B waits for next grid", Tranche("a", 1.0, spend_usd=2.5e9), 2.0, 0.75, 118.0),
    ("spend never", Tranche("a", 1.0, spend_usd=9e9), 2.0, INF, None),
    ("first 500 MW at 0.6 -> checked at 0.75", Tranche("a", 1.0, mw_delivered=500.0), 2.0, 0.75, 118.0),
    ("1 GW at 1.1 -> 1.25", Tranche("a", 1.0, mw_delivered=1000.0), 2.0, 1.25, 160.0),
    (
        "touch 120: between t=0.25 and 0.5",
        Tranche("a", 1.0, hurdle=Hurdle(120.0, "touch")),
        2.0,
        0.375,
        120.0,
    ),
    (
        "touch 120 AND spend 4B: spend binds",
        Tranche("a", 1.0, spend_usd=4e9, hurdle=Hurdle(120.0, "touch")),
        2.0,
        1.0,
        140.0,
    ),
    (
        "spend 1B AND touch 150: touch binds",
        Tranche("a", 1.0, spend_usd=1e9, hurdle=Hurdle(150.0, "touch")),
        2.0,
        1.125,
        150.0,
    ),
    (
        "touch met before window opens does not count",
        Tranche("a", 1.0, hurdle=Hurdle(120.0, "touch", window_start_years=0.75, window_end_years=2.0)),
        2.0,
        0.875,
        120.0,
    ),
    (
        "window starts above the level",
        Tranche("a", 1.0, hurdle=Hurdle(120.0, "touch", window_start_years=1.25)),
        2.0,
        1.25,
        160.0,
    ),
    ("touch 200 never", Tranche("a", 1.0, hurdle=Hurdle(200.0, "touch")), 2.0, INF, None),
    (
        "touch stays met after its window",
        Tranche("a", 1.0, spend_usd=7e9, hurdle=Hurdle(120.0, "touch", window_end_years=0.5)),
        2.0,
        1.75,
        170.0,
    ),
    (
        "at_date 150 on t=1.5 (price 150)",
        Tranche("a", 1.0, hurdle=Hurdle(150.0, "at_date", test_years=1.5)),
        2.0,
        1.5,
        150.0,
    ),
    ("at_date 155 fails", Tranche("a", 1.0, hurdle=Hurdle(155.0, "at_date", test_years=1.5)), 2.0, INF, None),
    (
        "at_date with spend not met by the date",
        Tranche("a", 1.0, spend_usd=7e9, hurdle=Hurdle(100.0, "at_date", test_years=1.5)),
        2.0,
        INF,
        None,
    ),
    ("vests after expiry -> lapses", Tranche("a", 1.0, spend_usd=6e9), 1.4, INF, None),
    (
        "1 GW AND touch 180: both",
        Tranche("a", 1.0, mw_delivered=1000.0, hurdle=Hurdle(180.0, "touch")),
        2.0,
        1.875,
        180.0,
    ),
]


@pytest.mark.parametrize(("label", "tranche", "expiry", "tau", "price"), CASES, ids=[c[0] for c in CASES])
def test_vesting_table(label: str, tranche: Tranche, expiry: float, tau: float, price: float | None) -> None:
    b = block()
    got_tau, got_price = vest_tranche(tranche, b, TouchCache(b), expiry)
    assert got_tau[0] == pytest.approx(tau), label
    if price is None:
        assert math.isnan(got_price[0])
    else:
        assert got_price[0] == pytest.approx(price), label


def test_bridge_maximum_can_trigger_a_touch_between_grid_points() -> None:
    # with a bridge maximum above both ends, 112 is touched in the first step although no grid price is >= 112
    b = block(step_max_bump=math.log(1.02))
    tau, price = vest_tranche(Tranche("a", 1.0, hurdle=Hurdle(112.0, "touch")), b, TouchCache(b), 2.0)
    assert tau[0] == pytest.approx(0.125) and price[0] == pytest.approx(112.0)


def test_mw_hit_uses_delivery_order_not_file_order() -> None:
    times = np.array([[2.0, 0.5, 1.0], [0.1, np.inf, 0.2]])
    mw = np.array([300.0, 300.0, 400.0])
    assert mw_hit_years(times, mw, 700.0).tolist() == [1.0, 0.2]
    assert mw_hit_years(times, mw, 800.0).tolist() == [2.0, np.inf]
    assert mw_hit_years(times, mw, 300.0).tolist() == [0.5, 0.1]
