"""The adapter from the gateway's live telemetry to :mod:`tokenfleet.routing`, which makes the decision.

Each backend becomes a row of an :class:`~tokenfleet.routing.EndpointTable` (one table per model, updated
in place for every decision). The row holds the performance model's prediction at the backend's current
load (see :mod:`tokenfleet.gateway.fleet`), corrected upwards by what was observed: a backend slower than
modelled is treated as slow as it is, i.e. ``predicted = max(model, observed moving average)`` for TPOT,
and for TTFT with an empty prompt ``max(model, observed TTFT - average prompt / prefill rate)``. Pools with
no hardware (hosted APIs) have no prediction and routing falls back to the observed averages.

A backend is unhealthy for this decision if its circuit is open, it is at ``max_in_flight``, or it
already failed this request. After the policy picks, the gateway checks the pick against the request's
SLO: a pick that cannot meet it means no backend can, and admission control queues or refuses it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from tokenfleet.errors import InfeasibleError, TokenfleetError
from tokenfleet.gateway.config import RoutingConfig
from tokenfleet.gateway.fleet import Backend, Fleet, Pool
from tokenfleet.routing import EndpointSnapshot, EndpointTable, Profile, RequestInfo, build_profile


def _pool_rates(pool: Pool) -> tuple[float, float]:
    """(prefill tokens/s, joules per output token at a typical operating point) of a pool, once."""
    dep = pool.deployment
    if dep is None:
        return 0.0, 0.0
    probe = 2048
    dt = dep.step_time(probe, 0, 0) - dep.step_time(1, 0, 0)
    rate = probe / dt if dt > 0 else 0.0
    try:
        from tokenfleet import perf

        op = perf.steady.offline(dep, 1000, 200)
        jpt = perf.power.joules_per_output_token(dep, op, 1000, 200, pue=1.0)
    except (TokenfleetError, ValueError, ZeroDivisionError):
        jpt = 0.0
    return rate, jpt if np.isfinite(jpt) else 0.0


class Router:
    """Feeds live backend state to a routing profile and returns the backend it picks."""

    def __init__(self, cfg: RoutingConfig, fleet: Fleet) -> None:
        self.profile: Profile = build_profile({"policy": cfg.policy, "weights": cfg.weights})
        self.fleet = fleet
        self._rates = {p.name: _pool_rates(p) for p in fleet.pools}
        self._tables: dict[str, tuple[EndpointTable, list[Backend]]] = {}
        for model, pools in fleet.by_model.items():
            backends = [b for p in pools for b in p.backends]
            table = EndpointTable([b.name for b in backends], [b.pool.name for b in backends],
                                  [b.pool.cfg.hardware or "" for b in backends], [model] * len(backends),
                                  [frozenset(b.pool.cfg.tiers) for b in backends])
            self._tables[model] = (table, backends)

    def snapshot(self, b: Backend, exclude: set[str]) -> EndpointSnapshot:
        pool, tel = b.pool, b.telemetry
        rate, jpt = self._rates[pool.name]
        obs_ttft = tel.ttft_ms / 1e3 if tel.ttft_ms is not None else None
        obs_tpot = tel.tpot_ms / 1e3 if tel.tpot_ms is not None else None
        pred = b.predict(0)
        ttft_s = tpot_s = 0.0
        queued, kv_frac, power_w = 0, 0.0, pool.cfg.power_w or 0.0
        if pred is not None and pool.deployment is not None:
            ttft_s, tpot_s = pred.ttft_ms / 1e3, pred.tpot_ms / 1e3
            if obs_tpot is not None:
                tpot_s = max(tpot_s, obs_tpot)
            if obs_ttft is not None:
                prompt_part = pool.avg_ctx_tokens / rate if rate > 0 else 0.0
                ttft_s = max(ttft_s, obs_ttft - prompt_part)
            dep = pool.deployment
            per_replica_cap = max(1.0, dep.kv_capacity_tokens / max(1.0, pool.avg_ctx_tokens)) * b.replicas
            queued = max(0, int(tel.in_flight - per_replica_cap))
            kv_frac = min(1.0, (tel.in_flight - queued) / per_replica_cap)
            if not power_w:
                n = max(1, int(np.ceil(tel.in_flight / b.replicas)))
                power_w = b.replicas * dep.power_w(dep.step(0, n, int(n * pool.avg_ctx_tokens)).utilisation
                                                   if tel.in_flight else 0.0)
        healthy = (b.name not in exclude and tel.in_flight < b.max_in_flight and b.breaker.allows_request())
        return EndpointSnapshot(
            endpoint_id=b.name, pool=pool.name, hw_id=pool.cfg.hardware or "", model=pool.cfg.model,
            in_flight=tel.in_flight, queued=queued, running_seqs=tel.in_flight - queued, kv_use_frac=kv_frac,
            predicted_ttft_s=ttft_s, predicted_tpot_s=tpot_s, prefill_tok_per_s=rate,
            usd_per_mtok=pool.cfg.usd_per_mtok_out, power_w=power_w, joules_per_token=jpt, healthy=healthy,
            observed_ttft_s=obs_ttft, observed_tpot_s=obs_tpot, tiers=frozenset(pool.cfg.tiers))

    def choose(self, call: _CallLike, exclude: set[str]) -> Backend | None:
        """The backend the policy picks, or None when no healthy backend can meet the request's SLO."""
        entry = self._tables.get(call.model)
        if entry is None:
            return None
        table, backends = entry
        for i, b in enumerate(backends):
            table.set_row(i, self.snapshot(b, exclude))
        req = RequestInfo(call.slo_class, call.model, call.prompt_tokens_est, call.max_output_tokens,
                          call.ttft_slo_ms, call.tpot_slo_ms, call.tier)
        try:
            row = self.profile.pick_row(req, table)
        except InfeasibleError:
            return None
        one = np.array([row])
        if call.ttft_slo_ms is not None and \
                table.ttft_estimate_s(call.prompt_tokens_est, one)[0] * 1e3 > call.ttft_slo_ms:
            return None
        if call.tpot_slo_ms is not None and table.tpot_estimate_s(one)[0] * 1e3 > call.tpot_slo_ms:
            return None
        return backends[row]

    def any_healthy(self, model: str) -> bool:
        entry = self._tables.get(model)
        return entry is not None and any(b.breaker.allows_request() for b in entry[1])


class _CallLike(Protocol):
    """What :meth:`Router.choose` reads from a call (see :class:`tokenfleet.gateway.proxy.Call`)."""

    model: str
    slo_class: str
    tier: str
    prompt_tokens_est: int
    max_output_tokens: int
    ttft_slo_ms: float | None
    tpot_slo_ms: float | None


__all__ = ["Router"]
