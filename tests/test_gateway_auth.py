"""Salted scrypt API-key hashes found by prefix and derived off the event loop, the per-address failure
throttle, the Bearer scheme, token-bucket rate limits, key scopes, the /metrics key."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from tokenfleet.gateway.auth import (
    PREFIX_CHARS,
    Authenticator,
    TokenBucket,
    hash_key,
    key_prefix,
    new_key,
    verify_key,
)
from tokenfleet.gateway.config import AuthConfig, KeyConfig
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


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _raises(coro: Any) -> ApiError:
    with pytest.raises(ApiError) as exc:
        await coro
    return exc.value


def test_authenticate_scheme_rates_scopes_and_refunds() -> None:
    clock = Clock()
    keys = [KeyConfig(id="a", hash=hash_key("secret-a"), rate_per_s=1.0, burst=2.0),
            KeyConfig(id="b", hash=hash_key("secret-b"), models=["m1"], pools=["p1"])]
    auth = Authenticator(keys, clock)

    async def main() -> None:
        for header in (None, "", "Bearer", "Basic secret-a", "Bearer wrong"):
            err = await _raises(auth.authenticate(header))
            assert (err.status, err.code) == (401, "invalid_api_key")
        for header in ("Bearer secret-a", "bearer secret-a", "BEARER  secret-a "):  # case-insensitive scheme
            state = await auth.authenticate(header)
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
        b = await auth.authenticate("Bearer secret-b")
        auth.check_model(b, "m1")
        with pytest.raises(ApiError) as exc:
            auth.check_model(b, "m2")
        assert (exc.value.status, exc.value.type, exc.value.code) == (403, "permission_error", "permission_denied")
        assert b is not None and b.pools == frozenset({"p1"})
    run(main())
    auth.close()


def test_a_key_check_costs_one_derivation_whatever_the_number_of_keys() -> None:
    keys = [new_key() for _ in range(20)]
    prefixed = [KeyConfig(id=f"k{i}", hash=hash_key(k), prefix=key_prefix(k)) for i, k in enumerate(keys)]
    bare = [KeyConfig(id=f"k{i}", hash=hash_key(k)) for i, k in enumerate(keys[:5])]

    async def main() -> None:
        auth = Authenticator(prefixed, cfg=AuthConfig(failures_burst=100))
        assert (await auth.authenticate(f"Bearer {keys[13]}")).key_id == "k13"  # type: ignore[union-attr]
        assert auth.derivations == 1
        assert (await auth.authenticate(f"Bearer {keys[13]}")).key_id == "k13"  # type: ignore[union-attr]
        assert auth.derivations == 1  # remembered
        err = await _raises(auth.authenticate(f"Bearer {keys[7][:PREFIX_CHARS]}not-the-secret"))
        assert err.status == 401 and auth.derivations == 2  # a known prefix, a wrong secret: one hash
        err = await _raises(auth.authenticate("Bearer tf-unknownprefix-and-anything"))
        assert err.status == 401 and auth.derivations == 2  # no key has this prefix: no derivation at all
        auth.close()
        legacy = Authenticator(bare, cfg=AuthConfig(failures_burst=100))
        await _raises(legacy.authenticate("Bearer tf-unknownprefix-and-anything"))
        assert legacy.derivations == 5  # keys without a prefix are each tried
        legacy.close()
    run(main())


def test_failed_checks_are_throttled_per_client_address_and_known_keys_pass() -> None:
    good = new_key()
    clock = Clock()
    auth = Authenticator([KeyConfig(id="g", hash=hash_key(good), prefix=key_prefix(good))], clock,
                         cfg=AuthConfig(failures_burst=3, failures_per_minute=60))
    bad = f"Bearer {key_prefix(good)}guess"

    async def main() -> None:
        assert await auth.authenticate(f"Bearer {good}", "10.0.0.1") is not None  # good: token refunded
        for i in range(3):
            err = await _raises(auth.authenticate(f"{bad}{i}", "10.0.0.1"))
            assert err.code == "invalid_api_key"
        spent = auth.derivations
        err = await _raises(auth.authenticate(f"{bad}x", "10.0.0.1"))
        assert (err.status, err.code) == (429, "auth_throttled") and int(err.headers["retry-after"]) >= 1
        assert auth.derivations == spent  # refused before any derivation
        assert await auth.authenticate(f"Bearer {good}", "10.0.0.1") is not None  # known keys still pass
        err = await _raises(auth.authenticate(f"{bad}y", "10.0.0.2"))
        assert err.code == "invalid_api_key"  # another address has its own bucket
        clock.t += 1.0  # one failure's worth refilled (60 a minute)
        err = await _raises(auth.authenticate(f"{bad}z", "10.0.0.1"))
        assert err.code == "invalid_api_key"
    run(main())
    auth.close()


def test_derivations_run_off_the_event_loop_in_a_bounded_pool() -> None:
    good = new_key()
    auth = Authenticator([KeyConfig(id="g", hash=hash_key(good), prefix=key_prefix(good))],
                         cfg=AuthConfig(workers=1, max_pending=2, failures_burst=100))

    async def main() -> None:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)
        t = asyncio.create_task(ticker())
        checks = [auth.authenticate(f"Bearer {key_prefix(good)}wrong{i}", "h") for i in range(5)]
        results = await asyncio.gather(*checks, return_exceptions=True)
        stop.set()
        await t
        codes = sorted(r.code or "" for r in results if isinstance(r, ApiError))
        assert codes == ["auth_busy"] * 3 + ["invalid_api_key"] * 2  # two derived, the rest refused at once
        assert ticks > 10  # the loop kept running while the two scrypt derivations did
    run(main())
    auth.close()


def test_metrics_key_is_optional() -> None:
    async def main() -> None:
        assert await Authenticator([]).metrics_allowed(None)
        auth = Authenticator([], metrics_key_hash=hash_key("scrape"))
        assert not await auth.metrics_allowed(None) and not await auth.metrics_allowed("Bearer nope")
        assert await auth.metrics_allowed("Bearer scrape") and await auth.metrics_allowed("bearer scrape")
    run(main())


def test_open_gateway_without_keys() -> None:
    assert run(Authenticator([]).authenticate(None)) is None
