"""Forwarding one request: budget reservation, admission, routing, failover, streaming relay and metering.

Before the first byte reaches the client, a failed attempt (connect error, 5xx, 429, no first byte within
the pool's time-to-first-byte limit, a stream that dies before its first event) is retried on another
backend with backoff. A backend that answers 429 is cooled down for its ``Retry-After`` and the gateway
waits for it only when no other backend can serve (at most ``retry.max_retry_after_s`` in all); the
client then gets 429 ``rate_limit_error`` with the upstream's ``Retry-After``. A backend with no first byte
in time is ejected (Envoy-style) and probed again after the breaker's cooldown. Once the first event has
been relayed the request is committed to its backend: if the upstream stream is then cut — or a drain
runs past its timeout — the client gets an SSE ``error`` event, never a silent 200 with a truncated answer.

Every backend slot and probe an attempt takes is a :class:`~tokenfleet.gateway.slots.Lease` of the
request's :class:`~tokenfleet.gateway.slots.Slots`, released on every path. Every request that reaches the
proxy ends in exactly one ledger row; refusals are recorded by the HTTP layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.exc import SQLAlchemyError

from tokenfleet.gateway import tokens
from tokenfleet.gateway.admission import Admission
from tokenfleet.gateway.breaker import is_latency_outlier
from tokenfleet.gateway.config import GatewayConfig
from tokenfleet.gateway.fleet import Backend, Fleet, Pool
from tokenfleet.gateway.ledger import Ledger, LedgerRow
from tokenfleet.gateway.metrics import GatewayMetrics
from tokenfleet.gateway.openai_models import ApiError
from tokenfleet.gateway.router import Router
from tokenfleet.gateway.slots import Lease, Slots
from tokenfleet.gateway.upstream import UpstreamError, UpstreamRequest, UpstreamResponse

SSE_DONE = b"data: [DONE]"
NON_STREAM_TPOT_BUDGET_S = 0.2  # per output token, for the deadline of a non-streamed answer without a TPOT SLO


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
    n: int = 1
    pools: frozenset[str] | None = None  # pools the key may use (None: all)
    budgeted: bool = False  # the key has a budget: reserve before forwarding
    t0: float = field(default_factory=time.perf_counter)
    ts: float = field(default_factory=time.time)
    # the request named no max_tokens: the gateway forwards this cap (key's, else each pool's; None: the
    # pool's own) and reserves for it
    cap: int | None = None
    capped: bool = False
    gone: bool = False  # the client disconnected before a non-streamed answer (the HTTP layer sets it)
    recorded: bool = False  # its ledger row is written


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


@dataclass(slots=True, eq=False)
class _Live:
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


def retry_after_s(headers: dict[str, str]) -> float | None:
    """Seconds of a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent or bad."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        value = when.timestamp() - time.time()
    return max(0.0, value) if math.isfinite(value) else None


class _Failed(Exception):
    def __init__(self, err: ApiError, retry_after: float | None = None) -> None:
        self.err, self.retry_after = err, retry_after


