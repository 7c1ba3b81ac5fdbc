"""Verify a plan on its whole fleet: every replica at the planned peak, sharded over Ray workers.

The plan sends a fixed share of each class to each of its pools (its flows); here, as in the slice
(:mod:`tokenfleet.plan.verify`), each pool gets exactly the streams the plan put on it, at the planned peak
with the traffic scale applied. A request therefore never leaves its pool, so pools are independent of one
another; a pool that several classes share carries all of their streams. A pool larger than
``cell_replicas`` is simulated as **cells** of near-equal size (sizes differ by at most one replica), each
with its replicas' share of the pool's streams and its own least-outstanding router: one gateway per cell,
every replica of the pool simulated. Each cell is one shard (:mod:`tokenfleet.sim.shard`); the shards run as
Ray tasks (local Ray by default, a cluster from ``address`` or ``RAY_ADDRESS``) or serially, with the same
results either way, and their metrics are merged exactly: counts, attainment and SLO misses add up, and
latency percentiles come from the merged histograms, each within 0.5 % of its exact value
(:data:`~tokenfleet.sim.metrics.HIST_REL_ERROR`).

Arrivals are Poisson (gamma renewal for a bursty class) at the planned rate, streamed, so memory stays flat
in the duration. Each cell first runs a **warm-up** with the same arrivals, so that its replicas hold a
steady batch before anything is judged: by default two mean service times of the pool's slowest class at
the planned speed (output tokens / planned tok/s per user), so a long-answer pool is not judged while it is
still filling. Requests arriving in the warm-up are simulated but not measured; the measured window is
``duration_s`` after it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tokenfleet.errors import InputError
from tokenfleet.fanout import fan_out, ray_address
from tokenfleet.plan.demand import Demand
from tokenfleet.plan.schema import PlanScenario
from tokenfleet.plan.verify import ClassCheck, FleetInfo, PoolCheck, PoolLoad, Verification, sim_scenario
from tokenfleet.scenario import RoutingSpec
from tokenfleet.sim.metrics import HIST_REL_ERROR, Group
from tokenfleet.sim.shard import FleetRun, ShardResult, ShardTask, merge_shards, run_shard

CELL_REPLICAS = 1024  # replicas behind one simulated router (a cell) by default
WARMUP_SERVICE_TIMES = 2.0  # default warm-up: this many mean service times of the pool's slowest class
CDF_POINTS = 999  # latencies kept per class for the report's CDFs: percentiles 0.1 .. 99.9
ROUTING = "least-outstanding among the replicas of a cell; each class's planned share pinned to its pool"
PERCENTILE_NOTE = (f"latency percentiles from histograms merged across cells (bins 1 % wide), each within "
                   f"{HIST_REL_ERROR:.1%} of the exact value; attainment and counts exact")


@dataclass(frozen=True, slots=True)
class FleetOptions:
    """How to run a full-fleet verification."""

    duration_s: float | None = None  # measured window (default plan.verify.duration_s)
    warmup_s: float | None = None  # before it; None: two mean service times of each pool's slowest class
    cell_replicas: int = CELL_REPLICAS
    use_ray: bool = True
    address: str | None = None  # a Ray cluster (else $RAY_ADDRESS, else a local Ray)
    num_cpus: int | None = None  # workers of a local Ray (default: all CPUs)
    core: str | None = None  # simulator core (default auto)

    def __post_init__(self) -> None:
        if self.duration_s is not None and not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise InputError(f"must be a positive number of simulated seconds, got {self.duration_s}",
                             where="--verify-duration")
        if self.warmup_s is not None and not (math.isfinite(self.warmup_s) and self.warmup_s >= 0):
            raise InputError(f"must be >= 0 simulated seconds, got {self.warmup_s}", where="--verify-warmup")
        if self.cell_replicas < 1:
            raise InputError(f"must be >= 1, got {self.cell_replicas}", where="--cell-replicas")

    @property
    def backend(self) -> str:
        if not self.use_ray:
            return "serial"
        address = ray_address(self.address)
        return f"Ray ({address})" if address else "Ray (local)"


@dataclass(frozen=True, slots=True)
class Cell:
    """One shard: ``replicas`` of fleet pool ``pool`` (index into the used loads), measured from ``warmup_s``."""

    pool: int
    name: str  # the fleet pool's name
    replicas: int
    warmup_s: float
    planned_rps: dict[int, float]  # class index -> planned requests/s into this cell


def cell_sizes(replicas: int, cell_replicas: int) -> list[int]:
    """``replicas`` split into the fewest cells of at most ``cell_replicas``, sizes differing by at most one."""
    n = max(1, math.ceil(replicas / cell_replicas))
    base, extra = divmod(replicas, n)
    return [base + 1] * extra + [base] * (n - extra)


def warmup_s(q: PoolLoad, demands: list[Demand]) -> float:
    """Two mean service times of the pool's slowest class at the planned speed (TTFT target included)."""
    o = q.option
    per_user = max(o.per_user_tok_s, 1e-9)
    times = [demands[c].osl / per_user + (demands[c].ttft_p99_s if math.isfinite(demands[c].ttft_p99_s) else 0.0)
             for c in q.class_rps]
    return WARMUP_SERVICE_TIMES * max(times, default=0.0)


