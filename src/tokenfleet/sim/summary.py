"""Turn a :class:`SimResult` into numbers: :func:`summarize` gives the plain dict ``simulate --json`` prints
(per class, per pool and fleet latency, SLO attainment, goodput, utilisation, energy (IT x PUE), power
(average and peak over ``sim.power_bin_s`` windows) and cost (hardware amortised over
``facility.depreciation_years`` plus energy at ``facility.usd_per_mwh``)); :func:`typed_summary` gives the
typed per-class view (:class:`SimSummary` of :class:`ClassSummary`) that checks read, each class with its
:class:`~tokenfleet.scenario.Slo` and both definitions of "met" (p99 per class, share of requests)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tokenfleet.scenario import Slo
from tokenfleet.sim.engine import SimResult
from tokenfleet.sim.metrics import Group, merge_groups

J_PER_KWH = 3.6e6


def pool_energy(res: SimResult) -> list[dict[str, Any]]:
    """Per pool: utilisation, energy, power, cost and counters of its replicas (``_bins``: dynamic energy
    per power window, ``_idle_w``: the pool's idle draw, for the fleet's peak)."""
    sc, period = res.scenario, max(res.period_s, 1e-9)
    pue, bin_s = sc.facility.pue, sc.sim.power_bin_s
    out = []
    rep_i = 0
    for p in res.pools:
        reps = res.replicas[rep_i : rep_i + p.replicas]
        rep_i += p.replicas
        idle_w = p.dep.idle_power_w * p.replicas
        it_j = idle_w * period + sum(r.stats.dyn_energy_j for r in reps)
        bins: dict[int, float] = {}
        for r in reps:
            for b, e in r.bins.items():
                bins[b] = bins.get(b, 0.0) + e
        width = min(bin_s, period)
        peak_it_w = idle_w + (max(bins.values()) / width if bins else 0.0)
        busy = sum(r.stats.busy_s for r in reps)
        fac_j = it_j * pue
        hw_usd = p.usd_per_s * p.replicas * period
        energy_usd = fac_j / 3.6e9 * sc.facility.usd_per_mwh
        out.append(
            {
                "pool": p.name,
                "hardware": p.spec.hardware,
                "layout": p.dep.layout.describe(),
                "replicas": p.replicas,
                "chips": p.replicas * p.dep.num_chips,
                "utilisation": busy / (period * p.replicas),
                "busy_s": busy,
                "iterations": sum(r.stats.iterations for r in reps),
                "events": sum(r.stats.runs for r in reps),
                "preemptions": sum(r.stats.preemptions for r in reps),
                "max_kv_use_frac": max(
                    (r.stats.max_kv_blocks / max(r.kv.capacity_blocks, 1) for r in reps), default=0.0
                ),
                "energy_kwh": fac_j / J_PER_KWH,
                "it_energy_kwh": it_j / J_PER_KWH,
                "avg_mw": fac_j / period / 1e6,
                "peak_mw": peak_it_w * pue / 1e6,
                "cost_usd": hw_usd + energy_usd,
                "hardware_usd": hw_usd,
                "energy_usd": energy_usd,
                "_bins": bins,
                "_idle_w": idle_w,
            }
        )
    return out


def summarize(res: SimResult) -> dict[str, Any]:
    """Everything ``tokenfleet simulate --json`` prints."""
    period = max(res.period_s, 1e-9)
    col = res.collector
    pools = pool_energy(res)
    handed = res.handed_off or [(0, 0)] * len(pools)
    for p, g, (n_handed, tok_handed) in zip(pools, col.pools, handed, strict=True):
        p.update(g.summary(period))
        # a prefill pool's requests complete in a decode pool: count the prompts it prefilled, and its energy
        # per output token of the requests it served (so the pools' J/tok add up to the fleet's)
        p["requests"] += n_handed
        p["joules_per_output_token"] = p["energy_kwh"] * J_PER_KWH / max(g.output_tokens + tok_handed, 1)
    fleet_bins: dict[int, float] = {}
    for p in pools:
        for b, e in p.pop("_bins").items():
            fleet_bins[b] = fleet_bins.get(b, 0.0) + e
    idle_w = sum(p.pop("_idle_w") for p in pools)
    pue = res.scenario.facility.pue
    width = min(res.scenario.sim.power_bin_s, period)
    fleet = col.total.summary(period)
    energy_kwh = sum(p["energy_kwh"] for p in pools)
    fleet.update(
        energy_kwh=energy_kwh,
        joules_per_output_token=energy_kwh * J_PER_KWH / max(col.total.output_tokens, 1),
        avg_mw=sum(p["avg_mw"] for p in pools),
        peak_mw=(idle_w + (max(fleet_bins.values()) / width if fleet_bins else 0.0)) * pue / 1e6,
        cost_usd=sum(p["cost_usd"] for p in pools),
        hardware_usd=sum(p["hardware_usd"] for p in pools),
        energy_usd=sum(p["energy_usd"] for p in pools),
        usd_per_mtok=sum(p["cost_usd"] for p in pools) / max(col.total.output_tokens, 1) * 1e6,
        replicas=len(res.replicas),
        pue=pue,
    )
    classes = [
        {
            "class": g.name,
            "ttft_slo_ms": g.ttft_slo_s * 1e3 if g.ttft_slo_s != float("inf") else None,
            "tpot_slo_ms": g.tpot_slo_s * 1e3 if g.tpot_slo_s != float("inf") else None,
            **g.summary(period),
        }
        for g in col.classes
    ]
    return {
        "scenario": res.scenario.name,
        "requests": res.requests,
        "rejected": res.rejected,
        "period_s": res.period_s,
        "wall_s": res.wall_s,
        "sim_requests_per_s": res.requests / res.wall_s if res.wall_s else None,
        "core": res.core,
        "fleet": fleet,
        "classes": classes,
        "pools": pools,
    }


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Latency in seconds over a class's completed requests (NaN: no sample)."""

    mean: float
    p50: float
    p90: float
    p99: float


