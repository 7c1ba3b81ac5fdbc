"""Lazy request streams: one per traffic class, merged in arrival order, produced chunk by chunk so memory
stays flat however many requests a run has.

* :class:`TraceSource` replays a :class:`RequestBatch` with a rate multiplier (arrival times divided by
  it) and optionally loops it (each copy shifted by the trace's span; hash ids shifted so copies do not
  share cache blocks).
* :class:`SyntheticSource` draws arrivals (Poisson / Gamma / diurnal) and lengths (distributions, or rows
  resampled from a trace).
* :func:`merge` interleaves the classes by arrival time and numbers the requests 0, 1, 2, ...
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import repeat
from typing import Protocol

import numpy as np

from tokenfleet.errors import InputError
from tokenfleet.workload.request import Request, RequestBatch, make_batch
from tokenfleet.workload.synthetic import Diurnal, LengthDist, gamma_arrivals, poisson_arrivals

CHUNK = 65536
HASH_NAMESPACE = 1 << 40  # hash ids of class k are offset by k * HASH_NAMESPACE


class Source(Protocol):
    def chunks(self) -> Iterator[RequestBatch]: ...


@dataclass(slots=True)
class TraceSource:
    batch: RequestBatch
    rate_multiplier: float = 1.0
    loop: bool = False
    hash_offset: int = 0

    def __post_init__(self) -> None:
        if self.rate_multiplier <= 0:
            raise InputError(f"rate_multiplier must be > 0, got {self.rate_multiplier}")
        if len(self.batch) == 0:
            raise InputError("trace has no requests")

    def chunks(self) -> Iterator[RequestBatch]:
        b, n = self.batch, len(self.batch)
        span = b.duration_s + (b.duration_s / max(n - 1, 1))  # one mean gap between copies
        id_span = int(b.hash_ids.max()) + 1 if b.hash_ids is not None and b.hash_ids.size else 0
        copy = 0
        while True:
            for s in range(0, n, CHUNK):
                part = b.slice(s, min(n, s + CHUNK))
                ids = part.hash_ids
                if ids is not None:
                    ids = ids + (self.hash_offset + copy * id_span)
                yield RequestBatch(
                    (part.arrival_s + copy * span) / self.rate_multiplier,
                    part.prompt_tokens,
                    part.output_tokens,
                    part.hash_offsets,
                    ids,
                )
            copy += 1
            if not self.loop:
                return


@dataclass(slots=True)
class SyntheticSource:
    """``process`` is ``poisson``, ``gamma`` (with ``cv``) or ``diurnal`` (``peak_to_mean``, ``period_s``)."""

    process: str
    rate_rps: float
    input_len: LengthDist | None = None
    output_len: LengthDist | None = None
    lengths_from: RequestBatch | None = None  # resample (prompt, output) pairs from a trace instead
    cv: float = 1.0
    peak_to_mean: float = 1.5
    period_s: float = 86400.0
    seed: int = 0
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        if self.lengths_from is None and (self.input_len is None or self.output_len is None):
            raise InputError("synthetic arrivals need input and output length distributions (or a trace)")
        if self.process not in ("poisson", "gamma", "diurnal"):
            raise InputError(f"unknown arrival process {self.process!r} (poisson, gamma, diurnal)")

    def chunks(self) -> Iterator[RequestBatch]:
        t_last, units = 0.0, 0.0
        diurnal = (
            Diurnal(self.rate_rps, self.peak_to_mean, self.period_s) if self.process == "diurnal" else None
        )
        while True:
            if diurnal is not None:
                t, units = diurnal.arrivals(self.rng, CHUNK, units)
            elif self.process == "gamma":
                t = gamma_arrivals(self.rng, self.rate_rps, self.cv, CHUNK, t_last)
            else:
                t = poisson_arrivals(self.rng, self.rate_rps, CHUNK, t_last)
            t_last = float(t[-1])
            if self.lengths_from is not None:
                rows = self.rng.integers(0, len(self.lengths_from), CHUNK)
                p, o = self.lengths_from.prompt_tokens[rows], self.lengths_from.output_tokens[rows]
            else:
                assert self.input_len is not None and self.output_len is not None
                p, o = self.input_len.sample(self.rng, CHUNK), self.output_len.sample(self.rng, CHUNK)
            yield make_batch(t, p, o)


def _tagged(name: str, src: Source) -> Iterator[tuple[float, int, int, tuple[int, ...], str]]:
    """Rows ``(arrival_s, prompt, output, hash ids, class name)`` of ``src``, converted a chunk at a time."""
    for b in src.chunks():
        arr, pt, ot = b.arrival_s.tolist(), b.prompt_tokens.tolist(), b.output_tokens.tolist()
        k = len(arr)
        if b.hash_offsets is None or b.hash_ids is None:
            yield from zip(arr, pt, ot, repeat((), k), repeat(name, k), strict=True)
        else:
            off, ids = b.hash_offsets.tolist(), b.hash_ids.tolist()  # as RequestBatch.hashes_of, per chunk
            hashes = [tuple(ids[off[i] : off[i + 1]]) for i in range(k)]
            yield from zip(arr, pt, ot, hashes, repeat(name, k), strict=True)


def merge(
    classes: list[tuple[str, Source]], max_requests: int | None = None, duration_s: float | None = None
) -> Iterator[Request]:
    """All classes' requests in arrival order, renumbered from 0; stops at ``max_requests`` or at
    ``duration_s`` (whichever comes first). Infinite sources need one of the two limits."""
    streams = [_tagged(name, src) for name, src in classes]
    tagged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda x: x[0])
    limit = max_requests if max_requests is not None else -1
    horizon = duration_s if duration_s is not None else float("inf")
    for rid, (t, p, o, h, name) in enumerate(tagged):
        if rid == limit or t > horizon:
            return
        yield Request(rid, t, p, o, name, h)


__all__ = ["CHUNK", "HASH_NAMESPACE", "Source", "SyntheticSource", "TraceSource", "merge"]
