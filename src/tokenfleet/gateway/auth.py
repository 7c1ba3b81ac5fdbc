"""API keys stored as salted scrypt hashes, token-bucket rate limits, and what each key may use.

``hash_key`` derives ``scrypt$N$r$p$<salt hex>$<digest hex>`` (hashlib.scrypt, a memory-hard key-derivation
function, N=2^14, r=8, p=1, 16 random bytes of salt): what goes in GATEWAY.yaml ``keys[].hash``, so a leaked
config or ledger reveals no key and cannot be searched with precomputed tables. Deriving costs ~0.1 s, so
the gateway remembers, in memory only, the SHA-256 of each key it has already verified (and of recently
refused ones), and a request with a known key costs a dictionary lookup. The scheme of the
``Authorization`` header is matched case-insensitively (``Bearer`` / ``bearer``). A key may be scoped to
some models and pools. A gateway with no keys configured is open and meters everything to ``anonymous``.
Budgets live in the ledger database (:mod:`tokenfleet.gateway.budget`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from tokenfleet.gateway.config import KeyConfig
from tokenfleet.gateway.openai_models import ApiError

ANONYMOUS = "anonymous"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
_SEEN_MAX = 4096


def hash_key(key: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(key.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_key(key: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(key.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(digest) // 2, maxmem=256 << 20)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


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

    def give_back(self) -> None:
        """Return a token taken for a request that was refused before any backend served it."""
        self._tokens = min(self.burst, self._tokens + 1.0)


@dataclass(slots=True)
class KeyState:
    key_id: str
    bucket: TokenBucket | None
    budget_usd: float | None
    models: frozenset[str] | None
    pools: frozenset[str] | None
    stored_hash: str


def _scheme_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class Authenticator:
    def __init__(self, keys: list[KeyConfig], clock: Callable[[], float] = time.monotonic,
                 metrics_key_hash: str | None = None) -> None:
        self._states: list[KeyState] = []
        for k in keys:
            bucket = None
            if k.rate_per_s is not None:
                bucket = TokenBucket(k.rate_per_s, k.burst or max(1.0, k.rate_per_s), clock)
            self._states.append(KeyState(k.id, bucket, k.budget_usd,
                                         frozenset(k.models) if k.models is not None else None,
                                         frozenset(k.pools) if k.pools is not None else None, k.hash))
        self._known: dict[str, KeyState] = {}  # sha256 of a verified key -> its state (memory only)
        self._refused: OrderedDict[str, None] = OrderedDict()
        self._metrics_hash = metrics_key_hash
        self._metrics_ok: set[str] = set()
        self._metrics_refused: set[str] = set()
        self.enabled = bool(keys)

    def _lookup(self, key: str) -> KeyState | None:
        fp = hashlib.sha256(key.encode()).hexdigest()
        state = self._known.get(fp)
        if state is not None or fp in self._refused:
            return state
        for s in self._states:
            if verify_key(key, s.stored_hash):
                self._known[fp] = s
                return s
        self._refused[fp] = None
        if len(self._refused) > _SEEN_MAX:
            self._refused.popitem(last=False)
        return None

    def is_cached(self, authorization: str | None) -> bool:
        """Whether checking this header costs no key derivation (else run it off the event loop)."""
        key = _scheme_token(authorization)
        if not self.enabled or key is None:
            return True
        fp = hashlib.sha256(key.encode()).hexdigest()
        return fp in self._known or fp in self._refused

    def authenticate(self, authorization: str | None) -> KeyState | None:
        """Check the ``Authorization: Bearer`` header; raises :class:`ApiError` (401)."""
        if not self.enabled:
            return None
        key = _scheme_token(authorization)
        if key is None:
            raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'",
                           "invalid_request_error", "invalid_api_key")
        state = self._lookup(key)
        if state is None:
            raise ApiError(401, "incorrect API key provided", "invalid_request_error", "invalid_api_key")
        return state

    @staticmethod
    def take_token(state: KeyState) -> TokenBucket | None:
        """Take the key's rate-limit token (raises 429 when none is left); returns the bucket to refund."""
        if state.bucket is None:
            return None
        wait_s = state.bucket.take()
        if wait_s > 0:
            raise ApiError(429, f"rate limit of {state.bucket.rate_per_s:g} requests/s exceeded for key "
                                f"{state.key_id!r}", "rate_limit_error", "rate_limit_exceeded",
                           headers={"retry-after": str(max(1, math.ceil(wait_s - 1e-9)))})
        return state.bucket

    @staticmethod
    def check_model(state: KeyState | None, model: str) -> None:
        if state is not None and state.models is not None and model not in state.models:
            raise ApiError(403, f"key {state.key_id!r} may not use the model {model!r}; it may use "
                                f"{', '.join(sorted(state.models))}", "permission_error", "model_not_allowed",
                           "model")

    def metrics_allowed(self, authorization: str | None) -> bool:
        """/metrics: open unless ``metrics_key_hash`` is set, then only with that key."""
        if self._metrics_hash is None:
            return True
        key = _scheme_token(authorization)
        if key is None:
            return False
        fp = hashlib.sha256(key.encode()).hexdigest()
        if fp in self._metrics_ok:
            return True
        if fp in self._metrics_refused or not verify_key(key, self._metrics_hash):
            if len(self._metrics_refused) < _SEEN_MAX:
                self._metrics_refused.add(fp)
            return False
        self._metrics_ok.add(fp)
        return True


__all__ = ["ANONYMOUS", "Authenticator", "KeyState", "TokenBucket", "hash_key", "new_key", "verify_key"]
