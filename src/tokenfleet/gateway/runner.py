"""Run an ASGI app under uvicorn on 127.0.0.1 in a background thread (tests, benchmarks, rehearsals).

The socket is bound before the server starts, on an ephemeral port unless one is given, so the caller
knows the address at once. ``stop`` drains like a SIGTERM would (in-flight requests finish, lifespan
shutdown runs, the ledger flushes); ``kill`` drops every connection at once, like a crashed backend.

:class:`GatewayServer` is uvicorn's server with a drain phase in front of its shutdown, for apps that put a
``start_draining`` callable on ``app.state`` (the gateway does): on SIGTERM (or ``stop``) it calls it, so
/readyz turns 503, and keeps listening while in-flight requests finish (requests that still arrive are
served), then shuts down as uvicorn does; the whole drain stays within ``drain_timeout_s``.
"""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from typing import Any

import uvicorn


def _loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def _http_name() -> str:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def uvicorn_config(app: Any, host: str = "127.0.0.1", port: int = 0, drain_timeout_s: float = 30.0,
                   log_level: str = "warning") -> uvicorn.Config:
    """The uvicorn settings the gateway and emulator run with (uvloop / httptools when installed)."""
    return uvicorn.Config(app, host=host, port=port, loop=_loop_name(), http=_http_name(), lifespan="on",
                          log_level=log_level, access_log=False, timeout_keep_alive=30,
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
                    break
                await asyncio.sleep(0.02)
            if deadline is not None:  # what is left of the drain budget goes to uvicorn's own wait
                self.config.timeout_graceful_shutdown = max(1, math.ceil(deadline - loop.time()))
        await super().shutdown(sockets)


class ServerThread:
    def __init__(self, app: Any, port: int = 0, host: str = "127.0.0.1",
                 drain_timeout_s: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        self.server = GatewayServer(uvicorn_config(app, host, self.port, drain_timeout_s))
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


__all__ = ["GatewayServer", "ServerThread", "uvicorn_config"]
