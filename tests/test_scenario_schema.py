"""Scenario files: errors name the file and field; data paths resolve; extensions and examples load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tokenfleet.errors import ScenarioError
from tokenfleet.scenario import Scenario, load_scenario, parse_scenario, register_section, resolve_data_path
from tokenfleet.workload.packaged import TRACE_DIR

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
        ("pools.0.replicas", 0, r"pools\.0\.replicas: replicas must be in \[1, 10000\], got 0"),
        ("pools.0.replicas", 10**30, r"pools\.0\.replicas: replicas must be in \[1, 10000\], got 1e30"),
        ("pools.0.replicas", 1_000_000, r"replicas must be in \[1, 10000\], got 1e6"),
        ("pools.0.replicas", 2.5, r"pools\.0\.replicas: .*fractional part"),
        ("pools.0.replicas", True, r"pools\.0\.replicas: expected a number, got True"),
        ("facility", {"pue": 0.5}, r"facility\.pue: pue must be in \[1\.0, 3\.0\], got 0\.5"),
        ("facility", {"pue": float("nan")}, r"facility\.pue: Input should be a finite number"),
        ("facility", {"usd_per_mwh": -1}, r"usd_per_mwh must be in \[0\.0, 100000\.0\] \$/MWh"),
        ("sim.seed", -1, r"sim\.seed: seed must be in \[0, "),
        ("sim.duration_s", float("inf"), r"sim\.duration_s: Input should be a finite number"),
        ("sim.duration_s", 0, r"sim\.duration_s: duration_s must be in \(0\.0, 1e9\] s"),
        ("sim.max_requests", -5, r"sim\.max_requests: max_requests must be in \[1, 1e9\] requests, got -5"),
        ("traffic.0.arrivals.rate_rps", 1e7, r"at 1e\+07 requests/s for 10 s would simulate ~1e\+08 requests "
         r"\(~1\.74 h at ~16,000 requests/s\); at most 2e\+07 per run"),
        ("traffic.0.arrivals.rate_rps", 1e8, r"rate_rps must be in \(0, 1e7\] requests/s"),
        ("traffic.0.output_tokens", {"dist": "lognormal", "mean": 1500, "max_tokens": 10},
         r"max_tokens \(10\) must be >= mean \(1,500\)"),
        ("traffic.0.input_tokens", {"value": 100, "min_tokens": 200}, r"min_tokens \(200\) must be <= value"),
        ("traffic.0.input_tokens", {"value": 10**12}, r"value must be in \[1, 1e7\] tokens, got 1e12"),
        ("pools.0", {"name": "gpu", "hardware": "h100", "tiers": ["silver"]}, r"pool 'gpu' lists tier 'silver'"),
        ("pools.0.tiers", ["gold"], r"pool 'gpu' lists tier 'gold' that no traffic class has"),
        ("pools.0.tiers", ["a", "a"], r"tiers must be unique"),
        ("pools.0.role", "decode", r"role prefill/decode need a disaggregation section"),
        ("pools.0.layout", {"weight_precision": "fp3"}, r"pools\.0\.layout\.weight_precision: unknown precision 'fp3'"),
        ("pools.0.speculative", {"draft_model": "llama-3.1-8b"}, r"draft model must be smaller than the target"),
        ("pools.0.speculative", {"draft_model": "llama-3.1-70b"}, r"draft llama-3.1-70b .* must be smaller"),
        ("traffic.0.name", "x" * 200_000, r"traffic\.0\.name: String should have at most 200 characters"),
        ("traffic", [{"name": f"c{i}", "model": "llama-3.1-8b", "arrivals": {"process": "poisson", "rate_rps": 1},
                      "input_tokens": {"value": 1}, "output_tokens": {"value": 1}} for i in range(3000)],
         r"traffic: List should have at most 100 items"),
        ("pools.0.hardware", "h1000", r"pools\.0\.hardware: unknown hardware id 'h1000'; did you mean"),
        ("traffic.0.model", "llama-9", r"traffic\.0\.model: unknown model id"),
        ("traffic.0.arrivals", {"process": "gamma"}, r"traffic\.0\.arrivals: .*needs rate_rps"),
        ("traffic.0.input_tokens", {"dist": "uniform", "low": 5}, r"traffic\.0\.input_tokens: .*needs high"),
        ("facility", {"pue": 0.9}, r"facility\.pue: pue must be in \[1\.0, 3\.0\], got 0\.9"),
        ("pools.0.scheduler", {"max_seqs": 8, "bogus": 1}, r"pools\.0\.scheduler\.bogus: Extra inputs"),
        ("sim", {}, r"need sim\.duration_s or sim\.max_requests"),
    ],
)
def test_bad_fields_are_named(path: str, value: object, match: str) -> None:
    with pytest.raises(ScenarioError, match=match) as ei:
        parse_scenario(with_(path, value), "fleet.yaml")
    assert str(ei.value).startswith("fleet.yaml: ")


def test_class_tier_unknown_to_the_pools() -> None:
    d = with_("pools.0", {"name": "gpu", "hardware": "h100", "tiers": ["silver"]})
    d["traffic"][0]["tier"] = "gold"
    with pytest.raises(ScenarioError, match=r"class 'chat' has tier 'gold' that no pool lists \(pool tiers: \['silver"):
        parse_scenario(d, "fleet.yaml")


def _disagg(prefill_role: str, decode_role: str, prefill: list[str], decode: list[str]) -> dict:
    d = with_("pools", [{"name": "prefill", "hardware": "h100", "role": prefill_role},
                        {"name": "decode", "hardware": "h100", "role": decode_role}])
    d["disaggregation"] = {"prefill_pools": prefill, "decode_pools": decode}
    return d


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        (_disagg("prefill", "decode", ["prefill"], ["prefill"]), r"in both prefill_pools and decode_pools"),
        (_disagg("decode", "decode", ["prefill"], ["decode"]), r"prefill_pools names pool 'prefill' whose role is"),
        (_disagg("prefill", "prefill", ["prefill"], ["decode"]), r"decode_pools names pool 'decode' whose role"),
        (_disagg("prefill", "decode", ["prefill"], ["decode", "decode"]), r"lists a pool twice"),
        (_disagg("prefill", "decode", ["prefill"], ["gpu"]), r"unknown pool 'gpu'"),
        ({**_disagg("prefill", "decode", ["prefill"], ["decode"]),
          "disaggregation": {"prefill_pools": ["prefill"], "decode_pools": ["decode"],
                             "link_latency_ms": float("inf")}},
         r"link_latency_ms: Input should be a finite number"),
    ],
)
def test_disaggregation_roles_are_consistent(doc: dict, match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        parse_scenario(doc, "fleet.yaml")


def test_consistent_disaggregation_loads() -> None:
    sc = parse_scenario(_disagg("prefill", "decode", ["prefill"], ["decode"]), "fleet.yaml")
    assert [p.role for p in sc.pools] == ["prefill", "decode"]


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
    monkeypatch.delenv("TOKENFLEET_SHARED", raising=False)
    assert resolve_data_path("t.csv", tmp_path) == tmp_path / "t.csv"
    packaged = resolve_data_path("shared:traces/azure2023_conv.csv", Path("/x"))
    assert packaged.is_file() and packaged.name == "azure2023_conv.csv.xz"
    assert packaged.parent == TRACE_DIR  # the package's copy, wherever the repository sits
    monkeypatch.setenv("TOKENFLEET_SHARED", str(tmp_path))
    assert resolve_data_path("shared:traces/a.csv", Path("/x")) == tmp_path / "data" / "traces" / "a.csv"


def test_an_unknown_shared_trace_names_the_packaged_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKENFLEET_SHARED", raising=False)
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(with_("traffic.0.arrivals", {"trace": "shared:traces/nope.csv"})))
    with pytest.raises(ScenarioError, match=r"arrivals\.trace: no packaged trace shared:traces/nope\.csv; packaged: "
                       r"shared:traces/azure2023_code\.csv, .*TOKENFLEET_SHARED"):
        load_scenario(p)


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
            assert c.arrivals.trace.startswith("shared:traces/")  # packaged data, not a path beside the clone
            assert resolve_data_path(c.arrivals.trace, base).is_file()


def test_looped_trace_work_is_bounded_with_an_estimate(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                     + "".join(f"2023-11-16 18:15:{s:02d}.0,100,10\n" for s in range(11)))  # 11 requests over 10 s
    doc = with_("traffic.0.arrivals", {"trace": str(trace), "loop": True, "rate_multiplier": 10})
    doc["traffic"][0].pop("input_tokens")
    doc["traffic"][0].pop("output_tokens")
    doc["sim"] = {"duration_s": 2e6}  # 11 / 10 s x 10 x 2e6 s = 2.2e7 requests
    p = tmp_path / "loop.yaml"
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(ScenarioError, match=r"loop\.yaml: sim\.duration_s: looped traces .* ~2\.2e\+07 requests"):
        load_scenario(p)
    doc["sim"] = {"duration_s": 2e6, "max_requests": 1000}
    p.write_text(yaml.safe_dump(doc))
    assert load_scenario(p)[0].sim.max_requests == 1000
