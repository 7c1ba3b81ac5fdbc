"""The top-level :class:`Scenario` read by ``simulate`` (and, extended, by ``plan``).

Extending it: the planner (or any later layer) subclasses :class:`Scenario` in its own module and adds
its fields, e.g. ``class PlanScenario(Scenario): plan: PlanSpec``, then loads with
``load_scenario(path, PlanScenario)``. So that ``simulate`` can read the same file, such a module also
calls :func:`register_section` with its top-level key(s): the base model then keeps those sections,
unvalidated, in ``extensions`` instead of rejecting them as unknown.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from tokenfleet.scenario.base import MAX_NAME_CHARS, StrictModel
from tokenfleet.scenario.fleet import DisaggregationSpec, FacilitySpec, PoolSpec, RoutingSpec, SimSpec
from tokenfleet.scenario.traffic import TrafficClass

_EXTENSION_SECTIONS: set[str] = set()
MAX_CLASSES = 100
MAX_POOLS = 200
MAX_TOTAL_REPLICAS = 20_000
MAX_SIM_REQUESTS = 2e7  # ~20 min of wall time at the simulator's ~16,000 requests/s
SIM_REQUESTS_PER_S = 16_000.0  # measured (README), for the estimate in the error


def register_section(*names: str) -> None:
    """Let base :class:`Scenario` accept (and ignore) top-level sections another layer validates."""
    _EXTENSION_SECTIONS.update(names)


class Scenario(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)] = "scenario"
    description: Annotated[str, Field(max_length=20_000)] = ""
    traffic: list[TrafficClass] = Field(min_length=1, max_length=MAX_CLASSES)
    pools: list[PoolSpec] = Field(min_length=1, max_length=MAX_POOLS)
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
        self._check_roles(pools)
        self._check_tiers()
        total = sum(p.replicas for p in self.pools)
        if total > MAX_TOTAL_REPLICAS:
            raise ValueError(
                f"{total:,} replicas in all pools; at most {MAX_TOTAL_REPLICAS:,} (the simulator models one cell "
                "of a fleet: scale the traffic down instead)"
            )
        if (
            self.sim.duration_s is None
            and self.sim.max_requests is None
            and any(c.arrivals.process is not None or c.arrivals.loop for c in self.traffic)
        ):
            raise ValueError("synthetic or looped arrivals need sim.duration_s or sim.max_requests")
        self._check_work()
        return self

    def _check_roles(self, pools: list[str]) -> None:
        d = self.disaggregation
        role = {p.name: p.role for p in self.pools}
        if d is None:
            if any(p.role != "mixed" for p in self.pools):
                raise ValueError("pools with role prefill/decode need a disaggregation section")
            return
        for key, want in (("prefill_pools", "prefill"), ("decode_pools", "decode")):
            for p in getattr(d, key):
                if p not in pools:
                    raise ValueError(f"disaggregation names unknown pool {p!r} (pools: {pools})")
                if role[p] != want:
                    raise ValueError(
                        f"disaggregation.{key} names pool {p!r} whose role is {role[p]!r}; give it role: {want}"
                    )
        listed = set(d.prefill_pools) | set(d.decode_pools)
        for p in self.pools:
            if p.role != "mixed" and p.name not in listed:
                raise ValueError(f"pool {p.name!r} has role {p.role!r} but is not in disaggregation.{p.role}_pools")

    def _check_tiers(self) -> None:
        class_tiers = {c.tier for c in self.traffic if c.tier is not None}
        pool_tiers = {t for p in self.pools for t in p.tiers}
        for c in self.traffic:
            if c.tier is not None and pool_tiers and c.tier not in pool_tiers:
                raise ValueError(
                    f"class {c.name!r} has tier {c.tier!r} that no pool lists "
                    f"(pool tiers: {sorted(pool_tiers) or 'none'})"
                )
        for p in self.pools:
            for t in p.tiers:
                if t not in class_tiers:
                    raise ValueError(
                        f"pool {p.name!r} lists tier {t!r} that no traffic class has "
                        f"(class tiers: {sorted(class_tiers) or 'none'})"
                    )

    def _check_work(self) -> None:
        """Synthetic arrivals grow with rate x duration: refuse a run too long to finish, with an estimate."""
        dur = self.sim.duration_s
        rates = [c.arrivals.rate_rps or 0.0 for c in self.traffic if c.arrivals.process is not None]
        if dur is None or not rates:
            return
        n = sum(rates) * dur
        if self.sim.max_requests is not None:
            n = min(n, float(self.sim.max_requests))
        if n > MAX_SIM_REQUESTS:
            hours = n / SIM_REQUESTS_PER_S / 3600
            raise ValueError(
                f"synthetic arrivals at {sum(rates):,.6g} requests/s for {dur:,.6g} s would simulate ~{n:.2g} "
                f"requests (~{hours:,.3g} h at ~{SIM_REQUESTS_PER_S:,.0f} requests/s); at most {MAX_SIM_REQUESTS:.0e} "
                "per run: lower rate_rps or sim.duration_s, or set sim.max_requests"
            )

    def pool_model(self, pool: PoolSpec) -> str:
        return pool.model or self.traffic[0].model


__all__ = ["MAX_CLASSES", "MAX_SIM_REQUESTS", "MAX_TOTAL_REPLICAS", "Scenario", "register_section"]
