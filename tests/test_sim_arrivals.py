"""Column chunks of arrivals hold exactly the requests, in exactly the order, that ``workload.merge`` gives."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from tokenfleet.sim.arrivals import merge_chunks, request_arrivals
from tokenfleet.workload import Request, RequestBatch, make_batch, merge


@dataclass
class Batches:
    """A source yielding its rows in batches of uneven sizes (some empty)."""

    batch: RequestBatch
    sizes: list[int]

    def chunks(self) -> Iterator[RequestBatch]:
        s = 0
        for k in self.sizes:
            yield self.batch.slice(s, min(s + k, len(self.batch)))
            s += k
            if s >= len(self.batch):
                return


def _source(rng: np.random.Generator, n: int, hashes: bool) -> Batches:
    t = np.sort(np.round(rng.uniform(0, 50, n), 1))  # 0.1 s grid: many ties within and across classes
    p, o = rng.integers(1, 5000, n), rng.integers(1, 500, n)
    if hashes:
        lens = rng.integers(0, 4, n)
        off = np.concatenate([[0], np.cumsum(lens)])
        b = make_batch(t, p, o, off, rng.integers(0, 1000, int(off[-1])))
    else:
        b = make_batch(t, p, o)
    sizes = [int(x) for x in rng.integers(0, 40, 200)]
    return Batches(b, sizes)


def _flat(chunks: list) -> list[tuple]:
    out = []
    for ch in chunks:
        for i in range(len(ch)):
            h = ch.hashes[i] if ch.hashes is not None else ()
            rid = ch.request_id[i] if ch.request_id is not None else ch.first_id + i
            out.append((rid, ch.arrival_s[i], ch.prompt_tokens[i], ch.output_tokens[i], ch.class_idx[i], h))
    return out


@pytest.mark.parametrize(("limit", "horizon"), [(None, None), (333, None), (None, 21.3), (150, 30.0), (0, None)])
def test_chunks_match_the_row_merge(limit: int | None, horizon: float | None) -> None:
    rng = np.random.default_rng(7)
    sources = [_source(rng, 400, hashes=False), _source(rng, 300, hashes=True), _source(rng, 350, hashes=False)]
    names = ["a", "b", "c"]
    want = [(r.request_id, r.arrival_s, r.prompt_tokens, r.output_tokens, names.index(r.class_name),
             r.prefix_hash_ids) for r in merge(list(zip(names, sources, strict=True)), limit, horizon)]
    got = _flat(list(merge_chunks(sources, limit, horizon)))
    assert got == want
    assert len(want) == (limit if limit is not None else len(want)) and (limit == 0 or len(want) > 100)


def test_a_single_source_passes_through_in_order() -> None:
    rng = np.random.default_rng(3)
    src = _source(rng, 500, hashes=True)
    want = [(r.request_id, r.arrival_s, r.prompt_tokens, r.output_tokens, 0, r.prefix_hash_ids)
            for r in merge([("x", src)])]
    assert _flat(list(merge_chunks([src]))) == want


def test_request_objects_keep_their_ids() -> None:
    reqs = [Request(10 + 3 * i, 0.5 * i, 100 + i, 10, "b" if i % 2 else "a", (i,) if i % 3 == 0 else ())
            for i in range(5000)]
    got = _flat(list(request_arrivals(reqs, {"a": 0, "b": 1})))
    assert got == [(r.request_id, r.arrival_s, r.prompt_tokens, r.output_tokens, int(r.class_name == "b"),
                    r.prefix_hash_ids) for r in reqs]
