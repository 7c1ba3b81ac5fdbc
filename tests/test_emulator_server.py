"""The emulator as a real HTTP server: timing follows the performance model, usage is consistent,
failure injection works."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from tokenfleet import perf
from tokenfleet.gateway import tokens
from tokenfleet.gateway.emulator.faults import Faults
from tokenfleet.gateway.emulator.server import create_emulator_app
from tokenfleet.gateway.runner import ServerThread

MODEL = "llama-3.3-70b"
PROMPT = "x" * 2000  # 500 prompt tokens by the 4-characters rule


@pytest.fixture(scope="module")
def h100() -> Iterator[ServerThread]:
    with ServerThread(create_emulator_app("h100", MODEL)) as srv:
        yield srv


def _stream_times(url: str, max_tokens: int) -> tuple[float, list[float], list[bytes]]:
    body = {"model": MODEL, "prompt": PROMPT, "max_tokens": max_tokens, "stream": True}
    events, stamps = [], []
    with httpx.Client(timeout=30) as c:
        c.get(url + "/healthz")  # warm the connection
        t0 = time.perf_counter()
        with c.stream("POST", url + "/v1/completions", json=body) as r:
            for line in r.iter_lines():
                if line.startswith("data: ") and '"text":" ' in line:
                    stamps.append(time.perf_counter() - t0)
                    events.append(line.encode())
    return stamps[0], [b - a for a, b in itertools.pairwise(stamps)], events


def test_token_timing_follows_the_performance_model(h100: ServerThread) -> None:
    dep = perf.deploy(MODEL, "h100")
    p = tokens.prompt_tokens(PROMPT)
    ttft_pred = dep.params.request_overhead_s + dep.step_time(p, 0, 0)  # API overhead + one prefill step
    ttft, gaps, events = _stream_times(h100.url, 12)
    assert len(events) == 12
    assert ttft_pred - 0.002 <= ttft <= ttft_pred + 0.040
    gap_pred = sum(dep.step_time(0, 1, p + k) for k in range(11)) / 11  # decode k at context p + k
    assert sum(gaps) / len(gaps) == pytest.approx(gap_pred, rel=0.15)


def test_decode_slows_with_load_as_predicted() -> None:
    """On a CS-3 (SRAM, latency floor + work) the step grows with the batch: 48 concurrent streams see
    the batch-48 step between their tokens, not the batch-1 step."""
    import asyncio

    dep = perf.deploy(MODEL, "cs3")
    n, out, scale = 48, 40, 25.0  # steps of ~40 ms: per-token HTTP overhead on 2 busy cores stays well under 5 %
    lo, hi = 10, 30  # a window of tokens while every stream decodes (after the arrival ramp, before any ends)
    with ServerThread(create_emulator_app("cs3", MODEL, time_scale=scale)) as srv:

        async def one(client: httpx.AsyncClient) -> float:
            body = {"model": MODEL, "prompt": "hi", "max_tokens": out, "stream": True}
            stamps = []
            async with client.stream("POST", srv.url + "/v1/completions", json=body) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data: ") and '"text":" ' in line:
                        stamps.append(time.perf_counter())
            assert len(stamps) == out
            return (stamps[hi - 1] - stamps[lo - 1]) / (hi - lo)

        async def main() -> list[float]:
            async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=n)) as c:
                return await asyncio.gather(*[one(c) for _ in range(n)])

        gaps = asyncio.run(main())
    mid = (lo + hi) // 2
    batch_pred = scale * dep.step_time(0, n, n * (1 + mid))  # prompt "hi" is one token
    single_pred = scale * dep.step_time(0, 1, 1 + mid)
    assert batch_pred > 1.1 * single_pred  # the test means something only if load matters
    assert float(np.median(gaps)) == pytest.approx(batch_pred, rel=0.05)


def test_stream_and_non_stream_agree(h100: ServerThread) -> None:
    msgs = [{"role": "user", "content": "tell me about wafers " * 10}]
    with httpx.Client(timeout=30) as c:
        full = c.post(h100.url + "/v1/chat/completions",
                      json={"model": MODEL, "messages": msgs, "max_tokens": 6}).json()
        text, usage = "", None
        with c.stream("POST", h100.url + "/v1/chat/completions",
                      json={"model": MODEL, "messages": msgs, "max_tokens": 6, "stream": True,
                            "stream_options": {"include_usage": True}}) as r:
            import json

            for line in r.iter_lines():
                if line.startswith("data: {"):
                    obj = json.loads(line[6:])
                    if obj["choices"]:
                        text += obj["choices"][0]["delta"].get("content", "")
                    if obj.get("usage"):
                        usage = obj["usage"]
    assert full["choices"][0]["message"]["content"] == text
    assert full["usage"] == usage
    assert usage["completion_tokens"] == tokens.completion_tokens(text) == 6
    assert usage["prompt_tokens"] == tokens.prompt_tokens(msgs[0]["content"])


def test_failure_injection_and_bad_requests(h100: ServerThread) -> None:
    with httpx.Client(base_url=h100.url, timeout=30) as c:
        r = c.post("/v1/completions", json={"model": "gpt-9", "prompt": "a"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
        assert c.post("/_emulator/faults", json={"error_rate": 2}).status_code == 400
        assert c.post("/_emulator/faults", json={"error_rate": 1, "error_status": 503,
                                                 "retry_after_s": 0.5}).status_code == 200
        r = c.post("/v1/completions", json={"model": MODEL, "prompt": "a", "max_tokens": 2})
        assert r.status_code == 503 and r.headers["retry-after"] == "0.5"
        assert r.json()["error"]["type"] == "server_error"
        c.post("/_emulator/faults", json={"cut_rate": 1, "cut_after_tokens": 2})
        with pytest.raises(httpx.RemoteProtocolError), \
                c.stream("POST", "/v1/completions",
                         json={"model": MODEL, "prompt": "a", "max_tokens": 5, "stream": True}) as r:
            list(r.iter_lines())
        c.post("/_emulator/faults", json={})
        ok = c.post("/v1/completions", json={"model": MODEL, "prompt": "a", "max_tokens": 2})
        assert ok.status_code == 200
        stats = c.get("/_emulator/stats").json()
        (rep,) = stats["replicas"]
        assert rep["steps"] >= 2 and rep["busy_s"] > 0 and rep["load"] == 0  # the sim replica's own counters


def test_faults_validation() -> None:
    assert Faults.from_dict({"cut_rate": 0.5}).cut_rate == 0.5
    with pytest.raises(Exception, match="unknown fault"):
        Faults.from_dict({"explode": 1})
