"""The simulator's event loop: arrivals -> routing -> replicas -> completed rows, on a heap with a simulated clock.

The heap holds at most one live entry per replica (its next event time, tagged with the replica's version so
superseded entries are skipped) and the KV hand-offs of disaggregated requests; entries are ordered by
``(time, sequence number)``, unique keys, so the order never depends on the heap's layout. Arrivals are not
queued: they come in column chunks (:class:`Arrivals`), in time order, and interleave with the heap (an
event at the arrival's time goes first). Routing uses the profile's incremental index where one reproduces
it (:mod:`tokenfleet.routing.fast`) and asks the host (:class:`~tokenfleet.sim.engine.Simulation`) otherwise.
Completed requests are rows (:data:`tokenfleet.sim.metrics.COLUMNS`), handed to the host every :data:`FLUSH`
rows.

Part of the simulator core: ``loop.pxd`` gives the compiled twin its C types (see :mod:`tokenfleet.sim.core`).
"""

from __future__ import annotations

from collections.abc import Iterable
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

import numpy as np

from tokenfleet.sim.metrics import COLUMNS

from .replica import Replica
from .seq import NO_HASHES, Seq, new_seq

try:
    import cython

    COMPILED = bool(cython.compiled)
except ImportError:  # pure Python without Cython installed
    COMPILED = False

if TYPE_CHECKING:
    from tokenfleet.sim.arrivals import Arrivals

INF = float("inf")
FLUSH = 65536
Row = tuple[int, int, int, int, float, float, float, float, int, int, int, int]  # metrics.COLUMNS, in order
INT_COLS = [i for i, c in enumerate(COLUMNS) if not c.endswith("_s")]
FLOAT_COLS = [i for i, c in enumerate(COLUMNS) if c.endswith("_s")]