class Proxy:
    def __init__(self, cfg: GatewayConfig, fleet: Fleet, router: Router, ledger: Ledger | None,
                 metrics: GatewayMetrics) -> None:
        self.cfg = cfg
        self.fleet = fleet
        self.router = router
        self.ledger = ledger
        self.metrics = metrics
        self.admission = Admission()
        self._ttfb_s = {p.name: cfg.ttfb_timeout_s(p.cfg) for p in fleet.pools}
        self._live: set[_Live] = set()

    # ---- budgets ---------------------------------------------------------------------------------
    def output_cap(self, call: Call, pool: Pool) -> int:
        """The most output tokens per choice ``call`` may produce on ``pool``: its own max_tokens, else
        the cap the gateway forwards (the key's, else the pool's, else the gateway's default)."""
        if not call.capped:
            return call.max_output_tokens
        return call.cap or pool.cfg.default_max_tokens or self.cfg.default_max_tokens

    def max_cost_usd(self, call: Call) -> float:
        """The most this request can cost: prompt estimate + max_tokens (or the cap forwarded) x n, at the
        dearest allowed pool."""
        pools = [p for p in self.fleet.by_model.get(call.model, [])
                 if call.pools is None or p.name in call.pools]
        return max((p.cost_usd(call.prompt_tokens_est, self.output_cap(call, p) * call.n) for p in pools),
                   default=0.0)

    async def _reserve(self, call: Call) -> bool:
        if not call.budgeted or self.ledger is None:
            return False
        usd = self.max_cost_usd(call)
        held = asyncio.ensure_future(asyncio.to_thread(self.ledger.reserve, call.request_id, call.key_id, usd))
        try:
            ok = await asyncio.shield(held)
        except asyncio.CancelledError:  # the client left: the thread still reserves; hand it back
            with contextlib.suppress(Exception):
                if await held:
                    await self._release(call)
            raise
        except SQLAlchemyError:
            raise ApiError(503, f"the ledger database cannot be reached, so the budget of key {call.key_id!r} "
                                "cannot be checked; retry shortly", "server_error", "ledger_unavailable",
                           headers={"retry-after": "1"}) from None
        if not ok:
            raise ApiError(429, f"the budget of key {call.key_id!r} cannot cover this request (up to "
                                f"${usd:.6f} with max_tokens x n); it is spent or held by requests in flight",
                           "insufficient_quota", "insufficient_quota")
        return True

    async def _release(self, call: Call) -> None:
        if self.ledger is not None:
            with contextlib.suppress(SQLAlchemyError):  # else the request's row releases it when replayed
                await asyncio.to_thread(self.ledger.release, [call.request_id])

    # ---- the request -----------------------------------------------------------------------------
    def _upstream_body(self, call: Call, backend: Backend) -> bytes:
        body = dict(call.body)
        body["model"] = backend.pool.cfg.upstream_model or backend.pool.cfg.model
        if call.capped:  # the cap the reservation assumed, so the budget holds whatever the backend's default
            body["max_tokens"] = self.output_cap(call, backend.pool)
        if call.stream:
            opts = dict(body.get("stream_options") or {})
            opts["include_usage"] = True
            body["stream_options"] = opts
        try:
            return orjson.dumps(body)
        except orjson.JSONEncodeError as exc:
            raise ApiError(400, f"request body cannot be forwarded: {exc}", "invalid_request_error",
                           "invalid_json") from None

    async def handle(self, call: Call, slots: Slots) -> Reply:
        if call.model not in self.fleet.by_model:
            raise ApiError(404, f"the model {call.model!r} does not exist; available: "
                                f"{', '.join(self.fleet.models())}", "invalid_request_error",
                           "model_not_found", "model")
        if call.pools is not None and not any(p.name in call.pools for p in self.fleet.by_model[call.model]):
            raise ApiError(403, f"key {call.key_id!r} may not use any pool that serves the model {call.model!r} "
                                f"(its pools: {', '.join(sorted(call.pools))})", "permission_error",
                           "permission_denied", "model")
        reserved = await self._reserve(call)
        try:
            return await self._route(call, slots)
        except BaseException:
            if reserved:
                await self._release(call)
            raise

    def _barred(self, call: Call) -> set[str]:
        if call.pools is None:
            return set()
        return {b.name for p in self.fleet.by_model[call.model] for b in p.backends if p.name not in call.pools}

    def _cooling_s(self, call: Call, barred: set[str]) -> float | None:
        """Shortest Retry-After left among the model's backends when every open one is cooling down."""
        left = [b.breaker.cooling() for p in self.fleet.by_model[call.model] for b in p.backends
                if b.name not in barred]
        return min(left) if left and all(s > 0 for s in left) else None

    async def _route(self, call: Call, slots: Slots) -> Reply:
        what = f"model {call.model!r} class {call.slo_class!r}"
        barred = self._barred(call)
        tried: set[str] = set(barred)
        last: ApiError | None = None
        retry = self.cfg.retry
        waited_s = 0.0
        for attempt in range(retry.max_attempts):
            def choose(tried: set[str] = tried) -> list[Backend]:
                b = self.router.choose(call, tried)
                return [b] if b is not None else []
            if attempt == 0:
                try:
                    backend = (await self.admission.admit(
                        choose, call.max_queue_ms, lambda: self.router.any_healthy(call.model), what))[0]
                except ApiError:
                    cooling = self._cooling_s(call, barred)
                    if cooling is None:
                        raise
                    raise self._rate_limited(what, cooling) from None
            else:
                ranked = choose()
                if not ranked:
                    break
                backend = ranked[0]
                await asyncio.sleep(retry.backoff_ms / 1e3 * (2 ** (attempt - 1)))
            tried.add(backend.name)
            try:
                return await self._attempt(call, backend, slots)
            except _Failed as failed:
                last = failed.err
                ra = failed.retry_after
                if last.status == 429 and ra is not None and waited_s + ra <= retry.max_retry_after_s \
                        and self.router.choose(call, tried) is None:
                    await asyncio.sleep(ra)  # nowhere else to go: wait as the backend asked, once in budget
                    waited_s += ra
                    tried.discard(backend.name)
        if last is not None and last.status == 429:
            raise self._rate_limited(what, self._cooling_s(call, barred) or 1.0)
        raise last or ApiError(503, f"no backend could serve {what}", "server_error", "no_healthy_backend",
                               headers={"retry-after": "1"})

    @staticmethod
    def _rate_limited(what: str, retry_after: float) -> ApiError:
        return ApiError(429, f"every backend that serves {what} is rate limited; retry after "
                             f"{retry_after:.1f} s", "rate_limit_error", "upstream_rate_limited",
                        headers={"retry-after": str(max(1, math.ceil(retry_after)))})

    def _deadline_s(self, call: Call, b: Backend) -> float:
        ttfb = self._ttfb_s[b.pool.name]
        if call.stream:
            return ttfb
        tpot_s = 2 * call.tpot_slo_ms / 1e3 if call.tpot_slo_ms else NON_STREAM_TPOT_BUDGET_S
        return min(b.pool.cfg.read_timeout_s, ttfb + self.output_cap(call, b.pool) * tpot_s)

    async def _attempt(self, call: Call, b: Backend, slots: Slots) -> Reply:
        """One try on one backend: a reply, or :class:`_Failed` with the error and any Retry-After."""
        task = asyncio.current_task()
        live = _Live(None, task)
        self._live.add(live)
        try:
            return await self._attempt_once(call, b, slots)
        except asyncio.CancelledError:
            if live.abort is None or task is None:
                raise
            task.uncancel()  # cancelled by a drain past its timeout: answer, do not fail over
            raise ApiError(503, f"{live.abort}; the request was not completed", "server_error",
                           "gateway_shutdown", headers={"retry-after": "1"}) from None
        finally:
            self._live.discard(live)

    async def _attempt_once(self, call: Call, b: Backend, slots: Slots) -> Reply:
        req = UpstreamRequest(call.path, self._upstream_body(call, b), call.stream)
        lease = slots.lease(b)
        t_attempt = time.perf_counter()  # the backend's latencies count from here, not from the arrival
        resp: UpstreamResponse | None = None
        limit_s = self._deadline_s(call, b)
        try:
            async with asyncio.timeout(limit_s):
                try:
                    resp = await b.transport.send(req)
                except UpstreamError as exc:
                    raise self._failed(b, lease, "connect", f"backend {b.name} unreachable: {exc}") from None
                if resp.status == 429 or resp.status >= 500:
                    with contextlib.suppress(UpstreamError):
                        await resp.aread()
                    if resp.status == 429:
                        ra = retry_after_s(resp.headers)
                        b.breaker.cool_down(ra if ra is not None else 1.0)
                        raise self._failed(b, lease, "429", f"backend {b.name} is rate limited (429)",
                                           breaker=False, status=429, retry_after=ra)
                    raise self._failed(b, lease, "5xx", f"backend {b.name} answered {resp.status}")
                if call.stream and resp.status == 200:
                    it = resp.aiter_bytes().__aiter__()
                    buf = b""
                    try:
                        while b"\n\n" not in buf:
                            buf += await it.__anext__()
                    except (StopAsyncIteration, UpstreamError) as exc:
                        raise self._failed(b, lease, "broken", f"backend {b.name} stream ended before its "
                                                               f"first event: {exc or 'closed'}") from None
                    timing = (t_attempt, time.perf_counter())
                    return Reply(200, stream=self._relay(call, b, resp, it, buf, lease, timing),
                                 headers=self._reply_headers(call, b))
                try:
                    data = await resp.aread()
                except UpstreamError as exc:
                    raise self._failed(b, lease, "broken", f"backend {b.name}: {exc}") from None
        except TimeoutError:
            if resp is not None:
                await resp.aclose()
            ejected = self._eject(b, f"no first byte within {limit_s:g} s", "ttfb_timeout")
            raise self._failed(b, lease, "ttfb_timeout", f"backend {b.name} sent nothing within {limit_s:g} s "
                                                         "(time-to-first-byte limit)", breaker=not ejected,
                               status=504) from None
        except BaseException as exc:
            if resp is not None:
                await resp.aclose()
            if isinstance(exc, asyncio.CancelledError) and call.gone:
                self._bill_gone(call, b, t_attempt, lease)
            lease.end()
            raise
        return self._complete(call, b, resp.status, data, lease, t_attempt)

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

    def _failed(self, b: Backend, lease: Lease, reason: str, message: str, breaker: bool = True,
                status: int = 502, retry_after: float | None = None) -> _Failed:
        b.telemetry.observe_error()
        if breaker:
            b.breaker.on_failure()
        lease.end()
        self.metrics.child(self.metrics.retries, b.name, reason).inc()
        code = {429: "upstream_rate_limited", 504: "upstream_timeout"}.get(status, "upstream_error")
        return _Failed(ApiError(status, message, "rate_limit_error" if status == 429 else "server_error", code),
                       retry_after)

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
        live = _Live(resp)
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


def estimate_prompt_tokens(raw_body_len: int) -> int:
    """Routing-time prompt estimate from the body size (cheap; usage from the backend replaces it)."""
    return max(1, raw_body_len // tokens.CHARS_PER_TOKEN)


__all__ = ["Call", "Outcome", "Proxy", "Reply", "estimate_prompt_tokens", "retry_after_s"]
