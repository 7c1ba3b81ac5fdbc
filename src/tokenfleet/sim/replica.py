"""One replica's continuous-batching engine, as vLLM runs it, driven by an injected clock.

Pure and clock-free: the caller says what time it is. ::

    rep = Replica(dep, SchedulerConfig(...))
    rep.admit(seq, now)            # a request arrives; True if next_event_time() changed
    rep.next_event_time()          # when the work in flight ends (inf when idle)
    first, done = rep.advance(now) # at that time: apply it, start the next; sequences that got their
                                   # first token / finished at ``now``

Each engine iteration (vLLM V1 order): decoding sequences take one token each from the token budget;
sequences being prefilled take chunks of what is left (chunked prefill); waiting requests are admitted
FCFS while there is budget, a free sequence slot and KV blocks for their prompt (less any cached
prefix). When the next token of the decoding batch does not fit in KV, the most recently admitted
sequence is preempted and recomputed later (vLLM's recompute preemption). Between changes of batch
composition (only decoding, nothing admissible), the iterations up to the next completion are one *run*
advanced in closed form (:class:`~tokenfleet.sim.itertime.IterationTimes`); an arrival cuts the run at
the next iteration boundary. ``exact=True`` steps every iteration instead (the same results).

Part of the simulator core: ``replica.pxd`` gives the compiled twin its C types (see :mod:`tokenfleet.sim.core`);
imports within the core are relative so that the twin imports its own compiled modules.
"""

from __future__ import annotations

import math
from collections import deque
from heapq import heappop, heappush

from tokenfleet.perf import Deployment
from tokenfleet.sim.config import SchedulerConfig

from .itertime import IterationTimes, affine_sum, crossing, line_slope
from .kv import KvCache
from .seq import DECODE, DONE, PREFILL, WAITING, Seq
from .steptime import step_model

INF = float("inf")
UTIL_CTX_BUCKET = 256  # decode utilisation (energy only) is cached per batch size and 256-token mean context



class ReplicaStats:
    __slots__ = (
        "busy_s",
        "cached_tokens",
        "decode_tokens",
        "dyn_energy_j",
        "iterations",
        "max_kv_blocks",
        "preemptions",
        "prefill_tokens",
        "prompt_tokens",
        "runs",
    )

    def __init__(self) -> None:
        self.busy_s = self.dyn_energy_j = 0.0
        self.iterations = self.runs = self.preemptions = self.max_kv_blocks = 0
        self.prefill_tokens = self.decode_tokens = self.cached_tokens = self.prompt_tokens = 0


