"""The gateway as real servers on 127.0.0.1: the official ``openai`` client -> gateway -> emulators.

No part of the gateway's HTTP layer is mocked. Emulated backends: a CS-3 pool tagged for the
ultra-low-latency tier and an H100 pool for standard and batch work, both serving Llama 3.3 70B.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tokenfleet.gateway.app import create_app
from tokenfleet.gateway.auth import hash_key
from tokenfleet.gateway.config import parse_config
from tokenfleet.gateway.emulator.server import create_emulator_app
from tokenfleet.gateway.ledger import read_rows
from tokenfleet.gateway.runner import ServerThread

MODEL = "llama-3.3-70b"
PRICE_IN, PRICE_OUT = 0.85, 1.20  # $/Mtok of the cs3 pool
MSG = [{"role": "user", "content": "How many wafers make a fleet?"}]


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[str, ServerThread]]:
    servers = {"cs3": ServerThread(create_emulator_app("cs3", MODEL)).start(),
               "h100": ServerThread(create_emulator_app("h100", MODEL)).start()}
    yield servers
    for s in servers.values():
        s.stop()


def gateway_config(emulators: dict[str, ServerThread], tmp_path: Path, **extra: Any) -> dict[str, Any]:
    pools = extra.pop("pools", None) or [
        {"name": "cs3-fast", "model": MODEL, "hardware": "cs3", "tiers": ["ultra-low-latency"],
         "usd_per_mtok_in": PRICE_IN, "usd_per_mtok_out": PRICE_OUT,
         "backends": [{"url": emulators["cs3"].url, "name": "cs3-a"}]},
        {"name": "h100-std", "model": MODEL, "hardware": "h100", "tiers": ["standard", "batch"],
         "usd_per_mtok_in": 0.2, "usd_per_mtok_out": 0.6,
         "backends": [{"url": emulators["h100"].url, "name": "h100-a"}]},
    ]
    return {"ledger": {"url": f"sqlite:///{tmp_path / 'ledger.db'}", "flush_interval_s": 0.05},
            "retry": {"backoff_ms": 1}, "pools": pools, **extra}


@pytest.fixture
def gateway(emulators: dict[str, ServerThread], tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(create_app(parse_config(gateway_config(emulators, tmp_path)))) as gw:
        yield gw


def client(gw: ServerThread, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=30)


def test_chat_and_completions_streaming_and_not_report_usage(gateway: ServerThread) -> None:
    c = client(gateway)
    chat = c.chat.completions.create(model=MODEL + ":fast", messages=MSG, max_tokens=7)
    assert chat.model == MODEL
    assert chat.usage is not None and chat.usage.completion_tokens == 7
    assert len((chat.choices[0].message.content or "").split()) == 7
    text, usage = "", None
    for chunk in c.chat.completions.create(model=MODEL + ":fast", messages=MSG, max_tokens=5,
                                           stream=True, stream_options={"include_usage": True}):
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert usage is not None and usage.completion_tokens == 5 == len(text.split())
    assert usage.prompt_tokens == chat.usage.prompt_tokens  # same prompt, same count either way
    comp = c.completions.create(model=MODEL + ":fast", prompt="wafer scale", max_tokens=3)
    assert comp.usage is not None and comp.usage.completion_tokens == 3 and comp.choices[0].text
    pieces = list(c.completions.create(model=MODEL + ":fast", prompt="wafer scale", max_tokens=3,
                                       stream=True))
    assert "".join(p.choices[0].text for p in pieces if p.choices) == comp.choices[0].text
    assert all(p.usage is None for p in pieces)  # not asked for: the gateway's own usage chunk is dropped


def test_httpx_transport_kind_serves_the_same(emulators: dict[str, ServerThread], tmp_path: Path) -> None:
    pools = [{"name": "h", "model": MODEL, "hardware": "cs3", "kind": "openai-httpx",
              "backends": [{"url": emulators["cs3"].url}]}]
    with ServerThread(create_app(parse_config(gateway_config(emulators, tmp_path, pools=pools)))) as gw:
        c = client(gw)
        full = c.chat.completions.create(model=MODEL, messages=MSG, max_tokens=4)
        streamed = "".join(ch.choices[0].delta.content or "" for ch in
                           c.chat.completions.create(model=MODEL, messages=MSG, max_tokens=4, stream=True)
                           if ch.choices)
    assert full.choices[0].message.content == streamed and len(streamed.split()) == 4


def test_ultra_low_latency_lands_on_the_fast_pool(gateway: ServerThread) -> None:
    c = client(gateway)

    def pool_of(model: str, headers: dict[str, str] | None = None) -> str:
        raw = c.chat.completions.with_raw_response.create(model=model, messages=MSG, max_tokens=2,
                                                          extra_headers=headers)
        return raw.headers["x-tokenfleet-pool"]

    assert pool_of(MODEL + ":fast") == "cs3-fast"
    assert pool_of(MODEL, {"x-slo-tier": "ultra-low-latency"}) == "cs3-fast"
    assert pool_of(MODEL) == "h100-std"
    assert pool_of(MODEL + ":batch") == "h100-std"


def test_failover_when_a_backend_is_killed_or_failing(tmp_path: Path) -> None:
    a = ServerThread(create_emulator_app("cs3", MODEL)).start()
    b = ServerThread(create_emulator_app("cs3", MODEL)).start()
    pools = [{"name": "cs3", "model": MODEL, "hardware": "cs3",
              "backends": [{"url": a.url, "name": "a"}, {"url": b.url, "name": "b"}]}]
    cfg = parse_config(gateway_config({}, tmp_path, pools=pools, routing={"policy": "round-robin"},
                                      breaker={"failures": 2, "cooldown_s": 60}))
    with ServerThread(create_app(cfg)) as gw:
        c = client(gw)
        raw = c.chat.completions.with_raw_response
        served = {raw.create(model=MODEL, messages=MSG, max_tokens=2).headers["x-tokenfleet-backend"]
                  for _ in range(4)}
        assert served == {"a", "b"}
        a.kill()
        for stream in (False, True, False, True, False, False):
            if stream:
                chunks = list(c.chat.completions.create(model=MODEL, messages=MSG, max_tokens=2, stream=True))
                assert chunks
            else:
                r = c.chat.completions.with_raw_response.create(model=MODEL, messages=MSG, max_tokens=2)
                assert r.headers["x-tokenfleet-backend"] == "b"
        metrics = httpx.get(gw.url + "/metrics").text
        assert 'tokenfleet_retries_total{backend="a",reason="connect"}' in metrics
        assert 'tokenfleet_backend_circuit_open{backend="a"} 1.0' in metrics  # two failures opened it
        httpx.post(b.url + "/_emulator/faults", json={"error_rate": 1.0})  # now b fails with 500s too
        with pytest.raises(openai.APIStatusError) as exc:
            c.chat.completions.create(model=MODEL, messages=MSG, max_tokens=2)
        assert exc.value.status_code in (502, 503)
    b.stop()


def test_a_cut_stream_ends_with_an_error_event(emulators: dict[str, ServerThread], tmp_path: Path) -> None:
    bad = ServerThread(create_emulator_app("cs3", MODEL)).start()
    httpx.post(bad.url + "/_emulator/faults", json={"cut_rate": 1.0, "cut_after_tokens": 3})
    pools = [{"name": "cs3", "model": MODEL, "hardware": "cs3", "backends": [{"url": bad.url}]}]
    cfg = parse_config(gateway_config(emulators, tmp_path, pools=pools))
    with ServerThread(create_app(cfg)) as gw:
        got = []
        with pytest.raises(openai.APIError, match="cut"):
            for chunk in client(gw).chat.completions.create(model=MODEL, messages=MSG, max_tokens=10,
                                                             stream=True):
                got.append(chunk.choices[0].delta.content)
        assert len(got) == 3  # what arrived before the cut was relayed, then the error
    bad.stop()
    rows = read_rows(cfg.ledger.url)
    assert len(rows) == 1 and rows[0].error is not None and "stream cut" in rows[0].error


def test_ledger_rows_match_what_clients_received(emulators: dict[str, ServerThread], tmp_path: Path) -> None:
    keys = [{"id": "team-a", "hash": hash_key("key-a")}, {"id": "team-b", "hash": hash_key("key-b")}]
    cfg = parse_config(gateway_config(emulators, tmp_path, keys=keys))
    seen: list[tuple[str, str, int, int, bool]] = []
    with ServerThread(create_app(cfg)) as gw:
        for i in range(8):
            key, team = ("key-a", "team-a") if i % 2 else ("key-b", "team-b")
            stream = i % 3 == 0
            model = MODEL + (":fast" if i < 5 else "")
            if stream:
                usage = None
                for ch in client(gw, key).chat.completions.create(
                        model=model, messages=MSG, max_tokens=2 + i, stream=True,
                        stream_options={"include_usage": True}):
                    usage = ch.usage or usage
            else:
                usage = client(gw, key).chat.completions.create(model=model, messages=MSG,
                                                                max_tokens=2 + i).usage
            assert usage is not None
            seen.append((team, "fast" if i < 5 else "standard", usage.prompt_tokens, usage.completion_tokens,
                         stream))
    rows = read_rows(cfg.ledger.url)  # the gateway stopped gracefully: every row is flushed
    assert [(r.key_id, r.slo_class, r.prompt_tokens, r.completion_tokens, r.stream) for r in rows] == seen
    for r in rows:
        assert r.status == 200 and r.error is None
        assert r.pool == ("cs3-fast" if r.slo_class == "fast" else "h100-std")
        if r.pool == "cs3-fast":
            usd = (r.prompt_tokens * PRICE_IN + r.completion_tokens * PRICE_OUT) / 1e6
            assert r.usd == pytest.approx(usd)
        assert r.joules is not None and r.joules > 0
        assert r.ttft_ms is not None and 0 < r.ttft_ms <= r.duration_ms


def test_auth_rate_and_budget_rejections(emulators: dict[str, ServerThread], tmp_path: Path) -> None:
    keys = [{"id": "rich", "hash": hash_key("rich-key")},
            {"id": "poor", "hash": hash_key("poor-key"), "budget_usd": 1e-9},
            {"id": "slow", "hash": hash_key("slow-key"), "rate_per_s": 0.01, "burst": 1}]
    with ServerThread(create_app(parse_config(gateway_config(emulators, tmp_path, keys=keys)))) as gw:
        with pytest.raises(openai.AuthenticationError) as e401:
            client(gw, "stolen").chat.completions.create(model=MODEL, messages=MSG)
        assert e401.value.code == "invalid_api_key"
        with pytest.raises(openai.RateLimitError) as e429:  # its reservation does not fit the budget
            client(gw, "poor-key").chat.completions.create(model=MODEL, messages=MSG, max_tokens=2)
        assert e429.value.code == "insufficient_quota"
        client(gw, "slow-key").chat.completions.create(model=MODEL, messages=MSG, max_tokens=2)
        with pytest.raises(openai.RateLimitError) as e429:
            client(gw, "slow-key").chat.completions.create(model=MODEL, messages=MSG, max_tokens=2)
        assert e429.value.code == "rate_limit_exceeded"
        assert client(gw, "rich-key").chat.completions.create(model=MODEL, messages=MSG, max_tokens=2).usage
        assert httpx.get(gw.url + "/v1/models").status_code == 401


@pytest.mark.parametrize(("body", "headers", "status", "code"), [
    (b"{not json", {}, 400, "invalid_json"),
    (b"[1, 2]", {}, 400, "invalid_json"),
    (b'{"model": "llama-3.3-70b"}', {}, 400, None),  # no messages
    (b'{"model": "llama-3.3-70b", "messages": [], "max_tokens": 2}', {}, 400, None),
    (b'{"model": "gpt-17", "messages": [{"role": "user", "content": "x"}]}', {}, 404, "model_not_found"),
    (b'{"model": "llama-3.3-70b:gold", "messages": [{"role": "user", "content": "x"}]}', {}, 404,
     "model_not_found"),
    (b'{"model": "llama-3.3-70b", "messages": [{"role": "user", "content": "x"}], "max_tokens": -3}', {}, 400,
     None),
    (b'{"model": "llama-3.3-70b", "messages": [{"role": "user", "content": "x"}]}',
     {"x-slo-ttft-ms": "0.001"}, 429, "slo_capacity_exceeded"),
    (b'{"model": "llama-3.3-70b", "messages": [{"role": "user", "content": "' + b"x" * 1_100_000 + b'"}]}',
     {}, 413, "request_too_large"),
])
def test_bad_input_gets_openai_errors_and_others_keep_being_served(
        gateway: ServerThread, body: bytes, headers: dict[str, str], status: int, code: str | None) -> None:
    r = httpx.post(gateway.url + "/v1/chat/completions", content=body,
                   headers={"content-type": "application/json", **headers}, timeout=30)
    assert r.status_code == status
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    if code:
        assert err["code"] == code
    ok = client(gateway).chat.completions.create(model=MODEL, messages=MSG, max_tokens=2)
    assert ok.usage is not None and ok.usage.completion_tokens == 2


def test_models_health_ready_metrics_and_unknown_paths(gateway: ServerThread) -> None:
    ids = {m.id for m in client(gateway).models.list()}
    assert {MODEL, MODEL + ":fast", MODEL + ":batch"} <= ids
    assert httpx.get(gateway.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(gateway.url + "/readyz").json()["ready"] is True
    r = httpx.get(gateway.url + "/v2/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx.get(gateway.url + "/v1/chat/completions")
    assert r.status_code == 405 and "error" in r.json()
    client(gateway).chat.completions.create(model=MODEL + ":fast", messages=MSG, max_tokens=2)
    text = httpx.get(gateway.url + "/metrics").text
    assert ('tokenfleet_requests_total{backend="cs3-a",pool="cs3-fast",slo_class="fast",status="200"} 1.0'
            in text)
    assert 'tokenfleet_energy_joules_total{pool="cs3-fast"}' in text


def test_graceful_shutdown_drains_in_flight_streams(emulators: dict[str, ServerThread],
                                                    tmp_path: Path) -> None:
    cfg = parse_config(gateway_config(emulators, tmp_path))
    gw = ServerThread(create_app(cfg)).start()
    chunks: list[str] = []
    done = threading.Event()

    def consume() -> None:  # a standard-class stream on the H100 emulator: ~33 ms per token
        for ch in client(gw).chat.completions.create(model=MODEL, messages=MSG, max_tokens=15, stream=True):
            if ch.choices and ch.choices[0].delta.content:
                chunks.append(ch.choices[0].delta.content)
        done.set()

    t = threading.Thread(target=consume)
    t.start()
    while not chunks:
        time.sleep(0.005)
    gw.stop()  # SIGTERM-like: stop accepting, finish the stream, flush the ledger
    t.join(10)
    assert done.is_set() and len(chunks) == 15
    rows = read_rows(cfg.ledger.url)
    assert len(rows) == 1 and rows[0].completion_tokens == 15 and rows[0].error is None


def test_readyz_turns_503_as_draining_starts_while_streams_finish(emulators: dict[str, ServerThread],
                                                                  tmp_path: Path) -> None:
    cfg = parse_config(gateway_config(emulators, tmp_path))
    gw = ServerThread(create_app(cfg)).start()
    assert httpx.get(gw.url + "/readyz").json() == {"ready": True, "models": {MODEL: True}}
    chunks: list[str] = []
    done = threading.Event()

    def consume() -> None:  # a standard-class stream on the H100 emulator: ~33 ms per token, ~1 s
        for ch in client(gw).chat.completions.create(model=MODEL, messages=MSG, max_tokens=30, stream=True):
            if ch.choices and ch.choices[0].delta.content:
                chunks.append(ch.choices[0].delta.content)
        done.set()

    t = threading.Thread(target=consume)
    t.start()
    while not chunks:
        time.sleep(0.005)
    gw.server.should_exit = True  # what SIGTERM does; stop() would also wait for the thread
    deadline = time.monotonic() + 5
    r = httpx.get(gw.url + "/readyz")
    while r.status_code == 200 and time.monotonic() < deadline:  # uvicorn notices within one 0.1 s tick
        time.sleep(0.01)
        r = httpx.get(gw.url + "/readyz")
    assert r.status_code == 503
    assert r.json() == {"ready": False, "draining": True, "models": {MODEL: True}}
    assert not done.is_set() and len(chunks) < 30  # readiness dropped while the stream was still running
    assert httpx.get(gw.url + "/healthz").status_code == 200  # alive, only not ready
    late = client(gw).chat.completions.create(model=MODEL + ":fast", messages=MSG, max_tokens=2)
    assert late.usage is not None and late.usage.completion_tokens == 2  # sent before the LB noticed: served
    t.join(10)
    gw.stop()
    assert done.is_set() and len(chunks) == 30
    with pytest.raises(httpx.ConnectError):  # drained: the listener is closed now
        httpx.get(gw.url + "/readyz")
    rows = read_rows(cfg.ledger.url)
    assert sorted(r.completion_tokens for r in rows) == [2, 30] and all(r.error is None for r in rows)
