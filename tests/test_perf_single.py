"""Single-stream figures and speculative decoding."""

from __future__ import annotations

import pytest

from tokenfleet import perf
from tokenfleet.errors import InputError
from tokenfleet.perf import SpecDecode, single


def test_tokens_per_round_is_the_geometric_series() -> None:
    draft = perf.deploy("llama-3.1-8b", "cs3")
    for a, k in ((0.5, 1), (0.8, 4), (0.9, 8)):
        spec = SpecDecode(draft, k, a)
        assert spec.tokens_per_round == pytest.approx(sum(a**i for i in range(k + 1)))


def test_speculation_helps_with_good_acceptance_and_hurts_with_none() -> None:
    target = perf.deploy("llama-3.3-70b", "cs3")
    draft = perf.deploy("llama-3.1-8b", "cs3")
    plain = single.per_user_tok_s(target, 1000, 1000)
    good = single.per_user_tok_s(target, 1000, 1000, SpecDecode(draft, 4, 0.85))
    none = single.per_user_tok_s(target, 1000, 1000, SpecDecode(draft, 4, 0.0))
    assert none < plain < good


def test_bad_speculation_settings_are_rejected() -> None:
    draft = perf.deploy("llama-3.1-8b", "h100")
    with pytest.raises(InputError):
        SpecDecode(draft, 4, 1.0)
    with pytest.raises(InputError):
        SpecDecode(draft, 0, 0.5)


def test_ttft_grows_with_the_prompt_and_includes_request_overhead() -> None:
    dep = perf.deploy("llama-3.1-70b", "h200", weight_precision="fp8")
    assert single.ttft_s(dep, 100) < single.ttft_s(dep, 10_000)
    assert single.ttft_s(dep, 1000) - single.ttft_s(dep, 1000, include_request_overhead=False) == pytest.approx(
        dep.params.request_overhead_s)


def test_wafer_scale_is_faster_per_user_than_a_gpu_server() -> None:
    cs3 = single.per_user_tok_s(perf.deploy("llama-3.1-70b", "cs3"), 1000, 1000)
    h100 = single.per_user_tok_s(perf.deploy("llama-3.1-70b", "h100", perf.Layout(8, 8, 1, "fp8", "fp8")),
                                 1000, 1000)
    assert cs3 > 2 * h100


def test_batched_round_reduces_to_single_stream_and_grows_with_the_batch() -> None:
    from tokenfleet.perf import speculative, steady

    target = perf.deploy("llama-3.3-70b", "cs3")
    spec = SpecDecode(perf.deploy("llama-3.2-1b", "cs3"), 4, 0.9)
    one = speculative.round_cost(target, spec, 1, 1500.0)
    assert one.time_s / spec.tokens_per_round == pytest.approx(single.decode_step_s(target, 1500, spec))
    times = [steady.token_time_s(target, b, 1000, 1000, spec) for b in (1, 8, 64)]
    assert times == sorted(times)
    # a speculative server never promises more per-user speed than a single stream gets
    op = steady.server(target, 1000, 1000, 1.0, 0.002, spec)
    assert op.batch >= 1 and op.per_user_tok_s <= 1.0 / single.decode_step_s(target, 1500, spec) * 1.01
    draft_busy, target_busy = one.busy_s()
    assert 0 < draft_busy < one.time_s and 0 < target_busy < one.time_s


def test_speculative_deployment_is_the_round_per_token_through_the_deployment_interface() -> None:
    target = perf.deploy("llama-3.3-70b", "cs3")
    spec = SpecDecode(perf.deploy("llama-3.2-1b", "cs3"), 4, 0.9)
    both = perf.SpeculativeDeployment(target, spec)
    assert both.step_time(0, 1, 1500) == pytest.approx(single.decode_step_s(target, 1500, spec))
    assert both.step_time(500, 0, 0) == pytest.approx(target.step_time(500, 0, 0) + spec.draft.step_time(500, 0, 0))
    assert both.num_chips == target.num_chips + spec.draft.num_chips  # the draft has its own wafer
    assert both.idle_power_w == pytest.approx(target.idle_power_w + spec.draft.idle_power_w)
    assert both.kv_capacity_tokens == min(target.kv_capacity_tokens, spec.draft.kv_capacity_tokens)
    assert 0.0 <= both.step(0, 16, 16 * 1500).utilisation <= 1.0


def test_draft_steps_run_inside_the_round_and_pay_the_host_overhead_once() -> None:
    from tokenfleet.perf import speculative

    target = perf.deploy("llama-3.3-70b", "h200", perf.Layout(8, 8, 1, "fp8", "fp8"))
    draft = perf.deploy("llama-3.2-1b", "h200", perf.Layout(8, 8, 1, "fp8", "fp8"))
    spec = SpecDecode(draft, 4, 0.8)
    rnd = speculative.round_cost(target, spec, 4, 1500.0)
    host = draft.coefficients.host_overhead_s
    assert host == draft.params.step_overhead_s > 0
    alone = [draft.step(0, 4, 4 * 1500 + 4 * i) for i in range(4)]
    # each drafted token costs its roofline, collectives and per-sequence work, not another engine iteration
    for inside, own in zip(rnd.draft_steps, alone, strict=True):
        assert inside.time_s == pytest.approx(own.time_s - host)
        assert inside.compute_s == own.compute_s and inside.memory_s == own.memory_s
    assert rnd.verify.overhead_s >= target.params.step_overhead_s  # the round's one iteration pays it
    # a wafer's floor is the pipeline's own latency: nothing is shared
    wafer = SpecDecode(perf.deploy("llama-3.2-1b", "cs3"), 4, 0.8)
    assert wafer.draft.coefficients.host_overhead_s == 0.0
    w = speculative.round_cost(perf.deploy("llama-3.3-70b", "cs3"), wafer, 1, 1500.0)
    assert w.draft_steps[1].time_s == pytest.approx(wafer.draft.step(0, 1, 1501).time_s)
