"""Paged KV cache of one replica, with a prefix cache of hash-identified blocks and LRU eviction.

Memory is counted in blocks of ``block_tokens``. A running sequence owns *private* blocks (its prompt
beyond the cached prefix, and what it generates). Prefix blocks named by trace hash ids (one id covers
``prefix_block_tokens``) live in a shared cache with a reference count; at refcount 0 they stay resident
but evictable, least recently used first. Free blocks = capacity - private - cached.

Part of the simulator core: ``kv.pxd`` gives the compiled twin its C types (see :mod:`tokenfleet.sim.core`).
"""

from __future__ import annotations

from collections import OrderedDict


class KvCache:
    __slots__ = ("blocks_per_prefix", "capacity_blocks", "evictable", "free", "hits", "lookups", "refs")

    def __init__(self, capacity_blocks: int, blocks_per_prefix: int) -> None:
        self.capacity_blocks = capacity_blocks
        self.blocks_per_prefix = blocks_per_prefix
        self.free = capacity_blocks
        self.refs: dict[int, int] = {}  # hash id -> sequences using it (resident, pinned)
        self.evictable: OrderedDict[int, None] = OrderedDict()  # resident, unused, LRU first
        self.hits = 0
        self.lookups = 0

    @property
    def used_blocks(self) -> int:
        return self.capacity_blocks - self.free

    @property
    def available(self) -> int:
        """Blocks obtainable now: free plus evictable cache."""
        return self.free + len(self.evictable) * self.blocks_per_prefix

    def match(self, hash_ids: tuple[int, ...], max_blocks: int) -> int:
        """How many leading ``hash_ids`` (at most ``max_blocks``) are resident."""
        k = 0
        refs, ev = self.refs, self.evictable
        for h in hash_ids[:max_blocks]:
            if h in refs or h in ev:
                k += 1
            else:
                break
        return k

    def pinned_if_matched(self, hash_ids: tuple[int, ...], k: int) -> int:
        """Blocks that would stop being evictable if the first ``k`` ids were pinned."""
        ev = self.evictable
        n = 0
        for h in hash_ids[:k]:
            if h in ev:
                n += self.blocks_per_prefix
        return n

    def pin(self, hash_ids: tuple[int, ...]) -> None:
        refs, ev = self.refs, self.evictable
        for h in hash_ids:
            if h in ev:
                del ev[h]
                refs[h] = 1
            else:
                refs[h] = refs.get(h, 0) + 1

    def unpin(self, hash_ids: tuple[int, ...]) -> None:
        refs, ev = self.refs, self.evictable
        for h in hash_ids:
            c = refs[h] - 1
            if c:
                refs[h] = c
            else:
                del refs[h]
                ev[h] = None  # most recently used at the end

    def insert(self, hash_ids: tuple[int, ...]) -> int:
        """Register newly computed prefix blocks (pinned by the caller's sequence). Returns how many
        private blocks the caller hands over to the cache; duplicates already resident are just pinned
        and their private copy is freed here."""
        refs, ev = self.refs, self.evictable
        handed = 0
        for h in hash_ids:
            if h in refs:
                refs[h] += 1
                self.free += self.blocks_per_prefix
            elif h in ev:
                del ev[h]
                refs[h] = 1
                self.free += self.blocks_per_prefix
            else:
                refs[h] = 1
            handed += self.blocks_per_prefix
        return handed

    def allocate(self, blocks: int) -> bool:
        """Take ``blocks`` private blocks, evicting LRU cache entries if needed; False if impossible."""
        if blocks <= self.free:
            self.free -= blocks
            return True
        if blocks > self.available:
            return False
        ev = self.evictable
        while self.free < blocks:
            ev.popitem(last=False)
            self.free += self.blocks_per_prefix
        self.free -= blocks
        return True

    def release(self, blocks: int) -> None:
        self.free += blocks


__all__ = ["KvCache"]
