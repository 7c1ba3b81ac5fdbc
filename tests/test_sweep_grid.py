"""Grid specs: value parsing, dotted keys checked against the scenario schema, share.<tier>, seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenfleet.errors import InputError
from tokenfleet.scenario import Scenario
from tokenfleet.sweep.grid import expand, parse_axis, parse_values, set_key
from tokenfleet.sweep.spec import apply_share, make_sweep, point_seed

BASE = {
    "name": "g",
    "traffic": [
        {"name": "rt", "model": "llama-3.1-8b", "tier": "ultra-low-latency",
         "arrivals": {"process": "poisson", "rate_rps": 10},
         "input_tokens": {"dist": "fixed", "value": 100}, "output_tokens": {"dist": "fixed", "value": 20}},
        {"name": "chat", "model": "llama-3.1-8b", "arrivals": {"process": "poisson", "rate_rps": 30},
         "input_tokens": {"dist": "fixed", "value": 100}, "output_tokens": {"dist": "fixed", "value": 20}},
    ],
    "pools": [{"name": "gpu", "hardware": "h100", "replicas": 2}],
    "sim": {"seed": 5, "max_requests": 100},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500:2000:250", (500, 750, 1000, 1250, 1500, 1750, 2000)),
        ("0.1:0.3:0.1", (0.1, 0.2, 0.3)),  # decimal steps: no 0.30000000000000004, stop included
        ("1:2:5", (1,)),
        ("40,80,120", (40, 80, 120)),
        ("1.5e6,3e6", (1.5e6, 3e6)),  # numbers, though YAML 1.1 would read them as strings
        ("0.5", (0.5,)),
        ("true,false", (True, False)),
        ("cs3, h100", ("cs3", "h100")),
    ],
)
def test_values(text: str, expected: tuple[object, ...]) -> None:
    assert parse_values(text, "--grid k") == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [("5:1:1", "stop must be >= start"), ("1:5:0", "step must be > 0"), ("a:b:c", "numbers"), ("1,,2", "empty"),
     ("", "no values")],
)
def test_bad_values(text: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        parse_values(text, "--grid k")


def test_expand_row_major() -> None:
    pts = expand([parse_axis("a=1,2"), parse_axis("b=x,y,z")])
    assert len(pts) == 6
    assert pts[0].assignments == (("a", 1), ("b", "x"))
    assert pts[5].assignments == (("a", 2), ("b", "z"))
    assert [p.index for p in pts] == list(range(6))


def test_set_key_by_name_index_and_nested() -> None:
    d = set_key(BASE, Scenario, "traffic.chat.arrivals.rate_rps", 99)
    assert d["traffic"][1]["arrivals"]["rate_rps"] == 99
    assert BASE["traffic"][1]["arrivals"]["rate_rps"] == 30  # the base is not mutated
    d = set_key(d, Scenario, "pools.0.replicas", 4)
    assert d["pools"][0]["replicas"] == 4
    d = set_key(d, Scenario, "facility.pue", 1.4)  # a section absent from the file is created
    assert d["facility"] == {"pue": 1.4}


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        ("facility.power_budget_mw", "did you mean"),
        ("nope", "has no field 'nope'"),
        ("pools.tpu.replicas", "no item named 'tpu'"),
        ("pools.5.replicas", "out of range"),
        ("facility", "is a section"),
        ("pools.gpu", "is a section"),
        ("facility.pue.x", "single value"),
    ],
)
def test_unknown_keys(key: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle) as info:
        set_key(BASE, Scenario, key, 1)
    assert f"--grid {key}" in str(info.value)


def test_wrong_type_is_caught_up_front() -> None:
    with pytest.raises(InputError, match=r"--grid facility.pue: value 'high'.*facility.pue"):
        make_sweep(BASE, Path("."), "g.yaml", [parse_axis("facility.pue=1.2,high")])
    with pytest.raises(InputError, match=r"pools\.0\.hardware"):  # catalog ids are checked like the CLI does
        make_sweep(BASE, Path("."), "g.yaml", [parse_axis("pools.gpu.hardware=h101")])


def test_share_keeps_total_and_sets_fraction() -> None:
    out = apply_share(BASE, "ultra-low-latency", 0.5, [10.0, 30.0], "--grid share.ultra-low-latency")
    rt, chat = (c["arrivals"]["rate_rps"] for c in out["traffic"])
    assert rt + chat == pytest.approx(40.0)
    assert rt / (rt + chat) == pytest.approx(0.5)
    with pytest.raises(InputError, match="between 0 and 1"):
        apply_share(BASE, "ultra-low-latency", 1.5, [10.0, 30.0], "x")
    with pytest.raises(InputError, match="no traffic class has tier 'fast'"):
        apply_share(BASE, "fast", 0.5, [10.0, 30.0], "x")


def test_seeds_common_by_default_and_deterministic_per_point() -> None:

    sw = make_sweep(BASE, Path("."), "g.yaml", [parse_axis("pools.gpu.replicas=1,2,3")])
    assert {sw.scenario(p)["sim"]["seed"] for p in sw.points} == {5}
    ind = make_sweep(BASE, Path("."), "g.yaml", [parse_axis("pools.gpu.replicas=1,2,3")], independent_seeds=True)
    seeds = [ind.scenario(p)["sim"]["seed"] for p in ind.points]
    assert len(set(seeds)) == 3
    assert seeds == [point_seed(5, i) for i in range(3)]
    assert [ind.scenario(p)["pools"][0]["replicas"] for p in ind.points] == [1, 2, 3]
