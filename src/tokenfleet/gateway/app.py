"""The gateway's HTTP layer: a Starlette ASGI app speaking the OpenAI API.

    POST /v1/chat/completions, /v1/completions   (streaming over SSE or not; usage included)
    GET  /v1/models, /healthz, /readyz, /metrics

/readyz answers 503 from the moment a graceful shutdown starts draining (see
:class:`~tokenfleet.gateway.runner.GatewayServer`) while in-flight requests finish; /healthz stays 200.

The handlers only parse, authenticate and classify; :class:`~tokenfleet.gateway.proxy.Proxy` forwards.
Every error leaves in the OpenAI error format with its status; one bad request never disturbs others.
"""

from __future__ import annotations

import gc
import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tokenfleet.gateway.auth import ANONYMOUS, Authenticator
from tokenfleet.gateway.classify import classify
from tokenfleet.gateway.config import GatewayConfig
from tokenfleet.gateway.fleet import Fleet
from tokenfleet.gateway.ledger import Ledger
from tokenfleet.gateway.metrics import GatewayMetrics
from tokenfleet.gateway.openai_models import (
    ApiError,
    ChatCompletionRequest,
    CompletionRequest,
    parse_body,
)
from tokenfleet.gateway.proxy import Call, Proxy, estimate_prompt_tokens
from tokenfleet.gateway.router import Router
from tokenfleet.gateway.upstream import Transport

JSON = "application/json"
DEFAULT_MAX_OUTPUT_TOKENS = 256


def _error_response(err: ApiError) -> Response:
    return Response(err.body(), err.status, headers=err.headers, media_type=JSON)


class Gateway:
    """State shared by the handlers of one gateway app."""

    def __init__(self, cfg: GatewayConfig, transports: dict[str, Transport] | None = None,
                 ledger: Ledger | None = None) -> None:
        self.cfg = cfg
        self.fleet = Fleet(cfg, transports)
        self.router = Router(cfg.routing, self.fleet)
        self.metrics = GatewayMetrics()
        self.auth = Authenticator(cfg.keys)
        self.ledger = ledger if ledger is not None else Ledger(cfg.ledger.url, cfg.ledger.batch_size,
                                                               cfg.ledger.flush_interval_s)
        if self.auth.enabled:
            self.auth.load_spend(self.ledger.spend_by_key())
        self.proxy = Proxy(cfg, self.fleet, self.router, self.ledger, self.metrics, self.auth.charge)
        self._ids = itertools.count(1)
        self._boot = os.urandom(4).hex()
        self.draining = False

    def start_draining(self) -> None:
        """Graceful shutdown began: report not-ready so load balancers stop sending new work."""
        self.draining = True

    async def read_body(self, request: Request) -> bytes:
        limit = self.cfg.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise ApiError(413, f"request body of {length} bytes exceeds the limit of {limit} bytes",
                           "invalid_request_error", "request_too_large")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"request body exceeds the limit of {limit} bytes",
                               "invalid_request_error", "request_too_large")
            chunks.append(chunk)
        return b"".join(chunks)

    async def completions(self, request: Request) -> Response:
        kind = ChatCompletionRequest if request.url.path.endswith("/chat/completions") else CompletionRequest
        try:
            key = self.auth.authenticate(request.headers.get("authorization"))
            raw = await self.read_body(request)
            data, body = parse_body(raw, kind)
            rc = classify(body.model, request.headers, self.cfg)
            data["model"] = rc.model
            opts = body.stream_options or {}
            call = Call(
                request_id=f"req-{self._boot}-{next(self._ids)}", key_id=key.key_id if key else ANONYMOUS,
                path=request.url.path, model=rc.model, slo_class=rc.name, tier=rc.tier,
                ttft_slo_ms=rc.ttft_slo_ms, tpot_slo_ms=rc.tpot_slo_ms, max_queue_ms=rc.max_queue_ms,
                body=data, stream=body.stream, client_wants_usage=bool(opts.get("include_usage")),
                prompt_tokens_est=estimate_prompt_tokens(len(raw)),
                max_output_tokens=body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_OUTPUT_TOKENS)
            reply = await self.proxy.handle(call)
        except ApiError as err:
            self.metrics.child(self.metrics.rejected, err.code or str(err.status)).inc()
            return _error_response(err)
        headers = {"x-request-id": call.request_id, **reply.headers}
        if reply.stream is not None:
            return StreamingResponse(reply.stream, 200, headers={**headers, "cache-control": "no-cache"},
                                     media_type="text/event-stream")
        return Response(reply.body, reply.status, headers=headers, media_type=JSON)

    async def models(self, request: Request) -> Response:
        try:
            self.auth.authenticate(request.headers.get("authorization")) if self.auth.enabled else None
        except ApiError as err:
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
        for b in self.fleet.backends:
            self.metrics.child(self.metrics.breaker_open, b.name).set(
                0.0 if b.breaker.state == "closed" else 1.0)
        return Response(self.metrics.render(), media_type="text/plain; version=0.0.4")

    async def aclose(self) -> None:
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
        app.state.gateway = holder["gw"]
        app.state.start_draining = holder["gw"].start_draining  # called by runner.GatewayServer
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
