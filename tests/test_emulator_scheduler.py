"""The emulator's wall-clock driver of the simulator's replica model.

Token times seen by a consumer of each stream are checked against (a) closed sums of ``dep.step_time``
worked out by hand from the iteration structure (batch 1, and a simultaneous burst under load) and
(b) an offline replay of :class:`tokenfleet.sim.Replica` in pure model time (staggered arrivals of mixed
sizes): the emulator must put every token at ``origin + model time x time_scale``, give or take timer
latency. On a busy machine timers fire late by whole scheduling stalls, so what "give or take" allows is
measured in the same run: a reference task on the same event loop sleeps for similar spells and records
how late it wakes (:class:`TimerReference`); a token may be as late as that, never early.
"""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest

from tokenfleet import perf
from tokenfleet.gateway.emulator.replica import Stream, WallClockReplica, default_config
from tokenfleet.sim.replica import Replica
from tokenfleet.sim.seq import DECODE, Seq
from tokenfleet.workload.request import Request

MODEL = "llama-3.3-70b"
EARLY_S = 0.001  # a timer may fire a hair early; a token is never emitted earlier than that
MEDIAN_LATE_S = 0.003  # median wake-up latency (timers have ~1 ms resolution; one cs3 step here is >= 4 ms)
LATE_S = 0.025  # TTFT of one request: one wake-up, on a busy 2-core CI machine


class TimerReference:
    """Lateness of plain ``asyncio.sleep`` wake-ups on the running loop, sampled beside the replica."""

    def __init__(self) -> None:
        self.late: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        rng = random.Random(1)
        while True:
            d = rng.uniform(0.002, 0.008)
            t = loop.time()
            await asyncio.sleep(d)
            self.late.append(loop.time() - t - d)

    def start(self) -> TimerReference:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def typical(self) -> float:
        """How late a wake-up typically was in this run (third quartile; 0 without samples)."""
        return max(0.0, float(np.percentile(self.late, 75))) if self.late else 0.0

    def worst(self) -> float:
        return max(self.late, default=0.0)


@pytest.fixture(scope="module")
def h100() -> perf.Deployment:
    return perf.deploy(MODEL, "h100")


@pytest.fixture(scope="module")
def cs3() -> perf.Deployment:
    return perf.deploy(MODEL, "cs3")


async def consume(stream: Stream, loop: asyncio.AbstractEventLoop) -> dict[int, float]:
    """Loop time at which each token count was first seen by a reader of the stream."""
    seen, times = 0, {}
    while not stream.done:
        have = await stream.wait(seen)
        t = loop.time()
        for k in range(seen + 1, have + 1):
            times[k] = t
        seen = have
    return times


def lateness(seen: dict[int, float], predicted_wall: dict[int, float]) -> list[float]:
    """Seconds each token count was seen after the replica model says it exists."""
    assert sorted(seen) == sorted(predicted_wall)
    return [seen[k] - predicted_wall[k] for k in sorted(predicted_wall)]


def check_lateness(late: list[float], ref: TimerReference) -> None:
    """No token comes before its time; most come within a timer tick of it, plus what this run's timers
    typically lost. (Single tokens may be late by a whole OS scheduling stall on a loaded machine; a
    modelling error, e.g. one iteration too late, moves the median.)"""
    arr = np.array(late)
    assert arr.min() >= -EARLY_S, arr
    assert float(np.median(arr)) <= MEDIAN_LATE_S + ref.typical(), (arr, ref.typical())


