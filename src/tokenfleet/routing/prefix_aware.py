"""Prefix-cache-aware routing: send a request where its prompt's prefix is already cached, within reason.

* :class:`PrefixScorer` (``prefix``) scores the share of the prompt an endpoint holds in its prefix cache
  (``table.cached_tokens``: exact in the simulator, estimated from routed requests in the gateway).
* :class:`LoadBalanceFilter` (``balance``) keeps only endpoints whose predicted TTFT (prefill-aware, cache
  credited) is within ``slack_frac`` x the best plus ``slack_s`` of the best: one hot prefix cannot
  pile its requests onto the replica that holds it while others idle (SGLang's router switches to
  shortest-queue on imbalance for the same reason). Soft: never empties the candidates.
* ``prefix-aware`` = KV-headroom and balance filters, then ``prefix`` x 2 + ``prefill-load`` x 1 +
  ``outstanding`` x 0.5 (``tpot`` available at weight 0).
* ``prefix-affinity`` = ``prefix`` alone, load ignored (ties rotate): the affinity oracle the benchmark
  compares against; in the simulator it sends each request to the replica holding its longest cached
  prefix.

Defaults were chosen with ``benchmarks/routing.py`` (README, simulator section).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tokenfleet.routing.filters import KvHeadroomFilter
from tokenfleet.routing.pickers import MaxScorePicker
from tokenfleet.routing.plugins import Filter, Profile
from tokenfleet.routing.policies import weighted
from tokenfleet.routing.prefill_load import PrefillLoadScorer
from tokenfleet.routing.scorers import OutstandingScorer, TpotScorer
from tokenfleet.routing.table import EndpointTable
from tokenfleet.routing.types import RequestInfo

SLACK_S = 0.25  # defaults of the balance filter (measured, see the module docstring)
SLACK_FRAC = 1.0
PREFIX_WEIGHT = 2.0
OUTSTANDING_WEIGHT = 0.5
AFFINITY_MIN_SHARE = 0.1


@dataclass(slots=True)
class PrefixScorer:
    """Share of the request's prompt already in the endpoint's prefix cache (0 when unknown); shares
    below ``min_share`` count as 0 (a prompt that shares only a common system prompt with what an
    endpoint holds is treated as new, like SGLang's ``cache_threshold``)."""

    name: str = "prefix"
    bounded: ClassVar[bool] = True
    min_share: float = 0.0

    def score(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        if not req.prefix_hashes or table.prefix_index is None or req.prompt_tokens <= 0:
            return np.zeros(idx.size)
        share = np.minimum(table.cached_tokens(req, idx) / req.prompt_tokens, 1.0)
        if self.min_share > 0:
            share[share < self.min_share] = 0.0
        return share


@dataclass(slots=True)
class LoadBalanceFilter:
    """Keep endpoints whose predicted TTFT is at most ``best * (1 + slack_frac) + slack_s``."""

    name: str = "balance"
    soft: bool = True
    slack_s: float = SLACK_S
    slack_frac: float = SLACK_FRAC

    def keep(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        t = table.prefill_ttft_s(req, idx)
        best = float(np.minimum.reduce(t))
        return t <= best * (1.0 + self.slack_frac) + self.slack_s


def uses_prefix(profile: Profile) -> bool:
    """True when a plugin of ``profile`` asks which prompt blocks endpoints cache (so the simulator and the
    gateway keep that index only for policies that read it)."""
    plugins = [*profile.filters, *(s for s, _ in profile.scorers)]
    return any(isinstance(p, PrefixScorer | PrefillLoadScorer | LoadBalanceFilter) for p in plugins)


def uses_prefill_queue(profile: Profile) -> bool:
    """True when a plugin of ``profile`` reads the waiting prefill work (``prefill_wait_s``)."""
    plugins = [*profile.filters, *(s for s, _ in profile.scorers)]
    return any(isinstance(p, PrefillLoadScorer | LoadBalanceFilter) for p in plugins)


def prefix_aware(weights: Mapping[str, float], seed: int) -> Profile:
    filters: list[Filter] = [KvHeadroomFilter(), LoadBalanceFilter()]
    scorers = weighted("prefix-aware", [(PrefixScorer(), PREFIX_WEIGHT), (PrefillLoadScorer(), 1.0),
                                        (OutstandingScorer(), OUTSTANDING_WEIGHT), (TpotScorer(), 0.0)], weights)
    return Profile("prefix-aware", filters, scorers, MaxScorePicker())


def prefix_affinity(weights: Mapping[str, float], seed: int) -> Profile:
    scorers = weighted("prefix-affinity", [(PrefixScorer(min_share=AFFINITY_MIN_SHARE), 1.0)], weights)
    return Profile("prefix-affinity", [], scorers, MaxScorePicker())


__all__ = ["LoadBalanceFilter", "PrefixScorer", "prefix_affinity", "prefix_aware", "uses_prefill_queue",
           "uses_prefix"]
