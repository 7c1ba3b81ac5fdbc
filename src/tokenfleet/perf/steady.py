"""Steady-state throughput of a replica for a workload shape (mean input / output tokens).

* :func:`offline` — MLPerf Offline: the most output tokens/s with no latency bound.
* :func:`server` — MLPerf Server: Poisson arrivals, p99 TTFT and p99 TPOT bounds. Each candidate batch size
  ``B`` fixes the step time ``t(B)``; requests are served by ``B`` slots, so admission is an M/M/c queue
  (Erlang C) with ``c = B`` and service time ``osl * t(B)``; the largest arrival rate whose p99 TTFT
  (queueing + prefill) and p99 TPOT (``t(B)`` times the calibrated tail ratio) meet the bounds wins. Prompts
  also queue behind each other's prefill for the replica's compute (an M/D/1 queue whose service is what a
  prompt adds to a running step): with long prompts (Llama 3.1 405B's ~9,400 tokens) that binds first.
* :func:`at_user_speed` — aggregate throughput when every user must see at least ``user_tok_s``.

Each accepts ``spec`` (:class:`~tokenfleet.perf.speculative.SpecDecode`): a step is then a speculative round
over the batch and the time per output token is the round time over the tokens a round yields.

In the steady state of continuous batching with ``B`` running sequences, each step decodes ``B`` tokens,
prefills ``B * isl / osl`` prompt tokens (new requests replacing finished ones) and attends over a mean
context of ``isl + osl / 2`` per sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import special

from tokenfleet.perf.deployment import Deployment
from tokenfleet.perf.devices.base import LINEAR_STATE_BYTES
from tokenfleet.perf.layout import kv_bytes_per_token
from tokenfleet.perf.speculative import RoundCost, SpecDecode, round_cost

MAX_BATCH_SEQS = 2048  # engines cap running sequences per scheduler (TensorRT-LLM default max_batch_size 2048)
KV_FILL = 0.95  # fraction of KV blocks usable before preemption
PREFILL_CHUNK = 8192  # prompt tokens an engine prefills in one step (TensorRT-LLM / vLLM max_num_tokens default)


@dataclass(frozen=True, slots=True)
class Operating:
    """One operating point of a replica."""

    batch: int
    step_s: float  # seconds per output token of each running sequence (a step, or a round / its yield)
    output_tok_s: float
    request_rate: float  # requests / s
    ttft_p99_s: float = 0.0
    tpot_p99_s: float = 0.0

    @property
    def per_user_tok_s(self) -> float:
        return 1.0 / self.step_s if self.step_s > 0 else 0.0


def state_tokens(dep: Deployment) -> float:
    """A sequence's fixed linear-attention state (Qwen3.5's Gated DeltaNet layers) in tokens of KV: memory it
    holds whatever its length."""
    m = dep.model
    if not m.linear_attn_layers:
        return 0.0
    per_tok = kv_bytes_per_token(m, dep.layout.kv_precision) * dep.device.kv_replication(m, dep.layout)
    return m.linear_state_elements() * LINEAR_STATE_BYTES / per_tok if per_tok > 0 else 0.0


def max_batch(dep: Deployment, isl: float, osl: float, spec: SpecDecode | None = None,
              cap: int | None = None) -> int:
    """Most sequences that run at once: KV for ``isl + osl / 2`` tokens each (on average) plus any fixed
    per-sequence state, the engine's cap per scheduler (attention data-parallel replicas run one per chip) or
    the run's own ``cap`` (its max-num-seqs or benchmark concurrency); with speculation the draft's KV must hold
    them too."""
    per_seq = isl + osl / 2.0 + state_tokens(dep)
    by_kv = int(dep.kv_capacity_tokens * KV_FILL / per_seq)
    if spec is not None:
        by_kv = min(by_kv, int(spec.draft.kv_capacity_tokens * KV_FILL / per_seq))
    engine = MAX_BATCH_SEQS * dep.device.schedulers(dep.model, dep.layout)
    return max(0, min(cap or engine, by_kv))


def steady_step_s(dep: Deployment, batch: float, isl: float, osl: float, decode_only: bool = False) -> float:
    """Mean step time with ``batch`` running sequences in steady state (``decode_only``: the prompts are
    prefilled on other chips, a prefill / decode-disaggregated deployment's decode node).

    A mixture of experts is the exception to spreading the prompts evenly over every step: a step's routed
    tokens touch ``1 - miss ** tokens`` of the experts, concave in the tokens, so a prompt spread thinly over
    many decode steps would make each of them read most experts. An engine prefills a prompt in chunks of up
    to ``PREFILL_CHUNK`` tokens: where the prompts are fewer than a chunk a step, a fraction of the steps
    carries one chunk and the rest only decode."""
    ctx = int(batch * (isl + osl / 2.0))
    if decode_only:
        return dep.step_time(0, round(batch), ctx)
    prefill = batch * isl / osl
    pairs = (batch / osl) * 0.5 * isl * isl
    chunk = min(isl, PREFILL_CHUNK)
    if dep.model.is_moe and 0 < prefill < chunk:
        share = prefill / chunk  # of the steps that carry a chunk
        with_chunk = dep.step_time(round(chunk), round(batch), ctx, pairs / share)
        return (1.0 - share) * dep.step_time(0, round(batch), ctx) + share * with_chunk
    return dep.step_time(round(prefill), round(batch), ctx, pairs)


def steady_round(dep: Deployment, spec: SpecDecode, batch: int, isl: float, osl: float,
                 decode_only: bool = False) -> RoundCost:
    """One speculative round in steady state: ``batch * yield / osl`` new prompts ride along (none on a decode
    node)."""
    new = 0.0 if decode_only else batch * spec.tokens_per_round / osl
    return round_cost(dep, spec, batch, isl + osl / 2.0, round(new * isl), new * 0.5 * isl * isl)


def token_time_s(dep: Deployment, batch: int, isl: float, osl: float, spec: SpecDecode | None = None,
                 decode_only: bool = False) -> float:
    """Seconds per output token of each of ``batch`` running sequences in steady state."""
    if spec is None:
        return steady_step_s(dep, batch, isl, osl, decode_only)
    return float(steady_round(dep, spec, batch, isl, osl, decode_only).time_s / spec.tokens_per_round)


@cache
def _batch_grid(b_max: int) -> list[int]:
    if b_max <= 0:
        return []
    grid = {round(x) for x in np.geomspace(1, b_max, num=min(32, b_max))}
    grid.add(b_max)
    return sorted(b for b in grid if b >= 1)


def offline(dep: Deployment, isl: float, osl: float, spec: SpecDecode | None = None,
            cap: int | None = None, decode_only: bool = False) -> Operating:
    """The most output tokens/s, with no latency bound (at most ``cap`` sequences when given)."""
    best = Operating(0, 0.0, 0.0, 0.0)
    for b in _batch_grid(max_batch(dep, isl, osl, spec, cap)):
        t = token_time_s(dep, b, isl, osl, spec, decode_only)
        if b / t > best.output_tok_s:
            best = Operating(b, t, b / t, b / t / osl)
    return best


def _erlang_c(c: int, a: float) -> float:
    """Probability of waiting in M/M/c with offered load ``a`` (Erlang C), stable for large c."""
    if a >= c:
        return 1.0
    if a <= 0:
        return 0.0
    # Erlang B = Poisson pmf(c; a) / Poisson cdf(c; a); the cdf is the regularised upper gamma Q(c+1, a)
    pmf = math.exp(c * math.log(a) - a - math.lgamma(c + 1.0))
    cdf = float(special.gammaincc(c + 1.0, a))
    erlang_b = min(1.0, pmf / cdf) if cdf > 0 else 1.0
    return c * erlang_b / (c - a * (1.0 - erlang_b))


def _wait_tail(c: int, mu: float, lam: float, wait_budget_s: float) -> float:
    return _erlang_c(c, lam / mu) * math.exp(-(c * mu - lam) * wait_budget_s)


def max_rate_for_wait(c: int, service_s: float, wait_budget_s: float, q: float = 0.01,
                      at_least: float = 0.0) -> float:
    """Largest Poisson rate with P(wait > budget) <= q in M/M/c with mean service ``service_s``; 0 when not
    even ``at_least`` meets it (callers searching for a better rate than one they have pass it)."""
    if wait_budget_s <= 0:
        return 0.0
    mu = 1.0 / service_s
    if at_least > 0 and (at_least >= c * mu or _wait_tail(c, mu, at_least, wait_budget_s) > q):
        return 0.0
    lo, hi = at_least, c * mu * (1.0 - 1e-12)
    log_q = math.log(q)

    def f(lam: float) -> float:  # increasing in lam; the root is the rate we want
        tail = _wait_tail(c, mu, lam, wait_budget_s)
        return (math.log(tail) if tail > 0 else -745.0) - log_q

    f_lo, f_hi = f(lo), f(hi)
    if f_hi <= 0:
        return hi
    if f_lo > 0:
        return 0.0
    # Illinois (modified regula falsi): a handful of Erlang-C evaluations instead of ~20 bisections
    side = 0
    for _ in range(40):
        lam = hi - f_hi * (hi - lo) / (f_hi - f_lo)
        if not lo < lam < hi:
            lam = 0.5 * (lo + hi)
        f_lam = f(lam)
        if f_lam > 0:
            hi, f_hi = lam, f_lam
            if side == -1:
                f_lo *= 0.5
            side = -1
        else:
            lo, f_lo = lam, f_lam
            if side == 1:
                f_hi *= 0.5
            side = 1
        if hi - lo <= 1e-6 * hi:
            break
    return lo


@cache
def _md1_max_load(budget_over_service: float, q: float = 0.01) -> float:
    """Highest utilisation of an M/D/1 queue whose P(wait > budget) <= q, the budget in service times.

    The waiting time's tail is ``P(W > w) ~ rho exp(-theta w)`` (Cramer-Lundberg), ``theta s`` the positive root
    ``x`` of ``rho (e^x - 1) = x``; both sides are solved by bisection (monotone in ``rho`` and ``x``)."""
    if budget_over_service <= 0:
        return 0.0

    def tail(rho: float) -> float:
        lo, hi = 1e-12, 50.0
        for _ in range(60):
            x = 0.5 * (lo + hi)
            lo, hi = (x, hi) if rho * math.expm1(x) < x else (lo, x)
        return rho * math.exp(-lo * budget_over_service)

    if tail(1e-6) > q:
        return 0.0
    lo, hi = 1e-6, 1.0 - 1e-9
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if tail(mid) <= q else (lo, mid)
    return lo


def max_rate_for_prefill(prefill_s: float, wait_budget_s: float, q: float = 0.01) -> float:
    """Largest Poisson rate at which prompts, each ``prefill_s`` of the replica's compute, wait at most
    ``wait_budget_s`` for the prompts ahead of them with probability ``1 - q`` (an M/D/1 queue: prompts are
    prefilled one after another; the budget is rounded to 1 % for caching)."""
    if prefill_s <= 0:
        return math.inf
    ratio = round(math.log(max(wait_budget_s, 1e-12) / prefill_s), 2)
    return _md1_max_load(math.exp(ratio), q) / prefill_s


def server(dep: Deployment, isl: float, osl: float, ttft_p99_s: float, tpot_p99_s: float,
           spec: SpecDecode | None = None, cap: int | None = None) -> Operating:
    """The most output tokens/s under Poisson arrivals meeting p99 TTFT and p99 TPOT."""
    best = Operating(0, 0.0, 0.0, 0.0)
    tail = dep.params.tpot_p99_over_mean
    prefill_alone = dep.step_time(int(isl), 0, 0)
    if spec is not None:
        prefill_alone += spec.draft.step_time(int(isl), 0, 0)
    for b in _batch_grid(max_batch(dep, isl, osl, spec, cap)):
        t = token_time_s(dep, b, isl, osl, spec)
        if t * tail > tpot_p99_s:
            break
        if b / t <= best.output_tok_s:  # even with every slot busy this batch cannot beat the best so far
            continue
        step = t * spec.tokens_per_round if spec is not None else t
        ttft_base = step + prefill_alone  # finish the current step, then the step that carries the prompt
        rate = max_rate_for_wait(b, osl * t + ttft_base, ttft_p99_s - ttft_base, at_least=best.request_rate)
        # prompts also queue for the replica's compute behind each other's prefill (long prompts: 405B's
        # ~9,400 tokens under a 6 s TTFT bound), whatever the free slots; a prompt's demand is what it adds
        # to a running step (its weight reads are shared with the decodes it rides with)
        ctx = int(b * (isl + osl / 2.0))
        demand = dep.step_time(int(isl), b, ctx) - dep.step_time(0, b, ctx)
        rate = min(rate, max_rate_for_prefill(demand, ttft_p99_s - ttft_base))
        if rate * osl > best.output_tok_s:
            best = Operating(b, t, rate * osl, rate, ttft_p99_s, t * tail)
    return best


def at_user_speed(dep: Deployment, isl: float, osl: float, user_tok_s: float,
                  spec: SpecDecode | None = None, cap: int | None = None, decode_only: bool = False) -> Operating:
    """The most output tokens/s with every running sequence decoding at >= ``user_tok_s``."""
    best = Operating(0, 0.0, 0.0, 0.0)
    for b in _batch_grid(max_batch(dep, isl, osl, spec, cap)):
        t = token_time_s(dep, b, isl, osl, spec, decode_only)
        if 1.0 / t < user_tok_s:
            break
        if b / t > best.output_tok_s:
            best = Operating(b, t, b / t, b / t / osl)
    return best
