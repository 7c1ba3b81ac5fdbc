"""Answers from a backend, relayed and metered: a non-streamed body, or an SSE stream relayed event by
event; the backend's health evidence from each (timed from the start of its attempt); one ledger row per
request. :class:`Answers` is the half of :class:`~tokenfleet.gateway.proxy.Proxy` that deals with what
came back; the proxy's own half routes, fails over and reserves budgets.

Once the first event has been relayed the request is committed to its backend: if the upstream stream is
then cut — or a drain runs past its timeout — the client gets an SSE ``error`` event, never a silent 200
with a truncated answer. A client that leaves before a non-streamed answer is billed the prompt and the
output tokens its backend will have produced by then at its estimated TTFT / TPOT.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from tokenfleet.gateway.breaker import is_latency_outlier
from tokenfleet.gateway.call import Call, Outcome, Reply
from tokenfleet.gateway.config import GatewayConfig
from tokenfleet.gateway.fleet import Backend, Fleet, Pool
from tokenfleet.gateway.ledger import Ledger, LedgerRow
from tokenfleet.gateway.metrics import GatewayMetrics
from tokenfleet.gateway.router import Router
from tokenfleet.gateway.slots import Lease
from tokenfleet.gateway.upstream import UpstreamError, UpstreamResponse

SSE_DONE = b"data: [DONE]"


@dataclass(slots=True, eq=False)
class InFlight:
    """A stream being relayed, or an attempt waiting for its backend's answer (``task``), so a drain past
    its timeout can end it: the stream with an error event, the attempt with a 503."""

    resp: UpstreamResponse | None
    task: asyncio.Task[Any] | None = None
    abort: str | None = None


def _usage(obj: dict[str, Any]) -> tuple[int, int] | None:
    u = obj.get("usage")
    if isinstance(u, dict):
        try:
            return max(0, int(u.get("prompt_tokens") or 0)), max(0, int(u.get("completion_tokens") or 0))
        except (TypeError, ValueError):
            return None
    return None


class Answers:
    """Relaying, health evidence and metering, for :class:`~tokenfleet.gateway.proxy.Proxy`."""

    def __init__(self, cfg: GatewayConfig, fleet: Fleet, router: Router, ledger: Ledger | None,
                 metrics: GatewayMetrics) -> None:
        self.cfg = cfg
        self.fleet = fleet
        self.router = router
        self.ledger = ledger
        self.metrics = metrics
        self._ttfb_s = {p.name: cfg.ttfb_timeout_s(p.cfg) for p in fleet.pools}
        self._live: set[InFlight] = set()

    def output_cap(self, call: Call, pool: Pool) -> int:
        """The most output tokens per choice ``call`` may produce on ``pool``: its own max_tokens, else
        the cap the gateway forwards (the key's, else the pool's, else the gateway's default)."""
        if not call.capped:
            return call.max_output_tokens
        return call.cap or pool.cfg.default_max_tokens or self.cfg.default_max_tokens

    def _reply_headers(self, call: Call, b: Backend) -> dict[str, str]:
        headers = {"x-tokenfleet-pool": b.pool.name, "x-tokenfleet-backend": b.name}
        if call.capped:
            headers["x-tokenfleet-max-tokens"] = str(self.output_cap(call, b.pool))
        return headers

    def _bill_gone(self, call: Call, b: Backend, t_attempt: float, lease: Lease) -> None:
        """The client left before a non-streamed answer and the attempt was cancelled (the backend's work
        with it, as the connection closed): bill the prompt and the output tokens the backend will have
        produced by now at its estimated TTFT / TPOT (the answer itself never arrived)."""
        t_end = time.perf_counter()
        elapsed = t_end - t_attempt
        ttft_s, tpot_s = self.router.estimates_s(b, call.prompt_tokens_est)
        produced = 0
        if ttft_s is not None and elapsed >= ttft_s:
            per_choice = 1 + (int((elapsed - ttft_s) / tpot_s) if tpot_s else 0)
            produced = min(self.output_cap(call, b.pool), per_choice) * call.n
        out = Outcome(499, f"client disconnected after {elapsed:.2f} s on the backend; upstream cancelled, "
                           f"{produced} completion tokens estimated", call.prompt_tokens_est, produced)
        lease.end()
        self.record(call, b, out, t_end, b.joules(t_end - call.t0))

    def _eject(self, b: Backend, why: str, reason: str) -> bool:
        """Eject ``b`` unless it is the last backend of its model still in routing (Envoy's max ejection
        percent: a slow pool is better than none). Returns whether it was ejected."""
        others = [o for p in self.fleet.by_model.get(b.pool.cfg.model, []) for o in p.backends
                  if o is not b and o.breaker.allows_request()]
        if not others:
            return False
        b.breaker.eject(why)
        self.metrics.child(self.metrics.ejections, b.name, reason).inc()
        return True

    # ---- non-streaming ---------------------------------------------------------------------------
    def _complete(self, call: Call, b: Backend, status: int, data: bytes, lease: Lease, t_attempt: float) -> Reply:
        t_end = time.perf_counter()
        out = Outcome(status)
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            usage = _usage(obj)
            if usage is not None:
                out.prompt_tokens, out.completion_tokens = usage
            elif status == 200:
                out.prompt_tokens = call.prompt_tokens_est
            if status == 200 and obj.get("model") != call.model:
                obj["model"] = call.model
                data = orjson.dumps(obj)
        if status == 200:
            out.ttft_ms = (t_end - call.t0) * 1e3
        else:
            out.error = f"backend answered {status}"
        self._finish(call, b, out, t_end, status < 500, lease, (t_attempt, None))
        return Reply(status, data, headers=self._reply_headers(call, b))

    # ---- streaming -------------------------------------------------------------------------------
    async def _relay(self, call: Call, b: Backend, resp: UpstreamResponse, it: AsyncIterator[bytes],
                     buf: bytes, lease: Lease, timing: tuple[float, float]) -> AsyncIterator[bytes]:
        out = Outcome(200, prompt_tokens=call.prompt_tokens_est)
        live = InFlight(resp)
        self._live.add(live)
        events = 0
        usage_seen = False
        done = False
        up_model = (b.pool.cfg.upstream_model or call.model).encode()
        rename = up_model != call.model.encode()
        old = b'"model":"' + up_model + b'"'
        new = b'"model":"' + call.model.encode() + b'"'
        try:
            while True:
                *complete, buf = buf.split(b"\n\n")
                chunk: list[bytes] = []
                for ev in complete:
                    if not ev.strip():
                        continue
                    if ev.startswith(SSE_DONE):
                        done = True
                        chunk.append(ev + b"\n\n")
                        continue
                    if b'"usage":{' in ev or b'"usage": {' in ev:
                        try:
                            obj = orjson.loads(ev[ev.index(b"{"):])
                        except (ValueError, orjson.JSONDecodeError):
                            obj = {}
                        usage = _usage(obj) if isinstance(obj, dict) else None
                        if usage is not None:
                            out.prompt_tokens, out.completion_tokens = usage
                            usage_seen = True
                        if not call.client_wants_usage and isinstance(obj, dict) and not obj.get("choices"):
                            continue  # the usage-only chunk the gateway asked for on its own account
                    if out.ttft_ms is None:
                        out.ttft_ms = (time.perf_counter() - call.t0) * 1e3
                    events += 1
                    chunk.append((ev.replace(old, new) if rename else ev) + b"\n\n")
                if chunk:
                    yield b"".join(chunk)
                if done:
                    break
                try:
                    buf += await it.__anext__()
                except StopAsyncIteration:
                    raise UpstreamError("upstream closed the stream before [DONE]", connect=False) from None
        except UpstreamError as exc:
            if live.abort is not None:
                out.error = live.abort[:256]
                msg, code = f"{live.abort}; the answer is incomplete", "gateway_shutdown"
            else:
                out.error = f"stream cut: {exc}"[:256]
                msg, code = f"the backend stream was cut after it started ({exc}); the answer is incomplete", \
                    "stream_cut"
            yield b"data: " + orjson.dumps({"error": {"message": msg, "type": "server_error", "param": None,
                                                      "code": code}}) + b"\n\n"
        except (asyncio.CancelledError, GeneratorExit):
            out.error = "client disconnected"
            raise
        finally:
            self._live.discard(live)
            await resp.aclose()
            if not usage_seen:
                out.completion_tokens = max(0, events - 1) if events else 0
            self._finish(call, b, out, time.perf_counter(), out.error is None
                         or out.error == "client disconnected" or live.abort is not None, lease, timing)

    async def expire_streams(self, reason: str) -> int:
        """End every stream still being relayed with an SSE error event, and answer every non-streamed
        request still waiting for its backend with 503 (a drain past its timeout)."""
        live = list(self._live)
        for s in live:
            s.abort = reason
            if s.task is not None:
                s.task.cancel()
            elif s.resp is not None:
                with contextlib.suppress(Exception):
                    await s.resp.aclose()
        return len(live)

    # ---- accounting ------------------------------------------------------------------------------
    def _finish(self, call: Call, b: Backend, out: Outcome, t_end: float, ok: bool, lease: Lease,
                timing: tuple[float, float | None]) -> None:
        """Settle an attempt that answered: health (``timing``: when the attempt started and its first
        event came, None for a non-streamed answer), slots, and the row."""
        duration_s = t_end - call.t0
        pool = b.pool
        pool.last_tried = self.router.clock()  # its evidence is as fresh as this answer
        joules = b.joules(duration_s)
        if ok:
            b.breaker.on_success()
            if out.status == 200 and out.error is None:
                self._observe(call, b, out, timing, t_end)
                pool.observe_lengths(out.prompt_tokens, out.completion_tokens)
                self._check_outlier(b)
        else:
            b.telemetry.observe_error()
            b.breaker.on_failure()
        lease.end()
        self.record(call, b, out, t_end, joules)

    def _observe(self, call: Call, b: Backend, out: Outcome, timing: tuple[float, float | None],
                 t_end: float) -> None:
        """Feed ``b``'s TTFT and TPOT evidence, timed from the start of this attempt. A non-streamed answer
        shows no first token: its TTFT is the duration less the tokens after the first at the estimated
        TPOT (none when there is no estimate), and it gives no TPOT sample."""
        t_attempt, t_first = timing
        per_choice = out.completion_tokens / max(1, call.n)
        if t_first is not None:
            ttft_s: float | None = t_first - t_attempt
            tpot_s = (t_end - t_first) / (per_choice - 1) if per_choice > 1 else None
        else:
            tpot_s = None
            est = self.router.estimates_s(b, call.prompt_tokens_est)[1] if per_choice > 1 else 0.0
            ttft_s = max(0.0, (t_end - t_attempt) - (per_choice - 1) * est) if est is not None else None
        b.telemetry.observe_success(self.router.clock(), ttft_s, tpot_s)

    def _check_outlier(self, b: Backend) -> None:
        now = self.router.clock()
        own = b.telemetry.ttft.read(now)
        peers = [t for p in b.pool.backends if p is not b and p.breaker.allows_request()
                 and (t := p.telemetry.ttft.read(now)) is not None]
        floor_s = self._ttfb_s[b.pool.name] / 2
        if is_latency_outlier(own, b.telemetry.ttft.samples, peers, floor_s) \
                and self._eject(b, "TTFT outlier in its pool", "ttft_outlier"):
            b.telemetry.ttft.reset()  # judged afresh after the probe

    def record(self, call: Call, b: Backend | None, out: Outcome, t_end: float,
               joules: float | None = None) -> None:
        """Meter a finished request, or a refused one (``b`` None): metrics and one ledger row."""
        m = self.metrics
        pool_name = b.pool.name if b else "-"
        usd = b.pool.cost_usd(out.prompt_tokens, out.completion_tokens) if b else 0.0
        duration_s = t_end - call.t0
        status = "cut" if out.error and out.status == 200 else str(out.status)
        m.child(m.requests, pool_name, b.name if b else "-", call.slo_class, status).inc()
        if b is not None:
            m.child(m.duration, pool_name, call.slo_class).observe(duration_s)
            if out.ttft_ms is not None:
                m.child(m.ttft, pool_name, call.slo_class).observe(out.ttft_ms / 1e3)
            m.child(m.tokens, pool_name, "prompt").inc(out.prompt_tokens)
            m.child(m.tokens, pool_name, "completion").inc(out.completion_tokens)
            m.child(m.usd, pool_name).inc(usd)
            if joules:
                m.child(m.joules, pool_name).inc(joules)
        if self.ledger is not None:
            ok = self.ledger.record(LedgerRow(
                ts=call.ts, request_id=call.request_id, key_id=call.key_id, slo_class=call.slo_class,
                pool=pool_name, backend=b.name if b else "-", model=call.model, status=out.status,
                error=out.error, stream=call.stream, prompt_tokens=out.prompt_tokens,
                completion_tokens=out.completion_tokens, ttft_ms=out.ttft_ms, duration_ms=duration_s * 1e3,
                joules=joules, usd=usd))
            if not ok:
                m.rows_lost.inc()
        call.recorded = True


__all__ = ["SSE_DONE", "Answers"]
