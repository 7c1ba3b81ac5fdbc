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
    keys:                             # sha256 hex of each key (``tokenfleet hash-key``); none = open
      - {id: team-a, sha256: "…", rate_per_s: 50, burst: 100, budget_usd: 100}

Validation errors become :class:`ScenarioError` naming the file and the field path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tokenfleet.errors import ScenarioError
from tokenfleet.yamlio import read_mapping

Tier = Literal["ultra-low-latency", "standard", "batch"]
TIERS: tuple[str, ...] = ("ultra-low-latency", "standard", "batch")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListenConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class LedgerConfig(_Strict):
    url: str = "sqlite:///tokenfleet-ledger.db"
    batch_size: int = Field(256, ge=1)
    flush_interval_s: float = Field(0.5, gt=0)


class RoutingConfig(_Strict):
    policy: str = "slo-tier"  # a policy of tokenfleet.routing (``tokenfleet.routing.policy_names()``)
    weights: dict[str, float] = Field(default_factory=dict)  # scorer name -> weight overrides


class ClassConfig(_Strict):
    tier: Tier = "standard"
    ttft_ms: float | None = Field(None, gt=0)
    tpot_ms: float | None = Field(None, gt=0)
    max_queue_ms: float = Field(0.0, ge=0)  # how long admission may hold a request waiting for capacity


class BackendConfig(_Strict):
    url: str
    name: str | None = None
    api_key: str | None = None
    replicas: int = Field(1, ge=1)  # replicas of the pool's deployment behind this URL
    max_in_flight: int = Field(256, ge=1)


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
    connect_timeout_s: float = Field(2.0, gt=0)
    read_timeout_s: float = Field(120.0, gt=0)
    backends: list[BackendConfig] = Field(min_length=1)


class KeyConfig(_Strict):
    id: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    rate_per_s: float | None = Field(None, gt=0)
    burst: float | None = Field(None, gt=0)
    budget_usd: float | None = Field(None, ge=0)


class RetryConfig(_Strict):
    max_attempts: int = Field(3, ge=1)
    backoff_ms: float = Field(20.0, ge=0)
    max_retry_after_s: float = Field(2.0, ge=0)  # a longer Retry-After moves on to another backend


class BreakerConfig(_Strict):
    failures: int = Field(5, ge=1)  # consecutive failures that open the circuit
    cooldown_s: float = Field(5.0, gt=0)


class GatewayConfig(_Strict):
    listen: ListenConfig = Field(default_factory=lambda: ListenConfig.model_validate({}))
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
    retry: RetryConfig = Field(default_factory=lambda: RetryConfig.model_validate({}))
    breaker: BreakerConfig = Field(default_factory=lambda: BreakerConfig.model_validate({}))
    max_body_bytes: int = Field(1_000_000, ge=1024)
    drain_timeout_s: float = Field(30.0, ge=0)

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
        return self

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
    "BackendConfig",
    "BreakerConfig",
    "ClassConfig",
    "GatewayConfig",
    "KeyConfig",
    "LedgerConfig",
    "ListenConfig",
    "PoolConfig",
    "RetryConfig",
    "RoutingConfig",
    "Tier",
    "load_config",
    "parse_config",
]