def fleet_tasks(sc: PlanScenario, base_dir: Path, demands: list[Demand], loads: list[PoolLoad], opts: FleetOptions,
                names: list[str] | None = None) -> tuple[list[ShardTask], list[Cell], float]:
    """The cells of the whole fleet as shard tasks, and the measured window."""
    v = sc.plan.verify
    duration = opts.duration_s or v.duration_s
    used = [(i, q) for i, q in enumerate(loads) if q.replicas > 0 and q.class_rps]
    tasks: list[ShardTask] = []
    cells: list[Cell] = []
    for i, q in used:
        o = q.option
        name = names[i] if names is not None else f"{o.class_name}/{o.hw_id}"
        warm = warmup_s(q, demands) if opts.warmup_s is None else opts.warmup_s
        for k in cell_sizes(q.replicas, opts.cell_replicas):
            part = PoolLoad(o, k, {c: rps * k / q.replicas for c, rps in q.class_rps.items()})
            ssc, streams, _ = sim_scenario(sc, demands, [part], k, warm + duration, 999_999_999, v.seed)
            traffic = [c.model_copy(update={"name": demands[s.class_idx].name})
                       for c, s in zip(ssc.traffic, streams, strict=True)]
            seed = (v.seed * 1_000_003 + len(tasks)) % 2**32  # every cell its own arrivals
            ssc = ssc.model_copy(update={
                "name": f"{sc.name} (fleet cell {len(tasks)})", "traffic": traffic,
                "routing": RoutingSpec(policy="least-outstanding"),
                "sim": ssc.sim.model_copy(update={"seed": seed, "duration_s": warm + duration})})
            tasks.append(ShardTask(len(tasks), ssc, str(base_dir), (name,), warm, opts.core))
            cells.append(Cell(i, name, k, warm, dict(part.class_rps)))
    return tasks, cells, duration


def _cdf(g: Group, m: str) -> list[float]:
    """The class's latency distribution as percentiles 0.1 .. 99.9 (for the report's CDFs)."""
    if g.count == 0:
        return []
    qs = np.linspace(0.1, 99.9, CDF_POINTS)
    vals = [g.quantile(m, float(q)) for q in qs]
    return sorted(x for x in vals if x == x)


