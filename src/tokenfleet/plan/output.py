"""``plan.json`` (read by :mod:`tokenfleet.deal.plan_link`; extra keys for people and tools) and
``plan.csv`` (one row per pool)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from tokenfleet.plan.economics import FORMULAS
from tokenfleet.plan.planner import PlanResult, PoolPlan
from tokenfleet.plan.verify import MET_DEFINITION
from tokenfleet.scenario import Slo


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))) else float(x)


def slo_json(s: Slo) -> dict[str, float | None]:
    """The SLO as written in the scenario (``ttft_p99_ms``, ``tpot_p99_ms``, ``min_user_tok_s``)."""
    return {"ttft_p99_ms": s.ttft_p99_ms, "tpot_p99_ms": s.tpot_p99_ms, "min_user_tok_s": s.min_user_tok_s}


def power_json(r: PlanResult) -> dict[str, Any]:
    """The power the plan needs on the budget's basis beside the modelled draw (facility MW, x PUE)."""
    p, sol = r.scenario.plan, r.solution
    return {"basis": p.power_basis, "oversubscription": p.oversubscription or 1.0, "budget_mw": p.power_budget_mw,
            "provisioned_mw": sol.provisioned_mw, "peak_draw_mw": sol.peak_facility_mw,
            "average_draw_mw": sol.avg_facility_mw, "pue": r.scenario.facility.pue}


def pool_row(p: PoolPlan) -> dict[str, Any]:
    return {
        "name": p.name, "class": p.class_name, "model": p.model, "hardware": p.hw_id, "vendor": p.vendor,
        "layout": p.layout, "speculative": p.speculative, "replicas": p.replicas,
        "count": p.chips,  # units: GPUs / CS-3 systems / LPUs
        "chips": p.chips, "systems": p.units, "purchase": p.purchase, "rate_rps_per_replica": p.rate_rps_per_replica,
        "batch": p.batch, "per_user_tok_s": p.per_user_tok_s, "peak_load": p.peak_load, "headroom": _num(p.headroom),
        "it_mw": p.it_mw, "facility_mw": p.facility_mw, "avg_facility_mw": p.avg_facility_mw,
        "capex_usd": p.capex_usd, "opex_usd_per_year": p.opex_usd_per_year,
        "tco_usd_per_year": p.tco_usd_per_year, "output_tokens_per_year": p.output_tokens_per_year,
        "usd_per_mtok": _num(p.usd_per_mtok), "provisioned_mw": p.provisioned_mw, "classes": list(p.classes),
        "class_rps": p.class_rps, "class_share": p.class_share,
    }


