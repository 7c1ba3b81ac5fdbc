"""Plans a buyer can act on: whole purchasable units, cost by class, shadow prices, monotone curves,
native precision, the power-crunch study, and output that reads at 80 columns."""

from __future__ import annotations

import io
import itertools
import math
import re
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from _scenarios import two_class_plan
from tokenfleet.catalog.units import all_units, parse_units, unit
from tokenfleet.cli.plan import _print
from tokenfleet.errors import InputError
from tokenfleet.plan.capacity import layouts_for
from tokenfleet.plan.default import default_text
from tokenfleet.plan.output import plan_json
from tokenfleet.plan.planner import PlanResult, plan
from tokenfleet.plan.schema import CandidateSpec, load_plan_scenario, parse_plan_scenario

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _default(**plan_over: object) -> dict[str, object]:
    data = yaml.safe_load(default_text())
    data["plan"].update(plan_over)
    return data


@pytest.fixture(scope="module")
def capped() -> PlanResult:
    """The default scenario with supply caps that bind (CS-3 and MI355X)."""
    data = _default()
    data["plan"]["candidates"] = [{"hardware": "h100"}, {"hardware": "b200"},  # type: ignore[index]
                                  {"hardware": "mi355x", "supply_cap_systems": 1},
                                  {"hardware": "cs3", "supply_cap_systems": 8}]
    return plan(parse_plan_scenario(data), Path("."), run_verify=False, pareto=False)


