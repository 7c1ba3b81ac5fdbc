"""The gateway's HTTP layer: a Starlette ASGI app speaking the OpenAI API.

    POST /v1/chat/completions, /v1/completions   (streaming over SSE or not; usage included)
    GET  /v1/models, /healthz, /readyz, /metrics

/readyz answers 503 from the moment a graceful shutdown starts draining (see
:class:`~tokenfleet.gateway.runner.GatewayServer`) while in-flight requests finish; /healthz stays 200.
/metrics needs the key of ``metrics_key_hash`` when one is configured.

The handlers only parse, authenticate and classify; :class:`~tokenfleet.gateway.proxy.Proxy` forwards.
Every error leaves in the OpenAI error format with its status; one bad request never disturbs others.
Every request past authentication ends in one ledger row — answered, failed or refused (400, 404, 429,
503, 500 alike) — and a new request is refused with 503 when its row would have nowhere durable to go.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tokenfleet.gateway.auth import ANONYMOUS, Authenticator
from tokenfleet.gateway.classify import classify
from tokenfleet.gateway.config import GatewayConfig
from tokenfleet.gateway.conns import ConnectionGuard
from tokenfleet.gateway.fleet import Fleet
from tokenfleet.gateway.ledger import Ledger
from tokenfleet.gateway.metrics import GatewayMetrics
from tokenfleet.gateway.openai_models import (
    ApiError,
    ChatCompletionRequest,
    CompletionRequest,
    parse_body,
)
from tokenfleet.gateway.probes import Prober
from tokenfleet.gateway.proxy import Call, Outcome, Proxy, Reply, estimate_prompt_tokens
from tokenfleet.gateway.router import Router
from tokenfleet.gateway.slots import Slots
from tokenfleet.gateway.upstream import Transport

JSON = "application/json"
log = logging.getLogger("tokenfleet.gateway")


class _SlotStream(StreamingResponse):
    """A streamed answer that closes its request's :class:`Slots` however the response ends (even when
    the client leaves before the body starts and the stream's own ``finally`` never runs)."""

    def __init__(self, content: AsyncIterator[bytes], slots: Slots, headers: dict[str, str]) -> None:
        super().__init__(content, 200, headers=headers, media_type="text/event-stream")
        self._slots = slots
        self._content = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            aclose = getattr(self._content, "aclose", None)
            if aclose is not None:
                await aclose()
            self._slots.close()


class _ClientGone(Exception):
    """The client disconnected before its answer."""


def _host(request: Request) -> str:
    client = request.client
    return client.host if client is not None else ""


def _error_response(err: ApiError, request_id: str | None = None) -> Response:
    headers = {**err.headers, "x-request-id": request_id} if request_id else err.headers
    return Response(err.body(), err.status, headers=headers, media_type=JSON)


