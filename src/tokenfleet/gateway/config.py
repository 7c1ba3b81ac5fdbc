"""GATEWAY.yaml: pools of OpenAI-compatible backends, SLO classes, API keys and the ledger, checked once.

A minimal file::

    listen: {host: 127.0.0.1, port: 8080}
    ledger: {url: "sqlite:///ledger.db"}
    routing: {policy: slo-tier}
    classes:                          # name -> tier and SLOs; a model alias "name:class" picks one
      fast: {tier: ultra-low-latency, ttft_ms: 300, tpot_ms: 20}
      standard: {tier: standard, ttft_ms: 2000, tpot_ms: 100}
      batch: {tier: batch}
    pools:
      - name: cs3
        model: llama-3.3-70b          # the public model name clients ask for
        hardware: cs3                 # catalog ids feed the performance and power model
        usd_per_mtok_in: 0.6
        usd_per_mtok_out: 1.2
        backends: [{url: "http://127.0.0.1:9001"}]
    keys:                             # salted scrypt hash of each key (``tokenfleet hash-key``); none = open
      - {id: team-a, hash: "scrypt$…", rate_per_s: 50, burst: 100, budget_usd: 100, models: [llama-3.3-70b]}

Validation errors become :class:`ScenarioError` naming the file and the field path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tokenfleet.errors import ScenarioError
from tokenfleet.routing.health import HealthRule
from tokenfleet.yamlio import read_mapping

Tier = Literal["ultra-low-latency", "standard", "batch"]
TIERS: tuple[str, ...] = ("ultra-low-latency", "standard", "batch")
KEY_HASH_PATTERN = r"^scrypt\$\d+\$\d+\$\d+\$[0-9a-f]{32}\$[0-9a-f]{64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListenConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)


class ServerConfig(_Strict):
    """The HTTP server in front of the app (see :mod:`tokenfleet.gateway.conns`)."""

    loop: Literal["auto", "asyncio", "uvloop"] = "auto"  # auto: uvloop when installed
    http: Literal["auto", "h11", "httptools"] = "auto"  # auto: httptools when installed
    header_timeout_s: float = Field(5.0, gt=0, allow_inf_nan=False)  # request line + headers, per request
    body_timeout_s: float = Field(10.0, gt=0, allow_inf_nan=False)  # the whole body, from its headers
    keep_alive_s: float = Field(15.0, gt=0, allow_inf_nan=False)  # an idle keep-alive connection is closed
    # connections of one address waiting on it (idle, or sending headers or a body); the oldest beyond go
    max_idle_per_client: int = Field(64, ge=1)


class LedgerConfig(_Strict):
    url: str = "sqlite:///tokenfleet-ledger.db"
    batch_size: int = Field(256, ge=1)
    flush_interval_s: float = Field(0.5, gt=0)
    journal_dir: str | None = None  # default: <db file>.journal for SQLite, ./tokenfleet-journal otherwise

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str) -> str:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme.split("+", 1)[0] not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(f"ledger url must be sqlite:///FILE or postgresql://..., got {url!r}")
        return url

    def journal_path(self) -> str:
        if self.journal_dir:
            return self.journal_dir
        if self.url.startswith("sqlite:///") and len(self.url) > len("sqlite:///"):
            return self.url[len("sqlite:///"):] + ".journal"
        return "tokenfleet-journal"


class PrefixConfig(_Strict):
    """Prompt block hashes for prefix-aware routing (tokenfleet.workload.prefix, tokenfleet.gateway.router)."""

    block_tokens: int = Field(64, ge=1, le=4096)  # tokens per hashed block
    tokenizer: str | None = None  # a local tokenizer.json: token-exact blocks; none: ~4-character-per-token blocks
    index_blocks: int | None = Field(None, ge=0)  # per-backend cap of the estimate (default: its modelled KV)
    ttl_s: float | None = Field(None, gt=0)  # forget blocks routed longer ago than this (default: never)

    @model_validator(mode="after")
    def _tokenizer_exists(self) -> PrefixConfig:
        if self.tokenizer is not None and not Path(self.tokenizer).is_file():
            raise ValueError(f"tokenizer file {self.tokenizer!r} not found (a local tokenizer.json)")
        return self


class RoutingConfig(_Strict):
    policy: str = "slo-tier"  # a policy of tokenfleet.routing (``tokenfleet.routing.policy_names()``)
    weights: dict[str, float] = Field(default_factory=dict)  # scorer name -> weight overrides
    prefix: PrefixConfig = Field(default_factory=lambda: PrefixConfig.model_validate({}))


class ClassConfig(_Strict):
    tier: Tier = "standard"
    ttft_ms: float | None = Field(None, gt=0, allow_inf_nan=False)
    tpot_ms: float | None = Field(None, gt=0, allow_inf_nan=False)
    # how long admission may hold a request waiting for capacity
    max_queue_ms: float = Field(0.0, ge=0, allow_inf_nan=False)


class BackendConfig(_Strict):
    url: str
    name: str | None = None
    api_key: str | None = None
    replicas: int = Field(1, ge=1, le=100_000)  # replicas of the pool's deployment behind this URL
    max_in_flight: int = Field(256, ge=1)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"backend url must be http(s)://host[:port][/path], got {url!r}")
        try:
            port = u.port
        except ValueError:
            raise ValueError(f"backend url has a port outside 1-65535: {url!r}") from None
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(f"backend url has a port outside 1-65535: {url!r}")
        return url


class PoolConfig(_Strict):
    name: str
    model: str
    kind: Literal["openai", "openai-httpx"] = "openai"  # openai: lean asyncio client; or over httpx
    upstream_model: str | None = None  # the name sent upstream (default: model)
    perf_model: str | None = None  # catalog model id for the performance model (default: model)
    hardware: str | None = None  # catalog hardware id; none for hosted APIs of unknown hardware
    usd_per_mtok_in: float = Field(0.0, ge=0)
    usd_per_mtok_out: float = Field(0.0, ge=0)
    power_w: float | None = Field(None, ge=0)  # override of the modelled replica power
    tiers: list[Tier] = Field(default_factory=list)  # tiers this pool is meant for (routing prefers them)
    connect_timeout_s: float = Field(2.0, gt=0, allow_inf_nan=False)
    read_timeout_s: float = Field(120.0, gt=0, allow_inf_nan=False)
    # a kept-alive upstream connection idle this long is closed, not reused (backends close theirs: vLLM at 5 s)
    keepalive_idle_s: float = Field(4.0, gt=0, allow_inf_nan=False)
    # time to the first byte (non-streamed: headers; streamed: first event) before failing over; default
    # from the SLOs of the pool's tiers (see GatewayConfig.ttfb_timeout_s)
    ttfb_timeout_s: float | None = Field(None, gt=0, allow_inf_nan=False)
    # max_tokens forwarded (and reserved) for a request that names none; default: the gateway's
    default_max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    backends: list[BackendConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> PoolConfig:
        if "tiers" in self.model_fields_set and not self.tiers:
            raise ValueError(f"pool {self.name!r}: tiers must name at least one tier ({', '.join(TIERS)}) "
                             "or be left out")
        names = [b.name for b in self.backends if b.name]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"pool {self.name!r}: backend names must be unique; repeated: {dup}")
        return self


class KeyConfig(_Strict):
    id: str = Field(min_length=1, max_length=128)
    hash: str = Field(pattern=KEY_HASH_PATTERN)  # ``tokenfleet hash-key``: scrypt$N$r$p$salt$digest
    # the key's first characters, not secret (``tokenfleet hash-key`` prints them): the key is found by
    # them and verified against its one hash; without it every unknown key is checked against this one too
    prefix: str | None = Field(None, min_length=4, max_length=32)
    rate_per_s: float | None = Field(None, gt=0, allow_inf_nan=False)
    burst: float | None = Field(None, gt=0, allow_inf_nan=False)
    budget_usd: float | None = Field(None, ge=0, allow_inf_nan=False)
    models: list[str] | None = None  # public model names this key may use (default: all)
    pools: list[str] | None = None  # pools this key may be routed to (default: all)
    # max_tokens forwarded (and reserved) for this key's requests that name none; overrides the pools'
    default_max_tokens: int | None = Field(None, ge=1, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _no_bare_sha256(cls, data: Any) -> Any:
        if isinstance(data, dict) and "sha256" in data:
            raise ValueError("bare SHA-256 key hashes are no longer accepted: re-hash the key with "
                             "`tokenfleet hash-key KEY` and put the printed value under `hash:`")
        return data


class AuthConfig(_Strict):
    """How API keys are checked (:mod:`tokenfleet.gateway.auth`)."""

    # threads deriving key hashes (apart from everything else); one keeps a flood of bad keys to one core
    workers: int = Field(1, ge=1, le=64)
    max_pending: int = Field(32, ge=1)  # derivations queued or running; beyond: 503 auth_busy
    # per client address, a bucket of key checks that need a derivation (a good key's check is refunded)
    failures_burst: float = Field(5.0, ge=1, allow_inf_nan=False)
    failures_per_minute: float = Field(12.0, gt=0, allow_inf_nan=False)  # the bucket's refill


class RetryConfig(_Strict):
    max_attempts: int = Field(3, ge=1)
    backoff_ms: float = Field(20.0, ge=0)
    max_retry_after_s: float = Field(2.0, ge=0)  # a longer Retry-After moves on to another backend


class HealthConfig(_Strict):
    """Latency evidence that recovers (:mod:`tokenfleet.routing.health`) and the probes that re-measure it."""

    half_life_s: float = Field(5.0, gt=0, allow_inf_nan=False)  # observed TTFT / TPOT fade to the model's
    fresh_s: float = Field(5.0, gt=0, allow_inf_nan=False)  # a pool untried this long is tried, not refused
    probes: bool = True  # probe a backend whose observed latency (not its model) blocks a class
    probe_interval_s: float = Field(1.0, gt=0, allow_inf_nan=False)  # first probe; doubles while still slow
    probe_max_interval_s: float = Field(30.0, gt=0, allow_inf_nan=False)  # the longest interval

    def rule(self) -> HealthRule:
        return HealthRule(half_life_s=self.half_life_s, fresh_s=self.fresh_s)


class BreakerConfig(_Strict):
    failures: int = Field(5, ge=1)  # consecutive failures that open the circuit
    cooldown_s: float = Field(5.0, gt=0)  # an open circuit (or an ejected backend) waits this long for a probe


class GatewayConfig(_Strict):
    listen: ListenConfig = Field(default_factory=lambda: ListenConfig.model_validate({}))
    server: ServerConfig = Field(default_factory=lambda: ServerConfig.model_validate({}))
    ledger: LedgerConfig = Field(default_factory=lambda: LedgerConfig.model_validate({}))
    routing: RoutingConfig = Field(default_factory=lambda: RoutingConfig.model_validate({}))
    classes: dict[str, ClassConfig] = Field(default_factory=lambda: {
        "fast": ClassConfig.model_validate({"tier": "ultra-low-latency", "ttft_ms": 300, "tpot_ms": 20}),
        "standard": ClassConfig.model_validate({"tier": "standard", "ttft_ms": 2000, "tpot_ms": 100,
                                                "max_queue_ms": 500}),
        "batch": ClassConfig.model_validate({"tier": "batch", "max_queue_ms": 5000}),
    })
    default_class: str = "standard"
    pools: list[PoolConfig] = Field(min_length=1)
    keys: list[KeyConfig] = Field(default_factory=list)
    auth: AuthConfig = Field(default_factory=lambda: AuthConfig.model_validate({}))
    retry: RetryConfig = Field(default_factory=lambda: RetryConfig.model_validate({}))
    breaker: BreakerConfig = Field(default_factory=lambda: BreakerConfig.model_validate({}))
    health: HealthConfig = Field(default_factory=lambda: HealthConfig.model_validate({}))
    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_n: int = Field(8, ge=1, le=128)  # the most choices (``n``) one request may ask for
    # max_tokens forwarded (and reserved) for a request that names none, unless its key or pool sets one
    default_max_tokens: int = Field(256, ge=1, le=1_000_000)
    drain_timeout_s: float = Field(30.0, ge=0, allow_inf_nan=False)
    metrics_key_hash: str | None = Field(None, pattern=KEY_HASH_PATTERN)  # set: /metrics needs this key

    @model_validator(mode="after")
    def _check(self) -> GatewayConfig:
        names = [p.name for p in self.pools]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"pool names must be unique; repeated: {sorted(dup)}")
        if self.default_class not in self.classes:
            raise ValueError(f"default_class {self.default_class!r} is not in classes {sorted(self.classes)}")
        ids = [k.id for k in self.keys]
        if len(set(ids)) != len(ids):
            raise ValueError("key ids must be unique")
        backends = [b.name for p in self.pools for b in p.backends if b.name]
        repeated = sorted({n for n in backends if backends.count(n) > 1})
        if repeated:
            raise ValueError(f"backend names must be unique across pools; repeated: {repeated}")
        models = {p.model for p in self.pools}
        for k in self.keys:
            bad = sorted(set(k.models or []) - models) + sorted(set(k.pools or []) - set(names))
            if bad:
                raise ValueError(f"key {k.id!r} is scoped to unknown models or pools: {bad}")
        return self

    def ttfb_timeout_s(self, pool: PoolConfig) -> float:
        """A pool's time-to-first-byte limit: as configured, else 3x the largest TTFT SLO of the classes
        the pool serves, within 2-10 s (5 s when none has a TTFT SLO)."""
        if pool.ttfb_timeout_s is not None:
            return pool.ttfb_timeout_s
        slos = [c.ttft_ms for c in self.classes.values()
                if c.ttft_ms is not None and (not pool.tiers or c.tier in pool.tiers)]
        if not slos:
            return 5.0
        return min(10.0, max(2.0, 3.0 * max(slos) / 1e3))

    @model_validator(mode="after")
    def _check_policy(self) -> GatewayConfig:
        from tokenfleet.errors import TokenfleetError
        from tokenfleet.routing import build_profile

        try:
            build_profile({"policy": self.routing.policy, "weights": self.routing.weights})
        except TokenfleetError as exc:
            raise ValueError(f"routing: {exc}") from None
        return self

    def class_for_tier(self, tier: str) -> str | None:
        """The first class of a tier (headers may name a tier rather than a class)."""
        return next((name for name, c in self.classes.items() if c.tier == tier), None)


def _where(err: Any) -> str:
    return ".".join(str(p) for p in err["loc"]) or "(top level)"


def parse_config(data: Any, source: str = "GATEWAY.yaml") -> GatewayConfig:
    """Validate a parsed mapping; errors name ``source`` and the field path."""
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ScenarioError(first["msg"], where=f"{source}: {_where(first)}") from None


def load_config(path: str | Path) -> GatewayConfig:
    p = Path(path)
    return parse_config(read_mapping(p), p.name)


__all__ = [
    "TIERS",
    "AuthConfig",
    "BackendConfig",
    "BreakerConfig",
    "ClassConfig",
    "GatewayConfig",
    "HealthConfig",
    "KeyConfig",
    "LedgerConfig",
    "ListenConfig",
    "PoolConfig",
    "PrefixConfig",
    "RetryConfig",
    "RoutingConfig",
    "ServerConfig",
    "Tier",
    "load_config",
    "parse_config",
]
