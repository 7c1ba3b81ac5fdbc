"""The simulator's exact answer to prefix-aware routing's question: which prompt blocks each replica holds.

:class:`ReplicaPrefixView` implements :class:`tokenfleet.routing.prefix_index.PrefixIndex` over the
replicas behind a routing table. A replica holds a prompt's leading blocks when its KV cache has them
resident (pinned by a running sequence or evictable: :meth:`tokenfleet.sim.kv.KvCache.match`) or when a
prompt carrying them is queued or being prefilled there (routed, not yet cached: :meth:`add` when routed,
:meth:`remove` at its first token or rejection), as a router that remembers its own decisions knows.
The match is capped as the scheduler caps reuse: the last prompt token is always computed. Replicas
without prefix caching hold nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tokenfleet.sim.replica import Replica
from tokenfleet.sim.seq import Seq


class ReplicaPrefixView:
    __slots__ = ("_block", "_kv", "_pending")

    def __init__(self, replicas: Sequence[Replica]) -> None:
        self._kv = [r.kv if r.cfg.prefix_caching else None for r in replicas]
        self._block = [r.cfg.prefix_block_tokens for r in replicas]
        self._pending: list[dict[int, int]] = [{} for _ in replicas]

    def _full(self, row: int, seq: Seq) -> tuple[int, ...]:
        return seq.hashes[: seq.prompt_tokens // self._block[row]]

    def add(self, row: int, seq: Seq) -> None:
        """``seq`` was routed to ``row``: its full prompt blocks will be cached there."""
        if self._kv[row] is None:
            return
        p = self._pending[row]
        for h in self._full(row, seq):
            p[h] = p.get(h, 0) + 1

    def remove(self, row: int, seq: Seq) -> None:
        """``seq`` got its first token on ``row`` (its blocks are now resident) or was rejected there."""
        if self._kv[row] is None:
            return
        p = self._pending[row]
        for h in self._full(row, seq):
            c = p.get(h, 0) - 1
            if c > 0:
                p[h] = c
            else:
                p.pop(h, None)

    def cached_tokens(self, hashes: tuple[int, ...], prompt_tokens: int, rows: np.ndarray) -> np.ndarray:
        out = np.zeros(rows.size, np.int64)
        kvs, blocks, pending = self._kv, self._block, self._pending
        for i, r in enumerate(rows.tolist()):
            kv = kvs[r]
            if kv is None:
                continue
            b = blocks[r]
            refs, ev, pend = kv.refs, kv.evictable, pending[r]
            k = 0
            for h in hashes[: (prompt_tokens - 1) // b]:
                if h in refs or h in ev or h in pend:
                    k += 1
                else:
                    break
            out[i] = k * b
        return out


__all__ = ["ReplicaPrefixView"]
