"""Check a plan in the request-level simulator (:class:`tokenfleet.sim.Simulation`) at the load it was
planned for.

Each planned pool becomes a simulator pool whose engine limits match the planned operating point
(``max_seqs`` = the planned batch) and carries exactly the per-replica load the plan put on it: for every
class it serves, the class's planned peak rate x the traffic scale (objective goodput) x the share of that
class the plan routes to the pool (:class:`PoolLoad`). A pool that serves several classes (a shared pool)
gets each class's stream, so its replicas run mixed classes and every class is judged on its own SLO.

Large fleets are simulated as a **slice**: every pool keeps ``max(1, round(replicas x f))`` replicas with
``f = max_replicas / total replicas`` (``--verify-replicas N`` sets ``max_replicas``), and its streams are
scaled by the replicas it keeps, so every simulated replica sees the load of a replica of the full fleet.

Arrivals are a Poisson process (gamma renewal for a bursty ``gamma`` class) **conditioned on its count**:
``round(rate x window)`` arrivals per stream spread over the window, so the simulated rate is the planned
rate, not a draw around it. Pools with speculative decoding run with the pool's ``speculative`` setting.

Two definitions of "met" (see :class:`tokenfleet.scenario.Slo`): a class is **met** when its p99 TTFT and
p99 TPOT over the slice's requests are within its SLO and no request was rejected; its **attainment** is the
share of its requests each within both targets.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tokenfleet.plan.capacity import Option
from tokenfleet.plan.demand import Demand
from tokenfleet.plan.schema import PlanScenario
from tokenfleet.scenario import (
    ArrivalSpec,
    LayoutSpec,
    PoolSpec,
    RoutingSpec,
    Scenario,
    SchedulerSpec,
    SimSpec,
    Slo,
    SpeculativeSpec,
    resolve_data_path,
)
from tokenfleet.sim.engine import Simulation
from tokenfleet.sim.summary import SimSummary, summarize, typed_summary
from tokenfleet.sim.workloads import length_dist
from tokenfleet.workload import Request, RequestBatch, Source, TraceSource, load_trace, make_batch, merge

TIER_PREFIX = "plan:"
MET_DEFINITION = ("met: the class's p99 TTFT and p99 TPOT over the simulated requests within its SLO, none "
                  "rejected; attainment: the share of its requests each within both targets")


@dataclass(frozen=True, slots=True)
class PoolLoad:
    """One planned pool and the peak load the plan puts on it."""

    option: Option
    replicas: int
    class_rps: dict[int, float]  # class index -> planned peak requests/s on the whole pool (scale applied)


@dataclass(frozen=True, slots=True)
class Stream:
    """One class's arrivals into one pool of the slice."""

    class_idx: int
    pool: int  # index into the simulated pools
    rate_rps: float


@dataclass(frozen=True, slots=True)
class ClassCheck:
    name: str
    slo: Slo
    simulated: bool
    requests: int
    ttft_p99_s: float
    tpot_p99_s: float
    attainment: float  # share of requests meeting both targets (the per-request definition)
    met: bool  # p99 TTFT and TPOT within the SLO, no request rejected (the class definition)
    note: str = ""
    planned_rps: float = 0.0  # the plan's peak rate for the slice's replicas of this class (scale applied)
    simulated_rps: float = 0.0  # requests that arrived in the simulation / the arrival window
    replicas: int = 0  # simulated replicas serving this class
    fleet_replicas: int = 0  # replicas serving it in the whole fleet


@dataclass(frozen=True, slots=True)
class PoolCheck:
    """One planned pool in a full-fleet run (:mod:`tokenfleet.plan.verify_fleet`)."""

    name: str
    hardware: str
    replicas: int
    classes: tuple[str, ...]
    requests: int  # measured (arrived after the warm-up)
    ttft_p99_s: float
    tpot_p99_s: float
    attainment: float  # share of its requests within their class's targets
    utilisation: float
    max_kv_use_frac: float
    preemptions: int


@dataclass(frozen=True, slots=True)
class FleetInfo:
    """How a full-fleet run went (:mod:`tokenfleet.plan.verify_fleet`)."""

    shards: int  # cells, one simulation each
    cell_replicas: int  # at most this many replicas per cell
    backend: str  # "Ray (local)", "Ray (host:port)" or "serial"
    warmup_s: tuple[float, float]  # the pools' warm-ups, lowest and highest
    measured_requests: int  # arrived after the warm-up
    cpu_s: float  # summed over the cells
    cores: tuple[str, ...]  # simulator cores that ran
    routing: str
    percentiles: str  # how exact the merged percentiles are
    shard_costs: tuple[tuple[int, int, float, float], ...]  # per cell: replicas, requests, CPU s, wall s


