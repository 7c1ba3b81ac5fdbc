"""``tokenfleet simulate`` end to end on a small scenario: tables, JSON, per-request files, Chrome trace."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from _cli import run_cli
from tokenfleet.cli import app, main

SCENARIO = {
    "name": "tiny",
    "traffic": [
        {
            "name": "chat",
            "model": "llama-3.1-8b",
            "arrivals": {"process": "poisson", "rate_rps": 20},
            "input_tokens": {"dist": "uniform", "low": 100, "high": 900},
            "output_tokens": {"dist": "uniform", "low": 10, "high": 200},
            "slo": {"ttft_p99_ms": 500, "tpot_p99_ms": 30},
        }
    ],
    "pools": [{"name": "gpu", "hardware": "h100", "replicas": 2}, {"name": "wafer", "hardware": "cs3"}],
    "facility": {"pue": 1.25, "usd_per_mwh": 100},
    "sim": {"max_requests": 800, "seed": 2},
}


@pytest.fixture()
def scenario_file(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(SCENARIO))
    return p


def test_json_output_is_consistent(scenario_file: Path) -> None:
    r = CliRunner().invoke(app, ["simulate", str(scenario_file), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    f = s["fleet"]
    assert s["requests"] == 800 == f["requests"] == sum(p["requests"] for p in s["pools"])
    assert 0 <= f["slo_attainment"] <= 1 and f["ttft_s"]["p50"] <= f["ttft_s"]["p99"]
    # energy: IT energy x PUE, never below the idle floor of every replica over the period
    assert f["energy_kwh"] == pytest.approx(sum(p["it_energy_kwh"] for p in s["pools"]) * 1.25)
    assert f["avg_mw"] <= f["peak_mw"] + 1e-12
    assert f["joules_per_output_token"] == pytest.approx(f["energy_kwh"] * 3.6e6 / f["output_tokens"])
    assert f["cost_usd"] == pytest.approx(f["hardware_usd"] + f["energy_usd"])
    assert f["energy_usd"] == pytest.approx(f["energy_kwh"] / 1000 * 100)


def test_table_output_and_files(scenario_file: Path, tmp_path: Path) -> None:
    out_csv, out_pq, tr = tmp_path / "r.csv", tmp_path / "r.parquet", tmp_path / "trace.json"
    r = CliRunner().invoke(
        app, ["simulate", str(scenario_file), "--requests-out", str(out_csv), "--trace-out", str(tr)]
    )
    assert r.exit_code == 0, r.output
    assert "requests over" in r.output and "kWh at PUE 1.25" in r.output
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 800 and {"ttft_s", "tpot_s", "pool", "slo_ok"} <= set(rows[0])
    events = json.loads(tr.read_text())["traceEvents"]
    assert any(e["ph"] == "X" for e in events)
    r = CliRunner().invoke(app, ["simulate", str(scenario_file), "--requests-out", str(out_pq), "--json"])
    assert r.exit_code == 0, r.output
    assert pq.read_table(out_pq).num_rows == 800


def test_bad_scenario_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(dict(SCENARIO, pools=[{"name": "gpu", "hardware": "h100", "replicas": -1}])))
    with pytest.raises(SystemExit) as ei:
        main(["simulate", str(p)])
    assert ei.value.code == 2
    assert "bad.yaml: pools.0.replicas" in capsys.readouterr().err


def test_layout_that_does_not_fit_names_file_and_pool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "small.yaml"
    pools = [{"name": "gpu", "hardware": "h100", "layout": {"num_chips": 1}}]
    doc = dict(SCENARIO, pools=pools)
    doc["traffic"] = [dict(SCENARIO["traffic"][0], model="llama-3.1-405b")]  # type: ignore[index]
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(SystemExit) as ei:
        main(["simulate", str(p)])
    assert ei.value.code == 2
    assert "small.yaml: pools.0: llama-3.1-405b" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-requests", "-5"], "--max-requests: max_requests must be in [1, 1e9], got -5"),
        (["--max-requests", "0"], "--max-requests: max_requests must be in [1, 1e9], got 0"),
        (["--duration", "-5"], "--duration: duration_s must be in (0.0, 1e9] s, got -5.0"),
        (["--duration", "0"], "--duration: duration_s must be in (0.0, 1e9] s"),
        (["--duration", "nan"], "--duration: duration_s must be a finite number, got nan"),
        (["--duration", "inf"], "--duration: duration_s must be a finite number, got inf"),
        (["--seed", "-1"], "--seed: seed must be in [0, 4,294,967,295], got -1"),
        (["--json", "true"], "a switch takes no value: write --json or --no-json, not '--json true'"),
    ],
)
def test_bad_flags_exit_2_with_the_flag_named(
    scenario_file: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    code, _, err = run_cli(capsys, "simulate", str(scenario_file), *flags)
    assert code == 2
    assert message in " ".join(err.split()) and "Traceback" not in err


def test_flags_meet_the_files_cross_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = dict(SCENARIO, sim={"duration_s": 10, "seed": 1})
    p = tmp_path / "rate.yaml"
    p.write_text(yaml.safe_dump(doc))
    code, _, err = run_cli(capsys, "simulate", str(p), "--duration", "1e8")
    text = " ".join(err.split())
    assert code == 2 and "rate.yaml with --duration 100000000.0" in text
    assert "would simulate ~2e+09 requests" in text and "at most 2e+07 per run" in text


def test_output_paths_are_checked_before_any_work(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = tmp_path / "r.csv"
    existing.write_text("keep me\n")
    cases = [
        (["--requests-out", str(tmp_path)], "is a directory; give a file name"),
        (["--requests-out", str(tmp_path / "missing" / "r.csv")], "does not exist"),
        (["--requests-out", str(existing)], "file exists; pass --force to overwrite it"),
        (["--requests-out", str(tmp_path / "r.txt")], "unsupported file type '.txt'"),
        (["--trace-out", str(tmp_path / "missing" / "t.json")], "--trace-out"),
    ]
    broken = tmp_path / "broken.yaml"  # a scenario that would fail only once the work starts
    broken.write_text(yaml.safe_dump(dict(SCENARIO, traffic=[dict(SCENARIO["traffic"][0], model="llama-3.1-405b")],
                                          pools=[{"name": "gpu", "hardware": "h100", "layout": {"num_chips": 1}}])))
    for flags, message in cases:
        code, _, err = run_cli(capsys, "simulate", str(broken), *flags)
        assert code == 2 and message in " ".join(err.split()), (flags, err)
    assert existing.read_text() == "keep me\n"
    code, _, err = run_cli(capsys, "simulate", str(scenario_file), "--requests-out", str(existing), "--force", "--json")
    assert code == 0, err
    assert len(list(csv.DictReader(existing.open()))) == 800
