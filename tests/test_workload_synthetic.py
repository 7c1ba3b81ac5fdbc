"""Synthetic arrivals and lengths against their defining moments; class mixing keeps order and labels."""

from __future__ import annotations

import numpy as np
import pytest

from tokenfleet.workload import Diurnal, LengthDist, SyntheticSource, gamma_arrivals, merge, poisson_arrivals


def test_poisson_rate_and_cv() -> None:
    t = poisson_arrivals(np.random.default_rng(1), 50.0, 200_000)
    gaps = np.diff(t)
    assert 1.0 / gaps.mean() == pytest.approx(50.0, rel=0.01)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize("cv", [0.5, 2.0, 4.0])
def test_gamma_cv(cv: float) -> None:
    gaps = np.diff(gamma_arrivals(np.random.default_rng(2), 10.0, cv, 300_000))
    assert gaps.mean() == pytest.approx(0.1, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.05)


def test_diurnal_follows_its_rate_profile() -> None:
    d = Diurnal(mean_rps=20.0, peak_to_mean=1.8, period_s=1000.0)
    t, _ = d.arrivals(np.random.default_rng(3), 100_000)
    counts, _ = np.histogram(t % 1000.0, bins=4, range=(0, 1000))
    expected = [
        d.cumulative(np.array([b + 250.0]))[0] - d.cumulative(np.array([float(b)]))[0]
        for b in (0.0, 250.0, 500.0, 750.0)
    ]
    periods = t[-1] / 1000.0
    assert np.allclose(counts / periods, expected, rtol=0.05)
    assert counts[0] > 2 * counts[2]  # peak quarter vs trough quarter


def test_length_distributions() -> None:
    rng = np.random.default_rng(4)
    x = LengthDist("lognormal", mean=800, cv=1.5).sample(rng, 400_000)
    assert x.mean() == pytest.approx(800, rel=0.03) and x.std() / x.mean() == pytest.approx(1.5, rel=0.1)
    u = LengthDist("uniform", low=10, high=20).sample(rng, 10_000)
    assert u.min() == 10 and u.max() == 20
    assert set(LengthDist("fixed", value=7).sample(rng, 5)) == {7}


def test_merge_mixes_classes_in_time_order_with_ids() -> None:
    a = SyntheticSource("poisson", 5.0, LengthDist("fixed", 100), LengthDist("fixed", 10), seed=1)
    b = SyntheticSource("gamma", 15.0, LengthDist("fixed", 200), LengthDist("fixed", 20), cv=3.0, seed=2)
    reqs = list(merge([("a", a), ("b", b)], duration_s=2000.0))
    t = [r.arrival_s for r in reqs]
    assert t == sorted(t) and t[-1] <= 2000.0
    assert [r.request_id for r in reqs] == list(range(len(reqs)))
    share_a = sum(r.class_name == "a" for r in reqs) / len(reqs)
    assert share_a == pytest.approx(0.25, abs=0.03)
    assert all((r.prompt_tokens == 100) == (r.class_name == "a") for r in reqs)