def robust_gap(times: list[float]) -> float:
    """Time per token: the median slope over pairs of tokens at least half the stream apart (one token
    late by a scheduling stall, or wake-ups rounded to a timer tick, barely move it)."""
    n = len(times)
    return float(np.median([(times[j] - times[i]) / (j - i) for i in range(n) for j in range(i + n // 2, n)]))


def test_batch_one_follows_step_time(h100: perf.Deployment) -> None:
    """TTFT = request overhead + one prefill step; token k+1 follows token k by decode step k at context
    p + k (the KV of the prompt plus the tokens before it)."""
    p, o = 500, 10
    oh = h100.params.request_overhead_s
    prefill = h100.step_time(p, 0, 0)
    decode = [h100.step_time(0, 1, p + k) for k in range(o - 1)]
    rel_pred = {1: oh + prefill} | {k + 2: oh + prefill + sum(decode[: k + 1]) for k in range(o - 1)}

    ref = TimerReference()

    async def main() -> tuple[float, dict[int, float], WallClockReplica, Stream]:
        rep = WallClockReplica(h100, time_scale=1.0)
        loop = asyncio.get_running_loop()
        ref.start()
        t0 = loop.time()
        stream = rep.submit(p, o)
        seen = await consume(stream, loop)
        ref.stop()
        await rep.aclose()
        return t0, seen, rep, stream

    t0, seen, rep, stream = asyncio.run(main())
    assert sorted(seen) == list(range(1, o + 1))
    # the replica model's own times are the closed sums exactly
    seq = stream.seq
    assert seq is not None and stream.admitted_s == pytest.approx(oh, abs=LATE_S + ref.worst())
    assert seq.first_token_s - stream.admitted_s == pytest.approx(prefill, rel=1e-9)
    # and the reader sees them in wall-clock time
    check_lateness(lateness(seen, {k: rep.wall_time(stream.admitted_s + v - oh) for k, v in rel_pred.items()}), ref)
    ttft = seen[1] - t0
    assert oh + prefill - EARLY_S <= ttft <= oh + prefill + LATE_S + ref.worst()
    slack = 2 * ref.typical() / (o // 2)  # a slope over pairs half the stream apart
    assert robust_gap([seen[k] for k in range(1, o + 1)]) == pytest.approx(float(np.mean(decode)),
                                                                         rel=0.03, abs=slack)


def test_a_burst_under_load_follows_the_batched_steps(cs3: perf.Deployment) -> None:
    """N requests arrive together. The first one starts an iteration alone (prefill p); the other N-1 are
    prefilled together in the next, beside the first one's decode; then all N decode as one batch whose
    context grows by N per iteration, until the first one finishes a step before the rest."""
    n, p, o, scale = 16, 200, 20, 4.0
    oh = cs3.params.request_overhead_s
    s1 = cs3.step_time(p, 0, 0)
    s2 = cs3.step_time((n - 1) * p, 1, p, (n - 1) * p * p / 2)
    dec = [cs3.step_time(0, n, n * p + 1 + m * n) for m in range(o - 2)]
    dec.append(cs3.step_time(0, n - 1, (n - 1) * (p + o - 2)))  # the first request has left
    assert dec[0] > 1.05 * cs3.step_time(0, 1, p)  # load matters, or the test would prove little
    cum = np.cumsum(dec)
    first_pred = {1: s1, 2: s1 + s2} | {j: s1 + s2 + cum[j - 3] for j in range(3, o + 1)}
    other_pred = {1: s1 + s2} | {j: s1 + s2 + cum[j - 2] for j in range(2, o + 1)}

    ref = TimerReference()

    async def main() -> tuple[float, list[dict[int, float]], WallClockReplica, list[Stream]]:
        rep = WallClockReplica(cs3, time_scale=scale)
        loop = asyncio.get_running_loop()
        ref.start()
        t0 = loop.time()
        streams = [rep.submit(p, o) for _ in range(n)]
        seen = await asyncio.gather(*[consume(s, loop) for s in streams])
        ref.stop()
        await rep.aclose()
        return t0, seen, rep, streams

    t0, seen, rep, streams = asyncio.run(main())
    a0 = streams[0].admitted_s
    assert all(a0 <= s.admitted_s < a0 + s1 for s in streams)  # all arrived during the first iteration
    late: list[float] = []
    for i, got in enumerate(seen):
        pred = first_pred if i == 0 else other_pred
        late += lateness(got, {k: rep.wall_time(a0 + v) for k, v in pred.items()})
    check_lateness(late, ref)
    ttft_other = np.mean([got[1] - t0 for got in seen[1:]])
    assert scale * (oh + s1 + s2) - EARLY_S <= ttft_other <= scale * (oh + s1 + s2) + LATE_S + ref.worst()
    gap = np.median([robust_gap([got[k] for k in range(2, o)]) for got in seen[1:]])  # all N decoding
    slack = 2 * ref.typical() / ((o - 2) // 2)
    assert float(gap) == pytest.approx(scale * float(np.mean(dec[: o - 3])), rel=0.03, abs=slack)


def replay(dep: perf.Deployment, arrivals: list[tuple[float, int, int]]) -> list[dict[int, float]]:
    """Model time at which each request reaches each token count, from the sim replica in pure time."""
    rep = Replica(dep, default_config(dep))
    seqs: list[Seq] = []
    out: list[dict[int, float]] = []

    def step() -> None:
        t = rep.next_event_time()
        rep.advance(t)
        for seq, times in zip(seqs, out, strict=True):
            count = seq.gen + rep.iters - seq.iter_base if seq.state == DECODE else seq.gen
            for k in range(len(times) + 1, count + 1):
                times[k] = t

    for a, p, o in arrivals:
        while rep.next_event_time() <= a:
            step()
        seqs.append(Seq(Request(len(seqs), a, p, o)))
        out.append({})
        rep.admit(seqs[-1], a)
    while rep.next_event_time() < float("inf"):
        step()
    return out


def test_staggered_mixed_load_matches_the_sim_replica(cs3: perf.Deployment) -> None:
    rng = random.Random(7)
    sizes = [(rng.randint(20, 3000), rng.randint(2, 30)) for _ in range(24)]
    gaps_s = [rng.uniform(0.0, 0.02) for _ in sizes]
    scale = 2.0

    ref = TimerReference()

    async def main() -> tuple[list[dict[int, float]], WallClockReplica, list[Stream]]:
        rep = WallClockReplica(cs3, time_scale=scale)
        loop = asyncio.get_running_loop()
        ref.start()
        streams, readers = [], []
        for (p, o), g in zip(sizes, gaps_s, strict=True):
            await asyncio.sleep(g)
            streams.append(rep.submit(p, o))
            readers.append(asyncio.create_task(consume(streams[-1], loop)))
        seen = await asyncio.gather(*readers)
        ref.stop()
        await rep.aclose()
        return seen, rep, streams

    seen, rep, streams = asyncio.run(main())
    order = sorted(range(len(streams)), key=lambda i: streams[i].admitted_s)
    pred = replay(cs3, [(streams[i].admitted_s, *sizes[i]) for i in order])
    assert rep.rep.stats.iterations > max(o for _, o in sizes)  # requests overlapped
    late: list[float] = []
    for j, i in enumerate(order):
        assert sorted(seen[i]) == list(range(1, sizes[i][1] + 1))
        seq = streams[i].seq
        assert seq is not None and seq.first_token_s == pred[j][1]  # the same model, the same times
        late += lateness(seen[i], {k: rep.wall_time(t) for k, t in pred[j].items()})
    check_lateness(late, ref)


def test_unpaced_runs_everything_at_once_and_frees_the_kv(cs3: perf.Deployment) -> None:
    sizes = [(100 + 37 * i, 3 + i % 7) for i in range(40)]

    async def main() -> tuple[WallClockReplica, list[Stream], list[dict[int, float]]]:
        rep = WallClockReplica(cs3, time_scale=0.0)
        loop = asyncio.get_running_loop()
        streams = [rep.submit(p, o) for p, o in sizes]
        seen = await asyncio.gather(*[consume(s, loop) for s in streams])
        await rep.aclose()
        return rep, streams, seen

    rep, streams, seen = asyncio.run(main())
    assert not rep.rep.cfg.exact and rep.load == 0
    assert [max(s) for s in seen] == [o for _, o in sizes]
    st = rep.rep.stats
    assert st.prefill_tokens == sum(p for p, _ in sizes)
    assert st.decode_tokens == sum(o - 1 for _, o in sizes)  # the first token comes with the prefill
    assert rep.rep.kv.free == rep.rep.kv.capacity_blocks
    assert all(s.seq is not None and s.seq.admitted_s >= 0 for s in streams)


def test_a_request_cancelled_before_it_arrives_never_reaches_the_replica(cs3: perf.Deployment) -> None:
    async def main() -> WallClockReplica:
        rep = WallClockReplica(cs3, time_scale=0.1)
        a = rep.submit(100, 5)
        b = rep.submit(100, 5)
        assert rep.load == 2 and rep.rep.in_flight == 0  # both still inside the request overhead
        rep.cancel(a)
        await consume(b, asyncio.get_running_loop())
        await rep.aclose()
        return rep

    rep = asyncio.run(main())
    assert rep.load == 0 and rep.rep.stats.prompt_tokens == 100


def test_requests_that_cannot_fit_are_refused(cs3: perf.Deployment) -> None:
    rep = WallClockReplica(cs3)
    cap = rep.max_request_tokens
    assert cap <= cs3.kv_capacity_tokens and cap % rep.cfg.block_tokens == 0
    with pytest.raises(ValueError, match="KV capacity"):
        rep.submit(cap, 1)
    with pytest.raises(ValueError, match="at least one"):
        rep.submit(10, 0)

    async def largest() -> int:  # the largest request that is accepted is served to its last token
        r = WallClockReplica(cs3, time_scale=0.0)
        s = r.submit(cap - 300, 300)
        n = await asyncio.wait_for(s.wait(299), 30)
        await r.aclose()
        return n

    assert asyncio.run(largest()) == 300
    assert default_config(cs3).max_seqs == 64 and default_config(perf.deploy(MODEL, "h100")).max_seqs == 256
