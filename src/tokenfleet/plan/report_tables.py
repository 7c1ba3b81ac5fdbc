"""The plan report's tables, built from ``plan.json`` (plus its ``cost_over_time``): the same tables go to
report.html, tables.xlsx, tables/*.csv and the dashboard."""

from __future__ import annotations

from typing import Any

from tokenfleet.viz.fmt import money, mw, pct
from tokenfleet.viz.table import Column, Table, kv_table

LOW_LOAD = 0.25  # below this planned peak load a pool gets a note
FULL_LOAD = 0.95  # at or above: no headroom left


def pool_classes(q: dict[str, Any]) -> list[str]:
    """The classes a pool serves (a shared pool serves several)."""
    cls = q.get("classes")
    if isinstance(cls, list) and cls:
        return [str(c if not isinstance(c, dict) else c.get("class", c.get("name", ""))) for c in cls]
    return [str(q.get("class", ""))]


def _unit_text(q: dict[str, Any], pools: list[dict[str, Any]]) -> str:
    buy = q.get("purchase") or {}
    unit = str(buy.get("unit", ""))
    if q.get("systems", buy.get("count", 0)):
        return unit
    owner = next((o["name"] for o in pools if o is not q and o.get("hardware") == q.get("hardware")
                  and (o.get("systems") or (o.get("purchase") or {}).get("count"))), None)
    return f"{unit}, shared with {owner}" if owner else f"{unit}, shared"


def pools_table(pj: dict[str, Any]) -> Table:
    pools = pj.get("pools", [])
    rows = []
    hl = []
    for i, q in enumerate(pools):
        units = q.get("systems", (q.get("purchase") or {}).get("count"))
        load = q.get("peak_load")
        if isinstance(load, int | float) and load >= FULL_LOAD:
            hl.append(i)
        layout = str(q.get("layout", "")) + (f" + speculative {q['speculative']}" if q.get("speculative") else "")
        rows.append([q.get("name"), ", ".join(pool_classes(q)), q.get("hardware"), layout, q.get("replicas"),
                     q.get("chips"), units or None, _unit_text(q, pools), load, q.get("per_user_tok_s"),
                     q.get("facility_mw"), q.get("capex_usd"), q.get("tco_usd_per_year"), q.get("usd_per_mtok")])
    return Table("pools", "Pools", [
        Column("pool"), Column("serves"), Column("hardware", hidden=True), Column("layout"), Column("replicas", "int"),
        Column("chips", "int"), Column("units bought", "int", note="whole units this pool buys; – : it fills "
                                        "units another pool bought"),
        Column("unit", hidden=True), Column("peak load", "pct", note="planned peak rate over capacity at the SLO"),
        Column("speed per user", "number", "tok/s"), Column("facility power", "mw", note="planned peak x PUE"),
        Column("capex", "money"), Column("TCO per year", "money"),
        Column("$ per M output tokens", "money", hidden=True)],
        rows, highlight=hl, note=("Highlighted: a pool planned at 95 % or more of its capacity at the SLO (no "
                                  "headroom for a burst above the planned peak). " if hl else "")
        + "Units: see What to order; tables.xlsx also has each pool's hardware, unit and $ per M output tokens.")


def bom_table(pj: dict[str, Any]) -> Table:
    return Table("order", "What to order", [
        Column("hardware"), Column("vendor"), Column("unit"), Column("count", "int"), Column("chips", "int"),
        Column("capex", "money"), Column("planned peak power", "mw", note="modelled peak draw x PUE"),
        Column("nameplate power", "mw", note="the units' nameplate power x PUE"),
        Column("lead time", "number", "months")],
        [[b.get("hardware"), b.get("vendor"), b.get("unit"), b.get("count"), b.get("chips"), b.get("capex_usd"),
          b.get("facility_mw"), b.get("nameplate_facility_mw"), b.get("lead_time_months")]
         for b in pj.get("bill_of_materials", [])])


def class_table(pj: dict[str, Any]) -> Table:
    return Table("classes", "Cost by traffic class", [
        Column("class"), Column("capex", "money"), Column("opex per year", "money"),
        Column("TCO per year", "money"), Column("share of TCO", "pct"),
        Column("$ per M output tokens", "money")],
        [[k.get("class"), k.get("capex_usd"), k.get("opex_usd_per_year"), k.get("tco_usd_per_year"),
          k.get("share_of_tco"), k.get("usd_per_mtok")] for k in pj.get("cost_by_class", [])])


def cost_tables(pj: dict[str, Any]) -> list[Table]:
    cot = pj.get("cost_over_time")
    if not cot:
        return []
    comp = cot["tco_by_component_usd_per_year"]
    total = sum(comp.values())
    by_comp = Table("tco_components", "TCO by component (steady state, every unit in service)", [
        Column("component"), Column("per year", "money"), Column("share", "pct")],
        [[k, v, v / total if total > 0 else None] for k, v in comp.items() if v or k != "rent"],
        note=f"financing: {pct(cot['financing_rate'])} a year on the undepreciated capex"
        + (" (plan.financing_rate; not in the planner's objective)" if cot["financing_rate"] else
           " (plan.financing_rate not set)"))
    deal = any(y.get("deal_payments_usd") is not None for y in cot["years"])
    cols = [Column("year", "int"), Column("capex paid", "money"), Column("depreciation", "money"),
            Column("energy", "money"), Column("facility", "money"), Column("rent", "money"),
            Column("financing", "money"), Column("cost (P&L)", "money"), Column("cash out", "money")]
    if deal:
        cols.append(Column("deal payments", "money", note="the linked deal's expected payments (the same units)"))
    rows = []
    for y in cot["years"]:
        row = [y["year"], y["capex_usd"], y["depreciation_usd"], y["energy_usd"], y["facility_usd"], y["rent_usd"],
               y["financing_usd"], y["cost_usd"], y["cash_out_usd"]]
        rows.append(row + ([y.get("deal_payments_usd")] if deal else []))
    by_year = Table("cash_flow", "Cost and cash flow by year", cols, rows,
                    note="Capex is paid when the units arrive (their lead time); energy, facility and rent run "
                    "from delivery to the end of the horizon.")
    return [by_comp, by_year]