@dataclass(frozen=True, slots=True)
class Verification:
    classes: list[ClassCheck]
    slice_fraction: float  # simulated replicas / the fleet's replicas
    sim_replicas: int
    duration_s: float  # the arrival window
    requests: int
    wall_s: float
    summary: dict[str, object]  # tokenfleet.sim.summary.summarize output (the dashboard draws it)
    latencies: dict[str, dict[str, list[float]]]  # class -> {"ttft_s": sorted sample, "tpot_s": ...}
    fleet_replicas: int = 0
    sim: SimSummary | None = field(default=None, compare=False)
    mode: str = "slice"  # or "fleet": every replica (tokenfleet.plan.verify_fleet)
    pools: list[PoolCheck] = field(default_factory=list)  # fleet mode
    fleet: FleetInfo | None = None  # fleet mode: cells, backend, warm-up, costs

    @property
    def all_met(self) -> bool:
        return all(c.met for c in self.classes)

    @property
    def slice_text(self) -> str:
        """``12 of 70,404 replicas (0.02 % of the fleet)`` or ``all 5 replicas``."""
        if self.fleet is not None:
            return f"all {self.sim_replicas:,} replicas (the whole fleet, in {self.fleet.shards:,} independent cells)"
        if self.sim_replicas >= self.fleet_replicas:
            return f"all {self.sim_replicas:,} replicas"
        return (f"{self.sim_replicas:,} of {self.fleet_replicas:,} replicas "
                f"({self.slice_fraction:.2%} of the fleet, same load per replica)")


def _slice_factor(loads: list[PoolLoad], max_replicas: int) -> float:
    total = sum(q.replicas for q in loads)
    f = min(1.0, max_replicas / total) if total else 1.0
    while f > 1e-9 and sum(max(1, round(q.replicas * f)) for q in loads) > max(max_replicas, len(loads)):
        f *= 0.95  # rounding up to one replica per pool must not take the slice past max_replicas
    return f


def sim_scenario(sc: PlanScenario, demands: list[Demand], loads: list[PoolLoad], max_replicas: int,
                 duration_s: float, max_requests: int, seed: int) -> tuple[Scenario, list[Stream], list[int]]:
    """The simulator scenario for (a slice of) the plan, its streams (one simulated class each, named
    ``s<k>``) and the replicas each pool keeps. The window is ``duration_s``, shortened so that the slice's
    arrivals stay within ``max_requests``."""
    used = [q for q in loads if q.replicas > 0 and q.class_rps]
    f = _slice_factor(used, max_replicas)
    pools, streams, kept = [], [], []
    for i, q in enumerate(used):
        o = q.option
        k = max(1, round(q.replicas * f))
        kept.append(k)
        d = demands[o.class_idx]
        b = max(1, o.batch)
        tokens = max(8192, int(1.5 * (b + b * d.isl / d.osl)))
        lay = o.layout
        pools.append(PoolSpec(
            name=f"p{i}:{o.class_name}/{o.hw_id}", hardware=o.hw_id, model=d.model, replicas=k,
            layout=LayoutSpec(num_chips=lay.num_chips, tp=lay.tp, pp=lay.pp, weight_precision=lay.weight_precision,
                              kv_precision=lay.kv_precision),
            scheduler=SchedulerSpec(max_seqs=b, max_batched_tokens=tokens), tiers=[f"{TIER_PREFIX}{i}"],
            speculative=None if o.spec is None else SpeculativeSpec(
                draft_model=o.spec[0], draft_tokens=o.spec[1], acceptance=o.spec[2]),
        ))
        for ci, rps in sorted(q.class_rps.items()):
            if rps > 0:
                streams.append(Stream(ci, i, rps * k / q.replicas))
    total = sum(s.rate_rps for s in streams)
    window = min(duration_s, max_requests / total) if total > 0 else duration_s
    while window > 0 and sum(round(s.rate_rps * window) for s in streams) > max_requests:
        window *= 0.99
    traffic = []
    for k, s in enumerate(streams):
        c = sc.traffic[s.class_idx]
        a = c.arrivals
        trace_lengths = a.lengths_from_trace or a.process is None
        arr = ArrivalSpec(process="gamma" if a.process == "gamma" else "poisson", rate_rps=s.rate_rps, cv=a.cv,
                          trace=a.trace if trace_lengths else None, format=a.format, lengths_from_trace=trace_lengths)
        traffic.append(c.model_copy(update={"name": f"s{k}", "arrivals": arr, "tier": f"{TIER_PREFIX}{s.pool}"}))
    out = Scenario(
        name=f"{sc.name} (plan check)", traffic=traffic, pools=pools,
        routing=RoutingSpec(policy="slo-tier-strict"), facility=sc.facility,
        sim=SimSpec(seed=seed, duration_s=max(window, 1e-3), max_requests=max_requests),
    )
    return out, streams, kept


