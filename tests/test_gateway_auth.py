"""Hashed API keys, token-bucket rate limits and budgets."""

from __future__ import annotations

import hashlib

import pytest

from tokenfleet.gateway.auth import Authenticator, TokenBucket, hash_key
from tokenfleet.gateway.config import KeyConfig
from tokenfleet.gateway.openai_models import ApiError


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_hash_is_sha256() -> None:
    assert hash_key("abc") == hashlib.sha256(b"abc").hexdigest()


@pytest.mark.parametrize(("rate", "burst", "seconds"),
                         [(5.0, 10.0, 3.0), (0.5, 1.0, 7.0), (100.0, 20.0, 0.5)])
def test_token_bucket_admits_burst_plus_rate_times_time(rate: float, burst: float, seconds: float) -> None:
    clock = Clock()
    bucket = TokenBucket(rate, burst, clock)
    admitted = 0
    steps = 1000
    for i in range(steps + 1):  # hammer it at 1000 evenly spaced instants over `seconds`
        clock.t = 100.0 + seconds * i / steps
        while bucket.take() == 0.0:
            admitted += 1
    assert admitted == int(burst + rate * seconds)


def test_authenticate_keys_rates_and_budgets() -> None:
    clock = Clock()
    keys = [KeyConfig(id="a", sha256=hash_key("secret-a"), rate_per_s=1.0, burst=2.0),
            KeyConfig(id="b", sha256=hash_key("secret-b"), budget_usd=0.01)]
    auth = Authenticator(keys, clock)
    with pytest.raises(ApiError) as exc:
        auth.authenticate(None)
    assert exc.value.status == 401
    with pytest.raises(ApiError) as exc:
        auth.authenticate("Bearer wrong")
    assert (exc.value.status, exc.value.code) == (401, "invalid_api_key")
    assert auth.authenticate("Bearer secret-a").key_id == "a"  # type: ignore[union-attr]
    auth.authenticate("Bearer secret-a")
    with pytest.raises(ApiError) as exc:
        auth.authenticate("Bearer secret-a")
    assert (exc.value.status, exc.value.code) == (429, "rate_limit_exceeded")
    assert float(exc.value.headers["retry-after"]) == pytest.approx(1.0)
    clock.t += 1.0
    auth.authenticate("Bearer secret-a")
    auth.authenticate("Bearer secret-b")
    auth.charge("b", 0.01)
    with pytest.raises(ApiError) as exc:
        auth.authenticate("Bearer secret-b")
    assert (exc.value.status, exc.value.code) == (429, "insufficient_quota")


def test_open_gateway_without_keys() -> None:
    assert Authenticator([]).authenticate(None) is None
