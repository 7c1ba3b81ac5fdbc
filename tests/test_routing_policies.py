"""Routing policies on hand-built snapshots: each asserts the choice a reader can verify by eye."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import tokenfleet.routing as routing
from tokenfleet.errors import InfeasibleError, InputError, UnknownIdError
from tokenfleet.routing import EndpointSnapshot, EndpointTable, RequestInfo, build_profile, policy_names


def ep(eid: str, **kw: object) -> EndpointSnapshot:
    base = dict(pool="gpu", hw_id="h100", model="m")
    base.update(kw)  # type: ignore[arg-type]
    return EndpointSnapshot(eid, **base)  # type: ignore[arg-type]


REQ = RequestInfo("chat", "m", prompt_tokens=1000, max_output_tokens=100, ttft_slo_ms=500, tpot_slo_ms=50)


def test_public_names_match_all() -> None:
    assert sorted(routing.__all__) == sorted(
        n
        for n in dir(routing)
        if not n.startswith("_")
        and n
        not in {"fast", "filters", "pickers", "plugins", "policies", "registry", "scorers", "table", "types",
                "prefill_load", "prefix_aware", "prefix_index", "health"}
    )


def test_round_robin_cycles_over_healthy_model_endpoints() -> None:
    eps = [ep("a"), ep("b", healthy=False), ep("c"), ep("d", model="other")]
    prof = build_profile("round-robin")
    assert [prof.pick(REQ, eps).endpoint_id for _ in range(4)] == ["a", "c", "a", "c"]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("least-outstanding", "b"),  # fewest in flight
        ("jsq", "c"),  # fewest queued
    ],
)
def test_load_policies(policy: str, expected: str) -> None:
    eps = [ep("a", in_flight=9, queued=3), ep("b", in_flight=2, queued=2), ep("c", in_flight=5, queued=0)]
    assert build_profile(policy).pick(REQ, eps).endpoint_id == expected


def test_least_ttft_counts_prompt_over_prefill_rate() -> None:
    # a: 0.1 s queue + 1000 / 2000 = 0.6 s ; b: 0.3 s + 1000 / 10000 = 0.4 s -> b
    eps = [
        ep("a", predicted_ttft_s=0.1, prefill_tok_per_s=2000),
        ep("b", predicted_ttft_s=0.3, prefill_tok_per_s=10000),
    ]
    assert build_profile("least-ttft").pick(REQ, eps).endpoint_id == "b"
    short = dataclasses.replace(REQ, prompt_tokens=10)  # a: 0.105, b: 0.301 -> a
    assert build_profile("least-ttft").pick(short, eps).endpoint_id == "a"


def test_observed_ttft_used_when_no_prediction() -> None:
    eps = [ep("a", observed_ttft_s=0.9), ep("b", observed_ttft_s=0.2)]
    assert build_profile("least-ttft").pick(REQ, eps).endpoint_id == "b"


def test_slo_tier_prefers_fast_pool_and_spills_when_it_cannot_meet_slo() -> None:
    fast = {"tiers": frozenset({"ultra"}), "pool": "wafer", "predicted_tpot_s": 0.002}
    ull = dataclasses.replace(REQ, tier="ultra", ttft_slo_ms=200)
    ok = [ep("f", predicted_ttft_s=0.05, **fast), ep("g", predicted_ttft_s=0.01, predicted_tpot_s=0.02)]
    assert build_profile("slo-tier").pick(ull, ok).endpoint_id == "f"
    busy = [ep("f", predicted_ttft_s=0.5, **fast), ep("g", predicted_ttft_s=0.01, predicted_tpot_s=0.02)]
    assert build_profile("slo-tier").pick(ull, busy).endpoint_id == "g"  # spill-over
    nobody = [ep("f", predicted_ttft_s=0.5, **fast), ep("g", predicted_ttft_s=0.9)]
    d = build_profile("slo-tier-strict").pick(ull, nobody)
    assert d.endpoint_id == "f" and d.candidates == 1  # no one meets it: stays on its tier


def test_untiered_request_avoids_tiered_pool_with_slo_tier_strict() -> None:
    eps = [ep("f", tiers=frozenset({"ultra"})), ep("g", in_flight=50)]
    assert build_profile("slo-tier-strict").pick(REQ, eps).endpoint_id == "g"


def test_cost_and_power_aware_pick_cheapest_feasible() -> None:
    eps = [
        ep("cheap-slow", usd_per_mtok=0.5, joules_per_token=1.0, predicted_ttft_s=2.0),
        ep("mid", usd_per_mtok=1.0, joules_per_token=3.0, predicted_ttft_s=0.1),
        ep("dear", usd_per_mtok=4.0, joules_per_token=2.0, predicted_ttft_s=0.1),
    ]
    assert build_profile("cost-aware").pick(REQ, eps).endpoint_id == "mid"
    assert build_profile("power-aware").pick(REQ, eps).endpoint_id == "dear"
    no_slo = dataclasses.replace(REQ, ttft_slo_ms=None)
    assert build_profile("cost-aware").pick(no_slo, eps).endpoint_id == "cheap-slow"


def test_weights_change_the_choice_and_bad_weights_are_named() -> None:
    eps = [ep("cheap", usd_per_mtok=0.5, in_flight=10), ep("idle", usd_per_mtok=1.0, in_flight=0)]
    no_slo = dataclasses.replace(REQ, ttft_slo_ms=None, tpot_slo_ms=None)
    assert build_profile({"policy": "cost-aware"}).pick(no_slo, eps).endpoint_id == "cheap"
    prof = build_profile({"policy": "cost-aware", "weights": {"outstanding": 5}})
    assert prof.pick(no_slo, eps).endpoint_id == "idle"
    with pytest.raises(InputError, match="no scorer"):
        build_profile({"policy": "cost-aware", "weights": {"bogus": 1}})
    with pytest.raises(UnknownIdError, match="did you mean"):
        build_profile("least-outstandin")


def test_scores_clamped_to_unit_interval() -> None:
    eps = [ep("a", kv_use_frac=1.7), ep("b", kv_use_frac=-3.0)]  # out-of-range telemetry
    d = build_profile({"policy": "random", "weights": {"kv": 1}}).pick(REQ, eps)
    assert 0.0 <= d.score <= 1.0


def test_no_endpoint_for_model_is_infeasible() -> None:
    with pytest.raises(InfeasibleError, match="no healthy endpoint"):
        build_profile("jsq").pick(dataclasses.replace(REQ, model="zzz"), [ep("a")])


def test_table_updates_in_place_and_all_policies_build() -> None:
    eps = [ep("a"), ep("b")]
    t = EndpointTable.from_snapshots(eps)
    t.set_row(0, ep("a", in_flight=4))
    assert t.in_flight.tolist() == [4, 0] and np.isnan(t.observed_ttft_s).all()
    for name in policy_names():
        assert build_profile(name, seed=1).pick_row(REQ, t) in (0, 1)
