"""One grid point's work — plan, simulate and/or value a deal — as a pure function of a picklable task.

:func:`evaluate` runs the same way in-process (``--no-ray``) and in a Ray worker, and returns one flat row
(``dict`` of scalars): the point's index, its grid values, its seed, ``status`` (``ok`` / ``infeasible`` /
``error``) with ``message``, then ``plan.*``, ``sim.*`` and ``deal.*`` columns. A scenario with a ``plan:``
section is always planned (``simulate`` then means the planner's simulation of the planned fleet); one
with pools and no ``plan:`` is simulated as it stands. A user error at one point
(an infeasible plan, say) is recorded in its row; the rest of the sweep goes on. ``wall_s`` is the only
column that depends on the machine.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenfleet.errors import InfeasibleError, TokenfleetError
from tokenfleet.sweep.grid import Value

STEPS = ("plan", "simulate", "deal")


@dataclass(frozen=True, slots=True)
class PointTask:
    index: int
    assignments: tuple[tuple[str, Value], ...]
    scenario: dict[str, Any]
    base_dir: str
    where: str
    seed: int
    steps: tuple[str, ...] = ("plan",)
    max_requests: int | None = None
    duration_s: float | None = None
    deal: dict[str, Any] | None = None
    deal_dir: str | None = None
    deal_paths: int | None = None


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def sim_row(summary: dict[str, Any]) -> dict[str, Any]:
    f = summary["fleet"]
    row: dict[str, Any] = {
        "sim.requests": summary["requests"],
        "sim.slo_attainment": _num(f["slo_attainment"]),
        "sim.ttft_p99_ms": _num(f["ttft_s"]["p99"] * 1e3),
        "sim.tpot_p99_ms": _num(f["tpot_s"]["p99"] * 1e3),
        "sim.goodput_rps": _num(f["goodput_rps"]),
        "sim.avg_mw": _num(f["avg_mw"]),
        "sim.peak_mw": _num(f["peak_mw"]),
        "sim.cost_usd": _num(f["cost_usd"]),
        "sim.usd_per_mtok": _num(f["usd_per_mtok"]),
        "sim.joules_per_output_token": _num(f["joules_per_output_token"]),
    }
    for c in summary["classes"]:
        n = c["class"]
        row[f"sim.{n}.ttft_p99_ms"] = _num(c["ttft_s"]["p99"] * 1e3)
        row[f"sim.{n}.tpot_p99_ms"] = _num(c["tpot_s"]["p99"] * 1e3)
        row[f"sim.{n}.slo_attainment"] = _num(c["slo_attainment"])
    for p in summary["pools"]:
        row[f"sim.{p['pool']}.utilisation"] = _num(p["utilisation"])
    return row


def _simulate(task: PointTask, data: dict[str, Any]) -> dict[str, Any]:
    from tokenfleet.scenario import Scenario, parse_scenario
    from tokenfleet.sim.engine import Simulation
    from tokenfleet.sim.summary import summarize

    over = {k: v for k, v in (("max_requests", task.max_requests), ("duration_s", task.duration_s)) if v}
    if over:
        data = {**data, "sim": {**data.get("sim", {}), **over}}
    plain = {k: v for k, v in data.items() if k != "plan"}
    sc: Scenario = parse_scenario(plain, task.where)
    res = Simulation(sc, task.base_dir, keep_requests=False).run()
    return sim_row(summarize(res))


def _plan(task: PointTask, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(row columns, plan.json payload) of the point's plan; with ``simulate`` the planner's own check
    simulates the planned fleet and its summary becomes the ``sim.*`` columns."""
    from tokenfleet.sweep.planlink import run_plan

    simulate = "simulate" in task.steps
    if simulate:
        verify = {**(data["plan"].get("verify") or {}), "enabled": True}
        verify.update({k: v for k, v in (("max_requests", task.max_requests), ("duration_s", task.duration_s)) if v})
        data = {**data, "plan": {**data["plan"], "verify": verify}}
    row, payload, _ = run_plan(data, Path(task.base_dir), task.where, verify=simulate)
    ver = payload.get("verification")
    if simulate and ver is not None:
        row.update(sim_row(ver["sim_summary"]))
    return row, payload


def _deal(task: PointTask, plan_json: dict[str, Any] | None) -> dict[str, Any]:
    from tokenfleet.deal.load import parse_deal
    from tokenfleet.deal.valuation import value_deal

    assert task.deal is not None
    raw = json.loads(json.dumps(task.deal, default=str))
    with tempfile.TemporaryDirectory(prefix="tokenfleet-sweep-") as tmp:
        link = raw.get("contract", {}).get("from_plan")
        if isinstance(link, dict) and plan_json is not None:
            p = Path(tmp) / "plan.json"
            p.write_text(json.dumps(plan_json))
            link["path"] = str(p)
        deal = parse_deal(raw, "deal.yaml", Path(task.deal_dir or "."))
    v = value_deal(deal, paths=task.deal_paths, seed=task.seed)
    return {
        "deal.warrant_value_usd": _num(v.warrant_value_usd),
        "deal.buyer_npv_usd": _num(v.buyer_npv_usd),
        "deal.issuer_net_usd": _num(v.issuer_net_usd),
        "deal.expected_mw_delivered": _num(v.contract.expected_mw_delivered),
        "deal.expected_payments_usd": _num(v.contract.expected_total_payments_usd),
        "deal.net_usd_per_mw_year": _num(v.prices.net_usd_per_mw_year),
    }


def evaluate(task: PointTask) -> dict[str, Any]:
    """Run the point's steps; never raises a :class:`TokenfleetError` (it goes into the row)."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {"point": task.index, **dict(task.assignments), "seed": task.seed, "status": "ok",
                           "message": ""}
    data = task.scenario
    plan_json: dict[str, Any] | None = None
    try:
        if "plan" in data:
            cols, plan_json = _plan(task, data)
            row.update(cols)
        elif "simulate" in task.steps:
            row.update(_simulate(task, data))
        if "deal" in task.steps and task.deal is not None:
            row.update(_deal(task, plan_json))
    except InfeasibleError as exc:
        row.update(status="infeasible", message=str(exc))
    except TokenfleetError as exc:
        row.update(status="error", message=str(exc))
    row["wall_s"] = time.perf_counter() - t0
    return row


__all__ = ["STEPS", "PointTask", "evaluate", "sim_row"]