def _requests(ssc: Scenario, base_dir: Path, window_s: float, seed: int) -> Iterator[Request]:
    """Each stream's arrivals: ``round(rate x window)`` of them, a Poisson (or gamma renewal) process
    conditioned on that count; lengths from the class's distributions or resampled from its trace."""
    sources: list[tuple[str, Source]] = []
    traces: dict[tuple[str, str], RequestBatch] = {}
    for k, c in enumerate(ssc.traffic):
        a = c.arrivals
        n = round(float(a.rate_rps or 0.0) * window_s)
        if n <= 0:
            continue
        rng = np.random.default_rng([seed, k])
        shape = 1.0 / (a.cv * a.cv) if a.process == "gamma" else 1.0
        gaps = rng.gamma(shape, 1.0, n + 1)
        t = np.cumsum(gaps)[:n] / float(gaps.sum()) * window_s
        if a.lengths_from_trace and a.trace is not None:
            key = (a.trace, a.format)
            if key not in traces:
                traces[key] = load_trace(resolve_data_path(a.trace, base_dir), a.format, seed=seed)
            b = traces[key]
            rows = rng.integers(0, len(b), n)
            p, o = b.prompt_tokens[rows], b.output_tokens[rows]
        else:
            assert c.input_tokens is not None and c.output_tokens is not None
            p, o = length_dist(c.input_tokens).sample(rng, n), length_dist(c.output_tokens).sample(rng, n)
        sources.append((c.name, TraceSource(make_batch(t, p, o))))
    return merge(sources) if sources else iter(())


def verify(sc: PlanScenario, base_dir: Path, demands: list[Demand], loads: list[PoolLoad],
           max_replicas: int | None = None, progress: object = None) -> Verification:
    """Simulate (a slice of) the plan at its planned peak load; ``max_replicas`` overrides
    ``plan.verify.max_replicas``."""
    v = sc.plan.verify
    limit = max_replicas or v.max_replicas
    used = [q for q in loads if q.replicas > 0 and q.class_rps]
    fleet = sum(q.replicas for q in used)
    if not used:
        return Verification([], 1.0, 0, 0.0, 0, 0.0, {}, {}, 0)
    ssc, streams, kept = sim_scenario(sc, demands, used, limit, v.duration_s, v.max_requests, v.seed)
    window = float(ssc.sim.duration_s or 0.0)
    sim = Simulation(ssc, base_dir, keep_requests=True, requests=_requests(ssc, base_dir, window, v.seed))
    res = sim.run(progress if callable(progress) else None)
    by_class: dict[int, list[str]] = {}
    for k, s in enumerate(streams):
        by_class.setdefault(s.class_idx, []).append(f"s{k}")
    typed = typed_summary(res, {demands[ci].name: names for ci, names in sorted(by_class.items())})
    got = typed.by_name()
    cols = res.columns
    stream_class = np.array([s.class_idx for s in streams], np.int64)
    checks = []
    for ci in sorted(by_class):
        d = demands[ci]
        cs = got[d.name]
        planned = sum(s.rate_rps for s in streams if s.class_idx == ci)
        reps = sum(kept[i] for i, q in enumerate(used) if ci in q.class_rps)
        fleet_reps = sum(q.replicas for q in used if ci in q.class_rps)
        arrived = cs.arrivals / window if window > 0 else 0.0
        if cs.requests == 0:
            checks.append(ClassCheck(d.name, d.slo, False, 0, math.nan, math.nan, math.nan, cs.rejected == 0,
                                     "no request arrived in the window", planned, arrived, reps, fleet_reps))
            continue
        checks.append(ClassCheck(d.name, d.slo, True, cs.requests, cs.ttft_s.p99, cs.tpot_s.p99, cs.attainment,
                                 cs.met_at_p99, "" if not cs.rejected else f"{cs.rejected:,} rejected",
                                 planned, arrived, reps, fleet_reps))
    lat: dict[str, dict[str, list[float]]] = {}
    if cols:
        cls_of_req = stream_class[cols["class_idx"]]
        for ci in by_class:
            sel = cls_of_req == ci
            lat[demands[ci].name] = {k: sorted(float(x) for x in cols[k][sel] if x == x) for k in ("ttft_s", "tpot_s")}
    sim_reps = len(res.replicas)
    return Verification(checks, sim_reps / fleet if fleet else 1.0, sim_reps, window, res.requests, res.wall_s,
                        summarize(res), lat, fleet, typed)


__all__ = ["MET_DEFINITION", "ClassCheck", "FleetInfo", "PoolCheck", "PoolLoad", "Stream", "Verification",
           "sim_scenario", "verify"]