@dataclass(frozen=True, slots=True)
class ClassSummary:
    """One traffic class of a simulation run.

    ``attainment`` is the per-request definition (share of arrived requests, rejected ones counted as misses,
    each within both targets); :attr:`met_at_p99` is the class-level one (p99 TTFT and TPOT within them)."""

    name: str
    slo: Slo
    requests: int  # completed
    rejected: int  # never served (prompt longer than a replica's KV cache)
    ttft_s: Percentiles
    tpot_s: Percentiles
    e2e_s: Percentiles
    attainment: float
    output_tokens: int

    @property
    def arrivals(self) -> int:
        return self.requests + self.rejected

    @property
    def met_at_p99(self) -> bool:
        return self.requests > 0 and self.rejected == 0 and self.slo.is_met_at_p99(self.ttft_s.p99, self.tpot_s.p99)


@dataclass(frozen=True, slots=True)
class SimSummary:
    classes: tuple[ClassSummary, ...]
    period_s: float  # first arrival to last completion
    requests: int
    rejected: int
    replicas: int
    wall_s: float

    def by_name(self) -> dict[str, ClassSummary]:
        return {c.name: c for c in self.classes}


def _percentiles(g: Group, m: str) -> Percentiles:
    cnt = g.tpot_count if m == "tpot_s" else g.count
    mean = g.sums[m] / cnt if cnt else math.nan
    return Percentiles(mean, g.quantile(m, 50), g.quantile(m, 90), g.quantile(m, 99))


def typed_summary(res: SimResult, merge: Mapping[str, Sequence[str]] | None = None) -> SimSummary:
    """Per class of the run; ``merge`` reports several simulated classes as one (name -> the simulated
    classes' names, which must share one SLO): e.g. one traffic class split over several pools."""
    groups = {g.name: g for g in res.collector.classes}
    slos = {c.name: c.slo.to_slo() for c in res.scenario.traffic}
    plan = merge if merge is not None else {g.name: [g.name] for g in res.collector.classes}
    out = []
    for name, parts in plan.items():
        gs = [groups[p] for p in parts]
        if len({slos[p] for p in parts}) > 1:
            raise ValueError(f"classes merged into {name!r} have different SLOs")
        g = gs[0] if len(gs) == 1 else merge_groups(name, gs)
        n = max(g.count + g.rejected, 1)
        out.append(ClassSummary(name, slos[parts[0]], g.count, g.rejected, _percentiles(g, "ttft_s"),
                                _percentiles(g, "tpot_s"), _percentiles(g, "e2e_s"), g.slo_ok / n, g.output_tokens))
    return SimSummary(tuple(out), res.period_s, res.requests, res.rejected, len(res.replicas), res.wall_s)


__all__ = ["ClassSummary", "Percentiles", "SimSummary", "pool_energy", "summarize", "typed_summary"]
