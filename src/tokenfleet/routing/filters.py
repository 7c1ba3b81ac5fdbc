"""Filters: each keeps the candidate rows that satisfy one rule (see :mod:`tokenfleet.routing.plugins`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tokenfleet.routing.table import EndpointTable
from tokenfleet.routing.types import RequestInfo


@dataclass(slots=True)
class TierFilter:
    """Keep endpoints tagged with the request's tier; requests without a tier go to untagged endpoints
    first. Soft: with no such endpoint, every candidate stays."""

    name: str = "tier"
    soft: bool = True

    def keep(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        return table.tier_match(req.tier)[idx] > 0.0


@dataclass(slots=True)
class SloFeasibleFilter:
    """Keep endpoints whose predicted TTFT (for this prompt) and TPOT meet the request's SLOs, with
    ``headroom`` (0.9 = aim 10% below the target). Soft: if none can, the request spills to all."""

    name: str = "slo-feasible"
    soft: bool = True
    headroom: float = 1.0

    def keep(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        ok = np.ones(idx.size, dtype=bool)
        if req.ttft_slo_ms is not None:
            ok &= table.ttft_estimate_s(req.prompt_tokens, idx) * 1e3 <= req.ttft_slo_ms * self.headroom
        if req.tpot_slo_ms is not None:
            ok &= table.tpot_estimate_s(idx) * 1e3 <= req.tpot_slo_ms * self.headroom
        return ok


@dataclass(slots=True)
class KvHeadroomFilter:
    """Drop endpoints whose KV cache is fuller than ``max_kv_use_frac``. Soft."""

    name: str = "kv-headroom"
    soft: bool = True
    max_kv_use_frac: float = 0.95

    def keep(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        return table.kv_use_frac[idx] <= self.max_kv_use_frac


@dataclass(slots=True)
class PoolFilter:
    """Keep endpoints of the named pools (hard: used for disaggregated prefill / decode pools)."""

    pools: frozenset[str]
    name: str = "pool"
    soft: bool = False

    def keep(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        return table.pool_mask(self.pools)[idx]


__all__ = ["KvHeadroomFilter", "PoolFilter", "SloFeasibleFilter", "TierFilter"]
