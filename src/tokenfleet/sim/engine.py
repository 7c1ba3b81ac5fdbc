"""The fleet simulation: a scenario's pools of replicas, its routing tables and the run's outputs.

:class:`Simulation` builds the replicas from the scenario and hands the run to the event loop of the chosen
core (:mod:`tokenfleet.sim.core`; :class:`~tokenfleet.sim.loop.EventLoop`), which calls back here for what is
not on its hot path: decisions of policies with no incremental index (the profile scores the table),
requests too long for a replica, and chunks of completed requests, which go in columns to the metrics
collector and to any sinks.
"""

from __future__ import annotations

import gc
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from tokenfleet.routing import EndpointTable, Profile, RequestInfo, build_profile
from tokenfleet.routing.health import Evidence, reads_ttft
from tokenfleet.routing.prefix_aware import uses_prefill_queue, uses_prefix
from tokenfleet.scenario import Scenario
from tokenfleet.sim.arrivals import request_arrivals, scenario_arrivals
from tokenfleet.sim.core import load_core
from tokenfleet.sim.fleet import Pool, build_pools
from tokenfleet.sim.metrics import EXACT_CAP, Collector, Group
from tokenfleet.sim.prefix_view import ReplicaPrefixView
from tokenfleet.sim.replica import Replica
from tokenfleet.sim.seq import DONE, Seq
from tokenfleet.workload import Request


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
    core: str = "python"  # which simulator core ran: "compiled" or "python"


