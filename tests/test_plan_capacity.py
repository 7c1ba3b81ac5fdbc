"""Per-replica capacity against the perf model it is built on, and the unmet-SLO message."""

from __future__ import annotations

import math

import pytest

from tokenfleet import perf
from tokenfleet.errors import InfeasibleError
from tokenfleet.plan.capacity import all_options, plain_rate, spec_rate
from tokenfleet.plan.demand import Demand
from tokenfleet.plan.schema import parse_plan_scenario


def test_plain_rate_is_perf_server_with_overhead_taken_from_ttft() -> None:
    dep = perf.deploy("llama-3.1-8b", "h100")
    r = plain_rate("llama-3.1-8b", "h100", dep.layout, 1000, 200, 2.0, 0.05)
    op = perf.steady.server(dep, 1000, 200, 2.0 - dep.params.request_overhead_s, 0.05)
    assert r.request_rate == pytest.approx(op.request_rate)
    assert dep.idle_power_w < r.it_power_w <= dep.peak_power_w


def test_spec_rate_at_batch_one_matches_single_stream_speculative_speed() -> None:
    """With a near-empty replica the batched round model reduces to perf.single's speculative speed."""
    dep = perf.deploy("llama-3.3-70b", "cs3")
    draft = perf.deploy("llama-3.1-8b", "cs3")
    single = perf.single.per_user_tok_s(dep, 500, 400, perf.SpecDecode(draft, 4, 0.9))
    r = spec_rate("llama-3.3-70b", "cs3", dep.layout, ("llama-3.1-8b", 4, 0.9), 500, 400, 10.0,
                  1.15 / (0.97 * single))  # allows batch 1 only (or a little more)
    assert r.batch >= 1
    assert r.per_user_tok_s == pytest.approx(single, rel=0.05)
    plain = perf.single.per_user_tok_s(dep, 500, 400)
    assert single > 1.5 * plain  # speculative decoding speeds one user up


def _scenario(slo: dict[str, float], candidates: list[dict[str, object]]) -> dict[str, object]:
    return {
        "name": "t",
        "traffic": [{"name": "ull", "model": "llama-3.3-70b",
                     "arrivals": {"process": "poisson", "rate_rps": 1},
                     "input_tokens": {"dist": "fixed", "value": 500}, "output_tokens": {"dist": "fixed", "value": 400},
                     "slo": slo}],
        "plan": {"candidates": candidates},
    }


def _demands(sc) -> list[Demand]:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from tokenfleet.plan.demand import class_demands

    return class_demands(sc, Path("."))


def test_unreachable_user_speed_names_class_slo_and_best() -> None:
    sc = parse_plan_scenario(_scenario({"min_user_tok_s": 5000},
                                       [{"hardware": "b200"}, {"hardware": "cs3"}]))
    with pytest.raises(InfeasibleError) as exc:
        all_options(sc, _demands(sc))
    msg = str(exc.value)
    from tokenfleet.plan.capacity import layouts_for

    best = max(perf.single.per_user_tok_s(perf.deploy("llama-3.3-70b", c.hardware, lay), 500, 400)
               for c in sc.plan.candidates for lay in layouts_for("llama-3.3-70b", c))  # over every layout tried
    assert "'ull'" in msg and "min_user_tok_s 5,000" in msg
    assert f"{best:,.0f} tok/s per user" in msg and "cs3" in msg


def test_unreachable_ttft_names_best_ttft() -> None:
    sc = parse_plan_scenario(_scenario({"ttft_p99_ms": 1}, [{"hardware": "h100"}]))
    with pytest.raises(InfeasibleError, match=r"ttft_p99_ms 1 ms is out of reach.*best single-request TTFT"):
        all_options(sc, _demands(sc))


def test_options_meet_the_slo_they_were_sized_for() -> None:
    sc = parse_plan_scenario(_scenario({"ttft_p99_ms": 1500, "tpot_p99_ms": 40},
                                       [{"hardware": "h100"}, {"hardware": "mi355x"}]))
    opts = all_options(sc, _demands(sc))
    assert opts
    for o in opts:
        assert o.rate_rps > 0 and math.isfinite(o.rate_rps)
        assert 1.0 / o.per_user_tok_s <= 0.040  # the planned step time meets the TPOT target
