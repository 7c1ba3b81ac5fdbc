"""``tokenfleet simulate --out DIR``: report.html (per-pool time series, latency CDFs with the SLO lines,
SLO attainment per class, the pools' energy and cost), tables.xlsx + tables/*.csv, summary.json and the
per-request ``requests.parquet`` the simulator streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tokenfleet.report.series import Series, SeriesSink
from tokenfleet.viz.charts import cdf_panels, hbar, time_panels
from tokenfleet.viz.fmt import count, money, ms, mw, pct, scale_for, seconds
from tokenfleet.viz.page import Card, Page
from tokenfleet.viz.table import Column, Table

ATTAINMENT_OK = 0.99


def class_table(s: dict[str, Any]) -> Table:
    rows = []
    for c in s["classes"]:
        t, p = c["ttft_s"], c["tpot_s"]
        rows.append([c["class"], c["requests"], c.get("ttft_slo_ms"), c.get("tpot_slo_ms"), _ms(t["p50"]),
                     _ms(t["p99"]), _ms(p["p50"]), _ms(p["p99"]), c["slo_attainment"], c["goodput_rps"],
                     c["output_tok_s"]])
    hl = [i for i, c in enumerate(s["classes"]) if c["slo_attainment"] < ATTAINMENT_OK]
    return Table("classes", "Latency and SLO attainment per class", [
        Column("class"), Column("requests", "int"), Column("TTFT SLO (p99)", "ms"), Column("TPOT SLO (p99)", "ms"),
        Column("TTFT p50", "ms"), Column("TTFT p99", "ms"), Column("TPOT p50", "ms"), Column("TPOT p99", "ms"),
        Column("SLO attainment", "pct", note="share of requests meeting both targets"),
        Column("goodput", "number", "req/s"), Column("output", "number", "tok/s")], rows, highlight=hl,
        note=f"Highlighted: a class under {pct(ATTAINMENT_OK)} of requests within both SLO targets." if hl else "")


def _ms(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else x * 1e3


def pool_table(s: dict[str, Any]) -> Table:
    return Table("pools", "Pools", [
        Column("pool"), Column("hardware"), Column("layout"), Column("replicas", "int"), Column("requests", "int"),
        Column("busy", "pct"), Column("TTFT p99", "ms"), Column("TPOT p99", "ms"), Column("output", "number", "tok/s"),
        Column("preemptions", "int"), Column("peak KV use", "pct"), Column("energy", "number", "kWh"),
        Column("average power", "mw"), Column("peak power", "mw"), Column("cost", "money")],
        [[p["pool"], p["hardware"], p["layout"], p["replicas"], p["requests"], p["utilisation"],
          _ms(p["ttft_s"]["p99"]), _ms(p["tpot_s"]["p99"]), p["output_tok_s"], p["preemptions"],
          p["max_kv_use_frac"], p["energy_kwh"], p["avg_mw"], p["peak_mw"], p["cost_usd"]] for p in s["pools"]])


def build_page(s: dict[str, Any], ser: Series, sink: SeriesSink, slo_ms: dict[str, tuple[float | None, float | None]],
               class_names: list[str]) -> Page:
    f = s["fleet"]
    page = Page(f"Simulation: {s['scenario']}", f"{count(s['requests'])} requests over {seconds(s['period_s'])} "
                f"of simulated time on {count(f['replicas'])} replicas.")
    page.cards([
        Card("SLO attainment", pct(f["slo_attainment"]), "requests within both targets",
             bad=f["slo_attainment"] < ATTAINMENT_OK),
        Card("TTFT p99", ms(_ms(f["ttft_s"]["p99"]))), Card("TPOT p99", ms(_ms(f["tpot_s"]["p99"]))),
        Card("Goodput", f"{f['goodput_rps']:,.3g} req/s", f"{f['output_tok_s']:,.0f} output tok/s"),
        Card("Facility power", mw(f["avg_mw"]), f"average; peak {mw(f['peak_mw'])}"),
        Card("Cost", money(f["cost_usd"]), f"{money(f['usd_per_mtok'])} per M output tokens"),
    ])
    if s.get("rejected"):
        page.callout([f"{count(s['rejected'])} requests rejected: prompt longer than the KV cache of the replica they "
                      "were routed to."], bad=True)
    page.section("Per class")
    names = [c["class"] for c in s["classes"]]
    att = [c["slo_attainment"] for c in s["classes"]]
    page.figure("attainment", "SLO attainment per class", hbar(
        names, att, "pct", "requests within both SLO targets", "%", scale=0.01,
        colours=["#b91c1c" if a < ATTAINMENT_OK else "#2563eb" for a in att], line=ATTAINMENT_OK * 100,
        line_text=pct(ATTAINMENT_OK), max_value=100, names_title="traffic class"), wide=len(names) > 4)
    page.table(class_table(s))
    cols = sink.columns()
    for metric, label, title, i in (("ttft_s", "TTFT", "Time to first token", 0),
                                    ("tpot_s", "TPOT", "Time per output token", 1)):
        samples = {n: cols[metric][cols["class_idx"] == ci] for ci, n in enumerate(class_names)}
        fig = cdf_panels(samples, {n: slo_ms.get(n, (None, None))[i] for n in class_names}, label)
        if fig is not None:
            page.figure(f"cdf_{metric}", f"{title}: distribution per class", fig,
                        "Dashed: the class's p99 SLO; dotted: the 99th percentile."
                        + (f" One request in {sink.stride} drawn." if sink.stride > 1 else ""), wide=True)
    page.section("Per pool over time")
    pools = ser.pools
    div, unit = scale_for([x for p in pools for x in p.facility_mw], "mw")
    fig = time_panels(ser.t_s, [
        ("queued", "per replica", {p.pool: p.queue_per_replica for p in pools}),
        ("running", "per replica", {p.pool: p.running_per_replica for p in pools}),
        ("KV in use", "%", {p.pool: [x * 100 for x in p.kv_use] for p in pools}),
        ("busy", "% of replicas", {p.pool: [x * 100 for x in p.utilisation] for p in pools}),
        ("power", unit, {p.pool: [x / div for x in p.facility_mw] for p in pools}),
    ])
    page.figure("series", "Queue, batch, KV cache, utilisation and power per pool", fig,
                f"Averages over {seconds(ser.bin_s)} bins (power over sim.power_bin_s windows). KV use is estimated "
                "from request timings. Requests still running when the run stops are left out, so the last bins "
                "read low.", wide=True)
    page.table(pool_table(s))
    return page


def slo_of(sc: Any) -> dict[str, tuple[float | None, float | None]]:
    """Each class's (TTFT p99 ms, TPOT p99 ms) targets."""
    return {c.name: (c.slo.ttft_p99_ms, c.slo.tpot_target_ms) for c in sc.traffic}


def write_report(out_dir: Path, s: dict[str, Any], res: Any, sink: SeriesSink) -> list[Path]:
    import json

    from tokenfleet.report.series import series
    from tokenfleet.viz.page import write_report as write_page

    page = build_page(s, series(res, sink), sink, slo_of(res.scenario), [c.name for c in res.scenario.traffic])
    paths = write_page(page, out_dir)
    summary = out_dir / "summary.json"
    summary.write_text(json.dumps(_json_safe(s), indent=1), encoding="utf-8")
    return [*paths, summary]


def _json_safe(x: Any) -> Any:
    if isinstance(x, float):
        return x if np.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    return x


__all__ = ["build_page", "class_table", "pool_table", "slo_of", "write_report"]
