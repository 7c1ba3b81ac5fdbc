"""Every path that takes a backend slot, a breaker probe or a rate-limit token gives it back.

A real gateway (uvicorn on 127.0.0.1) in front of scripted backends (:class:`FunctionTransport`): each
request names, in its ``user`` field, how its backend misbehaves — refuses the connection, answers 500 or
429, hangs past the pool's time-to-first-byte limit, breaks off before or after the first event, raises a
bug — and some clients walk away mid-stream. Afterwards every in-flight count, gauge and probe is zero,
refused requests got their rate-limit token back, and every authenticated request has exactly one row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tokenfleet.gateway.app import create_app
from tokenfleet.gateway.auth import hash_key
from tokenfleet.gateway.config import parse_config
from tokenfleet.gateway.ledger import read_rows
from tokenfleet.gateway.runner import ServerThread
from tokenfleet.gateway.upstream import FunctionTransport, StaticResponse, UpstreamError, UpstreamRequest

MODEL = "m"
OK_BODY = orjson.dumps({"id": "x", "object": "chat.completion", "model": MODEL,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 1}})


def _event(text: str) -> bytes:
    return b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}) + b"\n\n"


class _Stream:
    """A streamed upstream response that misbehaves as told."""

    def __init__(self, mode: str) -> None:
        self.status, self.headers, self.mode = 200, {"content-type": "text/event-stream"}, mode

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        if self.mode == "broken-before-first":
            raise UpstreamError("reset before any event", connect=False)
        yield _event("one")
        if self.mode == "cut-after-first":
            raise UpstreamError("reset mid-stream", connect=False)
        for _ in range(1000 if self.mode == "slow" else 2):  # "slow": the client leaves before this ends
            await asyncio.sleep(0.01)
            yield _event(" more")
        yield b"data: [DONE]\n\n"

    async def aread(self) -> bytes:
        return b""

    async def aclose(self) -> None:
        return None


class _BrokenBody(StaticResponse):
    async def aread(self) -> bytes:
        raise UpstreamError("body broke off", connect=False)


async def backend(req: UpstreamRequest) -> Any:
    mode = orjson.loads(req.body).get("user", "ok")
    if mode == "connect":
        raise UpstreamError("connection refused", connect=True)
    if mode == "500":
        return StaticResponse(500, {}, b'{"error": "boom"}')
    if mode == "429":
        return StaticResponse(429, {"retry-after": "0.05"}, b'{"error": "slow down"}')
    if mode == "hang":
        await asyncio.sleep(30)
    if mode == "bug":
        raise RuntimeError("a bug in a transport")
    if mode == "broken-body":
        return _BrokenBody(200, {}, b"")
    if req.stream:
        return _Stream(mode)
    return StaticResponse(200, {}, OK_BODY)


MODES = ["connect", "500", "429", "hang", "bug", "broken-body", "broken-before-first", "cut-after-first", "ok"]


@pytest.fixture
def gateway(tmp_path: Path) -> Any:
    transports = {n: FunctionTransport(backend) for n in ("a", "b")}
    cfg = parse_config({
        "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.db'}", "flush_interval_s": 0.05},
        "retry": {"backoff_ms": 0, "max_retry_after_s": 0.2},
        "breaker": {"failures": 1000, "cooldown_s": 0.05},
        "keys": [{"id": "k", "hash": hash_key("key"), "rate_per_s": 0.001, "burst": 1000}],
        "pools": [{"name": "p", "model": MODEL, "ttfb_timeout_s": 0.2,
                   "backends": [{"url": "http://127.0.0.1:9", "name": "a"},
                                {"url": "http://127.0.0.1:9", "name": "b"}]}]})
    app = create_app(cfg, transports)
    with ServerThread(app) as gw:
        yield gw, app, cfg


def _post(gw: ServerThread, body: dict[str, Any], key: str = "key") -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=10,
                      headers={"authorization": f"Bearer {key}"})


def _holds(app: Any) -> dict[str, Any]:
    g = app.state.gateway
    text = g.metrics.render().decode()
    gauges = [line for line in text.splitlines() if line.startswith("tokenfleet_backend_in_flight{")]
    return {"in_flight": [b.telemetry.in_flight for b in g.fleet.backends],
            "gauges": sorted({float(line.rsplit(" ", 1)[1]) for line in gauges}),
            "probing": [b.breaker.probing for b in g.fleet.backends], "waiting": g.proxy.admission.waiting}


def _settle(app: Any) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_holds(app)["in_flight"] + _holds(app)["probing"]):
        time.sleep(0.02)


def test_every_error_path_gives_back_every_slot_probe_and_token(gateway: Any) -> None:
    gw, app, cfg = gateway
    g = app.state.gateway
    msg = [{"role": "user", "content": "x"}]
    statuses: dict[str, list[int]] = {}
    sent = 0
    for mode in MODES:
        for stream in (False, True):
            r = _post(gw, {"model": MODEL, "messages": msg, "user": mode, "stream": stream, "max_tokens": 4})
            sent += 1
            statuses.setdefault(mode, []).append(r.status_code)
            if mode == "cut-after-first" and stream:
                assert b'"code":"stream_cut"' in r.content  # the cut stream ends with an error event
    assert statuses["ok"] == [200, 200] and statuses["cut-after-first"][0] == 200
    assert statuses["500"] == [502, 502] and statuses["connect"] == [502, 502]
    assert statuses["429"] == [429, 429] and statuses["hang"] == [504, 504]
    assert statuses["bug"] == [500, 500]

    # clients that walk away mid-stream
    for _ in range(3):
        with httpx.stream("POST", gw.url + "/v1/chat/completions", timeout=10,
                          headers={"authorization": "Bearer key"},
                          json={"model": MODEL, "messages": msg, "user": "slow", "stream": True}) as r:
            assert r.status_code == 200
            next(r.iter_bytes())
        sent += 1
    # bad input after authentication: nothing is taken, every token comes back
    deep = {"model": MODEL, "messages": msg, "x": []}
    node = deep["x"]
    for _ in range(300):  # passes the JSON parser (1,024 deep) but cannot be re-serialised (255)
        node.append([])
        node = node[0]
    for body in (deep, {"model": MODEL, "messages": msg, "max_tokens": True}, {"model": "nope", "messages": msg}):
        assert _post(gw, body).status_code in (400, 404)
        sent += 1
    _settle(app)  # the walked-away streams notice their clients are gone
    # a half-open probe whose client leaves: the probe is handed back, not stuck
    a = g.fleet.backends[0]
    a.breaker.eject("test")
    time.sleep(0.06)  # past the cooldown: half-open
    g.fleet.backends[1].breaker.cool_down(60)  # so the probe goes to a
    with httpx.stream("POST", gw.url + "/v1/chat/completions", timeout=10, headers={"authorization": "Bearer key"},
                      json={"model": MODEL, "messages": msg, "user": "slow", "stream": True}) as r:
        chunks = r.iter_bytes()  # held: dropping the generator would close the response
        next(chunks)
        assert a.breaker.probing and a.telemetry.in_flight == 1
    sent += 1

    _settle(app)
    assert _holds(app) == {"in_flight": [0, 0], "gauges": [0.0], "probing": [False, False], "waiting": 0}
    state = g.auth.known("Bearer key")
    # a token per request that reached a backend; the refused bad-input ones were handed back
    assert state is not None and state.bucket is not None  # (it refills at 0.001/s)
    assert 1000 - state.bucket._tokens == pytest.approx(sent - 3, abs=0.1)
    gw.stop()
    rows = read_rows(cfg.ledger.url)
    assert len(rows) == sent and len({r.request_id for r in rows}) == sent  # one row each, refusals too
    assert sum(r.status == 500 and r.error is not None and "internal" in r.error for r in rows) == 2
    assert sum(r.error == "client disconnected" for r in rows) == 4
