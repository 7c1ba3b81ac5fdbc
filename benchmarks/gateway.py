"""Gateway overhead and throughput: gateway -> emulator vs the emulator directly vs LiteLLM -> emulator.

    python benchmarks/gateway.py [--rate 200] [--seconds 10] [--concurrency 32] [--litellm PATH]
                                 [--streams 16,64,256] [--stream-seconds 5] [--workers 1]

Every server runs in its own process on 127.0.0.1 (one uvicorn worker each); this script is the load
generator, a lean keep-alive HTTP/1.1 client on asyncio, so its own cost is the same for every target.

* **Added latency**: open-loop load at ``--rate`` requests/s (evenly spaced; latency measured from the
  scheduled send time, so a stalled server cannot hide queueing), non-streaming chat requests of
  ``--max-tokens`` tokens. Added = percentile through the proxy minus the same percentile direct.
* **Highest requests/s**: closed loop, ``--concurrency`` requests kept in flight for ``--seconds``.
* **Streaming throughput**: closed loop of streamed requests at each of ``--streams`` concurrent clients
  for ``--stream-seconds``, through the gateway (``--workers`` processes) and direct to the emulator in
  the same run; SSE events/s received, and the CPU seconds the gateway and the emulator processes used
  (from /proc), so a figure can be read against the machine's load (``uptime``, printed).

The emulator runs with ``--time-scale 0`` (no modelled delay) by default so the figures isolate the
proxies' own cost. LiteLLM (``litellm[proxy]`` from PyPI) is found on PATH, in ``--litellm``, or in
``/tmp/litellm-venv``; if it cannot be started, the script says why and still measures tokenfleet.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

MODEL = "llama-3.3-70b"
LITELLM_KEY = "sk-bench-0123456789abcdef0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, path: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"not ready on port {port} after {timeout_s:.0f} s")


# ---- a lean HTTP/1.1 keep-alive client ---------------------------------------------------------------
class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(r, w)

    async def request(self, raw: bytes) -> int:
        return (await self.request_events(raw))[0]

    async def request_events(self, raw: bytes) -> tuple[int, int]:
        """Send one request; returns (status, SSE events in the body)."""
        events = 0
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        i = lower.find(b"content-length:")
        if i >= 0:
            n = int(lower[i + 15:lower.index(b"\r\n", i)])
            await self.reader.readexactly(n)
        else:  # chunked
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                events += (await self.reader.readexactly(size + 2)).count(b"data: ")
                if size == 0:
                    break
        return status, events


def request_bytes(port: int, max_tokens: int, auth: str | None, stream: bool = False) -> bytes:
    body = orjson.dumps({"model": MODEL, "max_tokens": max_tokens, "stream": stream,
                         "messages": [{"role": "user", "content": "Say something about wafer-scale chips."}]})
    hdr = (f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
           f"content-type: application/json\r\ncontent-length: {len(body)}\r\n")
    if auth:
        hdr += f"authorization: Bearer {auth}\r\n"
    return hdr.encode() + b"\r\n" + body


async def open_loop(port: int, raw: bytes, rate: float, seconds: float) -> tuple[np.ndarray, int]:
    """Latencies (s) of ``rate * seconds`` evenly spaced requests; and the count of non-200 answers."""
    pool: list[Conn] = [await Conn.open(port) for _ in range(16)]
    lat: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()

    async def one(t_sched: float) -> None:
        nonlocal errors
        conn = pool.pop() if pool else await Conn.open(port)
        try:
            status = await conn.request(raw)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
            return
        lat.append(loop.time() - t_sched)
        errors += status != 200
        pool.append(conn)

    n = int(rate * seconds)
    t0 = loop.time() + 0.05
    tasks = []
    for i in range(n):
        t = t0 + i / rate
        delay = t - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(t)))
    await asyncio.gather(*tasks)
    for c in pool:
        c.writer.close()
    return np.array(lat), errors


async def closed_loop(port: int, raw: bytes, concurrency: int, seconds: float) -> tuple[float, int]:
    done = errors = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done, errors
        conn = await Conn.open(port)
        while time.perf_counter() < stop:
            try:
                status = await conn.request(raw)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                conn = await Conn.open(port)
                continue
            done += 1
            errors += status != 200
        conn.writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return done / (time.perf_counter() - t0), errors


async def stream_loop(port: int, raw: bytes, concurrency: int, seconds: float) -> tuple[float, float, int]:
    """Closed loop of streamed requests: (requests/s, SSE events/s, errors); bounded by ``seconds``."""
    done = events = errors = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done, events, errors
        try:
            conn = await Conn.open(port)
        except OSError:
            errors += 1
            return
        while time.perf_counter() < stop:
            try:
                status, n = await asyncio.wait_for(conn.request_events(raw), seconds + 30)
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError):
                errors += 1
                try:
                    conn = await Conn.open(port)
                except OSError:
                    return
                continue
            done += 1
            events += n
            errors += status != 200
        conn.writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    dt = time.perf_counter() - t0
    return done / dt, events / dt, errors


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its descendants so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        p = int(stat.parent.name)
        parents[p] = int(fields[1])
        times[p] = (int(fields[11]) + int(fields[12])) / tick
    family, todo = set(), [pid]
    while todo:
        p = todo.pop()
        family.add(p)
        todo.extend(c for c, pp in parents.items() if pp == p and c not in family)
    return sum(times.get(p, 0.0) for p in family)


# ---- servers ---------------------------------------------------------------------------------------
def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})


def find_litellm(arg: str | None) -> str | None:
    for cand in (arg, shutil.which("litellm"), "/tmp/litellm-venv/bin/litellm"):
        if cand and Path(cand).exists():
            return cand
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--hardware", default="cs3")
    ap.add_argument("--time-scale", type=float, default=0.0)
    ap.add_argument("--litellm", default=None, help="path of the litellm executable")
    ap.add_argument("--streams", default="16,64,256", help="concurrent streaming clients to measure")
    ap.add_argument("--stream-seconds", type=float, default=5.0)
    ap.add_argument("--stream-tokens", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1, help="gateway processes (tokenfleet serve --workers)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tf-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        emu_port, gw_port = free_port(), free_port()
        exe = [sys.executable, "-m", "tokenfleet"]
        emu = start([*exe, "emulate", "--hardware", args.hardware, "--model", MODEL, "--port", str(emu_port),
                     "--time-scale", str(args.time_scale)])
        procs.append(emu)
        wait_ready(emu_port, "/healthz", emu, 60)
        (tmp / "gw.yaml").write_text(orjson.dumps({
            "listen": {"host": "127.0.0.1", "port": gw_port},
            "ledger": {"url": f"sqlite:///{tmp / 'ledger.db'}"},
            # no SLO on the class: admission control would refuse work the loaded machine cannot serve in
            # time, and this benchmark measures the proxy's own cost, not its admission decisions
            "classes": {"standard": {"tier": "standard", "max_queue_ms": 5000}},
            "pools": [{"name": "p", "model": MODEL, "hardware": args.hardware,
                       "backends": [{"url": f"http://127.0.0.1:{emu_port}", "max_in_flight": 4096}]}],
        }).decode())
        gw = start([*exe, "serve", str(tmp / "gw.yaml"), *(["--workers", str(args.workers)] if args.workers > 1
                                                          else [])])
        procs.append(gw)
        wait_ready(gw_port, "/healthz", gw, 60)

        results: dict[str, dict[str, float]] = {}

        def measure(name: str, port: int, auth: str | None) -> None:
            raw = request_bytes(port, args.max_tokens, auth)
            asyncio.run(closed_loop(port, raw, 4, 1.0))  # warm up
            lat, errs = asyncio.run(open_loop(port, raw, args.rate, args.seconds))
            rps, rps_errs = asyncio.run(closed_loop(port, raw, args.concurrency, args.seconds))
            results[name] = {"p50_ms": float(np.percentile(lat, 50) * 1e3),
                             "p99_ms": float(np.percentile(lat, 99) * 1e3),
                             "errors": errs + rps_errs, "rps": rps, "n": len(lat)}

        measure("direct", emu_port, None)
        measure("tokenfleet", gw_port, None)

        streaming: list[dict[str, float]] = []
        for c in [int(x) for x in args.streams.split(",") if x]:
            for name, port in (("direct", emu_port), ("tokenfleet", gw_port)):
                raw = request_bytes(port, args.stream_tokens, None, stream=True)
                cpu0 = {"gw": cpu_s(gw.pid), "emu": cpu_s(emu.pid)}
                w0 = time.perf_counter()
                rps, eps, errs = asyncio.run(stream_loop(port, raw, c, args.stream_seconds))
                wall = time.perf_counter() - w0
                streaming.append({"clients": c, "target": name, "rps": rps, "events_s": eps, "errors": errs,
                                  "wall_s": wall, "gw_cpu_s": cpu_s(gw.pid) - cpu0["gw"],
                                  "emu_cpu_s": cpu_s(emu.pid) - cpu0["emu"]})
        gw.terminate()  # each proxy is measured alone beside the emulator: nothing else competes for CPU
        gw.wait(15)

        litellm_note = ""
        ll_exe = find_litellm(args.litellm)
        if ll_exe is None:
            litellm_note = "LiteLLM not measured: no litellm executable (pip install 'litellm[proxy]')"
        else:
            ll_port = free_port()
            (tmp / "litellm.yaml").write_text(
                "model_list:\n  - model_name: " + MODEL + "\n    litellm_params:\n"
                f"      model: openai/{MODEL}\n      api_base: http://127.0.0.1:{emu_port}/v1\n"
                "      api_key: dummy\nlitellm_settings:\n  telemetry: false\n")
            ll = start([ll_exe, "--config", str(tmp / "litellm.yaml"), "--host", "127.0.0.1", "--port",
                        str(ll_port), "--num_workers", "1"],
                       {"LITELLM_MASTER_KEY": LITELLM_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                        "LITELLM_LOG": "ERROR"})
            procs.append(ll)
            try:
                wait_ready(ll_port, "/health/liveliness", ll, 120)
            except RuntimeError as exc:
                err = (ll.stderr.read(2000).decode(errors="replace") if ll.poll() is not None and ll.stderr
                       else "")
                litellm_note = f"LiteLLM not measured: proxy did not start ({exc}) {err[-400:]}"
            else:
                measure("litellm", ll_port, LITELLM_KEY)

        cpus = os.cpu_count()
        print(f"\n{MODEL} on emulated {args.hardware} (time scale {args.time_scale:g}), {args.max_tokens} "
              f"output tokens, non-streaming; {cpus} CPUs; open loop {args.rate:g} req/s x "
              f"{args.seconds:g} s; closed loop {args.concurrency} in flight")
        print(f"{'target':<12}{'p50 ms':>9}{'p99 ms':>9}{'added p50':>11}{'added p99':>11}{'max req/s':>11}"
              f"{'errors':>8}")
        base = results["direct"]
        for name, r in results.items():
            if name == "direct":
                added = f"{'-':>11}{'-':>11}"
            else:
                added = f"{r['p50_ms'] - base['p50_ms']:>11.3f}{r['p99_ms'] - base['p99_ms']:>11.3f}"
            print(f"{name:<12}{r['p50_ms']:>9.3f}{r['p99_ms']:>9.3f}{added}{r['rps']:>11.0f}"
                  f"{int(r['errors']):>8}")
        if "litellm" in results:
            ratio = results["tokenfleet"]["rps"] / results["litellm"]["rps"]
            print(f"tokenfleet / LiteLLM requests/s: {ratio:.1f}x (target >= 10x)")
        if litellm_note:
            print(litellm_note)
        if streaming:
            print(f"\nstreaming, {args.stream_tokens} tokens per request, {args.stream_seconds:g} s per cell, "
                  f"gateway workers {args.workers}; load average {os.getloadavg()[0]:.1f}")
            print(f"{'clients':>8} {'target':<11}{'req/s':>8}{'events/s':>10}{'vs direct':>10}{'errors':>7}"
                  f"{'gw CPU s':>9}{'emu CPU s':>10}{'wall s':>7}")
            direct = {r["clients"]: r for r in streaming if r["target"] == "direct"}
            for r in streaming:
                ratio = r["events_s"] / direct[r["clients"]]["events_s"] if direct[r["clients"]]["events_s"] else 0
                print(f"{int(r['clients']):>8} {r['target']:<11}{r['rps']:>8.0f}{r['events_s']:>10.0f}"
                      f"{ratio:>9.0%} {int(r['errors']):>7}{r['gw_cpu_s']:>9.2f}{r['emu_cpu_s']:>10.2f}"
                      f"{r['wall_s']:>7.1f}")
        tf = results["tokenfleet"]
        print(f"targets at {args.rate:g} req/s: added p50 <= 1 ms: "
              f"{'met' if tf['p50_ms'] - base['p50_ms'] <= 1 else 'NOT met'}; added p99 <= 3 ms: "
              f"{'met' if tf['p99_ms'] - base['p99_ms'] <= 3 else 'NOT met'}")
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
