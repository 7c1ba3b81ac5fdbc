"""The emulator: an OpenAI-compatible server whose token timing is the performance model's prediction.

``create_emulator_app(hardware, model, replicas=N)`` serves ``model`` on ``N`` emulated replicas of
``perf.deploy(model, hardware)``. A request goes to the least-loaded replica, which schedules it with the
simulator's replica model (:class:`tokenfleet.sim.Replica`: continuous batching, chunked prefill, paged
KV) driven in wall-clock time (:mod:`.replica`): TTFT and the gaps between tokens follow the simulator's
prediction for that hardware at the load it is under. Answers are deterministic filler
(:mod:`.text`); usage counts follow :mod:`tokenfleet.gateway.tokens`.

Extra endpoints: ``POST /_emulator/faults`` (set failure injection, see :mod:`.faults`) and
``GET /_emulator/stats`` (load, engine iterations, modelled busy seconds, KV use per replica).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tokenfleet.errors import TokenfleetError
from tokenfleet.gateway import tokens
from tokenfleet.gateway.emulator import text
from tokenfleet.gateway.emulator.faults import FaultInjector, Faults
from tokenfleet.gateway.emulator.replica import Stream, WallClockReplica
from tokenfleet.gateway.openai_models import (
    ApiError,
    ChatCompletionRequest,
    CompletionRequest,
    parse_body,
    prompt_text,
)
from tokenfleet.perf import Deployment
from tokenfleet.sim.replica import SchedulerConfig
from tokenfleet.workload.prefix import PromptHasher

JSON = "application/json"
DEFAULT_OUTPUT_TOKENS = 64
HANG_S = 3600.0  # a hung request: no first byte for an hour (the client gives up first)


class InjectedCut(Exception):
    """Raised inside a streaming body to drop the connection mid-stream (failure injection)."""


def _err(e: ApiError) -> Response:
    return Response(e.body(), e.status, headers=e.headers, media_type=JSON)


class Emulator:
    def __init__(self, model_name: str, dep: Deployment, replicas: int = 1, time_scale: float = 1.0,
                 faults: Faults | None = None, seed: int = 0,
                 default_output_tokens: int = DEFAULT_OUTPUT_TOKENS, description: str = "",
                 scheduler: SchedulerConfig | None = None, request_overhead_s: float | None = None) -> None:
        self.model_name = model_name
        self.dep = dep
        self.replicas = [WallClockReplica(dep, scheduler, time_scale, request_overhead_s)
                         for _ in range(replicas)]
        self.hasher = PromptHasher(self.replicas[0].cfg.prefix_block_tokens)  # prompt blocks, prefix cache
        self.injector = FaultInjector(faults, seed)
        self.default_output_tokens = default_output_tokens
        self.description = description
        self._ids = itertools.count(1)
        self.requests_total = 0
        self.disconnected_total = 0  # non-streamed requests whose client left before the answer

    def _pick(self) -> WallClockReplica:
        return min(self.replicas, key=lambda r: r.load)

    async def completions(self, request: Request) -> Response:
        chat = request.url.path.endswith("/chat/completions")
        try:
            _, body = parse_body(await request.body(), ChatCompletionRequest if chat else CompletionRequest)
            if body.model != self.model_name:
                raise ApiError(404, f"the model {body.model!r} does not exist; this emulator serves "
                                    f"{self.model_name!r}", "invalid_request_error", "model_not_found",
                               "model")
            self.requests_total += 1
            if self.injector.draw_error():
                f = self.injector.faults
                hdrs = {"retry-after": f"{f.retry_after_s:g}"} if f.retry_after_s is not None else None
                raise ApiError(f.error_status, "injected failure", "server_error", "injected", headers=hdrs)
            prompt = prompt_text(body)
            p_tok = tokens.prompt_tokens(prompt)
            limit = body.max_completion_tokens or body.max_tokens
            n_out = limit or self.default_output_tokens
            finish = "length" if limit else "stop"
            replica = self._pick()
            try:
                stream = replica.submit(p_tok, n_out, self.hasher.hashes(prompt))
            except ValueError as exc:
                raise ApiError(400, str(exc), "invalid_request_error", "context_length_exceeded") from None
        except ApiError as e:
            return _err(e)
        rid = f"{'chatcmpl' if chat else 'cmpl'}-emu{next(self._ids)}"
        seed = text.seed_for(prompt)
        stall_s = self.injector.draw_stall_s()
        if self.injector.draw_hang():
            stall_s = HANG_S
        if not body.stream:
            try:
                if not await self._unless_gone(request, self._plain(stream, n_out, stall_s)):
                    return Response(b"", 499)  # nobody reads it
            finally:
                replica.cancel(stream)
            return Response(text.full_body(chat, rid, self.model_name, text.words(seed, 0, n_out), finish,
                                           p_tok, n_out), media_type=JSON)
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        cut_after = self.injector.draw_cut_after()
        return StreamingResponse(
            self._stream(chat, rid, stream, replica, seed, n_out, p_tok, finish, include_usage, stall_s,
                         cut_after), media_type="text/event-stream")

    @staticmethod
    async def _plain(stream: Stream, n_out: int, stall_s: float) -> None:
        if stall_s:
            await asyncio.sleep(stall_s)
        await stream.wait(n_out - 1)

    async def _unless_gone(self, request: Request, work: Coroutine[Any, Any, None]) -> bool:
        """Run ``work`` unless the client disconnects first (then it is cancelled: False), as a serving
        engine aborts a request whose client left."""
        me = asyncio.current_task()
        assert me is not None
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await request.receive())["type"] != "http.disconnect":
                pass
            gone = True
            me.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await work
        except asyncio.CancelledError:
            if not gone:
                raise
            me.uncancel()
            self.disconnected_total += 1
            return False
        finally:
            watcher.cancel()
        return True

    async def _stream(self, chat: bool, rid: str, stream: Stream, replica: WallClockReplica, seed: int,
                      n_out: int, p_tok: int, finish: str, include_usage: bool, stall_s: float,
                      cut_after: int | None) -> AsyncIterator[bytes]:
        w = text.ChunkWriter(chat, rid, self.model_name)
        sent = 0
        try:
            if stall_s:
                await asyncio.sleep(stall_s)
            while sent < n_out:
                have = await stream.wait(sent)
                if cut_after is not None and have >= cut_after:
                    yield b"".join(w.token(" " + text.word(seed, i)) for i in range(sent, cut_after))
                    raise InjectedCut(f"stream cut after {cut_after} tokens (failure injection)")
                yield b"".join(w.token(" " + text.word(seed, i)) for i in range(sent, have))
                sent = have
            tail = w.finish(finish)
            if include_usage:
                tail += w.usage(p_tok, n_out)
            yield tail + text.DONE
        finally:
            replica.cancel(stream)

    async def set_faults(self, request: Request) -> Response:
        try:
            data = orjson.loads(await request.body())
            self.injector.faults = Faults.from_dict(data if isinstance(data, dict) else {})
        except (orjson.JSONDecodeError, TypeError, ValueError, TokenfleetError) as exc:
            return _err(ApiError(400, f"bad faults: {exc}"))
        return Response(orjson.dumps({"faults": self.injector.faults.__repr__()}), media_type=JSON)

    async def stats(self, request: Request) -> Response:
        return Response(orjson.dumps({
            "model": self.model_name, "deployment": self.description, "requests_total": self.requests_total,
            "disconnected_total": self.disconnected_total,
            "replicas": [{"load": r.load, "waiting": len(r.rep.waiting), "running": r.rep.running,
                          "steps": r.rep.stats.iterations, "busy_s": r.rep.stats.busy_s,
                          "kv_use": r.rep.kv_use_frac, "prompt_tokens": r.rep.stats.prompt_tokens,
                          "cached_tokens": r.rep.stats.cached_tokens} for r in self.replicas]}),
            media_type=JSON)

    async def models(self, request: Request) -> Response:
        return Response(orjson.dumps({"object": "list", "data": [
            {"id": self.model_name, "object": "model", "created": 0, "owned_by": "tokenfleet-emulator"}]}),
            media_type=JSON)

    async def aclose(self) -> None:
        for r in self.replicas:
            await r.aclose()


def create_emulator_app(hardware: str | None = None, model: str | None = None, replicas: int = 1,
                        time_scale: float = 1.0, faults: Faults | None = None, seed: int = 0,
                        served_name: str | None = None, deployment: Deployment | None = None,
                        default_output_tokens: int = DEFAULT_OUTPUT_TOKENS,
                        scheduler: SchedulerConfig | None = None,
                        request_overhead_s: float | None = None) -> Starlette:
    """An emulator app for ``model`` on ``hardware`` (catalog ids), or on an explicit ``deployment``.

    ``scheduler`` overrides the simulator's defaults for the device family; ``request_overhead_s`` the
    performance model's per-request overhead (``dep.params.request_overhead_s``), added before the request
    reaches the replica."""
    if deployment is None:
        if hardware is None or model is None:
            raise TokenfleetError("the emulator needs --hardware and --model (catalog ids)")
        from tokenfleet import perf

        deployment = perf.deploy(model, hardware)
    emu = Emulator(served_name or model or deployment.model.model_id, deployment, replicas, time_scale, faults,
                   seed, default_output_tokens, deployment.describe(), scheduler, request_overhead_s)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.emulator = emu
        try:
            yield
        finally:
            await emu.aclose()

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    return Starlette(routes=[
        Route("/v1/chat/completions", emu.completions, methods=["POST"]),
        Route("/v1/completions", emu.completions, methods=["POST"]),
        Route("/v1/models", emu.models, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/_emulator/faults", emu.set_faults, methods=["POST"]),
        Route("/_emulator/stats", emu.stats, methods=["GET"]),
    ], lifespan=lifespan)


__all__ = ["Emulator", "InjectedCut", "create_emulator_app"]
