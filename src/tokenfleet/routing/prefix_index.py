"""Which prompt blocks each endpoint holds in its prefix cache: the one question prefix-aware routing asks.

:class:`PrefixIndex` is the protocol. The simulator answers it exactly from each replica's KV cache
(:class:`tokenfleet.sim.prefix_view.ReplicaPrefixView`); the gateway cannot see its backends' caches and
answers it with :class:`ApproxPrefixIndex`, an estimate built from the requests it routed, as SGLang's
cache-aware router (an approximate radix tree per worker) and llm-d's prefix scorer do:

* when a request is routed to an endpoint, its prompt's block hashes are recorded for that endpoint
  (the backend will hold them once it has prefilled the prompt);
* each endpoint's entry is an LRU set of at most ``capacity_blocks`` hashes (the backend's KV cache size
  in blocks), so it forgets in the order the backend's own LRU would evict, and memory is bounded by
  the sum of the capacities; entries older than ``ttl_s`` (when set) are dropped at lookup.

Hashes are chained (:mod:`tokenfleet.workload.prefix`), so a prompt's cached prefix is the run of its
leading hashes present. Lookups cost O(blocks matched + 1) per endpoint.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class PrefixIndex(Protocol):
    def cached_tokens(self, hashes: tuple[int, ...], prompt_tokens: int, rows: np.ndarray) -> np.ndarray:
        """Per row of ``rows``: how many leading tokens of a prompt with these block hashes are cached."""
        ...


class ApproxPrefixIndex:
    """The gateway's estimate of each endpoint's prefix cache (see the module docstring).

    ``block_tokens`` is how many tokens one hash names; ``capacity_blocks[row]`` bounds each endpoint's
    entry. ``now`` arguments are seconds on any monotonic clock (the caller's; this class reads none).
    """

    __slots__ = ("_lru", "_now", "block_tokens", "capacity_blocks", "hits", "lookups", "ttl_s")

    def __init__(self, capacity_blocks: Sequence[int], block_tokens: int, ttl_s: float | None = None) -> None:
        if block_tokens < 1:
            raise ValueError(f"block_tokens must be >= 1, got {block_tokens}")
        if any(c < 0 for c in capacity_blocks):
            raise ValueError("capacity_blocks must be >= 0")
        self.block_tokens = block_tokens
        self.capacity_blocks = [int(c) for c in capacity_blocks]
        self.ttl_s = ttl_s
        self._lru: list[OrderedDict[int, float]] = [OrderedDict() for _ in self.capacity_blocks]
        self.hits = 0  # lookups that found at least one block (observability)
        self.lookups = 0
        self._now = 0.0

    def __len__(self) -> int:
        return len(self._lru)

    def size(self, row: int) -> int:
        return len(self._lru[row])

    def advance(self, now: float) -> None:
        """Set the time that lookups judge expiry by."""
        self._now = now

    def record(self, row: int, hashes: tuple[int, ...], now: float | None = None) -> None:
        """Endpoint ``row`` was sent a prompt with these block hashes: it will hold them (most recent)."""
        cap = self.capacity_blocks[row]
        if cap == 0 or not hashes:
            return
        t = self._now if now is None else now
        lru = self._lru[row]
        for h in hashes[-cap:]:
            if h in lru:
                lru.move_to_end(h)
            lru[h] = t
        while len(lru) > cap:
            lru.popitem(last=False)

    def forget(self, row: int) -> None:
        """Drop everything known about endpoint ``row`` (it restarted, or was ejected)."""
        self._lru[row].clear()

    def matched_blocks(self, hashes: tuple[int, ...], row: int) -> int:
        lru = self._lru[row]
        ttl = self.ttl_s
        k = 0
        for h in hashes:
            t = lru.get(h)
            if t is None:
                break
            if ttl is not None and self._now - t > ttl:
                break
            k += 1
        return k

    def cached_tokens(self, hashes: tuple[int, ...], prompt_tokens: int, rows: np.ndarray) -> np.ndarray:
        out = np.zeros(rows.size, np.int64)
        bt = self.block_tokens
        found = False
        for i, r in enumerate(rows.tolist()):
            k = self.matched_blocks(hashes, r)
            if k:
                found = True
                out[i] = min(k * bt, max(prompt_tokens - 1, 0))
        self.lookups += 1
        self.hits += found
        return out


__all__ = ["ApproxPrefixIndex", "PrefixIndex"]
