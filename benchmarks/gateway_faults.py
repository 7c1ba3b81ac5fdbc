"""The gateway's fault matrix: does it lose, duplicate or overspend anything, or slow valid traffic down,
when things break?

    python benchmarks/gateway_faults.py [--json] [--only NAME,...] [--requests 120] [--flood-seconds 8]

Everything runs on this machine, on 127.0.0.1 or unix sockets only: emulated backends (``tokenfleet
emulate``), gateways (``tokenfleet serve``, separate processes so they can be ``kill -9``-ed) and, where a
fault needs it, a throwaway PostgreSQL server (``initdb`` into a temporary directory, a unix socket,
deleted at the end); see ``gateway_lab.py``. Each fault sends a bounded number of chat requests (half
streamed) from an asyncio client and records what every client saw; afterwards the gateways are stopped
gracefully (or restarted after a kill, so their journals replay) and the ledger is read back. Per fault:

* sent / ok / failed (a non-200 answer or a connection that died before any answer) / failed over (the
  gateway's ``tokenfleet_retries_total``) / cut (a 200 stream that ended with an SSE error event) /
  cut silently (a 200 stream that ended with neither ``[DONE]`` nor an error event);
* lost rows: answers the client received (with an ``x-request-id``) that have no ledger row;
* duplicate rows: rows minus distinct request ids;
* overspend: dollars spent beyond a key's budget (where a budget applies; target <= one reservation);
* for the floods (bad keys, slow clients): valid traffic's p99 beside the flood and alone (phases
  alternate: alone, flood, alone, flood, alone; each kind pooled); target: within 2x.

The faults: backend kill -9, gateway kill -9, drain past its timeout, hung backend, 500s and 429s,
PostgreSQL down 10 s, SQLite locked 10 s, disk full, two gateways on one budget (this file), and a pool
wedged by a stall, stale kept-alive connections, requests without max_tokens, six gateways starting at
once on an empty PostgreSQL, a bad-key flood and a slow-client flood (``gateway_floods.py``).

Targets: 0 lost and 0 duplicated in every fault; every cut stream ends with an error event. A stream cut
by a ``kill -9`` of the gateway itself cannot carry an error event (the process is gone): those are
counted as failed, and only answers the client saw complete must have rows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gateway_floods
import httpx
from gateway_lab import KEY, Lab, Postgres, Report, judge, load, retries, stop


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
    rep = judge("drain past timeout", seen, url, 0)
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
    rep = judge("PostgreSQL down", seen, url, 0)
    errors = sum("write of" in line for line in (lab.dir / "gw.log").read_text().splitlines())
    rep.notes.append(f"down 10 s: largest backlog {max(backlog, default=0):.0f} rows; {errors} ledger error "
                     "log line(s)")
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
    return judge("SQLite locked 10s", seen, url, 0)


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
    rep = judge("2 gateways, budget", seen, url, 0)
    spent = sum(r.usd for r in read_rows(url))
    rep.overspend_usd = round(max(0.0, spent - 1.0), 6)
    rep.notes.append(f"$1 budget, $0.10 a request, 2 + 62 clients: spent ${spent:.2f}")
    return rep


FAULTS: dict[str, Callable[..., Report]] = {
    "backend-kill": fault_backend_kill, "gateway-kill": fault_gateway_kill, "drain": fault_drain,
    "hung": fault_hung, "errors": fault_errors, "pg-down": fault_pg_down, "sqlite-locked": fault_sqlite_locked,
    "disk-full": fault_disk_full, "budget": fault_budget, **gateway_floods.FAULTS,
}
NEEDS_PG = {"pg-down", "disk-full", "budget", *gateway_floods.NEEDS_PG}


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
    ap.add_argument("--flood-seconds", type=float, default=6.0, help="valid traffic per phase of a flood fault")
    args = ap.parse_args()
    gateway_floods.FLOOD_S = args.flood_seconds
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
    print(f"{'fault':<19}{'sent':>6}{'ok':>6}{'fail':>5}{'over':>5}{'cut+ev':>7}{'cut-ev':>7}{'lost':>5}"
          f"{'dup':>4}{'over$':>6}{'p99 ms':>9}")
    for r in reports:
        over = "-" if r.overspend_usd is None else f"{r.overspend_usd:.2f}"
        p99 = "-" if r.flood_p99_ms is None else f"{r.flood_p99_ms:.0f}/{r.calm_p99_ms:.0f}"
        print(f"{r.fault[:18]:<19}{r.sent:>6}{r.ok:>6}{r.failed:>5}{r.failed_over:>5}{r.cut_with_error_event:>7}"
              f"{r.cut_silently:>7}{r.lost_rows:>5}{r.duplicate_rows:>4}{over:>6}{p99:>9}")
        for note in r.notes:
            print(textwrap.fill(note, 80, initial_indent="    ", subsequent_indent="      "))
    ok = all(r.lost_rows == 0 and r.duplicate_rows == 0 and r.cut_silently == 0 and r.sent > 0 for r in reports)
    ok = ok and all((r.overspend_usd or 0) <= r.reservation_usd + 1e-9 for r in reports)
    floods = [r for r in reports if r.flood_p99_ms is not None and r.calm_p99_ms is not None]
    fast = all(r.flood_p99_ms <= 2 * r.calm_p99_ms for r in floods)  # type: ignore[operator]
    print("p99 ms: valid traffic beside the flood / alone")
    print(f"targets: 0 lost, 0 dup, no silent cut, overspend <= 1 reservation: {'met' if ok else 'NOT met'}")
    print(f"         valid p99 within 2x during the floods: {'met' if fast else 'NOT met'}")
    print(f"wall {wall:.0f} s, client CPU {cpu:.0f} s; load average {load_avg[0]:.1f} / {load_avg[1]:.1f} / "
          f"{load_avg[2]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
