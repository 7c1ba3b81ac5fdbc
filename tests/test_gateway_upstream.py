"""Kept-alive upstream connections that the backend closed: resent once on a fresh connection, never on a
second kept-alive one, and never counted as a backend failure.

A scripted HTTP/1.1 server decides per connection how to treat each request, so the race a real backend
exposes rarely (it closes an idle connection just as the gateway reuses it) happens on every run."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tokenfleet.gateway.app import create_app
from tokenfleet.gateway.config import parse_config
from tokenfleet.gateway.emulator.server import create_emulator_app
from tokenfleet.gateway.fasthttp import FastHTTPTransport
from tokenfleet.gateway.runner import ServerThread
from tokenfleet.gateway.upstream import UpstreamRequest

MODEL = "llama-3.1-8b"
BODY = b'{"ok":true}'


class Scripted:
    """Answers the first request of each connection; drops the connection on its second, unanswered."""

    def __init__(self) -> None:
        self.connections = 0
        self.answered = 0
        self.dropped = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                if served:
                    self.dropped += 1  # a kept-alive connection closed under the client's request
                    break
                served += 1
                self.answered += 1
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(BODY), BODY))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def test_a_closed_kept_alive_connection_is_resent_once_on_a_fresh_one() -> None:
    async def main() -> None:
        backend = Scripted()
        server = await asyncio.start_server(backend.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        t = FastHTTPTransport(f"http://127.0.0.1:{port}", idle_s=60.0)
        req = UpstreamRequest("/v1/chat/completions", b"{}", False)
        # three requests at once: three connections, all kept alive afterwards
        first = await asyncio.gather(*[t.send(req) for _ in range(3)])
        assert [await r.aread() for r in first] == [BODY] * 3 and len(t._idle) == 3
        # each kept-alive connection now drops its next request: the first one tried is resent on a fresh
        # connection, and the two others idle since before it are dropped rather than tried in turn
        again = await t.send(req)
        assert again.status == 200 and await again.aread() == BODY
        assert t.stale_retries == 1 and backend.dropped == 1
        assert backend.connections == 4 and backend.answered == 4
        assert len(t._idle) == 1  # only the fresh connection is kept
        await t.aclose()
        server.close()
    asyncio.run(main())


def test_bursts_after_the_backend_closed_idle_connections_all_succeed(tmp_path: Path) -> None:
    """The operator's case: a burst, a quiet spell longer than the backend's keep-alive, another burst.
    The gateway keeps idle connections longer than this backend does (``keepalive_idle_s`` 60 s), so it
    meets connections the backend has closed; none of it may fail a request or open the circuit."""
    from tokenfleet.gateway.config import ServerConfig

    emu = ServerThread(create_emulator_app("h100", MODEL, time_scale=0.0),
                       server=ServerConfig(keep_alive_s=1.0)).start()
    cfg = parse_config({"ledger": {"url": f"sqlite:///{tmp_path / 'l.db'}", "flush_interval_s": 0.05},
                        "breaker": {"failures": 1, "cooldown_s": 60},
                        "pools": [{"name": "p", "model": MODEL, "hardware": "h100", "keepalive_idle_s": 60,
                                   "backends": [{"url": emu.url, "name": "b0"}]}]})
    app = create_app(cfg)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": 2}
    try:
        with ServerThread(app) as gw:
            async def burst() -> list[int]:
                async with httpx.AsyncClient(timeout=30) as c:
                    rs = await asyncio.gather(*[c.post(gw.url + "/v1/chat/completions", json=body)
                                                for _ in range(16)])
                return [r.status_code for r in rs]
            backend = app.state.gateway.fleet.backends[0]
            for _ in range(2):
                assert asyncio.run(burst()) == [200] * 16
                deadline = time.monotonic() + 30
                while any(c.usable() for c in backend.transport._idle):  # the backend closes them (1 s)
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            assert asyncio.run(burst()) == [200] * 16
            assert backend.breaker.state == "closed" and backend.telemetry.errors_total == 0
            assert backend.transport.stale_skipped > 0
    finally:
        emu.stop()
