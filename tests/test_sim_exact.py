"""The closed-form decode runs give the same request timings as stepping every iteration."""

from __future__ import annotations

import numpy as np
import pytest

from tokenfleet.scenario import parse_scenario
from tokenfleet.sim import Simulation
from tokenfleet.sim.itertime import IterationTimes


def _run(doc: dict, exact: bool) -> dict[str, np.ndarray]:
    res = Simulation(parse_scenario(doc, "test"), exact=exact).run()
    order = np.argsort(res.columns["request_id"])
    return {k: v[order] for k, v in res.columns.items()} | {
        "_pre": np.array([r.stats.preemptions for r in res.replicas])
    }


CASES = {
    "mixed-fleet-azure": {
        "traffic": [
            {
                "name": "chat",
                "model": "llama-3.1-8b",
                "arrivals": {"trace": "shared:traces/azure2023_conv.csv", "rate_multiplier": 6},
            }
        ],
        "pools": [
            {"name": "gpu", "hardware": "h100", "replicas": 4},
            {"name": "wafer", "hardware": "cs3", "replicas": 1},
        ],
        "routing": {"policy": "least-ttft"},
        "sim": {"max_requests": 4000},
    },
    "kv-pressure-preemption": {  # 70B on two H100s holds ~8.8k KV tokens: forces recompute preemption
        "traffic": [
            {
                "name": "c",
                "model": "llama-3.3-70b",
                "arrivals": {"process": "poisson", "rate_rps": 4},
                "input_tokens": {"dist": "uniform", "low": 200, "high": 1500},
                "output_tokens": {"dist": "uniform", "low": 50, "high": 600},
            }
        ],
        "pools": [{"name": "gpu", "hardware": "h100", "replicas": 2, "scheduler": {"max_batched_tokens": 1024}}],
        "routing": {"policy": "slo-tier"},  # reads KV use, predicted TTFT and in-flight counts
        "sim": {"max_requests": 2000, "seed": 3},
    },
    "prefix-cache-mooncake": {
        "traffic": [
            {
                "name": "m",
                "model": "llama-3.1-8b",
                "arrivals": {"trace": "shared:traces/mooncake_fast25_conversation.jsonl", "rate_multiplier": 2},
            }
        ],
        "pools": [{"name": "gpu", "hardware": "h200", "replicas": 3}],
        "routing": {"policy": "jsq"},
        "sim": {"max_requests": 3000},
    },
}


@pytest.mark.parametrize("case", list(CASES))
def test_fast_and_exact_modes_agree(case: str) -> None:
    fast, exact = _run(CASES[case], False), _run(CASES[case], True)
    assert fast["request_id"].size == exact["request_id"].size >= 2000
    for col in ("first_token_s", "finish_s", "admitted_s"):
        np.testing.assert_allclose(fast[col], exact[col], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(fast["replica"], exact["replica"])
    np.testing.assert_array_equal(fast["_pre"], exact["_pre"])
    if case == "kv-pressure-preemption":
        assert fast["_pre"].sum() > 0
    if case == "prefix-cache-mooncake":
        assert fast["cached_tokens"].sum() > 0
        np.testing.assert_array_equal(fast["cached_tokens"], exact["cached_tokens"])


@pytest.mark.parametrize("slopes", [(0.01, 1e-6), (0.02, -1e-6)])
def test_iteration_times_closed_form_and_inverse(slopes: tuple[float, float]) -> None:
    a, b = slopes
    kink = 700  # a convex piecewise-affine cost with one kink, like max(compute, memory)
    f = lambda k: max(a + b * k, a + b * kink + 3e-5 * (k - kink))  # noqa: E731
    m = 2000
    it = IterationTimes(f, m)
    cum = np.concatenate([[0.0], np.cumsum([f(k) for k in range(m)])])
    assert max(abs(it.total(j) - cum[j]) for j in range(m + 1)) <= 1e-12 * cum[-1]
    rng = np.random.default_rng(0)
    for dt in rng.uniform(0, cum[-1] * 1.05, 300):
        j = int(np.searchsorted(cum, dt)) if dt <= cum[-1] else m
        assert it.boundary_at_or_after(float(dt)) == min(j, m)