def _checks(run: FleetRun, demands: list[Demand], loads: list[PoolLoad], cells: list[Cell],
            duration: float) -> list[ClassCheck]:
    out = []
    for ci, d in enumerate(demands):
        served = [q for q in loads if q.replicas > 0 and q.class_rps.get(ci, 0.0) > 0]
        if not served:
            continue
        planned = sum(c.planned_rps.get(ci, 0.0) for c in cells)
        reps = sum(q.replicas for q in served)
        g = run.classes.get(d.name)
        if g is None or g.count == 0:
            rejected = g.rejected if g is not None else 0
            out.append(ClassCheck(d.name, d.slo, False, 0, math.nan, math.nan, math.nan, rejected == 0,
                                  "no request arrived in the window", planned, rejected / duration, reps, reps))
            continue
        ttft, tpot = g.quantile("ttft_s", 99), g.quantile("tpot_s", 99)
        arrivals = g.count + g.rejected
        met = g.rejected == 0 and d.slo.is_met_at_p99(ttft, tpot)
        out.append(ClassCheck(d.name, d.slo, True, g.count, ttft, tpot, g.slo_ok / arrivals, met,
                              "" if not g.rejected else f"{g.rejected:,} rejected", planned, arrivals / duration,
                              reps, reps))
    return out


def _pool_checks(run: FleetRun, demands: list[Demand], loads: list[PoolLoad], cells: list[Cell]) -> list[PoolCheck]:
    out = []
    for name, p in run.pools.items():
        pool = next(c.pool for c in cells if c.name == name)
        g = p.group
        n = max(g.count + g.rejected, 1)
        out.append(PoolCheck(name, p.hardware, p.replicas, tuple(demands[c].name for c in loads[pool].class_rps),
                             g.count, g.quantile("ttft_s", 99), g.quantile("tpot_s", 99), g.slo_ok / n,
                             p.utilisation, p.max_kv_use_frac, g.preemptions))
    return out


def verify_fleet(sc: PlanScenario, base_dir: Path, demands: list[Demand], loads: list[PoolLoad],
                 opts: FleetOptions | None = None, names: list[str] | None = None,
                 progress: Callable[[float], None] | None = None) -> Verification:
    """Simulate every replica of the plan at its planned peak (see the module); ``names`` are the pools'
    names in the plan, aligned with ``loads``; ``progress(fraction of the cells' planned requests done)``."""
    opts = opts or FleetOptions()
    t0 = time.perf_counter()
    tasks, cells, duration = fleet_tasks(sc, base_dir, demands, loads, opts, names)
    if not tasks:
        return Verification([], 1.0, 0, duration, 0, 0.0, {}, {}, 0, mode="fleet")
    weight = [sum(c.planned_rps.values()) * (c.warmup_s + duration) for c in cells]
    total, done = max(sum(weight), 1e-9), [0.0]

    def tick(i: int, _: ShardResult) -> None:
        done[0] += weight[i]
        if progress is not None:
            progress(done[0] / total)

    results = fan_out(run_shard, tasks, tick, use_ray=opts.use_ray, address=opts.address, num_cpus=opts.num_cpus)
    first = tasks[0].scenario
    run = merge_shards(results, first.sim.power_bin_s, first.facility.pue)
    wall = time.perf_counter() - t0
    checks = _checks(run, demands, loads, cells, duration)
    lat = {c: {m: _cdf(g, m) for m in ("ttft_s", "tpot_s")} for c, g in run.classes.items() if g.count}
    fleet_reps = sum(c.replicas for c in cells)
    warm = sorted({c.warmup_s for c in cells})
    summary: dict[str, object] = {
        "fleet": {**run.total.summary(duration), "peak_mw": run.peak_facility_mw(), "replicas": fleet_reps},
        "classes": [{"class": name, **g.summary(duration)} for name, g in run.classes.items()],
        "pools": run.pool_rows(duration),
    }
    info = FleetInfo(len(tasks), opts.cell_replicas, opts.backend, (warm[0], warm[-1]), run.total.count, run.cpu_s,
                     run.cores, ROUTING, PERCENTILE_NOTE,
                     tuple((s.replicas, s.requests, s.cpu_s, s.wall_s) for s in run.shards))
    return Verification(checks, 1.0, fleet_reps, duration, run.requests, wall, summary, lat, fleet_reps,
                        mode="fleet", pools=_pool_checks(run, demands, loads, cells), fleet=info)


__all__ = ["CELL_REPLICAS", "Cell", "FleetOptions", "cell_sizes", "fleet_tasks", "verify_fleet", "warmup_s"]
