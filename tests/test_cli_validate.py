"""``tokenfleet validate`` / ``calibrate``: JSON shapes, power targets, the report, output paths, re-fit."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from _cli import run_cli
from tokenfleet.perf.power_data import packaged_power_path
from tokenfleet.perf.validate import packaged_results_path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"  # beside a development checkout
SUMMARY_KEYS = {"n_predicted", "n_skipped", "median_abs_pct_error", "p90_abs_pct_error", "max_abs_pct_error"}


@pytest.mark.parametrize("name,packaged", [("published_results.csv", packaged_results_path),
                                           ("published_power.csv", packaged_power_path)])
def test_packaged_copies_are_the_shared_files(name: str, packaged: object) -> None:
    """The package's copy is a results file with a source on every row; beside a development checkout that
    has the project's shared folder it is that file byte for byte (a clone alone has only the copy)."""
    path: Path = packaged()  # type: ignore[operator]
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 20
    assert all(r["source_url"].strip() for r in rows)
    if (SHARED / name).exists():
        assert path.read_bytes() == (SHARED / name).read_bytes()


def test_json_output_has_rows_summary_and_families(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "validate", "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc["summary"]) == SUMMARY_KEYS
    row = next(r for r in doc["rows"] if r["predicted"] is not None)
    assert row["predicted"] > 0 and row["pct_error"] == pytest.approx(
        100 * (row["predicted"] - row["published"]) / row["published"])
    assert sum(f["n_predicted"] for f in doc["families"].values()) == doc["summary"]["n_predicted"]
    assert {"gpu-dense", "gpu-moe", "wafer-dense"} <= set(doc["families"])


def _rows(keep: tuple[str, ...]) -> list[dict[str, str]]:
    return [r for r in csv.DictReader(packaged_results_path().open()) if r["hw_id"] in keep]


def _write(tmp: Path, rows: list[dict[str, str]], name: str = "results.csv") -> Path:
    head = next(csv.reader(packaged_results_path().open()))
    path = tmp / name
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=head)
        w.writeheader()
        for r in rows:
            w.writerow({**dict.fromkeys(head, ""), **r})
    return path


def test_unknown_ids_stop_unless_skipped_and_unfit_rows_say_why(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, [
        {"hw_id": "h1000", "model_id": "llama-3.1-8b", "workload_id": "single-stream", "metric_id": "per_user_tok_s",
         "value": "100"},
        {"hw_id": "h100", "num_chips": "1", "model_id": "llama-3.1-405b", "precision_id": "bf16",
         "workload_id": "isl1024-osl1024", "metric_id": "offline_tok_s", "value": "10"},
        {"hw_id": "tpu-v6e", "num_chips": "8", "model_id": "llama-3.1-8b", "precision_id": "bf16",
         "workload_id": "isl1024-osl1024", "metric_id": "per_chip_tok_s", "user_tok_s": "50", "value": "900"},
    ])
    code, _, err = run_cli(capsys, "validate", "--results", str(path))
    assert code == 2 and "row 1 (line 2), column 'hw_id'" in err and "did you mean 'h100'" in err
    code, out, _ = run_cli(capsys, "validate", "--results", str(path), "--json", "--skip-unknown")
    assert code == 0
    rows = json.loads(out)["rows"]
    assert "did you mean 'h100'" in rows[0]["skipped"]
    assert "needs" in rows[1]["skipped"]  # 405B in bf16 does not fit one H100: says what it needs
    assert rows[2]["predicted"] > 0 and rows[2]["skipped"] is None


def test_power_targets_on_the_shipped_power_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "validate", "--power", "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc["summary"]) == SUMMARY_KEYS and doc["summary"]["n_skipped"] == 0
    for r in doc["rows"]:
        bound = 15.0 if r["scenario"] == "idle" else 10.0  # the targets
        assert abs(r["pct_error"]) <= bound, r
        if r["throughput_tok_s"]:
            assert r["predicted_j_per_token"] == pytest.approx(r["predicted"] / r["throughput_tok_s"])
    assert doc["families"]["idle"]["n_predicted"] == 3
    offline = [r for r in doc["rows"] if r["scenario"] == "offline"]
    assert offline and all(r["model_j_per_token"] > 0 for r in offline)


