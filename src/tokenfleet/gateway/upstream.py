"""The seam between the gateway and a backend: one method, ``send(request) -> response``.

Each backend kind implements :class:`Transport`; the gateway never touches HTTP libraries elsewhere, so a
test can pass a :class:`FunctionTransport` and a new kind of backend is one class. :class:`OpenAITransport`
speaks to any OpenAI-compatible server (vLLM, SGLang, llama.cpp server, hosted APIs) over one pooled
``httpx.AsyncClient`` per backend; :class:`~tokenfleet.gateway.fasthttp.FastHTTPTransport` speaks the same
protocol over bare asyncio streams and is the default for its speed.

Failures before a response arrives raise :class:`UpstreamError` (``connect=True`` when no byte was
exchanged, so the request can be retried elsewhere).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import httpx


class UpstreamError(Exception):
    """A backend that could not be reached or broke off; ``connect`` is true if nothing was sent back."""

    def __init__(self, message: str, connect: bool) -> None:
        super().__init__(message)
        self.connect = connect


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    path: str  # "/v1/chat/completions"
    body: bytes
    stream: bool


class UpstreamResponse(Protocol):
    status: int
    headers: dict[str, str]

    def aiter_bytes(self) -> AsyncIterator[bytes]: ...

    async def aread(self) -> bytes: ...

    async def aclose(self) -> None: ...


class Transport(Protocol):
    async def send(self, request: UpstreamRequest) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


class _HttpxResponse:
    __slots__ = ("_resp", "headers", "status")

    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp
        self.status = resp.status_code
        self.headers = {k.lower(): v for k, v in resp.headers.items()}

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.aiter_raw():
                yield chunk
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise UpstreamError(f"stream broke off: {type(exc).__name__}: {exc}", connect=False) from None

    async def aread(self) -> bytes:
        try:
            return await self._resp.aread()
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise UpstreamError(f"response broke off: {type(exc).__name__}: {exc}", connect=False) from None
        finally:
            await self._resp.aclose()

    async def aclose(self) -> None:
        await self._resp.aclose()


class OpenAITransport:
    """An OpenAI-compatible HTTP backend behind a pooled, keep-alive ``httpx.AsyncClient``."""

    def __init__(self, base_url: str, api_key: str | None = None, connect_timeout_s: float = 2.0,
                 read_timeout_s: float = 120.0, max_connections: int = 512, idle_s: float = 4.0) -> None:
        headers = {"content-type": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url, headers=headers,
            timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s, pool=connect_timeout_s),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections,
                                keepalive_expiry=idle_s),
        )
        self.stale_retries = 0

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        req = self._client.build_request("POST", request.path, content=request.body)
        try:
            try:
                resp = await self._client.send(req, stream=True)
            except httpx.RemoteProtocolError:  # a kept-alive connection closed under us: once more, afresh
                self.stale_retries += 1
                resp = await self._client.send(req, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise UpstreamError(f"connect failed: {type(exc).__name__}: {exc}", connect=True) from None
        except httpx.TransportError as exc:  # sent, then the connection died before headers came back
            raise UpstreamError(f"no response: {type(exc).__name__}: {exc}", connect=True) from None
        return _HttpxResponse(resp)

    async def aclose(self) -> None:
        await self._client.aclose()


@dataclass(slots=True)
class StaticResponse:
    """A complete in-memory response (for :class:`FunctionTransport` and tests)."""

    status: int
    headers: dict[str, str]
    content: bytes | list[bytes]

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        for part in self.content if isinstance(self.content, list) else [self.content]:
            yield part

    async def aread(self) -> bytes:
        return b"".join(self.content) if isinstance(self.content, list) else self.content

    async def aclose(self) -> None:
        return None


class FunctionTransport:
    """A transport answered by an async function: the gateway's equivalent of ``httpx.MockTransport``."""

    def __init__(self, fn: Callable[[UpstreamRequest], Awaitable[UpstreamResponse]]) -> None:
        self._fn = fn

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        return await self._fn(request)

    async def aclose(self) -> None:
        return None


def make_transport(kind: str, base_url: str, api_key: str | None, connect_timeout_s: float,
                   read_timeout_s: float, idle_s: float = 4.0) -> Transport:
    """The transport for a backend ``kind``: ``openai`` (lean keep-alive client, the default) or
    ``openai-httpx`` (the same protocol over ``httpx.AsyncClient``); kept-alive connections idle for
    ``idle_s`` are closed rather than reused."""
    if kind == "openai":
        from tokenfleet.gateway.fasthttp import FastHTTPTransport

        return FastHTTPTransport(base_url, api_key, connect_timeout_s, read_timeout_s, idle_s)
    if kind == "openai-httpx":
        return OpenAITransport(base_url, api_key, connect_timeout_s, read_timeout_s, idle_s=idle_s)
    raise ValueError(f"unknown backend kind {kind!r}")


__all__ = [
    "FunctionTransport",
    "OpenAITransport",
    "StaticResponse",
    "Transport",
    "UpstreamError",
    "UpstreamRequest",
    "UpstreamResponse",
    "make_transport",
]
