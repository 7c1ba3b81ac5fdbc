"""Forwarding one request: admission, routing, retries with failover, streaming relay and metering.

Before the first byte reaches the client, a failed attempt (connect error, 5xx, 429, or a stream that
dies before its first event) is retried on another backend with backoff, honouring a short
``Retry-After``. Once the first event has been relayed the request is committed to its backend: if the
upstream stream is then cut, the client gets an SSE ``error`` event (never a silent 200 with a truncated
answer). Every request, failed or not, ends in exactly one ledger row.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from tokenfleet.gateway import tokens
from tokenfleet.gateway.admission import Admission
from tokenfleet.gateway.config import GatewayConfig
from tokenfleet.gateway.fleet import Backend, Fleet
from tokenfleet.gateway.ledger import Ledger, LedgerRow
from tokenfleet.gateway.metrics import GatewayMetrics
from tokenfleet.gateway.openai_models import ApiError
from tokenfleet.gateway.router import Router
from tokenfleet.gateway.upstream import UpstreamError, UpstreamRequest, UpstreamResponse

SSE_DONE = b"data: [DONE]"


@dataclass(slots=True)
class Call:
    """One client request as the gateway sees it."""

    request_id: str
    key_id: str
    path: str
    model: str  # public name, class suffix removed
    slo_class: str
    tier: str
    ttft_slo_ms: float | None
    tpot_slo_ms: float | None
    max_queue_ms: float
    body: dict[str, Any]
    stream: bool
    client_wants_usage: bool
    prompt_tokens_est: int
    max_output_tokens: int
    t0: float = field(default_factory=time.perf_counter)
    ts: float = field(default_factory=time.time)


@dataclass(slots=True)
class Outcome:
    status: int = 200
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float | None = None


@dataclass(slots=True)
class Reply:
    """What the HTTP layer sends: a complete body, or an async iterator of SSE bytes."""

    status: int
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _usage(obj: dict[str, Any]) -> tuple[int, int] | None:
    u = obj.get("usage")
    if isinstance(u, dict):
        return int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0)
    return None


def _retry_after_s(headers: dict[str, str]) -> float | None:
    raw = headers.get("retry-after")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _route_headers(b: Backend) -> dict[str, str]:
    return {"x-tokenfleet-pool": b.pool.name, "x-tokenfleet-backend": b.name}


class Proxy:
    def __init__(self, cfg: GatewayConfig, fleet: Fleet, router: Router, ledger: Ledger | None,
                 metrics: GatewayMetrics, charge: Any = None) -> None:
        self.cfg = cfg
        self.fleet = fleet
        self.router = router
        self.ledger = ledger
        self.metrics = metrics
        self.admission = Admission()
        self._charge = charge  # callable(key_id, usd) -> None (budgets)
        self._upstream_bodies: dict[tuple[str, str], bytes] = {}

    # ---- attempts --------------------------------------------------------------------------------
    def _upstream_body(self, call: Call, backend: Backend) -> bytes:
        body = dict(call.body)
        body["model"] = backend.pool.cfg.upstream_model or backend.pool.cfg.model
        if call.stream:
            opts = dict(body.get("stream_options") or {})
            opts["include_usage"] = True
            body["stream_options"] = opts
        return orjson.dumps(body)

    async def handle(self, call: Call) -> Reply:
        what = f"model {call.model!r} class {call.slo_class!r}"
        if call.model not in self.fleet.by_model:
            raise ApiError(404, f"the model {call.model!r} does not exist; available: "
                                f"{', '.join(self.fleet.models())}", "invalid_request_error",
                           "model_not_found", "model")
        tried: set[str] = set()
        last: ApiError | None = None
        retry = self.cfg.retry
        for attempt in range(retry.max_attempts):
            def choose(tried: set[str] = tried) -> list[Backend]:
                b = self.router.choose(call, tried)
                return [b] if b is not None else []
            if attempt == 0:
                backend = (await self.admission.admit(
                    choose, call.max_queue_ms, lambda: self.router.any_healthy(call.model), what))[0]
            else:
                ranked = choose()
                if not ranked:
                    break
                backend = ranked[0]
                await asyncio.sleep(retry.backoff_ms / 1e3 * (2 ** (attempt - 1)))
            tried.add(backend.name)
            reply, err, retry_after_s = await self._attempt(call, backend)
            if reply is not None:
                return reply
            last = err
            if retry_after_s is not None and retry_after_s <= retry.max_retry_after_s \
                    and self.router.choose(call, tried) is None:
                await asyncio.sleep(retry_after_s)  # nowhere else to go: wait as the backend asked
                tried.discard(backend.name)
        err = last or ApiError(503, f"no backend could serve {what}", "server_error", "no_healthy_backend")
        self._record(call, None, Outcome(err.status, err.message[:256]), time.perf_counter())
        raise err

    async def _attempt(self, call: Call, b: Backend) -> tuple[Reply | None, ApiError | None, float | None]:
        """One try on one backend. Returns a reply, or the error and any Retry-After to retry with."""
        b.breaker.on_attempt()
        b.telemetry.start()
        self.metrics.child(self.metrics.in_flight, b.name).inc()
        req = UpstreamRequest(call.path, self._upstream_body(call, b), call.stream)
        try:
            resp = await b.transport.send(req)
        except UpstreamError as exc:
            return None, self._failed(b, "connect", f"backend {b.name} unreachable: {exc}"), None
        if resp.status == 429 or resp.status >= 500:
            with contextlib.suppress(UpstreamError):
                await resp.aread()
            reason = "429" if resp.status == 429 else "5xx"
            err = self._failed(b, reason, f"backend {b.name} answered {resp.status}",
                               breaker=resp.status != 429)
            return None, err, _retry_after_s(resp.headers)
        if call.stream and resp.status == 200:
            return await self._start_stream(call, b, resp)
        try:
            data = await resp.aread()
        except UpstreamError as exc:
            return None, self._failed(b, "broken", f"backend {b.name}: {exc}"), None
        return self._complete(call, b, resp.status, data), None, None

    def _failed(self, b: Backend, reason: str, message: str, breaker: bool = True) -> ApiError:
        b.telemetry.observe_error()
        if breaker:
            b.breaker.on_failure()
        self._release(b)
        self.metrics.child(self.metrics.retries, b.name, reason).inc()
        return ApiError(502 if reason != "429" else 429, message, "server_error", "upstream_error")

    def _release(self, b: Backend) -> None:
        b.telemetry.finish()
        self.metrics.child(self.metrics.in_flight, b.name).dec()
        self.admission.notify()

    # ---- non-streaming ---------------------------------------------------------------------------
    def _complete(self, call: Call, b: Backend, status: int, data: bytes) -> Reply:
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
        self._finish(call, b, out, t_end, ok=status < 500)
        return Reply(status, data, headers=_route_headers(b))

    # ---- streaming -------------------------------------------------------------------------------
    async def _start_stream(self, call: Call, b: Backend, resp: UpstreamResponse
                            ) -> tuple[Reply | None, ApiError | None, float | None]:
        """Read until the first SSE event arrives; only then commit to this backend."""
        it = resp.aiter_bytes().__aiter__()
        buf = b""
        try:
            while b"\n\n" not in buf:
                buf += await it.__anext__()
        except (StopAsyncIteration, UpstreamError) as exc:
            await resp.aclose()
            return None, self._failed(b, "broken", f"backend {b.name} stream ended before its first event: "
                                                   f"{exc or 'closed'}"), None
        return Reply(200, stream=self._relay(call, b, resp, it, buf), headers=_route_headers(b)), None, None

    async def _relay(self, call: Call, b: Backend, resp: UpstreamResponse, it: AsyncIterator[bytes],
                     buf: bytes) -> AsyncIterator[bytes]:
        out = Outcome(200, prompt_tokens=call.prompt_tokens_est)
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
                        obj = orjson.loads(ev[ev.index(b"{"):])
                        usage = _usage(obj)
                        if usage is not None:
                            out.prompt_tokens, out.completion_tokens = usage
                            usage_seen = True
                        if not call.client_wants_usage and not obj.get("choices"):
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
            out.error = f"stream cut: {exc}"[:256]
            yield b"data: " + orjson.dumps({"error": {
                "message": f"the backend stream was cut after it started ({exc}); the answer is incomplete",
                "type": "server_error", "param": None, "code": "stream_cut"}}) + b"\n\n"
        except (asyncio.CancelledError, GeneratorExit):
            out.error = "client disconnected"
            raise
        finally:
            await resp.aclose()
            if not usage_seen:
                out.completion_tokens = max(0, events - 1) if events else 0
            self._finish(call, b, out, time.perf_counter(), ok=out.error is None
                         or out.error == "client disconnected")

    # ---- accounting ------------------------------------------------------------------------------
    def _finish(self, call: Call, b: Backend, out: Outcome, t_end: float, ok: bool) -> None:
        duration_s = t_end - call.t0
        pool = b.pool
        joules = b.joules(duration_s)
        if ok:
            b.breaker.on_success()
            if out.status == 200 and out.error is None:
                b.telemetry.observe_success(out.ttft_ms or duration_s * 1e3, duration_s * 1e3,
                                            out.completion_tokens)
                pool.observe_lengths(out.prompt_tokens, out.completion_tokens)
        else:
            b.telemetry.observe_error()
            b.breaker.on_failure()
        self._release(b)
        self._record(call, b, out, t_end, joules)

    def _record(self, call: Call, b: Backend | None, out: Outcome, t_end: float,
                joules: float | None = None) -> None:
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
        if self._charge is not None and usd:
            self._charge(call.key_id, usd)
        if self.ledger is not None:
            self.ledger.record(LedgerRow(
                ts=call.ts, request_id=call.request_id, key_id=call.key_id, slo_class=call.slo_class,
                pool=pool_name, backend=b.name if b else "-", model=call.model, status=out.status,
                error=out.error, stream=call.stream, prompt_tokens=out.prompt_tokens,
                completion_tokens=out.completion_tokens, ttft_ms=out.ttft_ms, duration_ms=duration_s * 1e3,
                joules=joules, usd=usd))


def estimate_prompt_tokens(raw_body_len: int) -> int:
    """Routing-time prompt estimate from the body size (cheap; usage from the backend replaces it)."""
    return max(1, raw_body_len // tokens.CHARS_PER_TOKEN)


__all__ = ["Call", "Outcome", "Proxy", "Reply", "estimate_prompt_tokens"]
