"""Turn a :class:`SimResult` into plain numbers: per class, per pool and fleet latency, SLO attainment,
goodput, utilisation, energy (IT x PUE), power (average and peak over ``sim.power_bin_s`` windows) and cost
(hardware amortised over ``facility.depreciation_years`` plus energy at ``facility.usd_per_mwh``)."""

from __future__ import annotations

from typing import Any

from tokenfleet.sim.engine import SimResult

J_PER_KWH = 3.6e6


def _pool_energy(res: SimResult) -> list[dict[str, Any]]:
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
    pools = _pool_energy(res)
    for p, g in zip(pools, col.pools, strict=True):
        p.update(g.summary(period))
        p["joules_per_output_token"] = p["energy_kwh"] * J_PER_KWH / max(g.output_tokens, 1)
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
        "fleet": fleet,
        "classes": classes,
        "pools": pools,
    }


__all__ = ["summarize"]
