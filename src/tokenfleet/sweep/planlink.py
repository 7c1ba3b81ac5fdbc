"""The one place the sweep and the dashboard touch the planner: run it, and turn its result into plain JSON.

:func:`plan_payload` is the JSON both use (pools, totals, Pareto frontier, binding constraints, the
verification run's per-class latencies); its ``pools`` / ``totals`` / ``horizon_years`` keys are the
``plan.json`` format :mod:`tokenfleet.deal.plan_link` reads, so a deal can be valued on a plan (files people
download come from the planner's own :func:`tokenfleet.plan.output.plan_json`).
:func:`plan_row` flattens it to sweep columns: ``plan.tco_usd_per_year``, ``plan.facility_mw``,
``plan.chips.<hardware>``, ``plan.mw.<vendor>``, ...
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

Progress = Callable[[str, float], None]


def _f(x: Any) -> float | None:
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def plan_payload(result: Any) -> dict[str, Any]:
    """A :class:`tokenfleet.plan.planner.PlanResult` as JSON-able data (``plan.json``)."""
    sc = result.scenario
    sol = result.solution
    pools = []
    for p in result.pools:
        pools.append({
            "name": p.name, "class": p.class_name, "model": p.model, "hardware": p.hw_id, "vendor": p.vendor,
            "layout": p.layout, "speculative": p.speculative, "replicas": int(p.replicas), "count": int(p.chips),
            "systems": int(p.units), "purchase": p.purchase, "headroom": _f(p.headroom),
            "rate_rps_per_replica": _f(p.rate_rps_per_replica), "batch": int(p.batch),
            "per_user_tok_s": _f(p.per_user_tok_s), "peak_load": _f(p.peak_load), "it_mw": _f(p.it_mw),
            "facility_mw": _f(p.facility_mw), "avg_facility_mw": _f(p.avg_facility_mw), "capex_usd": _f(p.capex_usd),
            "opex_usd_per_year": _f(p.opex_usd_per_year), "tco_usd_per_year": _f(p.tco_usd_per_year),
            "output_tokens_per_year": _f(p.output_tokens_per_year), "usd_per_mtok": _f(p.usd_per_mtok),
        })
    tokens = sum(p["output_tokens_per_year"] or 0.0 for p in pools)
    totals = {
        "tco_usd_per_year": _f(sol.tco_usd_per_year),
        "capex_usd": sum(p["capex_usd"] or 0.0 for p in pools),
        "opex_usd_per_year": sum(p["opex_usd_per_year"] or 0.0 for p in pools),
        "facility_mw": _f(sol.peak_facility_mw),
        "avg_facility_mw": _f(sol.avg_facility_mw),
        "output_tokens_per_year": tokens,
        "usd_per_mtok": _f(sol.tco_usd_per_year / tokens * 1e6) if tokens > 0 else None,
        "chips": sum(p["count"] for p in pools),
    }
    by_vendor: dict[str, dict[str, float]] = {}
    for p in pools:
        v = by_vendor.setdefault(p["vendor"], {"facility_mw": 0.0, "tco_usd_per_year": 0.0, "capex_usd": 0.0,
                                               "chips": 0.0})
        v["facility_mw"] += p["facility_mw"] or 0.0
        v["tco_usd_per_year"] += p["tco_usd_per_year"] or 0.0
        v["capex_usd"] += p["capex_usd"] or 0.0
        v["chips"] += p["count"]
    ver = result.verification
    verification = None
    if ver is not None:
        verification = {
            "all_met": bool(ver.all_met), "slice_fraction": _f(ver.slice_fraction), "requests": int(ver.requests),
            "duration_s": _f(ver.duration_s), "classes": [_class_check(c) for c in ver.classes],
            "latencies": {k: {m: [float(x) for x in xs] for m, xs in v.items()} for k, v in ver.latencies.items()},
            "sim_summary": ver.summary,
        }
    return {
        "scenario": sc.name,
        "objective": sc.plan.objective,
        "power_budget_mw": sc.plan.power_budget_mw,
        "horizon_years": sc.plan.horizon_years,
        "pue": sc.facility.pue,
        "pools": pools,
        "totals": totals,
        "by_vendor": by_vendor,
        "binding": [{"constraint": b.constraint, "detail": b.detail, "gain": _f(b.gain)} for b in result.binding],
        "pareto_mw": [{"budget_mw": _f(q.x), "tco_usd_per_year": _f(q.tco_usd_per_year),
                       "facility_mw": _f(q.facility_mw),
                       "mw_by_vendor": {k: float(v) for k, v in q.mw_by_vendor.items()}}
                      for q in result.pareto_mw],
        "verification": verification,
    }


def _class_check(c: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in getattr(c, "__slots__", ()) or vars(c):
        v = getattr(c, k)
        if dataclasses.is_dataclass(v) and not isinstance(v, type):  # a typed value (the class's Slo)
            v = dataclasses.asdict(v)
        out[k] = _f(v) if isinstance(v, float | int) and not isinstance(v, bool) else v
    return out


def plan_row(payload: dict[str, Any]) -> dict[str, Any]:
    t = payload["totals"]
    row: dict[str, Any] = {
        "plan.tco_usd_per_year": t["tco_usd_per_year"],
        "plan.capex_usd": t["capex_usd"],
        "plan.facility_mw": t["facility_mw"],
        "plan.avg_facility_mw": t["avg_facility_mw"],
        "plan.usd_per_mtok": t["usd_per_mtok"],
        "plan.chips": t["chips"],
        "plan.binding": "; ".join(b["constraint"] for b in payload["binding"]),
    }
    chips: dict[str, int] = {}
    for p in payload["pools"]:
        chips[p["hardware"]] = chips.get(p["hardware"], 0) + p["count"]
    for hw, n in sorted(chips.items()):
        row[f"plan.chips.{hw}"] = n
    units: dict[str, int] = {}
    for p in payload["pools"]:
        units[p["hardware"]] = units.get(p["hardware"], 0) + int(p["systems"])
    for hw, n in sorted(units.items()):
        row[f"plan.units.{hw}"] = n
    for vendor, v in sorted(payload["by_vendor"].items()):
        row[f"plan.mw.{vendor}"] = v["facility_mw"]
    hw_of: dict[str, list[str]] = {}
    for p in payload["pools"]:
        hw_of.setdefault(p["class"], []).append(p["hardware"])
    for cls, hws in hw_of.items():
        row[f"plan.hardware.{cls}"] = "+".join(sorted(set(hws)))
    ver = payload.get("verification")
    if ver is not None:
        row["plan.verified"] = ver["all_met"]
    return row


def run_plan(data: dict[str, Any], base_dir: Path, where: str, *, verify: bool = False, pareto: bool = False,
             progress: Progress | None = None, sensitivity: bool = False
             ) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """Plan the scenario ``data``: (sweep row columns, :func:`plan_payload`, the planner's ``PlanResult``);
    ``sensitivity`` adds the plan's tornado and SLO breakpoints (off for sweep points)."""
    from tokenfleet.plan.planner import plan
    from tokenfleet.plan.schema import parse_plan_scenario

    if "plan" not in data:
        from tokenfleet.errors import InputError

        raise InputError("the scenario has no plan: section, so there is nothing to plan", where=where)
    sc = parse_plan_scenario(data, where)
    result = plan(sc, base_dir, progress, run_verify=verify, pareto=pareto, shadow=False, sensitivity=sensitivity)
    payload = plan_payload(result)
    return plan_row(payload), payload, result


__all__ = ["plan_payload", "plan_row", "run_plan"]
