"""``tokenfleet simulate SCENARIO.yaml``: request-level simulation of a fleet, with tables or JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tokenfleet.cli.tables import Column, table
from tokenfleet.errors import InputError, ScenarioError
from tokenfleet.inputs import check_int, check_output_dir, check_output_file, check_range
from tokenfleet.scenario import Scenario, load_scenario, parse_scenario
from tokenfleet.scenario.load import check_looped_work

console = Console()
TRACE_MAX_REQUESTS = 50_000
MAX_REQUESTS_FLAG = 1_000_000_000
REPORT_FILES = ("report.html", "requests.parquet", "summary.json", "tables.xlsx")


def json_safe(x: Any) -> Any:
    """NaN / inf (an empty pool's percentiles) as null: the output stays valid JSON."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    return x


def _ms(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x * 1e3:,.1f}"


# the latency columns of the class table; priority: which go first at 80 columns (0 = always shown)
LATENCY_COLS = (("TTFT p50", 3), ("TTFT p99", 0), ("TPOT p50", 4), ("TPOT p99", 0), ("E2E p99 s", 2),
                ("queue p99", 5), ("SLO met", 0), ("goodput/s", 1), ("preempt", 6), ("prefix hit", 3))


def _latency_row(g: dict[str, Any]) -> list[str]:
    t, p, e = g["ttft_s"], g["tpot_s"], g["e2e_s"]
    return [
        _ms(t["p50"]),
        _ms(t["p99"]),
        _ms(p["p50"]),
        _ms(p["p99"]),
        f"{e['p99']:,.2f}",
        _ms(g["queue_s"]["p99"]),
        f"{g['slo_attainment']:.1%}",
        f"{g['goodput_rps']:,.2f}",
        f"{g['preemptions']:,}",
        f"{g['prefix_hit_rate']:.1%}",
    ]


POOL_COLS = (
    Column("pool", "id"), Column("hardware", "text", min_width=19), Column("replicas", priority=3),
    Column("requests"), Column("util"), Column("TTFT p99", priority=2), Column("TPOT p99", priority=2),
    Column("out tok/s", priority=4), Column("preempt", priority=6), Column("max KV", priority=5),
    Column("kWh", priority=4), Column("J/tok"), Column("avg MW", priority=5), Column("peak MW", priority=3),
    Column("cost $", priority=1),
)


def _print(s: dict[str, Any]) -> None:
    f = s["fleet"]
    cols = [Column("class", "id"), Column("SLO ttft/tpot", priority=2), Column("requests"),
            *(Column(h, priority=p) for h, p in LATENCY_COLS)]
    rows = [[c["class"], f"{c['ttft_slo_ms'] or '-'}/{c['tpot_slo_ms'] or '-'}", f"{c['requests']:,}",
             *_latency_row(c)] for c in s["classes"]]
    rows.append(["[bold]all[/]", "", f"{f['requests']:,}", *_latency_row(f)])
    console.print(table(f"{s['scenario']}: {s['requests']:,} requests over {s['period_s']:,.0f} simulated s "
                        "(latencies in ms unless marked)", cols, rows))
    prow = [[
        p["pool"],
        f"{p['hardware']} ({p['layout']})",
        str(p["replicas"]),
        f"{p['requests']:,}",
        f"{p['utilisation']:.0%}",
        _ms(p["ttft_s"]["p99"]),
        _ms(p["tpot_s"]["p99"]),
        f"{p['output_tok_s']:,.0f}",
        f"{p['preemptions']:,}",
        f"{p['max_kv_use_frac']:.0%}",
        f"{p['energy_kwh']:,.2f}",
        f"{p['joules_per_output_token']:,.2f}",
        f"{p['avg_mw']:.4f}",
        f"{p['peak_mw']:.4f}",
        f"{p['cost_usd']:,.2f}",
    ] for p in s["pools"]]
    console.print(table("Pools", POOL_COLS, prow))
    if s["rejected"]:
        console.print(
            f"[yellow]{s['rejected']:,} requests rejected: prompt longer than the KV cache of the "
            "replica they were routed to[/]"
        )
    rate = s["sim_requests_per_s"] or 0
    console.print(
        f"fleet: {f['energy_kwh']:,.2f} kWh at PUE {f['pue']}, "
        f"{f['joules_per_output_token']:,.2f} J per output token, "
        f"{f['avg_mw']:.4f} MW average / {f['peak_mw']:.4f} MW peak, ${f['cost_usd']:,.2f} "
        f"(hardware ${f['hardware_usd']:,.2f} + energy ${f['energy_usd']:,.2f}; "
        f"${f['usd_per_mtok']:,.2f} per M output tokens). Simulated {rate:,.0f} requests/s of wall time "
        f"on the {s['core']} core."
    )


def _overrides(max_requests: int | None, duration_s: float | None, seed: int | None) -> dict[str, Any]:
    """The sim.* flags, checked against the same ranges as the scenario file."""
    over: dict[str, Any] = {}
    if max_requests is not None:
        over["max_requests"] = check_int("max_requests", max_requests, 1, MAX_REQUESTS_FLAG, where="--max-requests")
    if duration_s is not None:
        over["duration_s"] = check_range("duration_s", duration_s, 0.0, 1e9, "s", lo_open=True, where="--duration")
    if seed is not None:
        over["seed"] = check_int("seed", seed, 0, 2**32 - 1, where="--seed")
    return over


def simulate_cmd(
    scenario: Path = typer.Argument(..., help="Scenario YAML (see examples/sim-*.yaml)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    exact: bool = typer.Option(False, "--exact", help="Step every engine iteration (slow; same results)."),
    requests_out: Path = typer.Option(None, "--requests-out", help="Per-request rows to .csv or .parquet."),
    trace_out: Path = typer.Option(None, "--trace-out", help="Chrome trace (JSON) of replica activity."),
    max_requests: int = typer.Option(None, "--max-requests", help="Override sim.max_requests (1 to 1e9)."),
    duration_s: float = typer.Option(None, "--duration", help="Override sim.duration_s (seconds, > 0)."),
    seed: int = typer.Option(None, "--seed", help="Override sim.seed (0 to 2**32 - 1)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing --out / --requests-out / --trace-out files."),
    out: Path = typer.Option(None, "--out", help="Write report.html, requests.parquet, summary.json, tables.xlsx and "
                             "tables/*.csv to this folder."),
    core: str = typer.Option("auto", "--core", help="Simulator core: auto (compiled where built), compiled, python."),
) -> None:
    """Simulate SCENARIO request by request and report latency, SLOs, utilisation, energy and cost."""
    over = _overrides(max_requests, duration_s, seed)
    out_dir = check_output_dir(out, "--out", force, REPORT_FILES) if out is not None else None
    if out_dir is not None and requests_out is None:  # the report folder holds the per-request rows
        requests_out = out_dir / "requests.parquet"
    if requests_out is not None and (out_dir is None or requests_out != out_dir / "requests.parquet"):
        requests_out = check_output_file(requests_out, "--requests-out", force, (".csv", ".parquet", ".pq"))
    if trace_out is not None:
        trace_out = check_output_file(trace_out, "--trace-out", force, (".json",))
    if requests_out is not None and trace_out is not None and requests_out.resolve() == trace_out.resolve():
        raise InputError("--requests-out and --trace-out name the same file", where="--trace-out")
    sc: Scenario
    sc, base = load_scenario(scenario)
    if over:  # re-validated: the flags meet the file's cross-checks (e.g. rate x duration) too
        flags = ", ".join(f"--{k.replace('_s', '').replace('_', '-')} {v}" for k, v in over.items())
        data = sc.model_dump(exclude={"extensions"}) | dict(sc.extensions)
        data["sim"] = data["sim"] | over
        sc = parse_scenario(data, f"{scenario} with {flags}", type(sc))
        check_looped_work(sc, base, f"{scenario} with {flags}")
    if trace_out is not None and (sc.sim.max_requests or math.inf) > TRACE_MAX_REQUESTS:
        raise InputError(
            f"--trace-out is for small runs: set --max-requests <= {TRACE_MAX_REQUESTS:,}",
            where="--trace-out",
        )
    from tokenfleet.sim.engine import Simulation, Sink  # after the checks: a bad input is refused fast
    from tokenfleet.sim.output import RequestWriter, chrome_trace
    from tokenfleet.sim.summary import summarize

    sinks: list[Sink] = []
    series_sink = None
    if out_dir is not None:
        from tokenfleet.report.series import SeriesSink

        out_dir.mkdir(parents=True, exist_ok=True)
        series_sink = SeriesSink()
        sinks.append(series_sink)
    if requests_out is not None:
        sinks.append(RequestWriter(requests_out, [c.name for c in sc.traffic], [p.name for p in sc.pools]))
    try:
        sim = Simulation(
            sc,
            base,
            exact=exact or None,
            keep_requests=False,  # per-request rows stream to --requests-out; memory stays flat
            sinks=sinks,
            trace=trace_out is not None,
            core=core,
        )
    except ScenarioError as exc:  # layouts are checked when the pools are built: name the file too
        raise ScenarioError(str(exc), where=str(scenario)) from None
    if as_json:
        res = sim.run()
    else:
        with Progress(
            TextColumn("simulating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,  # piped: no blank line where the bar was
        ) as bar:
            task = bar.add_task("sim", total=sc.sim.max_requests)
            res = sim.run(progress=lambda n: bar.update(task, completed=n))
    s = summarize(res)
    if trace_out is not None:
        names = [f"{res.pools[pi].name}/{i}" for i, pi in enumerate(sim.rep_pool)]
        chrome_trace(res.replicas, names, trace_out)
    written: list[Path] = []
    if out_dir is not None and series_sink is not None:
        from tokenfleet.report.simulate import write_report

        written = write_report(out_dir, s, res, series_sink)
    if as_json:
        typer.echo(json.dumps(json_safe(s), indent=1, default=lambda x: None, allow_nan=False))
    else:
        _print(s)
        if out_dir is not None:
            names = [p.name for p in written if p.parent == out_dir]
            if requests_out is not None and requests_out.parent == out_dir:
                names.append(requests_out.name)
            console.print(f"wrote {out_dir}/: " + ", ".join(names) + ", tables/*.csv")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_cmd)
