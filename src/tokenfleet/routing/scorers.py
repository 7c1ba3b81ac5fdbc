"""Scorers: one number in [0, 1] per candidate, higher = better. Each is a few numpy operations.

"Lower is better" quantities (queue, TTFT, $ per token, joules per token) are min-max normalised over the
candidates: the best candidate scores 1, the worst 0, and all score 1 when they are equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tokenfleet.routing.table import EndpointTable
from tokenfleet.routing.types import RequestInfo

_min, _max = np.minimum.reduce, np.maximum.reduce


def lower_is_better(x: np.ndarray) -> np.ndarray:
    lo, hi = float(_min(x)), float(_max(x))
    if not hi > lo:  # equal, or NaN somewhere
        return np.ones(x.size) if hi == lo else np.where(np.isnan(x), 0.0, 1.0)
    return (hi - x) / (hi - lo)


@dataclass(slots=True)
class OutstandingScorer:
    """Fewest requests in flight (queued + running)."""

    name: str = "outstanding"
    bounded: ClassVar[bool] = True  # output already in [0, 1]

    def score(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        return lower_is_better(table.in_flight[idx] * 1.0)


@dataclass(slots=True)
class QueueScorer:
    """Shortest waiting queue; in-flight count breaks ties (a tenth of a queued request each)."""

    name: str = "queue"
    bounded: ClassVar[bool] = True  # output already in [0, 1]

    def score(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        return lower_is_better(table.queued[idx] + 0.1 * table.in_flight[idx] / (1.0 + table.in_flight[idx]))


@dataclass(slots=True)
class KvUseScorer:
    """Most free KV cache."""

    name: str = "kv"

    def score(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        return 1.0 - table.kv_use_frac[idx]


@dataclass(slots=True)
class TtftScorer:
    """Lowest predicted TTFT for this prompt (queueing included)."""

    name: str = "ttft"
    bounded: ClassVar[bool] = True  # output already in [0, 1]

    def score(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        return lower_is_better(table.ttft_estimate_s(req.prompt_tokens, idx))


@dataclass(slots=True)
class TpotScorer:
    """Lowest predicted time per output token."""

    name: str = "tpot"
    bounded: ClassVar[bool] = True  # output already in [0, 1]

    def score(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        return lower_is_better(table.tpot_estimate_s(idx))


@dataclass(slots=True)
class CostScorer:
    """Cheapest $ per million output tokens."""

    name: str = "cost"
    bounded: ClassVar[bool] = True  # output already in [0, 1]

    def score(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        return lower_is_better(table.usd_per_mtok[idx])


@dataclass(slots=True)
class EnergyScorer:
    """Fewest joules per output token (IT power now when joules per token is unknown)."""

    name: str = "energy"
    bounded: ClassVar[bool] = True  # output already in [0, 1]

    def score(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        j = table.joules_per_token[idx]
        return lower_is_better(np.asarray(np.where(j > 0, j, table.power_w[idx]), dtype=float))


@dataclass(slots=True)
class TierMatchScorer:
    """1 for endpoints tagged with the request's tier (or untagged when the request has none), else 0."""

    name: str = "tier-match"
    bounded: ClassVar[bool] = True  # output already in [0, 1]

    def score(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        return table.tier_match(req.tier)[idx]  # a copy: the profile may scale it in place


__all__ = [
    "CostScorer",
    "EnergyScorer",
    "KvUseScorer",
    "OutstandingScorer",
    "QueueScorer",
    "TierMatchScorer",
    "TpotScorer",
    "TtftScorer",
    "lower_is_better",
]
