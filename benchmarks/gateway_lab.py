"""The machinery of the gateway's fault benchmarks (``gateway_faults.py``): a throwaway PostgreSQL,
emulators and gateways as separate processes, an asyncio client that records what every client saw, and
the judge that reads the ledger back (rows lost, duplicated)."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

MODEL = "llama-3.1-8b"
KEY = "tf-bench-budget-key"
EXE = [sys.executable, "-m", "tokenfleet"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url}: not ready after {timeout_s:.0f} s")


# ---- a throwaway PostgreSQL ------------------------------------------------------------------------
class Postgres:
    def __init__(self, root: Path) -> None:
        def binary(name: str) -> str:
            found = shutil.which(name) or (sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [None])[-1]
            if not found:
                raise RuntimeError(f"no {name}: apt-get install postgresql")
            return found
        self.initdb, self.pg_ctl = binary("initdb"), binary("pg_ctl")
        self.prefix: list[str] = []
        self.root = root / "pg"
        self.root.mkdir()
        if os.geteuid() == 0:
            user = "postgres" if _has_user("postgres") else "nobody"
            self.prefix = ["runuser", "-u", user, "--"]
            pw = pwd.getpwnam(user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.data, self.log = str(self.root / "data"), str(self.root / "log")
        self._run(self.initdb, "-D", self.data, "-U", "tokenfleet", "-A", "trust", "-E", "UTF8", "--locale=C",
                  "--no-sync")
        self.start()
        self.url = f"postgresql+psycopg://tokenfleet@/postgres?host={self.root}"

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self.prefix, *cmd], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        opts = f"-k {self.root} -c listen_addresses='' -c fsync=off -c max_connections=200"
        self._run(self.pg_ctl, "-D", self.data, "-l", self.log, "-o", opts, "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(self.pg_ctl, "-D", self.data, "-m", mode, "-w", "stop")

    def fresh_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(host=str(self.root), user="tokenfleet", dbname="postgres", autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://tokenfleet@/{name}?host={self.root}"


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# ---- processes ---------------------------------------------------------------------------------------
class Lab:
    """The processes of one fault; everything is torn down on exit."""

    def __init__(self, root: Path, name: str) -> None:
        self.dir = root / name
        self.dir.mkdir()
        self.procs: list[subprocess.Popen[bytes]] = []

    def emulator(self, *flags: str) -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        proc = subprocess.Popen([*EXE, "emulate", "--hardware", "h100", "--model", MODEL, "--port", str(port),
                                 *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc)
        return url, proc

    def gateway_config(self, backends: list[str], ledger_url: str, tag: str = "gw", **extra: Any) -> Path:
        pool = {"name": "h100", "model": MODEL, "hardware": "h100", "usd_per_mtok_in": 0.0,
                "usd_per_mtok_out": 10_000.0, "connect_timeout_s": 5.0,
                "backends": [{"url": u, "name": f"b{i}"} for i, u in enumerate(backends)], **extra.pop("pool", {})}
        cfg = {"listen": {"host": "127.0.0.1", "port": free_port()},
               "ledger": {"url": ledger_url, "flush_interval_s": extra.pop("flush_interval_s", 0.2),
                          "journal_dir": str(self.dir / f"journal-{tag}")},
               "classes": {"standard": {"tier": "standard", "max_queue_ms": 2000}},
               "routing": {"policy": "round-robin"}, "pools": [pool], **extra}
        path = self.dir / f"{tag}.yaml"
        path.write_text(orjson.dumps(cfg).decode())
        return path

    def gateway(self, config: Path, limit_fsize: int | None = None) -> tuple[str, subprocess.Popen[bytes]]:
        url, proc = self.start_gateway(config, limit_fsize)
        wait_ready(url, proc)
        return url, proc

    def start_gateway(self, config: Path, limit_fsize: int | None = None) -> tuple[str, subprocess.Popen[bytes]]:
        """Start a gateway process without waiting for it to be ready."""
        cfg = orjson.loads(config.read_bytes())
        url = f"http://127.0.0.1:{cfg['listen']['port']}"

        def limits() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited: a write past the limit fails, not kills
            if limit_fsize is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit_fsize, resource.RLIM_INFINITY))
        log = open(self.dir / f"{config.stem}.log", "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen([*EXE, "serve", str(config)], stdout=log, stderr=log, preexec_fn=limits)
        self.procs.append(proc)
        return url, proc

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()


# ---- the client --------------------------------------------------------------------------------------
@dataclass
class Seen:
    request_id: str | None = None
    status: int = 0  # 0: no answer at all
    complete: bool = False  # [DONE] or a whole JSON body
    error_event: bool = False
    latency_s: float = 0.0


@dataclass
class Report:
    fault: str
    sent: int = 0
    ok: int = 0
    failed: int = 0
    failed_over: int = 0
    cut_with_error_event: int = 0
    cut_silently: int = 0
    lost_rows: int = 0
    duplicate_rows: int = 0
    overspend_usd: float | None = None
    reservation_usd: float = 0.10  # the most one request may reserve (the overspend target)
    calm_p99_ms: float | None = None  # valid traffic alone, and beside the flood
    flood_p99_ms: float | None = None
    notes: list[str] = field(default_factory=list)


async def one_request(client: httpx.AsyncClient, url: str, stream: bool, max_tokens: int | None,
                      headers: dict[str, str]) -> Seen:
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "fault matrix"}],
                            "stream": stream}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    seen = Seen()
    t0 = time.perf_counter()
    try:
        if not stream:
            r = await client.post(url + "/v1/chat/completions", json=body, headers=headers)
            seen.status, seen.request_id = r.status_code, r.headers.get("x-request-id")
            seen.complete = r.status_code == 200 and b'"choices"' in r.content
            seen.latency_s = time.perf_counter() - t0
            return seen
        async with client.stream("POST", url + "/v1/chat/completions", json=body, headers=headers) as r:
            seen.status, seen.request_id = r.status_code, r.headers.get("x-request-id")
            async for line in r.aiter_lines():
                if line.startswith("data: [DONE]"):
                    seen.complete = True
                elif line.startswith('data: {"error"'):
                    seen.error_event = True
    except (httpx.HTTPError, OSError):
        pass  # a connection that died: what arrived before it is recorded
    seen.latency_s = time.perf_counter() - t0
    return seen


async def load(urls: list[str], n: int, concurrency: int, max_tokens: int | None = 8, timeout_s: float = 60,
               headers: dict[str, str] | None = None, during: Callable[[int], None] | None = None) -> list[Seen]:
    """``n`` requests (every other one streamed), ``concurrency`` in flight, spread over ``urls``;
    ``during(i)`` is called as request ``i`` starts (to inject the fault). Bounded by ``timeout_s``."""
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        async def job(i: int) -> Seen:
            async with sem:
                if during is not None:
                    during(i)
                return await one_request(client, urls[i % len(urls)], i % 2 == 1, max_tokens, headers or {})
        return await asyncio.wait_for(asyncio.gather(*[job(i) for i in range(n)]), timeout_s)


def retries(url: str) -> int:
    with contextlib.suppress(httpx.HTTPError):
        text = httpx.get(url + "/metrics", timeout=5).text
        return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("tokenfleet_retries_total{")))
    return 0


def judge(fault: str, seen: list[Seen], ledger_url: str, failed_over: int, gateway_killed: bool = False) -> Report:
    from tokenfleet.gateway.ledger import read_rows

    rows = read_rows(ledger_url)
    ids = [r.request_id for r in rows]
    rep = Report(fault, sent=len(seen), failed_over=failed_over)
    for s in seen:
        if s.status == 200 and s.complete:
            rep.ok += 1
        elif s.status == 200 and s.error_event:
            rep.cut_with_error_event += 1
        elif s.status == 200 and s.request_id is not None and not gateway_killed:
            rep.cut_silently += 1
        else:
            rep.failed += 1
    got = set(ids)
    # every answer the client received in full, every refusal and every stream cut with an error event
    answered = [s for s in seen if s.request_id is not None and (s.complete or s.error_event or s.status != 200)]
    rep.lost_rows = sum(s.request_id not in got for s in answered)
    rep.duplicate_rows = len(ids) - len(got)
    return rep
