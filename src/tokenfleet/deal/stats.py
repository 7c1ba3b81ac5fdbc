"""Streaming statistics in bounded memory: mean / sd (Chan et al. parallel update) and percentiles from a fixed
log-spaced histogram, so a valuation's memory does not grow with the number of paths.

:class:`StreamingDistribution` keeps exact counts of zeros, the exact minimum and maximum, and a histogram of
positive values with :data:`BINS_PER_DECADE` bins per decade from :data:`LOW` to :data:`HIGH` (USD). A percentile
is read by interpolating inside its bin, so it is within one bin's width — ``10**(1/BINS_PER_DECADE) - 1``,
0.12 % — of the exact sample percentile (tested against ``numpy.percentile``). Memory: about 290 kB.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
LOW, HIGH = 1e-3, 1e15  # USD; values outside land in the end bins (their percentile is clamped to min / max)
BINS_PER_DECADE = 2000
_DECADES = math.log10(HIGH / LOW)
N_BINS = round(_DECADES * BINS_PER_DECADE)
RELATIVE_BIN_WIDTH = 10 ** (1.0 / BINS_PER_DECADE) - 1.0


class RunningMoments:
    """Mean and variance of several streams at once (one per row), updated chunk by chunk."""

    def __init__(self, rows: int) -> None:
        self.n = 0
        self.mean = np.zeros(rows)
        self.m2 = np.zeros(rows)

    def add(self, values: FloatArray) -> None:
        m = values.shape[1]
        if m == 0:
            return
        c_mean = values.mean(axis=1)
        c_m2 = ((values - c_mean[:, None]) ** 2).sum(axis=1)
        delta = c_mean - self.mean
        total = self.n + m
        self.mean += delta * m / total
        self.m2 += c_m2 + delta * delta * self.n * m / total
        self.n = total

    @property
    def variance(self) -> FloatArray:
        return self.m2 / max(self.n, 1)


class StreamingDistribution:
    """Distribution of one non-negative quantity over paths, in fixed memory."""

    def __init__(self) -> None:
        self.moments = RunningMoments(1)
        self.zeros = 0
        self.counts = np.zeros(N_BINS, dtype=np.int64)
        self.min = math.inf
        self.max = -math.inf

    @property
    def n(self) -> int:
        return self.moments.n

    def add(self, values: FloatArray) -> None:
        if values.size == 0:
            return
        if np.any(values < 0.0) or not np.all(np.isfinite(values)):
            raise ValueError("StreamingDistribution: values must be finite and >= 0")
        self.moments.add(values[None, :])
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))
        pos = values[values > 0.0]
        self.zeros += values.size - pos.size
        if pos.size:
            idx = np.floor((np.log10(pos) - math.log10(LOW)) * BINS_PER_DECADE).astype(np.int64)
            self.counts += np.bincount(np.clip(idx, 0, N_BINS - 1), minlength=N_BINS)

    def _edge(self, i: float) -> float:
        return float(LOW * 10 ** (i / BINS_PER_DECADE))

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0..100), linear interpolation between order statistics as numpy's default."""
        n = self.n
        if n == 0:
            return math.nan
        rank = q / 100.0 * (n - 1)  # 0-based fractional order statistic
        if rank < self.zeros - 1 + 1e-12 or self.zeros == n:
            return 0.0
        target = rank - self.zeros + 1.0  # position among the positive values, 1-based
        cum = np.cumsum(self.counts)
        b = int(np.searchsorted(cum, target - 1e-9))
        b = min(b, N_BINS - 1)
        before = float(cum[b - 1]) if b > 0 else 0.0
        inside = max(float(self.counts[b]), 1.0)
        frac = min(max((target - before - 0.5) / inside, 0.0), 1.0)
        lo, hi = self._edge(b), self._edge(b + 1)
        value = lo * (hi / lo) ** frac
        if rank < self.zeros:  # between the last zero and the first positive value
            value *= rank - (self.zeros - 1)
        return float(min(max(value, self.min), self.max))

    def histogram(self, bins: int, upper: float) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """``bins`` equal bins on ``[0, upper]`` (fine bins re-binned by their midpoints; zeros in the first)."""
        edges = np.linspace(0.0, upper, bins + 1)
        out = np.zeros(bins, dtype=np.int64)
        out[0] += self.zeros
        mids = LOW * 10 ** ((np.arange(N_BINS) + 0.5) / BINS_PER_DECADE)
        keep = (self.counts > 0) & (mids <= upper)
        where = np.minimum(np.searchsorted(edges, mids[keep], side="right") - 1, bins - 1)
        np.add.at(out, where, self.counts[keep])
        return edges, out


__all__ = ["RELATIVE_BIN_WIDTH", "RunningMoments", "StreamingDistribution"]
