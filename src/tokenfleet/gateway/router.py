"""The adapter from the gateway's live telemetry to :mod:`tokenfleet.routing`, which makes the decision.

Each backend becomes a row of an :class:`~tokenfleet.routing.EndpointTable` (one table per model, updated
in place for every decision). The row holds the performance model's prediction at the backend's current
load (see :mod:`tokenfleet.gateway.fleet`), corrected upwards by what was observed: a backend slower than
modelled is treated as slow as it is, i.e. ``predicted = max(model, observed)`` for TPOT, and for TTFT with
an empty prompt ``max(model, observed TTFT - average prompt / prefill rate)``, where the observation fades
back to the model without new samples (:func:`tokenfleet.routing.health.corrected_s`). Pools with no
hardware (hosted APIs) have no prediction and routing falls back to the observed averages.

A backend is unhealthy for this decision if its circuit is open, it is at ``max_in_flight``, or it
already failed this request. After the policy picks, the gateway checks the pick against the request's
SLO: a pick that cannot meet it means no backend can on the evidence, and admission control queues or
refuses it — unless a backend whose pool has not been tried for ``health.fresh_s`` could meet it by its
performance model: that one is tried instead, so old evidence never refuses a request.

Prefix- and prefill-aware policies (``prefix-aware``, ``prefill-load``) need two things the backends do
not report, so the router estimates them from the requests it routed:

* **which prompt blocks each backend caches** — the prompt text (messages joined as the emulator joins
  them) is hashed in blocks of ``routing.prefix.block_tokens`` with :class:`tokenfleet.workload.prefix.
  PromptHasher`: token-exact when ``routing.prefix.tokenizer`` names a local ``tokenizer.json``, else
  approximate ~4-character-per-token blocks (``Router.hasher.source`` says which). The hashes of each
  routed prompt go into an :class:`~tokenfleet.routing.prefix_index.ApproxPrefixIndex` entry for that
  backend, an LRU bounded by the backend's modelled KV cache in blocks (``routing.prefix.index_blocks``
  overrides; ``ttl_s`` expires entries by age);
* **how much prefill work waits at each backend** — a fluid queue per backend: each routed prompt adds
  its estimated uncached tokens, which drain at the modelled prefill rate beside the backend's running
  batch (``perf`` step time of a ``max_batched_tokens`` chunk beside ``in_flight`` decodes, times its
  replicas); a backend with nothing in flight has none. ``prefill_wait_s`` = that work / rate + the
  model's per-request overhead.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from tokenfleet.errors import InfeasibleError, TokenfleetError
from tokenfleet.gateway.config import RoutingConfig
from tokenfleet.gateway.fleet import Backend, Fleet, Pool
from tokenfleet.routing import EndpointSnapshot, EndpointTable, Profile, RequestInfo, build_profile
from tokenfleet.routing.health import DEFAULT_RULE, HealthRule, corrected_s
from tokenfleet.routing.prefix_aware import uses_prefill_queue, uses_prefix
from tokenfleet.routing.prefix_index import ApproxPrefixIndex
from tokenfleet.workload.prefix import PromptHasher

MAX_BATCHED_TOKENS = 8192  # the emulator's and the simulator's token budget per engine step
DEFAULT_INDEX_BLOCKS = 1 << 16  # per backend (4M tokens at 64), when no performance model gives its KV capacity
_RECENT = 4096  # (request, backend) pairs remembered so a retried decision is not counted twice


def body_prompt_text(body: dict[str, Any]) -> str:
    """The prompt text of an OpenAI request body, joined as ``openai_models.prompt_text`` joins it (the
    emulator hashes that text, so both sides name the same blocks)."""
    msgs = body.get("messages")
    if isinstance(msgs, list):
        parts: list[str] = []
        for m in msgs:
            c = m.get("content") if isinstance(m, dict) else None
            if isinstance(c, str):
                parts.append(c)
            elif isinstance(c, list):
                parts.extend(str(x.get("text", "")) for x in c if isinstance(x, dict))
        return "\n".join(parts)
    p = body.get("prompt")
    if isinstance(p, str):
        return p
    if isinstance(p, list) and p and isinstance(p[0], str):
        return "\n".join(str(x) for x in p)
    return ""


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
    """Feeds live backend state to a routing profile and returns the backend it picks.

    ``clock`` (monotonic seconds) drains the prefill queues and ages the prefix index; tests pass their own.
    """

    def __init__(self, cfg: RoutingConfig, fleet: Fleet, clock: Callable[[], float] = time.monotonic,
                 rule: HealthRule = DEFAULT_RULE) -> None:
        self.profile: Profile = build_profile({"policy": cfg.policy, "weights": cfg.weights})
        self.rule = rule
        self.fleet = fleet
        self.clock = clock
        pc = cfg.prefix
        self.hasher = PromptHasher(pc.block_tokens, pc.tokenizer)
        self.uses_hashes, self.uses_prefill = uses_prefix(self.profile), uses_prefill_queue(self.profile)
        self._rates = {p.name: _pool_rates(p) for p in fleet.pools}
        self._tables: dict[str, tuple[EndpointTable, list[Backend]]] = {}
        self._index: dict[str, ApproxPrefixIndex] = {}
        self._wait: dict[str, list[float]] = {b.name: [0.0, 0.0] for b in fleet.backends}  # tokens, at time
        self._recent: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._last: tuple[object, tuple[int, ...]] = (None, ())
        for model, pools in fleet.by_model.items():
            backends = [b for p in pools for b in p.backends]
            table = EndpointTable([b.name for b in backends], [b.pool.name for b in backends],
                                  [b.pool.cfg.hardware or "" for b in backends], [model] * len(backends),
                                  [frozenset(b.pool.cfg.tiers) for b in backends])
            index = ApproxPrefixIndex([self._index_blocks(b, pc.index_blocks) for b in backends],
                                      pc.block_tokens, pc.ttl_s)
            table.prefix_index = index
            self._index[model] = index
            self._tables[model] = (table, backends)

    def _index_blocks(self, b: Backend, override: int | None) -> int:
        if override is not None:
            return override
        dep = b.pool.deployment
        if dep is None:
            return DEFAULT_INDEX_BLOCKS
        return max(1, dep.kv_capacity_tokens * b.replicas // self.hasher.block_tokens)

    def prompt_hashes(self, call: _CallLike) -> tuple[int, ...]:
        """Block hashes of the call's prompt (computed once per call)."""
        if self._last[0] is call.body:
            return self._last[1]
        h = self.hasher.hashes(body_prompt_text(call.body)) if isinstance(call.body, dict) else ()
        self._last = (call.body, h)
        return h

    def batch_prefill_rate(self, b: Backend) -> float:
        """Prompt tokens/s backend ``b`` prefills beside its running batch (all its replicas), 0 if unknown."""
        dep = b.pool.deployment
        if dep is None:
            return 0.0
        n = int(np.ceil(b.telemetry.in_flight / b.replicas))
        chunk = max(MAX_BATCHED_TOKENS - n, 1)
        t = dep.step_time(chunk, n, int(n * b.pool.avg_ctx_tokens))
        return chunk / t * b.replicas if t > 0 else 0.0

    def waiting_prefill_tokens(self, b: Backend, rate: float, now: float) -> float:
        """The fluid estimate of prompt tokens routed to ``b`` and not yet prefilled, at ``now``."""
        w = self._wait[b.name]
        if b.telemetry.in_flight == 0:
            w[0] = 0.0
        elif rate > 0:
            w[0] = max(0.0, w[0] - rate * max(0.0, now - w[1]))
        w[1] = now
        return w[0]

    def snapshot(self, b: Backend, exclude: set[str], now: float | None = None) -> EndpointSnapshot:
        pool, tel, rule = b.pool, b.telemetry, self.rule
        now = self.clock() if now is None else now
        rate, jpt = self._rates[pool.name]
        obs_ttft = tel.ttft.read(now, 0.0, rule)
        obs_tpot = tel.tpot.read(now, 0.0, rule)
        pred = b.predict(0)
        ttft_s = tpot_s = 0.0
        queued, kv_frac, power_w = 0, 0.0, pool.cfg.power_w or 0.0
        if pred is not None and pool.deployment is not None:
            prompt_part = pool.avg_ctx_tokens / rate if rate > 0 else 0.0
            ttft_s = corrected_s(pred.ttft_ms / 1e3, tel.ttft, now, rule, prompt_part)
            tpot_s = corrected_s(pred.tpot_ms / 1e3, tel.tpot, now, rule)
            dep = pool.deployment
            per_replica_cap = max(1.0, dep.kv_capacity_tokens / max(1.0, pool.avg_ctx_tokens)) * b.replicas
            queued = max(0, int(tel.in_flight - per_replica_cap))
            kv_frac = min(1.0, (tel.in_flight - queued) / per_replica_cap)
            if not power_w:
                n = max(1, int(np.ceil(tel.in_flight / b.replicas)))
                power_w = b.replicas * dep.power_w(dep.step(0, n, int(n * pool.avg_ctx_tokens)).utilisation
                                                   if tel.in_flight else 0.0)
        healthy = (b.name not in exclude and tel.in_flight < b.max_in_flight and b.breaker.allows_request())
        waiting, wait_s, batch_rate = 0.0, 0.0, 0.0
        if self.uses_prefill:
            batch_rate = self.batch_prefill_rate(b)
            waiting = self.waiting_prefill_tokens(b, batch_rate, now)
            overhead = pool.deployment.params.request_overhead_s if pool.deployment is not None else 0.0
            wait_s = (waiting / batch_rate if batch_rate > 0 else ttft_s) + overhead
        return EndpointSnapshot(
            endpoint_id=b.name, pool=pool.name, hw_id=pool.cfg.hardware or "", model=pool.cfg.model,
            in_flight=tel.in_flight, queued=queued, running_seqs=tel.in_flight - queued, kv_use_frac=kv_frac,
            predicted_ttft_s=ttft_s, predicted_tpot_s=tpot_s, prefill_tok_per_s=rate,
            usd_per_mtok=pool.cfg.usd_per_mtok_out, power_w=power_w, joules_per_token=jpt, healthy=healthy,
            observed_ttft_s=obs_ttft, observed_tpot_s=obs_tpot, tiers=frozenset(pool.cfg.tiers),
            waiting_prefill_tokens=int(waiting), prefill_wait_s=wait_s, batch_prefill_tok_per_s=batch_rate)

    def estimates_s(self, b: Backend, prompt_tokens: int) -> tuple[float | None, float | None]:
        """(TTFT of a ``prompt_tokens`` prompt, TPOT) that ``b`` would give now: the model's prediction
        corrected by the fading observations, or the observations alone; None where neither exists."""
        now, tel, rule = self.clock(), b.telemetry, self.rule
        pred = b.predict(prompt_tokens)
        if pred is None:
            return tel.ttft.read(now, 0.0, rule), tel.tpot.read(now, 0.0, rule)
        rate = self._rates[b.pool.name][0]
        prompt_part = b.pool.avg_ctx_tokens / rate if rate > 0 else 0.0
        own_part = prompt_tokens / rate if rate > 0 else 0.0
        ttft = corrected_s(pred.ttft_ms / 1e3 - own_part, tel.ttft, now, rule, prompt_part) + own_part
        return ttft, corrected_s(pred.tpot_ms / 1e3, tel.tpot, now, rule)

    def _meets(self, call: _CallLike, table: EndpointTable, rows: np.ndarray) -> np.ndarray:
        """Per row of ``rows``: whether its estimate meets the call's TTFT and TPOT SLOs."""
        ok = np.ones(rows.size, dtype=bool)
        if call.ttft_slo_ms is not None:
            ok &= table.ttft_estimate_s(call.prompt_tokens_est, rows) * 1e3 <= call.ttft_slo_ms
        if call.tpot_slo_ms is not None:
            ok &= table.tpot_estimate_s(rows) * 1e3 <= call.tpot_slo_ms
        return ok

    def model_meets(self, call: _CallLike, b: Backend) -> bool:
        """Whether the performance model alone (no observations) says ``b`` meets the call's SLOs now;
        True for a backend with no model (only evidence can judge it)."""
        pred, dep = b.predict(call.prompt_tokens_est), b.pool.deployment
        if pred is None or dep is None:
            return True
        return ((call.ttft_slo_ms is None or pred.ttft_ms <= call.ttft_slo_ms)
                and (call.tpot_slo_ms is None or pred.tpot_ms <= call.tpot_slo_ms))

    def choose(self, call: _CallLike, exclude: set[str]) -> Backend | None:
        """The backend the policy picks, or None when no healthy backend can meet the request's SLO on
        fresh evidence. When the pick cannot meet it, a healthy backend of a pool not tried for
        ``health.fresh_s`` that its performance model says can is tried instead (stale evidence steers,
        it never refuses: :mod:`tokenfleet.routing.health`)."""
        entry = self._tables.get(call.model)
        if entry is None:
            return None
        table, backends = entry
        now = self.clock()
        for i, b in enumerate(backends):
            table.set_row(i, self.snapshot(b, exclude, now))
        hashes = self.prompt_hashes(call) if self.uses_hashes else ()
        req = RequestInfo(call.slo_class, call.model, call.prompt_tokens_est, call.max_output_tokens,
                          call.ttft_slo_ms, call.tpot_slo_ms, call.tier, hashes)
        try:
            row = self.profile.pick_row(req, table)
        except InfeasibleError:
            return None
        if self._meets(call, table, np.array([row]))[0]:
            if self.uses_hashes:
                self._routed(call, req, table, row, backends[row])
            return backends[row]
        return self._stale_pick(call, req, table, backends, now)

    def _stale_pick(self, call: _CallLike, req: RequestInfo, table: EndpointTable, backends: list[Backend],
                    now: float) -> Backend | None:
        cand = table.candidates(call.model)
        if not cand.size:
            return None
        tried = np.array([backends[i].pool.last_tried for i in cand])
        stale = cand[now - tried >= self.rule.fresh_s]
        stale = np.array([i for i in stale if self.model_meets(call, backends[i])], dtype=np.int64)
        if not stale.size:
            return None
        row = int(stale[np.argmin(table.ttft_estimate_s(call.prompt_tokens_est, stale))])
        b = backends[row]
        b.pool.last_tried = now  # one request re-measures the pool; the others wait for its evidence
        if self.uses_hashes:
            self._routed(call, req, table, row, b)
        return b

    def _routed(self, call: _CallLike, req: RequestInfo, table: EndpointTable, row: int, b: Backend) -> None:
        """Book the decision: the backend will cache the prompt's blocks and has its prefill to do."""
        key = (getattr(call, "request_id", ""), b.name)
        if key in self._recent:  # the same request asked again (a retry probe): booked already
            return
        self._recent[key] = None
        if len(self._recent) > _RECENT:
            self._recent.popitem(last=False)
        one = np.array([row])
        cached = int(table.cached_tokens(req, one)[0])
        index = table.prefix_index
        assert isinstance(index, ApproxPrefixIndex)
        now = self.clock()
        index.advance(now)
        index.record(row, req.prefix_hashes, now)
        if self.uses_prefill:
            w = self._wait[b.name]
            w[0] += max(0, req.prompt_tokens - cached)

    def prefix_index(self, model: str) -> ApproxPrefixIndex | None:
        """The router's estimate of which blocks each backend of ``model`` caches (rows = backends)."""
        return self._index.get(model)

    def any_healthy(self, model: str) -> bool:
        entry = self._tables.get(model)
        return entry is not None and any(b.breaker.allows_request() for b in entry[1])


class _CallLike(Protocol):
    """What :meth:`Router.choose` reads from a call (see :class:`tokenfleet.gateway.proxy.Call`)."""

    model: str
    slo_class: str
    tier: str
    body: dict[str, Any]
    prompt_tokens_est: int
    max_output_tokens: int
    ttft_slo_ms: float | None
    tpot_slo_ms: float | None


__all__ = ["Router", "body_prompt_text"]
