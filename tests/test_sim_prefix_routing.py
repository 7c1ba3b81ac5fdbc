"""Prefix- and prefill-aware routing in the simulator, against independent counts and the issue's cases."""

from __future__ import annotations

from typing import Any

import pytest

from tokenfleet.scenario import parse_scenario
from tokenfleet.sim import Simulation
from tokenfleet.sim.summary import summarize
from tokenfleet.workload import Request, load_trace
from tokenfleet.workload.multiturn import multi_turn
from tokenfleet.workload.packaged import TRACE_DIR, packaged_trace
from tokenfleet.workload.prefix import chain_hashes

TRACES = TRACE_DIR
BLOCK = 512


def scenario(policy: str, replicas: int = 4, **arrivals: Any) -> Any:
    arr = arrivals or {"process": "poisson", "rate_rps": 1}
    return parse_scenario({
        "traffic": [{"name": "c", "model": "llama-3.1-8b", "arrivals": arr,
                     "input_tokens": {"value": 1000}, "output_tokens": {"value": 10},
                     "slo": {"ttft_p99_ms": 2000, "tpot_p99_ms": 50}}],
        "pools": [{"name": "h100", "hardware": "h100", "replicas": replicas,
                   "scheduler": {"prefix_caching": True, "prefix_block_tokens": BLOCK}}],
        "routing": {"policy": policy}, "sim": {"max_requests": 100_000},
    }, "t.yaml")


def fleet(policy: str, reqs: list[Request], replicas: int = 4) -> dict[str, Any]:
    return dict(summarize(Simulation(scenario(policy, replicas), requests=reqs).run())["fleet"])


def conversations(sessions: int = 13, turns: int = 4, gap_s: float = 30.0) -> list[Request]:
    """Sessions of unrelated content, turns far apart (no queueing, caches never fill)."""
    out = []
    for s in range(sessions):
        prompt = 3000 + 97 * s
        for t in range(turns):
            n = prompt // BLOCK
            out.append((s * 1.0 + t * gap_s, prompt, chain_hashes(f"s{s}/{j}" for j in range(n))))
            prompt += 800
    out.sort()
    return [Request(i, a, p, 10, "c", h) for i, (a, p, h) in enumerate(out)]


def expected_cached_tokens(reqs: list[Request]) -> int:
    """What one cache that never evicts would reuse: leading blocks seen before, last token recomputed."""
    seen: set[int] = set()
    total = 0
    for r in reqs:
        k = 0
        for h in r.prefix_hash_ids[: (r.prompt_tokens - 1) // BLOCK]:
            if h not in seen:
                break
            k += 1
        total += k * BLOCK
        seen.update(r.prefix_hash_ids[: r.prompt_tokens // BLOCK])
    return total


def test_affinity_routing_reuses_every_cached_block_across_replicas() -> None:
    reqs = conversations()
    prompt = sum(r.prompt_tokens for r in reqs)
    ideal = expected_cached_tokens(reqs) / prompt
    assert ideal > 0.5
    for policy in ("prefix-affinity", "prefix-aware"):
        assert fleet(policy, reqs)["prefix_hit_rate"] == pytest.approx(ideal, abs=1e-12), policy
    # round-robin (13 sessions on 4 replicas, one request each turn) puts turn t+1 on the next replica
    assert fleet("round-robin", reqs)["prefix_hit_rate"] < 0.5 * ideal


def test_prefix_aware_on_a_hot_system_prompt_does_not_pile_onto_one_replica() -> None:
    """Every session opens with the same 4k-token system prompt, ~27 requests/s on 4 H100 (enough load that a
    load-bounded policy must spread)."""
    batch = multi_turn(6.0, 60.0, system_prompts=1, system_tokens=(4096, 4096), think_s=5.0, seed=3)
    reqs = list(batch.requests("c"))
    got = {}
    for policy in ("round-robin", "prefix-aware", "prefix-affinity"):
        res = Simulation(scenario(policy), requests=reqs).run()
        work = [r.stats.prompt_tokens for r in res.replicas]
        got[policy] = (max(work) / sum(work), summarize(res)["fleet"])
    rr, pa, aff = got["round-robin"], got["prefix-aware"], got["prefix-affinity"]
    assert aff[0] > 0.9  # load ignored: the replica holding the system prompt gets everything
    assert pa[0] < 0.6  # load-bounded: it spreads
    assert pa[1]["ttft_s"]["p99"] < 0.1 * aff[1]["ttft_s"]["p99"]
    assert pa[1]["ttft_s"]["p99"] < rr[1]["ttft_s"]["p99"]
    assert pa[1]["prefix_hit_rate"] > rr[1]["prefix_hit_rate"]


def test_mooncake_prefix_aware_beats_round_robin_near_the_affinity_hit_rate() -> None:
    path = packaged_trace("mooncake_fast25_conversation.jsonl")
    b = load_trace(path, seed=1)
    n = 2500  # the first conversations need this many requests to come back for more turns
    mult = 3.0 / (n / float(b.arrival_s[n - 1]))  # 3 req/s of ~13k-token prompts on 4 H200: heavily loaded
    got = {}
    for policy in ("round-robin", "prefix-aware", "prefix-affinity"):
        sc = parse_scenario({
            "traffic": [{"name": "c", "model": "llama-3.1-8b",
                         "arrivals": {"trace": str(path), "rate_multiplier": mult}}],
            "pools": [{"name": "h200", "hardware": "h200", "replicas": 4, "scheduler": {"prefix_caching": True}}],
            "routing": {"policy": policy}, "sim": {"max_requests": n},
        }, "t.yaml")
        got[policy] = summarize(Simulation(sc, TRACES, keep_requests=False).run())["fleet"]
    rr, pa, orc = got["round-robin"], got["prefix-aware"], got["prefix-affinity"]
    assert pa["prefix_hit_rate"] > rr["prefix_hit_rate"] + 0.05
    assert pa["prefix_hit_rate"] > orc["prefix_hit_rate"] - 0.05
    assert pa["ttft_s"]["p99"] < 0.7 * rr["ttft_s"]["p99"]


def test_prefill_load_is_not_worse_than_round_robin_where_least_outstanding_is() -> None:
    """The issue's case: Llama 2 7B on 4 H100 at 25 QPS of the Azure conversation trace."""
    path = packaged_trace("azure2023_conv.csv")
    b = load_trace(path)
    n = 3000
    mult = 25 / (n / float(b.arrival_s[n - 1]))
    p99 = {}
    for policy in ("round-robin", "least-outstanding", "prefill-load"):
        sc = parse_scenario({
            "traffic": [{"name": "c", "model": "llama-2-7b",
                         "arrivals": {"trace": str(path), "rate_multiplier": mult}}],
            "pools": [{"name": "h100", "hardware": "h100", "replicas": 4}],
            "routing": {"policy": policy}, "sim": {"max_requests": n},
        }, "t.yaml")
        p99[policy] = summarize(Simulation(sc, TRACES, keep_requests=False).run())["fleet"]["ttft_s"]["p99"]
    assert p99["least-outstanding"] > p99["round-robin"]  # the observation holds in the model
    assert p99["prefill-load"] <= p99["round-robin"]