class Gateway:
    """State shared by the handlers of one gateway app."""

    def __init__(self, cfg: GatewayConfig, transports: dict[str, Transport] | None = None,
                 ledger: Ledger | None = None) -> None:
        self.cfg = cfg
        self.fleet = Fleet(cfg, transports)
        self.router = Router(cfg.routing, self.fleet, rule=cfg.health.rule())
        self.metrics = GatewayMetrics()
        self.auth = Authenticator(cfg.keys, metrics_key_hash=cfg.metrics_key_hash, cfg=cfg.auth)
        budgets = {k.id: k.budget_usd for k in cfg.keys if k.budget_usd is not None}
        self.ledger = ledger if ledger is not None else Ledger(
            cfg.ledger.url, cfg.ledger.batch_size, cfg.ledger.flush_interval_s, cfg.ledger.journal_path(),
            budgets)
        self.proxy = Proxy(cfg, self.fleet, self.router, self.ledger, self.metrics)
        self.prober = Prober(cfg, self.fleet, self.router, self.metrics)
        self._probe_task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._boot = os.urandom(8).hex()  # request ids are the ledger's idempotency key across instances
        self.draining = False

    def start_draining(self) -> None:
        """Graceful shutdown began: report not-ready so load balancers stop sending new work."""
        self.draining = True

    async def read_body(self, request: Request) -> bytes:
        """The whole body, within ``max_body_bytes`` (413) and ``server.body_timeout_s`` (408; the
        connection is closed after the answer: the rest of the body may still be on its way)."""
        limit = self.cfg.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise ApiError(413, f"request body of {length} bytes exceeds the limit of {limit} bytes",
                           "invalid_request_error", "request_too_large", headers={"connection": "close"})
        chunks: list[bytes] = []
        size = 0
        timeout_s = self.cfg.server.body_timeout_s
        found = request.scope.get("tokenfleet.guard")
        guard = found if isinstance(found, ConnectionGuard) else None
        client = request.scope.get("client")
        peer = (str(client[0]), int(client[1])) if client and guard is not None else None
        if guard is not None:
            guard.body(peer, True)  # waiting on the client: under the idle cap per client
        try:
            async with asyncio.timeout(timeout_s):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise ApiError(413, f"request body exceeds the limit of {limit} bytes",
                                       "invalid_request_error", "request_too_large", headers={"connection": "close"})
                    chunks.append(chunk)
        except TimeoutError:
            self.metrics.child(self.metrics.rejected, "body_timeout").inc()
            raise ApiError(408, f"the request body did not arrive within {timeout_s:g} s ({size} bytes came)",
                           "invalid_request_error", "request_timeout", headers={"connection": "close"}) from None
        except ClientDisconnect:
            raise _ClientGone from None
        finally:
            if guard is not None:
                guard.body(peer, False)
        return b"".join(chunks)

    def _refused(self, request_id: str, key_id: str, path: str, model: str, err: ApiError,
                 t0: float) -> None:
        """A refusal is a row too (status, reason, no backend, no cost)."""
        call = Call(request_id=request_id, key_id=key_id, path=path, model=model[:256] or "-", slo_class="-",
                    tier="-", ttft_slo_ms=None, tpot_slo_ms=None, max_queue_ms=0.0, body={}, stream=False,
                    client_wants_usage=False, prompt_tokens_est=0, max_output_tokens=0, t0=t0)
        self.proxy.record(call, None, Outcome(err.status, f"{err.code or err.type}: {err.message}"[:256]),
                          time.perf_counter())

    async def completions(self, request: Request) -> Response:
        path: str = request.scope["path"]  # (request.url parses the host header: a cost per request)
        kind = ChatCompletionRequest if path.endswith("/chat/completions") else CompletionRequest
        t0 = time.perf_counter()
        request_id = f"req-{self._boot}-{next(self._ids)}"
        slots = Slots(self.proxy.admission, self.metrics)
        key_id, model = ANONYMOUS, ""
        handed_off = False
        call: Call | None = None
        try:
            try:
                key = await self.auth.authenticate(request.headers.get("authorization"), _host(request))
            except ApiError as err:
                self.metrics.child(self.metrics.rejected, err.code or str(err.status)).inc()
                return _error_response(err)  # unauthenticated: no row (anyone could fill the ledger)
            key_id = key.key_id if key else ANONYMOUS
            t0 = time.perf_counter()  # latency is measured from here: the key check is not the backend's
            try:
                if not self.ledger.can_record():
                    self.metrics.unmetered_refused.inc()
                    self.metrics.child(self.metrics.rejected, "ledger_unavailable").inc()
                    return _error_response(ApiError(
                        503, "the gateway cannot meter requests now (neither the ledger journal nor the ledger "
                             "database can be written); retry shortly", "server_error", "ledger_unavailable",
                        headers={"retry-after": "1"}))
                if key is not None:
                    bucket = self.auth.take_token(key)
                    if bucket is not None:
                        slots.took_token(bucket)
                raw = await self.read_body(request)
                data, body = parse_body(raw, kind)
                model = body.model
                if body.n > self.cfg.max_n:
                    raise ApiError(400, f"n: at most {self.cfg.max_n} choices per request, got {body.n}",
                                   "invalid_request_error", "invalid_n", "n")
                rc = classify(body.model, request.headers, self.cfg)
                model = rc.model
                self.auth.check_model(key, rc.model)
                data["model"] = rc.model
                opts = body.stream_options or {}
                asked = body.max_completion_tokens or body.max_tokens
                cap = key.default_max_tokens if key is not None else None
                call = Call(
                    request_id=request_id, key_id=key_id,
                    path=path, model=rc.model, slo_class=rc.name, tier=rc.tier,
                    ttft_slo_ms=rc.ttft_slo_ms, tpot_slo_ms=rc.tpot_slo_ms, max_queue_ms=rc.max_queue_ms,
                    body=data, stream=body.stream, client_wants_usage=bool(opts.get("include_usage")),
                    prompt_tokens_est=estimate_prompt_tokens(len(raw)),
                    max_output_tokens=asked or cap or self.cfg.default_max_tokens,
                    n=body.n, pools=key.pools if key else None,
                    budgeted=key is not None and key.budget_usd is not None, t0=t0, cap=cap, capped=asked is None)
                reply = await self._unless_gone(request, call, slots)
            except _ClientGone:
                return self._gone(request_id, key_id, path, model, call, t0)
            except ApiError as err:
                self.metrics.child(self.metrics.rejected, err.code or str(err.status)).inc()
                self._refused(request_id, key_id, path, model, err, t0)
                return _error_response(err, request_id)
            except Exception as exc:  # a bug: still a row, still the OpenAI error format, slots released
                log.exception("internal error on %s", request_id)
                internal = ApiError(500, f"internal error: {type(exc).__name__}", "server_error", "internal")
                self._refused(request_id, key_id, path, model, internal, t0)
                return _error_response(internal, request_id)
            headers = {"x-request-id": call.request_id, **reply.headers}
            if reply.stream is not None:
                handed_off = True
                return _SlotStream(reply.stream, slots, {**headers, "cache-control": "no-cache"})
            return Response(reply.body, reply.status, headers=headers, media_type=JSON)
        finally:
            if not handed_off:
                slots.close()

    async def _unless_gone(self, request: Request, call: Call, slots: Slots) -> Reply:
        """Forward a request, cancelling it (and so the backend's work: the upstream connection closes) when
        the client disconnects before its answer, or before a stream's first event (from then on the
        streamed response notices and the relay bills what it relayed); the proxy bills what the backend
        produced by then."""
        me = asyncio.current_task()
        assert me is not None

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            call.gone = True
            me.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            return await self.proxy.handle(call, slots)
        except asyncio.CancelledError:
            if not call.gone or watcher.cancelled():
                raise
            me.uncancel()
            raise _ClientGone from None
        finally:
            watcher.cancel()

    def _gone(self, request_id: str, key_id: str, path: str, model: str, call: Call | None,
              t0: float) -> Response:
        """The client disconnected: its row (if the proxy did not write one), and an answer nobody reads."""
        self.metrics.child(self.metrics.rejected, "client_disconnected").inc()
        if call is None or not call.recorded:
            self._refused(request_id, key_id, path, model, ApiError(
                499, "client disconnected before an answer", "invalid_request_error", "client_disconnected"), t0)
        return Response(b"", 499)

    async def models(self, request: Request) -> Response:
        try:
            await self.auth.authenticate(request.headers.get("authorization"), _host(request))
        except ApiError as err:
            self.metrics.child(self.metrics.rejected, err.code or str(err.status)).inc()
            return _error_response(err)
        names = self.fleet.models()
        names += [f"{m}:{c}" for m in self.fleet.models() for c in self.cfg.classes]
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "tokenfleet"} for m in names]
        return Response(orjson.dumps({"object": "list", "data": data}), media_type=JSON)

    async def healthz(self, request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    async def readyz(self, request: Request) -> Response:
        ready = {m: self.router.any_healthy(m) for m in self.fleet.models()}
        if self.draining:
            return Response(orjson.dumps({"ready": False, "draining": True, "models": ready}), 503,
                            media_type=JSON)
        ok = any(ready.values())
        return Response(orjson.dumps({"ready": ok, "models": ready}), 200 if ok else 503, media_type=JSON)

    async def prom(self, request: Request) -> Response:
        try:
            allowed = await self.auth.metrics_allowed(request.headers.get("authorization"), _host(request))
        except ApiError as err:
            return _error_response(err)
        if not allowed:
            return _error_response(ApiError(401, "/metrics needs the metrics key: send "
                                                 "'Authorization: Bearer <key>'", "invalid_request_error",
                                            "invalid_api_key"))
        m, led = self.metrics, self.ledger
        m.ledger_backlog.set(led.backlog_rows())
        m.ledger_write_errors.set(led.write_errors)
        m.ledger_ok.set(1.0 if led.can_record() else 0.0)
        if led.journal is not None:
            m.journal_backlog.set(led.journal.backlog_bytes())
            m.journal_errors.set(led.journal.append_errors)
        for b in self.fleet.backends:
            m.child(m.breaker_open, b.name).set(0.0 if b.breaker.state == "closed" and not b.breaker.cooling()
                                                else 1.0)
            m.child(m.stale_retries, b.name).set(getattr(b.transport, "stale_retries", 0))
            m.child(m.stale_dropped, b.name).set(getattr(b.transport, "stale_skipped", 0))
        m.auth_derivations.set(self.auth.derivations)
        m.auth_pending.set(self.auth.pending)
        guard = request.scope.get("tokenfleet.guard")
        if isinstance(guard, ConnectionGuard):
            for state, n in guard.open_connections().items():
                m.child(m.connections, state).set(n)
            m.child(m.connections_closed, "header_timeout").set(guard.closed_header_timeout)
            m.child(m.connections_closed, "idle_cap").set(guard.closed_idle_cap)
        return Response(m.render(), media_type="text/plain; version=0.0.4")

    def start(self) -> None:
        """Background work (the event loop runs): health probes."""
        if self.cfg.health.probes:
            self._probe_task = asyncio.get_running_loop().create_task(self.prober.run())

    async def aclose(self) -> None:
        if self._probe_task is not None:
            self._probe_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe_task
        await self.prober.aclose()
        self.auth.close()
        await self.fleet.aclose()
        if self.ledger is not None:
            self.ledger.close()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return _error_response(ApiError(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}",
                                    "invalid_request_error", code))


