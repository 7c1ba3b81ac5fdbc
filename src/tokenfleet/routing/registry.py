"""Policy names -> builders. Adding a policy: write its builder (one file) and add one line here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tokenfleet.errors import InputError, UnknownIdError
from tokenfleet.routing import policies, prefill_load, prefix_aware
from tokenfleet.routing.plugins import Profile

PolicyBuilder = Callable[[Mapping[str, float], int], Profile]

POLICIES: dict[str, PolicyBuilder] = {
    "round-robin": policies.round_robin,
    "random": policies.random_weighted,
    "least-outstanding": policies.least_outstanding,
    "jsq": policies.join_shortest_queue,
    "least-ttft": policies.least_ttft,
    "slo-tier": policies.slo_tier,
    "slo-tier-strict": policies.slo_tier_strict,
    "cost-aware": policies.cost_aware,
    "power-aware": policies.power_aware,
    "prefill-load": prefill_load.prefill_load,
    "prefix-aware": prefix_aware.prefix_aware,
    "prefix-affinity": prefix_aware.prefix_affinity,
}


def policy_names() -> list[str]:
    return sorted(POLICIES)


def build_profile(spec: str | Mapping[str, Any], seed: int = 0) -> Profile:
    """A profile from a name or a YAML-ish dict ``{"policy": name, "weights": {scorer: weight}}``."""
    if isinstance(spec, str):
        spec = {"policy": spec}
    extra = set(spec) - {"policy", "weights"}
    if extra:
        raise InputError(f"unknown keys {sorted(extra)} (allowed: policy, weights)", where="routing")
    name = spec.get("policy")
    if not isinstance(name, str):
        raise InputError("missing policy name", where="routing.policy")
    if name not in POLICIES:
        raise UnknownIdError("routing policy", name, POLICIES)
    weights = spec.get("weights") or {}
    if not isinstance(weights, Mapping) or not all(isinstance(v, int | float) for v in weights.values()):
        raise InputError("weights must map scorer names to numbers", where="routing.weights")
    return POLICIES[name](weights, seed)


__all__ = ["POLICIES", "PolicyBuilder", "build_profile", "policy_names"]
