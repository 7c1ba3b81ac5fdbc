"""``tokenfleet catalog``: tables, --json, exit codes and error messages."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources

import pytest
from typer.testing import CliRunner

from tokenfleet import catalog
from tokenfleet.cli import app, main

runner = CliRunner()
WIDE = {"COLUMNS": "250"}
HAVE_MODELS = resources.files("tokenfleet.catalog").joinpath("data", "models.yaml").is_file()
needs_models = pytest.mark.skipif(not HAVE_MODELS, reason="catalog/data/models.yaml not installed yet")


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["catalog", *args], env=WIDE)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["catalog", *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_hardware_table_lists_every_entry() -> None:
    code, out = _run("hardware")
    assert code == 0
    for h in catalog.all_hardware():
        assert h.hw_id in out


def test_hardware_detail_shows_sources_and_flags() -> None:
    code, out = _run("hardware", "h100")
    assert code == 0
    assert "glennklockwood" in out and "ESTIMATE" in out and "10,200" in out
    assert "220,000" in out  # system_price_usd = 8 x $27,500


def test_hardware_json() -> None:
    code, out = _run("hardware", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["hw_id"] for r in rows] == [h.hw_id for h in catalog.all_hardware()]
    code, out = _run("hardware", "gb200-nvl72", "--json")
    record = json.loads(out)
    assert record["base_chip"] == "gb200" and record["chips_per_system"] == 72
    assert record["system_price_usd"] == pytest.approx(record["price_usd"] * 72)
    assert record["sources"]["price_usd"] and record["flags"]["price_usd"] == "CONFLICTING"


def test_workloads_table_and_detail() -> None:
    code, out = _run("workloads")
    assert code == 0
    for w in catalog.all_workloads():
        assert w.workload_id in out
    code, out = _run("workloads", "mlperf-llama3.1-8b")
    assert code == 0 and "DERIVED" in out and "ESTIMATE" in out
    code, out = _run("workloads", "mlperf-deepseek-r1", "--json")
    assert json.loads(out)["output_tokens_mean"] == pytest.approx(3886.23)


@needs_models
def test_models_table_and_json() -> None:
    code, out = _run("models")
    assert code == 0
    for m in catalog.all_models():
        assert m.model_id in out
    model = catalog.all_models()[0]
    code, out = _run("models", model.model_id, "--json")
    record = json.loads(out)
    assert code == 0 and record["model_id"] == model.model_id
    assert record["total_params"] == pytest.approx(model.total_params)
    assert record["active_params"] <= record["total_params"]
    code, out = _run("models", model.model_id)
    assert code == 0 and "total_params" in out and "active_params" in out


@needs_models
def test_unknown_model_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    model_id = catalog.all_models()[0].model_id
    code, _, err = _main(capsys, "models", model_id + "x")
    assert code == 2 and "did you mean" in err and model_id in err


@pytest.mark.parametrize(("kind", "bad", "closest"), [("hardware", "h1000", "h100"),
                                                        ("workloads", "single_stream", "single-stream")])
def test_unknown_id_exits_2_with_closest_ids(capsys: pytest.CaptureFixture[str], kind: str, bad: str,
                                            closest: str) -> None:
    code, out, err = _main(capsys, kind, bad)
    assert code == 2
    assert f"'{closest}'" in err and "did you mean" in err
    assert "Traceback" not in out + err


def test_good_command_exits_0_through_main(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(capsys, "hardware", "cs3", "--json")
    assert code == 0 and json.loads(out)["memory_gb"] == 44


def test_module_entry_point_end_to_end() -> None:
    bad = subprocess.run([sys.executable, "-m", "tokenfleet", "catalog", "hardware", "mi300"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert "mi300x" in bad.stderr and "Traceback" not in bad.stderr + bad.stdout
    good = subprocess.run([sys.executable, "-m", "tokenfleet", "catalog", "workloads", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert good.returncode == 0 and len(json.loads(good.stdout)) == len(catalog.all_workloads())
