"""Closed forms against independent truths: textbook values, put-call parity, reflection principle, limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from tokenfleet.deal.closed_form import (
    at_date_tranche_value,
    bs_call,
    bs_put,
    first_passage_density,
    hit_laplace,
    one_touch_at_hit,
    touch_probability,
    touch_tranche_value,
)

# (S, K, T, r, q, sigma, call, put) from textbooks
TEXTBOOK = [
    (42.0, 40.0, 0.5, 0.10, 0.0, 0.20, 4.76, 0.81),  # Hull, Options Futures & Other Derivatives, Example 15.6
    (60.0, 65.0, 0.25, 0.08, 0.0, 0.30, 2.1334, None),  # Haug, Complete Guide, §1.1.1
    (100.0, 95.0, 0.5, 0.10, 0.05, 0.20, None, 2.4648),  # Haug §1.1.3 (Merton 1973, dividend yield)
]


@pytest.mark.parametrize(("s", "k", "t", "r", "q", "sig", "call", "put"), TEXTBOOK)
def test_black_scholes_textbook_values(
    s: float, k: float, t: float, r: float, q: float, sig: float, call: float | None, put: float | None
) -> None:
    if call is not None:
        assert float(bs_call(s, k, t, r, q, sig)) == pytest.approx(call, abs=5e-3 if call > 4 else 1e-4)
    if put is not None:
        assert float(bs_put(s, k, t, r, q, sig)) == pytest.approx(put, abs=5e-3 if put < 1 else 1e-4)


def test_put_call_parity_over_a_grid() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        s, k = rng.uniform(5, 500), rng.uniform(5, 500)
        t, r, q, sig = (
            rng.uniform(0.01, 6),
            rng.uniform(-0.01, 0.1),
            rng.uniform(0, 0.06),
            rng.uniform(0.05, 1.5),
        )
        lhs = float(bs_call(s, k, t, r, q, sig) - bs_put(s, k, t, r, q, sig))
        rhs = s * math.exp(-q * t) - k * math.exp(-r * t)
        assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-9)


def test_call_edge_cases() -> None:
    assert float(bs_call(120.0, 100.0, 0.0, 0.05, 0.0, 0.3)) == pytest.approx(20.0)
    assert float(bs_call(80.0, 100.0, 0.0, 0.05, 0.0, 0.3)) == 0.0
    assert float(bs_call(80.0, 0.0, 2.0, 0.05, 0.02, 0.3)) == pytest.approx(80.0 * math.exp(-0.04))
    vec = bs_call(np.array([50.0, 100.0, 150.0]), 100.0, np.array([1.0, 1.0, 0.0]), 0.03, 0.0, 0.4)
    assert vec.shape == (3,) and vec[2] == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("s0", "h", "t", "r", "q", "sig"),
    [(100, 150, 3, 0.04, 0.0, 0.5), (50, 60, 1, 0.0, 0.0, 0.3), (185, 600, 5, 0.04, 0.01, 0.7)],
)
def test_touch_probability_matches_reflection_principle(
    s0: float, h: float, t: float, r: float, q: float, sig: float
) -> None:
    # Shreve II, (7.2.2)-(7.2.3): P(max_{u<=t} (nu u + sig W_u) >= b)
    b = math.log(h / s0)
    nu = r - q - 0.5 * sig * sig
    st = sig * math.sqrt(t)
    expected = norm.cdf((-b + nu * t) / st) + math.exp(2 * nu * b / sig**2) * norm.cdf((-b - nu * t) / st)
    assert touch_probability(s0, h, t, r, q, sig) == pytest.approx(expected, rel=1e-10)


def test_one_touch_long_maturity_limit_is_perpetual_formula() -> None:
    # E[exp(-r tau)] for BM with drift nu, level b: exp(-b (sqrt(nu^2 + 2 r sig^2) - nu) / sig^2)
    s0, h, r, sig = 100.0, 140.0, 0.05, 0.3
    b, nu = math.log(h / s0), r - 0.5 * sig * sig
    perpetual = math.exp(-b * (math.sqrt(nu * nu + 2 * r * sig * sig) - nu) / sig**2)
    assert one_touch_at_hit(s0, h, 400.0, r, 0.0, sig) / h == pytest.approx(perpetual, rel=1e-8)


def test_one_touch_matches_density_integral() -> None:
    s0, h, t, r, sig = 100.0, 150.0, 3.0, 0.04, 0.5
    tau = np.linspace(1e-6, t, 200_001)
    f = np.exp(-r * tau) * first_passage_density(tau, s0, h, r, 0.0, sig)
    integral = float(np.sum((f[1:] + f[:-1]) * np.diff(tau)) / 2)
    assert hit_laplace(s0, h, t, r, 0.0, sig, rho=r) == pytest.approx(integral, rel=1e-4)


def test_already_above_the_hurdle() -> None:
    assert one_touch_at_hit(200.0, 150.0, 1.0, 0.04, 0.0, 0.5) == 200.0
    assert touch_probability(200.0, 150.0, 1.0, 0.04, 0.0, 0.5) == 1.0


def test_quadrature_agrees_with_zero_strike_closed_form() -> None:
    args = (100.0, 150.0, 3.0, 5.0)
    for q in (0.0, 0.02):
        closed = touch_tranche_value(*args, 0.0, 0.04, q, 0.5)
        quad = touch_tranche_value(*args, 1e-9, 0.04, q, 0.5)
        assert quad == pytest.approx(closed, rel=1e-6)
        closed_d = at_date_tranche_value(*args, 0.0, 0.04, q, 0.5)
        quad_d = at_date_tranche_value(*args, 1e-9, 0.04, q, 0.5)
        assert quad_d == pytest.approx(closed_d, rel=1e-6)


def test_strike_lowers_value_by_at_least_discounted_strike_times_probability() -> None:
    # q = 0: C(H, K, tau) >= H - K exp(-r tau) so value >= H*OT - K exp(-rT) P(touch), with equality as K -> 0
    s0, h, tw, texp, r, sig, k = 100.0, 150.0, 3.0, 5.0, 0.04, 0.5, 40.0
    lower = h * hit_laplace(s0, h, tw, r, 0.0, sig, r) - k * math.exp(-r * texp) * touch_probability(
        s0, h, tw, r, 0, sig
    )
    value = touch_tranche_value(s0, h, tw, texp, k, r, 0.0, sig)
    assert lower <= value <= touch_tranche_value(s0, h, tw, texp, 0.0, r, 0.0, sig)