async def _internal_error(request: Request, exc: Exception) -> Response:
    return _error_response(ApiError(500, f"internal error: {type(exc).__name__}", "server_error", "internal"))


def create_app(cfg: GatewayConfig, transports: dict[str, Transport] | None = None,
               ledger: Ledger | None = None) -> Starlette:
    """The ASGI app. The gateway state (and the ledger) open at startup and close, flushed, at shutdown."""
    holder: dict[str, Any] = {}

    def gw() -> Gateway:
        gateway: Gateway = holder["gw"]
        return gateway

    async def completions(request: Request) -> Response:
        return await gw().completions(request)

    async def models(request: Request) -> Response:
        return await gw().models(request)

    async def healthz(request: Request) -> Response:
        return await gw().healthz(request)

    async def readyz(request: Request) -> Response:
        return await gw().readyz(request)

    async def prom(request: Request) -> Response:
        return await gw().prom(request)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        holder["gw"] = Gateway(cfg, transports, ledger)
        holder["gw"].start()
        app.state.gateway = holder["gw"]
        app.state.start_draining = holder["gw"].start_draining  # called by runner.GatewayServer
        app.state.expire_streams = holder["gw"].proxy.expire_streams  # a drain past its timeout
        gc.collect()
        gc.freeze()  # start-up objects (catalog, deployments, routing tables) leave the collector's scans
        try:
            yield
        finally:
            await holder["gw"].aclose()

    routes = [
        Route("/v1/chat/completions", completions, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", prom, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: _http_error, Exception: _internal_error})


__all__ = ["Gateway", "create_app"]
