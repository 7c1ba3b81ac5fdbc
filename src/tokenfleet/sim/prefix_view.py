"""The simulator's exact answer to prefix-aware routing's question: which prompt blocks each replica holds.

:class:`ReplicaPrefixView` implements :class:`tokenfleet.routing.prefix_index.PrefixIndex` over the
replicas behind a routing table: a replica holds a prompt's leading blocks when its KV cache has them
resident (pinned by a running sequence or evictable), exactly what its scheduler will reuse on admission
(:meth:`tokenfleet.sim.kv.KvCache.match`, capped as the scheduler caps it: the last prompt token is always
computed). Replicas without prefix caching hold nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tokenfleet.sim.replica import Replica


class ReplicaPrefixView:
    __slots__ = ("_block", "_kv")

    def __init__(self, replicas: Sequence[Replica]) -> None:
        self._kv = [r.kv if r.cfg.prefix_caching else None for r in replicas]
        self._block = [r.cfg.prefix_block_tokens for r in replicas]

    def cached_tokens(self, hashes: tuple[int, ...], prompt_tokens: int, rows: np.ndarray) -> np.ndarray:
        out = np.zeros(rows.size, np.int64)
        kvs, blocks = self._kv, self._block
        for i, r in enumerate(rows.tolist()):
            kv = kvs[r]
            if kv is None:
                continue
            b = blocks[r]
            k = kv.match(hashes, min(len(hashes), (prompt_tokens - 1) // b))
            if k:
                out[i] = k * b
        return out


__all__ = ["ReplicaPrefixView"]
