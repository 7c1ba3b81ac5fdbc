"""Run an ASGI app under uvicorn on 127.0.0.1 in a background thread (tests, benchmarks, rehearsals).

The socket is bound before the server starts, on an ephemeral port unless one is given, so the caller
knows the address at once. ``stop`` drains like a SIGTERM would (in-flight requests finish, lifespan
shutdown runs, the ledger flushes); ``kill`` drops every connection at once, like a crashed backend.

:class:`GatewayServer` is uvicorn's server with a drain phase in front of its shutdown, for apps that put a
``start_draining`` callable on ``app.state`` (the gateway does): on SIGTERM (or ``stop``) it calls it, so
/readyz turns 503, and keeps listening while in-flight requests finish (requests that still arrive are
served), then shuts down as uvicorn does; the whole drain stays within ``drain_timeout_s``. Streams still
running when it runs out are ended by the app's ``expire_streams`` with an SSE error event (and their
ledger rows) before the connections close.

:func:`serve_workers` runs ``N`` gateway processes on one listening socket (``tokenfleet serve --workers
N``); they share nothing but the ledger database and the journal directory (one segment each).
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import signal
import socket
import threading
import time
from typing import Any

import uvicorn

from tokenfleet.gateway.config import ServerConfig
from tokenfleet.gateway.conns import ConnectionGuard, GuardMiddleware, guarded_protocol


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def loop_name(choice: str = "auto") -> str:
    """The event loop a server runs on: ``uvloop`` when chosen or (``auto``) installed, else ``asyncio``."""
    if choice == "auto":
        return "uvloop" if _importable("uvloop") else "asyncio"
    return choice


def http_name(choice: str = "auto") -> str:
    """The HTTP/1.1 parser: ``httptools`` when chosen or (``auto``) installed, else ``h11``."""
    if choice == "auto":
        return "httptools" if _importable("httptools") else "h11"
    return choice


def _protocol_class(name: str) -> type[asyncio.Protocol]:
    if name == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return H11Protocol


def uvicorn_config(app: Any, host: str = "127.0.0.1", port: int = 0, drain_timeout_s: float = 30.0,
                   log_level: str = "warning", server: ServerConfig | None = None) -> uvicorn.Config:
    """The uvicorn settings the gateway and emulator run with: every connection under a
    :class:`~tokenfleet.gateway.conns.ConnectionGuard` (TCP_NODELAY, header timeout, idle cap per client),
    uvloop / httptools when installed unless ``server`` names others."""
    s = server or ServerConfig.model_validate({})
    guard = ConnectionGuard(s.header_timeout_s, s.max_idle_per_client)
    return uvicorn.Config(GuardMiddleware(app, guard), host=host, port=port, loop=loop_name(s.loop),
                          http=guarded_protocol(_protocol_class(http_name(s.http)), guard), lifespan="on",
                          log_level=log_level, access_log=False, timeout_keep_alive=max(1, round(s.keep_alive_s)),
                          proxy_headers=False,  # the guard matches requests to connections by peer address
                          timeout_graceful_shutdown=max(1, round(drain_timeout_s)))


class GatewayServer(uvicorn.Server):
    """uvicorn's server, draining first: readiness off and the listener open until in-flight work is done."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = getattr(self.config.app, "state", None)
        start_draining = getattr(state, "start_draining", None)
        if callable(start_draining) and not self.force_exit:
            start_draining()
            limit = self.config.timeout_graceful_shutdown
            loop = asyncio.get_running_loop()
            deadline = None if limit is None else loop.time() + limit
            while self.server_state.tasks and not self.force_exit:
                if deadline is not None and loop.time() >= deadline:
                    await self._expire(state, limit)
                    break
                await asyncio.sleep(0.02)
            if deadline is not None:  # what is left of the drain budget goes to uvicorn's own wait
                self.config.timeout_graceful_shutdown = max(1, math.ceil(deadline - loop.time()))
        await super().shutdown(sockets)

    async def _expire(self, state: Any, limit: float | None) -> None:
        expire = getattr(state, "expire_streams", None)
        if not callable(expire):
            return
        n = await expire(f"the gateway is shutting down and its drain timeout of {limit:g} s ran out")
        if n:
            logging.getLogger("tokenfleet.gateway").warning(
                "drain timeout: ended %d streams with an error event", n)
            end = asyncio.get_running_loop().time() + 1.0
            while self.server_state.tasks and asyncio.get_running_loop().time() < end:
                await asyncio.sleep(0.01)  # let each stream send its error event and write its row


class ServerThread:
    def __init__(self, app: Any, port: int = 0, host: str = "127.0.0.1",
                 drain_timeout_s: float = 10.0, server: ServerConfig | None = None) -> None:
        self.sock = bind_socket(host, port)
        self.host, self.port = self.sock.getsockname()[:2]
        self.server = GatewayServer(uvicorn_config(app, host, self.port, drain_timeout_s, server=server))
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self, timeout_s: float = 10.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        """Graceful: stop accepting, let in-flight requests finish, run lifespan shutdown."""
        self.server.should_exit = True
        self._thread.join(timeout_s)

    def kill(self, timeout_s: float = 5.0) -> None:
        """Abrupt: close every connection now (in-flight streams are cut)."""
        self.server.force_exit = True
        self.server.should_exit = True
        for conn in list(getattr(self.server.server_state, "connections", [])):
            transport = getattr(conn, "transport", None)
            if transport is not None:
                transport.abort() if hasattr(transport, "abort") else transport.close()
        self._thread.join(timeout_s)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the server starts (so a port in use is reported at once).

    Created with protocol ``IPPROTO_TCP`` (not 0): asyncio sets TCP_NODELAY only on accepted sockets whose
    protocol says TCP, and without it every keep-alive reply waits ~40 ms for the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _worker(config_path: str, sock: socket.socket, log_level: str) -> None:
    from tokenfleet.gateway.app import create_app
    from tokenfleet.gateway.config import load_config
    from tokenfleet.gateway.journal import ignore_sigxfsz

    ignore_sigxfsz()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    cfg = load_config(config_path)
    GatewayServer(uvicorn_config(create_app(cfg), cfg.listen.host, sock.getsockname()[1], cfg.drain_timeout_s,
                                 log_level, cfg.server)).run(sockets=[sock])


def serve_workers(config_path: str, sock: socket.socket, workers: int, log_level: str = "info") -> int:
    """Run ``workers`` gateway processes on ``sock``; SIGTERM / SIGINT drain them all. Returns the exit code."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(config_path, sock, log_level), name=f"tokenfleet-gw-{i}")
             for i in range(workers)]
    for p in procs:
        p.start()

    def forward(signum: int, _frame: Any) -> None:
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for p in procs:
        p.join()
    return max((p.exitcode or 0) for p in procs)


__all__ = ["GatewayServer", "ServerThread", "bind_socket", "http_name", "loop_name", "serve_workers", "uvicorn_config"]
