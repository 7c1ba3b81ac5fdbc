"""One emulated replica in wall-clock time: runs :class:`BatchScheduler` steps and sleeps for each one.

Steps are laid end to end on the event loop's clock (``next = max(now, previous end) + duration``), so
timer jitter does not accumulate. ``time_scale`` multiplies every step (0 = as fast as possible, for
overhead benchmarks; 1 = the performance model's prediction). Each request gets a :class:`Stream`
whose ``emitted`` count grows as tokens come out.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from tokenfleet.gateway.emulator.scheduler import BatchScheduler, Sequence, StepModel


class Stream:
    """Tokens of one request as they are produced; ``wait`` returns when more are available."""

    __slots__ = ("_event", "done", "emitted", "seq")

    def __init__(self, seq: Sequence) -> None:
        self.seq = seq
        self.emitted = 0
        self.done = False
        self._event = asyncio.Event()

    def _push(self) -> None:
        self.emitted = self.seq.generated
        self.done = self.seq.is_finished
        self._event.set()

    async def wait(self, seen: int) -> int:
        """Wait until more than ``seen`` tokens exist (or the stream is done); returns the count."""
        while self.emitted <= seen and not self.done:
            self._event.clear()
            await self._event.wait()
        return self.emitted


class WallClockReplica:
    def __init__(self, model: StepModel, time_scale: float = 1.0, token_budget: int = 8192,
                 max_seqs: int = 256) -> None:
        self.scheduler = BatchScheduler(model, token_budget, max_seqs)
        self.time_scale = time_scale
        self._streams: dict[int, Stream] = {}
        self._ids = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.steps = 0
        self.busy_s = 0.0

    @property
    def load(self) -> int:
        return self.scheduler.load

    def submit(self, prompt_tokens: int, output_tokens: int) -> Stream:
        seq = Sequence(next(self._ids), prompt_tokens, output_tokens)
        self.scheduler.add(seq)
        stream = self._streams[seq.seq_id] = Stream(seq)
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return stream

    def cancel(self, stream: Stream) -> None:
        self.scheduler.cancel(stream.seq)
        self._streams.pop(stream.seq.seq_id, None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time()
        while True:
            step = self.scheduler.plan()
            if step.is_empty:
                self._wake.clear()
                await self._wake.wait()
                end = loop.time()
                continue
            dt = step.duration_s * self.time_scale
            end = max(end, loop.time()) + dt
            self.steps += 1
            self.busy_s += step.duration_s
            await asyncio.sleep(max(0.0, end - loop.time()))
            for seq in self.scheduler.commit(step):
                stream = self._streams.get(seq.seq_id)
                if stream is not None:
                    stream._push()
                    if stream.done:
                        del self._streams[seq.seq_id]

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


__all__ = ["Stream", "WallClockReplica"]
