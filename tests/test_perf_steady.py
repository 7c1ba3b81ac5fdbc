"""Steady-state throughput: Erlang C against closed forms, offline >= server, SLO monotonicity."""

from __future__ import annotations

import math

import pytest

from tokenfleet import perf
from tokenfleet.perf import steady


def _erlang_c_reference(c: int, a: float) -> float:
    """Textbook Erlang C by the explicit sum (small c only)."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


@pytest.mark.parametrize("c,a", [(1, 0.3), (1, 0.9), (2, 1.5), (5, 4.0), (20, 17.0), (60, 55.0)])
def test_erlang_c_matches_the_textbook_sum(c: int, a: float) -> None:
    assert steady._erlang_c(c, a) == pytest.approx(_erlang_c_reference(c, a), rel=1e-9)


def test_mm1_wait_tail_gives_the_closed_form_rate() -> None:
    # M/M/1: P(W > t) = rho * exp(-(mu - lam) t); solve for the rate with P = 1% at t = 2 s, mu = 1
    lam = steady.max_rate_for_wait(1, 1.0, 2.0, q=0.01)
    assert lam * math.exp(-(1.0 - lam) * 2.0) == pytest.approx(0.01, rel=1e-6)


@pytest.mark.parametrize("model_id,hw_id,prec", [("llama-2-70b", "h200", "fp8"), ("llama-3.1-8b", "b200", "fp8"),
                                                 ("gpt-oss-120b", "mi355x", "fp4"), ("llama-3.3-70b", "cs3", "bf16")])
def test_server_never_beats_offline_and_loosens_with_the_bounds(model_id: str, hw_id: str, prec: str) -> None:
    dep = perf.deploy(model_id, hw_id, weight_precision=prec)
    off = steady.offline(dep, 1000, 300)
    tight = steady.server(dep, 1000, 300, ttft_p99_s=1.0, tpot_p99_s=0.03)
    loose = steady.server(dep, 1000, 300, ttft_p99_s=5.0, tpot_p99_s=0.2)
    assert off.output_tok_s > 0
    assert tight.output_tok_s <= loose.output_tok_s <= off.output_tok_s * (1 + 1e-9)
    if tight.batch:
        assert tight.tpot_p99_s <= 0.03 + 1e-12


def test_throughput_at_user_speed_respects_the_speed() -> None:
    dep = perf.deploy("llama-3.1-70b", "h100", perf.Layout(4, 4, 1, "fp8", "fp8"))
    for speed in (10.0, 30.0, 60.0):
        op = steady.at_user_speed(dep, 1000, 500, speed)
        assert op.per_user_tok_s >= speed
    assert steady.at_user_speed(dep, 1000, 500, 10.0).output_tok_s >= steady.at_user_speed(
        dep, 1000, 500, 60.0).output_tok_s
    assert steady.at_user_speed(dep, 1000, 500, 1e6).output_tok_s == 0.0


def test_kv_capacity_caps_the_batch() -> None:
    dep = perf.deploy("llama-3.1-70b", "h200", weight_precision="fp8")
    b = steady.max_batch(dep, 4000, 1000)
    assert b * 4500 <= dep.kv_capacity_tokens
    assert (b + 1) * 4500 > dep.kv_capacity_tokens * steady.KV_FILL or b == steady.MAX_BATCH_SEQS


def test_attention_data_parallel_ranks_each_have_the_engine_cap() -> None:
    # DeepSeek-R1 (MLA) on 8 B200s runs attention data-parallel: 8 schedulers of MAX_BATCH_SEQS each, so
    # short sequences are bounded by the 8 caps, long ones by KV; a dense TP8 replica has one scheduler
    ds = perf.deploy("deepseek-r1", "b200", perf.Layout(8, 8, 1, "fp4", "fp8"))
    assert ds.device.schedulers(ds.model, ds.layout) == 8
    assert steady.max_batch(ds, 100, 100) == 8 * steady.MAX_BATCH_SEQS
    long = steady.max_batch(ds, 20_000, 2_000)
    assert long < 8 * steady.MAX_BATCH_SEQS and long == int(ds.kv_capacity_tokens * steady.KV_FILL / 21_000)
    assert steady.max_batch(ds, 100, 100, cap=256) == 256  # a published cap is the whole replica's
    dense = perf.deploy("llama-3.1-8b", "b200", perf.Layout(8, 8, 1, "fp8", "fp8"))
    assert dense.device.schedulers(dense.model, dense.layout) == 1
    assert steady.max_batch(dense, 100, 100) == steady.MAX_BATCH_SEQS
    cs3 = perf.deploy("llama-3.1-8b", "cs3")
    assert cs3.device.schedulers(cs3.model, cs3.layout) == 1


def test_energy_per_token_falls_with_batching() -> None:
    dep = perf.deploy("llama-3.1-8b", "h100")
    op_small = steady.at_user_speed(dep, 500, 500, 150.0)
    op_big = steady.offline(dep, 500, 500)
    j_small = perf.power.joules_per_output_token(dep, op_small, 500, 500)
    j_big = perf.power.joules_per_output_token(dep, op_big, 500, 500)
    assert 0 < j_big < j_small


def test_prefill_queue_load_matches_a_simulated_md1_queue() -> None:
    """The largest prefill load ``_md1_max_load`` allows (P(wait > budget) <= 1 %) checked against a Lindley
    recursion of an M/D/1 queue at that load: the simulated tail is 1 % to within sampling and the
    Cramer-Lundberg approximation (it is exact in the tail's exponent, not its prefactor)."""
    import numpy as np

    from tokenfleet.perf.steady import _md1_max_load, max_rate_for_prefill
    rng = np.random.default_rng(7)
    for budget in (3.0, 10.0):
        rho = _md1_max_load(budget)
        assert 0.2 < rho < 0.99
        gaps = rng.exponential(1.0 / rho, 400_000)  # service time 1
        w, waits = 0.0, np.empty(gaps.size)
        for i, a in enumerate(gaps):
            waits[i] = w
            w = max(0.0, w + 1.0 - a)
        tail = float(np.mean(waits[10_000:] > budget))
        assert 0.004 < tail < 0.02, (budget, rho, tail)
    assert _md1_max_load(10.0) > _md1_max_load(3.0)  # more budget, more load
    assert max_rate_for_prefill(0.5, 5.0) == pytest.approx(_md1_max_load(10.0) / 0.5, rel=0.02)


def test_moe_prompts_arrive_in_chunks_not_spread_over_every_step() -> None:
    # gpt-oss-120b on one B200, 8 sequences, 8k prompts / 1k outputs: 64 prompt tokens a step on average, but an
    # engine prefills whole chunks, so one step in 128 carries a prompt and the other 127 decode only. Spread
    # thinly, the 64 tokens would make every step touch 1 - (1 - 4/128)**72 ~ 90 % of the experts instead of
    # the decode batch's 22 %: the mean step over one such cycle is the steady step
    dep = perf.deploy("gpt-oss-120b", "b200", perf.Layout(1, 1, 1, "fp4", "fp8"))
    b, isl, osl = 8, 8192, 1024
    ctx = int(b * (isl + osl / 2))
    cycle = round(isl / (b * isl / osl))  # steps between two prompts
    assert cycle == 128
    times = [dep.step_time(isl, b, ctx, 0.5 * isl * isl)] + [dep.step_time(0, b, ctx)] * (cycle - 1)
    assert steady.steady_step_s(dep, b, isl, osl) == pytest.approx(sum(times) / cycle, rel=1e-9)
    spread = dep.step_time(64, b, ctx, (b / osl) * 0.5 * isl * isl)
    assert dep.step_time(0, b, ctx) < steady.steady_step_s(dep, b, isl, osl) < 0.8 * spread
    # prompts of more than a chunk a step ride in every step, spread as before
    big = 512
    assert steady.steady_step_s(dep, big, 1000, 50) == pytest.approx(
        dep.step_time(round(big * 1000 / 50), big, int(big * 1025), (big / 50) * 0.5 * 1000 * 1000))
    # a dense model keeps the spread steady state: every step reads all its weights, whatever tokens it carries
    dense = perf.deploy("llama-3.1-8b", "b200", perf.Layout(1, 1, 1, "fp8", "fp8"))
    assert steady.steady_step_s(dense, b, isl, osl) == pytest.approx(
        dense.step_time(64, b, ctx, (b / osl) * 0.5 * isl * isl))
