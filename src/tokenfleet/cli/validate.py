"""``tokenfleet validate`` and ``tokenfleet calibrate``: the performance model against published results."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from tokenfleet.perf import params as perf_params
from tokenfleet.perf.calibrate import calibrate, write_calibration
from tokenfleet.perf.validate import as_json, packaged_results_path, validate

console = Console()
if not console.is_terminal:
    console = Console(width=160)


def _fmt(v: float | None, digits: int = 1) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}" if abs(v) < 1e5 else f"{v:,.0f}"


def validate_cmd(
    results: Path = typer.Option(None, "--results", help="CSV with the columns of published_results.csv "
                                 "(default: the packaged copy of shared/data/benchmarks/published_results.csv)"),
    as_json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Predict every published result the model supports; print published vs predicted and the errors."""
    preds, summary = validate(results)
    if as_json_out:
        typer.echo(json.dumps(as_json(preds, summary), indent=1))
        return
    table = Table(title=f"Published vs predicted ({results or 'packaged published_results.csv'})")
    for col in ("row", "hardware", "model", "prec", "workload", "metric", "published", "predicted", "error",
                "layout"):
        table.add_column(col, justify="right" if col in ("row", "published", "predicted", "error") else "left",
                         no_wrap=col in ("layout", "error", "published", "predicted"))
    for p in preds:
        r = p.result
        if p.predicted is None:
            continue
        err = p.pct_error or 0.0
        colour = "green" if abs(err) <= 15 else "yellow" if abs(err) <= 35 else "red"
        table.add_row(str(r.row), f"{r.num_chips or '?'}x {r.hw_id}", r.model_id, r.precision or "-",
                      r.workload_id.removeprefix("mlperf-"), r.metric, _fmt(r.value), _fmt(p.predicted),
                      f"[{colour}]{err:+.1f}%[/]", p.layout)
    console.print(table)
    skipped = [p for p in preds if p.predicted is None]
    if skipped:
        sk = Table(title="Skipped rows")
        sk.add_column("row", justify="right")
        sk.add_column("result")
        sk.add_column("reason")
        for p in skipped:
            sk.add_row(str(p.result.row), p.result.label(), p.skipped)
        console.print(sk)
    s = summary
    console.print(
        f"[bold]predicted {s.n_predicted}, skipped {s.n_skipped}; |error| median {s.median_abs_pct_error:.1f}%, "
        f"p90 {s.p90_abs_pct_error:.1f}%, max {s.max_abs_pct_error:.1f}%[/]")


def calibrate_cmd(
    results: Path = typer.Option(None, "--results", help="Results CSV to fit on (default: the packaged copy)."),
    out: Path = typer.Option(None, "--out", help="Where to write calibration.yaml (default: the package's)."),
) -> None:
    """Re-fit the per-family efficiency parameters on published results and store them with their rows."""
    source = results or packaged_results_path()
    target = out or Path(str(packaged_results_path().parent / "calibration.yaml"))
    with console.status("fitting") as status:
        fits = calibrate(source, progress=lambda msg: status.update(msg))
    write_calibration(fits, source, target)
    perf_params.clear_cache()
    table = Table(title=f"Calibration written to {target}")
    for col in ("group", "rows", "median |err| %", "parameters"):
        table.add_column(col)
    for f in fits:
        table.add_row(f.key, str(len(f.rows)), f"{f.median_abs_pct_error:.1f}",
                      ", ".join(f"{k}={v:.4g}" for k, v in f.params.items()))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate_cmd)
    app.command("calibrate")(calibrate_cmd)
