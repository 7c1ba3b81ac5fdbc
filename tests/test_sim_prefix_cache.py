"""Prefix caching against an independent count: with a cache that never fills and requests far apart,
the cached tokens equal the leading 512-token blocks (Mooncake hash ids) seen in earlier prompts."""

from __future__ import annotations

from tokenfleet import perf
from tokenfleet.scenario import parse_scenario
from tokenfleet.sim import Simulation
from tokenfleet.workload import Request, load_mooncake
from tokenfleet.workload.packaged import packaged_trace

TRACE = packaged_trace("mooncake_fast25_conversation.jsonl")
BLOCK = 512


def scenario(hw: str, model: str):  # type: ignore[no-untyped-def]
    return parse_scenario(
        {
            "traffic": [
                {
                    "name": "m",
                    "model": model,
                    "arrivals": {"process": "poisson", "rate_rps": 1},
                    "input_tokens": {"value": 10},
                    "output_tokens": {"value": 2},
                }
            ],
            "pools": [{"name": "p", "hardware": hw, "scheduler": {"max_batched_tokens": 16384}}],
            "sim": {"max_requests": 1},
        },
        "p.yaml",
    )


def expected_hits(reqs: list[Request]) -> list[int]:
    seen: set[int] = set()
    out = []
    for r in reqs:
        k = 0
        for h in r.prefix_hash_ids[: (r.prompt_tokens - 1) // BLOCK]:
            if h not in seen:
                break
            k += 1
        out.append(k * BLOCK)
        seen.update(r.prefix_hash_ids[: r.prompt_tokens // BLOCK])
    return out


def test_cached_tokens_match_independent_count_and_lru_evicts_when_small() -> None:
    b = load_mooncake(TRACE)
    cap = perf.deploy("llama-3.1-8b", "h200").kv_capacity_tokens
    reqs, unique, seen = [], 0, set()
    for i in range(len(b)):  # requests 100 s apart, until their distinct blocks would fill 60% of the KV
        h = b.hashes_of(i)
        new = {x for x in h if x not in seen}
        if (unique + len(new) + 8) * BLOCK > 0.6 * cap:
            break
        seen |= new
        unique += len(new)
        reqs.append(Request(i, 100.0 * i, int(b.prompt_tokens[i]), int(min(b.output_tokens[i], 64)), "m", h))
    assert len(reqs) >= 30
    res = Simulation(scenario("h200", "llama-3.1-8b"), requests=reqs).run()
    got = res.columns["cached_tokens"][res.columns["request_id"].argsort()].tolist()
    want = expected_hits(reqs)
    assert got == want and sum(want) > 0
    # the same requests on a replica that holds ~17 blocks: LRU eviction leaves fewer hits
    small = Simulation(scenario("h100", "llama-3.3-70b"), requests=reqs).run()
    cap_small = small.replicas[0].kv.capacity_blocks * 16
    too_long = sum(r.prompt_tokens > cap_small for r in reqs)
    assert small.rejected == too_long > 0 and small.requests + small.rejected == len(reqs)
    assert 0 <= small.columns["cached_tokens"].sum() < sum(want)
