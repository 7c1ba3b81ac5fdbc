"""Streaming metrics of completed requests: per class and per pool latency percentiles, SLO attainment,
goodput, throughput, queueing, prefix-cache hits.

Completed requests arrive as column chunks (:data:`COLUMNS`). Percentiles are exact while the collector
keeps the latencies (``keep=True``, or until ``exact_cap`` requests); past that they come from log-spaced
histograms (bins 1% wide: within 0.5% of the value), so memory stays flat however long the run.
Histograms of different runs merge exactly (bin counts add up: :func:`merge_groups`), so percentiles of
several runs merged are those of one histogram holding all their requests. A collector may measure only the
requests that arrive from ``measure_from_s`` on (a warm-up before it fills the replicas but is not judged).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

COLUMNS = (
    "request_id",
    "class_idx",
    "pool_idx",
    "replica",
    "arrival_s",
    "admitted_s",
    "first_token_s",
    "finish_s",
    "prompt_tokens",
    "output_tokens",
    "cached_tokens",
    "preemptions",
)
LAT_MIN_S, LAT_RATIO = 1e-6, 1.01
N_BINS = int(math.log(1e6 / LAT_MIN_S) / math.log(LAT_RATIO)) + 2
QUANTILES = (50, 90, 99)
METRICS = ("ttft_s", "tpot_s", "e2e_s", "queue_s")
EXACT_CAP = 200_000  # requests whose latencies a run that keeps no columns keeps for exact percentiles
HIST_REL_ERROR = math.sqrt(LAT_RATIO) - 1  # a histogram percentile is within this of the bin's values (0.499 %)
COUNTS = ("count", "slo_ok", "output_tokens", "good_output_tokens", "prompt_tokens", "cached_tokens", "preemptions",
          "tpot_count", "rejected")


def _bin(x: np.ndarray) -> np.ndarray:
    b = np.floor(np.log(np.maximum(x, LAT_MIN_S) / LAT_MIN_S) / math.log(LAT_RATIO)) + 1
    return np.clip(np.where(x > 0, b, 0), 0, N_BINS - 1).astype(np.int64)  # bin 0 holds zeros


def _hist_quantile(h: np.ndarray, q: float) -> float:
    tot = h.sum()
    if tot == 0:
        return float("nan")
    k = int(np.searchsorted(np.cumsum(h), q / 100.0 * tot))
    if k == 0:
        return 0.0
    return LAT_MIN_S * LAT_RATIO ** (k - 0.5)


@dataclass(slots=True)
class Group:
    """Aggregates of one class or one pool."""

    name: str
    ttft_slo_s: float = math.inf
    tpot_slo_s: float = math.inf
    count: int = 0
    slo_ok: int = 0
    output_tokens: int = 0
    good_output_tokens: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    preemptions: int = 0
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(METRICS, 0.0))
    tpot_count: int = 0
    rejected: int = 0  # never served: the prompt exceeds the replica's KV cache
    hist: dict[str, np.ndarray] = field(default_factory=lambda: {m: np.zeros(N_BINS, np.int64) for m in METRICS})
    kept: dict[str, list[np.ndarray]] = field(default_factory=lambda: {m: [] for m in METRICS})

    def add(
        self,
        lat: dict[str, np.ndarray],
        ok: np.ndarray,
        out: np.ndarray,
        prompt: np.ndarray,
        cached: np.ndarray,
        pre: np.ndarray,
        keep: bool,
    ) -> None:
        self.count += int(out.size)
        self.slo_ok += int(ok.sum())
        self.output_tokens += int(out.sum())
        self.good_output_tokens += int(out[ok].sum())
        self.prompt_tokens += int(prompt.sum())
        self.cached_tokens += int(cached.sum())
        self.preemptions += int(pre.sum())
        for m, x in lat.items():
            v = x[~np.isnan(x)]
            self.sums[m] += float(v.sum())
            if m == "tpot_s":
                self.tpot_count += int(v.size)
            self.hist[m] += np.bincount(_bin(v), minlength=N_BINS)
            if keep:
                self.kept[m].append(v)

    def quantile(self, m: str, q: float) -> float:
        if self.kept[m]:
            v = np.concatenate(self.kept[m])
            return float(np.percentile(v, q)) if v.size else float("nan")
        return _hist_quantile(self.hist[m], q)

    def summary(self, period_s: float) -> dict[str, object]:
        n = max(self.count + self.rejected, 1)
        out: dict[str, object] = {"requests": self.count, "rejected": self.rejected}
        for m in METRICS:
            cnt = self.tpot_count if m == "tpot_s" else self.count
            out[m] = {
                "mean": self.sums[m] / cnt if cnt else float("nan"),
                **{f"p{q}": self.quantile(m, q) for q in QUANTILES},
            }
        per = max(period_s, 1e-9)
        out.update(
            slo_attainment=self.slo_ok / n,
            goodput_rps=self.slo_ok / per,
            goodput_tok_s=self.good_output_tokens / per,
            throughput_rps=self.count / per,
            output_tok_s=self.output_tokens / per,
            prompt_tokens=self.prompt_tokens,
            output_tokens=self.output_tokens,
            preemptions=self.preemptions,
            prefix_hit_rate=self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0,
        )
        return out

    def without_samples(self) -> Group:
        """The same aggregates with the kept latencies dropped: percentiles from the histograms."""
        return Group(self.name, self.ttft_slo_s, self.tpot_slo_s, **{k: getattr(self, k) for k in COUNTS},
                     sums=dict(self.sums), hist={m: h.copy() for m, h in self.hist.items()})


def merge_groups(name: str, groups: list[Group]) -> Group:
    """One group holding the requests of ``groups`` (same SLOs): counts, sums and histogram bins add up, kept
    latencies join (percentiles are exact only if every group kept all of its own)."""
    out = Group(name, groups[0].ttft_slo_s, groups[0].tpot_slo_s) if groups else Group(name)
    for g in groups:
        for key in COUNTS:
            setattr(out, key, getattr(out, key) + getattr(g, key))
        for m in METRICS:
            out.sums[m] += g.sums[m]
            out.hist[m] += g.hist[m]
            out.kept[m].extend(g.kept[m])
    return out


class Collector:
    """Consumes chunks of completed requests; ``overhead_s`` (per pool) is added to TTFT and E2E. With
    ``keep``, latencies are kept for exact percentiles; ``exact_cap`` drops them (histograms from then on)
    once more requests than that have completed. Requests that arrived before ``measure_from_s`` are left
    out of the aggregates (their derived columns still go to the per-request output)."""

    def __init__(self, classes: list[Group], pools: list[Group], overhead_s: np.ndarray, keep: bool,
                 exact_cap: int | None = None, measure_from_s: float = 0.0) -> None:
        self.classes, self.pools, self.keep = classes, pools, keep
        self.overhead_s = overhead_s
        self.exact_cap = exact_cap
        self.measure_from_s = measure_from_s
        self.total = Group("all")

    def add_chunk(self, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Update the aggregates; returns the derived latency columns (for per-request output)."""
        over = self.overhead_s[cols["pool_idx"]]
        ttft = cols["first_token_s"] - cols["arrival_s"] + over
        e2e = cols["finish_s"] - cols["arrival_s"] + over
        out = cols["output_tokens"]
        with np.errstate(invalid="ignore", divide="ignore"):
            tpot = np.where(out > 1, (cols["finish_s"] - cols["first_token_s"]) / (out - 1), np.nan)
        lat = {
            "ttft_s": ttft,
            "tpot_s": tpot,
            "e2e_s": e2e,
            "queue_s": cols["admitted_s"] - cols["arrival_s"],
        }
        cls = cols["class_idx"]
        ttft_slo = np.array([g.ttft_slo_s for g in self.classes])[cls]
        tpot_slo = np.array([g.tpot_slo_s for g in self.classes])[cls]
        ok = (ttft <= ttft_slo) & ((tpot <= tpot_slo) | np.isnan(tpot))
        derived = lat | {"slo_ok": ok}
        if self.measure_from_s > 0:
            judged = cols["arrival_s"] >= self.measure_from_s
            if not judged.all():
                cols = {k: v[judged] for k, v in cols.items()}
                lat = {m: x[judged] for m, x in lat.items()}
                ok, out = ok[judged], out[judged]
        args = (out, cols["prompt_tokens"], cols["cached_tokens"], cols["preemptions"])
        self.total.add(lat, ok, *args, keep=self.keep)
        for key, groups in (("class_idx", self.classes), ("pool_idx", self.pools)):
            idx = cols[key]
            for g_i, g in enumerate(groups):
                sel = idx == g_i
                if sel.any():
                    o, pr, ca, pe = (a[sel] for a in args)
                    g.add({m: x[sel] for m, x in lat.items()}, ok[sel], o, pr, ca, pe, keep=self.keep)
        if self.keep and self.exact_cap is not None and self.total.count > self.exact_cap:
            self.keep = False  # from here on the histograms answer: memory stays flat
            for g in (self.total, *self.classes, *self.pools):
                g.kept = {m: [] for m in METRICS}
        return derived


__all__ = ["COLUMNS", "EXACT_CAP", "HIST_REL_ERROR", "METRICS", "QUANTILES", "Collector", "Group", "merge_groups"]
