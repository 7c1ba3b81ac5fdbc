"""The fleet simulation: arrivals -> router -> replicas, on a heap-based event core with a simulated clock.

The event queue holds at most one live entry per replica (its :meth:`Replica.next_event_time`, tagged
with the replica's version so superseded entries are skipped) and the KV hand-offs of disaggregated
requests. Arrivals are not queued: they stream in time order from the workload and are interleaved with
the heap. Completed requests go out in column chunks to the metrics collector and to any sinks.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from tokenfleet.routing import EndpointTable, Profile, RequestInfo, build_profile
from tokenfleet.routing.fast import LeastOutstandingIndex
from tokenfleet.routing.prefix_aware import uses_prefix
from tokenfleet.scenario import Scenario
from tokenfleet.sim.fleet import Pool, build_pools
from tokenfleet.sim.metrics import COLUMNS, Collector, Group
from tokenfleet.sim.prefix_view import ReplicaPrefixView
from tokenfleet.sim.replica import INF, Replica
from tokenfleet.sim.seq import Seq
from tokenfleet.sim.workloads import scenario_requests
from tokenfleet.workload import Request

FLUSH = 65536
RowState = tuple[int, int, int, float, float, float]  # in flight, queued, running, KV use, TPOT s, TTFT s


class Sink(Protocol):
    def write(self, cols: dict[str, np.ndarray], derived: dict[str, np.ndarray]) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class SimResult:
    scenario: Scenario
    pools: list[Pool]
    replicas: list[Replica]
    collector: Collector
    period_s: float
    requests: int
    wall_s: float = 0.0
    rejected: int = 0  # requests longer than a replica's whole KV cache
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # per request, when kept
    # per pool: (requests, their output tokens) a prefill pool prefilled and handed to a decode pool; such a
    # request completes in (and is counted by) the decode pool
    handed_off: list[tuple[int, int]] = field(default_factory=list)


class Simulation:
    """Build once from a scenario, then :meth:`run`. ``requests`` overrides the scenario's workload."""

    def __init__(
        self,
        sc: Scenario,
        base_dir: Path | str = ".",
        *,
        exact: bool | None = None,
        keep_requests: bool = True,
        sinks: Iterable[Sink] = (),
        trace: bool = False,
        requests: Iterable[Request] | None = None,
    ) -> None:
        self.sc = sc
        self.base_dir = Path(base_dir)
        self.exact = sc.sim.exact if exact is None else exact
        self.keep = keep_requests
        self.sinks = list(sinks)
        self.pools = build_pools(sc, self.exact)
        self.class_names = [c.name for c in sc.traffic]
        self.class_idx = {c.name: i for i, c in enumerate(sc.traffic)}
        self.replicas: list[Replica] = []
        self.rep_pool: list[int] = []
        for p in self.pools:
            for _ in range(p.replicas):
                r = Replica(p.dep, p.cfg, trace=trace)
                r.bin_s = sc.sim.power_bin_s
                self.replicas.append(r)
                self.rep_pool.append(p.idx)
        d = sc.disaggregation
        decode_pools = set(d.decode_pools) if d else set()
        self.entry_rows = [i for i, pi in enumerate(self.rep_pool) if self.pools[pi].name not in decode_pools]
        self.decode_rows = [i for i, pi in enumerate(self.rep_pool) if self.pools[pi].name in decode_pools]
        self.entry_rows_set = set(self.entry_rows)
        self.entry_table, self.entry_profile = self._table(self.entry_rows, 0)
        self.decode_table, self.decode_profile = self._table(self.decode_rows, 1)
        self.prefix_view: ReplicaPrefixView | None = None  # only for policies that ask about prefixes
        if uses_prefix(self.entry_profile) and any(self.replicas[i].cfg.prefix_caching for i in self.entry_rows):
            self.prefix_view = ReplicaPrefixView([self.replicas[i] for i in self.entry_rows])
            self.entry_table.prefix_index = self.prefix_view
        # prefill rate beside a running batch, per pool, cached by (decoding seqs, 1k-token mean context)
        self._batch_rate: list[dict[tuple[int, int], float]] = [{} for _ in self.pools]
        self.row_in: dict[int, tuple[EndpointTable, int]] = {}
        for t, rows in ((self.entry_table, self.entry_rows), (self.decode_table, self.decode_rows)):
            for r_i, rep_i in enumerate(rows):
                self.row_in[rep_i] = (t, r_i)
        self._inv_rate = [1.0 / self.pools[pi].prefill_tok_per_s for pi in self.rep_pool]
        self._overhead = [self.pools[pi].dep.params.request_overhead_s for pi in self.rep_pool]
        # least-outstanding routing is decided incrementally (the same rows, see routing.fast); the table
        # behind such an index gets the rows' published state only when a decision needs it (_pending)
        self.entry_fast = self._fast(self.entry_profile, self.entry_table)
        self.decode_fast = self._fast(self.decode_profile, self.decode_table)
        self._pending: dict[int, dict[int, RowState]] = {id(self.entry_table): {}, id(self.decode_table): {}}
        self._sync_to: list[tuple[EndpointTable, int, LeastOutstandingIndex | None, float, float, dict[int, RowState]]]
        self._sync_to = []
        for rep_i in range(len(self.replicas)):
            t, r_i = self.row_in[rep_i]
            fast = self.entry_fast if t is self.entry_table else self.decode_fast
            self._sync_to.append((t, r_i, fast, self._inv_rate[rep_i], self._overhead[rep_i], self._pending[id(t)]))
        self._prefill_only = [self.pools[pi].role == "prefill" for pi in self.rep_pool]
        self.link_bps = (d.link_gbps * 1e9) if d else 0.0
        self.link_s = (d.link_latency_ms / 1e3) if d else 0.0
        self.infos = [(c.name, c.model, c.slo.ttft_p99_ms, c.slo.tpot_target_ms, c.tier) for c in sc.traffic]
        self._requests = requests
        self.rejected = 0
        classes = [
            Group(c.name, (c.slo.ttft_p99_ms or math.inf) / 1e3, (c.slo.tpot_target_ms or math.inf) / 1e3)
            for c in sc.traffic
        ]
        self.collector = Collector(
            classes,
            [Group(p.name) for p in self.pools],
            np.array([p.dep.params.request_overhead_s for p in self.pools]),
            self.keep,
        )

    def _table(self, rows: list[int], salt: int) -> tuple[EndpointTable, Profile]:
        pools = [self.pools[self.rep_pool[i]] for i in rows]
        t = EndpointTable(
            [f"{p.name}/{i}" for p, i in zip(pools, rows, strict=True)],
            [p.name for p in pools],
            [p.spec.hardware for p in pools],
            [p.model for p in pools],
            [p.tiers for p in pools],
        )
        for r_i, p in enumerate(pools):
            t.prefill_tok_per_s[r_i] = p.prefill_tok_per_s
            t.usd_per_mtok[r_i] = p.usd_per_mtok
            t.joules_per_token[r_i] = p.joules_per_token
            t.power_w[r_i] = p.dep.idle_power_w
            t.predicted_ttft_s[r_i] = p.dep.params.request_overhead_s
        return t, build_profile(self.sc.routing.as_dict(), seed=self.sc.sim.seed + salt)

    @staticmethod
    def _fast(profile: Profile, table: EndpointTable) -> LeastOutstandingIndex | None:
        return LeastOutstandingIndex(profile, table) if LeastOutstandingIndex.applies(profile) else None

    def _sync(self, rep_i: int) -> None:
        """Publish replica ``rep_i``'s state to its routing table (or, behind an index, for it)."""
        t, r, fast, inv_rate, overhead, pending = self._sync_to[rep_i]
        rep = self.replicas[rep_i]
        running = rep.n + len(rep.prefilling)
        queued = len(rep.waiting)
        step = rep.comp_step_s
        ttft = rep.pending_tokens * inv_rate + step + overhead
        if fast is None:
            t.in_flight[r] = running + queued
            t.queued[r] = queued
            t.running_seqs[r] = running
            t.kv_use_frac[r] = rep.comp_kv_use
            t.predicted_tpot_s[r] = step
            t.predicted_ttft_s[r] = ttft
            rate = self._prefill_rate(rep_i, rep)
            t.waiting_prefill_tokens[r] = rep.pending_tokens
            t.batch_prefill_tok_per_s[r] = rate
            t.prefill_wait_s[r] = rep.pending_tokens / rate + step + overhead
            return
        pending[r] = (running + queued, queued, running, rep.comp_kv_use, step, ttft)
        if fast.counts[r] != running + queued:
            fast.set(r, running + queued)

    def _prefill_rate(self, rep_i: int, rep: Replica) -> float:
        """Tokens/s at which ``rep`` prefills beside its decoding batch: chunks of what the token budget
        leaves (``max_batched_tokens`` - decoding seqs), one engine step each (the performance model)."""
        n = rep.n
        ctx = rep.cb + n * rep.iters
        key = (n, ctx // (1024 * n) if n else 0)
        cache = self._batch_rate[self.rep_pool[rep_i]]
        rate = cache.get(key)
        if rate is None:
            chunk = max(rep.cfg.max_batched_tokens - n, 1)
            mean_ctx = (key[1] * 1024 + 512) * n if n else 0
            rate = cache[key] = chunk / rep.dep.step_time(chunk, n, mean_ctx)
        return rate

    def _write_pending(self, t: EndpointTable) -> None:
        """Bring table ``t`` up to date with the state published since its last decision."""
        pending = self._pending[id(t)]
        for r, (in_flight, queued, running, kv_use, step, ttft) in pending.items():
            t.in_flight[r] = in_flight
            t.queued[r] = queued
            t.running_seqs[r] = running
            t.kv_use_frac[r] = kv_use
            t.predicted_tpot_s[r] = step
            t.predicted_ttft_s[r] = ttft
        pending.clear()

    # ---- the run ------------------------------------------------------------------------------------
    def run(self, progress: Callable[[int], None] | None = None) -> SimResult:
        import time

        wall0 = time.perf_counter()
        reqs: Iterator[Request] = iter(
            self._requests if self._requests is not None else scenario_requests(self.sc, self.base_dir)
        )
        heap: list[tuple[float, int, int, int, Seq | None]] = []
        counter = 0
        reps = self.replicas
        buf: list[tuple[int, int, int, int, float, float, float, float, int, int, int, int]] = []
        done_count = 0
        nxt = next(reqs, None)
        t_now = 0.0
        kept: list[dict[str, np.ndarray]] = []
        heappush, heappop, sync = heapq.heappush, heapq.heappop, self._sync
        class_idx, entry_rows, prefill_only = self.class_idx, self.entry_rows, self._prefill_only
        entry_fast, models = self.entry_fast, [info[1] for info in self.infos]
        view, entry_set = self.prefix_view, self.entry_rows_set

        def push(rep_i: int) -> None:
            nonlocal counter
            r = reps[rep_i]
            if r.busy_until < INF:
                counter += 1
                heapq.heappush(heap, (r.busy_until, counter, rep_i, r.version, None))

        rep_pool = self.rep_pool
        handed, handed_tokens = [0] * len(self.pools), [0] * len(self.pools)

        def finish(rep_i: int, seqs: list[Seq], now: float) -> None:
            nonlocal counter
            prefill, pool_i = prefill_only[rep_i], rep_pool[rep_i]
            for s in seqs:
                r = s.req
                if prefill and r.output_tokens > 1:
                    pool = self.pools[pool_i]
                    handed[pool_i] += 1
                    handed_tokens[pool_i] += r.output_tokens
                    d = Seq(r, s.class_idx, prefilled=True, gen=1, first_token_s=s.first_token_s)
                    d.user = (s.admitted_s, s.total_cached, s.preemptions)
                    counter += 1
                    arrive = now + self.link_s + r.prompt_tokens * pool.kv_bytes_per_token / self.link_bps
                    heappush(heap, (arrive, counter, -1, 0, d))
                    continue
                user = s.user
                adm, cached, pre = user if isinstance(user, tuple) else (s.admitted_s, s.total_cached, 0)
                buf.append(
                    (
                        r.request_id,
                        s.class_idx,
                        pool_i,
                        rep_i,
                        r.arrival_s,
                        adm,
                        s.first_token_s,
                        now,
                        r.prompt_tokens,
                        r.output_tokens,
                        cached,
                        s.preemptions + pre,
                    )
                )

        while True:
            t_arr = nxt.arrival_s if nxt is not None else INF
            if heap and heap[0][0] <= t_arr:
                t_now, _, rep_i, ver, payload = heappop(heap)
                if rep_i < 0:  # KV hand-off reaches the decode pool
                    assert payload is not None
                    row = self._route_decode(payload.req, payload.class_idx)
                    rep_i = self.decode_rows[row]
                    if reps[rep_i].admit(payload, t_now):
                        push(rep_i)
                    if reps[rep_i].rejected:
                        self._reject(rep_i)
                    self._sync(rep_i)
                    continue
                rep = reps[rep_i]
                if ver != rep.version:
                    continue
                cv = rep.comp_version
                first, done = rep.advance(t_now)
                if first and view is not None and rep_i in entry_set:
                    r_i = self.row_in[rep_i][1]
                    for fs in first:
                        if fs.hashes and not fs.prefilled:
                            view.remove(r_i, fs)
                if done:
                    finish(rep_i, done, t_now)
                if rep.rejected:
                    self._reject(rep_i)
                if rep.busy_until < INF:
                    counter += 1
                    heappush(heap, (rep.busy_until, counter, rep_i, rep.version, None))
                if rep.comp_version != cv:
                    sync(rep_i)
                if len(buf) >= FLUSH:
                    done_count += len(buf)
                    self._flush(buf, kept)
                    if progress:
                        progress(done_count)
                continue
            if nxt is None:
                break
            t_now = t_arr
            ci = class_idx[nxt.class_name]
            row = entry_fast.pick_row(models[ci]) if entry_fast is not None else -1
            if row < 0:
                self._write_pending(self.entry_table)
                row = self.entry_profile.pick_row(self._info(nxt, ci), self.entry_table)
            rep_i = entry_rows[row]
            rep = reps[rep_i]
            seq = Seq(nxt, ci, 1 if prefill_only[rep_i] else None)
            if view is not None and seq.hashes:
                view.add(row, seq)
            if rep.admit(seq, t_now) and rep.busy_until < INF:
                counter += 1
                heappush(heap, (rep.busy_until, counter, rep_i, rep.version, None))
            if rep.rejected:
                self._reject(rep_i)
            sync(rep_i)
            nxt = next(reqs, None)
        done_count += len(buf)
        self._flush(buf, kept)
        self._write_pending(self.entry_table)
        self._write_pending(self.decode_table)
        if progress:
            progress(done_count)
        for s in self.sinks:
            s.close()
        cols = {k: np.concatenate([c[k] for c in kept]) for k in kept[0]} if kept else {}
        return SimResult(
            self.sc,
            self.pools,
            self.replicas,
            self.collector,
            t_now,
            done_count,
            wall_s=time.perf_counter() - wall0,
            columns=cols,
            rejected=self.rejected,
            handed_off=list(zip(handed, handed_tokens, strict=True)),
        )

    def _reject(self, rep_i: int) -> None:
        """Requests whose prompt exceeds the replica's whole KV cache: counted, never served."""
        rep = self.replicas[rep_i]
        view = self.prefix_view
        for s in rep.rejected:
            if view is not None and s.hashes and not s.prefilled and rep_i in self.entry_rows_set:
                view.remove(self.row_in[rep_i][1], s)
            self.collector.classes[s.class_idx].rejected += 1
            self.collector.pools[self.rep_pool[rep_i]].rejected += 1
            self.collector.total.rejected += 1
        self.rejected += len(rep.rejected)
        rep.rejected.clear()

    def _route_decode(self, req: Request, ci: int) -> int:
        """Row of the decode table that gets the prefilled ``req``."""
        fast = self.decode_fast
        row = fast.pick_row(self.infos[ci][1]) if fast is not None else -1
        if row >= 0:
            return row
        self._write_pending(self.decode_table)
        return self.decode_profile.pick_row(self._info(req, ci), self.decode_table)

    def _info(self, req: Request, ci: int) -> RequestInfo:
        name, model, ttft, tpot, tier = self.infos[ci]
        return RequestInfo(name, model, req.prompt_tokens, req.output_tokens, ttft, tpot, tier, req.prefix_hash_ids)

    def _flush(
        self,
        buf: list[tuple[int, int, int, int, float, float, float, float, int, int, int, int]],
        kept: list[dict[str, np.ndarray]],
    ) -> None:
        if not buf:
            return
        arr = list(zip(*buf, strict=True))
        cols = {
            k: np.array(v, dtype=np.float64 if k.endswith("_s") else np.int64)
            for k, v in zip(COLUMNS, arr, strict=True)
        }
        buf.clear()
        derived = self.collector.add_chunk(cols)
        if self.keep:
            kept.append(cols | derived)
        for s in self.sinks:
            s.write(cols, derived)


__all__ = ["SimResult", "Simulation", "Sink"]