class Replica:
    __slots__ = (
        "_bs",
        "_chunked",
        "_chunks",
        "_exact",
        "_fin",
        "_it",
        "_lin",
        "_m",
        "_max_seqs",
        "_max_tokens",
        "_pblock",
        "_prefix",
        "_run_m",
        "_sig",
        "_slope",
        "_st",
        "_step_s",
        "_t0",
        "_tot",
        "_u",
        "_ucache",
        "bin_s",
        "bins",
        "busy_until",
        "cb",
        "cfg",
        "cnt",
        "comp_kv_use",
        "comp_step_s",
        "comp_version",
        "dep",
        "dyn_w",
        "iters",
        "kv",
        "n",
        "next_order",
        "pending_tokens",
        "prefilling",
        "rejected",
        "stats",
        "trace",
        "version",
        "waiting",
    )

    def __init__(self, dep: Deployment, cfg: SchedulerConfig, trace: bool = False) -> None:
        self.dep, self.cfg = dep, cfg
        self._st = step_model(dep)  # what ``step_time`` is asked of (the deployment, or its compiled mirror)
        bs = cfg.block_tokens
        self._max_seqs, self._max_tokens = cfg.max_seqs, cfg.max_batched_tokens
        self._chunked, self._prefix, self._pblock = cfg.chunked_prefill, cfg.prefix_caching, cfg.prefix_block_tokens
        self.kv = KvCache(dep.kv_capacity_tokens // bs, cfg.prefix_block_tokens // bs)
        self.waiting: deque[Seq] = deque()
        self.prefilling: list[Seq] = []
        self.n = 0  # decoding sequences
        self.cb = 0  # sum over decoding seqs of (kv_base - iter_base): context = cb + n * iters
        self.cnt = [0] * bs  # decoding seqs by (kv_base - iter_base) mod block size
        self._fin: list[tuple[int, int, Seq]] = []  # (finish iteration, order, seq), lazily deleted
        self.iters = 0
        self.next_order = 0
        # prompt tokens waiting or not yet prefilled (for TTFT prediction); a waiting prompt counts without
        # the prefix it found cached when it arrived (``seq.hint``), corrected to the real reuse on admission
        self.pending_tokens = 0
        self.rejected: list[Seq] = []  # prompts longer than the KV cache; the driver drains this list
        self.busy_until = INF
        self.version = 0
        self._t0 = 0.0
        self._m = 0
        self._bs = bs
        self._exact = cfg.exact
        # the run in flight while _m > 1: one affine piece (_lin: first iteration _step_s, _slope, total
        # time _tot of its _run_m iterations), else piecewise (_it)
        self._it: IterationTimes | None = None
        self._lin = False
        self._slope = 0.0
        self._tot = 0.0
        self._run_m = 0
        self._chunks: list[tuple[Seq, int]] = []
        self._u = 0.0
        self._step_s = 0.0
        self._ucache: dict[tuple[int, int], float] = {}
        # state published to routing, refreshed only when the batch composition changes, so that it is the
        # same whether iterations are stepped one by one (exact) or advanced in runs. The composition
        # signature is the decoding count of a decode-only (or idle) batch; -1 after an iteration with
        # prefill chunks, which always publishes
        self._sig = 0
        self.comp_step_s = 0.0
        self.comp_kv_use = 0.0
        self.comp_version = 0
        self.dyn_w = dep.peak_power_w - dep.idle_power_w
        self.stats = ReplicaStats()
        self.trace: list[tuple[float, float, int, int, int]] | None = [] if trace else None
        self.bin_s = 0.0  # > 0: accumulate dynamic energy (J) per time bin in ``bins`` (peak power)
        self.bins: dict[int, float] = {}

    # ---- queries ------------------------------------------------------------------------------------
    def next_event_time(self) -> float:
        return self.busy_until

    @property
    def running(self) -> int:
        return self.n + len(self.prefilling)

    @property
    def in_flight(self) -> int:
        return self.n + len(self.prefilling) + len(self.waiting)

    @property
    def kv_use_frac(self) -> float:
        kv = self.kv
        return (kv.capacity_blocks - kv.available) / kv.capacity_blocks if kv.capacity_blocks else 1.0

    def last_step_s(self) -> float:
        """First iteration time of the current batch composition (0 when idle): time per output token."""
        return self.comp_step_s

    def share_cache(self, utilisation: dict[tuple[int, int], float]) -> None:
        """Use ``utilisation`` as the cache of step utilisation (energy) figures: replicas of one deployment
        may share one (its figures depend on the deployment and the batch only)."""
        utilisation.update(self._ucache)
        self._ucache = utilisation

    def _published(self, step_s: float, chunked: bool) -> None:
        sig = -1 if chunked else self.n
        if sig != self._sig or chunked:
            self._sig = sig
            self.comp_step_s = step_s
            self.comp_kv_use = self.kv_use_frac
            self.comp_version += 1

    # ---- arrivals -----------------------------------------------------------------------------------
    def admit(self, seq: Seq, now: float) -> bool:
        """Queue ``seq`` (arrived at ``now``). True when the next event time changed."""
        waiting = self.waiting
        was_empty = not waiting
        seq.state = WAITING
        waiting.append(seq)
        if not seq.prefilled:
            hint = 0
            if seq.hashes and self._prefix:
                b = self._pblock
                hint = self.kv.match(seq.hashes, min(len(seq.hashes), (seq.prompt - 1) // b)) * b
            seq.hint = hint
            self.pending_tokens += seq.prompt - hint
        if self.busy_until == INF:
            self._schedule(now)
            return True
        m = self._m
        if m <= 1 or not was_empty or self.n + len(self.prefilling) >= self._max_seqs:
            return False
        dt = now - self._t0  # cut the run at the first iteration boundary at or after now
        if self._lin:
            if self._tot <= dt:
                return False  # the run ends first
            j = 1 if dt <= 0.0 else max(1, min(crossing(self._step_s, self._slope, dt), self._run_m))
            if j >= m:
                return False
            run_s = affine_sum(self._step_s, self._slope, j)
        else:
            it = self._it
            assert it is not None
            j = max(1, it.boundary_at_or_after(dt))
            if j >= m:
                return False
            run_s = it.total(j)
        self._m = j
        self._set_busy(self._t0 + run_s)
        return True

    def _set_busy(self, t: float) -> None:
        self.busy_until = t
        self.version += 1

    # ---- the end of the work in flight --------------------------------------------------------------
    def advance(self, now: float) -> tuple[list[Seq], list[Seq]]:
        """Apply the iterations that end at ``now`` and start the next ones."""
        first: list[Seq] = []
        done: list[Seq] = []
        m, st, t0, n = self._m, self.stats, self._t0, self.n
        dt = now - t0
        st.busy_s += dt
        e = self._u * self.dyn_w * dt
        st.dyn_energy_j += e
        if e > 0 and self.bin_s > 0:
            w = self.bin_s
            b0 = math.floor(t0 / w)
            if b0 == math.floor(now / w):
                self.bins[b0] = self.bins.get(b0, 0.0) + e
            else:
                self._bin_energy(t0, now, e)
        st.iterations += m
        st.runs += 1
        if self.trace is not None:
            ptoks = 0
            for _, c in self._chunks:
                ptoks += c
            self.trace.append((t0, dt, m, n, ptoks))
        kv = self.kv
        if n:
            need = self._blocks_needed(m)
            if need <= kv.free:
                kv.free -= need
            else:
                ok = kv.allocate(need)
                assert ok, "decode growth was checked when the run started"
            st.decode_tokens += m * n
        iters = self.iters + m
        self.iters = iters
        chunks = self._chunks
        if chunks:
            prefilling = self.prefilling
            for seq, chunk in chunks:
                seq.done += chunk
                st.prefill_tokens += chunk
                if seq.done >= seq.prompt:
                    prefilling.remove(seq)
                    self._prefill_complete(seq, now, first, done)
            self._chunks = []
        fin = self._fin
        while fin and fin[0][0] <= iters:
            seq = heappop(fin)[2]
            if seq.state != DECODE:
                continue
            seq.gen = seq.out_total
            self._leave_decode(seq)
            self._release(seq)
            seq.state = DONE
            done.append(seq)
        used = kv.capacity_blocks - kv.free
        if used > st.max_kv_blocks:
            st.max_kv_blocks = used
        self._schedule(now)
        return first, done

    def _bin_energy(self, t0: float, t1: float, e: float) -> None:
        w, bins = self.bin_s, self.bins
        b0, b1 = math.floor(t0 / w), math.floor(t1 / w)
        if b0 == b1:
            bins[b0] = bins.get(b0, 0.0) + e
            return
        p = e / (t1 - t0)
        for b in range(b0, b1 + 1):
            lo, hi = max(t0, b * w), min(t1, (b + 1) * w)
            if hi > lo:
                bins[b] = bins.get(b, 0.0) + p * (hi - lo)

    def _prefill_complete(self, seq: Seq, now: float, first: list[Seq], done: list[Seq]) -> None:
        if self._prefix and seq.hashes:
            full = min(len(seq.hashes), seq.prompt_tokens // self._pblock)
            new = seq.hashes[len(seq.refs) : full]
            if new:
                seq.private -= self.kv.insert(new)
                seq.refs = seq.refs + new
        seq.gen += 1
        if seq.first_token_s < 0:
            seq.first_token_s = now
            first.append(seq)
        if seq.gen >= seq.out_total:
            self._release(seq)
            seq.state = DONE
            done.append(seq)
        else:
            self._enter_decode(seq, seq.prompt)

    # ---- decode-set bookkeeping ---------------------------------------------------------------------
    def _enter_decode(self, seq: Seq, kv_tokens: int) -> None:
        iters = self.iters
        seq.state = DECODE
        seq.kv_base = kv_tokens
        seq.iter_base = iters
        key = (kv_tokens - iters) % self._bs
        seq.key = key
        self.cnt[key] += 1
        self.n += 1
        self.cb += kv_tokens - iters
        heappush(self._fin, (iters + seq.out_total - seq.gen, seq.order, seq))

    def _leave_decode(self, seq: Seq) -> None:
        bs = self._bs
        kv_now = seq.kv_base + self.iters - seq.iter_base
        seq.private += -(-kv_now // bs) - (-(-seq.kv_base // bs))  # blocks its decode growth took
        self.cnt[seq.key] -= 1
        self.n -= 1
        self.cb -= seq.kv_base - seq.iter_base

    def _release(self, seq: Seq) -> None:
        self.kv.free += seq.private  # KvCache.release
        seq.private = 0
        if seq.refs:
            self.kv.unpin(seq.refs)
            seq.refs = ()

    def _blocks_needed(self, j: int) -> int:
        """New KV blocks the decoding batch needs over its next ``j`` iterations."""
        bs = self._bs
        cycles, rest = divmod(j, bs)
        if not rest:
            return cycles * self.n
        cnt = self.cnt
        r0 = (-self.iters) % bs  # seqs with key r0 need a block now, then key r0 - 1, ...
        lo = r0 - rest + 1
        part = sum(cnt[lo : r0 + 1]) if lo >= 0 else sum(cnt[: r0 + 1]) + sum(cnt[bs + lo :])
        return cycles * self.n + part

    def _iters_that_fit(self, limit: int, avail: int) -> int:
        """Largest j <= limit whose KV growth fits in ``avail`` blocks."""
        if self.n == 0 or self.n * (limit // self._bs + 1) <= avail:
            return limit
        if self._blocks_needed(limit) <= avail:
            return limit
        lo, hi = 0, limit  # growth(lo) fits, growth(hi) does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._blocks_needed(mid) <= avail:
                lo = mid
            else:
                hi = mid
        return lo

    # ---- scheduling ---------------------------------------------------------------------------------
    def _preempt_one(self) -> None:
        """Preempt the most recently admitted running sequence (vLLM's recompute preemption)."""
        victim: Seq | None = None
        for s in self.prefilling:
            if victim is None or s.order > victim.order:
                victim = s
        if self.n:
            dec: Seq | None = None
            for entry in self._fin:
                s = entry[2]
                if s.state == DECODE and (dec is None or s.order > dec.order):
                    dec = s
            if dec is not None and (victim is None or dec.order > victim.order):
                victim = dec
        assert victim is not None
        if victim.state == DECODE:
            victim.gen += self.iters - victim.iter_base
            self._leave_decode(victim)
        else:
            self.prefilling.remove(victim)
            self.pending_tokens -= victim.prompt - victim.done
        self._release(victim)
        victim.prompt = victim.prompt_tokens + victim.gen  # recompute what it had
        victim.done = 0
        victim.prefilled = False
        victim.preemptions += 1
        victim.state = WAITING
        self.pending_tokens += victim.prompt
        victim.hint = 0
        self.waiting.appendleft(victim)
        self.stats.preemptions += 1

    def _try_admit(self, seq: Seq, reserve: int) -> bool:
        kv = self.kv
        bs = self._bs
        k = 0
        prefilled = seq.prefilled
        hashes = seq.hashes if self._prefix and not prefilled else ()
        if hashes:
            k = kv.match(hashes, min(len(hashes), (seq.prompt - 1) // self._pblock))
        blocks = -(-seq.prompt // bs) - k * kv.blocks_per_prefix
        pinned = kv.pinned_if_matched(hashes, k) if k else 0
        own = 1 if prefilled and seq.prompt % bs == 0 else 0  # its first decode step needs a block
        if kv.free + len(kv.evictable) * kv.blocks_per_prefix - pinned < blocks + reserve + own:  # available
            return False
        if k:
            kv.pin(hashes[:k])
        if blocks <= kv.free:  # KvCache.allocate without eviction
            kv.free -= blocks
        else:
            kv.allocate(blocks)
        seq.refs = hashes[:k]
        seq.private = blocks
        seq.cached = k * self._pblock
        seq.order = self.next_order
        self.next_order += 1
        if seq.admitted_s < 0:
            seq.admitted_s = -2.0  # marked; the caller stamps the time
        if prefilled:
            self._enter_decode(seq, seq.prompt)
        else:
            seq.done = seq.cached
            seq.total_cached += seq.cached
            self.stats.cached_tokens += seq.cached
            self.stats.prompt_tokens += seq.prompt
            self.pending_tokens -= seq.cached - seq.hint
            seq.hint = 0
            seq.state = PREFILL
            self.prefilling.append(seq)
        return True

    def _schedule(self, now: float) -> None:
        kv = self.kv
        bs = self._bs
        n = self.n
        if n:
            while self.n and self.cnt[(-self.iters) % bs] > kv.free + len(kv.evictable) * kv.blocks_per_prefix:
                self._preempt_one()
            n = self.n
        prefilling, waiting = self.prefilling, self.waiting
        if waiting:
            reserve = self.cnt[(-self.iters) % bs] if n else 0
            budget = self._max_tokens - n
            for s in prefilling:
                budget -= s.prompt - s.done
            while waiting and budget > 0 and self.n + len(prefilling) < self._max_seqs:
                seq = waiting[0]
                if not self._try_admit(seq, reserve):
                    if not self.n and not prefilling and -(-seq.prompt // bs) > kv.capacity_blocks:
                        waiting.popleft()  # longer than the whole KV cache: it can never run here
                        self.pending_tokens -= seq.prompt - seq.hint
                        seq.state = DONE
                        self.rejected.append(seq)
                        continue
                    break
                waiting.popleft()
                if seq.admitted_s == -2.0:
                    seq.admitted_s = now
                budget -= seq.prompt - seq.done if seq.state == PREFILL else 1
                if self.n != n:
                    n = self.n
                    reserve = self.cnt[(-self.iters) % bs]
        self._t0 = now
        st = self._st
        ctx0 = self.cb + n * self.iters
        if prefilling:  # an iteration with prefill chunks, in admission order
            budget = self._max_tokens - n
            chunks: list[tuple[Seq, int]] = []
            ptoks, pairs = 0, 0.0
            for seq in prefilling:
                if budget <= 0:
                    break
                rem = seq.prompt - seq.done
                if rem > budget and not self._chunked and chunks:
                    break
                c = min(rem, budget) if self._chunked else rem
                chunks.append((seq, c))
                ptoks += c
                pairs += c * (seq.done + c * 0.5)
                budget -= c
            self.pending_tokens -= ptoks
            self._chunks = chunks
            t = st.step_time(ptoks, n, ctx0, pairs)
            key = (-1 - (ptoks >> 6), n >> 2)  # energy only: utilisation cached per 64 prefill tokens, 4 seqs
            u = self._ucache.get(key)
            if u is None:
                u = self.dep.step(ptoks, n, ctx0, pairs).utilisation
                self._ucache[key] = u
            self._u = u
            self._m = 1
            self._it = None
            self._step_s = t
            self.busy_until = now + t
            self.version += 1
            self._sig = -1
            self.comp_step_s = t
            self.comp_kv_use = 1.0 - (kv.free + len(kv.evictable) * kv.blocks_per_prefix) / kv.capacity_blocks
            self.comp_version += 1
            return
        if n == 0:
            self._it = None
            self._m = 0
            self._set_busy(INF)
            self._published(0.0, False)
            return
        fin = self._fin
        while fin[0][2].state != DECODE:  # drop entries of preempted sequences
            heappop(fin)
        m = 1 if self._exact else max(fin[0][0] - self.iters, 1)
        avail = kv.free + len(kv.evictable) * kv.blocks_per_prefix
        if n * (m // bs + 1) > avail:
            m = self._iters_that_fit(m, avail)
        f0 = st.step_time(0, n, ctx0, -1.0)
        key = (n, ctx0 // (n * UTIL_CTX_BUCKET))  # utilisation varies slowly with context: cache it
        u = self._ucache.get(key)
        if u is None:
            u = self.dep.step(0, n, ctx0).utilisation
            self._ucache[key] = u
        self._u = u
        self._m = m
        self._step_s = f0
        if n != self._sig:
            self._sig = n
            self.comp_step_s = f0
            self.comp_kv_use = 1.0 - avail / kv.capacity_blocks
            self.comp_version += 1
        if m == 1:
            self.busy_until = now + f0
        else:  # a run of m iterations: one affine piece (the common case) or several
            fb = st.step_time(0, n, ctx0 + (m - 1) * n, -1.0)
            slope = line_slope(f0, fb, st.step_time(0, n, ctx0 + (m - 1) // 2 * n, -1.0) if m > 2 else fb, m)
            if slope == slope:
                self._lin = True
                self._slope = slope
                self._run_m = m
                tot = affine_sum(f0, slope, m)
                self._tot = tot
                self.busy_until = now + tot
            else:
                self._lin = False
                it = self._pieces(n, ctx0, m, f0)
                self._it = it
                self.busy_until = now + it.total(m)
        self.version += 1

    def _pieces(self, n: int, ctx0: int, m: int, f0: float) -> IterationTimes:
        st = self._st
        return IterationTimes(lambda k: st.step_time(0, n, ctx0 + k * n, -1.0), m, f0)


__all__ = ["Replica", "ReplicaStats", "SchedulerConfig"]
