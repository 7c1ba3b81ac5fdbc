"""``tokenfleet validate`` / ``calibrate``: accuracy on the shared file, JSON shape, bad input, re-fit."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml

from _cli import run_cli
from tokenfleet import catalog
from tokenfleet.perf.calibrate import calibrate
from tokenfleet.perf.validate import packaged_results_path, validate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks" / "published_results.csv"


_main = run_cli


def test_packaged_copy_is_the_shared_file() -> None:
    if not SHARED.exists():
        pytest.skip("shared/ not next to the repository")
    assert packaged_results_path().read_bytes() == SHARED.read_bytes()


def test_accuracy_targets_on_the_shared_file() -> None:
    preds, s = validate()
    assert s.n_predicted == len(preds) and s.n_skipped == 0
    assert s.median_abs_pct_error <= 15.0
    assert s.p90_abs_pct_error <= 35.0
    sram = [p for p in preds if catalog.hardware(p.result.hw_id).is_sram]
    assert sram and all(p.predicted is not None for p in sram)


def test_json_output_has_rows_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(capsys, "validate", "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc["summary"]) == {"n_predicted", "n_skipped", "median_abs_pct_error", "p90_abs_pct_error",
                                   "max_abs_pct_error"}
    row = doc["rows"][0]
    assert row["predicted"] > 0 and row["pct_error"] == pytest.approx(
        100 * (row["predicted"] - row["published"]) / row["published"])


def _write(tmp: Path, rows: list[dict[str, str]]) -> Path:
    src = list(csv.DictReader(packaged_results_path().open()))
    path = tmp / "results.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(src[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**dict.fromkeys(src[0], ""), **r})
    return path


def test_unknown_ids_and_unsupported_metrics_are_skipped_with_reasons(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, [
        {"hw_id": "h1000", "model_id": "llama-3.1-8b", "workload_id": "single-stream", "metric_id": "per_user_tok_s",
         "value": "100"},
        {"hw_id": "h100", "model_id": "llama-3.1-8b", "workload_id": "single-stream", "metric_id": "joules",
         "value": "1"},
        {"hw_id": "h100", "num_chips": "1", "model_id": "llama-3.1-405b", "precision_id": "bf16",
         "workload_id": "isl1024-osl1024", "metric_id": "offline_tok_s", "value": "10"},
        {"hw_id": "tpu-v6e", "num_chips": "8", "model_id": "llama-3.1-8b", "precision_id": "bf16",
         "workload_id": "isl1024-osl1024", "metric_id": "per_chip_tok_s", "user_tok_s": "50", "value": "900"},
    ])
    code, out, _ = _main(capsys, "validate", "--results", str(path), "--json")
    assert code == 0
    rows = json.loads(out)["rows"]
    assert "did you mean 'h100'" in rows[0]["skipped"]
    assert "not supported" in rows[1]["skipped"]
    assert "needs" in rows[2]["skipped"]  # 405B in bf16 does not fit one H100: says what it needs
    assert rows[3]["predicted"] > 0 and rows[3]["skipped"] is None


@pytest.mark.parametrize("cell,field", [("fast", "value"), ("-3", "num_chips")])
def test_malformed_rows_exit_2_naming_row_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    cell: str, field: str) -> None:
    row = {"hw_id": "h100", "num_chips": "8", "model_id": "llama-2-70b", "workload_id": "mlperf-llama2-70b",
           "metric_id": "offline_tok_s", "value": "100"}
    row[field] = cell
    code, out, err = _main(capsys, "validate", "--results", str(_write(tmp_path, [row])))
    assert code == 2
    assert "row 1" in err and field in err and "Traceback" not in err + out


def test_missing_file_and_missing_columns_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _main(capsys, "validate", "--results", str(tmp_path / "nope.csv"))
    assert code == 2 and "not found" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("hw_id,value\nh100,1\n")
    code, _, err = _main(capsys, "validate", "--results", str(bad))
    assert code == 2 and "missing columns" in err


def test_refit_on_the_groq_rows_recovers_the_stored_fit(tmp_path: Path) -> None:
    src = list(csv.DictReader(packaged_results_path().open()))
    path = _write(tmp_path, [r for r in src if r["hw_id"] == "groq-lpu"])
    fits = {f.key: f for f in calibrate(path)}
    stored = yaml.safe_load((packaged_results_path().parent / "calibration.yaml").read_text())["groups"]
    fitted = fits["groq"].params  # what the groq rows identify (the stored entry also carries family fill-ins)
    assert set(fitted) == {"layer_latency_s", "hop_latency_s"}
    assert fitted == pytest.approx({k: stored["groq"]["params"][k] for k in fitted}, rel=0.05, abs=1e-6)
    assert fits["groq"].median_abs_pct_error < 15.0


def test_calibrate_command_writes_a_file_with_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = list(csv.DictReader(packaged_results_path().open()))
    path = _write(tmp_path, [r for r in src if r["hw_id"] in ("cs3", "groq-lpu")])
    out = tmp_path / "cal.yaml"
    code, _, _ = _main(capsys, "calibrate", "--results", str(path), "--out", str(out))
    assert code == 0
    doc = yaml.safe_load(out.read_text())
    assert doc["groups"]["cerebras"]["rows"] and "layer_latency_s" in doc["groups"]["cerebras"]["params"]
    shutil.rmtree(tmp_path)
