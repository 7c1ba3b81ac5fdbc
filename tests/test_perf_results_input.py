"""Bad results / power CSVs: a clear message naming the file, row and column (exit 2), never a traceback."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from _cli import run_cli
from tokenfleet.errors import InputError
from tokenfleet.perf.power_data import packaged_power_path, read_power
from tokenfleet.perf.results import MAX_ROWS, read_results
from tokenfleet.perf.validate import as_json, packaged_results_path, validate

GOOD = {"hw_id": "h100", "num_chips": "8", "model_id": "llama-2-70b", "precision_id": "fp8",
        "workload_id": "mlperf-llama2-70b", "metric_id": "offline_tok_s", "spec_decode": "no", "value": "100"}
GOOD_POWER = {"hw_id": "h200", "num_chips": "8", "model_id": "llama-2-70b", "precision_id": "fp8",
              "workload_id": "mlperf-llama2-70b", "scenario": "offline", "throughput_tok_s": "25000",
              "system_power_w": "6000", "joules_per_output_token": "0.24", "tdp_setting_w": "500"}


def _header(path: Path) -> list[str]:
    with path.open(newline="") as fh:
        return next(csv.reader(fh))


def _write(tmp: Path, rows: list[dict[str, str]], power: bool = False, name: str = "in.csv") -> Path:
    head = _header(packaged_power_path() if power else packaged_results_path())
    path = tmp / name
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=head)
        w.writeheader()
        for r in rows:
            w.writerow({**dict.fromkeys(head, ""), **r})
    return path


@pytest.mark.parametrize("column,cell,says", [
    ("value", "fast", "must be a number"),
    ("value", "nan", "finite"),
    ("value", "inf", "finite"),
    ("value", "0", "> 0"),
    ("value", "-5", "> 0"),
    ("value", "", "is empty"),
    ("num_chips", "2.5", "whole number"),
    ("num_chips", "-3", "> 0"),
    ("num_chips", "0", "> 0"),
    ("ttft_p99_ms", "NaN", "finite"),
    ("user_tok_s", "-1", "> 0"),
    ("spec_decode", "maybe", "yes, no, unknown"),
    ("precision_id", "fp3", "bf16"),
    ("hw_id", "h1000", "did you mean 'h100'"),
    ("model_id", "llama-9", "unknown model"),
    ("workload_id", "mlperf-llama9", "unknown workload"),
    ("metric_id", "joules", "unknown metric"),
])
def test_bad_results_cells_name_file_row_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    column: str, cell: str, says: str) -> None:
    path = _write(tmp_path, [GOOD, {**GOOD, column: cell}])
    code, out, err = run_cli(capsys, "validate", "--results", str(path))
    assert code == 2, err
    assert f"in.csv row 2 (line 3), column '{column}'" in err and says in err
    assert "Traceback" not in out + err and "nan%" not in out + err


def test_rows_that_are_not_checks_are_reported_as_skipped_never_dropped(tmp_path: Path) -> None:
    record = {**GOOD, "metric_id": "", "value": "", "workload_id": ""}  # a record: blank metric, no value
    no_lengths = {**GOOD, "workload_id": ""}  # a check whose lengths are not published
    path = _write(tmp_path, [GOOD, record, no_lengths])
    rows = read_results(path)
    assert [r.row for r in rows] == [1, 2, 3] and rows[1].is_record and not rows[2].is_record
    preds, summary = validate(path)
    assert [p.predicted is not None for p in preds] == [True, False, False]
    assert "metric_id is blank" in preds[1].skipped and "workload_id is blank" in preds[2].skipped
    assert (summary.n_predicted, summary.n_skipped) == (1, 2)
    doc = as_json(preds, summary)
    assert doc["rows"][1]["published"] is None and doc["rows"][1]["skipped"]  # no NaN in the JSON


def test_the_packaged_file_reports_each_record_row_as_skipped() -> None:
    rows = read_results(packaged_results_path())
    with packaged_results_path().open(newline="", encoding="utf-8") as fh:
        assert len(rows) == sum(1 for _ in csv.DictReader(fh))  # every data row is kept
    preds, _ = validate()
    blank = {p.result.row for p in preds if not p.result.metric or not p.result.workload_id}
    assert blank and all(p.skipped.startswith("not a check") for p in preds if p.result.row in blank)


def test_unknown_ids_can_be_kept_as_skipped_rows(tmp_path: Path) -> None:
    rows = read_results(_write(tmp_path, [GOOD, {**GOOD, "hw_id": "h1000"}]), skip_unknown=True)
    assert [r.hw_id for r in rows] == ["h100", "h1000"]


@pytest.mark.parametrize("text,says", [
    ("", "no header row"),
    ("hw_id,value\nh100,1\n", "missing columns"),
])
def test_empty_and_headerless_results_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                            says: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(text)
    code, _, err = run_cli(capsys, "validate", "--results", str(path))
    assert code == 2 and says in err and str(path) in err


def test_header_only_cut_row_and_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    head = _write(tmp_path, [], name="head.csv")
    code, _, err = run_cli(capsys, "validate", "--results", str(head))
    assert code == 2 and "header but no data rows" in err
    cut = _write(tmp_path, [GOOD, GOOD], name="cut.csv")
    text = cut.read_text()
    cut.write_text(text[: text.rstrip("\n").rfind(",100")].rsplit(",", 3)[0] + "\n")  # last row cut mid-line
    code, _, err = run_cli(capsys, "validate", "--results", str(cut))
    assert code == 2 and "cut.csv row 2 (line 3)" in err and "fields but the header has" in err
    latin = tmp_path / "latin.csv"
    latin.write_bytes(head.read_bytes() + "h100,8,llama-2-70b caf\xe9\n".encode("latin-1"))
    code, _, err = run_cli(capsys, "validate", "--results", str(latin))
    assert code == 2 and "not UTF-8" in err


def test_huge_file_is_refused_quickly(tmp_path: Path) -> None:
    path = _write(tmp_path, [GOOD] * 50_000, name="huge.csv")
    with pytest.raises(InputError, match=f"more than {MAX_ROWS:,} data rows"):
        read_results(path)


def test_the_largest_accepted_file_parses(tmp_path: Path) -> None:
    rows = read_results(_write(tmp_path, [GOOD] * MAX_ROWS, name="big.csv"))
    assert len(rows) == MAX_ROWS and rows[-1].row == MAX_ROWS


@pytest.mark.parametrize("column,cell,says", [
    ("system_power_w", "abc", "must be a number"),
    ("system_power_w", "inf", "finite"),
    ("system_power_w", "-1", "> 0"),
    ("system_power_w", "", "is empty"),
    ("throughput_tok_s", "0", "> 0"),
    ("throughput_tok_s", "", "needs its output tokens/s"),
    ("num_chips", "2.5", "whole number"),
    ("tdp_setting_w", "nan", "finite"),
    ("scenario", "peak", "offline, server, idle"),
    ("hw_id", "h2000", "did you mean"),
    ("model_id", "llama-99b", "unknown model"),
    ("joules_per_output_token", "0.5", "disagrees"),
])
def test_bad_power_cells_name_file_row_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  column: str, cell: str, says: str) -> None:
    path = _write(tmp_path, [GOOD_POWER, {**GOOD_POWER, column: cell}], power=True)
    code, out, err = run_cli(capsys, "validate", "--power", str(path))
    assert code == 2, err
    assert f"in.csv row 2 (line 3), column '{column}'" in err and says in err
    assert "Traceback" not in out + err


def test_idle_power_row_needs_no_model(tmp_path: Path) -> None:
    rows = read_power(_write(tmp_path, [{"hw_id": "b200", "num_chips": "8", "scenario": "idle",
                                         "system_power_w": "2900", "power_scope": "water-cooled node"}], power=True))
    assert rows[0].model_id is None and rows[0].liquid
