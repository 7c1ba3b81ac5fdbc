"""Six more faults for ``gateway_faults.py``: a pool wedged by a stall, stale kept-alive connections, requests
without max_tokens, six gateways starting at once on an empty PostgreSQL, a bad-key flood and a slow-client
flood. Each is judged like the nine others (rows lost, duplicated, overspend); the two floods also time
valid traffic beside the flood against valid traffic alone, before and after it.

A flood runs in its own process (``python gateway_floods.py bad-keys|slow-clients ...``), so its client
work is not charged to the measuring client; on this machine it still competes for the same cores.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from gateway_lab import MODEL, Lab, Postgres, Report, Seen, judge, load, one_request, stop, wait_ready

FLOOD_S = 6.0  # seconds of valid traffic per phase (set by gateway_faults.py --flood-seconds)
FLOOD_CLIENTS = 200
VALID_CONCURRENCY = 4


def metric(url: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include ``labels`` (0 when absent)."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    with contextlib.suppress(httpx.HTTPError):
        text = httpx.get(url + "/metrics", timeout=5).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name) and (line[len(name):len(name) + 1] in " {")
                   and all(w in line for w in want))
    return 0.0


async def timed_load(url: str, seconds: float, headers: dict[str, str] | None = None) -> list[Seen]:
    """Valid non-streamed requests from ``VALID_CONCURRENCY`` clients, back to back, for ``seconds``."""
    out: list[Seen] = []
    stop_at = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=60) as client:
        async def worker() -> None:
            while time.monotonic() < stop_at:
                out.append(await one_request(client, url, False, 8, headers or {}))
        await asyncio.gather(*[worker() for _ in range(VALID_CONCURRENCY)])
    return out


def p99_ms(seen: list[Seen]) -> float:
    lat = [s.latency_s for s in seen if s.status == 200]
    return float(np.percentile(lat, 99) * 1e3) if lat else float("nan")


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def bracketed(gw: str, proc: Any, flood: list[str], headers: dict[str, str] | None = None
              ) -> tuple[list[Seen], float, float, list[str]]:
    """Valid traffic alone and beside the flood, alternating (alone, flood, alone, flood, alone; each
    ``FLOOD_S``): (all seen, p99 alone, p99 beside the flood, notes). Pooling the phases of each kind
    shares the machine's drift between them."""
    calm: list[Seen] = []
    during: list[Seen] = []
    cpu = {"calm": 0.0, "flood": 0.0}
    before = fds(proc.pid)
    peak = [before]
    outs: list[str] = []
    for phase in ("calm", "flood", "calm", "flood", "calm"):
        flooder = None
        if phase == "flood":
            flooder = subprocess.Popen([sys.executable, __file__, *flood, str(FLOOD_S + 2.5)], stdout=subprocess.PIPE,
                                       text=True)
            time.sleep(2.0)  # the flood builds up
        c0 = proc_cpu_s(proc.pid)
        sampling = threading.Event()

        def sample(stop: threading.Event = sampling) -> None:
            while not stop.wait(0.25):
                peak.append(fds(proc.pid))
        sampler = threading.Thread(target=sample)
        sampler.start()
        got = asyncio.run(timed_load(gw, FLOOD_S, headers))
        sampling.set()
        sampler.join()
        cpu[phase] += proc_cpu_s(proc.pid) - c0
        (during if phase == "flood" else calm).extend(got)
        if flooder is not None:
            out, _ = flooder.communicate(timeout=120)
            outs.append(out.strip())
            time.sleep(1.0)
    after = fds(proc.pid)
    notes = [f"valid p99 alone {p99_ms(calm):.0f} ms ({len(calm)} requests), beside the flood {p99_ms(during):.0f} ms "
             f"({len(during)}); gateway file handles {before} -> peak {max(peak)} -> {after}; gateway CPU "
             f"{cpu['calm'] / max(1, len(calm)) * 1e3:.2f} ms per valid request alone, "
             f"{cpu['flood'] / max(1, len(during)) * 1e3:.2f} beside the flood; load average {os.getloadavg()[0]:.1f}",
             *[f"flood {i + 1}: {o}" for i, o in enumerate(outs)]]
    return calm + during, p99_ms(calm), p99_ms(during), notes