class Simulation:
    """Build once from a scenario, then :meth:`run`. ``requests`` overrides the scenario's workload; ``core``
    picks the simulator core (``auto``, ``compiled``, ``python``: :func:`tokenfleet.sim.core.load_core`);
    ``fast_routing=False`` sends every decision through the profile (the reference the indexes must match);
    ``measure_from_s`` leaves requests that arrive before it (a warm-up) out of the metrics."""

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
        core: str | None = None,
        fast_routing: bool = True,
        measure_from_s: float = 0.0,
    ) -> None:
        self.sc = sc
        self.core = load_core(core)
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
            utilisation: dict[tuple[int, int], float] = {}  # a pool's replicas share one deployment's figures
            for _ in range(p.replicas):
                r = self.core.replica(p.dep, p.cfg, trace=trace)
                r.bin_s = sc.sim.power_bin_s
                r.share_cache(utilisation)
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
        self.inv_rate = [1.0 / self.pools[pi].prefill_tok_per_s for pi in self.rep_pool]
        self.overhead = [self.pools[pi].dep.params.request_overhead_s for pi in self.rep_pool]
        # decisions that an incremental index reproduces (routing.fast) are taken there: it reads only the
        # in-flight counts (least-outstanding) or nothing (round-robin), so that is all the loop publishes
        # for it; the table gets those counts when the profile must decide, and every row at the end
        self.entry_fast = self.core.fast_index(self.entry_profile, self.entry_table) if fast_routing else None
        self.decode_fast = self.core.fast_index(self.decode_profile, self.decode_table) if fast_routing else None
        # the live gateway's rule for latency evidence (routing.health): a policy that reads TTFT sees each
        # replica's observed TTFT (less its own prefill) fading to the prediction, as the gateway's router does;
        # requests routed here wait per row for their first token, which is then observed
        self.evidence = Evidence(len(self.entry_rows)) if reads_ttft(self.entry_profile) else None
        self._awaiting: list[deque[Seq]] = [deque() for _ in self.entry_rows]
        # per replica, where the loop publishes its state: (table, row, index, what to publish: 0 nothing,
        # 1 the index's in-flight count, 2 the table row, 3 the table row and the prefill queue)
        self.publish_to: list[tuple[EndpointTable, int, object, int]] = []
        self._reads_prefill = {id(t): _reads_prefill_queue(p) for t, p in
                               ((self.entry_table, self.entry_profile), (self.decode_table, self.decode_profile))}
        for rep_i in range(len(self.replicas)):
            t, r_i = self.row_in[rep_i]
            fast = self.entry_fast if t is self.entry_table else self.decode_fast
            what = (1 if fast.reads_state else 0) if fast is not None else 3 if self._reads_prefill[id(t)] else 2
            self.publish_to.append((t, r_i, fast, what))
        self.prefill_only = [self.pools[pi].role == "prefill" for pi in self.rep_pool]
        self.link_bps = (d.link_gbps * 1e9) if d else 0.0
        self.link_s = (d.link_latency_ms / 1e3) if d else 0.0
        self.infos = [(c.name, c.model, c.slo.ttft_p99_ms, c.slo.tpot_target_ms, c.tier) for c in sc.traffic]
        self._requests = requests
        self.rejected = 0
        self._done = 0
        self._kept: list[dict[str, np.ndarray]] = []
        self._progress: Callable[[int], None] | None = None
        classes = [
            Group(c.name, (c.slo.ttft_p99_ms or math.inf) / 1e3, (c.slo.tpot_target_ms or math.inf) / 1e3)
            for c in sc.traffic
        ]
        self.collector = Collector(  # exact percentiles up to EXACT_CAP requests even without the columns
            classes,
            [Group(p.name) for p in self.pools],
            np.array([p.dep.params.request_overhead_s for p in self.pools]),
            True,
            None if self.keep else EXACT_CAP,
            measure_from_s,
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

    # ---- what the event loop asks of the host -------------------------------------------------------
    def prefill_rate(self, rep_i: int, rep: Replica) -> float:
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

    def route_entry(self, seq: Seq) -> int:
        """Row of the entry table for an arriving request, from the profile."""
        if self.entry_fast is not None:  # behind an index the table holds only what the index reads
            self.entry_table.in_flight[:] = self.entry_fast.counts
        ev = self.evidence
        if ev is None:
            return self.entry_profile.pick_row(self._info(seq), self.entry_table)
        for row, waiting in enumerate(self._awaiting):  # first tokens since the last decision
            inv_rate = self.inv_rate[self.entry_rows[row]]
            while waiting:
                s = waiting[0]
                if 0.0 <= s.first_token_s <= seq.arrival_s:
                    ev.observe(row, s.first_token_s - s.arrival_s - (s.prompt_tokens - s.total_cached) * inv_rate,
                               s.first_token_s)
                elif s.first_token_s >= 0.0 or s.state != DONE:  # no first token yet (DONE without one: refused)
                    break
                waiting.popleft()
        row = ev.pick_row(self.entry_profile, self._info(seq), self.entry_table, seq.arrival_s)
        self._awaiting[row].append(seq)
        return row

    def route_decode(self, seq: Seq) -> int:
        """Row of the decode table that gets a prefilled request."""
        if self.decode_fast is not None:
            self.decode_table.in_flight[:] = self.decode_fast.counts
        return self.decode_profile.pick_row(self._info(seq), self.decode_table)

    def reject(self, rep_i: int) -> None:
        """Requests whose prompt exceeds the replica's whole KV cache: counted, never served."""
        rep = self.replicas[rep_i]
        view = self.prefix_view
        col = self.collector
        for s in rep.rejected:
            if view is not None and s.hashes and not s.prefilled and rep_i in self.entry_rows_set:
                view.remove(self.row_in[rep_i][1], s)
            if s.arrival_s >= col.measure_from_s:
                col.classes[s.class_idx].rejected += 1
                col.pools[self.rep_pool[rep_i]].rejected += 1
                col.total.rejected += 1
        self.rejected += len(rep.rejected)
        rep.rejected.clear()

    def flush(self, cols: dict[str, np.ndarray], n: int) -> None:
        """``n`` completed requests (columns of :data:`~tokenfleet.sim.metrics.COLUMNS`): to the collector, the
        sinks and (``keep_requests``) the result."""
        self._done += n
        derived = self.collector.add_chunk(cols)
        if self.keep:
            self._kept.append(cols | derived)
        for s in self.sinks:
            s.write(cols, derived)
        if self._progress is not None:
            self._progress(self._done)

    def _info(self, seq: Seq) -> RequestInfo:
        name, model, ttft, tpot, tier = self.infos[seq.class_idx]
        return RequestInfo(name, model, seq.prompt_tokens, seq.output_tokens, ttft, tpot, tier, seq.hashes)

    # ---- the run ------------------------------------------------------------------------------------
    def run(self, progress: Callable[[int], None] | None = None) -> SimResult:
        wall0 = time.perf_counter()
        self._progress = progress
        chunks = (
            request_arrivals(self._requests, self.class_idx)
            if self._requests is not None
            else scenario_arrivals(self.sc, self.base_dir)
        )
        loop = self.core.loop(self)
        with gc_paused():  # the run makes no reference cycles; collecting would only re-scan live objects
            t_now = loop.run(chunks)
        if progress:
            progress(self._done)
        for s in self.sinks:
            s.close()
        kept = self._kept
        cols = {k: np.concatenate([c[k] for c in kept]) for k in kept[0]} if kept else {}
        self._kept = []
        return SimResult(
            self.sc,
            self.pools,
            self.replicas,
            self.collector,
            t_now,
            self._done,
            wall_s=time.perf_counter() - wall0,
            columns=cols,
            rejected=self.rejected,
            handed_off=list(zip(loop.handed, loop.handed_tokens, strict=True)),
            core=self.core.name,
        )


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (reference counting still frees everything) for the block."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _reads_prefill_queue(profile: Profile) -> bool:
    """True when the profile may read the prefill-queue columns: a built-in plugin that does, or any
    plugin from outside tokenfleet (a plug-in policy may read every column)."""
    plugins = [*profile.filters, *(s for s, _ in profile.scorers), profile.picker]
    return uses_prefill_queue(profile) or any(not type(p).__module__.startswith("tokenfleet.") for p in plugins)


__all__ = ["SimResult", "Simulation", "Sink"]
