"""The gateway's routing adapter for prefix- and prefill-aware policies: prompt hashes from request bodies,
the per-backend prefix estimate, and the fluid prefill queue (a fake clock, no servers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tokenfleet.gateway.config import parse_config
from tokenfleet.gateway.fleet import Fleet
from tokenfleet.gateway.router import Router, body_prompt_text
from tokenfleet.workload.prefix import char_block_hashes

MODEL = "llama-3.1-8b"


@dataclass
class FakeCall:
    body: dict[str, Any]
    request_id: str
    prompt_tokens_est: int
    model: str = MODEL
    slo_class: str = "batch"
    tier: str = "batch"
    max_output_tokens: int = 10
    ttft_slo_ms: float | None = None
    tpot_slo_ms: float | None = None


class Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


def router(policy: str, **prefix: Any) -> tuple[Router, Fleet, Clock]:
    cfg = parse_config({"routing": {"policy": policy, "prefix": prefix}, "pools": [
        {"name": "h100", "model": MODEL, "hardware": "h100",
         "backends": [{"url": f"http://127.0.0.1:{9 + i}", "name": f"b{i}"} for i in range(3)]}]})
    fleet = Fleet(cfg)
    clock = Clock()
    return Router(cfg.routing, fleet, clock), fleet, clock


def call(i: int, history: list[str]) -> FakeCall:
    body = {"model": MODEL, "messages": [{"role": "user", "content": c} for c in history]}
    return FakeCall(body, f"r{i}", len("\n".join(history)) // 4)


def test_prompt_text_joins_messages_as_the_emulator_does() -> None:
    assert body_prompt_text({"messages": [{"role": "system", "content": "a"},
                                          {"role": "user", "content": [{"type": "text", "text": "b"}]}]}) == "a\nb"
    assert body_prompt_text({"prompt": "xyz"}) == "xyz"
    assert body_prompt_text({"prompt": ["x", "y"]}) == "x\ny"


def test_a_conversation_stays_on_the_backend_that_holds_its_history() -> None:
    r, _, clock = router("prefix-aware")
    assert not r.hasher.exact  # no tokenizer configured: approximate character blocks
    docs = [" ".join(f"d{s}w{i}" for i in range(800)) for s in range(3)]
    first = []
    for s, d in enumerate(docs):
        b = r.choose(call(s, [d]), set())
        assert b is not None
        b.telemetry.start()  # the proxy does this when it forwards
        first.append(b.name)
        clock.t += 0.01
    assert len(set(first)) == 3  # nothing cached anywhere: the prefill queues spread them
    idx = r.prefix_index(MODEL)
    assert idx is not None
    assert idx.matched_blocks(char_block_hashes(docs[0], 64), int(first[0][1:])) == len(docs[0]) // 256
    clock.t += 5.0  # prefills are long done
    for s, d in enumerate(docs):
        b = r.choose(call(10 + s, [d, "a question"]), set())
        assert b is not None and b.name == first[s]


def test_fluid_prefill_queue_drains_at_the_modelled_rate() -> None:
    r, _, _ = router("prefill-load")
    b = r.choose(call(0, ["x" * 40000]), set())  # 10,000 prompt tokens, nothing cached
    assert b is not None
    b.telemetry.start()
    rate = r.batch_prefill_rate(b)
    assert rate > 0
    assert r.waiting_prefill_tokens(b, rate, 0.0) == pytest.approx(10000)
    assert r.waiting_prefill_tokens(b, rate, 0.5 * 10000 / rate) == pytest.approx(5000)
    snap = r.snapshot(b, set())
    assert snap.waiting_prefill_tokens == 5000
    overhead = b.pool.deployment.params.request_overhead_s if b.pool.deployment else 0.0
    assert snap.prefill_wait_s == pytest.approx(5000 / rate + overhead)
    c2 = r.choose(call(1, ["y" * 40000]), set())  # the next long prompt goes to an idle backend
    assert c2 is not None and c2.name != b.name
    b.telemetry.finish()  # nothing in flight: nothing waits
    assert r.waiting_prefill_tokens(b, rate, 0.5 * 10000 / rate + 1e-3) == 0