class EventLoop:
    """One run over the replicas of ``host`` (read once here: replicas, pools, routing tables, indexes).

    Two structures differ between the cores, each keeping the same contents: the event heap (``heapq`` of
    tuples in pure Python; compiled, a binary heap in typed arrays, :meth:`_hpush` / :meth:`_hpop`) and the
    completed rows (tuples; compiled, typed columns). Keys ``(time, sequence number)`` are unique, so both
    heaps pop the same events in the same order."""

    __slots__ = (
        "_buf",
        "_counter",
        "_decode_fast",
        "_decode_rows",
        "_entry_fast",
        "_entry_row",
        "_entry_rows",
        "_fast",
        "_flts",
        "_handoffs",
        "_hc",
        "_heap",
        "_hn",
        "_host",
        "_hr",
        "_ht",
        "_hv",
        "_ints",
        "_inv_rate",
        "_kv_bpt",
        "_link_bps",
        "_link_s",
        "_models",
        "_n",
        "_overhead",
        "_pc",
        "_pr",
        "_prefill_only",
        "_pt",
        "_publish",
        "_pv",
        "_rep_pool",
        "_reps",
        "_row",
        "_table",
        "_view",
        "done",
        "handed",
        "handed_tokens",
        "t_now",
    )

    def __init__(self, host: Any) -> None:
        self._host = host
        self._reps: list[Replica] = host.replicas
        self._rep_pool: list[int] = host.rep_pool
        self._prefill_only: list[bool] = host.prefill_only
        self._entry_rows: list[int] = host.entry_rows
        self._decode_rows: list[int] = host.decode_rows
        self._entry_fast, self._decode_fast = host.entry_fast, host.decode_fast
        self._models: list[str] = [info[1] for info in host.infos]
        self._view = host.prefix_view
        self._link_s, self._link_bps = host.link_s, host.link_bps
        self._kv_bpt: list[float] = [p.kv_bytes_per_token for p in host.pools]
        # per replica: where its state is published (table, row, index or None; what: 0 nothing, 1 the
        # index's in-flight count, 2 the table row, 3 the table row and prefill queue) and the figures its
        # predicted TTFT is made of
        n = len(self._reps)
        self._table: list[Any] = [None] * n
        self._row: list[int] = [0] * n
        self._fast: list[Any] = [None] * n
        self._publish: list[int] = [0] * n
        self._entry_row: list[int] = [-1] * n
        for rep_i, (t, r, fast, what) in enumerate(host.publish_to):
            self._table[rep_i], self._row[rep_i], self._fast[rep_i], self._publish[rep_i] = t, r, fast, what
        for r, rep_i in enumerate(self._entry_rows):
            self._entry_row[rep_i] = r
        self._inv_rate: list[float] = host.inv_rate
        self._overhead: list[float] = host.overhead
        self._counter = 0
        self._handoffs: dict[int, Seq] = {}  # KV hand-offs in flight, by sequence number
        self._heap: list[tuple[float, int, int, int]] = []  # (time, sequence number, replica, its version)
        cap = 2 * n + 16 if COMPILED else 0
        self._ht, self._hc = np.empty(cap, np.float64), np.empty(cap, np.int64)
        self._hr, self._hv = np.empty(cap, np.int64), np.empty(cap, np.int64)
        self._hn = 0
        self._pt, self._pc, self._pr, self._pv = 0.0, 0, 0, 0
        # completed rows: tuples in pure Python; compiled, straight into typed columns (ints, floats)
        self._buf: list[Row] = []
        self._ints = np.empty((len(INT_COLS), FLUSH if COMPILED else 0), np.int64)
        self._flts = np.empty((len(FLOAT_COLS), FLUSH if COMPILED else 0), np.float64)
        self._n = 0
        self.done = 0
        self.t_now = 0.0
        # per pool: requests (and their output tokens) a prefill pool prefilled and handed to a decode pool
        self.handed: list[int] = [0] * len(host.pools)
        self.handed_tokens: list[int] = [0] * len(host.pools)

    # ---- the run ------------------------------------------------------------------------------------
    def run(self, chunks: Iterable[Arrivals]) -> float:
        """Simulate every arrival of ``chunks`` and everything after it; returns the time of the last event."""
        for ch in chunks:
            arr, pt, ot, cls, hs = ch.arrival_s, ch.prompt_tokens, ch.output_tokens, ch.class_idx, ch.hashes
            ids, rid = ch.request_id, ch.first_id
            for i in range(len(arr)):
                t = arr[i]
                self._events_until(t)
                self.t_now = t
                self._arrive(rid + i if ids is None else ids[i], t, pt[i], ot[i], cls[i],
                             NO_HASHES if hs is None else hs[i])
        self._events_until(INF)
        self._flush()
        for rep_i in range(len(self._reps)):  # every table row as the generic path leaves it
            self._write_row(rep_i, self._publish[rep_i] == 3)
        return self.t_now

    def _push(self, t: float, rep_i: int, version: int) -> int:
        """Queue an event at ``t`` for replica ``rep_i`` (-1: a KV hand-off); returns its sequence number."""
        self._counter += 1
        if COMPILED:
            self._hpush(t, self._counter, rep_i, version)
        else:
            heappush(self._heap, (t, self._counter, rep_i, version))
        return self._counter

    def _events_until(self, t: float) -> None:
        """Process every event due at or before ``t``."""
        reps, heap = self._reps, self._heap
        while True:
            if COMPILED:
                if not self._hn or self._ht[0] > t:
                    return
                self._hpop()
                t_now, seqno, rep_i, ver = self._pt, self._pc, self._pr, self._pv
            else:
                if not heap or heap[0][0] > t:
                    return
                t_now, seqno, rep_i, ver = heappop(heap)
            self.t_now = t_now
            if rep_i < 0:  # a KV hand-off reaches the decode pool
                self._handoff(self._handoffs.pop(seqno), t_now)
                continue
            rep = reps[rep_i]
            if ver != rep.version:
                continue
            cv = rep.comp_version
            first, done = rep.advance(t_now)
            if first and self._view is not None and self._entry_row[rep_i] >= 0:
                r_i = self._entry_row[rep_i]
                for fs in first:
                    if fs.hashes and not fs.prefilled:
                        self._view.remove(r_i, fs)
            if done:
                self._finish(rep_i, done, t_now)
            if rep.rejected:
                self._host.reject(rep_i)
            if rep.busy_until < INF:
                self._push(rep.busy_until, rep_i, rep.version)
            if rep.comp_version != cv:
                self._sync(rep_i)

    def _arrive(self, rid: int, t: float, prompt: int, output: int, ci: int, hashes: tuple[int, ...]) -> None:
        fast = self._entry_fast
        row = fast.pick_row(self._models[ci]) if fast is not None else -1
        seq = new_seq(rid, t, prompt, output, hashes, ci, output)
        if row < 0:
            row = self._host.route_entry(seq)
        rep_i = self._entry_rows[row]
        rep = self._reps[rep_i]
        if self._prefill_only[rep_i]:
            seq.out_total = 1
        if self._view is not None and hashes:
            self._view.add(row, seq)
        if rep.admit(seq, t) and rep.busy_until < INF:
            self._push(rep.busy_until, rep_i, rep.version)
        if rep.rejected:
            self._host.reject(rep_i)
        self._sync(rep_i)

    def _handoff(self, seq: Seq, t: float) -> None:
        """A prefilled request's KV reaches the decode pool: route it there."""
        fast = self._decode_fast
        row = fast.pick_row(self._models[seq.class_idx]) if fast is not None else -1
        if row < 0:
            row = self._host.route_decode(seq)
        rep_i = self._decode_rows[row]
        rep = self._reps[rep_i]
        if rep.admit(seq, t) and rep.busy_until < INF:
            self._push(rep.busy_until, rep_i, rep.version)
        if rep.rejected:
            self._host.reject(rep_i)
        self._sync(rep_i)

    def _finish(self, rep_i: int, seqs: list[Seq], now: float) -> None:
        pool_i = self._rep_pool[rep_i]
        for s in seqs:
            if self._prefill_only[rep_i] and s.output_tokens > 1:  # send the KV to the decode pool
                self.handed[pool_i] += 1  # it completes in (and is counted by) the decode pool
                self.handed_tokens[pool_i] += s.output_tokens
                d = new_seq(s.request_id, s.arrival_s, s.prompt_tokens, s.output_tokens, s.hashes, s.class_idx,
                            s.output_tokens)
                d.prefilled, d.gen, d.first_token_s = True, 1, s.first_token_s
                d.user = (s.admitted_s, s.total_cached, s.preemptions)
                arrive = now + self._link_s + s.prompt_tokens * self._kv_bpt[pool_i] / self._link_bps
                self._handoffs[self._push(arrive, -1, 0)] = d
                continue
            user = s.user
            if user is None:
                adm, cached, pre = s.admitted_s, s.total_cached, 0
            else:  # decoded after a hand-off: what the prefill replica saw
                adm, cached, pre = user  # type: ignore[misc]
            if COMPILED:
                n = self._n
                self._ints[0, n] = s.request_id
                self._ints[1, n] = s.class_idx
                self._ints[2, n] = pool_i
                self._ints[3, n] = rep_i
                self._ints[4, n] = s.prompt_tokens
                self._ints[5, n] = s.output_tokens
                self._ints[6, n] = cached
                self._ints[7, n] = s.preemptions + pre
                self._flts[0, n] = s.arrival_s
                self._flts[1, n] = adm
                self._flts[2, n] = s.first_token_s
                self._flts[3, n] = now
                self._n = n + 1
            else:
                self._buf.append((s.request_id, s.class_idx, pool_i, rep_i, s.arrival_s, adm, s.first_token_s, now,
                                  s.prompt_tokens, s.output_tokens, cached, s.preemptions + pre))
                self._n += 1
            if self._n >= FLUSH:
                self._flush()

    def _flush(self) -> None:
        """Hand the completed rows to the host as columns (:data:`~tokenfleet.sim.metrics.COLUMNS`)."""
        n = self._n
        if not n:
            return
        cols: dict[str, np.ndarray] = {}
        if COMPILED:
            for j in range(len(INT_COLS)):
                cols[COLUMNS[INT_COLS[j]]] = np.array(self._ints[j, :n])
            for j in range(len(FLOAT_COLS)):
                cols[COLUMNS[FLOAT_COLS[j]]] = np.array(self._flts[j, :n])
        else:
            for k, v in zip(COLUMNS, zip(*self._buf, strict=True), strict=True):
                cols[k] = np.array(v, dtype=np.float64 if k.endswith("_s") else np.int64)
            self._buf = []
        self._n = 0
        self.done += n
        self._host.flush(cols, n)

    def _sync(self, rep_i: int) -> None:
        """Publish replica ``rep_i``'s state where its routing reads it: the index's in-flight count (the one
        figure a least-outstanding decision reads), or the table row."""
        publish = self._publish[rep_i]
        if not publish:
            return
        rep = self._reps[rep_i]
        r = self._row[rep_i]
        queued = len(rep.waiting)
        running = rep.n + len(rep.prefilling)
        if publish == 1:
            fast = self._fast[rep_i]
            if fast.counts[r] != running + queued:
                fast.set(r, running + queued)
            return
        self._write_row(rep_i, publish == 3)

    def _write_row(self, rep_i: int, prefill: bool) -> None:
        """Write replica ``rep_i``'s state to its table row (``prefill``: the prefill-queue columns too)."""
        rep = self._reps[rep_i]
        r = self._row[rep_i]
        queued = len(rep.waiting)
        running = rep.n + len(rep.prefilling)
        t = self._table[rep_i]
        step = rep.comp_step_s
        overhead = self._overhead[rep_i]
        t.in_flight[r] = running + queued
        t.queued[r] = queued
        t.running_seqs[r] = running
        t.kv_use_frac[r] = rep.comp_kv_use
        t.predicted_tpot_s[r] = step
        t.predicted_ttft_s[r] = rep.pending_tokens * self._inv_rate[rep_i] + step + overhead
        if prefill:
            rate = self._host.prefill_rate(rep_i, rep)
            t.waiting_prefill_tokens[r] = rep.pending_tokens
            t.batch_prefill_tok_per_s[r] = rate
            t.prefill_wait_s[r] = rep.pending_tokens / rate + step + overhead

    # ---- the compiled core's event heap: keys (time, sequence number) in typed arrays -------------------
    def _hpush(self, t: float, c: int, r: int, v: int) -> None:
        n = self._hn
        if n == self._ht.shape[0]:
            self._hgrow()
        i = n
        while i > 0:  # sift up
            p = (i - 1) >> 1
            if self._ht[p] < t or (self._ht[p] == t and self._hc[p] < c):
                break
            self._ht[i], self._hc[i], self._hr[i], self._hv[i] = self._ht[p], self._hc[p], self._hr[p], self._hv[p]
            i = p
        self._ht[i], self._hc[i], self._hr[i], self._hv[i] = t, c, r, v
        self._hn = n + 1

    def _hpop(self) -> None:
        """Remove the first event into ``_pt``, ``_pc``, ``_pr``, ``_pv``."""
        self._pt, self._pc, self._pr, self._pv = self._ht[0], self._hc[0], self._hr[0], self._hv[0]
        n = self._hn - 1
        self._hn = n
        if not n:
            return
        t, c, r, v = self._ht[n], self._hc[n], self._hr[n], self._hv[n]
        i = 0
        while True:  # sift the last entry down from the root
            k = 2 * i + 1
            if k >= n:
                break
            if k + 1 < n and (self._ht[k + 1] < self._ht[k] or (self._ht[k + 1] == self._ht[k]
                                                                 and self._hc[k + 1] < self._hc[k])):
                k += 1
            if t < self._ht[k] or (t == self._ht[k] and c < self._hc[k]):
                break
            self._ht[i], self._hc[i], self._hr[i], self._hv[i] = self._ht[k], self._hc[k], self._hr[k], self._hv[k]
            i = k
        self._ht[i], self._hc[i], self._hr[i], self._hv[i] = t, c, r, v

    def _hgrow(self) -> None:
        n = self._hn
        self._ht = np.concatenate([np.asarray(self._ht[:n]), np.empty(n, np.float64)])
        self._hc = np.concatenate([np.asarray(self._hc[:n]), np.empty(n, np.int64)])
        self._hr = np.concatenate([np.asarray(self._hr[:n]), np.empty(n, np.int64)])
        self._hv = np.concatenate([np.asarray(self._hv[:n]), np.empty(n, np.int64)])


__all__ = ["FLUSH", "EventLoop"]
