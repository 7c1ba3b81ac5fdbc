"""API keys: salted scrypt hashes found by a non-secret prefix, verified off the event loop, throttled.

``hash_key`` derives ``scrypt$N$r$p$<salt hex>$<digest hex>`` (hashlib.scrypt, memory-hard, N=2^14, r=8,
p=1, 16 random bytes of salt): what goes in GATEWAY.yaml ``keys[].hash``, so a leaked config or ledger
reveals no key. Deriving costs ~0.1 s of CPU, so a key check must never be paid on the event loop, never
more than once per key, and never once per configured key:

* **one hash per check**: each key carries a non-secret ``prefix`` (its first :data:`PREFIX_CHARS`
  characters, printed by ``tokenfleet hash-key``); a presented key is looked up by its own prefix and
  verified against that one hash. A key whose prefix matches none is refused with no derivation at all.
  Keys configured without a prefix are each tried in turn (the cost grows with their number; ``serve``
  warns about them);
* **remembered**: the SHA-256 of each key verified (and of recently refused ones) is kept in memory, so
  a known key costs a dictionary lookup;
* **off the loop, bounded**: derivations run in the authenticator's own thread pool (``auth.workers``
  threads, at most ``auth.max_pending`` queued or running; more is answered 503 ``auth_busy``), apart
  from the default pool that budget reservations use;
* **throttled per client address**: each check that needs a derivation takes a token from its address's
  bucket (``auth.failures_burst``, refilled at ``auth.failures_per_minute``), given back when the key is
  good; an empty bucket is answered 429 ``auth_throttled`` before any derivation. Keys already verified
  pass whatever their address's bucket holds.

``/v1/chat/completions``, ``/v1/completions``, ``/v1/models`` and ``/metrics`` all check keys through
:meth:`Authenticator.authenticate`. The ``Authorization`` scheme is matched case-insensitively. A key may
be scoped to some models and pools; a scope refusal is 403 ``permission_denied``. A gateway with no keys
configured is open and meters everything to ``anonymous``. Budgets live in the ledger database
(:mod:`tokenfleet.gateway.budget`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tokenfleet.gateway.config import AuthConfig, KeyConfig
from tokenfleet.gateway.openai_models import ApiError

ANONYMOUS = "anonymous"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
PREFIX_CHARS = 12  # "tf-" and 9 characters of the key's random part: the non-secret lookup id
_SEEN_MAX = 4096
_HOSTS_MAX = 65536


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


def key_prefix(key: str) -> str:
    """The non-secret lookup id of a key (its first :data:`PREFIX_CHARS` characters)."""
    return key[:PREFIX_CHARS]


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


class FailureThrottle:
    """Per client address: checks that need a key derivation, as a token bucket (see the module doc)."""

    def __init__(self, burst: float, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.rate_per_s, self._clock = burst, per_minute / 60.0, clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self.refused = 0

    def take(self, host: str) -> float:
        """0 when ``host`` may have a key derived now, else the seconds until it may."""
        b = self._buckets.get(host)
        if b is None:
            b = self._buckets[host] = TokenBucket(self.rate_per_s, self.burst, self._clock)
            if len(self._buckets) > _HOSTS_MAX:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(host)
        wait = b.take()
        self.refused += wait > 0
        return wait

    def good(self, host: str) -> None:
        """The key checked was good: its token comes back."""
        b = self._buckets.get(host)
        if b is not None:
            b.give_back()


@dataclass(slots=True)
class KeyState:
    key_id: str
    bucket: TokenBucket | None
    budget_usd: float | None
    models: frozenset[str] | None
    pools: frozenset[str] | None
    stored_hash: str
    default_max_tokens: int | None = None


def _scheme_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _first_match(key: str, candidates: Sequence[KeyState]) -> KeyState | None:
    for s in candidates:
        if verify_key(key, s.stored_hash):
            return s
    return None


def _missing() -> ApiError:
    return ApiError(401, "missing API key: send 'Authorization: Bearer <key>'", "invalid_request_error",
                    "invalid_api_key")


def _wrong() -> ApiError:
    return ApiError(401, "incorrect API key provided", "invalid_request_error", "invalid_api_key")


class Authenticator:
    def __init__(self, keys: list[KeyConfig], clock: Callable[[], float] = time.monotonic,
                 metrics_key_hash: str | None = None, cfg: AuthConfig | None = None) -> None:
        cfg = cfg or AuthConfig.model_validate({})
        self._by_prefix: dict[str, list[KeyState]] = {}
        self.unprefixed: list[KeyState] = []  # tried in turn for every unknown key
        for k in keys:
            bucket = None
            if k.rate_per_s is not None:
                bucket = TokenBucket(k.rate_per_s, k.burst or max(1.0, k.rate_per_s), clock)
            state = KeyState(k.id, bucket, k.budget_usd, frozenset(k.models) if k.models is not None else None,
                             frozenset(k.pools) if k.pools is not None else None, k.hash, k.default_max_tokens)
            if k.prefix is None:
                self.unprefixed.append(state)
            else:
                self._by_prefix.setdefault(k.prefix, []).append(state)
        self._prefix_lengths = sorted({len(p) for p in self._by_prefix})
        self._known: dict[str, KeyState] = {}  # sha256 of a verified key -> its state (memory only)
        self._refused: OrderedDict[str, None] = OrderedDict()
        self._metrics_state = (KeyState("metrics", None, None, None, None, metrics_key_hash)
                               if metrics_key_hash else None)
        self._metrics_ok: set[str] = set()
        self.enabled = bool(keys)
        self.throttle = FailureThrottle(cfg.failures_burst, cfg.failures_per_minute, clock)
        self._pool = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="tokenfleet-auth")
        self.max_pending = cfg.max_pending
        self.pending = 0  # derivations queued or running
        self.derivations = 0
        self.busy_refused = 0

    def candidates(self, key: str) -> list[KeyState]:
        """The configured keys ``key`` could be: those of its prefix, and every key without one."""
        out: list[KeyState] = []
        for n in self._prefix_lengths:
            out += self._by_prefix.get(key[:n], ())
        return out + self.unprefixed

    async def _derive(self, key: str, candidates: list[KeyState]) -> KeyState | None:
        if self.pending >= self.max_pending:
            self.busy_refused += 1
            raise ApiError(503, "too many API key checks in progress; retry shortly", "server_error", "auth_busy",
                           headers={"retry-after": "1"})
        self.pending += 1
        self.derivations += len(candidates)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, _first_match, key, candidates)
        finally:
            self.pending -= 1

    async def check(self, key: str | None, host: str) -> KeyState:
        """The state of a presented key: from memory, else one derivation per candidate off the loop."""
        if key is None:
            raise _missing()
        fp = hashlib.sha256(key.encode()).hexdigest()
        state = self._known.get(fp)
        if state is not None:
            return state
        if fp in self._refused:
            raise _wrong()
        candidates = self.candidates(key)
        if not candidates:
            self._refuse(fp)
            raise _wrong()
        wait = self.throttle.take(host)
        if wait > 0:
            raise ApiError(429, f"too many failed API key checks from {host}; retry after {wait:.0f} s",
                           "invalid_request_error", "auth_throttled",
                           headers={"retry-after": str(max(1, math.ceil(wait)))})
        found = await self._derive(key, candidates)
        if found is None:
            self._refuse(fp)
            raise _wrong()
        self.throttle.good(host)
        self._known[fp] = found
        return found

    def _refuse(self, fp: str) -> None:
        self._refused[fp] = None
        if len(self._refused) > _SEEN_MAX:
            self._refused.popitem(last=False)

    async def authenticate(self, authorization: str | None, host: str = "") -> KeyState | None:
        """Check the ``Authorization: Bearer`` header; raises :class:`ApiError` (401, 429, 503)."""
        if not self.enabled:
            return None
        return await self.check(_scheme_token(authorization), host)

    def known(self, authorization: str | None) -> KeyState | None:
        """The state of an already verified key (no derivation); None otherwise."""
        key = _scheme_token(authorization)
        return self._known.get(hashlib.sha256(key.encode()).hexdigest()) if key is not None else None

    async def metrics_allowed(self, authorization: str | None, host: str = "") -> bool:
        """/metrics: open unless ``metrics_key_hash`` is set, then only with that key (checked like any
        other: remembered, off the loop, throttled)."""
        metrics = self._metrics_state
        if metrics is None:
            return True
        key = _scheme_token(authorization)
        if key is None:
            return False
        fp = hashlib.sha256(key.encode()).hexdigest()
        if fp in self._metrics_ok:
            return True
        wait = self.throttle.take(host)
        if wait > 0:
            return False
        if await self._derive(key, [metrics]) is None:
            return False
        self.throttle.good(host)
        self._metrics_ok.add(fp)
        return True

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
                                f"{', '.join(sorted(state.models))}", "permission_error", "permission_denied",
                           "model")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["ANONYMOUS", "PREFIX_CHARS", "Authenticator", "FailureThrottle", "KeyState", "TokenBucket",
           "hash_key", "key_prefix", "new_key", "verify_key"]
