"""Salted scrypt API-key hashes, the Bearer scheme, token-bucket rate limits, key scopes, the /metrics key."""

from __future__ import annotations

import hashlib

import pytest

from tokenfleet.gateway.auth import Authenticator, TokenBucket, hash_key, verify_key
from tokenfleet.gateway.config import KeyConfig
from tokenfleet.gateway.openai_models import ApiError


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_key_hashes_are_salted_scrypt_checked_against_hashlib() -> None:
    salt = bytes(range(16))
    stored = hash_key("abc", salt)
    expected = hashlib.scrypt(b"abc", salt=salt, n=2 ** 14, r=8, p=1, dklen=32).hex()
    assert stored == f"scrypt$16384$8$1${salt.hex()}${expected}"
    assert hash_key("abc") != hash_key("abc")  # a fresh salt each time: equal keys do not hash equal
    assert verify_key("abc", hash_key("abc")) and not verify_key("abd", stored)
    assert hashlib.sha256(b"abc").hexdigest() not in stored


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


def test_authenticate_scheme_rates_scopes_and_refunds() -> None:
    clock = Clock()
    keys = [KeyConfig(id="a", hash=hash_key("secret-a"), rate_per_s=1.0, burst=2.0),
            KeyConfig(id="b", hash=hash_key("secret-b"), models=["m1"], pools=["p1"])]
    auth = Authenticator(keys, clock)
    for header in (None, "", "Bearer", "Basic secret-a", "Bearer wrong"):
        with pytest.raises(ApiError) as exc:
            auth.authenticate(header)
        assert (exc.value.status, exc.value.code) == (401, "invalid_api_key")
    for header in ("Bearer secret-a", "bearer secret-a", "BEARER  secret-a "):  # the scheme is case-insensitive
        state = auth.authenticate(header)
        assert state is not None and state.key_id == "a"
    bucket = auth.take_token(state)
    assert bucket is not None
    auth.take_token(state)
    with pytest.raises(ApiError) as exc:
        auth.take_token(state)
    assert (exc.value.status, exc.value.type, exc.value.code) == (429, "rate_limit_error", "rate_limit_exceeded")
    assert exc.value.headers["retry-after"] == "1"
    bucket.give_back()  # a refused request hands its token back
    auth.take_token(state)
    clock.t += 1.0
    auth.take_token(state)
    b = auth.authenticate("Bearer secret-b")
    auth.check_model(b, "m1")
    with pytest.raises(ApiError) as exc:
        auth.check_model(b, "m2")
    assert (exc.value.status, exc.value.code) == (403, "model_not_allowed")
    assert b is not None and b.pools == frozenset({"p1"})


def test_metrics_key_is_optional() -> None:
    assert Authenticator([]).metrics_allowed(None)
    auth = Authenticator([], metrics_key_hash=hash_key("scrape"))
    assert not auth.metrics_allowed(None) and not auth.metrics_allowed("Bearer nope")
    assert auth.metrics_allowed("Bearer scrape") and auth.metrics_allowed("bearer scrape")


def test_open_gateway_without_keys() -> None:
    assert Authenticator([]).authenticate(None) is None
