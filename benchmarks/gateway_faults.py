"""The gateway's fault matrix: does it lose, duplicate or overspend anything when things break?

    python benchmarks/gateway_faults.py [--json] [--only NAME,...] [--requests 120]

Everything runs on this machine, on 127.0.0.1 or unix sockets only: emulated backends (``tokenfleet
emulate``), gateways (``tokenfleet serve``, separate processes so they can be ``kill -9``-ed) and, where a
fault needs it, a throwaway PostgreSQL server (``initdb`` into a temporary directory, a unix socket,
deleted at the end). Each fault sends a bounded number of chat requests (half streamed) from an asyncio
client and records what every client saw; afterwards the gateways are stopped gracefully (or restarted
after a kill, so their journals replay) and the ledger is read back. Per fault it prints:

* sent / ok / failed (a non-200 answer or a connection that died before any answer) / failed over (the
  gateway's ``tokenfleet_retries_total``) / cut (a 200 stream that ended with an SSE error event) /
  cut silently (a 200 stream that ended with neither ``[DONE]`` nor an error event);
* lost rows: answers the client received (with an ``x-request-id``) that have no ledger row;
* duplicate rows: rows minus distinct request ids;
* overspend: dollars spent beyond a key's budget (the budget fault only; target <= one reservation).

Targets: 0 lost and 0 duplicated in every fault; every cut stream ends with an error event. A stream cut
by a ``kill -9`` of the gateway itself cannot carry an error event (the process is gone): those are
counted as failed, and only answers the client saw complete must have rows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import pwd
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
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
        cfg = orjson.loads(config.read_bytes())
        url = f"http://127.0.0.1:{cfg['listen']['port']}"

        def limits() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited: a write past the limit fails, not kills
            if limit_fsize is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit_fsize, resource.RLIM_INFINITY))
        log = open(self.dir / f"{config.stem}.log", "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen([*EXE, "serve", str(config)], stdout=log, stderr=log, preexec_fn=limits)
        self.procs.append(proc)
        wait_ready(url, proc)
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
    notes: list[str] = field(default_factory=list)


async def one_request(client: httpx.AsyncClient, url: str, stream: bool, max_tokens: int,
                      headers: dict[str, str]) -> Seen:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "fault matrix"}], "max_tokens": max_tokens,
            "stream": stream}
    seen = Seen()
    try:
        if not stream:
            r = await client.post(url + "/v1/chat/completions", json=body, headers=headers)
            seen.status, seen.request_id = r.status_code, r.headers.get("x-request-id")
            seen.complete = r.status_code == 200 and b'"choices"' in r.content
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
    return seen


async def load(urls: list[str], n: int, concurrency: int, max_tokens: int = 8, timeout_s: float = 60,
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


# ---- the faults --------------------------------------------------------------------------------------
def fault_backend_kill(lab: Lab, n: int) -> Report:
    a, pa = lab.emulator("--time-scale", "2")
    b, _ = lab.emulator("--time-scale", "2")
    url = f"sqlite:///{lab.dir / 'l.db'}"
    gw, pg = lab.gateway(lab.gateway_config([a, b], url))
    seen = asyncio.run(load([gw], n, 16, max_tokens=256,
                            during=lambda i: pa.kill() if i == n // 3 and pa.poll() is None else None))
    over = retries(gw)
    stop(pg)
    return judge("backend kill -9", seen, url, over)


def fault_gateway_kill(lab: Lab, n: int) -> Report:
    a, _ = lab.emulator("--time-scale", "1")
    url = f"sqlite:///{lab.dir / 'l.db'}"
    cfg = lab.gateway_config([a], url, flush_interval_s=5.0)  # rows sit in the journal when it dies
    gw, pg = lab.gateway(cfg)
    seen = asyncio.run(load([gw], n, 16, max_tokens=32,
                            during=lambda i: pg.kill() if i == n // 2 and pg.poll() is None else None))
    pg.wait(10)
    _gw2, pg2 = lab.gateway(cfg)  # the restart adopts the dead process's journal segment
    time.sleep(1.0)
    stop(pg2)
    rep = judge("gateway kill -9", seen, url, 0, gateway_killed=True)
    rep.notes.append("in flight at the kill or sent after it: no answer (failed), no row owed")
    return rep


def fault_drain(lab: Lab, n: int) -> Report:
    a, _ = lab.emulator("--time-scale", "5")
    url = f"sqlite:///{lab.dir / 'l.db'}"
    gw, pg = lab.gateway(lab.gateway_config([a], url, drain_timeout_s=1.0))
    n = min(n, 32)
    timer = {"t": 0.0}

    def during(i: int) -> None:
        if i == n - 1:
            timer["t"] = time.monotonic()
            asyncio.get_running_loop().call_later(1.0, pg.send_signal, signal.SIGTERM)
    seen = asyncio.run(load([gw], n, n, max_tokens=1500, during=during))
    pg.wait(30)
    rep = judge("drain past its timeout", seen, url, 0)
    rep.notes.append("drain_timeout_s 1, 1,500-token answers; non-streamed ones get 503 (failed)")
    return rep


def fault_hung(lab: Lab, n: int) -> Report:
    a, _ = lab.emulator("--hang-rate", "1")
    b, _ = lab.emulator("--time-scale", "1")
    url = f"sqlite:///{lab.dir / 'l.db'}"
    gw, pg = lab.gateway(lab.gateway_config([a, b], url, pool={"ttfb_timeout_s": 0.5},
                                            breaker={"failures": 5, "cooldown_s": 2}))
    t0 = time.monotonic()
    seen = asyncio.run(load([gw], n, 16))
    took = time.monotonic() - t0
    over = retries(gw)
    stop(pg)
    rep = judge("hung backend", seen, url, over)
    rep.notes.append(f"one of two backends never answers; {n} requests in {took:.1f} s, TTFB limit 0.5 s")
    return rep


def fault_errors(lab: Lab, n: int) -> Report:
    a, _ = lab.emulator("--error-rate", "0.5", "--error-status", "500")
    b, _ = lab.emulator("--error-rate", "0.5", "--error-status", "429", "--retry-after-s", "1")
    url = f"sqlite:///{lab.dir / 'l.db'}"
    gw, pg = lab.gateway(lab.gateway_config([a, b], url))
    seen = asyncio.run(load([gw], n, 16))
    over = retries(gw)
    stop(pg)
    rep = judge("500s and 429s", seen, url, over)
    codes: dict[int, int] = {}
    for s in seen:
        codes[s.status] = codes.get(s.status, 0) + 1
    rep.notes.append(f"each backend fails half its requests; statuses {dict(sorted(codes.items()))}")
    return rep


def fault_pg_down(lab: Lab, n: int, pg_server: Postgres) -> Report:
    a, _ = lab.emulator("--time-scale", "1")
    url = pg_server.fresh_db("pgdown")
    gw, pg = lab.gateway(lab.gateway_config([a], url))
    marks = {"down": n // 5}
    backlog: list[float] = []
    restart = threading.Timer(10.0, pg_server.start)

    def during(i: int) -> None:
        if i == marks["down"]:
            pg_server.stop("immediate")
            restart.start()
        if i % 20 == 0:
            with contextlib.suppress(httpx.HTTPError):
                for line in httpx.get(gw + "/metrics", timeout=2).text.splitlines():
                    if line.startswith("tokenfleet_ledger_backlog_rows "):
                        backlog.append(float(line.split()[1]))
    seen = asyncio.run(load([gw], n * 4, 8, max_tokens=64, timeout_s=120, during=during))
    restart.join()  # the server is back (if the load ended first, the rows wait in the journal until then)
    stop(pg)
    rep = judge("PostgreSQL down 10 s", seen, url, 0)
    errors = sum("write of" in line for line in (lab.dir / "gw.log").read_text().splitlines())
    rep.notes.append(f"largest backlog {max(backlog, default=0):.0f} rows; {errors} ledger error log line(s)")
    return rep


def fault_sqlite_locked(lab: Lab, n: int) -> Report:
    a, _ = lab.emulator("--time-scale", "1")
    db = lab.dir / "l.db"
    url = f"sqlite:///{db}"
    gw, pg = lab.gateway(lab.gateway_config([a], url))
    lock: dict[str, Any] = {}

    def during(i: int) -> None:
        if i == n // 4:
            conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
            conn.execute("BEGIN EXCLUSIVE")
            lock["t"] = threading.Timer(10.0, lambda: (conn.execute("COMMIT"), conn.close()))
            lock["t"].start()
    seen = asyncio.run(load([gw], n * 2, 8, max_tokens=64, timeout_s=120, during=during))
    lock["t"].join()  # released after 10 s; until then rows wait in the journal
    stop(pg)
    return judge("SQLite locked 10 s", seen, url, 0)


def fault_disk_full(lab: Lab, n: int, pg_server: Postgres) -> Report:
    a, _ = lab.emulator("--time-scale", "0")
    url = pg_server.fresh_db("diskfull")
    gw, pg = lab.gateway(lab.gateway_config([a], url), limit_fsize=16 * 1024)  # the journal fills at ~16 KB
    seen = asyncio.run(load([gw], n * 2, 16))
    stop(pg)
    rep = judge("disk full", seen, url, 0)
    log = (lab.dir / "gw.log").read_text()
    rep.notes.append("16 KB file-size limit: " + ("journal full, rows went straight to PostgreSQL"
                                                  if "cannot be written" in log else "the journal never filled"))
    return rep


def fault_budget(lab: Lab, n: int, pg_server: Postgres) -> Report:
    from tokenfleet.gateway.auth import hash_key
    from tokenfleet.gateway.ledger import read_rows

    a, _ = lab.emulator("--time-scale", "5")
    url = pg_server.fresh_db("budget")
    keys = [{"id": "team", "hash": hash_key(KEY), "budget_usd": 1.0}]
    gws = [lab.gateway(lab.gateway_config([a], url, tag=f"gw{i}", keys=keys))[0] for i in range(2)]
    hdr = {"authorization": f"Bearer {KEY}"}
    asyncio.run(load(gws, 2, 2, max_tokens=10, headers=hdr))  # each instance derives the key hash once
    seen = asyncio.run(load(gws, 62, 62, max_tokens=10, headers=hdr))
    for p in lab.procs[1:]:
        stop(p)
    rep = judge("2 gateways, 1 budget", seen, url, 0)
    spent = sum(r.usd for r in read_rows(url))
    rep.overspend_usd = round(max(0.0, spent - 1.0), 6)
    rep.notes.append(f"$1 budget, $0.10 a request, 2 + 62 clients: spent ${spent:.2f}")
    return rep


FAULTS: dict[str, Callable[..., Report]] = {
    "backend-kill": fault_backend_kill, "gateway-kill": fault_gateway_kill, "drain": fault_drain,
    "hung": fault_hung, "errors": fault_errors, "pg-down": fault_pg_down, "sqlite-locked": fault_sqlite_locked,
    "disk-full": fault_disk_full, "budget": fault_budget,
}
NEEDS_PG = {"pg-down", "disk-full", "budget"}


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="tf-faults-"))
    os.chmod(root, 0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--only", default="", help=f"comma list of {', '.join(FAULTS)}")
    ap.add_argument("--requests", type=int, default=120, help="requests per fault (some faults send more)")
    args = ap.parse_args()
    chosen = [f for f in (args.only.split(",") if args.only else FAULTS) if f]
    unknown = [f for f in chosen if f not in FAULTS]
    if unknown:
        ap.error(f"unknown faults {unknown}; choose from {', '.join(FAULTS)}")
    reports: list[Report] = []
    t0, cpu0 = time.perf_counter(), time.process_time()
    with workspace() as root:
        pg_server = Postgres(root) if NEEDS_PG & set(chosen) else None
        try:
            for name in chosen:
                lab = Lab(root, name)
                try:
                    fn = FAULTS[name]
                    rep = fn(lab, args.requests, pg_server) if name in NEEDS_PG else fn(lab, args.requests)
                except Exception as exc:  # report the fault that could not run, carry on with the rest
                    rep = Report(name, notes=[f"did not run: {type(exc).__name__}: {exc}"])
                finally:
                    lab.close()
                reports.append(rep)
                if not args.json:
                    print(f"  {name}: done", file=sys.stderr)
        finally:
            if pg_server is not None:
                pg_server.stop()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    load_avg = os.getloadavg()
    if args.json:
        print(json.dumps({"faults": [asdict(r) for r in reports], "wall_s": wall, "client_cpu_s": cpu,
                          "loadavg": load_avg}, indent=2))
        return
    print(f"{'fault':<23}{'sent':>5}{'ok':>5}{'fail':>5}{'over':>5}{'cut+ev':>7}{'cut-ev':>7}{'lost':>5}"
          f"{'dup':>4}{'over $':>7}")
    for r in reports:
        over = "-" if r.overspend_usd is None else f"{r.overspend_usd:.2f}"
        print(f"{r.fault[:22]:<23}{r.sent:>5}{r.ok:>5}{r.failed:>5}{r.failed_over:>5}{r.cut_with_error_event:>7}"
              f"{r.cut_silently:>7}{r.lost_rows:>5}{r.duplicate_rows:>4}{over:>7}")
        for note in r.notes:
            print(f"    {note}")
    ok = all(r.lost_rows == 0 and r.duplicate_rows == 0 and r.cut_silently == 0 and r.sent > 0 for r in reports)
    budget = [r for r in reports if r.overspend_usd is not None]
    ok = ok and all((r.overspend_usd or 0) <= 0.10 + 1e-9 for r in budget)
    print(f"targets (0 lost, 0 dup, no silent cut, overspend <= 1 reservation): {'met' if ok else 'NOT met'}")
    print(f"wall {wall:.0f} s, client CPU {cpu:.0f} s, load average {load_avg[0]:.1f} / {load_avg[1]:.1f} / "
          f"{load_avg[2]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
