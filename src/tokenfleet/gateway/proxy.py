"""Forwarding one request: budget reservation, admission, routing and failover (relaying and metering the
answer: :mod:`tokenfleet.gateway.answers`).

Before the first byte reaches the client, a failed attempt (connect error, 5xx, 429, no first byte within
the pool's time-to-first-byte limit, a stream that dies before its first event) is retried on another
backend with backoff. A backend that answers 429 is cooled down for its ``Retry-After`` and the gateway
waits for it only when no other backend can serve (at most ``retry.max_retry_after_s`` in all); the
client then gets 429 ``rate_limit_error`` with the upstream's ``Retry-After``. A backend with no first byte
in time is ejected (Envoy-style) and probed again after the breaker's cooldown. A request without
``max_tokens`` is reserved and forwarded with a cap (the key's, else the pool's, else the gateway's
``default_max_tokens``), echoed in ``x-tokenfleet-max-tokens``; a key scoped away from every pool of the
model is refused 403 ``permission_denied``.

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

import orjson
from sqlalchemy.exc import SQLAlchemyError

from tokenfleet.gateway.admission import Admission
from tokenfleet.gateway.answers import Answers, InFlight
from tokenfleet.gateway.call import Call, Outcome, Reply, estimate_prompt_tokens
from tokenfleet.gateway.config import GatewayConfig
from tokenfleet.gateway.fleet import Backend, Fleet
from tokenfleet.gateway.ledger import Ledger
from tokenfleet.gateway.metrics import GatewayMetrics
from tokenfleet.gateway.openai_models import ApiError
from tokenfleet.gateway.router import Router
from tokenfleet.gateway.slots import Lease, Slots
from tokenfleet.gateway.upstream import UpstreamError, UpstreamRequest, UpstreamResponse

NON_STREAM_TPOT_BUDGET_S = 0.2  # per output token, for the deadline of a non-streamed answer without a TPOT SLO


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


class Proxy(Answers):
    def __init__(self, cfg: GatewayConfig, fleet: Fleet, router: Router, ledger: Ledger | None,
                 metrics: GatewayMetrics) -> None:
        super().__init__(cfg, fleet, router, ledger, metrics)
        self.admission = Admission()

    # ---- budgets ---------------------------------------------------------------------------------
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
        live = InFlight(None, task)
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


__all__ = ["Call", "Outcome", "Proxy", "Reply", "estimate_prompt_tokens", "retry_after_s"]
