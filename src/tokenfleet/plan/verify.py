"""Check a plan in the request-level simulator (:class:`tokenfleet.sim.Simulation`).

Each planned pool becomes a simulator pool whose engine limits match the planned operating point
(``max_seqs`` = the planned batch). Each class arrives as Poisson traffic (gamma keeps its burstiness) at
its planned peak rate and is routed only to its own pools (``slo-tier-strict`` with one tier per class).

Large fleets are simulated as a **slice**: every pool keeps ``max(1, round(replicas x f))`` replicas with
``f = max_replicas / total replicas``, and each class's rate is scaled by the capacity its pools keep, so
every replica sees the same load as in the full fleet. Pools with speculative decoding are simulated with
the pool's ``speculative`` setting (:class:`tokenfleet.perf.SpeculativeDeployment`: one iteration is a
draft-and-verify round divided by its expected yield).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

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
    SpeculativeSpec,
)
from tokenfleet.sim.engine import Simulation
from tokenfleet.sim.summary import summarize

TIER_PREFIX = "plan:"
MIN_DURATION_S = 20.0


@dataclass(frozen=True, slots=True)
class ClassCheck:
    name: str
    simulated: bool
    requests: int
    ttft_p99_s: float
    tpot_p99_s: float
    attainment: float  # share of requests meeting both SLOs
    met: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class Verification:
    classes: list[ClassCheck]
    slice_fraction: float
    sim_replicas: int
    duration_s: float
    requests: int
    wall_s: float
    summary: dict[str, object]  # tokenfleet.sim.summary.summarize output
    latencies: dict[str, dict[str, list[float]]]  # class -> {"ttft_s": sorted sample, "tpot_s": ...}

    @property
    def all_met(self) -> bool:
        return all(c.met for c in self.classes)


def _pool_name(o: Option, j: int) -> str:
    return f"{o.class_name}/{o.hw_id}/{j}"


def sim_scenario(sc: PlanScenario, demands: list[Demand], options: list[Option], replicas: list[int],
                 max_replicas: int, duration_s: float, max_requests: int, seed: int) -> tuple[Scenario, float]:
    """The simulator scenario for (a slice of) the plan and the slice fraction."""
    used = [(j, o, n) for j, (o, n) in enumerate(zip(options, replicas, strict=True)) if n > 0]
    total = sum(n for _, _, n in used)
    f = min(1.0, max_replicas / total) if total else 1.0
    while f > 1e-9 and sum(max(1, round(n * f)) for _, _, n in used) > max(max_replicas, len(used)):
        f *= 0.95  # rounding up to one replica per pool must not take the slice past max_replicas
    pools, cap_full, cap_slice = [], [0.0] * len(demands), [0.0] * len(demands)
    for j, o, n in used:
        k = max(1, round(n * f))
        cap_full[o.class_idx] += n * o.rate_rps
        cap_slice[o.class_idx] += k * o.rate_rps
        d = demands[o.class_idx]
        b = max(1, o.batch)
        tokens = max(8192, int(1.5 * (b + b * d.isl / d.osl)))
        lay = o.layout
        pools.append(PoolSpec(
            name=_pool_name(o, j), hardware=o.hw_id, model=d.model, replicas=k,
            layout=LayoutSpec(num_chips=lay.num_chips, tp=lay.tp, pp=lay.pp, weight_precision=lay.weight_precision,
                              kv_precision=lay.kv_precision),
            scheduler=SchedulerSpec(max_seqs=b, max_batched_tokens=tokens), tiers=[TIER_PREFIX + o.class_name],
            speculative=None if o.spec is None else SpeculativeSpec(
                draft_model=o.spec[0], draft_tokens=o.spec[1], acceptance=o.spec[2]),
        ))
    traffic = []
    total_rate = 0.0
    for ci, c in enumerate(sc.traffic):
        if cap_full[ci] <= 0:
            continue
        rate = demands[ci].peak_rps * cap_slice[ci] / cap_full[ci]
        total_rate += rate
        a = c.arrivals
        arr = ArrivalSpec(
            process="gamma" if a.process == "gamma" else "poisson", rate_rps=rate, cv=a.cv,
            trace=a.trace if (a.lengths_from_trace or a.process is None) else None, format=a.format,
            lengths_from_trace=a.lengths_from_trace or a.process is None,
        )
        traffic.append(c.model_copy(update={"arrivals": arr, "tier": TIER_PREFIX + c.name}))
    # within the scenario's limits: never past verify.duration_s, and the simulator stops at max_requests
    dur = min(duration_s, max(MIN_DURATION_S, max_requests / total_rate)) if total_rate > 0 else duration_s
    out = Scenario(
        name=f"{sc.name} (plan check)", traffic=traffic, pools=pools,
        routing=RoutingSpec(policy="slo-tier-strict"), facility=sc.facility,
        sim=SimSpec(seed=seed, duration_s=dur, max_requests=max_requests),
    )
    return out, f


def verify(sc: PlanScenario, base_dir: Path, demands: list[Demand], options: list[Option],
           replicas: list[int], progress: object = None) -> Verification:
    v = sc.plan.verify
    served = {o.class_idx for o, n in zip(options, replicas, strict=True) if n > 0}
    checks: dict[int, ClassCheck] = {}
    summary: dict[str, object] = {}
    lat: dict[str, dict[str, list[float]]] = {}
    f, n_rep, dur, reqs, wall = 1.0, 0, 0.0, 0, 0.0
    if served:
        ssc, f = sim_scenario(sc, demands, options, replicas, v.max_replicas, v.duration_s, v.max_requests, v.seed)
        sim = Simulation(ssc, base_dir, keep_requests=True)
        res = sim.run(progress if callable(progress) else None)
        summary = summarize(res)
        n_rep, dur, reqs, wall = len(res.replicas), float(ssc.sim.duration_s or 0.0), res.requests, res.wall_s
        cols = res.columns
        for g, c in zip(summary["classes"], ssc.traffic, strict=True):  # type: ignore[call-overload]
            ci = next(i for i, d in enumerate(demands) if d.name == c.name)
            d = demands[ci]
            ttft, tpot = float(g["ttft_s"]["p99"]), float(g["tpot_s"]["p99"])
            met = (g["requests"] > 0 and ttft <= d.ttft_p99_s * (1 + 1e-9)
                   and (math.isnan(tpot) or tpot <= d.tpot_p99_s * (1 + 1e-9)))
            checks[ci] = ClassCheck(d.name, True, int(g["requests"]), ttft, tpot, float(g["slo_attainment"]), met,
                                    "")
            if cols:
                sel = cols["class_idx"] == ssc.traffic.index(c)
                lat[d.name] = {k: sorted(float(x) for x in cols[k][sel] if x == x) for k in ("ttft_s", "tpot_s")}
    ordered = [checks[i] for i in sorted(checks)]
    return Verification(ordered, f, n_rep, dur, reqs, wall, summary, lat)


__all__ = ["ClassCheck", "Verification", "sim_scenario", "verify"]
