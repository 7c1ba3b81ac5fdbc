"""``tokenfleet validate`` and ``tokenfleet calibrate``: the performance and power model against published results.

* ``tokenfleet validate [--results CSV]`` — every row predicted with the stored calibration (in-sample);
* ``--cv`` — leave-one-(hardware, model)-group-out cross-validation of the same rows;
* ``--power [CSV]`` — wall power and J per output token of every row of a power CSV;
* ``--out DIR`` — all three into ``DIR/report.html`` (plotly);
* ``tokenfleet calibrate --out FILE | --in-place`` — re-fit and store the parameters (``--power`` the power model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, RenderableType

from tokenfleet.cli.tables import Column, table
from tokenfleet.errors import InputError
from tokenfleet.inputs import check_output_dir, check_output_file

console = Console()  # its width: the terminal's, or $COLUMNS (160 when piped)
narrow = console
REPORT_FILES = ("report.html", "tables.xlsx")


def _fmt(v: float | None, digits: int = 1) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}" if abs(v) < 1e5 else f"{v:,.0f}"


def _pct(v: float | None) -> str:
    if v is None:
        return "-"
    colour = "green" if abs(v) <= 15 else "yellow" if abs(v) <= 35 else "red"
    return f"[{colour}]{v:+.1f}%[/]"


def _abs_pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}%"


# which columns go first at 80 columns (0: always shown); ids are never cut
_ROW_COLS = (Column("row"), Column("hardware", "id"), Column("model", "id"), Column("prec", "text", 3),
             Column("workload", "text", 2), Column("metric", "text", 1), Column("published"), Column("predicted"),
             Column("error"), Column("layout", "text", 4))


def _rows_table(preds: list[Any], title: str) -> RenderableType:
    rows = [[str(p.result.row), f"{p.result.num_chips or '?'}x {p.result.hw_id}", p.result.model_id,
             p.result.precision or "-", p.result.workload_id.removeprefix("mlperf-"), p.result.metric,
             _fmt(p.result.value), _fmt(p.predicted), _pct(p.pct_error), p.layout]
            for p in preds if p.predicted is not None]
    return table(title, _ROW_COLS, rows)


def _skipped_table(preds: list[Any]) -> RenderableType | None:
    skipped = [p for p in preds if p.predicted is None]
    if not skipped:
        return None
    return table("Skipped rows", [Column("row"), Column("result", "text", min_width=20), Column("reason", "text")],
                 [[str(p.result.row), p.result.label(), p.skipped] for p in skipped])


def _cv_table(cv: Any) -> RenderableType:
    """One line per row at 80 columns, the cross-validated error beside the published figure."""
    cols = [Column("row"), Column("system", "id"), Column("model", "id"), Column("metric", "text", 1),
            Column("published"), Column("CV pred."), Column("error")]
    rows = [[str(p.result.row), f"{p.result.num_chips or '?'}x{p.result.hw_id}", p.result.model_id,
             p.result.metric.removesuffix("_tok_s"), _fmt(p.result.value), _fmt(p.predicted), _pct(p.pct_error)]
            for p in cv.predictions if p.predicted is not None]
    return table(f"Cross-validated (leave one of {cv.n_groups} hardware x model groups out)", cols, rows)


def _family_table(title: str, columns: dict[str, Any]) -> RenderableType:
    """Per-family summaries side by side: ``columns`` maps a heading (in-sample, CV) to {family: Summary}."""
    cols = [Column("family", "id")]
    for head in columns:
        cols += [Column(f"{head} n".strip()), Column(f"{head} median".strip()), Column(f"{head} p90".strip())]
    rows = []
    for f in sorted({f for fam in columns.values() for f in fam}):
        cells = [f]
        for fam in columns.values():
            s = fam.get(f)
            cells += ["-", "-", "-"] if s is None else [f"{s.n_predicted}/{s.n_predicted + s.n_skipped}",
                                                       _abs_pct(s.median_abs_pct_error),
                                                       _abs_pct(s.p90_abs_pct_error)]
        rows.append(cells)
    return table(title, cols, rows)


def _power_table(preds: list[Any]) -> RenderableType:
    """kW measured vs predicted, J per output token published vs the model end to end."""
    cols = [Column("row"), Column("system", "id"), Column("run", "text", min_width=12), Column("meas kW"),
            Column("pred kW"), Column("error"), Column("J/tok", priority=1), Column("model", priority=1),
            Column("J err", priority=1)]
    rows = []
    for p in preds:
        r = p.row
        run = f"{r.model_id} {r.scenario}" if r.model_id else "idle"
        cap = f" {r.tdp_setting_w:g}W" if r.tdp_setting_w else ""
        pub_j = r.joules_per_output_token or (r.system_power_w / r.throughput_tok_s if r.throughput_tok_s else None)
        mj, je = p.model_j_per_token, p.j_pct_error
        rows.append([str(r.row), f"{r.num_chips}x{r.hw_id}{cap}{' liq' if r.liquid else ''}", run,
                     f"{r.system_power_w / 1e3:.2f}", "-" if p.predicted_w is None else f"{p.predicted_w / 1e3:.2f}",
                     _pct(p.pct_error) if p.predicted_w is not None else "skip",
                     "-" if pub_j is None else f"{pub_j:.3f}", "-" if mj is None else f"{mj:.3f}",
                     "-" if je is None else f"{je:+.0f}%"])
    return table("Wall power, whole node (host included): measured vs predicted", cols, rows)


def validate_cmd(
    power_csv: Path = typer.Argument(None, metavar="[CSV]", help="With --power: a CSV with the columns of "
                                     "published_power.csv (default: the packaged copy)."),
    results: Path = typer.Option(None, "--results", help="CSV with the columns of published_results.csv "
                                 "(default: the packaged copy of shared/data/benchmarks/published_results.csv)"),
    cv: bool = typer.Option(False, "--cv", help="Leave-one-(hardware, model)-group-out cross-validation."),
    power: bool = typer.Option(False, "--power", help="Predict the wall power of every row of a power CSV."),
    out: Path = typer.Option(None, "--out", help="Write DIR/report.html (+ tables.xlsx, tables/*.csv): "
                             "in-sample and power figures, cross-validated with --cv."),
    force: bool = typer.Option(False, "--force", help="Overwrite DIR/report.html if it exists."),
    skip_unknown: bool = typer.Option(False, "--skip-unknown", help="Keep rows with ids the catalog does not know "
                                      "as skipped rows instead of stopping with an error."),
    as_json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Predict every published result the model supports; print published vs predicted and the errors."""
    from tokenfleet.perf.cv import cross_validate_file
    from tokenfleet.perf.validate import (
        as_json,
        by_family,
        packaged_results_path,
        power_as_json,
        power_groups,
        validate,
        validate_power,
    )

    if power_csv is not None and not power:
        raise InputError(f"a CSV argument ({power_csv}) goes with --power; a results CSV is --results FILE")
    out_dir = check_output_dir(out, "--out", force, REPORT_FILES) if out is not None else None
    if out_dir is not None:  # the report holds the power rows too; cross-validation (minutes) only with --cv
        power = True
    source = str(results or "packaged published_results.csv")
    preds, summary = validate(results, skip_unknown=skip_unknown)
    power_preds, power_summary = validate_power(power_csv) if power else (None, None)
    with console.status("cross-validating") if cv and not as_json_out and console.is_terminal else _Null() as st:
        cvr = cross_validate_file(results, skip_unknown, progress=getattr(st, "update", None)) if cv else None
    if out_dir is not None:
        from tokenfleet.perf.validate_report import write_report

        path = write_report(out_dir, source, preds, summary, cvr, power_preds, power_summary)
        if not as_json_out:
            console.print(f"wrote {path}")
    if as_json_out:
        doc: dict[str, Any] = {}
        if cvr is not None and not power:
            doc = cvr.as_json()
        elif power_preds is not None and power_summary is not None and cvr is None:
            doc = power_as_json(power_preds, power_summary)
        elif cv or power:
            doc = {"in_sample": as_json(preds, summary)}
            if cvr is not None:
                doc["cv"] = cvr.as_json()
            if power_preds is not None and power_summary is not None:
                doc["power"] = power_as_json(power_preds, power_summary)
        else:
            doc = as_json(preds, summary)
        typer.echo(json.dumps(doc, indent=1))
        return
    if out_dir is not None:
        _print_summaries(summary, by_family(preds), cvr, power_preds)
        return
    if not cv and not power:
        console.print(_rows_table(preds, f"Published vs predicted ({results or packaged_results_path().name})"))
        sk = _skipped_table(preds)
        if sk is not None:
            console.print(sk)
        narrow.print(_family_table("Per family, |error|", {"": by_family(preds)}))
        console.print(f"[bold]{summary.line()}[/]")
        return
    if cvr is not None:
        narrow.print(_cv_table(cvr))
        narrow.print(_family_table("|error| per family (IS in-sample, CV cross-val.)",
                                   {"IS": by_family(preds), "CV": cvr.families}))
        narrow.print(f"[bold]IS: {summary.line()}[/]")
        narrow.print(f"[bold]CV: {cvr.summary.line()}[/]")
        narrow.print(f"cross-validation: {cvr.n_groups} groups left out one at a time, {cvr.seconds:.0f} s")
    if power_preds is not None and power_summary is not None:
        narrow.print(_power_table(power_preds))
        g = power_groups(power_preds)
        narrow.print(f"[bold]power: {power_summary.line()}[/]")
        narrow.print(f"loaded runs: {g['loaded'].line()}")
        narrow.print(f"idle floors: {g['idle'].line()}")
        narrow.print("J/tok end to end (offline rows, at the model's own throughput):")
        narrow.print(f"  {g['j_per_token_offline'].line()}")


