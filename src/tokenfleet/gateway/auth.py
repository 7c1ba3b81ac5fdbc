"""API keys stored as SHA-256 hashes, token-bucket rate limits and dollar budgets per key.

Keys are long random secrets, so a fast hash (SHA-256) is the right tool: a leaked config or ledger does
not reveal them, and checking one costs about a microsecond. ``hash_key`` prints what goes in
GATEWAY.yaml. A gateway with no keys configured is open and meters everything to key id ``anonymous``.
Spend per key starts from the ledger's totals, so budgets survive restarts.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from tokenfleet.gateway.config import KeyConfig
from tokenfleet.gateway.openai_models import ApiError

ANONYMOUS = "anonymous"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "tf-" + secrets.token_urlsafe(32)


class TokenBucket:
    """``rate_per_s`` tokens refill continuously up to ``burst``; each request takes one."""

    __slots__ = ("_clock", "_last", "_tokens", "burst", "rate_per_s")

    def __init__(self, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s, self.burst, self._clock = rate_per_s, burst, clock
        self._tokens = burst
        self._last = clock()

    def take(self) -> float:
        """Take a token; returns 0 on success, else the seconds until one is available."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate_per_s)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate_per_s


@dataclass(slots=True)
class KeyState:
    key_id: str
    bucket: TokenBucket | None
    budget_usd: float | None
    spent_usd: float = 0.0


class Authenticator:
    def __init__(self, keys: list[KeyConfig], clock: Callable[[], float] = time.monotonic) -> None:
        self._by_hash: dict[str, KeyState] = {}
        for k in keys:
            bucket = None
            if k.rate_per_s is not None:
                bucket = TokenBucket(k.rate_per_s, k.burst or max(1.0, k.rate_per_s), clock)
            self._by_hash[k.sha256] = KeyState(k.id, bucket, k.budget_usd)
        self._by_id = {s.key_id: s for s in self._by_hash.values()}
        self.enabled = bool(keys)

    def authenticate(self, authorization: str | None) -> KeyState | None:
        """Check the ``Authorization: Bearer`` header, rate limit and budget; raises :class:`ApiError`."""
        if not self.enabled:
            return None
        if not authorization or not authorization.startswith("Bearer "):
            raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'",
                           "invalid_request_error", "invalid_api_key")
        state = self._by_hash.get(hash_key(authorization[7:].strip()))
        if state is None:
            raise ApiError(401, "incorrect API key provided", "invalid_request_error", "invalid_api_key")
        if state.budget_usd is not None and state.spent_usd >= state.budget_usd:
            raise ApiError(429, f"budget of ${state.budget_usd:.2f} for key {state.key_id!r} is spent "
                                f"(${state.spent_usd:.4f})", "insufficient_quota", "insufficient_quota")
        if state.bucket is not None:
            wait_s = state.bucket.take()
            if wait_s > 0:
                raise ApiError(429, f"rate limit of {state.bucket.rate_per_s:g} requests/s exceeded for key "
                                    f"{state.key_id!r}", "requests", "rate_limit_exceeded",
                               headers={"retry-after": f"{wait_s:.3f}"})
        return state

    def charge(self, key_id: str, usd: float) -> None:
        state = self._by_id.get(key_id)
        if state is not None:
            state.spent_usd += usd

    def load_spend(self, spend_by_key: dict[str, float]) -> None:
        for key_id, usd in spend_by_key.items():
            if key_id in self._by_id:
                self._by_id[key_id].spent_usd = usd


__all__ = ["ANONYMOUS", "Authenticator", "KeyState", "TokenBucket", "hash_key", "new_key"]
