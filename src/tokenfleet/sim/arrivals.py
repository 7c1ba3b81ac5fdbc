"""A scenario's requests as column chunks (:class:`Arrivals`), merged across classes in arrival order.

The event loop reads requests column by column, so no object is made per request before it reaches a
replica. :func:`merge_chunks` gives the order :func:`tokenfleet.workload.merge` gives (ties in arrival time
go to the earlier class, then to the earlier row) and numbers requests 0, 1, 2, ...; it stops at
``max_requests`` or at the first arrival after ``duration_s``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tokenfleet.scenario import Scenario
from tokenfleet.sim.workloads import class_sources
from tokenfleet.workload import Request, RequestBatch, Source

REQUEST_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class Arrivals:
    """Requests as lists (cheap to index one element at a time). Ids are ``first_id``, ``first_id + 1``, ...
    unless ``request_id`` lists them."""

    first_id: int
    arrival_s: list[float]
    prompt_tokens: list[int]
    output_tokens: list[int]
    class_idx: list[int]
    hashes: list[tuple[int, ...]] | None = None
    request_id: list[int] | None = None

    def __len__(self) -> int:
        return len(self.arrival_s)


def _hashes(b: RequestBatch, lo: int, hi: int) -> list[tuple[int, ...]]:
    if b.hash_offsets is None or b.hash_ids is None:
        return [()] * (hi - lo)
    off, ids = b.hash_offsets[lo : hi + 1].tolist(), b.hash_ids.tolist()
    return [tuple(ids[off[i] : off[i + 1]]) for i in range(hi - lo)]


class _Buffered:
    """One class's rows not yet handed out."""

    __slots__ = ("arrival_s", "batches", "class_idx", "it", "live")

    def __init__(self, class_idx: int, src: Source) -> None:
        self.class_idx = class_idx
        self.it = src.chunks()
        self.live = True  # the source may have more rows
        self.batches: list[RequestBatch] = []
        self.arrival_s = np.empty(0)

    def pull(self) -> None:
        b = next(self.it, None)
        if b is None:
            self.live = False
            return
        self.batches.append(b)
        self.arrival_s = np.concatenate([self.arrival_s, b.arrival_s]) if self.arrival_s.size else b.arrival_s

    def take(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, ...]] | None]:
        """Remove and return the first ``n`` rows (arrival, prompt, output, hashes or None)."""
        arr, pt, ot, hs = [], [], [], []
        any_hashes = False
        left = n
        while left:
            b = self.batches[0]
            k = min(left, len(b))
            arr.append(b.arrival_s[:k])
            pt.append(b.prompt_tokens[:k])
            ot.append(b.output_tokens[:k])
            any_hashes |= b.hash_ids is not None
            hs.extend(_hashes(b, 0, k))
            if k == len(b):
                self.batches.pop(0)
            else:
                self.batches[0] = b.slice(k, len(b))
            left -= k
        self.arrival_s = self.arrival_s[n:]
        cat = np.concatenate
        return cat(arr), cat(pt), cat(ot), hs if any_hashes else None


def merge_chunks(
    classes: list[Source], max_requests: int | None = None, duration_s: float | None = None
) -> Iterator[Arrivals]:
    """All classes' requests in arrival order as chunks, numbered from 0; stops at ``max_requests`` or after
    ``duration_s``. Infinite sources need one of the two limits."""
    bufs = [_Buffered(i, s) for i, s in enumerate(classes)]
    limit = max_requests if max_requests is not None else -1
    horizon = duration_s if duration_s is not None else float("inf")
    next_id = 0
    want = list(bufs)
    while True:
        for b in want:
            b.pull()
        # rows before the frontier (the earliest last-buffered arrival of a source that may have more) are final
        # (a source with nothing buffered may start anywhere: then nothing is final until it has rows)
        live = [b for b in bufs if b.live]
        last = [float(b.arrival_s[-1]) if b.arrival_s.size else -math.inf for b in live]
        frontier = min(last, default=math.inf)
        want = [b for b, t in zip(live, last, strict=True) if t == frontier]
        parts = [(b, int(np.searchsorted(b.arrival_s, frontier, "left"))) for b in bufs]
        parts = [(b, n) for b, n in parts if n]
        if not parts:
            if not live:
                return
            continue
        cols = [(b.class_idx, *b.take(n)) for b, n in parts]
        arr = np.concatenate([c[1] for c in cols])
        order = np.argsort(arr, kind="stable") if len(cols) > 1 else None  # ties: earlier class first
        pt = np.concatenate([c[2] for c in cols])
        ot = np.concatenate([c[3] for c in cols])
        ci = np.concatenate([np.full(c[1].size, c[0], np.int64) for c in cols])
        hs: list[tuple[int, ...]] | None = None
        if any(c[4] is not None for c in cols):
            hs = [h for c in cols for h in (c[4] if c[4] is not None else [()] * c[1].size)]
        if order is not None:
            arr, pt, ot, ci = arr[order], pt[order], ot[order], ci[order]
            if hs is not None:
                hs = [hs[i] for i in order.tolist()]
        n = arr.size
        stop = False
        if limit >= 0 and next_id + n >= limit:
            n, stop = limit - next_id, True
        if arr.size and arr[n - 1 if n else 0] > horizon:
            n, stop = int(np.searchsorted(arr[:n], horizon, "right")), True
        if n:
            yield Arrivals(next_id, arr[:n].tolist(), pt[:n].tolist(), ot[:n].tolist(), ci[:n].tolist(),
                           hs[:n] if hs is not None else None)
            next_id += n
        if stop:
            return


def scenario_arrivals(sc: Scenario, base_dir: Path) -> Iterator[Arrivals]:
    return merge_chunks([src for _, src in class_sources(sc, base_dir)], sc.sim.max_requests, sc.sim.duration_s)


def request_arrivals(requests: Iterable[Request], class_idx: dict[str, int]) -> Iterator[Arrivals]:
    """Given :class:`Request` objects (in arrival order) as chunks, keeping their ids."""
    it = iter(requests)
    while True:
        rs = [r for _, r in zip(range(REQUEST_CHUNK), it, strict=False)]
        if not rs:
            return
        hs = [r.prefix_hash_ids for r in rs]
        yield Arrivals(
            rs[0].request_id,
            [r.arrival_s for r in rs],
            [r.prompt_tokens for r in rs],
            [r.output_tokens for r in rs],
            [class_idx[r.class_name] for r in rs],
            hs if any(hs) else None,
            [r.request_id for r in rs],
        )


__all__ = ["Arrivals", "merge_chunks", "request_arrivals", "scenario_arrivals"]
