"""A lean HTTP/1.1 keep-alive client transport on asyncio streams: the gateway's default hot path.

Measured on the 2-CPU CI machine against the emulator, one request costs the client about 1.3 ms of
CPU through ``httpx.AsyncClient`` and ~0.4 ms through aiohttp, and httpx's pool caps near 300 requests/s
with 16 in flight; this client does only what an OpenAI-compatible POST needs (keep-alive pool, TLS,
``Content-Length`` / chunked / read-until-close bodies, connect and read timeouts), which keeps the
gateway's added latency under a millisecond. :class:`~tokenfleet.gateway.upstream.OpenAITransport` (httpx)
remains available as backend kind ``openai-httpx``.

A pooled connection the server closed while idle fails before any response byte; the request is then
sent once more on a fresh connection (POSTs to a backend that never saw them are safe to resend).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from tokenfleet.gateway.upstream import UpstreamError, UpstreamRequest, UpstreamResponse

_IDLE_MAX = 256


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        self.writer.close()


class _Response:
    __slots__ = ("_chunked", "_conn", "_done", "_keep", "_left", "_pool", "_read_timeout_s", "headers",
                 "status")

    def __init__(self, pool: FastHTTPTransport, conn: _Conn, status: int, headers: dict[str, str]) -> None:
        self._pool, self._conn = pool, conn
        self.status, self.headers = status, headers
        self._read_timeout_s = pool.read_timeout_s
        self._chunked = "chunked" in headers.get("transfer-encoding", "")
        cl = headers.get("content-length")
        self._left = int(cl) if cl is not None and not self._chunked else -1  # -1: chunked or until close
        self._keep = headers.get("connection", "").lower() != "close" and (self._chunked or cl is not None)
        self._done = self._left == 0

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        r = self._conn.reader
        try:
            while not self._done:
                async with asyncio.timeout(self._read_timeout_s):
                    if self._chunked:
                        size = int((await r.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                        if size == 0:
                            await r.readuntil(b"\r\n")  # no trailers expected
                            self._done = True
                            break
                        data = await r.readexactly(size + 2)
                        yield data[:-2]
                    elif self._left > 0:
                        data = await r.read(min(self._left, 65536))
                        if not data:
                            raise asyncio.IncompleteReadError(b"", self._left)
                        self._left -= len(data)
                        self._done = self._left == 0
                        yield data
                    else:
                        data = await r.read(65536)
                        if not data:
                            self._done = True
                            self._keep = False
                            break
                        yield data
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                TimeoutError) as exc:
            self._keep = False
            self._done = True
            raise UpstreamError(f"stream broke off: {type(exc).__name__}: {exc}", connect=False) from None
        finally:
            if self._done:
                self._release()

    async def aread(self) -> bytes:
        if self._left > 0 and not self._chunked:  # the common case: one read of a known length
            try:
                async with asyncio.timeout(self._read_timeout_s):
                    data = await self._conn.reader.readexactly(self._left)
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                self._keep = False
                self._release()
                raise UpstreamError(f"response broke off: {type(exc).__name__}: {exc}",
                                    connect=False) from None
            self._left = 0
            self._done = True
            self._release()
            return data
        return b"".join([part async for part in self.aiter_bytes()])

    def _release(self) -> None:
        conn, self._conn = self._conn, None  # type: ignore[assignment]
        if conn is None:
            return
        if self._keep and self._done:
            self._pool._put(conn)
        else:
            conn.close()

    async def aclose(self) -> None:
        if self._conn is not None:
            if not self._done:
                self._keep = False
            self._release()


class FastHTTPTransport:
    """POSTs to one OpenAI-compatible base URL over pooled keep-alive connections."""

    def __init__(self, base_url: str, api_key: str | None = None, connect_timeout_s: float = 2.0,
                 read_timeout_s: float = 120.0) -> None:
        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"backend url must be http(s)://host[:port][/path], got {base_url!r}")
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = ssl.create_default_context() if u.scheme == "https" else None
        self.prefix = u.path.rstrip("/")
        if self.prefix.endswith("/v1"):
            self.prefix = self.prefix[:-3]
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        host_hdr = self.host if u.port is None else f"{self.host}:{u.port}"
        auth = f"authorization: Bearer {api_key}\r\n" if api_key else ""
        self._head = f"host: {host_hdr}\r\ncontent-type: application/json\r\n{auth}".encode()
        self._idle: list[_Conn] = []

    def _put(self, conn: _Conn) -> None:
        if len(self._idle) < _IDLE_MAX:
            self._idle.append(conn)
        else:
            conn.close()

    async def _connect(self) -> _Conn:
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                r, w = await asyncio.open_connection(self.host, self.port, ssl=self.ssl, limit=1 << 20)
        except (OSError, TimeoutError) as exc:
            raise UpstreamError(f"connect failed: {type(exc).__name__}: {exc}", connect=True) from None
        return _Conn(r, w)

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        raw = (b"POST " + (self.prefix + request.path).encode() + b" HTTP/1.1\r\n" + self._head
               + b"content-length: " + str(len(request.body)).encode() + b"\r\n\r\n" + request.body)
        for _ in range(2):
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await self._connect()
            try:
                conn.writer.write(raw)
                async with asyncio.timeout(self.read_timeout_s):
                    head = await conn.reader.readuntil(b"\r\n\r\n")
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
                conn.close()
                if reused and isinstance(exc, OSError | asyncio.IncompleteReadError):
                    continue  # the server closed this idle connection: resend on a new one
                raise UpstreamError(f"no response: {type(exc).__name__}: {exc}",
                                    connect=not isinstance(exc, TimeoutError)) from None
            lines = head.decode("latin-1").split("\r\n")
            try:
                status = int(lines[0].split(" ", 2)[1])
            except (IndexError, ValueError):
                conn.close()
                raise UpstreamError(f"bad status line {lines[0][:80]!r}", connect=True) from None
            headers: dict[str, str] = {}
            for line in lines[1:]:
                k, sep, v = line.partition(":")
                if sep:
                    headers[k.strip().lower()] = v.strip()
            return _Response(self, conn, status, headers)
        raise UpstreamError("connection closed twice before a response", connect=True)

    async def aclose(self) -> None:
        for c in self._idle:
            c.close()
        self._idle.clear()


__all__ = ["FastHTTPTransport"]
