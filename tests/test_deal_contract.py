"""Contract arithmetic against hand calculations: spend, MW-years, PV, take-or-pay, financing, plan link."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tokenfleet.deal.load import parse_deal
from tokenfleet.deal.plan_link import load_plan
from tokenfleet.deal.valuation import value_deal
from tokenfleet.errors import ScenarioError


def contract_deal(**contract: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "buyer": "B",
        "seller": "S",
        "start_date": "2026-01-01",
        "end_date": "2029-12-31",
        "pricing": {"usd_per_mw_year": 1e7, "usd_per_mw": 2e6},
        "deliveries": [{"date": "2026-01-01", "mw": 100}, {"date": "2027-01-01", "mw": 200}],
    }
    base.update(contract)
    return {"name": "c", "contract": base, "valuation": {"paths": 2000, "seed": 1, "discount_rate": 0.05}}


def test_spend_and_mw_years_by_hand() -> None:
    deal = parse_deal(contract_deal())
    c = deal.contract
    times = c.scheduled_times(False)
    end = c.end_years  # ~4 years; 100 MW in service end years, 200 MW end - 1 years (to the day)
    t1 = c.deliveries[1].time_years
    assert c.mw_years(times)[0] == pytest.approx(100 * end + 200 * (end - t1))
    # at t = 2 years: lumps 300 MW x $2M, accrual 100 x 2 + 200 x (2 - t1) MW-years x $10M
    assert c.spend_at(2.0, times)[0] == pytest.approx(300 * 2e6 + 1e7 * (100 * 2 + 200 * (2 - t1)))
    grid = np.array([0.0, 0.5, 2.0])
    assert c.spend_on_grid(grid, times)[0, 2] == pytest.approx(c.spend_at(2.0, times)[0])
    # PV of the accrual of the first delivery: 1e7 * 100 * (1 - e^{-r end}) / r, plus its lump at t = 0
    r = 0.05
    pv_first = 100 * 2e6 + 1e9 * (1 - math.exp(-r * end)) / r
    pv_second = math.exp(-r * t1) * 200 * 2e6 + 2e9 * (math.exp(-r * t1) - math.exp(-r * end)) / r
    assert c.pv_purchases(times, r)[0] == pytest.approx(pv_first + pv_second)


def test_unexercised_option_and_late_delivery_add_nothing() -> None:
    deal = parse_deal(
        contract_deal(
            options=[{"name": "o", "exercise_probability": 0.0, "deliveries": [{"date": "2028-01-01", "mw": 500}]}]
        )
    )
    c = deal.contract
    firm = c.scheduled_times(False)
    assert np.isinf(firm[0, 2])
    assert c.spend_at(10.0, firm)[0] == pytest.approx(300 * 2e6 + 1e7 * c.mw_years(firm)[0])
    v = value_deal(deal)
    assert v.contract.expected_purchases_usd == pytest.approx(v.contract.scheduled_spend_usd)
    assert v.contract.scheduled_spend_with_options_usd > v.contract.scheduled_spend_usd


def test_take_or_pay_shortfall() -> None:
    d = contract_deal(
        commitments=[
            {"by": "2027-12-31", "minimum_spend_usd": 5e9},
            {"by": "2029-12-31", "minimum_spend_usd": 9e9},
        ]
    )
    c = parse_deal(d).contract
    times = c.scheduled_times(False)
    s1, s2 = c.spend_at(c.commitments[0].time_years, times)[0], c.spend_at(c.end_years, times)[0]
    falls = c.shortfalls(times)[0]
    assert falls[0] == pytest.approx(max(5e9 - s1, 0.0))
    assert falls[1] == pytest.approx(max(9e9 - s2 - falls[0], 0.0))
    assert falls.sum() > 0


def test_loan_and_prepayment_cash_flows() -> None:
    d = contract_deal(
        financing=[
            {
                "kind": "loan",
                "amount_usd": 1e9,
                "date": "2026-01-01",
                "interest_rate": 0.05,
                "maturity": "2028-01-01",
            },
        ]
    )
    c = parse_deal(d).contract
    times = c.scheduled_times(False)
    no_fin = parse_deal(contract_deal()).contract
    r = 0.07
    f = c.financing[0]
    expected_extra = 1e9 - 1e9 * 1.05 ** (f.repay_time_years or 0) * math.exp(-r * (f.repay_time_years or 0))
    falls = np.zeros((1, 0))
    assert c.pv_buyer_cash(times, falls, r)[0] - no_fin.pv_buyer_cash(times, falls, r)[0] == pytest.approx(
        expected_extra, rel=1e-9
    )
    # a prepayment at t=0 credited against purchases: nominal cash unchanged, PV higher (paid earlier)
    p = parse_deal(contract_deal(financing=[{"kind": "prepayment", "amount_usd": 2e9, "date": "2026-01-01"}]))
    pv_pre = p.contract.pv_buyer_cash(times, falls, r)[0]
    pv_plain = no_fin.pv_buyer_cash(times, falls, r)[0]
    assert pv_plain < pv_pre < pv_plain + 2e9 * (1 - math.exp(-r * 4))


def test_effective_price_is_payments_less_warrants_over_mw_years() -> None:
    d = contract_deal(tokens_per_mw_year=1e13)
    d["company"] = {"name": "S", "share_price_usd": 50, "shares_outstanding": 1e8, "volatility": 0.4}
    d["warrants"] = [
        {
            "name": "w",
            "holder": "B",
            "shares": 1e6,
            "strike_usd": 0.0,
            "expiry": "2029-12-31",
            "tranches": [{"shares": 1e6, "gw_delivered": 0.3}],
        }
    ]
    v = value_deal(parse_deal(d))
    c, p = v.contract, v.prices
    assert p.usd_per_mw_year == pytest.approx(c.expected_total_payments_usd / c.expected_mw_years)
    assert p.net_usd_per_mw_year == pytest.approx(
        (c.expected_total_payments_usd - v.warrant_value_usd) / c.expected_mw_years
    )
    assert p.net_usd_per_mtok == pytest.approx(p.net_usd_per_mw_year / 1e7)  # 1e13 tokens = 1e7 Mtok
    assert v.total is not None  # zero strike, vests surely: worth the shares today, S0 x 1e6
    assert abs(v.warrant_value_usd - 50e6) <= 3 * v.total.stderr
    own = v.ownership[0]
    assert own.fraction[-1] == pytest.approx(1e6 / (1e8 + 1e6))


def write_plan(path: Path) -> None:
    plan = {
        "horizon_years": 3,
        "pools": [
            {
                "hardware": "cs3",
                "vendor": "Cerebras",
                "count": 480,
                "it_mw": 11.0,
                "facility_mw": 12.6,
                "capex_usd": 1.2e9,
                "opex_usd_per_year": 9.0e7,
                "note": "extra keys are ignored",
            },
            {
                "hardware": "h100",
                "vendor": "Nvidia",
                "count": 1000,
                "it_mw": 1.0,
                "facility_mw": 1.4,
                "capex_usd": 3e7,
                "opex_usd_per_year": 1e6,
            },
        ],
        "totals": {
            "capex_usd": 1.23e9,
            "opex_usd_per_year": 9.1e7,
            "facility_mw": 14.0,
            "output_tokens_per_year": 2.8e14,
        },
    }
    path.write_text(json.dumps(plan))


def test_deal_takes_its_schedule_from_plan_json(tmp_path: Path) -> None:
    write_plan(tmp_path / "plan.json")
    d = contract_deal(
        from_plan={
            "path": "plan.json",
            "vendor": "cerebras",
            "first_delivery": "2026-07-01",
            "deliveries": 3,
            "spacing_months": 6,
        }
    )
    del d["contract"]["deliveries"]
    del d["contract"]["pricing"]
    deal = parse_deal(d, "deal.yaml", tmp_path)
    c = deal.contract
    assert [x.mw for x in c.deliveries] == pytest.approx([4.2, 4.2, 4.2])
    assert [x.time_years for x in c.deliveries] == pytest.approx(
        [c.deliveries[0].time_years + k * 0.5 for k in range(3)]
    )
    assert c.tokens_per_mw_year == pytest.approx(2.8e14 / 14.0)
    assert c.service_years == 3
    times = c.scheduled_times(False)
    # every delivery serves 3 years: total = capex + opex x 3 years
    assert c.spend_at(100.0, times)[0] == pytest.approx(1.2e9 + 9.0e7 * 3)
    assert c.mw_years(times)[0] == pytest.approx(12.6 * 3)
    v = value_deal(deal)
    assert v.prices.usd_per_mtok == pytest.approx((1.2e9 + 2.7e8) / (12.6 * 3 * 2e13 / 1e6))


def test_plan_errors_name_the_file(tmp_path: Path) -> None:
    write_plan(tmp_path / "plan.json")
    d = contract_deal(from_plan={"path": "plan.json", "vendor": "AMD", "first_delivery": "2026-07-01"})
    del d["contract"]["deliveries"]
    with pytest.raises(ScenarioError, match=r"deal\.yaml: contract\.from_plan: plan has no pools from vendor 'AMD'"):
        parse_deal(d, "deal.yaml", tmp_path)
    (tmp_path / "broken.json").write_text(json.dumps({"pools": [{"hardware": "x"}], "totals": {}, "horizon_years": 1}))
    with pytest.raises(ScenarioError, match=r"broken.json: pools.0.vendor"):
        load_plan(tmp_path / "broken.json")
    d2 = contract_deal(
        from_plan={
            "path": "plan.json",
            "vendor": "Cerebras",
            "first_delivery": "2029-07-01",
            "deliveries": 3,
            "spacing_months": 6,
        }
    )
    del d2["contract"]["deliveries"]
    with pytest.raises(ScenarioError, match=r"contract\.from_plan\.spacing_months"):
        parse_deal(d2, "deal.yaml", tmp_path)


def test_exact_spend_crossing_matches_bisection_of_the_spend_curve() -> None:
    # lumps, accruals, service ends, delays, an option and take-or-pay payments that count toward vesting
    deal = parse_deal(
        contract_deal(
            service_years=1.5,
            delivery_delay={"distribution": "lognormal", "median_months": 3, "sigma": 1.0},
            options=[{"name": "o", "exercise_probability": 0.5, "deliveries": [{"date": "2028-01-01", "mw": 50}]}],
            commitments=[{"by": "2028-06-30", "minimum_spend_usd": 4e9}],
            shortfall_counts_toward_vesting=True,
        )
    )
    c = deal.contract
    times = c.sample_times(np.random.default_rng(5), 4000)
    falls = c.shortfalls(times)
    levels = [1e8, 9e8, 2.5e9, 4e9, 4.2e9, 9e9]
    exact = c.spend_hit_years_many(levels, deal.horizon_years, times, falls)
    for x in levels:
        lo, hi = np.zeros(len(times)), np.full(len(times), deal.horizon_years)
        reached = c.spend_at_each(hi, times, falls) >= x * (1 - 1e-9)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            above = c.spend_at_each(mid, times, falls) >= x * (1 - 1e-9)
            hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
        assert np.array_equal(np.isfinite(exact[x]), reached), x
        assert np.allclose(exact[x][reached], hi[reached], atol=1e-9), x
    assert 0.0 < np.isfinite(exact[4.2e9]).mean() < 1.0
