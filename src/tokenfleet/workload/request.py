"""Requests, one at a time (:class:`Request`) or as columns (:class:`RequestBatch`, what loaders return)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Request:
    """One inference request. ``prefix_hash_ids`` name the prompt's leading KV blocks (Mooncake style:
    equal ids = identical token blocks), empty when the trace has none."""

    request_id: int
    arrival_s: float
    prompt_tokens: int
    output_tokens: int
    class_name: str = "default"
    prefix_hash_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class RequestBatch:
    """Requests as columns, sorted by arrival. Hash ids are stored CSR-style: request ``i`` owns
    ``hash_ids[hash_offsets[i]:hash_offsets[i + 1]]`` (``hash_offsets`` is None when there are none)."""

    arrival_s: np.ndarray  # float64 seconds
    prompt_tokens: np.ndarray  # int64
    output_tokens: np.ndarray  # int64
    hash_offsets: np.ndarray | None = None
    hash_ids: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.arrival_s.size)

    @property
    def duration_s(self) -> float:
        return float(self.arrival_s[-1] - self.arrival_s[0]) if len(self) else 0.0

    def hashes_of(self, i: int) -> tuple[int, ...]:
        if self.hash_offsets is None or self.hash_ids is None:
            return ()
        return tuple(self.hash_ids[self.hash_offsets[i] : self.hash_offsets[i + 1]].tolist())

    def slice(self, start: int, stop: int) -> RequestBatch:
        if self.hash_offsets is None or self.hash_ids is None:
            return RequestBatch(
                self.arrival_s[start:stop], self.prompt_tokens[start:stop], self.output_tokens[start:stop]
            )
        off = self.hash_offsets[start : stop + 1]
        return RequestBatch(
            self.arrival_s[start:stop],
            self.prompt_tokens[start:stop],
            self.output_tokens[start:stop],
            off - off[0],
            self.hash_ids[off[0] : off[-1]],
        )

    def requests(self, class_name: str = "default", first_id: int = 0) -> Iterator[Request]:
        """The rows as :class:`Request` objects (created lazily)."""
        arr, pt, ot = self.arrival_s.tolist(), self.prompt_tokens.tolist(), self.output_tokens.tolist()
        if self.hash_offsets is None or self.hash_ids is None:
            for i in range(len(arr)):
                yield Request(first_id + i, arr[i], pt[i], ot[i], class_name)
            return
        off, ids = self.hash_offsets.tolist(), self.hash_ids
        for i in range(len(arr)):
            yield Request(
                first_id + i, arr[i], pt[i], ot[i], class_name, tuple(ids[off[i] : off[i + 1]].tolist())
            )


def make_batch(
    arrival_s: np.ndarray,
    prompt_tokens: np.ndarray,
    output_tokens: np.ndarray,
    hash_offsets: np.ndarray | None = None,
    hash_ids: np.ndarray | None = None,
) -> RequestBatch:
    """A batch with normalised dtypes (float64 arrivals, int64 lengths)."""
    return RequestBatch(
        np.asarray(arrival_s, dtype=np.float64),
        np.asarray(prompt_tokens, dtype=np.int64),
        np.asarray(output_tokens, dtype=np.int64),
        None if hash_offsets is None else np.asarray(hash_offsets, dtype=np.int64),
        None if hash_ids is None else np.asarray(hash_ids, dtype=np.int64),
    )


__all__ = ["Request", "RequestBatch", "make_batch"]
