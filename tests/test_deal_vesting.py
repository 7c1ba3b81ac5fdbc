"""Vesting rules on hand-made paths: a table of tranches, milestone times and the expected vesting time and price.

With volatility 0 the Brownian bridge between grid points is the straight line in log price and the bridge
maximum of a step is the larger end, so every expected value below can be worked out by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenfleet.deal.grid import Grid
from tokenfleet.deal.vesting import Paths, first_from, vest
from tokenfleet.deal.warrant import Hurdle, Tranche, mw_hit_years

T = np.arange(9) * 0.25  # quarterly grid, t = 0 .. 2
PRICES = [100, 110, 125, 118, 140, 160, 150, 170, 190]
INF = math.inf


def s_at(t: float) -> float:
    """Log-linear interpolation of PRICES (the zero-volatility bridge)."""
    i = min(int(t / 0.25), 7)
    f = (t - T[i]) / 0.25
    return math.exp(math.log(PRICES[i]) + f * (math.log(PRICES[i + 1]) - math.log(PRICES[i])))


def paths(closes: bool = False) -> Paths:
    log_s = np.log(np.array([PRICES], dtype=np.float64))
    step_max = np.maximum(log_s[:, :-1], log_s[:, 1:])
    grid = Grid(t=T.copy(), is_close=np.full(T.size, closes), trading=closes)
    return Paths(grid, log_s, step_max, 0.0, np.random.default_rng(0), math.log(100.0))


def touch(h: float, **kw: float) -> Hurdle:
    return Hurdle(h, "touch", **kw)  # type: ignore[arg-type]


# (label, tranche, milestone time, expiry, expected tau, expected price at vesting)
CASES = [
    ("no condition", Tranche("a", 1.0), 0.0, 2.0, 0.0, 100.0),
    (
        "milestone at its exact time, not the next grid point",
        Tranche("a", 1.0, mw_delivered=1.0),
        0.6,
        2.0,
        0.6,
        s_at(0.6),
    ),
    ("milestone never met", Tranche("a", 1.0, mw_delivered=1.0), INF, 2.0, INF, None),
    ("milestone after expiry lapses", Tranche("a", 1.0, mw_delivered=1.0), 1.9, 1.75, INF, None),
    ("milestone just before expiry vests", Tranche("a", 1.0, mw_delivered=1.0), 1.74, 1.75, 1.74, s_at(1.74)),
    ("touch alone: inside step 1", Tranche("a", 1.0, hurdle=touch(120.0)), 0.0, 2.0, 0.375, 120.0),
    ("touch never", Tranche("a", 1.0, hurdle=touch(200.0)), 0.0, 2.0, INF, None),
    # concurrent: both on one date
    (
        "concurrent: price above H at the milestone",
        Tranche("a", 1.0, 1e9, hurdle=touch(120.0)),
        0.6,
        2.0,
        0.6,
        s_at(0.6),
    ),
    (
        "concurrent: waits for a touch after the milestone",
        Tranche("a", 1.0, 1e9, hurdle=touch(124.0)),
        0.6,
        2.0,
        0.875,
        124.0,
    ),
    (
        "concurrent: touch in the milestone's own step",
        Tranche("a", 1.0, 1e9, hurdle=touch(124.0)),
        0.3,
        2.0,
        0.4,
        124.0,
    ),
    (
        "concurrent: window closed before the milestone",
        Tranche("a", 1.0, 1e9, hurdle=touch(120.0, window_end_years=0.5)),
        0.6,
        2.0,
        INF,
        None,
    ),
    (
        "concurrent: window opens after the milestone",
        Tranche("a", 1.0, 1e9, hurdle=touch(160.0, window_start_years=1.5)),
        0.6,
        2.0,
        1.625,
        160.0,
    ),
    # sticky: each condition stays met
    (
        "sticky: touch before the milestone counts",
        Tranche("a", 1.0, 1e9, hurdle=touch(124.0), vesting="sticky"),
        0.6,
        2.0,
        0.6,
        s_at(0.6),
    ),
    (
        "sticky: touch after the milestone",
        Tranche("a", 1.0, 1e9, hurdle=touch(150.0), vesting="sticky"),
        0.6,
        2.0,
        1.125,
        150.0,
    ),
    (
        "sticky: touch in a window that closed",
        Tranche("a", 1.0, 1e9, hurdle=touch(120.0, window_end_years=0.5), vesting="sticky"),
        1.6,
        2.0,
        1.6,
        s_at(1.6),
    ),
    (
        "sticky: touch before the window does not count",
        Tranche("a", 1.0, 1e9, hurdle=touch(120.0, window_start_years=0.75), vesting="sticky"),
        0.1,
        2.0,
        0.875,
        120.0,
    ),
    (
        "sticky: vests after expiry -> lapses",
        Tranche("a", 1.0, 1e9, hurdle=touch(120.0), vesting="sticky"),
        1.8,
        1.75,
        INF,
        None,
    ),
    # at-date tests
    ("at_date passes", Tranche("a", 1.0, hurdle=Hurdle(150.0, "at_date", test_years=1.5)), 0.0, 2.0, 1.5, 150.0),
    ("at_date fails on price", Tranche("a", 1.0, hurdle=Hurdle(155.0, "at_date", test_years=1.5)), 0.0, 2.0, INF, None),
    (
        "at_date before the milestone",
        Tranche("a", 1.0, 1e9, hurdle=Hurdle(100.0, "at_date", test_years=1.5)),
        1.6,
        2.0,
        INF,
        None,
    ),
]


@pytest.mark.parametrize(("label", "tranche", "t_perf", "expiry", "tau", "price"), CASES, ids=[c[0] for c in CASES])
def test_vesting_table(
    label: str, tranche: Tranche, t_perf: float, expiry: float, tau: float, price: float | None
) -> None:
    got_tau, got_price = vest(tranche, paths(), np.array([t_perf]), expiry)
    assert got_tau[0] == pytest.approx(tau), label
    if price is None:
        assert math.isnan(got_price[0])
    else:
        assert got_price[0] == pytest.approx(price), label


CLOSE_CASES = [
    ("close: first close at or above H", Hurdle(124.0, "touch", monitoring="close"), 0.0, 0.5, 125.0),
    ("close: first close after the milestone", Hurdle(124.0, "touch", monitoring="close"), 0.6, 1.0, 140.0),
    # 2-day average close: (110+125)/2 = 117.5, (125+118)/2 = 121.5, (118+140)/2 = 129 -> first >= 125 at t=1.0
    ("average of 2 closes", Hurdle(125.0, "touch", monitoring="close", average_days=2), 0.0, 1.0, 140.0),
    # 2-day VWAP: daily (prev+close)/2: 105, 117.5, 121.5, 129, 150 -> 2-day mean >= 125: (121.5+129)/2 at t=1.0
    ("2-day VWAP", Hurdle(125.0, "touch", monitoring="close", average_days=2, average_kind="vwap"), 0.0, 1.0, 140.0),
    ("close at date: 150 on t=1.5", Hurdle(150.0, "at_date", test_years=1.5, monitoring="close"), 0.0, 1.5, 150.0),
    ("closes never reach 191", Hurdle(191.0, "touch", monitoring="close"), 0.0, INF, None),
    ("close at date fails below H", Hurdle(151.0, "at_date", test_years=1.5, monitoring="close"), 0.0, INF, None),
    (
        "2-day average at date",
        Hurdle(155.0, "at_date", test_years=1.5, monitoring="close", average_days=2),
        0.0,
        1.5,
        150.0,
    ),
]


@pytest.mark.parametrize(("label", "hurdle", "t_perf", "tau", "price"), CLOSE_CASES, ids=[c[0] for c in CLOSE_CASES])
def test_closing_price_tests(label: str, hurdle: Hurdle, t_perf: float, tau: float, price: float | None) -> None:
    got_tau, got_price = vest(Tranche("a", 1.0, 1e9, hurdle=hurdle), paths(closes=True), np.array([t_perf]), 2.0)
    assert got_tau[0] == pytest.approx(tau), label
    if price is None:
        assert math.isnan(got_price[0])
    else:
        assert got_price[0] == pytest.approx(price), label


def test_bridge_maximum_can_trigger_a_touch_between_grid_points() -> None:
    p = paths()
    assert p.step_max is not None
    p.step_max[0, 0] += math.log(1.02)  # a maximum above both ends of the first step
    tau, price = vest(Tranche("a", 1.0, hurdle=touch(111.0)), p, np.array([0.0]), 2.0)
    assert tau[0] == pytest.approx(0.125) and price[0] == pytest.approx(111.0)


def test_bridge_point_has_the_brownian_bridge_law() -> None:
    # S at t=0.1 inside [0, 0.25] from 100 to 110: mean log-linear, variance sigma^2 * 0.1 * 0.15 / 0.25
    m, sigma = 200_000, 0.4
    log_s = np.tile(np.log(np.array([[100.0, 110.0]])), (m, 1))
    grid = Grid(t=np.array([0.0, 0.25]), is_close=np.zeros(2, bool), trading=False)
    p = Paths(grid, log_s, None, sigma, np.random.default_rng(3), math.log(100.0))
    x, _, _ = p.bridge_at(np.full(m, 0.1), "k")
    assert x.mean() == pytest.approx(math.log(100.0) + 0.4 * math.log(1.1), abs=4 * sigma * 0.245 / math.sqrt(m))
    assert x.var() == pytest.approx(sigma**2 * 0.1 * 0.15 / 0.25, rel=0.02)


def test_first_from() -> None:
    cond = np.array([[True, False, True, False], [False, False, False, True], [True, True, False, False]])
    assert first_from(cond.copy(), np.array([1, 0, 2]), 4).tolist() == [2, 3, 4]
    assert first_from(cond.copy(), np.array([0, 0, 0]), 3).tolist() == [0, 3, 0]


def test_mw_hit_uses_delivery_order_not_file_order() -> None:
    times = np.array([[2.0, 0.5, 1.0], [0.1, np.inf, 0.2]])
    mw = np.array([300.0, 300.0, 400.0])
    assert mw_hit_years(times, mw, 700.0).tolist() == [1.0, 0.2]
    assert mw_hit_years(times, mw, 800.0).tolist() == [2.0, np.inf]
    assert mw_hit_years(times, mw, 300.0).tolist() == [0.5, 0.1]


@settings(max_examples=60, deadline=None)
@given(
    prices=st.lists(st.floats(50.0, 200.0), min_size=9, max_size=9),
    t_perf=st.floats(0.0, 2.2),
    level=st.floats(60.0, 210.0),
    window_start=st.sampled_from([0.0, 0.5, 1.25]),
    closes=st.booleans(),
)
def test_sticky_never_vests_later_than_concurrent(
    prices: list[float], t_perf: float, level: float, window_start: float, closes: bool
) -> None:
    # any path, milestone and hurdle: whenever the concurrent rule vests, the sticky rule has vested by then
    log_s = np.log(np.array([prices]))
    grid = Grid(t=T.copy(), is_close=np.full(T.size, closes), trading=closes)
    p = Paths(grid, log_s, np.maximum(log_s[:, :-1], log_s[:, 1:]), 0.0, np.random.default_rng(0), log_s[0, 0])
    h = Hurdle(level, "touch", window_start_years=window_start, monitoring="close" if closes else "continuous")
    tau_c, _ = vest(Tranche("c", 1.0, 1e9, hurdle=h), p, np.array([t_perf]), 2.0)
    tau_s, _ = vest(Tranche("s", 1.0, 1e9, hurdle=h, vesting="sticky"), p, np.array([t_perf]), 2.0)
    assert tau_s[0] <= tau_c[0] + 1e-12
    if np.isfinite(tau_c[0]):
        assert tau_c[0] >= max(t_perf, window_start) - 1e-12
