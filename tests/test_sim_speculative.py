"""Pools with speculative decoding: each decode iteration costs a draft-and-verify round over its yield."""

from __future__ import annotations

import pytest

from tokenfleet import perf
from tokenfleet.scenario import parse_scenario
from tokenfleet.sim import Simulation
from tokenfleet.workload import Request

PROMPT, OUTPUT = 800, 200


def _run(speculative: dict | None) -> dict:
    pool: dict = {"name": "fast", "hardware": "cs3"}
    if speculative:
        pool["speculative"] = speculative
    sc = parse_scenario({
        "traffic": [{"name": "c", "model": "llama-3.3-70b", "arrivals": {"process": "poisson", "rate_rps": 1},
                     "input_tokens": {"value": PROMPT}, "output_tokens": {"value": OUTPUT}}],
        "pools": [pool], "sim": {"max_requests": 1},
    }, "s.yaml")
    return Simulation(sc, requests=[Request(0, 0.0, PROMPT, OUTPUT, "c")]).run().columns


def test_one_request_decodes_at_the_speculative_round_rate() -> None:
    target, draft = perf.deploy("llama-3.3-70b", "cs3"), perf.deploy("llama-3.2-1b", "cs3")
    both = perf.SpeculativeDeployment(target, perf.SpecDecode(draft, 4, 0.9))
    c = _run({"draft_model": "llama-3.2-1b", "draft_tokens": 4, "acceptance": 0.9})
    decode = sum(both.step_time(0, 1, PROMPT + k) for k in range(OUTPUT - 1))
    assert c["finish_s"][0] - c["first_token_s"][0] == pytest.approx(decode, rel=1e-6)
    plain = _run(None)
    # the same request is decoded well over twice as fast with a 1B draft at 90% acceptance
    assert (plain["finish_s"][0] - plain["first_token_s"][0]) > 2 * decode


def test_a_bad_draft_is_a_scenario_error() -> None:
    from tokenfleet.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"pools\.0"):
        _run({"draft_model": "llama-9b", "draft_tokens": 4, "acceptance": 0.9})
    with pytest.raises(ScenarioError, match="acceptance"):
        _run({"draft_model": "llama-3.2-1b", "acceptance": 1.0})
