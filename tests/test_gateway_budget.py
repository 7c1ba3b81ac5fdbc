"""Budgets reserved in the ledger before forwarding: concurrent requests cannot overspend.

64 clients at once on a $1 budget where each request costs exactly $0.10 (10 completion tokens at
$10,000 per million; the prompt is free): exactly 10 are served, the rest get 429 ``insufficient_quota``,
and the ledger's spend is $1.00 — before reservations, all 64 were served ($6.40). The reservation equals
the real cost here (the emulator always emits ``max_tokens``), so no slack hides an overspend.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
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
KEY = "budget-key"


def budget_config(ledger_url: str, backend_url: str, journal: Path, **extra: Any) -> dict[str, Any]:
    return {"ledger": {"url": ledger_url, "flush_interval_s": 0.05, "journal_dir": str(journal)},
            "keys": [{"id": "team", "hash": hash_key(KEY), "budget_usd": 1.0}],
            "classes": {"standard": {"tier": "standard", "max_queue_ms": 0}},
            "pools": [{"name": "h100", "model": MODEL, "hardware": "h100", "usd_per_mtok_in": 0.0,
                       "usd_per_mtok_out": 10_000.0, "connect_timeout_s": 10.0, "backends": [{"url": backend_url}]}],
            **extra}


def hammer(urls: list[str], clients: int, n: int = 1) -> list[httpx.Response]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "spend"}], "max_tokens": 10 // n, "n": n}

    def one(i: int) -> httpx.Response:
        return httpx.post(urls[i % len(urls)] + "/v1/chat/completions", json=body, timeout=30,
                          headers={"authorization": f"Bearer {KEY}"})

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(clients)))


def test_64_concurrent_requests_cannot_overspend_one_budget(tmp_path: Path) -> None:
    backend = ServerThread(create_emulator_app("h100", MODEL, time_scale=5.0)).start()  # ~0.3 s each
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    cfg = parse_config(budget_config(url, backend.url, tmp_path / "journal"))
    try:
        with ServerThread(create_app(cfg)) as gw:
            hammer([gw.url], 1)  # the key's first check derives its scrypt hash; the rest is concurrent
            replies = hammer([gw.url], 63)
    finally:
        backend.stop()
    ok = [r for r in replies if r.status_code == 200]
    refused = [r for r in replies if r.status_code == 429]
    odd = [r.text[:300] for r in replies if r.status_code not in (200, 429)]
    assert (len(ok), len(refused)) == (9, 54), odd  # 1 + 9 = 10 x $0.10 = the $1 budget
    assert all(r.json()["error"]["code"] == "insufficient_quota" for r in refused)
    rows = read_rows(url)
    assert len(rows) == 64  # refusals are rows too
    spent = sum(r.usd for r in rows)
    assert spent == pytest.approx(1.0)
    engine = make_engine(url)
    try:
        budget, spent_db, reserved = standing(engine, "team") or (0.0, 0.0, 0.0)
    finally:
        engine.dispose()
    assert (budget, reserved) == (1.0, pytest.approx(0.0, abs=1e-9)) and spent_db == pytest.approx(spent)


def test_n_multiplies_the_reservation_and_is_bounded(tmp_path: Path) -> None:
    backend = ServerThread(create_emulator_app("h100", MODEL, time_scale=0.0)).start()
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    cfg = parse_config(budget_config(url, backend.url, tmp_path / "journal", max_n=4))
    try:
        with ServerThread(create_app(cfg)) as gw:
            too_many = httpx.post(gw.url + "/v1/chat/completions", timeout=30,
                                  headers={"authorization": f"Bearer {KEY}"},
                                  json={"model": MODEL, "messages": [{"role": "user", "content": "x"}], "n": 1000})
            assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "n"
            # max_tokens 50 x n 4 x $0.01 = $2 of reservation: more than the whole budget
            big = httpx.post(gw.url + "/v1/chat/completions", timeout=30, headers={"authorization": f"Bearer {KEY}"},
                             json={"model": MODEL, "messages": [{"role": "user", "content": "x"}], "n": 4,
                                   "max_tokens": 50})
            assert big.status_code == 429 and big.json()["error"]["code"] == "insufficient_quota"
    finally:
        backend.stop()
