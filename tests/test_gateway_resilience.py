"""Hung and rate-limited backends, a drain past its timeout, strict request bodies, key scopes, /metrics key.

Real servers on 127.0.0.1: emulated H100 backends (``tokenfleet.gateway.emulator``) with injected faults
behind a real gateway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tokenfleet.gateway.app import create_app
from tokenfleet.gateway.auth import hash_key
from tokenfleet.gateway.config import parse_config
from tokenfleet.gateway.emulator.faults import Faults
from tokenfleet.gateway.emulator.server import create_emulator_app
from tokenfleet.gateway.ledger import read_rows
from tokenfleet.gateway.runner import ServerThread

MODEL = "llama-3.1-8b"
MSG = [{"role": "user", "content": "hello"}]


def emulator(time_scale: float = 0.0, **faults: Any) -> ServerThread:
    return ServerThread(create_emulator_app("h100", MODEL, time_scale=time_scale,
                                            faults=Faults.from_dict(faults) if faults else None)).start()


def config(tmp_path: Path, backends: list[ServerThread], **extra: Any) -> dict[str, Any]:
    pool = {"name": "h100", "model": MODEL, "hardware": "h100", "usd_per_mtok_out": 1.0,
            "backends": [{"url": b.url, "name": f"b{i}"} for i, b in enumerate(backends)],
            **extra.pop("pool", {})}
    return {"ledger": {"url": f"sqlite:///{tmp_path / 'l.db'}", "flush_interval_s": 0.05},
            "retry": {"backoff_ms": 0}, "routing": {"policy": "round-robin"}, "pools": [pool], **extra}


def chat(gw: ServerThread, **body: Any) -> httpx.Response:
    headers = body.pop("headers", {})
    return httpx.post(gw.url + "/v1/chat/completions", json={"model": MODEL, "messages": MSG, "max_tokens": 3,
                                                             **body}, headers=headers, timeout=30)


@pytest.fixture
def healthy() -> Iterator[ServerThread]:
    b = emulator()
    yield b
    b.stop()


def test_a_hung_backend_costs_one_ttfb_timeout_then_is_ejected(tmp_path: Path, healthy: ServerThread) -> None:
    hung = emulator(hang_rate=1.0)
    cfg = parse_config(config(tmp_path, [hung, healthy], pool={"ttfb_timeout_s": 0.3},
                              breaker={"failures": 5, "cooldown_s": 60}))
    try:
        with ServerThread(create_app(cfg)) as gw:
            served = [chat(gw, stream=i % 2 == 1) for i in range(10)]
            metrics = httpx.get(gw.url + "/metrics").text
            tried = httpx.get(hung.url + "/_emulator/stats").json()["requests_total"]
    finally:
        hung.kill()
    assert [r.status_code for r in served] == [200] * 10
    assert {r.headers["x-tokenfleet-backend"] for r in served} == {"b1"}
    assert tried == 1  # one request waited out the time-to-first-byte limit; then b0 was out of routing
    assert 'tokenfleet_backend_ejections_total{backend="b0",reason="ttfb_timeout"} 1.0' in metrics


def test_429_cools_a_backend_down_and_passes_retry_after(tmp_path: Path, healthy: ServerThread) -> None:
    limited = emulator(error_rate=1.0, error_status=429, retry_after_s=30)
    alone = emulator(error_rate=1.0, error_status=429, retry_after_s=1)
    try:
        cfg = parse_config(config(tmp_path, [limited, healthy], retry={"backoff_ms": 0, "max_retry_after_s": 60}))
        with ServerThread(create_app(cfg)) as gw:
            t0 = time.monotonic()
            replies = [chat(gw) for _ in range(6)]
            assert time.monotonic() - t0 < 10  # another backend could serve: nobody waited 30 s
            assert all(r.status_code == 200 and r.headers["x-tokenfleet-backend"] == "b1" for r in replies)
            assert httpx.get(limited.url + "/_emulator/stats").json()["requests_total"] == 1  # cooled down
        cfg = parse_config(config(tmp_path, [alone], retry={"backoff_ms": 0, "max_retry_after_s": 1.5}))
        with ServerThread(create_app(cfg)) as gw:
            t0 = time.monotonic()
            r = chat(gw)
            waited = time.monotonic() - t0
        attempts = httpx.get(alone.url + "/_emulator/stats").json()["requests_total"]
    finally:
        limited.stop()
        alone.stop()
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json()["error"]["type"] == "rate_limit_error"
    assert attempts == 2 and waited >= 0.9  # no other backend: waited once for Retry-After, then answered


def test_a_drain_past_its_timeout_ends_streams_with_an_error_event_and_a_row(tmp_path: Path) -> None:
    slow = emulator(time_scale=5.0)  # 2,000 tokens at ~35 ms each: far longer than the drain
    cfg = parse_config(config(tmp_path, [slow], drain_timeout_s=1.0))
    gw = ServerThread(create_app(cfg), drain_timeout_s=1.0).start()
    got: list[bytes] = []
    started = threading.Event()

    def reader() -> None:
        with httpx.stream("POST", gw.url + "/v1/chat/completions", timeout=30,
                          json={"model": MODEL, "messages": MSG, "max_tokens": 2000, "stream": True}) as r:
            for chunk in r.iter_bytes():
                got.append(chunk)
                if len(got) >= 4:
                    started.set()

    plain: list[httpx.Response] = []
    t = threading.Thread(target=reader)
    t.start()
    u = threading.Thread(target=lambda: plain.append(chat(gw, max_tokens=2000)))  # not streamed
    u.start()
    assert started.wait(20)
    t0 = time.monotonic()
    gw.stop()
    t.join(10)
    u.join(10)
    assert time.monotonic() - t0 < 5  # the drain timeout (1 s) and a little
    slow.kill()
    body = b"".join(got)
    assert b'"code":"gateway_shutdown"' in body and b"[DONE]" not in body
    assert plain[0].status_code == 503 and plain[0].json()["error"]["code"] == "gateway_shutdown"
    rows = sorted(read_rows(cfg.ledger.url), key=lambda r: r.stream)
    assert [(r.stream, r.status) for r in rows] == [(False, 503), (True, 200)]
    assert all(r.error is not None and "drain timeout" in r.error for r in rows)
    assert rows[1].completion_tokens > 0


@pytest.mark.parametrize(("body", "headers", "param"), [
    ({"max_tokens": True}, {}, "max_tokens"),
    ({"max_tokens": "5"}, {}, "max_tokens"),
    ({"stream": "yes"}, {}, "stream"),
    ({"n": 1000}, {}, "n"),
    ({"n": 1.5}, {}, "n"),
    ({}, {"x-slo-ttft-ms": "inf"}, "x-slo-ttft-ms"),
])
def test_strict_bodies_and_headers(tmp_path: Path, healthy: ServerThread, body: dict[str, Any],
                                   headers: dict[str, str], param: str) -> None:
    with ServerThread(create_app(parse_config(config(tmp_path, [healthy])))) as gw:
        r = chat(gw, headers=headers, **body)
        assert r.status_code == 400 and r.json()["error"]["param"] == param
        assert chat(gw).status_code == 200
    (refused, served) = read_rows(f"sqlite:///{tmp_path / 'l.db'}")
    assert (refused.status, refused.pool) == (400, "-") and served.status == 200  # the refusal is a row


def test_key_scopes_lowercase_bearer_and_the_metrics_key(tmp_path: Path, healthy: ServerThread) -> None:
    other = emulator()
    keys = [{"id": "scoped", "hash": hash_key("k1"), "pools": ["h100"]},
            {"id": "other-model", "hash": hash_key("k2"), "models": [MODEL]}]
    cfg = config(tmp_path, [healthy], keys=keys, metrics_key_hash=hash_key("scrape"))
    cfg["pools"].append({"name": "spare", "model": MODEL, "hardware": "h100",
                         "backends": [{"url": other.url, "name": "spare-0"}]})
    try:
        with ServerThread(create_app(parse_config(cfg))) as gw:
            pools = {chat(gw, headers={"authorization": "bearer k1"}).headers["x-tokenfleet-pool"]
                     for _ in range(6)}
            assert pools == {"h100"}  # never routed to a pool outside the key's scope
            assert chat(gw, headers={"authorization": "BEARER k2"}).status_code == 200
            assert chat(gw, headers={"authorization": "Bearer nope"}).status_code == 401
            assert httpx.get(gw.url + "/metrics").status_code == 401
            assert httpx.get(gw.url + "/metrics", headers={"authorization": "Bearer k1"}).status_code == 401
            m = httpx.get(gw.url + "/metrics", headers={"authorization": "Bearer scrape"})
            assert m.status_code == 200 and "tokenfleet_ledger_backlog_rows" in m.text
    finally:
        other.stop()


def test_key_scoped_to_a_model_is_refused_others(tmp_path: Path, healthy: ServerThread) -> None:
    cfg = config(tmp_path, [healthy], keys=[{"id": "a", "hash": hash_key("k"), "models": ["other"]}])
    cfg["pools"].append({"name": "o", "model": "other", "backends": [{"url": healthy.url, "name": "o0"}]})
    with ServerThread(create_app(parse_config(cfg))) as gw:
        r = chat(gw, headers={"authorization": "Bearer k"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
