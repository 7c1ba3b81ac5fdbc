"""Struct-of-arrays view of the endpoints, so that plugins score all of them with a few numpy operations.

A profile converts a list of :class:`EndpointSnapshot` into an :class:`EndpointTable` (the gateway path),
or the simulator owns one table and updates rows in place with :meth:`EndpointTable.set_row` (the fast
path: no snapshot object per endpoint per request). Plugins must treat the table as read-only.

Which prompt blocks each endpoint holds is not a column: the owner attaches a
:class:`~tokenfleet.routing.prefix_index.PrefixIndex` as ``table.prefix_index`` (the simulator's is exact,
the gateway's an estimate) and scorers ask :meth:`EndpointTable.cached_tokens`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tokenfleet.routing.prefix_index import PrefixIndex
from tokenfleet.routing.types import EndpointSnapshot, RequestInfo

_FLOAT_COLS = (
    "kv_use_frac",
    "predicted_ttft_s",
    "predicted_tpot_s",
    "prefill_tok_per_s",
    "usd_per_mtok",
    "power_w",
    "joules_per_token",
    "observed_ttft_s",
    "observed_tpot_s",
    "prefill_wait_s",
    "batch_prefill_tok_per_s",
)
_INT_COLS = ("in_flight", "queued", "running_seqs", "waiting_prefill_tokens")


class EndpointTable:
    """Columns of endpoint state; ``observed_*`` hold NaN where there is no observation."""

    __slots__ = (
        "_cached",
        "_cached_req",
        "_cand",
        "_model_codes",
        "_row_of",
        "_tier_cols",
        "batch_prefill_tok_per_s",
        "endpoint_id",
        "healthy",
        "hw_id",
        "in_flight",
        "joules_per_token",
        "kv_use_frac",
        "model",
        "model_code",
        "observed_tpot_s",
        "observed_ttft_s",
        "pool",
        "power_w",
        "predicted_tpot_s",
        "predicted_ttft_s",
        "prefill_tok_per_s",
        "prefill_wait_s",
        "prefix_index",
        "queued",
        "running_seqs",
        "tiers",
        "usd_per_mtok",
        "waiting_prefill_tokens",
    )

    def __init__(
        self,
        endpoint_ids: Sequence[str],
        pools: Sequence[str],
        hw_ids: Sequence[str],
        models: Sequence[str],
        tiers: Sequence[frozenset[str]],
    ) -> None:
        n = len(endpoint_ids)
        self.endpoint_id = list(endpoint_ids)
        self.pool = list(pools)
        self.hw_id = list(hw_ids)
        self.model = list(models)
        self.tiers = list(tiers)
        self._row_of = {e: i for i, e in enumerate(self.endpoint_id)}
        self._cand: dict[str, np.ndarray] = {}
        self._tier_cols: dict[str | None, np.ndarray] = {}
        self._model_codes: dict[str, int] = {}
        self.model_code = np.array(
            [self._model_codes.setdefault(m, len(self._model_codes)) for m in models], dtype=np.int64
        )
        f = np.float64
        self.kv_use_frac = np.zeros(n, f)
        self.predicted_ttft_s = np.zeros(n, f)
        self.predicted_tpot_s = np.zeros(n, f)
        self.prefill_tok_per_s = np.zeros(n, f)
        self.usd_per_mtok = np.zeros(n, f)
        self.power_w = np.zeros(n, f)
        self.joules_per_token = np.zeros(n, f)
        self.observed_ttft_s = np.full(n, np.nan)
        self.observed_tpot_s = np.full(n, np.nan)
        self.in_flight = np.zeros(n, np.int64)
        self.queued = np.zeros(n, np.int64)
        self.running_seqs = np.zeros(n, np.int64)
        self.waiting_prefill_tokens = np.zeros(n, np.int64)
        self.prefill_wait_s = np.zeros(n, f)
        self.batch_prefill_tok_per_s = np.zeros(n, f)
        self.healthy = np.ones(n, dtype=bool)
        self.prefix_index: PrefixIndex | None = None
        self._cached_req: RequestInfo | None = None
        self._cached = np.zeros(n, np.int64)

    def __len__(self) -> int:
        return len(self.endpoint_id)

    @classmethod
    def from_snapshots(cls, snaps: Sequence[EndpointSnapshot]) -> EndpointTable:
        t = cls(
            [s.endpoint_id for s in snaps],
            [s.pool for s in snaps],
            [s.hw_id for s in snaps],
            [s.model for s in snaps],
            [s.tiers for s in snaps],
        )
        for i, s in enumerate(snaps):
            t.set_row(i, s)
        return t

    def set_row(self, i: int, s: EndpointSnapshot) -> None:
        """Copy the numeric state of ``s`` into row ``i`` (identity columns are fixed at construction)."""
        for c in _INT_COLS:
            getattr(self, c)[i] = getattr(s, c)
        for c in _FLOAT_COLS:
            v = getattr(s, c)
            getattr(self, c)[i] = np.nan if v is None else v
        self.set_healthy(i, s.healthy)

    def set_healthy(self, i: int, healthy: bool) -> None:
        """Mark row ``i`` up or down (write health only through here: candidate lists are cached)."""
        if bool(self.healthy[i]) != healthy:
            self.healthy[i] = healthy
            self._cand.clear()

    def candidates(self, model: str) -> np.ndarray:
        """Rows that are healthy and serve ``model`` (cached until health changes)."""
        idx = self._cand.get(model)
        if idx is None:
            idx = self._cand[model] = np.flatnonzero(self.healthy & self.model_mask(model))
        return idx

    def row_of(self, endpoint_id: str) -> int:
        return self._row_of[endpoint_id]

    def model_mask(self, model: str) -> np.ndarray:
        code = self._model_codes.get(model)
        if code is None:
            return np.zeros(len(self), dtype=bool)
        return self.model_code == code

    def tier_mask(self, tier: str) -> np.ndarray:
        return np.fromiter((tier in t for t in self.tiers), dtype=bool, count=len(self))

    def tier_match(self, tier: str | None) -> np.ndarray:
        """Per row 1.0 where the endpoint is tagged with ``tier`` (for None: where it has no tag), else 0.0.
        Cached (identity columns are fixed at construction): index it, never write to it."""
        col = self._tier_cols.get(tier)
        if col is None:
            col = np.array([(tier in t) if tier is not None else not t for t in self.tiers], dtype=np.float64)
            self._tier_cols[tier] = col
        return col

    def pool_mask(self, pools: frozenset[str]) -> np.ndarray:
        return np.fromiter((p in pools for p in self.pool), dtype=bool, count=len(self))

    def ttft_estimate_s(self, prompt_tokens: int, idx: np.ndarray) -> np.ndarray:
        """Predicted TTFT of a ``prompt_tokens`` request on rows ``idx`` (observed mean if no prediction)."""
        base = self.predicted_ttft_s[idx]
        rate = self.prefill_tok_per_s[idx]
        pos = rate > 0  # the divisor is never 0 or NaN: no floating-point warning to silence
        extra = np.where(pos, prompt_tokens / np.where(pos, rate, 1.0), 0.0)
        est = base + extra
        obs = self.observed_ttft_s[idx]
        return np.where((base <= 0) & ~np.isnan(obs), obs, est)

    def cached_tokens(self, req: RequestInfo, idx: np.ndarray) -> np.ndarray:
        """Prompt tokens of ``req`` each row ``idx`` holds in its prefix cache (0 without an index or
        hashes). Asked once per request: later calls for the same request object reuse the answer."""
        if self.prefix_index is None or not req.prefix_hashes:
            return np.zeros(idx.size, np.int64)
        if req is not self._cached_req:
            cand = self.candidates(req.model)
            self._cached[:] = 0
            if cand.size:
                self._cached[cand] = self.prefix_index.cached_tokens(req.prefix_hashes, req.prompt_tokens, cand)
            self._cached_req = req
        return self._cached[idx]

    def prefill_ttft_s(self, req: RequestInfo, idx: np.ndarray) -> np.ndarray:
        """Predicted TTFT of ``req`` on rows ``idx`` from the prefill work in front of it: the endpoint's
        ``prefill_wait_s`` plus this prompt's uncached tokens at the rate beside its running batch."""
        rate = self.batch_prefill_tok_per_s[idx]
        rate = np.where(rate > 0, rate, self.prefill_tok_per_s[idx])
        own = np.maximum(req.prompt_tokens - self.cached_tokens(req, idx), 0)
        pos = rate > 0
        return self.prefill_wait_s[idx] + np.where(pos, own / np.where(pos, rate, 1.0), 0.0)

    def tpot_estimate_s(self, idx: np.ndarray) -> np.ndarray:
        pred = self.predicted_tpot_s[idx]
        obs = self.observed_tpot_s[idx]
        return np.where((pred <= 0) & ~np.isnan(obs), obs, pred)


__all__ = ["EndpointTable"]
