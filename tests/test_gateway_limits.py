"""What a request may cost: the max_tokens cap a request without one is forwarded with (so a budget holds),
what is billed when a non-streamed client walks away, and scope refusals that say "not allowed", not
"try later". Real servers on 127.0.0.1; the emulator answers 1,000 tokens to a request with no max_tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tokenfleet.gateway.app import create_app
from tokenfleet.gateway.auth import hash_key
from tokenfleet.gateway.budget import standing
from tokenfleet.gateway.config import parse_config
from tokenfleet.gateway.emulator.server import create_emulator_app
from tokenfleet.gateway.ledger import make_engine, read_rows
from tokenfleet.gateway.runner import ServerThread

MODEL = "llama-3.1-8b"
MSG = [{"role": "user", "content": "hello"}]
USD_PER_TOKEN = 0.02  # $20,000 per million output tokens, nothing for prompts


@pytest.fixture(scope="module")
def verbose() -> Iterator[ServerThread]:
    emu = ServerThread(create_emulator_app("h100", MODEL, time_scale=0.0, default_output_tokens=1000)).start()
    yield emu
    emu.stop()


def config(tmp_path: Path, emu: ServerThread, keys: list[dict[str, Any]], **pool: Any) -> dict[str, Any]:
    return {"ledger": {"url": f"sqlite:///{tmp_path / 'l.db'}", "flush_interval_s": 0.05}, "keys": keys,
            "pools": [{"name": "p", "model": MODEL, "hardware": "h100", "usd_per_mtok_out": USD_PER_TOKEN * 1e6,
                       "backends": [{"url": emu.url}], **pool}]}


def post(gw: ServerThread, key: str, **body: Any) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, timeout=60,
                      json={"model": MODEL, "messages": MSG, **body})


def test_without_max_tokens_a_budget_is_never_overspent(tmp_path: Path, verbose: ServerThread) -> None:
    """Each request is reserved at the pool's cap of 10 tokens ($0.20) and forwarded with it; uncapped, the
    backend would answer 1,000 tokens ($20) to each and the $1 budget would be spent 20 times over."""
    cfg = parse_config(config(tmp_path, verbose, [{"id": "team", "hash": hash_key("k"), "budget_usd": 1.0}],
                              default_max_tokens=10))
    with ServerThread(create_app(cfg)) as gw:
        replies = [post(gw, "k") for _ in range(7)]
    assert [r.status_code for r in replies] == [200] * 5 + [429] * 2
    assert replies[-1].json()["error"]["code"] == "insufficient_quota"
    assert all(r.headers["x-tokenfleet-max-tokens"] == "10" for r in replies[:5])
    assert all(r.json()["usage"]["completion_tokens"] == 10 for r in replies[:5])
    spent = sum(r.usd for r in read_rows(cfg.ledger.url))
    assert spent == pytest.approx(1.0) and spent <= 1.0 + 1e-9


def test_the_cap_is_the_keys_else_the_pools_else_the_gateways(tmp_path: Path, verbose: ServerThread) -> None:
    keys = [{"id": "capped", "hash": hash_key("k1"), "default_max_tokens": 3}, {"id": "plain", "hash": hash_key("k2")}]
    for pool, key, expect in (({"default_max_tokens": 7}, "k1", 3), ({"default_max_tokens": 7}, "k2", 7),
                              ({}, "k2", 256)):
        with ServerThread(create_app(parse_config(config(tmp_path, verbose, keys, **pool)))) as gw:
            r = post(gw, key)
            asked = post(gw, key, max_tokens=2)
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == expect
        assert r.headers["x-tokenfleet-max-tokens"] == str(expect)
        assert asked.json()["usage"]["completion_tokens"] == 2 and "x-tokenfleet-max-tokens" not in asked.headers


def test_a_client_that_leaves_a_non_streamed_request_cancels_it_and_pays_what_was_made(tmp_path: Path) -> None:
    slow = ServerThread(create_emulator_app("h100", MODEL, time_scale=1.0)).start()  # ~6 ms a token
    cfg = parse_config(config(tmp_path, slow, [{"id": "team", "hash": hash_key("k"), "budget_usd": 1000.0}]))
    try:
        with ServerThread(create_app(cfg)) as gw:
            with pytest.raises(httpx.ReadTimeout):  # 3,000 tokens take ~20 s; the client gives up after 1
                httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": "Bearer k"},
                           json={"model": MODEL, "messages": MSG, "max_tokens": 3000},
                           timeout=httpx.Timeout(30, read=1.0))
            deadline = time.monotonic() + 30
            while not (rows := read_rows(cfg.ledger.url)) or \
                    httpx.get(slow.url + "/_emulator/stats").json()["disconnected_total"] < 1:
                assert time.monotonic() < deadline, "no row / the backend kept working"
                time.sleep(0.1)
        (row,) = rows
        assert row.status == 499 and row.error is not None and "client disconnected" in row.error
        assert 0 < row.completion_tokens < 3000  # billed what was produced by then, not the whole answer
        assert row.usd == pytest.approx(row.completion_tokens * USD_PER_TOKEN)
        _, spent, reserved = standing(make_engine(cfg.ledger.url), "team") or (0, 0, 0)
        assert spent == pytest.approx(row.usd) and reserved == pytest.approx(0.0)  # the 3,000-token hold is gone
    finally:
        slow.stop()


def test_a_scope_refusal_is_403_permission_denied_not_a_retryable_429(tmp_path: Path, verbose: ServerThread) -> None:
    cfg = config(tmp_path, verbose, [{"id": "elsewhere", "hash": hash_key("k"), "pools": ["other"]}])
    cfg["pools"].append({"name": "other", "model": "other-model", "backends": [{"url": verbose.url}]})
    with ServerThread(create_app(parse_config(cfg))) as gw:
        r = post(gw, "k", max_tokens=2)
    assert r.status_code == 403 and "retry-after" not in r.headers
    assert r.json()["error"]["code"] == "permission_denied" and r.json()["error"]["type"] == "permission_error"
