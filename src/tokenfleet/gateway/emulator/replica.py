"""One emulated replica: the simulator's replica model (:class:`tokenfleet.sim.Replica`) in wall-clock time.

The simulator's replica is pure and driven by an injected clock; this driver gives it the event loop's
clock. Model time ``t`` (seconds on the modelled hardware) maps to wall time ``origin + t * time_scale``.
The driver sleeps until the replica's ``next_event_time()``, calls ``advance`` at exactly that model time
(so timer jitter never accumulates: a late wake-up is caught up at the next one) and then publishes every
live request's token count to its :class:`Stream`.

* **Per-token timing.** With ``time_scale > 0`` the replica runs with ``exact=True``: every engine
  iteration is one event, so token ``k`` of a request comes out at the end of the iteration that produced
  it -- the first token when its prefill completes, later ones at decode-iteration boundaries, as the
  replica model implies. ``time_scale == 0`` (no modelled delay, for overhead benchmarks) runs decode
  stretches in closed form (``exact=False``, the same schedule in fewer events) and yields to the event
  loop between events.
* **Arrivals.** A request reaches the replica ``request_overhead_s`` (the performance model's per-request
  API / tokenisation / network term, which the simulator adds to TTFT and E2E) after it is submitted.
  Shifting every arrival by the same constant shifts the replica's whole schedule by it, so the client
  sees TTFT = overhead + queueing + prefill and token gaps = iteration times, the simulator's figures.
  Before an arrival is admitted, iterations already due are applied, so the replica never sees an arrival
  before an event that precedes it.
* **Scheduler.** The simulator's defaults by device family (:mod:`tokenfleet.sim.fleet`): HBM 256
  sequences, SRAM dataflow (CS-3, LPU) 64; 8192 batched tokens per step; chunked prefill; paged KV with
  recompute preemption.
* **Prefix cache.** ``submit`` takes the prompt's block hashes (:mod:`tokenfleet.workload.prefix`; the
  server hashes the prompt text in ``PREFIX_BLOCK_TOKENS``-token blocks, ~4 characters per token); the
  replica model reuses the leading blocks it still holds (LRU, evicted under KV pressure) and prefills
  only the rest, as the simulator does with trace hash ids, so a prompt that extends an earlier one
  gets its first token sooner on the replica that saw the earlier one.
* **Cancellation.** ``cancel`` detaches a stream. A request still on its way (inside the overhead delay)
  never reaches the replica; one already admitted runs to completion, as in the simulator, which has no
  aborts.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from tokenfleet.perf import Deployment
from tokenfleet.sim.replica import Replica, SchedulerConfig
from tokenfleet.sim.seq import DECODE, DONE, Seq
from tokenfleet.workload.request import Request

INF = float("inf")
PREFIX_BLOCK_TOKENS = 64  # tokens per prefix-cache block (the gateway's routing.prefix.block_tokens default)


def default_config(dep: Deployment, time_scale: float = 1.0) -> SchedulerConfig:
    """The simulator's scheduler defaults for ``dep``'s device family; exact stepping unless unpaced;
    prefix caching in ``PREFIX_BLOCK_TOKENS``-token blocks."""
    return SchedulerConfig(max_seqs=64 if dep.hw.is_sram else 256, max_batched_tokens=8192,
                           prefix_caching=True, prefix_block_tokens=PREFIX_BLOCK_TOKENS, exact=time_scale > 0)


class Stream:
    """Tokens of one request as they are produced; ``wait`` returns when more are available."""

    __slots__ = ("_event", "admitted_s", "cancelled", "done", "emitted", "output_tokens", "prefix_hashes",
                 "prompt_tokens", "seq")

    def __init__(self, prompt_tokens: int, output_tokens: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.prefix_hashes: tuple[int, ...] = ()
        self.seq: Seq | None = None
        self.admitted_s = -1.0  # model time the request reached the replica
        self.emitted = 0
        self.done = False
        self.cancelled = False
        self._event = asyncio.Event()

    def _push(self, count: int, done: bool) -> None:
        self.emitted = count
        self.done = done
        self._event.set()

    async def wait(self, seen: int) -> int:
        """Wait until more than ``seen`` tokens exist (or the stream is done); returns the count."""
        while self.emitted <= seen and not self.done:
            self._event.clear()
            await self._event.wait()
        return self.emitted


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class WallClockReplica:
    def __init__(self, dep: Deployment, cfg: SchedulerConfig | None = None, time_scale: float = 1.0,
                 request_overhead_s: float | None = None) -> None:
        if time_scale < 0:
            raise ValueError(f"time_scale must be >= 0, got {time_scale}")
        self.dep = dep
        self.cfg = cfg or default_config(dep, time_scale)
        self.rep = Replica(dep, self.cfg)
        self.time_scale = time_scale
        self.request_overhead_s = dep.params.request_overhead_s if request_overhead_s is None \
            else request_overhead_s
        bs = self.cfg.block_tokens
        self.max_request_tokens = (dep.kv_capacity_tokens // bs) * bs
        self.pending = 0  # submitted, not yet at the replica (inside the request overhead)
        self._live: dict[int, Stream] = {}
        self._ids = itertools.count()
        self._t = 0.0  # model time of the last event applied
        self._origin = 0.0  # loop time of model time 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._fut: asyncio.Future[None] | None = None
        self._closed = False

    # ---- clock ---------------------------------------------------------------------------------------
    def now(self) -> float:
        """The current model time (the last event's when unpaced)."""
        if self.time_scale > 0 and self._loop is not None:
            return max(self._t, (self._loop.time() - self._origin) / self.time_scale)
        return self._t

    def wall_time(self, t: float) -> float:
        """Loop time at which model time ``t`` happens (paced replicas)."""
        return self._origin + t * self.time_scale

    @property
    def load(self) -> int:
        return self.rep.in_flight + self.pending

    # ---- requests ------------------------------------------------------------------------------------
    def submit(self, prompt_tokens: int, output_tokens: int, prefix_hashes: tuple[int, ...] = ()) -> Stream:
        """Queue a request; ``prefix_hashes`` name its prompt's ``cfg.prefix_block_tokens``-token blocks."""
        if prompt_tokens < 1 or output_tokens < 1:
            raise ValueError(f"a request needs at least one prompt and one output token, got "
                             f"{prompt_tokens} and {output_tokens}")
        if prompt_tokens + output_tokens > self.max_request_tokens:
            raise ValueError(f"request of {prompt_tokens + output_tokens} tokens (prompt + output) exceeds the "
                             f"replica's KV capacity of {self.max_request_tokens} tokens")
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._origin = self._loop.time()
        if self._task is None:
            self._task = self._loop.create_task(self._run())
        stream = Stream(prompt_tokens, output_tokens)
        stream.prefix_hashes = prefix_hashes
        self.pending += 1
        delay = self.request_overhead_s * self.time_scale
        if delay > 0:
            self._loop.call_later(delay, self._arrive, stream)
        else:
            self._arrive(stream)
        return stream

    def _arrive(self, stream: Stream) -> None:
        self.pending -= 1
        if stream.cancelled or self._closed:
            return
        now = self.now()
        self._catch_up(now)
        sid = next(self._ids)
        seq = Seq(Request(sid, now, stream.prompt_tokens, stream.output_tokens, prefix_hash_ids=stream.prefix_hashes))
        stream.seq, stream.admitted_s = seq, now
        self._live[sid] = stream
        if self.rep.admit(seq, now):
            self._kick()

    def cancel(self, stream: Stream) -> None:
        """Detach ``stream`` (the client is gone or has everything)."""
        stream.cancelled = True
        if stream.seq is not None:
            self._live.pop(stream.seq.req.request_id, None)

    # ---- events --------------------------------------------------------------------------------------
    def _catch_up(self, now: float) -> None:
        """Apply every event due at or before model time ``now``."""
        rep = self.rep
        while rep.next_event_time() <= now:
            self._apply(rep.next_event_time())

    def _apply(self, t: float) -> None:
        rep = self.rep
        rep.advance(t)
        self._t = t
        iters = rep.iters
        finished: list[int] = []
        for sid, stream in self._live.items():
            seq = stream.seq
            assert seq is not None
            state = seq.state
            count = seq.gen + iters - seq.iter_base if state == DECODE else seq.gen
            if count != stream.emitted:
                stream._push(count, state == DONE)
            if state == DONE:
                finished.append(sid)
        for sid in finished:
            del self._live[sid]

    def _kick(self) -> None:
        if self._fut is not None:
            _wake(self._fut)

    async def _sleep(self, when: float | None) -> None:
        """Until loop time ``when`` (forever if None), or until an admission moves the next event."""
        loop = self._loop
        assert loop is not None
        fut: asyncio.Future[None] = loop.create_future()
        self._fut = fut
        h = loop.call_at(when, _wake, fut) if when is not None else None
        try:
            await fut
        finally:
            self._fut = None
            if h is not None:
                h.cancel()

    async def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        rep = self.rep
        yielded = False
        while True:
            t = rep.next_event_time()
            if t == INF:
                await self._sleep(None)
                continue
            if self.time_scale > 0:
                when = self.wall_time(t)
                if when > loop.time():
                    await self._sleep(when)
                    continue
            elif not yielded:  # unpaced: let arrivals and writers in between events
                yielded = True
                await asyncio.sleep(0)
                continue
            yielded = False
            self._apply(t)

    async def aclose(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


__all__ = ["Stream", "WallClockReplica", "default_config"]
