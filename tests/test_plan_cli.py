"""``tokenfleet plan``: the default scenario, outputs, determinism and bad input (exit code 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tokenfleet.cli import main
from tokenfleet.deal.plan_link import load_plan
from tokenfleet.errors import InfeasibleError
from tokenfleet.plan.default import default_scenario, default_text
from tokenfleet.plan.milp import solve
from tokenfleet.plan.output import plan_json
from tokenfleet.plan.planner import make_problem, plan
from tokenfleet.plan.schema import parse_plan_scenario

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def _small(**plan_over: object) -> dict[str, object]:
    data = yaml.safe_load(default_text())
    data["plan"].update(plan_over)
    return data


def test_default_plan_verifies_and_writes_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["plan", "--out", str(tmp_path)], capsys)
    assert code == 0
    assert "TCO" in out and "Simulated" in out
    plan_file = load_plan(tmp_path / "plan.json")  # the deal layer can read it
    data = json.loads((tmp_path / "plan.json").read_text())
    assert plan_file.totals.facility_mw == pytest.approx(sum(p["facility_mw"] for p in data["pools"]), rel=1e-6)
    assert all(c["met"] for c in data["verification"]["classes"])
    html = (tmp_path / "report.html").read_text()
    assert "TCO against SLO tightness" in html and "Time to first token" in html
    assert "src='plotly.min.js'" in html and "http" not in html.split("<body", 1)[0]  # plotly.js beside it
    assert (tmp_path / "plotly.min.js").exists() and (tmp_path / "tables.xlsx").exists()
    rows = (tmp_path / "plan.csv").read_text().splitlines()
    assert len(rows) == 1 + len(data["pools"])


def test_plans_are_deterministic() -> None:
    sc, base = default_scenario()
    a, b = (plan_json(plan(sc, base, pareto=False)) for _ in range(2))
    for d in (a, b):
        d.pop("timings_s")
        d["verification"].pop("wall_s")
    assert a == b


def test_budget_too_small_says_what_binds(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    sc = parse_plan_scenario(_small(power_budget_mw=0.01))
    unconstrained = sc.model_copy(update={"plan": sc.plan.model_copy(update={"power_budget_mw": None})})
    from tokenfleet.plan.capacity import all_options
    from tokenfleet.plan.demand import class_demands

    demands = class_demands(unconstrained, Path("."))
    need = solve(make_problem(unconstrained, demands, all_options(unconstrained, demands)), "power")
    assert need is not None and need.provisioned_mw > 0.01
    with pytest.raises(InfeasibleError) as exc:
        plan(sc, Path("."), run_verify=False, pareto=False)
    # enough digits to see the gap (not "needs 0.1 MW ...; budget is 0.0 MW")
    gap = need.provisioned_mw - 0.01
    assert (f"needs {need.provisioned_mw:,.4g} MW provisioned (nameplate x PUE 1.2); budget is 0.01 MW "
            f"(short by {gap:,.4g} MW)"
            in str(exc.value))
    assert exc.value.binding == ["power budget"]
    f = tmp_path / "tight.yaml"
    f.write_text(yaml.safe_dump(_small(power_budget_mw=0.01)))
    code, _, err = _run(["plan", str(f)], capsys)
    assert code == 2 and "needs" in err and "budget is" in err


@pytest.mark.parametrize(("change", "needle"), [
    ({"candidates": [{"hardware": "h1000"}]}, "unknown hardware id 'h1000'"),
    ({"candidates": [{"hardware": "cs3", "speculative": {"draft_model": "llama-9b"}}]}, "unknown model id"),
    ({"constraints": {"min_vendors": 4}}, "min_vendors is 4 but the candidates come from only 3"),
    ({"constraints": {"max_vendor_share": 0.2}}, "max_vendor_share 0.2 x 3 vendor(s) < 100%"),
    ({"objective": "fastest"}, "plan.objective"),
    ({"constraints": {"peak_headroom": 5}}, "plan.constraints.peak_headroom"),
    ({"power_budget_mw": float("inf")}, "plan.power_budget_mw"),
    ({"horizon_years": -1}, "plan.horizon_years"),
    ({"candidates": [{"hardware": "gb300-nvl72", "supply_cap_chips": 40}]},
     "plan.candidates.0.supply_cap_chips: a GB300 NVL72 rack holds 72 chips but supply_cap_chips is 40"),
    ({"candidates": [{"hardware": "h100", "unit": {"chips": 4}}]},
     "plan.candidates.0.unit.price_usd: unit price missing"),
    ({"candidates": [{"hardware": "h100", "unit": {"chips": 4, "price_usd": 1e5},
                      "layouts": [{"num_chips": 8, "tp": 8}]}]},
     "plan.candidates.0.layouts.0: the h100 units cannot host this layout: TP8 bf16 needs a tensor-parallel "
     "group of 8"),
])
def test_bad_input_exits_2(change: dict[str, object], needle: str, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(_small(**change)))
    code, _, err = _run(["plan", str(f)], capsys)
    assert code == 2
    assert needle in " ".join(err.split())


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0"])
def test_budget_flag_must_be_finite_and_positive(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["plan", f"--budget-mw={value}", "--no-verify", "--no-pareto"], capsys)
    assert code == 2 and "--budget-mw" in err and "positive, finite" in err


def test_boolean_flags_take_no_value(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["plan", "--json", "--no-verify", "--no-pareto"], capsys)
    assert code == 0 and json.loads(out)["pools"]
    code, out, _ = _run(["plan", "--no-json", "--no-verify", "--no-pareto"], capsys)
    assert code == 0 and "What to order" in out


def test_unknown_class_model_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _small()
    data["traffic"][0]["model"] = "llama-70b"  # type: ignore[index]
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(data))
    code, _, err = _run(["plan", str(f)], capsys)
    assert code == 2 and "traffic.0.model" in err and "unknown model id" in err


def test_unreachable_slo_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["plan", str(EXAMPLES / "plan-ull-1000.yaml"), "--no-verify", "--no-pareto"], capsys)
    text = " ".join(err.split())
    assert code == 2
    assert "class 'ultra-low-latency'" in text and "min_user_tok_s 3,000" in text and "best any candidate" in text
