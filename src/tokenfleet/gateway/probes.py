"""Health probes: re-measure a backend whose observed latency, not its performance model, blocks a class.

Evidence only changes when requests reach a backend, and admission sends none to a backend whose observed
TTFT or TPOT is past a class's SLO. Besides the fading of that evidence and the freshness rule
(:mod:`tokenfleet.routing.health`), the gateway probes such a backend: a streamed chat request of
:data:`PROBE_TOKENS` tokens whose first event gives a TTFT sample and whose later events a TPOT sample,
timed like any attempt. A backend is probed when

* its circuit admits requests and nothing of its own is in flight (a request in flight brings evidence);
* for some class with an SLO that its pool serves, the performance model says it meets the SLO at its
  current load but the observed evidence says it does not (a pool with no model: the evidence says not);
* its pool has not been tried for the backend's probe interval: ``health.probe_interval_s`` at first,
  doubled after each probe that left it blocked without improving on the evidence (the backend is still
  slow), up to ``health.probe_max_interval_s``, and back to the first after a probe that did (the
  evidence is catching up with a backend that recovered) or once unblocked.

A probe that gets no first event within the pool's time-to-first-byte limit is a TTFT sample of that
limit (the backend is slow, not failing); a connection refused or a 5xx counts as a failure for the
circuit breaker. Probes are not ledger rows (no client, a few tokens); ``tokenfleet_probes_total`` counts
them by backend and outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import orjson

from tokenfleet.gateway.config import GatewayConfig
from tokenfleet.gateway.fleet import Backend, Fleet
from tokenfleet.gateway.metrics import GatewayMetrics
from tokenfleet.gateway.router import Router
from tokenfleet.gateway.upstream import UpstreamError, UpstreamRequest, UpstreamResponse

PROBE_TOKENS = 4
log = logging.getLogger("tokenfleet.gateway.probes")


class Prober:
    def __init__(self, cfg: GatewayConfig, fleet: Fleet, router: Router, metrics: GatewayMetrics) -> None:
        self.cfg, self.fleet, self.router, self.metrics = cfg, fleet, router, metrics
        self.base_s = cfg.health.probe_interval_s
        self.max_s = max(cfg.health.probe_max_interval_s, self.base_s)
        self._tasks: set[asyncio.Task[str]] = set()
        self._slos = [(c.tier, c.ttft_ms, c.tpot_ms) for c in cfg.classes.values()
                      if c.ttft_ms is not None or c.tpot_ms is not None]

    def blocked(self, b: Backend) -> bool:
        """Whether the evidence, and not the performance model, keeps some class off ``b``."""
        tiers = b.pool.cfg.tiers
        ttft, tpot = self.router.estimates_s(b, 0)
        pred = b.predict(0)
        for tier, ttft_ms, tpot_ms in self._slos:
            if tiers and tier not in tiers:
                continue
            model_ok = pred is None or ((ttft_ms is None or pred.ttft_ms <= ttft_ms)
                                        and (tpot_ms is None or pred.tpot_ms <= tpot_ms))
            seen_ok = ((ttft_ms is None or ttft is None or ttft * 1e3 <= ttft_ms)
                       and (tpot_ms is None or tpot is None or tpot * 1e3 <= tpot_ms))
            if model_ok and not seen_ok:
                return True
        return False

    def due(self, b: Backend, now: float) -> bool:
        if not b.breaker.allows_request() or b.telemetry.in_flight or now < b.probe_at:
            return False
        every = b.probe_every_s or self.base_s
        return now - b.pool.last_tried >= every and self.blocked(b)

    def tick(self) -> int:
        """Start the probes due now; returns how many."""
        now = self.router.clock()
        started = 0
        for b in self.fleet.backends:
            if self.due(b, now):
                b.pool.last_tried = now
                task = asyncio.get_running_loop().create_task(self.probe(b))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                started += 1
        return started

    async def run(self) -> None:
        while True:
            await asyncio.sleep(max(0.1, self.base_s / 2))
            try:
                self.tick()
            except Exception:  # a bug here must not stop the probes (or the gateway)
                log.exception("health probe tick failed")

    async def probe(self, b: Backend) -> str:
        """One probe of ``b``; returns its outcome (``ok``, ``slow``, ``failed``)."""
        pool = b.pool
        body = orjson.dumps({"model": pool.cfg.upstream_model or pool.cfg.model, "stream": True,
                             "max_tokens": PROBE_TOKENS, "messages": [{"role": "user", "content": "ping"}]})
        limit_s = self.cfg.ttfb_timeout_s(pool.cfg)
        b.telemetry.start()
        resp: UpstreamResponse | None = None
        t0 = time.perf_counter()
        t_first: float | None = None
        t_last, events, outcome = t0, 0, "failed"
        try:
            async with asyncio.timeout(limit_s):
                resp = await b.transport.send(UpstreamRequest("/v1/chat/completions", body, True))
                if resp.status != 200:
                    raise UpstreamError(f"answered {resp.status}", connect=False)
                buf = b""
                async for part in resp.aiter_bytes():
                    buf += part
                    *done, buf = buf.split(b"\n\n")
                    for ev in done:
                        if ev.startswith(b"data: {") and b'"choices"' in ev:
                            t_last = time.perf_counter()
                            t_first = t_first or t_last
                            events += 1
                    if any(ev.startswith(b"data: [DONE]") for ev in done):
                        break
            outcome = "ok" if t_first is not None else "failed"
        except TimeoutError:
            outcome = "slow" if t_first is None else "ok"
        except UpstreamError:
            outcome = "failed"
        finally:
            b.telemetry.finish()
            if resp is not None:
                with contextlib.suppress(Exception):
                    await resp.aclose()
        now = self.router.clock()
        pool.last_tried = now
        improving = False
        if outcome == "failed":
            b.telemetry.observe_error()
            b.breaker.on_failure()
        else:
            ttft_s = (t_first - t0) if t_first is not None else limit_s
            tpot_s = (t_last - t_first) / (events - 1) if t_first is not None and events > 1 else None
            before = (b.telemetry.ttft.mean_s, b.telemetry.tpot.mean_s)
            improving = (before[0] is not None and ttft_s < before[0]) or \
                (before[1] is not None and tpot_s is not None and tpot_s < before[1])
            b.telemetry.observe_success(now, ttft_s, tpot_s)
        # still blocked by a backend that is still slow: back off; catching up with one that is fast: again soon
        slow = self.blocked(b) and not improving
        b.probe_every_s = min(self.max_s, 2 * (b.probe_every_s or self.base_s)) if slow else self.base_s
        b.probe_at = now + b.probe_every_s
        self.metrics.child(self.metrics.probes, b.name, outcome).inc()
        return outcome

    async def aclose(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


__all__ = ["PROBE_TOKENS", "Prober"]
