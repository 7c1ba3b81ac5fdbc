"""The incremental least-outstanding index picks exactly the rows the generic profile picks."""

from __future__ import annotations

import numpy as np
import pytest

from tokenfleet.routing import EndpointTable, RequestInfo, build_profile
from tokenfleet.routing.fast import LeastOutstandingIndex


def table(models: list[str]) -> EndpointTable:
    n = len(models)
    return EndpointTable([f"e{i}" for i in range(n)], ["p"] * n, ["hw"] * n, models, [frozenset()] * n)


@pytest.mark.parametrize("weight", [1.0, 0.5, 3.0])
def test_same_rows_as_the_profile_under_random_updates(weight: float) -> None:
    rng = np.random.default_rng(5)
    models = ["a" if i % 3 else "b" for i in range(40)]
    t_fast, t_ref = table(models), table(models)
    spec = {"policy": "least-outstanding", "weights": {"outstanding": weight}}
    p_fast, p_ref = build_profile(spec), build_profile(spec)
    idx = LeastOutstandingIndex(p_fast, t_fast)
    for step in range(4000):
        row = int(rng.integers(40))
        v = int(rng.integers(0, 6)) if rng.random() < 0.8 else int(rng.integers(0, 400))
        for t in (t_fast, t_ref):
            t.in_flight[row] = v
        idx.set(row, v)
        model = "a" if step % 4 else "b"
        req = RequestInfo("c", model, 100, 10)
        got = idx.pick_row(model)
        assert got >= 0
        assert got == p_ref.pick_row(req, t_ref)
        assert models[got] == model
        assert t_fast.in_flight[got] == t_fast.in_flight[t_fast.candidates(model)].min()


def test_health_change_rebuilds_and_single_candidate_does_not_turn() -> None:
    models = ["a", "a", "a", "z"]
    t_fast, t_ref = table(models), table(models)
    p_fast, p_ref = build_profile("least-outstanding"), build_profile("least-outstanding")
    idx = LeastOutstandingIndex(p_fast, t_fast)
    req = RequestInfo("c", "a", 10, 10)
    for t in (t_fast, t_ref):
        t.in_flight[:] = [2, 1, 1, 0]
        t.set_healthy(2, False)
    for r, v in enumerate([2, 1, 1, 0]):
        idx.set(r, v)
    assert [idx.pick_row("a") for _ in range(3)] == [p_ref.pick_row(req, t_ref) for _ in range(3)] == [1, 1, 1]
    assert idx.pick_row("z") == 3 == p_ref.pick_row(RequestInfo("c", "z", 10, 10), t_ref)
    for t in (t_fast, t_ref):
        t.set_healthy(2, True)
    assert [idx.pick_row("a") for _ in range(4)] == [p_ref.pick_row(req, t_ref) for _ in range(4)]


def test_falls_back_when_it_cannot_vouch() -> None:
    t = table(["a", "a"])
    prof = build_profile("least-outstanding")
    idx = LeastOutstandingIndex(prof, t)
    assert idx.pick_row("nope") == -1  # no candidate: the profile raises its error
    idx.set(0, 1 << 40)  # a spread where rounding could tie neighbours
    assert idx.pick_row("a") == -1
    assert not LeastOutstandingIndex.applies(build_profile("jsq"))
    assert not LeastOutstandingIndex.applies(build_profile("slo-tier"))
    with pytest.raises(ValueError):
        LeastOutstandingIndex(build_profile("round-robin"), t)
