"""Prefix- and prefill-aware routing end to end: the official ``openai`` client -> the gateway (real
servers on 127.0.0.1) -> three emulated H100 backends whose replica model caches prompt blocks.

Multi-turn conversations (a long document, then questions; each turn resends the whole history, as chat
clients do) are run under ``round-robin``, ``prefill-load`` and ``prefix-aware``. The emulators report
the prompt tokens they took from their prefix cache; the client measures each request's latency. The
requests of the round-robin run (send times, prompt lengths, the prompt block hashes the emulator computed)
are then replayed in the simulator on the same fleet under each policy (one arrival stream for all: the
clients are closed-loop, so each live run has its own), and both must rank the policies the same way: prefix-aware
and prefill-load reuse more of the cache and answer sooner than round-robin.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from tokenfleet.gateway.app import create_app
from tokenfleet.gateway.config import parse_config
from tokenfleet.gateway.emulator.replica import PREFIX_BLOCK_TOKENS
from tokenfleet.gateway.emulator.server import create_emulator_app
from tokenfleet.gateway.runner import ServerThread
from tokenfleet.gateway.tokens import prompt_tokens
from tokenfleet.scenario import parse_scenario
from tokenfleet.sim import Simulation
from tokenfleet.sim.summary import summarize
from tokenfleet.workload import Request
from tokenfleet.workload.prefix import PromptHasher

MODEL = "llama-3.1-8b"
BACKENDS = 3
SESSIONS, TURNS = 5, 4  # 5 sessions on 3 backends: round-robin moves a conversation every turn
DOC_WORDS = 3500  # ~ 9,000 tokens of document per conversation: ~0.3 s of H100 prefill uncached
POLICIES = ("round-robin", "prefill-load", "prefix-aware")


@pytest.fixture(scope="module")
def emulators() -> Iterator[list[ServerThread]]:
    servers = [ServerThread(create_emulator_app("h100", MODEL)).start() for _ in range(BACKENDS)]
    yield servers
    for s in servers:
        s.stop()


def cache_stats(emulators: list[ServerThread]) -> tuple[int, int]:
    prompt = cached = 0
    with httpx.Client(timeout=10) as c:
        for e in emulators:
            for r in c.get(e.url + "/_emulator/stats").json()["replicas"]:
                prompt += r["prompt_tokens"]
                cached += r["cached_tokens"]
    return prompt, cached


def run_policy(policy: str, emulators: list[ServerThread], tmp_path: Path) -> dict[str, Any]:
    cfg = parse_config({
        "ledger": {"url": f"sqlite:///{tmp_path / (policy + '.db')}", "flush_interval_s": 0.05},
        "routing": {"policy": policy},
        "pools": [{"name": "h100", "model": MODEL, "hardware": "h100",
                   "backends": [{"url": e.url, "name": f"h100-{i}"} for i, e in enumerate(emulators)]}],
    })
    p0, c0 = cache_stats(emulators)
    sent: list[tuple[float, str]] = []  # (send time from start, prompt text as the emulator joins it)
    latencies: list[float] = []
    with ServerThread(create_app(cfg)) as gw:
        client = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0, timeout=60)
        t_start = time.perf_counter()

        async def session(s: int) -> None:
            await asyncio.sleep(0.05 * s)
            doc = " ".join(f"p{POLICIES.index(policy)}s{s}w{i}" for i in range(DOC_WORDS))  # no sharing
            msgs: list[dict[str, str]] = [{"role": "user", "content": doc}]
            for turn in range(TURNS):
                msgs.append({"role": "user", "content": f"question {turn} about document {s}?"})
                t0 = time.perf_counter()
                sent.append((t0 - t_start, "\n".join(m["content"] for m in msgs)))
                r = await client.chat.completions.create(model=MODEL + ":batch", messages=msgs, max_tokens=2)
                latencies.append(time.perf_counter() - t0)
                msgs.append({"role": "assistant", "content": r.choices[0].message.content or ""})

        async def main() -> None:
            await asyncio.gather(*[session(s) for s in range(SESSIONS)])
            await client.close()

        asyncio.run(main())
    p1, c1 = cache_stats(emulators)
    return {"hit": (c1 - c0) / (p1 - p0), "latency_s": float(np.mean(latencies)), "sent": sent}


def replay(policy: str, sent: list[tuple[float, str]]) -> dict[str, float]:
    """The gateway run's requests in the simulator, on the same three H100 replicas."""
    hasher = PromptHasher(PREFIX_BLOCK_TOKENS)
    reqs = [Request(i, t, prompt_tokens(text), 2, "c", hasher.hashes(text))
            for i, (t, text) in enumerate(sorted(sent))]
    sc = parse_scenario({
        "traffic": [{"name": "c", "model": MODEL, "arrivals": {"process": "poisson", "rate_rps": 1},
                     "input_tokens": {"value": 9000}, "output_tokens": {"value": 2}}],
        "pools": [{"name": "h100", "hardware": "h100", "replicas": BACKENDS,
                   "scheduler": {"prefix_caching": True, "prefix_block_tokens": PREFIX_BLOCK_TOKENS}}],
        "routing": {"policy": policy}, "sim": {"max_requests": len(reqs)},
    }, "e2e.yaml")
    f = summarize(Simulation(sc, requests=reqs).run())["fleet"]
    return {"hit": f["prefix_hit_rate"], "latency_s": f["e2e_s"]["mean"]}


def test_gateway_ranks_policies_as_the_simulator_does(emulators: list[ServerThread], tmp_path: Path) -> None:
    live = {p: run_policy(p, emulators, tmp_path) for p in POLICIES}
    # The clients are closed-loop, so a faster policy sends its later turns sooner: each live run has its own
    # arrival times. The simulator compares the policies on one request stream, the baseline's (round-robin).
    sim = {p: replay(p, live["round-robin"]["sent"]) for p in POLICIES}
    for where, got in (("gateway", live), ("simulator", sim)):
        rr, pl, pa = (got[p] for p in POLICIES)
        # prefix-aware keeps a conversation where its history is cached: all but the newest question
        assert pa["hit"] > 0.6, (where, got)
        assert pa["hit"] > rr["hit"] + 0.2, (where, got)  # round-robin finds its history about 1 time in 3
        assert pa["hit"] >= pl["hit"] - 0.05, (where, got)
        assert pa["latency_s"] < 0.8 * rr["latency_s"], (where, got)
        # prefill-load counts cached tokens as no work, so it keeps some affinity, and is never slower
        assert pl["hit"] >= rr["hit"], (where, got)
        assert pl["latency_s"] <= 1.05 * rr["latency_s"], (where, got)  # 5 %: timing noise of a live run
