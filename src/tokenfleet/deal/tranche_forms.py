"""Closed-form and semi-analytic value of one tranche (pure GBM, ``vested_value: black_scholes``).

- no condition: Black–Scholes ``C(S0, K, T)``; performance conditions only: ``P(vest) x C(S0, K, T)`` (exact:
  deliveries are independent of the price and ``E[exp(-r tau) C(S_tau, K, T - tau)] = C(S0, K, T)``);
- a touch hurdle alone: the one-touch closed form (a window opening later: integrated over the price at its
  start); a test on a date alone: the gap-call closed form;
- a milestone met at a known time ``t_m`` and a continuous touch hurdle, for each vesting rule:

  *concurrent*: ``exp(-r a) E[g(S_a)]``, ``a = max(t_m, window_start)``, ``g(s) = C(s, K, T - a)`` at or above
  H and the one-touch tranche value from ``s`` over the rest of the window below it;
  *sticky* (window from the start): ``C(S0, K, T) - E[exp(-r u) C(S_u, K, T - u); max S < H by u]`` with
  ``u = min(t_m, window_end)``, plus, below H at ``t_m``, the one-touch value over the rest of the window;
  the expectations over ``S`` not yet at H use the reflection-principle (killed) density;

  with random milestone times (delays, schedule risk) these are averaged over the Monte Carlo's distribution
  of ``t_m``, which is independent of the price: binned by :class:`MilestoneTimes` into equal-probability
  bins, each taken at its mean (*semi-analytic*);
- closing-price tests (``monitoring: close``, no averaging): the same forms with the barrier shifted to
  ``H exp(0.5826 sigma sqrt(dt))``, ``dt`` one trading day — the Broadie–Glasserman–Kou correction for discrete
  monitoring (an approximation, labelled so). N-day averages and VWAPs: Monte Carlo only.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from tokenfleet.deal.closed_form import (
    at_date_tranche_value,
    bs_call,
    hit_laplace_many,
    surely_in_the_money,
    touch_tranche_value,
)
from tokenfleet.deal.model import Deal
from tokenfleet.deal.warrant import Hurdle, Tranche, Warrant

FloatArray = npt.NDArray[np.float64]
BGK_BETA = 0.5825971579390106  # -zeta(1/2) / sqrt(2 pi), Broadie, Glasserman & Kou (1997)
TRADING_DAYS_PER_YEAR = 252.0
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(96)
_NODES_FINE, _WEIGHTS_FINE = np.polynomial.legendre.leggauss(400)


def _touch_values(
    s: FloatArray, h: float, window: float, life: float, k: float, r: float, q: float, sig: float
) -> FloatArray:
    """One-touch tranche value (at the start of the window) from each price in ``s`` (all below ``h``)."""
    if window <= 0.0 or s.size == 0:
        return np.zeros_like(s)
    share = h * math.exp(-q * life) * hit_laplace_many(s, h, window, r, q, sig, r - q)
    if k == 0.0:
        return share
    if surely_in_the_money(h, k, life - window, life, r, q, sig):
        return share - k * math.exp(-r * life) * hit_laplace_many(s, h, window, r, q, sig, 0.0)
    if sig * math.sqrt(window) < 0.05:  # narrow first-passage densities: per-price composite quadrature
        return np.array([touch_tranche_value(float(x), h, window, life, k, r, q, sig) for x in s])
    # broad densities: one set of nodes in sqrt(tau) shared by every starting price
    u = 0.5 * math.sqrt(window) * (_NODES_FINE + 1.0)
    tau = u * u
    w = 0.5 * math.sqrt(window) * _WEIGHTS_FINE * 2.0 * u
    pay = np.exp(-r * tau) * bs_call(h, k, life - tau, r, q, sig)
    b = np.log(h / s)[:, None]
    nu = r - q - 0.5 * sig * sig
    dens = b / (sig * np.sqrt(2.0 * np.pi * tau**3)) * np.exp(-((b - nu * tau) ** 2) / (2.0 * sig * sig * tau))
    return np.asarray(dens @ (w * pay), dtype=np.float64)


def _gl(lo: float, hi: float) -> tuple[FloatArray, FloatArray]:
    return 0.5 * (hi - lo) * (_NODES + 1.0) + lo, 0.5 * (hi - lo) * _WEIGHTS


def concurrent_value(
    t_m: float, s0: float, h: float, ws: float, we: float, big_t: float, k: float, r: float, q: float, sig: float
) -> float:
    """Per-share value of a concurrent milestone-and-touch tranche whose milestone is met at ``t_m``."""
    a = max(t_m, ws)
    end = min(we, big_t)
    if a > end + 1e-12:
        return 0.0
    if a <= 0.0:
        return touch_tranche_value(s0, h, end, big_t, k, r, q, sig)
    nu = r - q - 0.5 * sig * sig
    vol = sig * math.sqrt(a)
    z_h = (math.log(h / s0) - nu * a) / vol
    total = 0.0
    lo, hi = min(z_h, 0.0) - 12.0, max(z_h, 0.0) + 12.0 + vol
    if z_h > lo:  # below H at a: a touch must follow
        z, w = _gl(lo, min(z_h, hi))
        s = s0 * np.exp(nu * a + vol * z)
        total += float(np.sum(w * np.exp(-0.5 * z * z) * _touch_values(s, h, end - a, big_t - a, k, r, q, sig)))
    if z_h < hi:  # at or above H at a: vests at a
        z, w = _gl(max(z_h, lo), hi)
        s = s0 * np.exp(nu * a + vol * z)
        total += float(np.sum(w * np.exp(-0.5 * z * z) * bs_call(s, k, big_t - a, r, q, sig)))
    return math.exp(-r * a) * total / math.sqrt(2.0 * math.pi)


def _killed_weights(z: FloatArray, b: float, u: float, nu: float, sig: float) -> FloatArray:
    """Density in ``z`` of ``ln(S_u/S0) = nu u + sig sqrt(u) z`` on paths whose maximum stayed below ``b``."""
    vol = sig * math.sqrt(u)
    c = 2.0 * b / vol
    free = np.exp(-0.5 * z * z)
    mirror = np.exp(2.0 * nu * b / (sig * sig) - 0.5 * (z - c) ** 2)
    return np.asarray(np.maximum(free - mirror, 0.0) / math.sqrt(2.0 * math.pi), dtype=np.float64)


def sticky_value(
    t_m: float, s0: float, h: float, ws: float, we: float, big_t: float, k: float, r: float, q: float, sig: float
) -> float | None:
    """Per-share value of a sticky milestone-and-touch tranche (milestone at ``t_m``); ``None`` if the window
    opens after the start and before the milestone (no one-dimensional form)."""
    if t_m > big_t + 1e-12:
        return 0.0
    if t_m <= ws:
        return concurrent_value(t_m, s0, h, ws, we, big_t, k, r, q, sig)
    if ws > 0.0:
        return None
    end = min(we, big_t)
    full = float(bs_call(s0, k, big_t, r, q, sig))
    if s0 >= h:
        return full
    nu = r - q - 0.5 * sig * sig
    b = math.log(h / s0)
    u = min(t_m, end)
    vol = sig * math.sqrt(u)
    z_b = (b - nu * u) / vol
    z, w = _gl(min(z_b, 0.0) - 12.0, z_b)
    s = s0 * np.exp(nu * u + vol * z)
    not_touched = float(np.sum(w * _killed_weights(z, b, u, nu, sig) * bs_call(s, k, big_t - u, r, q, sig)))
    value = full - math.exp(-r * u) * not_touched
    if end > t_m:
        vol_m = sig * math.sqrt(t_m)
        z_b = (b - nu * t_m) / vol_m
        z, w = _gl(min(z_b, 0.0) - 12.0, z_b)
        s = s0 * np.exp(nu * t_m + vol_m * z)
        later = _touch_values(s, h, end - t_m, big_t - t_m, k, r, q, sig)
        value += math.exp(-r * t_m) * float(np.sum(w * _killed_weights(z, b, t_m, nu, sig) * later))
    return value


class MilestoneTimes:
    """Distribution of one tranche's milestone time over paths in fixed memory: the first chunk sets
        :data:`BINS` equal-probability bins; every chunk adds counts and sums of times per bin, and counts the
        paths whose milestone is met by ``by`` (an at-date test's date). Times after ``cut`` count as never met, so no
    bin straddles the date after which the value drops to 0."""

    BINS = 16

    def __init__(self, by: float | None = None, cut: float = math.inf) -> None:
        self.edges: FloatArray | None = None
        self.counts = np.zeros(self.BINS)
        self.sums = np.zeros(self.BINS)
        self.by = by
        self.cut = cut  # times after it cannot vest (expiry, or a concurrent window's end): counted as never
        self.n_by = 0
        self.never = 0
        self.n = 0
        self.lo = math.inf
        self.hi = -math.inf

    def add(self, t: FloatArray) -> None:
        self.n += t.size
        finite = t[np.isfinite(t) & (t <= self.cut + 1e-12)]
        self.never += t.size - finite.size
        if self.by is not None:
            self.n_by += int((finite <= self.by + 1e-9).sum())
        if finite.size == 0:
            return
        self.lo, self.hi = min(self.lo, float(finite.min())), max(self.hi, float(finite.max()))
        if self.edges is None:
            self.edges = np.quantile(finite, np.linspace(0.0, 1.0, self.BINS + 1)[1:-1])
        idx = np.searchsorted(self.edges, finite, side="right")
        np.add.at(self.counts, idx, 1.0)
        np.add.at(self.sums, idx, finite)

    @property
    def deterministic(self) -> bool:
        return self.never == 0 and self.hi - self.lo < 1e-12

    def nodes(self) -> list[tuple[float, float]]:
        """``(probability, mean time)`` of each non-empty bin."""
        total = max(self.n, 1)
        return [(c / total, s / c) for c, s in zip(self.counts, self.sums, strict=True) if c > 0]


def _bgk_level(h: Hurdle, sigma: float) -> float | None:
    if not h.discrete:
        return h.price_usd
    if h.average_days > 1:
        return None
    return h.price_usd * math.exp(BGK_BETA * sigma * math.sqrt(1.0 / TRADING_DAYS_PER_YEAR))


def closed_form_tranche(
    deal: Deal, warrant: Warrant, tranche: Tranche, vest_probability: float, times: MilestoneTimes | None = None
) -> tuple[float | None, str]:
    """Closed-form (or semi-analytic) PV of a tranche in USD where the model allows one, and the method."""
    eq, st = deal.equity, deal.settings
    if eq is None or st.vested_value != "black_scholes" or eq.has_jumps:
        return None, "Monte Carlo only"
    r, q, sig, k, big_t = st.risk_free_rate, eq.dividend_yield, eq.volatility, warrant.strike_usd, warrant.expiry_years
    s0, hur = eq.share_price_usd, tranche.hurdle
    if hur is None:
        per_share = float(bs_call(s0, k, big_t, r, q, sig))
        if not tranche.has_performance_condition:
            return tranche.shares * per_share, "Black–Scholes"
        return vest_probability * tranche.shares * per_share, "P(vest) x Black–Scholes"
    level = _bgk_level(hur, sig)
    if level is None:
        return None, "Monte Carlo only"
    bgk = " (BGK shift for closes, approx.)" if hur.discrete else ""
    if hur.mode == "at_date":
        if hur.discrete and hur.average_days > 1:
            return None, "Monte Carlo only"
        per_share = at_date_tranche_value(s0, hur.price_usd, hur.test_years, big_t, k, r, q, sig)
        if not tranche.has_performance_condition:
            return tranche.shares * per_share, "gap-call closed form"
        p_by_date = _probability_by(times, hur.test_years)
        if p_by_date is None:
            return None, "Monte Carlo only"
        return tranche.shares * p_by_date * per_share, "P(milestone by date) x gap call"
    ws, we = hur.window_start_years, hur.window_end_years
    if not tranche.has_performance_condition:
        if ws > 0.0:  # a window that opens later: the one-touch value from the (lognormal) price then
            value = concurrent_value(0.0, s0, level, ws, we, big_t, k, r, q, sig)
            return tranche.shares * value, "one-touch from the window's start (1-D integral)" + bgk
        return tranche.shares * touch_tranche_value(s0, level, we, big_t, k, r, q, sig), "one-touch closed form" + bgk
    if times is None or times.n == 0:
        return None, "Monte Carlo only"
    rule = concurrent_value if tranche.vesting == "concurrent" else sticky_value
    total = 0.0
    for p, t_m in times.nodes():
        v = rule(t_m, s0, level, ws, we, big_t, k, r, q, sig)
        if v is None:
            return None, "Monte Carlo only"
        total += p * v
    kind = "closed form" if times.deterministic else "semi-analytic"
    return tranche.shares * total, f"{kind} ({tranche.vesting}, milestone + touch){bgk}"


def _probability_by(times: MilestoneTimes | None, when: float) -> float | None:
    if times is None or times.n == 0 or times.by is None or abs(times.by - when) > 1e-12:
        return None
    return times.n_by / times.n


__all__ = ["BGK_BETA", "MilestoneTimes", "closed_form_tranche", "concurrent_value", "sticky_value"]
