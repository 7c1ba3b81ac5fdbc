"""The top-level :class:`Scenario` read by ``simulate`` (and, extended, by ``plan``).

Extending it: the planner (or any later layer) subclasses :class:`Scenario` in its own module and adds
its fields, e.g. ``class PlanScenario(Scenario): plan: PlanSpec``, then loads with
``load_scenario(path, PlanScenario)``. So that ``simulate`` can read the same file, such a module also
calls :func:`register_section` with its top-level key(s): the base model then keeps those sections,
unvalidated, in ``extensions`` instead of rejecting them as unknown.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from tokenfleet.scenario.base import StrictModel
from tokenfleet.scenario.fleet import DisaggregationSpec, FacilitySpec, PoolSpec, RoutingSpec, SimSpec
from tokenfleet.scenario.traffic import TrafficClass

_EXTENSION_SECTIONS: set[str] = set()


def register_section(*names: str) -> None:
    """Let base :class:`Scenario` accept (and ignore) top-level sections another layer validates."""
    _EXTENSION_SECTIONS.update(names)


class Scenario(StrictModel):
    name: str = "scenario"
    description: str = ""
    traffic: list[TrafficClass] = Field(min_length=1)
    pools: list[PoolSpec] = Field(min_length=1)
    routing: RoutingSpec = RoutingSpec()
    disaggregation: DisaggregationSpec | None = None
    facility: FacilitySpec = FacilitySpec()
    sim: SimSpec = SimSpec()
    extensions: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split_extensions(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = set(cls.model_fields)
            ext = {k: data[k] for k in data if k in _EXTENSION_SECTIONS and k not in known}
            if ext:
                data = {k: v for k, v in data.items() if k not in ext} | {"extensions": ext}
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        names = [c.name for c in self.traffic]
        if len(set(names)) != len(names):
            raise ValueError(f"traffic class names must be unique, got {names}")
        pools = [p.name for p in self.pools]
        if len(set(pools)) != len(pools):
            raise ValueError(f"pool names must be unique, got {pools}")
        models = {c.model for c in self.traffic}
        for pool in self.pools:
            if pool.model is None and len(models) > 1:
                raise ValueError(f"pool {pool.name!r} must name its model: the classes use {sorted(models)}")
        served = {pool.model or next(iter(models)) for pool in self.pools}
        for c in self.traffic:
            if c.model not in served:
                raise ValueError(f"no pool serves model {c.model!r} of class {c.name!r}")
        d = self.disaggregation
        if d is not None:
            for p in d.prefill_pools + d.decode_pools:
                if p not in pools:
                    raise ValueError(f"disaggregation names unknown pool {p!r} (pools: {pools})")
        elif any(p.role != "mixed" for p in self.pools):
            raise ValueError("pools with role prefill/decode need a disaggregation section")
        if (
            self.sim.duration_s is None
            and self.sim.max_requests is None
            and any(c.arrivals.process is not None or c.arrivals.loop for c in self.traffic)
        ):
            raise ValueError("synthetic or looped arrivals need sim.duration_s or sim.max_requests")
        return self

    def pool_model(self, pool: PoolSpec) -> str:
        return pool.model or self.traffic[0].model


__all__ = ["Scenario", "register_section"]
