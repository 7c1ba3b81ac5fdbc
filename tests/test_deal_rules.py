"""Vesting rules, monitoring and milestone timing against independent truths.

- the concurrent rule on a small GW ladder against a nested ``scipy.integrate.quad`` written here (first-passage
  density of GBM integrated over the lognormal price at the milestone), the sticky rule against the plain
  one-touch formula (optional stopping: with a zero strike the vested share is a martingale);
- closing-price monitoring against the Broadie–Glasserman–Kou shifted-barrier correction;
- a milestone inside the last grid step before expiry; the sigma -> 0 limit; QuantLib where it is installed.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from scipy import integrate
from scipy.stats import norm

from tokenfleet.deal.closed_form import touch_tranche_value
from tokenfleet.deal.load import parse_deal
from tokenfleet.deal.tranche_forms import concurrent_value
from tokenfleet.deal.valuation import value_deal

R, S0, SIGMA = 0.04, 100.0, 0.5
LADDER = ((1, 120.0), (2, 150.0), (3, 200.0))


def ladder(rule: str, **extra: Any) -> dict[str, Any]:
    deliveries = [{"date": f"{2026 + k}-01-01", "mw": 1000} for k in (1, 2, 3)]
    return {
        "name": "ladder",
        "contract": {
            "buyer": "B",
            "seller": "S",
            "start_date": "2026-01-01",
            "end_date": "2030-12-31",
            "pricing": {"usd_per_mw": 1e6},
            "deliveries": deliveries,
            **extra,
        },
        "company": {"name": "S", "share_price_usd": S0, "shares_outstanding": 1e9, "volatility": SIGMA},
        "warrants": [
            {
                "name": "w",
                "holder": "B",
                "shares": 3e6,
                "strike_usd": 0.0,
                "expiry": "2030-06-30",
                "tranches": [
                    {"name": f"T{k}", "shares": 1e6, "gw_delivered": k, "vesting": rule, "hurdle": {"price_usd": h}}
                    for k, h in LADDER
                ],
            }
        ],
        "valuation": {"risk_free_rate": R, "paths": 60_000, "seed": 21},
    }


def touch_value_quad(s: float, h: float, window: float) -> float:
    """``h E[exp(-r tau); tau <= window]`` from ``s`` by quadrature of the inverse-Gaussian first-passage density."""
    if s >= h:
        return s
    b, nu = math.log(h / s), R - 0.5 * SIGMA**2

    def f(t: float) -> float:
        return (
            math.exp(-R * t)
            * b
            / (SIGMA * math.sqrt(2 * math.pi * t**3))
            * math.exp(-((b - nu * t) ** 2) / (2 * SIGMA**2 * t))
        )

    return h * integrate.quad(f, 0.0, window, limit=200, epsabs=1e-12)[0]


def concurrent_quad(t_m: float, h: float, expiry: float) -> float:
    """Concurrent tranche (zero strike, no dividend) with the milestone at ``t_m``: integrate over ``S(t_m)``."""
    nu, vol = R - 0.5 * SIGMA**2, SIGMA * math.sqrt(t_m)

    def g(z: float) -> float:
        s = S0 * math.exp(nu * t_m + vol * z)
        return norm.pdf(z) * touch_value_quad(s, h, expiry - t_m)

    z_h = (math.log(h / S0) - nu * t_m) / vol
    below = integrate.quad(g, -10.0, z_h, limit=100)[0]
    above = integrate.quad(g, z_h, 12.0, limit=100)[0]
    return math.exp(-R * t_m) * (below + above)


def one_touch_rr(s: float, h: float, t: float) -> float:
    """Reiner–Rubinstein one-touch paid at hit (deals.md §4 formula), times ``h``."""
    mu = (R - 0.5 * SIGMA**2) / SIGMA**2
    lam = math.sqrt(mu * mu + 2 * R / SIGMA**2)
    st = SIGMA * math.sqrt(t)
    z = math.log(h / s) / st + lam * st
    return h * ((h / s) ** (mu + lam) * norm.cdf(-z) + (h / s) ** (mu - lam) * norm.cdf(-z + 2 * lam * st))


@pytest.fixture(scope="module")
def both_rules() -> dict[str, Any]:
    return {rule: (parse_deal(ladder(rule)), value_deal(parse_deal(ladder(rule)))) for rule in ("concurrent", "sticky")}


def test_concurrent_ladder_matches_independent_quadrature(both_rules: dict[str, Any]) -> None:
    deal, v = both_rules["concurrent"]
    expiry = deal.warrants[0].expiry_years
    for tr, (k, h) in zip(v.tranches, LADDER, strict=True):
        t_m = deal.contract.deliveries[k - 1].time_years
        truth = 1e6 * concurrent_quad(t_m, h, expiry)
        assert tr.method.startswith("closed form (concurrent")
        assert tr.closed_form_usd == pytest.approx(truth, rel=2e-6), tr.name
        assert abs(tr.value_usd - truth) <= 3.0 * tr.stderr_usd, (tr.name, tr.value_usd, tr.stderr_usd, truth)


def test_sticky_ladder_is_the_one_touch_value(both_rules: dict[str, Any]) -> None:
    # with a zero strike, exp(-rt) S_t is a martingale: vesting at the (later) milestone is worth the same as
    # vesting at the touch, so each sticky tranche is worth H x OneTouch(S0, H, T)
    deal, v = both_rules["sticky"]
    expiry = deal.warrants[0].expiry_years
    for tr, (_, h) in zip(v.tranches, LADDER, strict=True):
        truth = 1e6 * one_touch_rr(S0, h, expiry)
        assert tr.closed_form_usd == pytest.approx(truth, rel=1e-6), tr.name
        assert abs(tr.value_usd - truth) <= 3.0 * tr.stderr_usd, (tr.name, tr.value_usd, tr.stderr_usd, truth)


def test_concurrent_vests_less_than_sticky(both_rules: dict[str, Any]) -> None:
    conc, sticky = both_rules["concurrent"][1], both_rules["sticky"][1]
    for c, s in zip(conc.tranches, sticky.tranches, strict=True):
        assert c.vest_probability <= s.vest_probability
        assert c.vest_probability < 0.9 * s.vest_probability  # the rule matters: > 10 % of P(vest) here
    assert conc.warrant_value_usd < sticky.warrant_value_usd


def test_semi_analytic_form_with_random_delays() -> None:
    d = ladder("concurrent", delivery_delay={"distribution": "lognormal", "median_months": 4, "sigma": 0.8})
    v = value_deal(parse_deal(d))
    for tr in v.tranches:
        assert tr.method.startswith("semi-analytic")
        assert tr.closed_form_usd is not None
        assert abs(tr.value_usd - tr.closed_form_usd) <= 3.0 * tr.stderr_usd + 2e-3 * tr.closed_form_usd, tr.name


def bgk_touch_probability(s: float, h: float, t: float, dt: float) -> float:
    """P(touch) with the barrier shifted up by exp(0.5826 sigma sqrt(dt)) (Broadie, Glasserman & Kou 1997)."""
    b = math.log(h / s) + 0.5826 * SIGMA * math.sqrt(dt)
    nu, st = R - 0.5 * SIGMA**2, SIGMA * math.sqrt(t)
    return float(norm.cdf((-b + nu * t) / st) + math.exp(2 * nu * b / SIGMA**2) * norm.cdf((-b - nu * t) / st))


def test_close_monitoring_matches_broadie_glasserman_kou() -> None:
    def deal(monitoring: str) -> Any:
        d = ladder("concurrent")
        w = d["warrants"][0]
        w["expiry"] = "2027-01-01"
        w["tranches"] = [{"name": "T", "shares": 1e6, "hurdle": {"price_usd": 140.0, "monitoring": monitoring}}]
        d["valuation"]["paths"] = 30_000
        return parse_deal(d)

    closes, cont = deal("close"), deal("continuous")
    t_exp = closes.warrants[0].expiry_years
    p_close = value_deal(closes).tranches[0].vest_probability
    p_cont = value_deal(cont).tranches[0].vest_probability
    se = math.sqrt(p_close * (1 - p_close) / 30_000)
    truth = bgk_touch_probability(S0, 140.0, t_exp, 1 / 252)
    continuous = bgk_touch_probability(S0, 140.0, t_exp, 0.0)
    assert abs(p_close - truth) <= 3 * se + 0.004, (p_close, truth)
    assert abs(p_cont - continuous) <= 3 * se, (p_cont, continuous)
    assert continuous - truth > 6 * se  # the monitoring matters, far beyond the noise


def test_milestone_in_the_last_partial_step_before_expiry() -> None:
    # delivery 2030-12-10, expiry 2030-12-20: it vests on every path, on a monthly or a daily grid alike
    d = ladder("concurrent")
    d["contract"]["deliveries"] = [{"date": "2030-12-10", "mw": 1000}]
    w = d["warrants"][0]
    w["expiry"] = "2030-12-20"
    w["strike_usd"] = 0.01
    w["tranches"] = [{"name": "T", "shares": 1e6, "gw_delivered": 1}]
    values = []
    for steps in (12, 365):
        d["valuation"] = {"risk_free_rate": R, "paths": 4000, "seed": 3, "steps_per_year": steps}
        tr = value_deal(parse_deal(d)).tranches[0]
        assert tr.vest_probability == 1.0 and str(tr.expected_vest_date) == "2030-12-10"
        assert tr.closed_form_usd is not None
        assert abs(tr.value_usd - tr.closed_form_usd) <= 3 * tr.stderr_usd
        values.append(tr.closed_form_usd)
    assert values[0] == values[1] == pytest.approx(1e6 * (S0 - 0.01 * math.exp(-R * 4.97)), rel=1e-6)


@pytest.mark.parametrize("strike", [0.01, 20.0, 104.0])
def test_touch_with_strike_as_sigma_goes_to_zero(strike: float) -> None:
    # deterministic limit: S(t) = S0 exp((r - sigma^2/2) t) reaches H at t* = ln(H/S0)/r;
    # value exp(-r t*) (H - K exp(-r(T-t*)))+
    h, t = 110.0, 5.0
    t_star = math.log(h / S0) / R
    limit = math.exp(-R * t_star) * max(h - strike * math.exp(-R * (t - t_star)), 0.0)
    for sigma in (1e-3, 1e-4, 1e-6):
        assert touch_tranche_value(S0, h, t, t, strike, R, 0.0, sigma) == pytest.approx(limit, rel=1e-6), sigma


def test_issue_case_tiny_volatility_monte_carlo_agrees() -> None:
    d = ladder("concurrent")
    d["company"]["volatility"] = 1e-4
    w = d["warrants"][0]
    w["strike_usd"] = 20.0
    w["tranches"] = [{"name": "T", "shares": 1e6, "hurdle": {"price_usd": 110.0}}]
    tr = value_deal(parse_deal(d), paths=2000).tranches[0]
    assert tr.closed_form_usd is not None
    assert tr.value_usd == pytest.approx(tr.closed_form_usd, rel=2e-3)  # touches are dated to the step midpoint


def test_concurrent_form_in_the_small_sigma_limit() -> None:
    # deterministic path: vest at max(t_m, t*) with the price then
    h, t_m, big_t, sig = 110.0, 1.0, 5.0, 1e-3
    t_star = math.log(h / S0) / R
    assert concurrent_value(t_m, S0, h, 0.0, big_t, big_t, 0.0, R, 0.0, sig) == pytest.approx(
        math.exp(-R * t_star) * h, rel=1e-4
    )
    assert concurrent_value(3.0, S0, h, 0.0, big_t, big_t, 0.0, R, 0.0, sig) == pytest.approx(S0, rel=1e-4)


def test_quantlib_one_touch_and_asset_or_nothing() -> None:
    ql = pytest.importorskip("QuantLib", reason="QuantLib (PyPI QuantLib) is not installed")
    from tokenfleet.deal.closed_form import at_date_tranche_value

    today = ql.Date(1, 1, 2026)
    ql.Settings.instance().evaluationDate = today
    day_count = ql.Actual365Fixed()
    for s0, h, days, q, sig in (
        (100.0, 140.0, 1095, 0.0, 0.5),
        (185.0, 600.0, 1800, 0.0, 0.7),
        (50.0, 55.0, 200, 0.02, 0.3),
    ):
        t = days / 365.0
        process = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(ql.SimpleQuote(s0)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, q, day_count, ql.Continuous)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, R, day_count, ql.Continuous)),
            ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), sig, day_count)),
        )
        maturity = today + days
        touch = ql.VanillaOption(
            ql.CashOrNothingPayoff(ql.Option.Call, h, h), ql.AmericanExercise(today, maturity, False)
        )
        touch.setPricingEngine(ql.AnalyticDigitalAmericanEngine(process))
        ours = touch_tranche_value(s0, h, t, t, 0.0, R, 0.0, sig) if q == 0.0 else None
        if ours is not None:
            assert ours == pytest.approx(touch.NPV(), rel=1e-9)
        aon = ql.VanillaOption(ql.AssetOrNothingPayoff(ql.Option.Call, h), ql.EuropeanExercise(maturity))
        aon.setPricingEngine(ql.AnalyticEuropeanEngine(process))
        # at-date tranche, zero strike, tested and expiring on the same date: asset-or-nothing
        assert at_date_tranche_value(s0, h, t, t, 0.0, R, q, sig) == pytest.approx(aon.NPV(), rel=1e-9)
