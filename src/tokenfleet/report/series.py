"""Per-pool time series of a simulation, from what it already streams: the completed requests' timings (a
:class:`~tokenfleet.sim.engine.Sink`) and the replicas' energy per power window.

Each series is a time average over a bin (exact for counts, by integrating each request's interval):

* queue depth per replica   — requests arrived and not yet admitted to a batch;
* running per replica       — admitted and not finished (prefill included);
* KV use                    — tokens held (prompt from admission, output growing to the end; the output
  half is its lifetime mean) over the pool's KV capacity: an estimate (no block rounding, no prefix sharing);
* utilisation               — the share of replicas with any request in flight;
* facility power            — idle power plus each window's dynamic energy, x PUE (the simulator's own bins).

Requests still in flight when the run ends are not in the series (it drains at the end), so the last bins
read low when the run is cut by ``max_requests``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenfleet.sim.engine import SimResult

KEEP = ("class_idx", "pool_idx", "replica", "arrival_s", "admitted_s", "first_token_s", "finish_s", "prompt_tokens",
        "output_tokens")
DERIVED = ("ttft_s", "tpot_s", "slo_ok")
MAX_KEPT = 4_000_000  # beyond this, every other request is kept (twice as sparse each time)
TARGET_BINS = 240


class SeriesSink:
    """Keeps the columns the report needs (float32 / int32), thinning itself past :data:`MAX_KEPT` rows."""

    def __init__(self) -> None:
        self.chunks: list[dict[str, np.ndarray]] = []
        self.stride = 1
        self.rows = 0

    def write(self, cols: dict[str, np.ndarray], derived: dict[str, np.ndarray]) -> None:
        part = {k: cols[k] for k in KEEP} | {k: derived[k] for k in DERIVED}
        if self.stride > 1:
            part = {k: v[:: self.stride] for k, v in part.items()}
        self.chunks.append({k: (v.astype(np.float32) if v.dtype.kind == "f" else v.astype(np.int32))
                            for k, v in part.items()})
        self.rows += len(part["arrival_s"])
        if self.rows > MAX_KEPT:
            self.chunks = [{k: v[::2] for k, v in c.items()} for c in self.chunks]
            self.rows = sum(len(c["arrival_s"]) for c in self.chunks)
            self.stride *= 2

    def close(self) -> None:
        pass

    def columns(self) -> dict[str, np.ndarray]:
        if not self.chunks:
            return {k: np.zeros(0) for k in (*KEEP, *DERIVED)}
        return {k: np.concatenate([c[k] for c in self.chunks]) for k in self.chunks[0]}


def _h(x: np.ndarray, w: np.ndarray | None, edges: np.ndarray) -> np.ndarray:
    """sum_i w_i * min(e, x_i) at every edge e."""
    order = np.argsort(x, kind="stable")
    xs = x[order].astype(np.float64)
    ws = np.ones_like(xs) if w is None else w[order].astype(np.float64)
    cs = np.concatenate([[0.0], np.cumsum(ws * xs)])
    cw = np.concatenate([[0.0], np.cumsum(ws)])
    k = np.searchsorted(xs, edges, side="right")
    return cs[k] + edges * (cw[-1] - cw[k])


def occupancy(start: np.ndarray, end: np.ndarray, edges: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """Time-averaged sum of ``weight`` over the intervals [start, end) in each bin between ``edges``."""
    if start.size == 0:
        return np.zeros(len(edges) - 1)
    end = np.maximum(end, start)
    g = _h(end, weight, edges) - _h(start, weight, edges)
    return np.diff(g) / np.diff(edges)


def busy_intervals(replica: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of each replica's request intervals, as disjoint (start, end) arrays."""
    if start.size == 0:
        return start, end
    span = float(max(end.max(), start.max())) + 1.0
    s = start.astype(np.float64) + replica * span
    e = np.maximum(end, start).astype(np.float64) + replica * span
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    run_end = np.maximum.accumulate(e)
    new = np.ones(s.size, dtype=bool)
    new[1:] = s[1:] > run_end[:-1]
    starts = s[new]
    ends = np.maximum.reduceat(e, np.flatnonzero(new))
    offset = np.floor(starts / span) * span
    return starts - offset, ends - offset


@dataclass(frozen=True, slots=True)
class PoolSeries:
    pool: str
    queue_per_replica: list[float]
    running_per_replica: list[float]
    kv_use: list[float]  # fraction
    utilisation: list[float]  # fraction of replicas with work in flight
    facility_mw: list[float]


@dataclass(frozen=True, slots=True)
class Series:
    t_s: list[float]  # bin mid-points
    bin_s: float
    pools: list[PoolSeries]
    sampled_every: int  # 1: every request; k: one in k


def _bin_width(period_s: float, power_bin_s: float) -> float:
    raw = max(period_s / TARGET_BINS, 1e-3)
    nice = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if nice * m >= raw:
            raw = nice * m
            break
    return raw if period_s / raw <= TARGET_BINS * 2 else period_s / TARGET_BINS


def series(res: SimResult, sink: SeriesSink) -> Series:
    cols = sink.columns()
    period = max(res.period_s, 1e-9)
    sc = res.scenario
    w = _bin_width(period, sc.sim.power_bin_s)
    edges = np.arange(0.0, period + w, w)
    if edges[-1] < period:
        edges = np.append(edges, period)
    mids = ((edges[:-1] + edges[1:]) / 2).tolist()
    k = float(sink.stride)
    out = []
    first = 0
    pue = sc.facility.pue
    for pi, p in enumerate(res.pools):
        sel = cols["pool_idx"] == pi
        reps = max(p.replicas, 1)
        arr, adm, fst, fin = (cols[c][sel].astype(np.float64) for c in ("arrival_s", "admitted_s", "first_token_s",
                                                                         "finish_s"))
        queue = occupancy(arr, adm, edges) * k / reps
        running = occupancy(adm, fin, edges) * k / reps
        kv_tokens = (occupancy(adm, fin, edges, cols["prompt_tokens"][sel].astype(np.float64))
                     + occupancy(fst, fin, edges, cols["output_tokens"][sel].astype(np.float64) / 2.0)) * k
        cap = float(p.dep.kv_capacity_tokens) * reps
        bs, be = busy_intervals(cols["replica"][sel].astype(np.float64), adm, fin)
        util = np.minimum(occupancy(bs, be, edges) / reps * (k if k > 1 else 1.0), 1.0)
        reps_of = res.replicas[first: first + p.replicas]
        first += p.replicas
        power_w = np.full(len(edges) - 1, p.dep.idle_power_w * p.replicas)
        pw = sc.sim.power_bin_s
        for r in reps_of:
            for b, e in r.bins.items():  # dynamic energy (J) in window [b*pw, (b+1)*pw): spread over our bins
                t0, t1 = b * pw, min((b + 1) * pw, period)
                if t1 <= t0:
                    continue
                lo = np.clip(edges[:-1], t0, t1)
                hi = np.clip(edges[1:], t0, t1)
                power_w += e / (t1 - t0) * (hi - lo) / np.diff(edges)
        out.append(PoolSeries(p.name, queue.tolist(), running.tolist(),
                              (kv_tokens / cap if cap > 0 else kv_tokens * 0).tolist(), util.tolist(),
                              (power_w * pue / 1e6).tolist()))
    return Series(mids, w, out, sink.stride)


__all__ = ["PoolSeries", "Series", "SeriesSink", "busy_intervals", "occupancy", "series"]