def test_integer_units_cover_every_replica_within_caps(capped: PlanResult) -> None:
    """Per hardware the whole units bought hold every replica (a replica of r chips takes c / (c // r) of a
    c-chip unit, or ceil(r / c) whole units) and stay within the supply cap."""
    caps = {"mi355x": 1, "cs3": 8}
    per_hw: dict[str, int] = {}
    taken: dict[str, float] = {}
    for p in capped.pools:
        assert isinstance(p.units, int) and p.units >= 0
        r, c = p.chips // p.replicas, p.unit_chips
        taken[p.hw_id] = taken.get(p.hw_id, 0.0) + p.replicas * (c / (c // r) if r <= c else c * math.ceil(r / c))
        per_hw[p.hw_id] = per_hw.get(p.hw_id, 0) + p.units
    for hw, n in per_hw.items():
        c = next(p.unit_chips for p in capped.pools if p.hw_id == hw)
        assert n >= 1 and n * c >= taken[hw] - 1e-9
        assert n <= caps.get(hw, n)
    bom = {b["hardware"]: b for b in capped.bill_of_materials}
    assert {hw: b["count"] for hw, b in bom.items()} == per_hw
    assert sum(int(b["count"]) for b in bom.values()) == int(capped.solution.systems.sum())  # type: ignore[call-overload]


def test_plan_json_says_what_to_order(capped: PlanResult) -> None:
    data = plan_json(capped)
    for p in data["pools"]:
        buy = p["purchase"]
        assert set(buy) >= {"unit", "count", "chips", "facility_mw"}
        assert isinstance(buy["count"], int) and buy["chips"] == buy["count"] * unit(p["hardware"]).chips
    assert sum(b["capex_usd"] for b in data["bill_of_materials"]) == pytest.approx(data["totals"]["capex_usd"])


def test_attribution_sums_to_tco(capped: PlanResult) -> None:
    sol = capped.solution
    costs = capped.class_costs
    assert [c.name for c in costs] == [d.name for d in capped.demands]
    assert sum(c.tco_usd_per_year for c in costs) == pytest.approx(sol.tco_usd_per_year, rel=1e-9)
    assert sum(c.capex_usd for c in costs) == pytest.approx(sol.capex_musd * 1e6, rel=1e-9)
    assert sum(c.share_of_tco for c in costs) == pytest.approx(1.0)
    for c in costs:
        assert c.usd_per_mtok == pytest.approx(c.tco_usd_per_year / c.output_tokens_per_year * 1e6)


def test_shadow_price_of_a_binding_budget_is_a_real_saving() -> None:
    """A budget just under the cheapest fleet's MW binds; its shadow price is what a re-plan at +10 % saves."""
    data = two_class_plan("shadow", pareto_points=4)
    data["plan"].pop("power_budget_mw")
    # dear H100s (as in the dashboard's budget test): the cheapest fleet then draws more MW than one that mixes
    # H100s in, so the scenario trades MW against cost under whole units whatever the step-time calibration
    data["plan"]["candidates"][2]["price_usd"] = 150_000
    # the budget on the modelled draw (fine-grained in MW), so a budget between two frontier fleets binds
    data["plan"].update(power_basis="measured_peak", oversubscription=1.0)
    free = plan(parse_plan_scenario(data), Path("."), run_verify=False, shadow=False)
    frontier = free.pareto_mw
    assert len(frontier) >= 2, "this scenario trades MW against cost"
    # just above the next-cheapest fleet's MW (so the optimum sits at the budget: it binds) and below the
    # cheapest's; +10 % reaches the cheapest fleet
    lo, hi = frontier[-2].facility_mw, frontier[-1].facility_mw
    assert lo is not None and hi is not None
    budget = min(lo * 1.01, (lo + hi) / 2)
    assert budget * 1.1 >= hi
    data["plan"].update(power_budget_mw=budget, pareto_points=0)
    r = plan(parse_plan_scenario(data), Path("."), run_verify=False, pareto=False)
    by = {s.constraint: s for s in r.shadow}
    assert "power budget" in by and {f"SLO {d.name}" for d in r.demands} <= set(by)
    data["plan"]["power_budget_mw"] = budget * 1.1
    relaxed = plan(parse_plan_scenario(data), Path("."), run_verify=False, pareto=False, shadow=False)
    saving = by["power budget"].saving
    assert saving is not None and saving > 0
    assert saving == pytest.approx(r.solution.tco_usd_per_year - relaxed.solution.tco_usd_per_year, rel=1e-6)
    assert all(s.saving is None or s.saving >= 0 for s in r.shadow)


def test_slo_curve_is_non_increasing_and_marked() -> None:
    r = plan(parse_plan_scenario(_default(pareto_points=3)), Path("."), run_verify=False)
    costs = [q.tco_usd_per_year for q in sorted(r.pareto_slo, key=lambda q: q.x)]
    feasible = [c for c in costs if c is not None]
    assert len(feasible) >= 3
    assert costs.index(feasible[0]) + len(feasible) == len(costs)  # once feasible, looser stays feasible
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(feasible))
    mw = [(q.facility_mw, q.tco_usd_per_year) for q in r.pareto_mw]
    assert all(m2 > m1 and c2 < c1 for (m1, c1), (m2, c2) in itertools.pairwise(mw))  # type: ignore[operator]
    assert all(q.status == "estimated" for q in [*r.pareto_slo, *r.pareto_mw])  # not simulated unless asked


def test_models_plan_in_native_precision_by_default() -> None:
    assert {lay.weight_precision for lay in layouts_for("gpt-oss-120b", CandidateSpec(hardware="gb300-nvl72"))} \
        == {"fp4"}  # MXFP4 as released
    assert {lay.weight_precision for lay in layouts_for("deepseek-r1", CandidateSpec(hardware="gb200-nvl72"))} \
        == {"fp8"}
    both = layouts_for("gpt-oss-120b", CandidateSpec(hardware="gb300-nvl72", precisions=["bf16"]))
    assert {lay.weight_precision for lay in both} == {"fp4", "bf16"}


def test_weight_only_candidates_price_quantised_layouts_at_16_bit_matmuls() -> None:
    """``weight_only: true`` on a candidate: its int8 layouts read int8 bytes and multiply at the bf16 rate
    (W8A16), so under a loose SLO (compute-bound batches) an H100 serves fewer requests than with W8A8 int8;
    its 16-bit layouts are unchanged."""
    from tokenfleet.plan.capacity import plain_rate

    plain = layouts_for("llama-3.1-8b", CandidateSpec(hardware="h100", precisions=["int8"]))
    wo = layouts_for("llama-3.1-8b", CandidateSpec(hardware="h100", precisions=["int8"], weight_only=True))
    assert {(lay.weight_precision, lay.weight_only) for lay in wo} == {("bf16", False), ("int8", True)}
    assert {(lay.weight_precision, lay.weight_only) for lay in plain} == {("bf16", False), ("int8", False)}
    a = next(lay for lay in plain if lay.weight_precision == "int8" and lay.num_chips == 1)
    b = next(lay for lay in wo if lay.weight_precision == "int8" and lay.num_chips == 1)
    assert b.describe().startswith("1 chip int8-w")
    fast, slow = (plain_rate("llama-3.1-8b", "h100", lay, 1000, 200, 10.0, 1.0) for lay in (a, b))
    assert 0 < slow.request_rate < fast.request_rate


def test_units_catalog_has_sources_and_rejects_missing_figures() -> None:
    for u in all_units():
        assert u.chips >= 1 and u.price_usd > 0 and u.power_w > 0
        assert u.price_usd == pytest.approx(sum(u.items.values()))  # the price is what its items cost
        assert all(u.sources.get(k) for k in u.items), u.hw_id  # a source per item
        assert u.sources.get("power_w") and u.sources.get("lead_time_months")
    assert unit("gb300-nvl72").chips == 72 and unit("cs3").chips == 1
    with pytest.raises(InputError, match=r"entry 0 \(x\)\.items: items missing"):
        parse_units([{"hw_id": "x", "name": "X", "chips": 8, "power_w": 1000.0}])
    with pytest.raises(InputError, match=r"chips: must be a positive whole number"):
        parse_units([{"hw_id": "x", "name": "X", "chips": 0, "items": {"system": 1.0}, "power_w": 1.0,
                      "sources": {"system": "s"}}])
    with pytest.raises(InputError, match=r"sources\.host: item 'host' has no source"):
        parse_units([{"hw_id": "x", "name": "X", "chips": 8, "items": {"gpus": 8.0, "host": 1.0}, "power_w": 1.0,
                      "sources": {"gpus": "s"}}])


def test_every_unit_of_one_kind_carries_the_same_items() -> None:
    """Whole-system prices: an 8-GPU server is its GPUs plus the host that makes it work (CPUs, memory,
    NICs, chassis), whatever the vendor; racks and wafer-scale systems are sold whole."""
    kinds: dict[str, set[frozenset[str]]] = {}
    for u in all_units():
        kinds.setdefault(u.kind, set()).add(frozenset(u.items))
    assert all(len(v) == 1 for v in kinds.values()), kinds
    assert kinds["8-gpu-server"] == {frozenset({"gpus", "host"})}
    servers = [u for u in all_units() if u.kind == "8-gpu-server"]
    assert {u.hw_id for u in servers} >= {"h100", "h200", "b200", "mi300x", "mi325x", "mi355x"}
    assert len({u.items["host"] for u in servers}) == 1  # one host for every vendor's server
    for u in servers:  # no server is priced as its GPUs only
        assert u.price_usd > u.items["gpus"] and u.flags.get("host") == "ESTIMATE"


def test_power_crunch_study_binds_on_mw() -> None:
    sc, base = load_plan_scenario(EXAMPLES / "power-crunch-2026.yaml")
    r = plan(sc, base, run_verify=False, pareto=False, shadow=False)
    assert any(b.constraint == "power budget" for b in r.binding)
    assert sc.plan.power_budget_mw is not None and sc.plan.power_basis == "nameplate"
    sol = r.solution  # the budget holds what the units bought can draw: nameplate x PUE, not the modelled draw
    plate = sum(float(b["count"]) * unit(str(b["hardware"])).power_w for b in r.bill_of_materials)  # type: ignore[arg-type]
    assert sol.provisioned_mw == pytest.approx(plate * sc.facility.pue / 1e6, rel=1e-9)
    assert sol.provisioned_mw <= sc.plan.power_budget_mw * (1 + 1e-9)
    assert sol.provisioned_mw == pytest.approx(sc.plan.power_budget_mw, rel=0.01)  # it binds
    assert sol.avg_facility_mw <= sol.peak_facility_mw < sol.provisioned_mw
    low = [p for p in r.pools if p.class_name == "low-latency"]
    assert low and sum(p.units for p in low if p.hw_id == "cs3") <= 28_000  # the wafer-scale cap holds


NUMBER = re.compile(r"\$?\d[\d,]*(\.\d+)?[KMB%]?")


@pytest.mark.parametrize("width", [80, 160])
def test_terminal_output_fits_the_width_and_cuts_no_number(capped: PlanResult, width: int) -> None:
    buf = io.StringIO()
    _print(capped, Console(file=buf, width=width, color_system=None, force_terminal=False))
    text = buf.getvalue()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in text
    for header in ("repl.", "units", "load@pk", "headroom", "tok/s/u", "SLO met", "count", "prov. MW", "lead"):
        assert header in text  # no column dropped for want of room
    for p in capped.pools:  # every replica and unit count is printed whole
        assert re.search(rf"\b{p.replicas:,}\b", text) and re.search(rf"\b{p.units:,}\b", text)
    if width == 160:  # with the room, each pool is one line with its full name
        assert all(any(p.name in line for line in lines) for p in capped.pools)


def test_verification_stays_within_the_scenarios_limits() -> None:
    data = _default(pareto_points=0)
    data["plan"]["verify"] = {"duration_s": 30, "max_replicas": 4, "max_requests": 1500}  # type: ignore[index]
    r = plan(parse_plan_scenario(data), Path("."), pareto=False, shadow=False)
    v = r.verification
    assert v is not None
    assert v.requests <= 1500 and v.duration_s <= 30 and v.sim_replicas <= max(4, len(r.pools))


@pytest.mark.parametrize(("extra", "words"), [
    ({"pools": [{"name": "p", "hardware": "h100", "replicas": 1, "tiers": ["nope"]}]}, "that no pool lists"),
    ({"pools": [{"name": "p", "hardware": "h100", "replicas": 1, "role": "decode"}]}, "need a disaggregation"),
    ({"sim": {"duration_s": 1e9}}, "would simulate"),
])
def test_plan_scenarios_keep_the_simulator_cross_checks(extra: dict[str, object], words: str) -> None:
    from tokenfleet.errors import ScenarioError
    from tokenfleet.plan.default import default_text
    from tokenfleet.plan.schema import parse_plan_scenario

    data = yaml.safe_load(default_text()) | extra
    with pytest.raises(ScenarioError, match=re.escape(words)):
        parse_plan_scenario(data, "plan.yaml")
