"""A fleet simulated as independent shards, and their metrics merged as if one run had held them all.

A shard is one :class:`~tokenfleet.scenario.Scenario` whose requests reach only its own pools, so nothing
that happens in one shard can change another: the fleet's run is the shards' runs side by side, on one core
or on many (:mod:`tokenfleet.fanout`: Ray tasks or serially, the same results either way).
:func:`run_shard` simulates one and keeps only what adds up across shards: per class and per pool the
counts, sums and latency histograms of :class:`~tokenfleet.sim.metrics.Group` (percentiles within
:data:`~tokenfleet.sim.metrics.HIST_REL_ERROR` of their value), and per pool the replicas' busy time, energy
(with its per-window bins, for the fleet's peak power) and cost. :func:`merge_shards` adds the shards up by
class name and by ``pool_names`` (several shards may hold parts of one fleet pool), always in task order,
so a merge of the same shards gives the same bits whichever way they ran.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenfleet.scenario import Scenario
from tokenfleet.sim.engine import Simulation
from tokenfleet.sim.metrics import Group, merge_groups
from tokenfleet.sim.summary import J_PER_KWH, pool_energy


@dataclass(frozen=True, slots=True)
class ShardTask:
    """One shard: its scenario, the fleet pool each of its pools is part of, and the arrival time from which
    its requests are measured (the warm-up before it fills the replicas)."""

    index: int
    scenario: Scenario
    base_dir: str
    pool_names: tuple[str, ...]
    measure_from_s: float = 0.0
    core: str | None = None


@dataclass(frozen=True, slots=True)
class PoolPart:
    """One simulated pool's totals; parts of one fleet pool add up (:meth:`plus`)."""

    name: str
    hardware: str
    replicas: int
    group: Group
    busy_s: float  # summed over replicas
    replica_s: float  # replicas x the simulated period
    it_energy_j: float
    facility_energy_j: float
    avg_facility_w: float  # the part's energy / its period: parts running side by side add up
    idle_w: float
    bins: dict[int, float]  # dynamic IT energy per power window
    preemptions: int
    max_kv_use_frac: float
    hardware_usd: float
    energy_usd: float

    def plus(self, o: PoolPart) -> PoolPart:
        bins = dict(self.bins)
        for b, e in o.bins.items():
            bins[b] = bins.get(b, 0.0) + e
        return PoolPart(self.name, self.hardware, self.replicas + o.replicas,
                        merge_groups(self.name, [self.group, o.group]), self.busy_s + o.busy_s,
                        self.replica_s + o.replica_s, self.it_energy_j + o.it_energy_j,
                        self.facility_energy_j + o.facility_energy_j, self.avg_facility_w + o.avg_facility_w,
                        self.idle_w + o.idle_w, bins, self.preemptions + o.preemptions,
                        max(self.max_kv_use_frac, o.max_kv_use_frac), self.hardware_usd + o.hardware_usd,
                        self.energy_usd + o.energy_usd)

    @property
    def utilisation(self) -> float:
        return self.busy_s / self.replica_s if self.replica_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class ShardResult:
    index: int
    classes: tuple[Group, ...]  # per class of the shard's scenario, by name
    pools: tuple[PoolPart, ...]  # per pool of the shard's scenario, named by the fleet pool
    total: Group
    requests: int  # completed, warm-up included
    replicas: int
    period_s: float
    wall_s: float
    cpu_s: float  # this process's CPU time for the shard
    core: str


def run_shard(task: ShardTask) -> ShardResult:
    """Simulate one shard and keep what adds up across shards."""
    t0, c0 = time.perf_counter(), time.process_time()
    sim = Simulation(task.scenario, Path(task.base_dir), keep_requests=False, core=task.core,
                     measure_from_s=task.measure_from_s)
    res = sim.run()
    col = res.collector
    parts = []
    for name, p, g in zip(task.pool_names, pool_energy(res), col.pools, strict=True):
        fac_j = p["energy_kwh"] * J_PER_KWH
        parts.append(PoolPart(
            name, p["hardware"], p["replicas"], g.without_samples(), p["busy_s"], res.period_s * p["replicas"],
            p["it_energy_kwh"] * J_PER_KWH, fac_j, fac_j / max(res.period_s, 1e-9), p["_idle_w"],
            dict(p["_bins"]),
            p["preemptions"], p["max_kv_use_frac"], p["hardware_usd"], p["energy_usd"]))
    return ShardResult(task.index, tuple(g.without_samples() for g in col.classes), tuple(parts),
                       col.total.without_samples(), res.requests, len(res.replicas), res.period_s,
                       time.perf_counter() - t0, time.process_time() - c0, res.core)