def test_report_writes_html_and_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _write(tmp_path, _rows(("groq-lpu", "cs3")))
    out = tmp_path / "rep"
    code, stdout, err = run_cli(capsys, "validate", "--results", str(results), "--out", str(out), "--cv")
    assert code == 0, err
    page = (out / "report.html").read_text()
    assert "plotly.min.js" in page and "Cross-validated" in page and "Wall power" in page and "wafer-dense" in page
    assert (out / "plotly.min.js").stat().st_size > 1e6 and (out / "tables.xlsx").exists()
    assert "CV: predicted" in stdout and "power (idle)" in stdout
    assert max(len(line) for line in stdout.splitlines() if not line.startswith("wrote ")) <= 80
    code, _, err = run_cli(capsys, "validate", "--results", str(results), "--out", str(out))
    assert code == 2 and "--force" in err
    code, _, _ = run_cli(capsys, "validate", "--results", str(results), "--out", str(out), "--force")
    assert code == 0  # without --cv the report says how to get the cross-validated figures
    assert "Cross-validation was not run: add --cv" in (out / "report.html").read_text()
    code, _, err = run_cli(capsys, "validate", "--out", str(tmp_path / "no" / "such" / "dir"))
    assert code == 2 and "does not exist" in err


def test_calibrate_needs_a_target_and_checks_it_before_work(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "calibrate")
    assert code == 2 and "--in-place" in err
    taken = tmp_path / "cal.yaml"
    taken.write_text("x: 1\n")
    code, _, err = run_cli(capsys, "calibrate", "--out", str(taken))
    assert code == 2 and "--force" in err and taken.read_text() == "x: 1\n"
    code, _, err = run_cli(capsys, "calibrate", "--out", str(tmp_path / "missing" / "c.yaml"))
    assert code == 2 and "does not exist" in err


def test_calibrate_writes_the_fit_with_its_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, _rows(("groq-lpu",)))
    out = tmp_path / "cal.yaml"
    code, _, err = run_cli(capsys, "calibrate", "--results", str(path), "--out", str(out))
    assert code == 0, err
    groups = yaml.safe_load(out.read_text())["groups"]
    fitted = [g for g in groups.values() if g.get("rows")]
    assert fitted and all(isinstance(r, int) for g in fitted for r in g["rows"])


def test_calibrate_power_writes_the_power_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "power.yaml"
    code, _, err = run_cli(capsys, "calibrate", "--power", "--out", str(out))
    assert code == 0, err
    fam = yaml.safe_load(out.read_text())["families"]["hbm"]
    assert set(fam["params"]) == {"idle_frac", "loss_frac", "host_w", "fan_frac"}
    stored = yaml.safe_load((packaged_power_path().parent / "power_calibration.yaml").read_text())
    assert fam["params"] == pytest.approx(stored["families"]["hbm"]["params"], rel=0.02)
    assert fam["max_abs_pct_error"] <= 15.0  # idle floors: 15 %, loaded runs 10 % (checked by validate --power)


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name", ["results-heldout-vendors.csv"])
def test_held_out_examples_are_outside_the_calibration_file_sourced_and_predicted(
        name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The example result files check the model on results no fit saw: none of their rows is in the calibration
    file, each names its source, and every one is predicted (a skip would hide a generalisation failure)."""
    def same(a: dict[str, str], b: dict[str, str]) -> bool:  # one result, whatever its rounding
        return (a["hw_id"], a["model_id"], a["metric_id"]) == (b["hw_id"], b["model_id"], b["metric_id"]) and \
            bool(a["value"] and b["value"]) and abs(float(a["value"]) / float(b["value"]) - 1) < 2e-3

    held = list(csv.DictReader((EXAMPLES / name).open()))
    fitted = list(csv.DictReader(packaged_results_path().open()))
    assert held and not [r for r in held if any(same(r, f) for f in fitted)]
    assert all(r["source_url"].startswith("https://") for r in held)
    code, out, _ = run_cli(capsys, "validate", "--results", str(EXAMPLES / name), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["summary"]["n_skipped"] == 0 and doc["summary"]["n_predicted"] == len(held)
    assert all(r["predicted"] > 0 for r in doc["rows"])


def test_a_deeper_pipeline_of_wafers_is_slower_per_user(capsys: pytest.CaptureFixture[str]) -> None:
    """Held-out Cerebras figures: Llama 3.1 405B (126 layers over ~20 CS-3) runs slower per user than the 70B (80
    layers over 4) on the same stack, and Maverick's 48 MoE layers faster than the 405B's."""
    code, out, _ = run_cli(capsys, "validate", "--results", str(EXAMPLES / "results-heldout-vendors.csv"), "--json")
    speed = {r["model_id"]: r["predicted"] for r in json.loads(out)["rows"]
             if r["hw_id"] == "cs3" and r["metric_id"] == "per_user_tok_s"}
    fitted = json.loads(run_cli(capsys, "validate", "--json")[1])["rows"]
    llama70 = next(r["predicted"] for r in fitted if r["row"] == 37)  # 4x CS-3, 2024-10 stack
    assert code == 0 and speed["llama-3.1-405b"] < llama70 < speed["llama-4-maverick"]
