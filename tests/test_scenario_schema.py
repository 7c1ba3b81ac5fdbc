"""Scenario files: errors name the file and field; data paths resolve; extensions and examples load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tokenfleet.errors import ScenarioError
from tokenfleet.scenario import Scenario, load_scenario, parse_scenario, register_section, resolve_data_path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BASE = {
    "traffic": [
        {
            "name": "chat",
            "model": "llama-3.1-8b",
            "arrivals": {"process": "poisson", "rate_rps": 2},
            "input_tokens": {"value": 100},
            "output_tokens": {"value": 10},
        }
    ],
    "pools": [{"name": "gpu", "hardware": "h100"}],
    "sim": {"duration_s": 10},
}


def with_(path: str, value: object) -> dict:
    import copy

    d = copy.deepcopy(BASE)
    node: dict = d
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]  # type: ignore[assignment]
    if isinstance(node, list):
        node[int(keys[-1])] = value
    else:
        node[keys[-1]] = value
    return d


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        ("pools.0.replicas", 0, r"pools\.0\.replicas: Input should be greater than 0"),
        ("pools.0.hardware", "h1000", r"pools\.0\.hardware: unknown hardware id 'h1000'; did you mean"),
        ("traffic.0.model", "llama-9", r"traffic\.0\.model: unknown model id"),
        ("traffic.0.arrivals", {"process": "gamma"}, r"traffic\.0\.arrivals: .*needs rate_rps"),
        ("traffic.0.input_tokens", {"dist": "uniform", "low": 5}, r"traffic\.0\.input_tokens: .*needs high"),
        ("facility", {"pue": 0.9}, r"facility\.pue: Input should be greater than or equal to 1"),
        ("pools.0.scheduler", {"max_seqs": 8, "bogus": 1}, r"pools\.0\.scheduler\.bogus: Extra inputs"),
        ("sim", {}, r"need sim\.duration_s or sim\.max_requests"),
    ],
)
def test_bad_fields_are_named(path: str, value: object, match: str) -> None:
    with pytest.raises(ScenarioError, match=match) as ei:
        parse_scenario(with_(path, value), "fleet.yaml")
    assert str(ei.value).startswith("fleet.yaml: ")


def test_bad_yaml_and_missing_trace_name_the_file(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("traffic: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml: not valid YAML"):
        load_scenario(p)
    doc = with_("traffic.0.arrivals", {"trace": "nowhere.csv"})
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(ScenarioError, match=r"traffic\.0\.arrivals\.trace: trace file not found"):
        load_scenario(p)


def test_data_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_data_path("t.csv", tmp_path) == tmp_path / "t.csv"
    monkeypatch.setenv("TOKENFLEET_SHARED", str(tmp_path))
    assert resolve_data_path("shared:traces/a.csv", Path("/x")) == tmp_path / "data" / "traces" / "a.csv"


def test_extension_sections_and_subclassing() -> None:
    doc = BASE | {"plan_extra_section_for_test": {"objective": "cost"}}
    with pytest.raises(ScenarioError, match="plan_extra_section_for_test: Extra inputs"):
        parse_scenario(doc, "s.yaml")
    register_section("plan_extra_section_for_test")
    sc = parse_scenario(doc, "s.yaml")
    assert sc.extensions == {"plan_extra_section_for_test": {"objective": "cost"}}

    class PlanScenario(Scenario):
        budget_mw: float = 1.0

    ps = parse_scenario(BASE | {"budget_mw": 3.5}, "p.yaml", PlanScenario)
    assert isinstance(ps, PlanScenario) and ps.budget_mw == 3.5


def test_cross_checks() -> None:
    two = dict(BASE, traffic=BASE["traffic"] + [dict(BASE["traffic"][0], name="other", model="llama-3.3-70b")])
    with pytest.raises(ScenarioError, match="must name its model"):
        parse_scenario(two, "s.yaml")
    with pytest.raises(ScenarioError, match="need a disaggregation section"):
        parse_scenario(with_("pools.0", {"name": "gpu", "hardware": "h100", "role": "prefill"}), "s.yaml")


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("sim-*.yaml")), ids=lambda p: p.name)
def test_examples_validate(path: Path) -> None:
    sc, base = load_scenario(path)
    assert sc.traffic and sc.pools
    for c in sc.traffic:
        if c.arrivals.trace:
            assert resolve_data_path(c.arrivals.trace, base).is_file()
