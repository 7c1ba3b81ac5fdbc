"""The rule by which observed latency corrects the model and fades back to it (routing.health), with a
clock passed in: no sleeping, no servers; and the same rule in the simulator's router model."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tokenfleet.routing.health import Evidence, HealthRule, ObservedLatency, corrected_s, stale_rows

RULE = HealthRule(alpha=0.2, half_life_s=5.0, fresh_s=5.0)


def test_evidence_fades_to_the_model_by_half_each_half_life() -> None:
    o = ObservedLatency()
    assert o.read(0.0) is None and o.age_s(0.0) == math.inf
    o.observe(10.0, now=0.0, rule=RULE)
    assert o.read(0.0, 0.2, RULE) == pytest.approx(10.0)
    assert o.read(5.0, 0.2, RULE) == pytest.approx(0.2 + 9.8 / 2)
    assert o.read(15.0, 0.2, RULE) == pytest.approx(0.2 + 9.8 / 8)
    assert o.read(15.0, 0.0, RULE) == pytest.approx(10.0 / 8)  # no model: fades towards nothing
    o2 = ObservedLatency()
    o2.observe(0.1, 0.0, RULE)
    assert o2.read(100.0, 0.2, RULE) == pytest.approx(0.1)  # faster than the model: nothing to fade


def test_a_stale_average_gives_way_to_a_new_sample() -> None:
    steady, stale = ObservedLatency(), ObservedLatency()
    for o in (steady, stale):
        o.observe(10.0, 0.0, RULE)
    steady.observe(0.2, 0.0, RULE)  # a sample right after: the usual weight alpha
    stale.observe(0.2, 20.0, RULE)  # a sample four half-lives later: the old average has 1/16 of its weight
    assert steady.mean_s == pytest.approx(10.0 + 0.2 * (0.2 - 10.0))
    w = 1 - 0.8 / 16
    assert stale.mean_s == pytest.approx(10.0 + w * (0.2 - 10.0))
    assert stale.mean_s < 1.0 < steady.mean_s


def test_the_correction_only_raises_the_model_and_subtracts_what_it_predicts_itself() -> None:
    o = ObservedLatency()
    assert corrected_s(0.3, o, 0.0, RULE) == 0.3  # no evidence: the model
    o.observe(0.1, 0.0, RULE)
    assert corrected_s(0.3, o, 0.0, RULE) == 0.3  # faster than modelled: never lowered
    o.reset()
    o.observe(2.5, 0.0, RULE)
    assert corrected_s(0.3, o, 0.0, RULE, offset_s=0.5) == pytest.approx(2.0)  # less the prompt's prefill
    assert corrected_s(0.3, o, 5.0, RULE, offset_s=0.5) == pytest.approx(0.3 + (2.0 - 0.3) / 2)


def test_stale_rows_are_those_not_tried_within_the_fresh_window() -> None:
    tried = np.array([0.0, 7.0, -np.inf, 5.1])
    assert stale_rows(tried, np.arange(4), 10.0, RULE).tolist() == [0, 2]
    assert stale_rows(tried, np.array([1, 3]), 10.0, RULE).tolist() == []


def test_the_simulators_per_row_form_is_the_same_rule() -> None:
    """``Evidence`` (arrays, the simulator's router model) and ``ObservedLatency`` (the gateway's) give the
    same numbers for the same samples."""
    ev = Evidence(3, RULE)
    scalar = [ObservedLatency() for _ in range(3)]
    samples = [(0, 2.0, 0.0), (1, 0.5, 1.0), (0, 0.1, 4.0), (0, 0.3, 4.5), (1, 3.0, 20.0)]
    for row, x, t in samples:
        ev.observe(row, x, t)
        scalar[row].observe(x, t, RULE)
    predicted = np.array([0.2, 0.4, 0.3])
    for now in (20.0, 26.0, 60.0):
        want = [corrected_s(p, o, now, RULE) for p, o in zip(predicted, scalar, strict=True)]
        assert ev.corrected(predicted, now) == pytest.approx(want)
    assert ev.corrected(predicted, 20.0)[2] == 0.3  # never observed: the prediction


def test_the_simulator_applies_it_to_policies_that_read_ttft() -> None:
    from tokenfleet.scenario.load import parse_scenario
    from tokenfleet.sim.engine import Simulation

    def scenario(policy: str) -> Any:
        return parse_scenario({
            "traffic": [{"name": "chat", "model": "llama-3.1-8b",
                         "arrivals": {"process": "poisson", "rate_rps": 40},
                         "input_tokens": {"dist": "fixed", "value": 500},
                         "output_tokens": {"dist": "fixed", "value": 50}, "slo": {"ttft_p99_ms": 2000}}],
            "pools": [{"name": "h100", "hardware": "h100", "replicas": 3}],
            "routing": {"policy": policy}, "sim": {"seed": 1, "duration_s": 20}})

    assert Simulation(scenario("least-outstanding")).evidence is None  # reads no TTFT: nothing to correct
    sim = Simulation(scenario("slo-tier"))
    res = sim.run()
    assert res.requests > 500 and sim.evidence is not None
    assert np.isfinite(sim.evidence.mean_s).all()  # every replica's first tokens were observed
    assert (sim.evidence.mean_s > 0).all()  # first tokens come after a wait
    base = np.zeros(3)
    now = sim.evidence.corrected(base, res.period_s)
    later = sim.evidence.corrected(base, res.period_s + 10 * RULE.half_life_s)
    assert (later < now / 1000).all()  # evidence no request renews fades (ten half-lives: 1/1024)