# ---- the faults --------------------------------------------------------------------------------------
def fault_wedge(lab: Lab, n: int) -> Report:
    """A 1.5 s stall on a class with a 1 s TTFT SLO, then a healthy backend: the class must be served again."""
    a, _ = lab.emulator("--time-scale", "1")
    url = f"sqlite:///{lab.dir / 'l.db'}"
    gw, pg = lab.gateway(lab.gateway_config(
        [a], url, classes={"fast": {"tier": "ultra-low-latency", "ttft_ms": 1000}}, default_class="fast"))
    httpx.post(a + "/_emulator/faults", json={"stall_rate": 1.0, "stall_ms": 1500}, timeout=5)
    seen = asyncio.run(load([gw], 4, 2))  # served slowly: the evidence now says 1.5 s to the first token
    httpx.post(a + "/_emulator/faults", json={}, timeout=5)
    t_fixed = time.monotonic()
    recovered: float | None = None
    while recovered is None and time.monotonic() - t_fixed < 60:  # a client retrying every quarter second
        batch = asyncio.run(load([gw], 4, 4))
        seen += batch
        if any(s.status == 200 for s in batch):
            recovered = time.monotonic() - t_fixed
        time.sleep(0.25)
    refused = sum(s.status == 429 for s in seen)
    after = asyncio.run(load([gw], n, 8)) if recovered is not None else []
    seen += after
    probes = metric(gw, "tokenfleet_probes_total")
    stop(pg)
    rep = judge("wedged by a stall", seen, url, 0)
    rep.notes.append("1.5 s stall on a 1 s TTFT SLO, then healthy: served again after "
                     + (f"{recovered:.1f} s" if recovered is not None else "more than 60 s (WEDGED)")
                     + f" ({refused} refused 429 until then, {probes:.0f} probes); then "
                     f"{sum(s.status == 200 for s in after)} of {len(after)} served")
    return rep


