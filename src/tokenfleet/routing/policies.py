"""The built-in policies. Each is a function ``(weights, seed) -> Profile``; the registry names them.

``weights`` overrides the default weight of a scorer by its name (``{"cost": 2, "queue": 0.5}``); a
weight of 0 switches a scorer off. Unknown names are an error that lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Mapping

from tokenfleet.errors import InputError
from tokenfleet.routing.filters import KvHeadroomFilter, SloFeasibleFilter, TierFilter
from tokenfleet.routing.pickers import MaxScorePicker, RoundRobinPicker, WeightedRandomPicker
from tokenfleet.routing.plugins import Filter, Profile, Scorer
from tokenfleet.routing.scorers import (
    CostScorer,
    EnergyScorer,
    KvUseScorer,
    OutstandingScorer,
    QueueScorer,
    TierMatchScorer,
    TtftScorer,
)


def weighted(
    policy: str, defaults: list[tuple[Scorer, float]], weights: Mapping[str, float]
) -> list[tuple[Scorer, float]]:
    """Apply ``weights`` (by scorer name) to ``defaults``; drop scorers weighted 0."""
    names = {s.name for s, _ in defaults}
    unknown = set(weights) - names
    if unknown:
        raise InputError(
            f"policy {policy!r} has no scorer {sorted(unknown)} (its scorers: {sorted(names)})",
            where="routing.weights",
        )
    out = []
    for s, w in defaults:
        w = float(weights.get(s.name, w))
        if w < 0:
            raise InputError(f"weight of {s.name!r} must be >= 0, got {w}", where="routing.weights")
        if w > 0:
            out.append((s, w))
    return out


def round_robin(weights: Mapping[str, float], seed: int) -> Profile:
    return Profile("round-robin", [], weighted("round-robin", [], weights), RoundRobinPicker())


def random_weighted(weights: Mapping[str, float], seed: int) -> Profile:
    """Random by free KV (power-of-choices style load spreading)."""
    return Profile("random", [], weighted("random", [(KvUseScorer(), 1.0)], weights), WeightedRandomPicker(seed))


def least_outstanding(weights: Mapping[str, float], seed: int) -> Profile:
    return Profile(
        "least-outstanding",
        [],
        weighted("least-outstanding", [(OutstandingScorer(), 1.0)], weights),
        MaxScorePicker(),
    )


def join_shortest_queue(weights: Mapping[str, float], seed: int) -> Profile:
    return Profile("jsq", [], weighted("jsq", [(QueueScorer(), 1.0)], weights), MaxScorePicker())


def least_ttft(weights: Mapping[str, float], seed: int) -> Profile:
    return Profile("least-ttft", [], weighted("least-ttft", [(TtftScorer(), 1.0)], weights), MaxScorePicker())


def slo_tier(weights: Mapping[str, float], seed: int) -> Profile:
    """The tier's own pool first (ultra-low-latency class -> fast pool); spill to any endpoint whose
    predicted TTFT/TPOT still meets the SLO, and to all when none can."""
    filters: list[Filter] = [SloFeasibleFilter(), KvHeadroomFilter()]
    scorers = weighted("slo-tier", [(TierMatchScorer(), 4.0), (TtftScorer(), 1.0), (OutstandingScorer(), 0.5)], weights)
    return Profile("slo-tier", filters, scorers, MaxScorePicker())


def slo_tier_strict(weights: Mapping[str, float], seed: int) -> Profile:
    """Tier first as a filter: leave the tier's pool only when no endpoint of it can meet the SLO."""
    filters: list[Filter] = [TierFilter(), SloFeasibleFilter()]
    scorers = weighted("slo-tier-strict", [(TtftScorer(), 1.0), (OutstandingScorer(), 0.5)], weights)
    return Profile("slo-tier-strict", filters, scorers, MaxScorePicker())


def cost_aware(weights: Mapping[str, float], seed: int) -> Profile:
    """Cheapest endpoint that meets the SLO; queue length keeps it from piling onto one replica."""
    scorers = weighted("cost-aware", [(CostScorer(), 2.0), (OutstandingScorer(), 1.0)], weights)
    return Profile("cost-aware", [SloFeasibleFilter()], scorers, MaxScorePicker())


def power_aware(weights: Mapping[str, float], seed: int) -> Profile:
    """Fewest joules per token among endpoints that meet the SLO."""
    scorers = weighted("power-aware", [(EnergyScorer(), 2.0), (OutstandingScorer(), 1.0)], weights)
    return Profile("power-aware", [SloFeasibleFilter()], scorers, MaxScorePicker())


__all__ = [
    "cost_aware",
    "join_shortest_queue",
    "least_outstanding",
    "least_ttft",
    "power_aware",
    "random_weighted",
    "round_robin",
    "slo_tier",
    "slo_tier_strict",
    "weighted",
]
