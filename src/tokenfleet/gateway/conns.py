"""What every client connection of the gateway's (and the emulator's) HTTP server is held to.

uvicorn times out a keep-alive connection only while it is idle after a response; a client that opens a
connection and sends its request line and headers a byte at a time, or never, holds a file handle for
as long as it likes. :class:`ConnectionGuard` watches every connection of one server through a thin
protocol wrapper (:func:`guarded_protocol`, around whichever uvicorn protocol runs: h11 or httptools)
and an ASGI middleware (:class:`GuardMiddleware`) that tells it when a request starts and ends:

* **TCP_NODELAY** is set on every accepted socket, so a reply's headers and body never wait for the
  client's delayed ACK (~40 ms on Linux loopback);
* **header timeout**: a connection that has been waiting for a request's headers (since it opened, or
  since the first byte after its last response) for more than ``header_timeout_s`` is answered 408 and
  closed;
* **idle cap per client**: at most ``max_idle_per_client`` connections of one client address may wait on
  that client — idle between requests, sending headers, or sending a request body (the app reports the
  body with :meth:`ConnectionGuard.body`); beyond that the ones waiting longest (and for at least
  :data:`IDLE_GRACE_S`, so a burst of new connections is never cut) are closed.

The body read timeout is the app's (it answers in the OpenAI error format). A sweep every
:data:`SWEEP_S` seconds enforces both limits (it runs only while connections are open). Counters of what
it closed are read by the gateway's ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from typing import Any

SWEEP_S = 0.25
IDLE_GRACE_S = 2.0
_408 = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"

Peer = tuple[str, int]


def set_nodelay(sock: Any) -> None:
    """TCP_NODELAY on a TCP socket (uvloop's pseudo-sockets included); anything else is left alone."""
    if sock is None:
        return
    try:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


class _Conn:
    __slots__ = ("active", "body", "host", "peer", "since", "transport", "waiting")

    def __init__(self, transport: asyncio.BaseTransport, peer: Peer | None, now: float) -> None:
        self.transport = transport
        self.peer = peer
        self.host = peer[0] if peer else ""
        self.active = 0  # requests in progress (the app has them)
        self.body = False  # the app waits for the rest of a request body
        self.waiting = True  # no request in progress and bytes of one may be on their way
        self.since = now  # when it started waiting / went idle


class ConnectionGuard:
    """Per-server connection bookkeeping: header timeout and idle cap per client address."""

    def __init__(self, header_timeout_s: float = 5.0, max_idle_per_client: int = 64,
                 clock: Any = time.monotonic) -> None:
        self.header_timeout_s = header_timeout_s
        self.max_idle_per_client = max_idle_per_client
        self.clock = clock
        self._conns: dict[int, _Conn] = {}  # id(protocol wrapper) -> state
        self._by_peer: dict[Peer, _Conn] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self.closed_header_timeout = 0
        self.closed_idle_cap = 0

    # ---- from the protocol wrapper ----------------------------------------------------------------
    def opened(self, key: int, transport: asyncio.BaseTransport) -> None:
        set_nodelay(transport.get_extra_info("socket"))
        raw = transport.get_extra_info("peername")
        peer = (str(raw[0]), int(raw[1])) if isinstance(raw, list | tuple) and len(raw) >= 2 else None
        c = _Conn(transport, peer, self.clock())
        self._conns[key] = c
        if peer is not None:
            self._by_peer[peer] = c
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(SWEEP_S, self._run_sweep)

    def data(self, key: int) -> None:
        c = self._conns.get(key)
        if c is not None and not c.active and not c.waiting:
            c.waiting, c.since = True, self.clock()  # the first byte of the next request: its clock starts

    def lost(self, key: int) -> None:
        c = self._conns.pop(key, None)
        if c is not None and c.peer is not None and self._by_peer.get(c.peer) is c:
            del self._by_peer[c.peer]

    # ---- from the ASGI middleware ------------------------------------------------------------------
    def started(self, peer: Peer | None) -> None:
        c = self._by_peer.get(peer) if peer is not None else None
        if c is not None:
            c.active += 1
            c.waiting = False

    def finished(self, peer: Peer | None) -> None:
        c = self._by_peer.get(peer) if peer is not None else None
        if c is not None:
            c.active = max(0, c.active - 1)
            c.body = False
            if not c.active:
                c.since = self.clock()

    def body(self, peer: Peer | None, waiting: bool) -> None:
        """The app starts (``waiting``) or ends reading a request body on ``peer``'s connection."""
        c = self._by_peer.get(peer) if peer is not None else None
        if c is not None:
            c.body = waiting
            if waiting:
                c.since = self.clock()

    # ---- the sweep ----------------------------------------------------------------------------------
    def open_connections(self) -> dict[str, int]:
        """Connections now: ``active`` (a request in progress), ``body`` (its body on the way), ``waiting``
        (for headers), ``idle``."""
        out = {"active": 0, "body": 0, "waiting": 0, "idle": 0}
        for c in self._conns.values():
            out["body" if c.body else "active" if c.active else "waiting" if c.waiting else "idle"] += 1
        return out

    def _run_sweep(self) -> None:
        self._sweep = None
        self.sweep()
        if self._conns:
            self._sweep = asyncio.get_running_loop().call_later(SWEEP_S, self._run_sweep)

    def sweep(self) -> None:
        now = self.clock()
        idle_by_host: dict[str, list[_Conn]] = {}
        for c in list(self._conns.values()):
            if (c.active and not c.body) or c.transport.is_closing():
                continue
            if c.waiting and not c.active and now - c.since > self.header_timeout_s:
                self.closed_header_timeout += 1
                self._close(c, _408)
                continue
            idle_by_host.setdefault(c.host, []).append(c)
        cap = self.max_idle_per_client
        for conns in idle_by_host.values():
            if len(conns) <= cap:
                continue
            conns.sort(key=lambda c: c.since)
            for c in conns[:len(conns) - cap]:
                if now - c.since < IDLE_GRACE_S:
                    break
                self.closed_idle_cap += 1
                self._close(c, None)

    @staticmethod
    def _close(c: _Conn, reply: bytes | None) -> None:
        t = c.transport
        if reply is not None and isinstance(t, asyncio.WriteTransport):
            with contextlib.suppress(OSError, RuntimeError):
                t.write(reply)
        t.close()


def guarded_protocol(inner: type[asyncio.Protocol], guard: ConnectionGuard) -> type[asyncio.Protocol]:
    """A uvicorn HTTP protocol class that runs ``inner`` and reports to ``guard``."""

    class Guarded(asyncio.Protocol):
        __slots__ = ("_p",)

        def __init__(self, config: Any, server_state: Any, app_state: Any,
                     _loop: asyncio.AbstractEventLoop | None = None) -> None:
            self._p: Any = inner(config=config, server_state=server_state,  # type: ignore[call-arg]
                                 app_state=app_state, _loop=_loop)

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            guard.opened(id(self), transport)
            self._p.connection_made(transport)

        def data_received(self, data: bytes) -> None:
            guard.data(id(self))
            self._p.data_received(data)

        def eof_received(self) -> bool | None:
            result: bool | None = self._p.eof_received()
            return result

        def connection_lost(self, exc: Exception | None) -> None:
            guard.lost(id(self))
            self._p.connection_lost(exc)

        def pause_writing(self) -> None:
            self._p.pause_writing()

        def resume_writing(self) -> None:
            self._p.resume_writing()

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{inner.__name__}"
    return Guarded


class GuardMiddleware:
    """ASGI middleware: tells the guard when each request starts and ends (and passes ``state`` through,
    so code that reads ``app.state`` keeps working)."""

    def __init__(self, app: Any, guard: ConnectionGuard) -> None:
        self.app = app
        self.guard = guard

    @property
    def state(self) -> Any:
        return getattr(self.app, "state", None)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        peer = (str(client[0]), int(client[1])) if client else None
        scope["tokenfleet.guard"] = self.guard
        self.guard.started(peer)
        try:
            await self.app(scope, receive, send)
        finally:
            self.guard.finished(peer)


__all__ = ["ConnectionGuard", "GuardMiddleware", "guarded_protocol", "set_nodelay"]
