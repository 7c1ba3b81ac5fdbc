"""What every client connection is held to: TCP_NODELAY, the header and body read timeouts, the idle cap
per client address. Real servers on 127.0.0.1, raw sockets for the misbehaving clients; every wait is for
an event (a close, an answer), bounded generously, never a timing threshold."""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from tokenfleet.gateway.app import create_app
from tokenfleet.gateway.config import ServerConfig, parse_config
from tokenfleet.gateway.conns import ConnectionGuard
from tokenfleet.gateway.emulator.server import create_emulator_app
from tokenfleet.gateway.ledger import read_rows
from tokenfleet.gateway.runner import ServerThread, bind_socket

MODEL = "llama-3.1-8b"


def _closed(sock: socket.socket, timeout_s: float = 20.0) -> bytes | None:
    """Read until the server closes the connection; what it sent, or None if it stayed open."""
    got = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], 0.1)
        if ready:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                return got
            if not data:
                return got
            got += data
    return None


def _guard(server: ServerThread) -> ConnectionGuard:
    guard = server.server.config.app.guard
    assert isinstance(guard, ConnectionGuard)
    return guard


def _gateway(tmp_path: Path, backend: ServerThread, **server: Any) -> tuple[dict[str, Any], ServerConfig]:
    cfg = {"ledger": {"url": f"sqlite:///{tmp_path / 'l.db'}", "flush_interval_s": 0.05}, "server": server,
           "pools": [{"name": "p", "model": MODEL, "hardware": "h100", "backends": [{"url": backend.url}]}]}
    return cfg, parse_config(cfg).server


def test_listening_and_accepted_sockets_say_tcp_and_nodelay(tmp_path: Path) -> None:
    """asyncio sets TCP_NODELAY only on sockets whose protocol is IPPROTO_TCP; a listening socket made with
    protocol 0 left every keep-alive reply waiting ~40 ms for the client's delayed ACK."""
    sock = bind_socket("127.0.0.1", 0)
    assert sock.proto == socket.IPPROTO_TCP
    sock.close()
    emu = ServerThread(create_emulator_app("h100", MODEL, time_scale=0.0)).start()
    try:
        cfg, server = _gateway(tmp_path, emu)
        app = create_app(parse_config(cfg))
        with ServerThread(app, server=server) as gw, httpx.Client() as c:
            for _ in range(3):  # keep-alive requests on one connection
                r = c.post(gw.url + "/v1/chat/completions",
                           json={"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": 2})
                assert r.status_code == 200
            for server_thread in (gw, emu):
                conns = list(_guard(server_thread)._conns.values())
                assert conns, "the guard sees the accepted connections"
                for conn in conns:
                    s = conn.transport.get_extra_info("socket")
                    assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            upstream = app.state.gateway.fleet.backends[0].transport
            assert upstream._idle and all(
                c.writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
                for c in upstream._idle)
    finally:
        emu.stop()


def test_slow_headers_time_out_but_a_long_request_does_not(tmp_path: Path) -> None:
    emu = ServerThread(create_emulator_app("h100", MODEL, time_scale=1.0)).start()
    try:
        cfg, server = _gateway(tmp_path, emu, header_timeout_s=0.3)
        with ServerThread(create_app(parse_config(cfg)), server=server) as gw:
            silent = socket.create_connection((gw.host, gw.port))  # connects, sends nothing
            slow = socket.create_connection((gw.host, gw.port))
            slow.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")  # never ends its headers
            # a request that takes longer than the header timeout once its headers are in: not cut
            r = httpx.post(gw.url + "/v1/chat/completions", timeout=60,
                           json={"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": 200})
            assert r.status_code == 200 and r.elapsed.total_seconds() > 0.3
            for s in (silent, slow):
                got = _closed(s)
                assert got is not None and got.startswith(b"HTTP/1.1 408")
                s.close()
            assert _guard(gw).closed_header_timeout == 2
    finally:
        emu.stop()


def test_a_slow_body_is_answered_408_in_the_openai_format_and_is_a_row(tmp_path: Path) -> None:
    emu = ServerThread(create_emulator_app("h100", MODEL, time_scale=0.0)).start()
    try:
        cfg, server = _gateway(tmp_path, emu, body_timeout_s=0.3)
        with ServerThread(create_app(parse_config(cfg)), server=server) as gw:
            body = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x" * 200}]})
            s = socket.create_connection((gw.host, gw.port))
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                      + f"content-length: {len(body)}\r\n\r\n".encode() + body[:20])
            got = _closed(s)
            s.close()
            assert got is not None and got.startswith(b"HTTP/1.1 408")
            assert b'"code":"request_timeout"' in got and b'"type":"invalid_request_error"' in got
        (row,) = read_rows(cfg["ledger"]["url"])
        assert row.status == 408 and row.error is not None and "request_timeout" in row.error
    finally:
        emu.stop()


def test_idle_connections_beyond_the_cap_per_client_are_closed_oldest_first(tmp_path: Path) -> None:
    emu = ServerThread(create_emulator_app("h100", MODEL, time_scale=0.0)).start()
    try:
        cfg, server = _gateway(tmp_path, emu, max_idle_per_client=4, header_timeout_s=600)
        with ServerThread(create_app(parse_config(cfg)), server=server) as gw:
            socks = []
            for _ in range(10):
                socks.append(socket.create_connection((gw.host, gw.port)))
                time.sleep(0.01)  # opened in order: the first are the oldest
            closed = [s for s in socks[:6] if _closed(s) is not None]
            assert len(closed) == 6  # the six oldest went...
            still = [select.select([s], [], [], 0)[0] for s in socks[6:]]
            assert still == [[]] * 4  # ...the four newest stay open, nothing to read
            assert _guard(gw).closed_idle_cap == 6
            r = httpx.post(gw.url + "/v1/chat/completions", timeout=30,
                           json={"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": 2})
            assert r.status_code == 200  # a client that sends its request is served
            for s in socks:
                s.close()
    finally:
        emu.stop()