def fault_stale(lab: Lab, n: int) -> Report:
    """Bursts of 16 after quiet spells longer than the backend's keep-alive (1 s; the gateway would keep
    its connections 60 s): every request must succeed and the circuit stay closed."""
    a, _ = lab.emulator("--time-scale", "0", "--keep-alive-s", "1")
    url = f"sqlite:///{lab.dir / 'l.db'}"
    gw, pg = lab.gateway(lab.gateway_config([a], url, pool={"keepalive_idle_s": 60},
                                            breaker={"failures": 1, "cooldown_s": 30}))
    seen: list[Seen] = []
    for _ in range(max(3, n // 16)):
        seen += asyncio.run(load([gw], 16, 16))
        time.sleep(2.5)
    resent, dropped = metric(gw, "tokenfleet_upstream_stale_retries"), metric(gw, "tokenfleet_upstream_stale_dropped")
    opened = metric(gw, "tokenfleet_backend_circuit_open")
    stop(pg)
    rep = judge("stale keep-alive", seen, url, 0)
    rep.notes.append(f"bursts of 16 after 2.5 s idle (backend keep-alive 1 s): {dropped:.0f} closed connections "
                     f"dropped before use, {resent:.0f} requests resent on a fresh one; circuit open: {opened:.0f}")
    return rep


def fault_max_tokens(lab: Lab, n: int) -> Report:
    """Requests without max_tokens to a backend that would answer 2,000 tokens ($20): a $1 budget, a 10-token
    cap on the pool ($0.10 a reservation)."""
    from tokenfleet.gateway.auth import hash_key, key_prefix, new_key
    from tokenfleet.gateway.ledger import read_rows

    a, _ = lab.emulator("--time-scale", "0", "--default-output-tokens", "2000")
    url = f"sqlite:///{lab.dir / 'l.db'}"
    key = new_key()
    keys = [{"id": "team", "hash": hash_key(key), "prefix": key_prefix(key), "budget_usd": 1.0}]
    gw, pg = lab.gateway(lab.gateway_config([a], url, keys=keys, pool={"default_max_tokens": 10}))
    seen = asyncio.run(load([gw], n, 16, max_tokens=None, headers={"authorization": f"Bearer {key}"}))
    stop(pg)
    rep = judge("no max_tokens, $1", seen, url, 0)
    spent = sum(r.usd for r in read_rows(url))
    rep.overspend_usd = round(max(0.0, spent - 1.0), 6)
    rep.notes.append(f"$1 budget, pool cap 10 tokens ($0.10), backend default 2,000 tokens ($20): spent "
                     f"${spent:.2f} on {sum(s.status == 200 for s in seen)} answers")
    return rep


def fault_concurrent_start(lab: Lab, n: int, pg_server: Postgres) -> Report:
    """Six gateways (one budget) started at the same moment on an empty PostgreSQL database."""
    from tokenfleet.gateway.auth import hash_key, key_prefix, new_key

    a, _ = lab.emulator("--time-scale", "0")
    url = pg_server.fresh_db("concurrent")
    key = new_key()
    keys = [{"id": "team", "hash": hash_key(key), "prefix": key_prefix(key), "budget_usd": 1000.0}]
    started = [lab.start_gateway(lab.gateway_config([a], url, tag=f"gw{i}", keys=keys)) for i in range(6)]
    up: list[str] = []
    failed: list[str] = []
    for i, (gw, proc) in enumerate(started):
        try:
            wait_ready(gw, proc)
            up.append(gw)
        except RuntimeError:
            log = (lab.dir / f"gw{i}.log").read_text(errors="replace").strip().splitlines()
            failed.append(log[-1][:160] if log else "no log")
    seen = asyncio.run(load(up, n, 16, headers={"authorization": f"Bearer {key}"})) if up else []
    for _, proc in started:
        stop(proc)
    rep = judge("6 gateways at once", seen, url, 0)
    rep.notes.append(f"{len(up)} of 6 started on one empty PostgreSQL database"
                     + (f"; failures: {failed}" if failed else ""))
    return rep


def fault_bad_keys(lab: Lab, n: int) -> Report:
    """200 clients, each sending a fresh wrong key a second (with a real key's prefix, so each would cost a
    derivation), beside a budgeted key's valid traffic."""
    from tokenfleet.gateway.auth import hash_key, key_prefix, new_key

    a, _ = lab.emulator("--time-scale", "0")
    url = f"sqlite:///{lab.dir / 'l.db'}"
    key = new_key()
    keys = [{"id": "team", "hash": hash_key(key), "prefix": key_prefix(key), "budget_usd": 1e6}]
    gw, pg = lab.gateway(lab.gateway_config([a], url, keys=keys))
    headers = {"authorization": f"Bearer {key}"}
    seen, calm, during, notes = bracketed(gw, pg, ["bad-keys", gw, key_prefix(key)], headers)
    derivations = metric(gw, "tokenfleet_auth_key_derivations")
    throttled = metric(gw, "tokenfleet_rejected_total", reason="auth_throttled")
    stop(pg)
    rep = judge("bad-key flood", seen, url, 0)
    rep.calm_p99_ms, rep.flood_p99_ms = calm, during
    rep.notes += [*notes, f"{derivations:.0f} key derivations in all; {throttled:.0f} checks throttled (429)"]
    return rep


def fault_slow_clients(lab: Lab, n: int) -> Report:
    """200 connections that send their headers a byte every half second and 200 that do so with their body,
    reopened as soon as the gateway closes them, beside valid traffic (server defaults: header timeout
    5 s, body timeout 10 s, 64 waiting connections per client address)."""
    a, _ = lab.emulator("--time-scale", "0")
    url = f"sqlite:///{lab.dir / 'l.db'}"
    gw, pg = lab.gateway(lab.gateway_config([a], url))
    port = gw.rsplit(":", 1)[1]
    seen, calm, during, notes = bracketed(gw, pg, ["slow-clients", "127.0.0.1", port])
    closed = {r: metric(gw, "tokenfleet_connections_closed", reason=r) for r in ("header_timeout", "idle_cap")}
    stop(pg)
    rep = judge("slow-client flood", seen, url, 0)
    rep.calm_p99_ms, rep.flood_p99_ms = calm, during
    rep.notes += [*notes, f"closed by the gateway: {closed['header_timeout']:.0f} on the header timeout, "
                          f"{closed['idle_cap']:.0f} over the per-client cap"]
    return rep


FAULTS = {"wedge": fault_wedge, "stale-conns": fault_stale, "no-max-tokens": fault_max_tokens,
          "concurrent-start": fault_concurrent_start, "bad-keys": fault_bad_keys, "slow-clients": fault_slow_clients}
NEEDS_PG = {"concurrent-start"}


# ---- the flood processes -----------------------------------------------------------------------------
async def _bad_keys(url: str, prefix: str, seconds: float) -> dict[str, int]:
    """Raw keep-alive HTTP/1.1 from ``FLOOD_CLIENTS`` clients, each a fresh wrong key a second (one request
    in four to /v1/models), so the flood's own CPU stays small beside the gateway's."""
    counts: collections.Counter[str] = collections.Counter()
    stop_at = time.monotonic() + seconds
    host, port = url.rsplit("/", 1)[1].split(":")
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": 2}).encode()

    async def one(i: int) -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.monotonic() < stop_at:
            t0 = time.monotonic()
            auth = f"authorization: Bearer {prefix}{secrets.token_urlsafe(24)}\r\n".encode()
            raw = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n" + auth
                   + b"content-length: %d\r\n\r\n%s" % (len(body), body)) if i % 4 else \
                (b"GET /v1/models HTTP/1.1\r\nhost: x\r\n" + auth + b"\r\n")
            try:
                if conn is None:
                    conn = await asyncio.open_connection(host, int(port))
                r, w = conn
                w.write(raw)
                head = await r.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await r.readexactly(length)
                counts[head[9:12].decode()] += 1
            except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
                counts["connection lost"] += 1
                conn = None
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
        if conn is not None:
            conn[1].close()
    await asyncio.gather(*[one(i) for i in range(FLOOD_CLIENTS)])
    return dict(counts)


async def _slow_clients(host: str, port: int, seconds: float) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    stop_at = time.monotonic() + seconds

    async def one(with_body: bool) -> None:
        while time.monotonic() < stop_at:
            try:
                r, w = await asyncio.open_connection(host, port)
            except OSError:
                counts["connect failed"] += 1
                await asyncio.sleep(0.5)
                continue
            counts["opened"] += 1
            head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            trickle = b"x" * 10_000
            if with_body:
                w.write(head + b"content-length: 10000\r\n\r\n")
            else:
                w.write(head)
                trickle = b"x-slow: " + trickle
            try:
                for i in range(len(trickle)):
                    if time.monotonic() >= stop_at:
                        break
                    w.write(trickle[i:i + 1])
                    await w.drain()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.5):
                            if not await r.read(1024):
                                counts["closed by the gateway"] += 1
                                break
            except (OSError, ConnectionError):
                counts["closed by the gateway"] += 1
            w.close()
    await asyncio.gather(*[one(i % 2 == 1) for i in range(2 * FLOOD_CLIENTS)])
    return dict(counts)


if __name__ == "__main__":
    kind, *rest = sys.argv[1:]
    if kind == "bad-keys":
        got = asyncio.run(_bad_keys(rest[0], rest[1], float(rest[2])))
    else:
        got = asyncio.run(_slow_clients(rest[0], int(rest[1]), float(rest[2])))
    print(f"{json.dumps(dict(sorted(got.items())))}; the flood process used {time.process_time():.1f} s of CPU")
