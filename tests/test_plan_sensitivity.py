"""What moves the answer: every tornado bar and every SLO breakpoint is a real re-solve, checked here by
re-planning the scenario with the input changed in the YAML; bad ranges are refused at the door."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from tokenfleet.cli.plan import _print
from tokenfleet.errors import ScenarioError
from tokenfleet.plan.default import default_text
from tokenfleet.plan.output import plan_json
from tokenfleet.plan.planner import PlanResult, plan
from tokenfleet.plan.schema import parse_plan_scenario


def _data(**plan_over: object) -> dict[str, object]:
    data = yaml.safe_load(default_text())
    data["plan"].update(pareto_points=0, budget_options_mw=[], **plan_over)
    return data


def _tco(data: dict[str, object]) -> float:
    r = plan(parse_plan_scenario(data), Path("."), run_verify=False, pareto=False, shadow=False, sensitivity=False)
    return r.solution.tco_usd_per_year


@pytest.fixture(scope="module")
def default() -> PlanResult:
    return plan(parse_plan_scenario(_data()), Path("."), run_verify=False, pareto=False, shadow=False)


def test_the_default_plan_has_a_tornado_of_at_least_six_inputs(default: PlanResult) -> None:
    names = [b.input for b in default.sensitivity]
    assert len(names) >= 6 and len(set(names)) == len(names)
    for needed in ("unit price cs3", "$/MWh", "PUE", "depreciation years", "traffic", "speed cs3"):
        assert needed in names
    swings = [b.swing_usd for b in default.sensitivity]
    assert swings == sorted(swings, reverse=True)  # largest first
    rows = plan_json(default)["sensitivity"]
    assert {"input", "low", "high", "tco_low_usd", "tco_high_usd"} <= set(rows[0])


@pytest.mark.parametrize("name", ["unit price cs3", "$/MWh", "PUE", "depreciation years", "traffic", "speed h100"])
def test_each_bar_is_a_real_re_solve(default: PlanResult, name: str) -> None:
    bar = next(b for b in default.sensitivity if b.input == name)
    for value, tco in ((bar.low, bar.tco_low_usd), (bar.high, bar.tco_high_usd)):
        data = _data()
        if name == "unit price cs3":
            data["plan"]["candidates"][3]["unit_price_usd"] = value  # type: ignore[index]
        elif name == "$/MWh":
            data["facility"]["usd_per_mwh"] = value  # type: ignore[index]
        elif name == "PUE":
            data["facility"]["pue"] = value  # type: ignore[index]
        elif name == "depreciation years":
            data["facility"]["depreciation_years"] = value  # type: ignore[index]
        elif name == "traffic":
            for c in data["traffic"]:  # type: ignore[attr-defined]
                c["arrivals"]["rate_rps"] *= value
        else:
            data["plan"]["candidates"][0]["speed_factor"] = value  # type: ignore[index]
        assert tco is not None  # re-solves stop at a 1e-4 gap; the plan takes the least-MW fleet within 1e-4
        assert _tco(data) == pytest.approx(tco, rel=3e-4), (name, value)


def test_the_real_time_breakpoint_is_where_the_fleet_changes(default: PlanResult) -> None:
    bps = [b for b in default.breakpoints if b.class_name == "realtime" and b.slo == "min_user_tok_s"]
    assert bps, "the default plan reports its real-time breakpoint"
    b = bps[0]
    assert b.direction == "looser" and b.value < 250
    base_hw = {p.hw_id for p in default.pools if "realtime" in p.classes}

    def realtime_hw(floor: float) -> set[str]:
        data = _data()
        next(c for c in data["traffic"] if c["name"] == "realtime")["slo"]["min_user_tok_s"] = floor  # type: ignore
        r = plan(parse_plan_scenario(data), Path("."), run_verify=False, pareto=False, shadow=False,
                 sensitivity=False)
        return {p.hw_id for p in r.pools if "realtime" in p.classes}

    assert realtime_hw(b.value) != base_hw  # at the breakpoint the tier moves
    assert realtime_hw(b.value * 1.03) == base_hw  # 3 % tighter it has not
    assert b.tco_looser_usd is not None and b.tco_tighter_usd is not None
    assert b.tco_looser_usd < b.tco_tighter_usd
    rows = plan_json(default)["slo_breakpoints"]
    assert {"class", "slo", "value", "tco_tighter_usd", "tco_looser_usd"} <= set(rows[0])
    buf = io.StringIO()
    _print(default, Console(file=buf, width=80, color_system=None))
    text = buf.getvalue().replace("\n", " ")
    assert "Nearest SLO breakpoint: at " in text and "for realtime" in text
    assert "What moves the answer" in text
    assert max(len(line) for line in buf.getvalue().splitlines()) <= 80


@pytest.mark.parametrize(("over", "where", "words"), [
    ({"sensitivity": {"unit_price": 1.2}}, "plan.sensitivity", "unit_price 1.2 makes a unit price zero or negative"),
    ({"sensitivity": {"usd_per_mwh": 1.0}}, "plan.sensitivity", "makes the power price zero or negative"),
    ({"sensitivity": {"pue": 0.3}}, "plan.sensitivity.pue", "is below 1"),
    ({"oversubscription": 2.5}, "plan.oversubscription", "must be in [1.0, 2.0]"),
    ({"oversubscription": 0.9, "power_basis": "measured_peak"}, "plan.oversubscription", "must be in [1.0, 2.0]"),
    ({"power_basis": "measured_peak"}, "plan", "needs an explicit oversubscription"),
    ({"power_basis": "peak"}, "plan.power_basis", "'nameplate' or 'measured_peak'"),
])
def test_new_fields_are_checked_at_the_door(over: dict[str, object], where: str, words: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse_plan_scenario(_data(**over), "plan.yaml")
    assert str(exc.value).startswith(f"plan.yaml: {where}") and words in str(exc.value)


def test_idle_pools_are_explained_with_the_nearest_cheaper_alternative(default: PlanResult) -> None:
    """Every pool below 25 % load at peak has a line: why (the smallest replica that meets its SLO, who else
    meets it) and the nearest cheaper alternative, its class's nearest looser breakpoint."""
    low = [p for p in default.pools if p.peak_load < 0.25]
    assert {n.pool for n in default.low_load} == {p.name for p in low}
    for n in default.low_load:
        assert "SLO" in n.why and "carries" in n.why
        bp = min((b for b in default.breakpoints if b.direction == "looser" and n.pool.startswith(b.class_name)
                  and b.tco_looser_usd is not None and b.tco_tighter_usd is not None
                  and b.tco_looser_usd < b.tco_tighter_usd), key=lambda b: b.distance, default=None)
        if bp is not None:
            assert bp.sentence() in n.alternative
    quick = plan(parse_plan_scenario(_data()), Path("."), run_verify=False, pareto=False, shadow=False,
                 sensitivity=False)
    assert all("not searched (--no-sensitivity)" in n.alternative for n in quick.low_load)
    assert {n.pool for n in quick.low_load} == {n.pool for n in default.low_load}