def plan_json(r: PlanResult) -> dict[str, Any]:
    sc, sol = r.scenario, r.solution
    notes = {n.pool: f"{n.why}; {n.alternative}" for n in r.low_load}
    pools = [pool_row(p) | ({"note": notes[p.name]} if p.name in notes else {}) for p in r.pools]
    tokens = sum(p.output_tokens_per_year for p in r.pools)
    capex = sum(p.capex_usd for p in r.pools)
    opex = sum(p.opex_usd_per_year for p in r.pools)
    ver = r.verification
    return {
        "scenario": sc.name,
        "objective": sc.plan.objective,
        "horizon_years": sc.plan.horizon_years,
        "depreciation_years": sc.facility.depreciation_years,
        "pue": sc.facility.pue,
        "power_budget_mw": sc.plan.power_budget_mw,
        "pools": pools,
        "totals": {
            "capex_usd": capex, "opex_usd_per_year": opex, "tco_usd_per_year": sol.tco_usd_per_year,
            "tco_usd_horizon": sol.tco_usd_per_year * sc.plan.horizon_years,
            "facility_mw": sol.peak_facility_mw, "it_mw": sol.peak_facility_mw / sc.facility.pue,
            "provisioned_mw": sol.provisioned_mw,
            "avg_facility_mw": sol.avg_facility_mw, "output_tokens_per_year": tokens,
            "usd_per_mtok": sol.tco_usd_per_year / tokens * 1e6 if tokens > 0 else None,
            "traffic_scale": sol.scale,
        },
        "classes": [{"class": d.name, "model": d.model, "mean_rps": d.mean_rps, "peak_rps": d.peak_rps,
                     "mean_input_tokens": d.isl, "mean_output_tokens": d.osl, "slo": slo_json(d.slo),
                     "ttft_p99_ms": _num(d.ttft_p99_s * 1e3), "tpot_p99_ms": _num(d.tpot_p99_s * 1e3)}
                    for d in r.demands],
        "bill_of_materials": r.bill_of_materials,
        "cost_by_class": [{"class": k.name, "capex_usd": k.capex_usd, "opex_usd_per_year": k.opex_usd_per_year,
                           "tco_usd_per_year": k.tco_usd_per_year, "share_of_tco": k.share_of_tco,
                           "output_tokens_per_year": k.output_tokens_per_year, "usd_per_mtok": _num(k.usd_per_mtok)}
                          for k in r.class_costs],
        "shadow_prices": [{"constraint": s.constraint, "change": s.change, "relax": 0.1, "saving": s.saving,
                           "saving_frac": s.saving_frac} for s in r.shadow],
        "binding": [{"constraint": b.constraint, "detail": b.detail, "gain": b.gain} for b in r.binding],
        "excluded": r.excluded,
        "power": power_json(r),
        "deal_terms": None if r.terms is None else {
            **{k: getattr(r.terms, k) for k in ("hardware", "unit_name", "contract_usd", "facility_mw", "term_years",
                                                "mw_years", "units", "usd_per_unit_bought", "usd_per_mw_year",
                                                "usd_per_unit_year", "equivalent_unit_price_usd",
                                                "catalog_unit_price_usd", "min_user_tok_s", "source")},
            "serves": [{"model": s.model, "layout": s.layout, "per_user_tok_s": s.per_user_tok_s,
                        "output_tok_s_per_unit": s.tok_s_per_unit, "output_tok_s": s.tok_s_total,
                        "usd_per_mtok": s.usd_per_mtok} for s in r.terms.serves]},
        "low_load": [{"pool": n.pool, "peak_load": n.peak_load, "why": n.why, "alternative": n.alternative}
                     for n in r.low_load],
        "sensitivity": [{"input": b.input, "low": b.low, "high": b.high, "tco_low_usd": b.tco_low_usd,
                         "tco_high_usd": b.tco_high_usd, "unit": b.unit, "base": b.base,
                         **({"traffic_scale_low": b.scale_low, "traffic_scale_high": b.scale_high}
                            if b.scale_low is not None or b.scale_high is not None else {})}
                        for b in r.sensitivity],
        "slo_breakpoints": [{"class": b.class_name, "slo": b.slo, "value": b.value,
                             "tco_tighter_usd": b.tco_tighter_usd, "tco_looser_usd": b.tco_looser_usd,
                             "direction": b.direction, "base_value": b.base_value, "fleet_tighter": b.fleet_tighter,
                             "fleet_looser": b.fleet_looser, "text": b.sentence()} for b in r.breakpoints],
        "verification": None if ver is None else {
            "slice_fraction": ver.slice_fraction, "sim_replicas": ver.sim_replicas,
            "fleet_replicas": ver.fleet_replicas, "slice": ver.slice_text, "duration_s": ver.duration_s,
            "requests": ver.requests, "wall_s": ver.wall_s, "met_definition": MET_DEFINITION,
            "classes": [{"class": c.name, "slo": slo_json(c.slo), "simulated": c.simulated,
                         "requests": c.requests, "planned_rps": c.planned_rps, "simulated_rps": c.simulated_rps,
                         "replicas": c.replicas, "fleet_replicas": c.fleet_replicas,
                         "ttft_p99_ms": _num(c.ttft_p99_s * 1e3), "tpot_p99_ms": _num(c.tpot_p99_s * 1e3),
                         "slo_attainment": _num(c.attainment), "met": c.met, "note": c.note}
                        for c in ver.classes],
            "mode": ver.mode,
            **({} if ver.mode != "fleet" else {
                "pools": [{"pool": q.name, "hardware": q.hardware, "replicas": q.replicas, "classes": list(q.classes),
                           "requests": q.requests, "ttft_p99_ms": _num(q.ttft_p99_s * 1e3),
                           "tpot_p99_ms": _num(q.tpot_p99_s * 1e3), "slo_attainment": _num(q.attainment),
                           "utilisation": q.utilisation, "max_kv_use_frac": q.max_kv_use_frac,
                           "preemptions": q.preemptions} for q in ver.pools],
                "fleet": None if ver.fleet is None else {
                    **{k: getattr(ver.fleet, k) for k in ("shards", "cell_replicas", "backend", "measured_requests",
                                                          "cpu_s", "routing", "percentiles")},
                    "cores": list(ver.fleet.cores), "warmup_s": {"min": ver.fleet.warmup_s[0],
                                                                 "max": ver.fleet.warmup_s[1]},
                    "shard_costs": [{"replicas": a, "requests": b, "cpu_s": cpu, "wall_s": w}
                                    for a, b, cpu, w in ver.fleet.shard_costs]}}),
        },
        "iterations": [{"iteration": i.index, "tco_usd_per_year": i.tco_usd_per_year, "facility_mw": i.facility_mw,
                        "derate": i.derate, "missed": i.missed} for i in r.iterations],
        "budget_options": [{"power_budget_mw": mw, "feasible": s is not None,
                            "tco_usd_per_year": s.tco_usd_per_year if s else None,
                            "facility_mw": s.peak_facility_mw if s else None,
                            "traffic_scale": s.scale if s else None} for mw, s in r.budget_options],
        "pareto_cost_vs_mw": [{"facility_mw": q.facility_mw, "tco_usd_per_year": q.tco_usd_per_year,
                               "mw_by_vendor": q.mw_by_vendor, "status": q.status, "note": q.note}
                              for q in r.pareto_mw],
        "pareto_cost_vs_slo": [{"slo_factor": q.x, "tco_usd_per_year": q.tco_usd_per_year,
                                "facility_mw": q.facility_mw, "status": q.status, "note": q.note}
                               for q in r.pareto_slo],
        "formulas": FORMULAS,
        "timings_s": r.timings_s,
    }


def write_plan_files(r: PlanResult, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = plan_json(r)
    pj = out_dir / "plan.json"
    pj.write_text(json.dumps(data, indent=1), encoding="utf-8")
    pc = out_dir / "plan.csv"
    rows = [{**{k: v for k, v in q.items() if k != "purchase"},
             **{f"purchase_{k}": v for k, v in q["purchase"].items()}} for q in data["pools"]]
    with pc.open("w", newline="", encoding="utf-8") as fh:
        fields = list(dict.fromkeys(k for q in rows for k in q)) or ["name"]  # a note only on idle pools
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return [pj, pc]


__all__ = ["plan_json", "pool_row", "power_json", "slo_json", "write_plan_files"]
