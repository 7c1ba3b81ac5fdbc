"""Synthetic arrivals (Poisson, Gamma with a coefficient of variation, diurnal) and length distributions.

All functions draw from a caller-owned ``numpy.random.Generator`` and are vectorised: a million arrivals
take milliseconds. Arrival generators take the time of the previous arrival so a stream can be produced
chunk by chunk with the same result as one long draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tokenfleet.errors import InputError


def poisson_arrivals(rng: np.random.Generator, rate_rps: float, n: int, start_s: float = 0.0) -> np.ndarray:
    """``n`` arrival times of a Poisson process of ``rate_rps`` after ``start_s``."""
    if rate_rps <= 0:
        raise InputError(f"arrival rate must be > 0, got {rate_rps}")
    return start_s + np.cumsum(rng.exponential(1.0 / rate_rps, n))


def gamma_arrivals(
    rng: np.random.Generator, rate_rps: float, cv: float, n: int, start_s: float = 0.0
) -> np.ndarray:
    """Renewal process with Gamma inter-arrival times of mean ``1/rate`` and coefficient of variation ``cv``
    (cv = 1 is Poisson; cv > 1 is bursty)."""
    if rate_rps <= 0 or cv <= 0:
        raise InputError(f"gamma arrivals need rate > 0 and cv > 0, got rate={rate_rps}, cv={cv}")
    shape = 1.0 / (cv * cv)
    return start_s + np.cumsum(rng.gamma(shape, 1.0 / (rate_rps * shape), n))


@dataclass(frozen=True, slots=True)
class Diurnal:
    """Rate ``mean_rps * (1 + a sin(2 pi t / period + phase))`` with ``a = peak_to_mean - 1`` (<= 1)."""

    mean_rps: float
    peak_to_mean: float = 1.5
    period_s: float = 86400.0
    phase_rad: float = 0.0

    def __post_init__(self) -> None:
        if self.mean_rps <= 0 or not 1.0 <= self.peak_to_mean <= 2.0 or self.period_s <= 0:
            raise InputError("diurnal arrivals need mean rate > 0, 1 <= peak_to_mean <= 2, period > 0")

    def cumulative(self, t: np.ndarray) -> np.ndarray:
        """Expected arrivals in [0, t] (the integrated rate)."""
        a, w = self.peak_to_mean - 1.0, 2.0 * math.pi / self.period_s
        return self.mean_rps * (t + a / w * (math.cos(self.phase_rad) - np.cos(w * t + self.phase_rad)))

    def arrivals(
        self, rng: np.random.Generator, n: int, start_units: float = 0.0
    ) -> tuple[np.ndarray, float]:
        """``n`` arrivals by time rescaling of a unit Poisson process; returns (times, last unit time)."""
        units = start_units + np.cumsum(rng.exponential(1.0, n))
        t_hi = (
            float(units[-1]) / (self.mean_rps * (2.0 - self.peak_to_mean)) + self.period_s
        )  # Lambda(t) >= ...
        grid = np.linspace(0.0, t_hi, max(1024, int(t_hi / self.period_s * 4096)))
        return np.interp(units, self.cumulative(grid), grid), float(units[-1])


@dataclass(frozen=True, slots=True)
class LengthDist:
    """Token-length distribution: ``fixed`` (value), ``uniform`` (low..high), ``lognormal`` (mean, cv),
    ``exponential`` (mean); clipped to [min_tokens, max_tokens]."""

    dist: str = "fixed"
    value: int = 0
    low: int = 1
    high: int = 1
    mean: float = 0.0
    cv: float = 1.0
    min_tokens: int = 1
    max_tokens: int = 1 << 20

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.dist == "fixed":
            x = np.full(n, float(self.value))
        elif self.dist == "uniform":
            x = rng.integers(self.low, self.high + 1, n).astype(float)
        elif self.dist == "lognormal":
            sigma2 = math.log1p(self.cv * self.cv)
            x = rng.lognormal(math.log(self.mean) - sigma2 / 2.0, math.sqrt(sigma2), n)
        elif self.dist == "exponential":
            x = rng.exponential(self.mean, n)
        else:
            raise InputError(
                f"unknown length distribution {self.dist!r} (fixed, uniform, lognormal, exponential)"
            )
        return np.clip(np.rint(x), self.min_tokens, self.max_tokens).astype(np.int64)


__all__ = ["Diurnal", "LengthDist", "gamma_arrivals", "poisson_arrivals"]