def shadow_table(pj: dict[str, Any]) -> Table | None:
    rows = pj.get("shadow_prices") or []
    if not rows:
        return None
    cost = pj.get("objective") == "cost"
    return Table("relax", "What relaxing each constraint or SLO by 10 % saves", [
        Column("constraint or SLO"), Column("relaxed to"),
        Column("saving per year" if cost else "gain", "money" if cost else "number"),
        Column("share of the objective", "pct")],
        [[s.get("constraint"), s.get("change"), s.get("saving"), s.get("saving_frac")] for s in rows],
        note="– : the relaxed problem has no solution or was not solved.")


def sensitivity_table(pj: dict[str, Any]) -> Table | None:
    rows = pj.get("sensitivity") or []
    if not rows:
        return None
    return Table("sensitivity", "What moves TCO: each input at its low and high value (each a re-solve)", [
        Column("input"), Column("low", "number"), Column("high", "number"), Column("TCO at low", "money"),
        Column("TCO at high", "money"), Column("swing", "money")],
        [[s.get("input"), s.get("low"), s.get("high"), s.get("tco_low_usd"), s.get("tco_high_usd"),
          _swing(s)] for s in rows])


def _swing(s: dict[str, Any]) -> float | None:
    lo, hi = s.get("tco_low_usd"), s.get("tco_high_usd")
    return abs(hi - lo) if isinstance(lo, int | float) and isinstance(hi, int | float) else None


def breakpoints_table(pj: dict[str, Any]) -> Table | None:
    rows = pj.get("slo_breakpoints") or []
    if not rows:
        return None
    return Table("slo_breakpoints", "SLO breakpoints: where the fleet changes", [
        Column("class"), Column("SLO"), Column("value", "number"), Column("TCO tighter", "money"),
        Column("TCO looser", "money")],
        [[b.get("class"), b.get("slo"), b.get("value"), b.get("tco_tighter_usd"), b.get("tco_looser_usd")]
         for b in rows])


def verification_table(pj: dict[str, Any]) -> Table | None:
    ver = pj.get("verification")
    if not ver:
        return None
    cls = ver.get("classes", [])
    planned = any("planned_rps" in c for c in cls)
    cols = [Column("class"), Column("simulated", "bool"), Column("requests", "int"),
            Column("TTFT p99", "ms"), Column("TPOT p99", "ms"), Column("SLO attainment", "pct"),
            Column("SLO met", "bool")]
    if planned:
        cols += [Column("planned rate", "number", "req/s"), Column("simulated rate", "number", "req/s")]
    cols.append(Column("note"))
    rows = []
    for c in cls:
        row = [c.get("class"), c.get("simulated"), c.get("requests"), c.get("ttft_p99_ms"), c.get("tpot_p99_ms"),
               c.get("slo_attainment"), c.get("met")]
        if planned:
            row += [c.get("planned_rps"), c.get("simulated_rps")]
        rows.append([*row, c.get("note") or ""])
    hl = [i for i, c in enumerate(cls) if c.get("met") is False]
    return Table("verification", "Simulation check per class", cols, rows, highlight=hl)


def power_table(pj: dict[str, Any]) -> Table | None:
    pw = pj.get("power")
    if not isinstance(pw, dict):
        return None
    rows = [("power basis", pw.get("basis"), "text"), ("oversubscription", pw.get("oversubscription"), "ratio"),
            ("budget", pw.get("budget_mw"), "mw"), ("provisioned", pw.get("provisioned_mw"), "mw"),
            ("modelled peak draw", pw.get("peak_draw_mw"), "mw"),
            ("modelled average draw", pw.get("average_draw_mw"), "mw")]
    return kv_table("power", "Power: provisioned against drawn", [r for r in rows if r[1] is not None])  # type: ignore[misc]


def headline(pj: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(label, value, detail, bad) for the report's cards."""
    t = pj.get("totals", {})
    budget = pj.get("power_budget_mw")
    pw: dict[str, Any] = pj["power"] if isinstance(pj.get("power"), dict) else {}
    fac = pw.get("provisioned_mw", t.get("facility_mw"))
    ver = pj.get("verification")
    out = [("TCO per year", money(t.get("tco_usd_per_year")), f"{money(t.get('tco_usd_horizon'))} over "
            f"{pj.get('horizon_years', 0):g} years", False),
           ("Capex", money(t.get("capex_usd")), f"depreciated over {pj.get('depreciation_years', 0):g} years", False),
           ("Facility power", mw(fac), ("provisioned" if pw else "planned peak") + (
               f", of a {mw(budget)} budget" if budget else ", no budget"), bool(budget and fac and fac > budget)),
           ("Cost per M output tokens", money(t.get("usd_per_mtok")), "TCO over output tokens", False)]
    if ver:
        missed = [c["class"] for c in ver.get("classes", []) if c.get("met") is False]
        out.append(("SLOs in simulation", "missed" if missed else "met",
                    ", ".join(missed) if missed else f"{len(ver.get('classes', []))} classes", bool(missed)))
    return out


__all__ = ["FULL_LOAD", "LOW_LOAD", "bom_table", "breakpoints_table", "class_table", "cost_tables", "headline",
           "pool_classes", "pools_table", "power_table", "sensitivity_table", "shadow_table", "verification_table"]
