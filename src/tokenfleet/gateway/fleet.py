"""The gateway's live fleet: pools of backends, each with a transport, telemetry and a circuit breaker,
plus what the performance model predicts for them and what a finished request cost in joules and dollars.

A backend is taken to serve ``replicas`` replicas of its pool's deployment (``perf.deploy(model, hw)``,
built once per pool). Predictions at the backend's current load, with ``n`` requests in flight per replica
and ``ctx`` the pool's moving average of context tokens per request:

* TPOT = one decode step of ``n + 1`` sequences: ``dep.step_time(0, n + 1, (n + 1) * ctx)``;
* TTFT = one step that prefills the prompt beside ``n`` decoding sequences, plus, when the replica's KV
  is full, the wait for the overflow to drain (overflow / concurrency x the average request's decode time).

Energy metering, kept deliberately simple: a request is charged its share of the replica's power while it
ran, ``joules = power_w(u) x duration_s / n_sharing``, where ``n_sharing`` is the number of requests in
flight on the replica when it finished (itself included) and ``u`` the utilisation of a decode step at
that batch (``dep.step(...).utilisation``). A pool with ``power_w`` set (hosted APIs of unknown hardware)
uses that figure as the replica power; a pool with neither gets no joules (``None``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tokenfleet.gateway.breaker import CircuitBreaker
from tokenfleet.gateway.config import BackendConfig, GatewayConfig, PoolConfig
from tokenfleet.gateway.telemetry import ALPHA, BackendTelemetry
from tokenfleet.gateway.upstream import Transport, make_transport
from tokenfleet.routing.health import DEFAULT_RULE, HealthRule

DEFAULT_CTX_TOKENS = 1000.0
DEFAULT_OUTPUT_TOKENS = 200.0


@dataclass(frozen=True, slots=True)
class Prediction:
    ttft_ms: float
    tpot_ms: float


class Pool:
    __slots__ = ("avg_ctx_tokens", "avg_output_tokens", "backends", "cfg", "deployment", "last_tried", "name",
                 "perf_note", "usd_per_tok_in", "usd_per_tok_out")

    def __init__(self, cfg: PoolConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.usd_per_tok_in = cfg.usd_per_mtok_in / 1e6
        self.usd_per_tok_out = cfg.usd_per_mtok_out / 1e6
        self.avg_ctx_tokens = DEFAULT_CTX_TOKENS
        self.avg_output_tokens = DEFAULT_OUTPUT_TOKENS
        self.last_tried = -math.inf  # monotonic time an attempt or probe last started on one of its backends
        self.deployment = None
        self.perf_note = "no hardware given"
        if cfg.hardware:
            from tokenfleet import perf  # the performance model is only needed for pools with hardware
            from tokenfleet.errors import TokenfleetError

            try:
                self.deployment = perf.deploy(cfg.perf_model or cfg.model, cfg.hardware)
                self.perf_note = self.deployment.describe()
            except TokenfleetError as exc:
                self.perf_note = f"no performance model: {exc}"
        self.backends: list[Backend] = []

    def observe_lengths(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.avg_ctx_tokens += ALPHA * (prompt_tokens + completion_tokens / 2 - self.avg_ctx_tokens)
        self.avg_output_tokens += ALPHA * (completion_tokens - self.avg_output_tokens)

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return prompt_tokens * self.usd_per_tok_in + completion_tokens * self.usd_per_tok_out


class Backend:
    __slots__ = ("breaker", "cfg", "max_in_flight", "name", "pool", "probe_at", "probe_every_s", "replicas",
                 "telemetry", "transport")

    def __init__(self, cfg: BackendConfig, pool: Pool, transport: Transport, breaker: CircuitBreaker,
                 rule: HealthRule = DEFAULT_RULE) -> None:
        self.cfg = cfg
        self.name = cfg.name or cfg.url
        self.pool = pool
        self.transport = transport
        self.breaker = breaker
        self.telemetry = BackendTelemetry(rule)
        self.probe_at = 0.0  # monotonic time of the next health probe allowed (see gateway.health)
        self.probe_every_s = 0.0
        self.replicas = cfg.replicas
        self.max_in_flight = cfg.max_in_flight

    def predict(self, prompt_tokens: int) -> Prediction | None:
        dep = self.pool.deployment
        if dep is None:
            return None
        n = self.telemetry.in_flight / self.replicas
        ctx = self.pool.avg_ctx_tokens
        n_run = n
        wait_s = 0.0
        concurrency = max(1.0, dep.kv_capacity_tokens / max(1.0, ctx))
        if n + 1 > concurrency:  # KV full: queue behind the overflow
            n_run = concurrency - 1
            tpot = dep.step_time(0, int(concurrency), int(concurrency * ctx))
            wait_s = (n + 1 - concurrency) / concurrency * self.pool.avg_output_tokens * tpot
        n_dec = math.ceil(n_run)
        ttft_s = dep.step_time(prompt_tokens, n_dec, int(n_dec * ctx)) + wait_s
        tpot_s = dep.step_time(0, n_dec + 1, int((n_dec + 1) * ctx))
        return Prediction(ttft_s * 1e3, tpot_s * 1e3)

    def joules(self, duration_s: float) -> float | None:
        """Energy share of one finished request (see the module docstring); call before ``finish``."""
        n_sharing = max(1.0, self.telemetry.in_flight / self.replicas)
        dep = self.pool.deployment
        if self.pool.cfg.power_w is not None:
            power_w = self.pool.cfg.power_w
        elif dep is not None:
            n = math.ceil(n_sharing)
            util = dep.step(0, n, int(n * self.pool.avg_ctx_tokens)).utilisation
            power_w = dep.power_w(util)
        else:
            return None
        return power_w * duration_s / n_sharing


class Fleet:
    """All pools and backends of a gateway, and the model names they serve."""

    def __init__(self, cfg: GatewayConfig, transports: dict[str, Transport] | None = None) -> None:
        self.pools: list[Pool] = []
        self.backends: list[Backend] = []
        self.by_model: dict[str, list[Pool]] = {}
        for pcfg in cfg.pools:
            pool = Pool(pcfg)
            for i, bcfg in enumerate(pcfg.backends):
                name = bcfg.name or f"{pcfg.name}/{i}"
                bcfg = bcfg.model_copy(update={"name": name})
                transport = (transports or {}).get(name) or make_transport(
                    pcfg.kind, bcfg.url, bcfg.api_key, pcfg.connect_timeout_s, pcfg.read_timeout_s,
                    pcfg.keepalive_idle_s)
                backend = Backend(bcfg, pool, transport,
                                  CircuitBreaker(cfg.breaker.failures, cfg.breaker.cooldown_s), cfg.health.rule())
                pool.backends.append(backend)
                self.backends.append(backend)
            self.pools.append(pool)
            self.by_model.setdefault(pcfg.model, []).append(pool)

    def models(self) -> list[str]:
        return sorted(self.by_model)

    async def aclose(self) -> None:
        for b in self.backends:
            await b.transport.aclose()


__all__ = ["Backend", "Fleet", "Pool", "Prediction"]