@dataclass(frozen=True, slots=True)
class ShardCost:
    """What one shard cost to simulate (for projections onto more workers)."""

    index: int
    replicas: int
    requests: int
    cpu_s: float
    wall_s: float


@dataclass(slots=True)
class FleetRun:
    """The shards' metrics merged: per class, per fleet pool and in all."""

    classes: dict[str, Group]
    pools: dict[str, PoolPart]
    total: Group
    requests: int
    replicas: int
    period_s: float  # the longest shard's, first arrival to last completion
    power_bin_s: float
    pue: float
    cores: tuple[str, ...]
    shards: list[ShardCost] = field(default_factory=list)

    @property
    def cpu_s(self) -> float:
        return sum(s.cpu_s for s in self.shards)

    def peak_facility_mw(self) -> float:
        """Facility MW in the busiest power window, the fleet's shards running side by side."""
        bins: dict[int, float] = {}
        for p in self.pools.values():
            for b, e in p.bins.items():
                bins[b] = bins.get(b, 0.0) + e
        idle_w = sum(p.idle_w for p in self.pools.values())
        width = min(self.power_bin_s, max(self.period_s, 1e-9))
        return (idle_w + (max(bins.values()) / width if bins else 0.0)) * self.pue / 1e6

    def pool_rows(self, window_s: float) -> list[dict[str, Any]]:
        """Per fleet pool: requests, latency, attainment, utilisation, energy (``window_s``: the measured
        arrival window, for rates)."""
        out = []
        for p in self.pools.values():
            g = p.group
            out.append({"pool": p.name, "hardware": p.hardware, "replicas": p.replicas, **g.summary(window_s),
                        "utilisation": p.utilisation, "max_kv_use_frac": p.max_kv_use_frac,
                        "energy_kwh": p.facility_energy_j / J_PER_KWH, "avg_mw": p.avg_facility_w / 1e6,
                        "cost_usd": p.hardware_usd + p.energy_usd})
        return out


def merge_shards(results: Sequence[ShardResult], power_bin_s: float, pue: float) -> FleetRun:
    """Add the shards up, in task order, by class name and by fleet pool name."""
    ordered = sorted(results, key=lambda r: r.index)
    by_class: dict[str, list[Group]] = {}
    pools: dict[str, PoolPart] = {}
    for r in ordered:
        for g in r.classes:
            by_class.setdefault(g.name, []).append(g)
        for p in r.pools:
            pools[p.name] = pools[p.name].plus(p) if p.name in pools else p
    return FleetRun(
        {name: merge_groups(name, gs) for name, gs in by_class.items()}, pools,
        merge_groups("all", [r.total for r in ordered]), sum(r.requests for r in ordered),
        sum(r.replicas for r in ordered), max((r.period_s for r in ordered), default=0.0), power_bin_s, pue,
        tuple(sorted({r.core for r in ordered})),
        [ShardCost(r.index, r.replicas, r.requests, r.cpu_s, r.wall_s) for r in ordered])


def projected_wall_s(costs: Sequence[float], workers: int) -> float:
    """Wall time of tasks costing ``costs`` seconds each on ``workers`` equal workers, the longest task first
    onto the least loaded worker (how a Ray cluster with that many free CPUs drains the queue, roughly)."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    loads = [0.0] * min(workers, max(len(costs), 1))
    for c in sorted(costs, reverse=True):
        i = loads.index(min(loads))
        loads[i] += c
    return max(loads, default=0.0)


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


__all__ = ["FleetRun", "PoolPart", "ShardCost", "ShardResult", "ShardTask", "cpu_count", "merge_shards",
           "projected_wall_s", "run_shard"]
