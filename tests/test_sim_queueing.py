"""Queueing truth: one replica serving one sequence at a time with fixed lengths and Poisson arrivals is an
M/D/1 queue; the mean wait must match Pollaczek-Khinchine, W = rho D / (2 (1 - rho))."""

from __future__ import annotations

import numpy as np
import pytest

from tokenfleet import perf
from tokenfleet.scenario import parse_scenario
from tokenfleet.sim import Simulation
from tokenfleet.workload import Request, poisson_arrivals

PROMPT, OUTPUT = 200, 16
MODEL, HW = "llama-3.1-8b", "h100"


def service_time_s() -> float:
    """D from the performance model alone: one prefill step, then OUTPUT - 1 decode steps of one sequence."""
    dep = perf.deploy(MODEL, HW)
    d = dep.step_time(PROMPT, 0, 0, PROMPT * (PROMPT / 2.0))
    return d + sum(dep.step_time(0, 1, PROMPT + k) for k in range(OUTPUT - 1))


def scenario(exact: bool = False):  # type: ignore[no-untyped-def]
    return parse_scenario(
        {
            "traffic": [
                {
                    "name": "q",
                    "model": MODEL,
                    "arrivals": {"process": "poisson", "rate_rps": 1.0},
                    "input_tokens": {"value": PROMPT},
                    "output_tokens": {"value": OUTPUT},
                }
            ],
            "pools": [
                {"name": "one", "hardware": HW, "replicas": 1, "scheduler": {"max_seqs": 1, "prefix_caching": False}}
            ],
            "sim": {"max_requests": 10, "exact": exact},
        }
    )


@pytest.mark.parametrize(("rho", "seed"), [(0.5, 11), (0.8, 12)])
def test_md1_mean_wait_matches_pollaczek_khinchine(rho: float, seed: int) -> None:
    d = service_time_s()
    lam = rho / d
    n = 120_000
    t = poisson_arrivals(np.random.default_rng(seed), lam, n)
    reqs = [Request(i, float(x), PROMPT, OUTPUT, "q") for i, x in enumerate(t)]
    res = Simulation(scenario(), requests=reqs).run()
    cols = res.columns
    service = cols["finish_s"] - cols["admitted_s"]
    assert np.allclose(service, d, rtol=1e-9)  # the replica really is deterministic with service D
    wait = cols["queue_s"][n // 20 :]  # drop the warm-up
    pk = rho * d / (2.0 * (1.0 - rho))
    assert wait.mean() == pytest.approx(pk, rel=0.05)
    assert (wait > 0).mean() == pytest.approx(rho, abs=0.02)  # P(wait) = rho for M/D/1 (PASTA)