def _print_summaries(summary: Any, fam: Any, cvr: Any, power_preds: Any) -> None:
    from tokenfleet.perf.validate import power_groups

    narrow.print(_family_table("|error| per family (IS in-sample, CV cross-val.)",
                               {"IS": fam, "CV": cvr.families} if cvr else {"IS": fam}))
    narrow.print(f"IS: {summary.line()}")
    if cvr is not None:
        narrow.print(f"CV: {cvr.summary.line()}")
    if power_preds is not None:
        g = power_groups(power_preds)
        narrow.print(f"power (loaded): {g['loaded'].line()}")
        narrow.print(f"power (idle): {g['idle'].line()}")


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def calibrate_cmd(
    power_csv: Path = typer.Argument(None, metavar="[CSV]", help="With --power: the power CSV to fit on "
                                     "(default: the packaged published_power.csv)."),
    results: Path = typer.Option(None, "--results", help="Results CSV to fit on (default: the packaged copy)."),
    power: bool = typer.Option(False, "--power", help="Fit the power model (idle, dynamic and host power per "
                               "family) instead of the step-time parameters."),
    out: Path = typer.Option(None, "--out", help="Where to write the fitted parameters (YAML)."),
    in_place: bool = typer.Option(False, "--in-place", help="Overwrite the package's own calibration file."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out if it exists."),
) -> None:
    """Re-fit the model's few physical parameters on published results and store them with their rows."""
    from tokenfleet.perf import params as perf_params
    from tokenfleet.perf import power_model
    from tokenfleet.perf.validate import packaged_results_path

    if power_csv is not None and not power:
        raise InputError(f"a CSV argument ({power_csv}) goes with --power; a results CSV is --results FILE")
    if power and results is not None:
        raise InputError("--results is the performance CSV; with --power give the power CSV as the argument")
    if (out is None) == (not in_place):
        raise InputError("give --out FILE.yaml (a new file) or --in-place (overwrite the package's calibration)")
    name = "power_calibration.yaml" if power else "calibration.yaml"
    target = (check_output_file(out, "--out", force, (".yaml", ".yml")) if out is not None
              else Path(str(packaged_results_path().parent / name)))
    if power:
        _calibrate_power(power_csv, target, in_place)
        if in_place:
            power_model.clear_cache()
        return
    from tokenfleet.perf.calibrate import calibrate, write_calibration

    source = results or packaged_results_path()
    with console.status("fitting") as status:
        fits = calibrate(source, progress=lambda msg: status.update(msg))
    write_calibration(fits, source, target)
    if in_place:
        perf_params.clear_cache()
    console.print(table(f"Calibration written to {target}",
                        [Column("group", "id"), Column("rows"), Column("median |err| %"),
                         Column("parameters", "text", min_width=24)],
                        [[f.key, str(len(f.rows)), f"{f.median_abs_pct_error:.1f}",
                          ", ".join(f"{k}={v:.4g}" for k, v in f.params.items())] for f in fits], full=None))


def _calibrate_power(power_csv: Path | None, target: Path, in_place: bool) -> None:
    from tokenfleet.perf.power_calibrate import fit_power, write_power_calibration
    from tokenfleet.perf.power_data import packaged_power_path, read_power

    source = power_csv or packaged_power_path()
    fits = fit_power(read_power(source))
    if not fits:
        raise InputError("no row of the power CSV could be placed on a layout; nothing to fit", where=str(source))
    write_power_calibration(fits, source, target)
    console.print(table(f"Power calibration written to {target}",
                        [Column("family", "id"), Column("rows"), Column("median |err| %"), Column("max |err| %"),
                         Column("parameters", "text", min_width=24)],
                        [[f.family, str(len(f.rows)), f"{f.median_abs_pct_error:.1f}", f"{f.max_abs_pct_error:.1f}",
                          ", ".join(f"{k}={v:.4g}" for k, v in f.params.items())] for f in fits], full=None))


def register(app: typer.Typer) -> None:
    app.command("validate")(validate_cmd)
    app.command("calibrate")(calibrate_cmd)
