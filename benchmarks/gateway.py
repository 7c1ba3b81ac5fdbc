"""Gateway overhead and throughput: gateway -> emulator vs the emulator directly vs LiteLLM -> emulator.

    python benchmarks/gateway.py [--seconds 10] [--rounds 5] [--concurrency 1,16]
        [--max-tokens 8] [--litellm PATH] [--streams 16,64] [--stream-seconds 3]
        [--stack both|asyncio|uvloop]

Every server runs in its own process on 127.0.0.1; this script is the load generator, a lean keep-alive
HTTP/1.1 client on asyncio, so its own cost is the same for every target. Two server stacks are
measured side by side: **asyncio** (the standard event loop and the pure-Python h11 parser) and
**uvloop** (uvloop and httptools: what ``pip install tokenfleet`` runs, both being dependencies; the
asyncio stack is what it ran before, without the ``fast`` extra), each with its own emulator, so
"direct" is always the same server stack as the gateway in front of it. LiteLLM (``litellm[proxy]``
from PyPI, in its own environment: found on PATH, in ``--litellm``, ``/work/litellm-venv`` or
``/tmp/litellm-venv``) proxies the asyncio-stack emulator.

* **Added latency at concurrency 1**: one client sends non-streamed chat requests of ``--max-tokens``
  tokens back to back; added = percentile through the proxy minus the same percentile direct.
* **Requests/s**: closed loop with each of ``--concurrency`` clients.
* **Streaming**: closed loop of streamed requests at each of ``--streams`` clients (plain and fast).

The machine is shared and noisy, so each figure is gathered in ``--rounds`` slices that alternate the
targets (in a rotating order) over the same minutes, and the CPU seconds each server process used
(from /proc), the benchmark's own CPU time and the load average are printed beside the figures. The
emulator runs with ``--time-scale 0`` (no modelled delay) so the figures isolate the proxies' own cost.
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
import textwrap
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import numpy as np
import orjson

MODEL = "llama-3.3-70b"
LITELLM_KEY = "sk-bench-0123456789abcdef0123456789abcdef"
STACKS = {"asyncio": ("asyncio", "h11"), "uvloop": ("uvloop", "httptools")}


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

    async def request(self, raw: bytes) -> tuple[int, int]:
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


async def closed_loop(port: int, raw: bytes, concurrency: int, seconds: float) -> dict[str, Any]:
    """``concurrency`` clients, each a request at a time, for ``seconds``: latencies, events, errors."""
    lat: list[float] = []
    events = errors = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal events, errors
        try:
            conn = await Conn.open(port)
        except OSError:
            errors += 1
            return
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                status, n = await asyncio.wait_for(conn.request(raw), seconds + 30)
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError):
                errors += 1
                try:
                    conn = await Conn.open(port)
                except OSError:
                    return
                continue
            lat.append(time.perf_counter() - t0)
            events += n
            errors += status != 200
        conn.writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return {"lat": lat, "wall": time.perf_counter() - t0, "events": events, "errors": errors}


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
    for cand in (arg, shutil.which("litellm"), "/work/litellm-venv/bin/litellm", "/tmp/litellm-venv/bin/litellm"):
        if cand and Path(cand).exists():
            return cand
    return None


class Target:
    """One server to measure (the process whose CPU is charged, its port, its key)."""

    def __init__(self, name: str, port: int, proc: subprocess.Popen[bytes], auth: str | None = None,
                 backend: subprocess.Popen[bytes] | None = None) -> None:
        self.name, self.port, self.proc, self.auth, self.backend = name, port, proc, auth, backend
        self.runs: dict[str, list[dict[str, Any]]] = {}
        self.cpu: dict[str, float] = {}
        self.backend_cpu: dict[str, float] = {}

    def measure(self, phase: str, fn: Callable[[int, bytes], Coroutine[Any, Any, dict[str, Any]]],
                raw: bytes) -> None:
        c0 = cpu_s(self.proc.pid)
        b0 = cpu_s(self.backend.pid) if self.backend is not None else 0.0
        run = asyncio.run(fn(self.port, raw))
        self.cpu[phase] = self.cpu.get(phase, 0.0) + cpu_s(self.proc.pid) - c0
        if self.backend is not None:
            self.backend_cpu[phase] = self.backend_cpu.get(phase, 0.0) + cpu_s(self.backend.pid) - b0
        self.runs.setdefault(phase, []).append(run)

    def merged(self, phase: str) -> dict[str, Any]:
        runs = self.runs.get(phase, [])
        lat = np.array([x for r in runs for x in r["lat"]])
        wall = sum(r["wall"] for r in runs)
        n = len(lat)
        return {"n": n, "rps": n / wall if wall else 0.0, "events_s": sum(r["events"] for r in runs) / wall
                if wall else 0.0, "errors": sum(r["errors"] for r in runs),
                "p50": float(np.percentile(lat, 50) * 1e3) if n else float("nan"),
                "p99": float(np.percentile(lat, 99) * 1e3) if n else float("nan"),
                "cpu_ms": self.cpu.get(phase, 0.0) / n * 1e3 if n else float("nan"),
                "backend_cpu_ms": self.backend_cpu.get(phase, 0.0) / n * 1e3 if n else float("nan")}


def alternate(targets: list[Target], phase: str, rounds: int,
              fn: Callable[[int, bytes], Coroutine[Any, Any, dict[str, Any]]],
              raw_for: Callable[[Target], bytes]) -> None:
    """``rounds`` slices per target, the order rotating each round, so all share the same noise."""
    for r in range(rounds):
        k = r % len(targets)
        for t in targets[k:] + targets[:k]:
            t.measure(phase, fn, raw_for(t))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="per target and phase, over all rounds")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--concurrency", default="1,16", help="clients in the requests/s phases")
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--hardware", default="cs3")
    ap.add_argument("--litellm", default=None, help="path of the litellm executable")
    ap.add_argument("--streams", default="16,64", help="concurrent streaming clients ('' to skip)")
    ap.add_argument("--stream-seconds", type=float, default=3.0)
    ap.add_argument("--stream-tokens", type=int, default=64)
    ap.add_argument("--stack", choices=["both", *STACKS], default="both", help="server stacks to measure")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tf-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    exe = [sys.executable, "-m", "tokenfleet"]
    load0, cpu0, wall0 = os.getloadavg(), time.process_time(), time.perf_counter()
    try:
        stacks = list(STACKS) if args.stack == "both" else [args.stack]
        direct: dict[str, Target] = {}
        gateway: dict[str, Target] = {}
        for stack in stacks:
            loop, http = STACKS[stack]
            emu_port, gw_port = free_port(), free_port()
            emu = start([*exe, "emulate", "--hardware", args.hardware, "--model", MODEL, "--port", str(emu_port),
                         "--time-scale", "0", "--loop", loop, "--http", http])
            procs.append(emu)
            wait_ready(emu_port, "/healthz", emu, 60)
            (tmp / f"gw-{stack}.yaml").write_text(orjson.dumps({
                "listen": {"host": "127.0.0.1", "port": gw_port},
                "server": {"loop": loop, "http": http},
                "ledger": {"url": f"sqlite:///{tmp / f'ledger-{stack}.db'}"},
                # no SLO on the class: this benchmark measures the proxy's own cost, not admission decisions
                "classes": {"standard": {"tier": "standard", "max_queue_ms": 5000}},
                "pools": [{"name": "p", "model": MODEL, "hardware": args.hardware,
                           "backends": [{"url": f"http://127.0.0.1:{emu_port}", "max_in_flight": 4096}]}],
            }).decode())
            gw = start([*exe, "serve", str(tmp / f"gw-{stack}.yaml")])
            procs.append(gw)
            wait_ready(gw_port, "/healthz", gw, 60)
            direct[stack] = Target(f"direct {stack}", emu_port, emu)
            gateway[stack] = Target(f"tokenfleet {stack}", gw_port, gw, backend=emu)

        litellm_note = ""
        targets = [t for s in stacks for t in (direct[s], gateway[s])]
        ll_exe = find_litellm(args.litellm)
        if ll_exe is None:
            litellm_note = "LiteLLM not measured: no litellm executable (pip install 'litellm[proxy]' in its own venv)"
        else:
            ll_port = free_port()
            (tmp / "litellm.yaml").write_text(
                "model_list:\n  - model_name: " + MODEL + "\n    litellm_params:\n"
                f"      model: openai/{MODEL}\n      api_base: http://127.0.0.1:{direct[stacks[0]].port}/v1\n"
                "      api_key: dummy\nlitellm_settings:\n  telemetry: false\n")
            ll = start([ll_exe, "--config", str(tmp / "litellm.yaml"), "--host", "127.0.0.1", "--port",
                        str(ll_port), "--num_workers", "1"],
                       {"LITELLM_MASTER_KEY": LITELLM_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                        "LITELLM_LOG": "ERROR"})
            procs.append(ll)
            try:
                wait_ready(ll_port, "/health/liveliness", ll, 180)
            except RuntimeError as exc:
                err = (ll.stderr.read(2000).decode(errors="replace") if ll.poll() is not None and ll.stderr
                       else "")
                litellm_note = f"LiteLLM not measured: proxy did not start ({exc}) {err[-400:]}"
            else:
                targets.append(Target("litellm", ll_port, ll, LITELLM_KEY, backend=direct[stacks[0]].proc))

        def raw_for(t: Target) -> bytes:
            return request_bytes(t.port, args.max_tokens, t.auth)

        for t in targets:  # warm up (LiteLLM's first requests are slow)
            asyncio.run(closed_loop(t.port, raw_for(t), 4, 1.0))
        slice_s = args.seconds / args.rounds
        concurrencies = [int(x) for x in args.concurrency.split(",") if x]
        for c in concurrencies:
            alternate(targets, f"c{c}", args.rounds,
                      lambda port, raw, c=c: closed_loop(port, raw, c, slice_s), raw_for)
        streams = [int(x) for x in args.streams.split(",") if x]
        stream_targets = [t for t in targets if t.name != "litellm"]
        for c in streams:
            alternate(stream_targets, f"s{c}", max(1, args.rounds // 2),
                      lambda port, raw, c=c: closed_loop(port, raw, c, args.stream_seconds / max(1, args.rounds // 2)),
                      lambda t: request_bytes(t.port, args.stream_tokens, None, stream=True))
        load1 = os.getloadavg()

        print(f"\n{MODEL} on emulated {args.hardware} (time scale 0), {args.max_tokens} output tokens,")
        print(f"non-streamed; {args.seconds:g} s per target and phase in {args.rounds} alternating rounds;")
        print(f"{os.cpu_count()} CPUs, load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end;")
        print(f"benchmark client CPU {time.process_time() - cpu0:.0f} s in {time.perf_counter() - wall0:.0f} s wall")
        print("(+p50 / +p99: added to direct on the same stack; CPU: ms per request of the")
        print("proxy's process, emu: of the emulator behind it)")
        for c in concurrencies:
            phase = f"c{c}"
            print(f"\nconcurrency {c}")
            print(f"{'target':<18}{'p50 ms':>8}{'p99 ms':>8}{'+p50':>7}{'+p99':>7}{'req/s':>7}{'err':>4}{'CPU':>7}"
                  f"{'emu':>6}")
            for t in targets:
                r = t.merged(phase)
                base = direct[t.name.split()[-1]].merged(phase) if t.name.startswith("tokenfleet") else \
                    direct[stacks[0]].merged(phase) if t.name == "litellm" else None
                added = (f"{r['p50'] - base['p50']:>7.1f}{r['p99'] - base['p99']:>7.1f}" if base is not None
                         else f"{'-':>7}{'-':>7}")
                emu = f"{r['backend_cpu_ms']:>6.2f}" if t.backend is not None else f"{'-':>6}"
                print(f"{t.name:<18}{r['p50']:>8.2f}{r['p99']:>8.2f}{added}{r['rps']:>7.0f}{int(r['errors']):>4}"
                      f"{r['cpu_ms']:>7.2f}{emu}")
            ll = next((t for t in targets if t.name == "litellm"), None)
            if ll is not None:
                for s in stacks:
                    ratio = gateway[s].merged(phase)["rps"] / max(1e-9, ll.merged(phase)["rps"])
                    print(f"tokenfleet {s} / LiteLLM requests/s: {ratio:.1f}x (target >= 10x)")
        if 1 in concurrencies:
            for s in stacks:
                r, b = gateway[s].merged("c1"), direct[s].merged("c1")
                print(f"{s}, concurrency 1: added p50 {r['p50'] - b['p50']:.2f} ms "
                      f"({'met' if r['p50'] - b['p50'] <= 1 else 'NOT met'}, <= 1), p99 "
                      f"{r['p99'] - b['p99']:.2f} ms ({'met' if r['p99'] - b['p99'] <= 3 else 'NOT met'}, <= 3)")
        if litellm_note:
            print(textwrap.fill(litellm_note, 80))
        for c in streams:
            phase = f"s{c}"
            print(f"\nstreaming, {c} clients, {args.stream_tokens} tokens per request")
            print(f"{'target':<19}{'req/s':>7}{'events/s':>10}{'vs direct':>10}{'err':>5}{'CPU':>7}")
            for t in stream_targets:
                r = t.merged(phase)
                d = direct[t.name.split()[-1]].merged(phase)
                ratio = r["events_s"] / d["events_s"] if d["events_s"] else 0.0
                print(f"{t.name:<19}{r['rps']:>7.0f}{r['events_s']:>10.0f}{ratio:>9.0%} {int(r['errors']):>5}"
                      f"{r['cpu_ms']:>7.2f}")
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
