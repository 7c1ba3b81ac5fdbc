"""A sweep: a base scenario, its grid axes checked against the schema, and one scenario per point.

Checking is done once, up front, before anything runs: each key must exist in the schema of the scenario
(the planner's schema when the file has a ``plan:`` section, else the simulator's), and each value is put
into the base scenario alone and validated with the same pydantic models the CLI uses, so a wrong type is
reported against its key and value. Seeds are fixed before anything runs, so a point's result does not
depend on which worker runs it or in what order. The default is common random numbers: every point uses
the scenario's own seed, so the arrivals are the same everywhere and differences come from the swept
values alone; ``independent_seeds`` gives point ``i`` the seed ``SeedSequence(base_seed, spawn_key=(i,))``.

``share.<tier>=0.1,0.2`` sets the fraction of the total mean request rate in the classes of ``tier``: the
tier's classes are scaled by ``s·R/R_tier`` and the others by ``(1-s)·R/R_other`` (rate_rps for synthetic
arrivals, rate_multiplier for traces), keeping the total ``R``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from tokenfleet.errors import InputError, ScenarioError
from tokenfleet.scenario import Scenario, parse_scenario, resolve_data_path
from tokenfleet.sweep.grid import SHARE_PREFIX, Axis, Point, Value, expand, set_key
from tokenfleet.yamlio import read_mapping


def scenario_model(data: dict[str, Any]) -> type[Scenario]:
    """The planner's schema for files with a ``plan:`` section, else the base scenario schema."""
    if "plan" in data:
        from tokenfleet.plan.schema import PlanScenario

        return PlanScenario
    return Scenario


def validate(data: dict[str, Any], where: str) -> Scenario:
    if "plan" in data:
        from tokenfleet.plan.schema import parse_plan_scenario

        return parse_plan_scenario(data, where)
    return parse_scenario(data, where)


def class_mean_rps(data: dict[str, Any], base_dir: Path) -> list[float]:
    """Mean request rate of each traffic class (traces are read once)."""
    from tokenfleet.workload import load_trace

    out = []
    for c in data.get("traffic", []):
        a = c.get("arrivals", {})
        if a.get("process") is not None:
            out.append(float(a.get("rate_rps") or 0.0))
            continue
        b = load_trace(resolve_data_path(a["trace"], base_dir), a.get("format", "auto"))
        out.append(len(b) / max(b.duration_s, 1e-9) * float(a.get("rate_multiplier", 1.0)))
    return out


def apply_share(data: dict[str, Any], tier: str, share: Value, rates: list[float], where: str) -> dict[str, Any]:
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0.0 < float(share) < 1.0:
        raise InputError(f"a tier's share of traffic must be a number strictly between 0 and 1, got {share!r}",
                         where=where)
    classes = data.get("traffic", [])
    tiers = sorted({str(c.get("tier")) for c in classes if c.get("tier")})
    inside = [i for i, c in enumerate(classes) if c.get("tier") == tier]
    if not inside:
        raise InputError(f"no traffic class has tier {tier!r} (tiers: {', '.join(tiers) or 'none'})", where=where)
    if len(inside) == len(classes):
        raise InputError(f"every class has tier {tier!r}: its share is always 1", where=where)
    total = sum(rates)
    r_in = sum(rates[i] for i in inside)
    out = copy.deepcopy(data)
    s = float(share)
    for i, c in enumerate(out["traffic"]):
        k = s * total / r_in if i in inside else (1.0 - s) * total / (total - r_in)
        a = c["arrivals"]
        if a.get("process") is not None:
            a["rate_rps"] = float(a["rate_rps"]) * k
        else:
            a["rate_multiplier"] = float(a.get("rate_multiplier", 1.0)) * k
    return out


def point_seed(base_seed: int, index: int) -> int:
    return int(np.random.SeedSequence(base_seed, spawn_key=(index,)).generate_state(1)[0])


@dataclass(frozen=True, slots=True)
class Sweep:
    """A checked sweep, ready to expand: ``scenario(point)`` is the point's validated scenario data."""

    data: dict[str, Any]
    base_dir: Path
    where: str
    axes: tuple[Axis, ...]
    points: tuple[Point, ...]
    base_seed: int
    independent_seeds: bool = False
    rates: list[float] = field(default_factory=list)

    def seed(self, point: Point) -> int:
        return point_seed(self.base_seed, point.index) if self.independent_seeds else self.base_seed

    def scenario(self, point: Point) -> dict[str, Any]:
        d = self.data
        model: type[BaseModel] = scenario_model(d)
        for key, value in point.assignments:
            if key.startswith(SHARE_PREFIX):
                d = apply_share(d, key[len(SHARE_PREFIX):], value, self.rates, f"--grid {key}")
            else:
                d = set_key(d, model, key, value)
        d = copy.deepcopy(d)
        d.setdefault("sim", {})
        d["sim"] = {**(d["sim"] or {}), "seed": self.seed(point)}
        if "plan" in d and isinstance(d["plan"], dict):
            d["plan"]["verify"] = {**(d["plan"].get("verify") or {}), "seed": self.seed(point)}
        return d


def build_sweep(path: str | Path, grid: list[str], independent_seeds: bool = False) -> Sweep:
    """Read ``path``, parse ``grid`` (``KEY=VALUES`` strings) and check every key and value."""
    from tokenfleet.sweep.grid import parse_axis

    p = Path(path)
    data = read_mapping(p)
    grid = [*file_grid(data, p.name), *grid]
    return make_sweep(data, p.resolve().parent, p.name, [parse_axis(g) for g in grid], independent_seeds)


def file_grid(data: dict[str, Any], where: str) -> list[str]:
    """A scenario file may carry its own grid (``sweep: {grid: {KEY: VALUES}}``, VALUES a list or a
    ``start:stop:step`` string); the section is taken out of ``data``. ``--grid`` options add axes."""
    sw = data.pop("sweep", None)
    if sw is None:
        return []
    if not isinstance(sw, dict) or not isinstance(sw.get("grid"), dict) or set(sw) - {"grid", "description"}:
        raise InputError("expected sweep: {grid: {KEY: [values] or 'start:stop:step'}, description: ...}",
                         where=f"{where}: sweep")
    out = []
    for key, vals in sw["grid"].items():
        text = ",".join(str(v) for v in vals) if isinstance(vals, list) else str(vals)
        out.append(f"{key}={text}")
    return out


def make_sweep(data: dict[str, Any], base_dir: Path, where: str, axes: list[Axis],
               independent_seeds: bool = False) -> Sweep:
    if not axes:
        raise InputError("give at least one --grid KEY=VALUES", where="--grid")
    sc = validate(data, where)
    model: type[BaseModel] = scenario_model(data)
    rates: list[float] = []
    if any(a.key.startswith(SHARE_PREFIX) for a in axes):
        rates = class_mean_rps(data, base_dir)
    for ax in axes:
        for v in ax.values:
            opt = f"--grid {ax.key}"
            if ax.key.startswith(SHARE_PREFIX):
                one = apply_share(data, ax.key[len(SHARE_PREFIX):], v, rates, opt)
            else:
                one = set_key(data, model, ax.key, v)
            try:
                validate(one, where)
            except ScenarioError as exc:
                raise InputError(f"value {v!r} is not valid here: {exc}", where=opt) from None
    points = tuple(expand(list(axes)))
    return Sweep(data, base_dir, where, tuple(axes), points, sc.sim.seed, independent_seeds, rates)


__all__ = ["Sweep", "apply_share", "build_sweep", "class_mean_rps", "make_sweep", "point_seed", "scenario_model",
           "validate"]
