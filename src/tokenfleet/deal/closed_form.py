"""Closed-form option values used to value warrant tranches (pure numpy / scipy, vectorised).

- :func:`bs_call`, :func:`bs_put`: Black–Scholes–Merton with a continuous dividend yield ``q``.
- :func:`hit_laplace`: ``E[exp(-rho * tau) ; tau <= T]`` for the first time ``tau`` that a GBM started
  at ``S0`` touches a level ``H`` (continuous monitoring). It gives, with different ``rho``:
  the risk-neutral touch probability (``rho = 0``), the value of cash paid at the hit
  (``rho = r``: Reiner–Rubinstein "one-touch at hit") and the value of a zero-strike share delivered at the
  hit when the holder then waits to expiry with dividend yield ``q`` (``rho = r - q``).
- :func:`touch_tranche_value`, :func:`at_date_tranche_value`: a warrant tranche whose only condition is a
  share-price hurdle, valued in closed form for pure GBM (zero strike), or as a 1-D quadrature of closed
  forms (any strike).

References: Hull, *Options, Futures and Other Derivatives* (BSM); Haug, *The Complete Guide to Option Pricing
Formulas*, 2nd ed., §4.19 (binary barrier "cash-or-nothing at hit"); Shreve, *Stochastic Calculus for
Finance II*, §7.2 (running maximum of Brownian motion with drift).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
from scipy.special import log_ndtr, ndtr
from scipy.stats import norm

FloatArray = npt.NDArray[np.float64]


def _d1_d2(s: FloatArray, k: float, t: FloatArray, r: float, q: float, sigma: float) -> tuple[FloatArray, FloatArray]:
    """Black–Scholes ``d1, d2`` on safe inputs (callers mask out ``t == 0`` and ``s == 0``)."""
    t_safe = np.where(t > 0.0, t, 1.0)
    s_safe = np.where(s > 0.0, s, 1.0)
    vol = sigma * np.sqrt(t_safe)
    d1 = (np.log(s_safe / k) + (r - q + 0.5 * sigma * sigma) * t_safe) / vol
    return d1, d1 - vol


def bs_call(s: npt.ArrayLike, k: float, t: npt.ArrayLike, r: float, q: float, sigma: float) -> FloatArray:
    """Black–Scholes call; ``t <= 0`` gives intrinsic value, ``k <= 0`` gives ``S exp(-qt) - k exp(-rt)``."""
    s_a, t_a = np.broadcast_arrays(np.asarray(s, dtype=np.float64), np.asarray(t, dtype=np.float64))
    t_a = np.maximum(t_a, 0.0)
    if k <= 0.0:
        return np.asarray(s_a * np.exp(-q * t_a) - k * np.exp(-r * t_a), dtype=np.float64)
    if sigma <= 0.0:
        fwd = np.maximum(s_a * np.exp(-q * t_a) - k * np.exp(-r * t_a), 0.0)
        return np.asarray(fwd, dtype=np.float64)
    d1, d2 = _d1_d2(s_a, k, t_a, r, q, sigma)
    live = s_a * np.exp(-q * t_a) * ndtr(d1) - k * np.exp(-r * t_a) * ndtr(d2)
    return np.asarray(np.where((t_a > 0.0) & (s_a > 0.0), live, np.maximum(s_a - k, 0.0)), dtype=np.float64)


def bs_put(s: npt.ArrayLike, k: float, t: npt.ArrayLike, r: float, q: float, sigma: float) -> FloatArray:
    """Black–Scholes put value (computed directly, so put–call parity is an independent check)."""
    s_a, t_a = np.broadcast_arrays(np.asarray(s, dtype=np.float64), np.asarray(t, dtype=np.float64))
    t_a = np.maximum(t_a, 0.0)
    if k <= 0.0:
        return np.zeros_like(s_a)
    if sigma <= 0.0:
        return np.asarray(np.maximum(k * np.exp(-r * t_a) - s_a * np.exp(-q * t_a), 0.0), dtype=np.float64)
    d1, d2 = _d1_d2(s_a, k, t_a, r, q, sigma)
    live = k * np.exp(-r * t_a) * ndtr(-d2) - s_a * np.exp(-q * t_a) * ndtr(-d1)
    return np.asarray(np.where((t_a > 0.0) & (s_a > 0.0), live, np.maximum(k - s_a, 0.0)), dtype=np.float64)


def hit_laplace(s0: float, h: float, t: float, r: float, q: float, sigma: float, rho: float) -> float:
    """``E[exp(-rho*tau); tau <= t]``, ``tau`` the first touch of ``h`` by risk-neutral GBM from ``s0``.

    Drift of ``ln S`` is ``nu = r - q - sigma^2/2``. With ``b = ln(h/s0) > 0``, ``mu = nu/sigma^2`` and
    ``lam = sqrt(mu^2 + 2 rho/sigma^2)`` (Haug §4.19; ``rho = r`` gives the one-touch at hit):
    ``(h/s0)^(mu+lam) N(-z) + (h/s0)^(mu-lam) N(-z + 2 lam sigma sqrt(t))``,
    ``z = b/(sigma sqrt t) + lam sigma sqrt t``.
    Returns 1 when ``s0 >= h`` (touched at once).
    """
    return float(hit_laplace_many(np.array([s0], dtype=np.float64), h, t, r, q, sigma, rho)[0])


def hit_laplace_many(s0: FloatArray, h: float, t: float, r: float, q: float, sigma: float, rho: float) -> FloatArray:
    """:func:`hit_laplace` for an array of starting prices (vectorised, stable as ``sigma -> 0``).

    ``mu - lam`` is computed as ``-(2 rho / sigma^2) / (mu + lam)`` when ``mu > 0`` (no cancellation when
    ``mu`` is huge, i.e. tiny ``sigma``), and both terms are combined with the normal tails in log space.
    """
    s0 = np.asarray(s0, dtype=np.float64)
    out = np.ones_like(s0)
    below = s0 < h
    if not np.any(below) or t <= 0.0:
        return np.where(below, 0.0, out)
    mu = (r - q - 0.5 * sigma * sigma) / (sigma * sigma)
    c = 2.0 * rho / (sigma * sigma)
    lam_sq = mu * mu + c
    if lam_sq < 0.0:
        raise ValueError("hit_laplace: rho too negative for a finite transform")
    lam = math.sqrt(lam_sq)
    mu_minus_lam = -c / (mu + lam) if mu > 0.0 else mu - lam
    b = np.log(h / s0[below])
    vol = sigma * math.sqrt(t)
    z = b / vol + lam * vol
    term1 = np.exp((mu + lam) * b + log_ndtr(-z))
    term2 = np.exp(mu_minus_lam * b + log_ndtr(-z + 2.0 * lam * vol))
    out[below] = term1 + term2
    return out


def one_touch_at_hit(s0: float, h: float, t: float, r: float, q: float, sigma: float) -> float:
    """Value of ``h`` paid when the price first reaches ``h`` (before ``t``); ``s0`` if already there."""
    if s0 >= h:
        return s0
    return h * hit_laplace(s0, h, t, r, q, sigma, rho=r)


def touch_probability(s0: float, h: float, t: float, r: float, q: float, sigma: float) -> float:
    """Risk-neutral probability that the price touches ``h`` before ``t`` (continuous monitoring)."""
    return hit_laplace(s0, h, t, r, q, sigma, rho=0.0)


def supports_closed_form(has_jumps: bool) -> bool:
    """Hurdle-only tranches have a closed form (or a 1-D integral of one) when the price is pure GBM."""
    return not has_jumps


def first_passage_density(tau: FloatArray, s0: float, h: float, r: float, q: float, sigma: float) -> FloatArray:
    """Density of the first time GBM from ``s0`` reaches ``h > s0`` (inverse Gaussian in ``ln S``)."""
    b = math.log(h / s0)
    nu = r - q - 0.5 * sigma * sigma
    tau = np.maximum(tau, 1e-300)
    return np.asarray(
        b / (sigma * np.sqrt(2.0 * np.pi * tau**3)) * np.exp(-((b - nu * tau) ** 2) / (2.0 * sigma * sigma * tau)),
        dtype=np.float64,
    )


def touch_tranche_value(
    s0: float, h: float, window_end: float, expiry: float, strike: float, r: float, q: float, sigma: float
) -> float:
    """Per-share value of a tranche that vests when the price first touches ``h`` in ``[0, window_end]``.

    The vested warrant is then held to ``expiry`` and worth its Black–Scholes value ``C(h, K, T - tau)``.
    With ``strike == 0`` this is ``h exp(-qT) E[exp(-(r-q) tau)]``. When the vested call is certain to finish in
    the money for every ``tau`` in the window (Black–Scholes ``d2 > 8.5``: a penny strike, or a tiny
    volatility), ``C = h exp(-q(T-tau)) - K exp(-r(T-tau))`` and the value is the same closed form less
    ``K exp(-rT) P(touch)``. Otherwise ``exp(-r tau) C(h, K, T - tau)`` is integrated against the first-passage
    density by composite Gauss–Legendre, with breakpoints around the density's peak so that it stays right as
    the density narrows (``sigma -> 0``).
    """
    if s0 >= h:
        return float(bs_call(s0, strike, expiry, r, q, sigma))
    window_end = min(window_end, expiry)
    if window_end <= 0.0:
        return 0.0
    share = h * math.exp(-q * expiry) * hit_laplace(s0, h, window_end, r, q, sigma, rho=r - q)
    if strike == 0.0:
        return share
    if surely_in_the_money(h, strike, expiry - window_end, expiry, r, q, sigma):
        return share - strike * math.exp(-r * expiry) * hit_laplace(s0, h, window_end, r, q, sigma, rho=0.0)
    tau, w = _first_passage_nodes(s0, h, window_end, r, q, sigma)
    integrand = np.exp(-r * tau) * bs_call(h, strike, expiry - tau, r, q, sigma)
    return float(np.sum(w * integrand * first_passage_density(tau, s0, h, r, q, sigma)))


def surely_in_the_money(s: float, k: float, t_lo: float, t_hi: float, r: float, q: float, sigma: float) -> bool:
    """Whether ``N(d2) = N(d1) = 1`` to double precision for every remaining life in ``[t_lo, t_hi]``."""
    if k <= 0.0:
        return True
    life = np.linspace(max(t_lo, 0.0), t_hi, 257)
    pos = life > 0.0
    if not np.all(pos):
        if s <= k:
            return False
        life = life[pos]
        if life.size == 0:
            return True
    d2 = (math.log(s / k) + (r - q - 0.5 * sigma * sigma) * life) / (sigma * np.sqrt(life))
    return bool(np.all(d2 > 8.5))


def _first_passage_nodes(
    s0: float, h: float, window_end: float, r: float, q: float, sigma: float, per_piece: int = 48
) -> tuple[FloatArray, FloatArray]:
    """Quadrature nodes and weights on ``[0, window_end]`` for the first-passage density of ``h`` from ``s0``.

    The density (inverse Gaussian in ``ln S``) peaks near ``b / nu`` with sd ``sqrt(b sigma^2 / nu^3)``
    (``nu > 0``); pieces are cut at the peak +/- 1, 2, 4, ... 64 sd, and the first piece uses ``sqrt(tau)``.
    """
    b = math.log(h / s0)
    nu = r - q - 0.5 * sigma * sigma
    cuts = {0.0, window_end}
    if nu > 0.0:
        mean = b / nu
        sd = math.sqrt(b * sigma * sigma / nu**3)
        for k in (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0):
            for sign in (-1.0, 1.0):
                c = mean + sign * k * sd
                if 0.0 < c < window_end:
                    cuts.add(c)
    edges = sorted(cuts)
    x, wx = np.polynomial.legendre.leggauss(per_piece)
    nodes, weights = [], []
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        if hi - lo <= 0.0:
            continue
        if i == 0:  # sqrt substitution: the density is flat near 0 in sqrt(tau)
            u_max = math.sqrt(hi)
            u = 0.5 * u_max * (x + 1.0)
            nodes.append(u * u)
            weights.append(0.5 * u_max * wx * 2.0 * u)
        else:
            nodes.append(lo + 0.5 * (hi - lo) * (x + 1.0))
            weights.append(0.5 * (hi - lo) * wx)
    return np.concatenate(nodes), np.concatenate(weights)


def at_date_tranche_value(
    s0: float, h: float, test_time: float, expiry: float, strike: float, r: float, q: float, sigma: float
) -> float:
    """Per-share value of a tranche that vests at ``test_time`` if the price is then ``>= h``.

    The vested warrant is worth ``C(S, K, T - test_time)``. With ``strike == 0`` that is an asset-or-nothing
    payoff: ``S0 exp(-qT) N(d1)``, ``d1`` the Black–Scholes term for strike ``h`` and maturity ``test_time``.
    With ``strike > 0`` the lognormal density of ``S(test_time)`` above ``h`` is integrated numerically.
    """
    if test_time <= 0.0:
        return float(bs_call(s0, strike, expiry, r, q, sigma)) if s0 >= h else 0.0
    vol = sigma * math.sqrt(test_time)
    drift = math.log(s0) + (r - q - 0.5 * sigma * sigma) * test_time
    d2 = (drift - math.log(h)) / vol
    d1 = d2 + vol
    if strike == 0.0:
        return s0 * math.exp(-q * expiry) * float(norm.cdf(d1))
    # integrate over z ~ N(0,1) with ln S = drift + vol z, for z >= -d2
    nodes, weights = np.polynomial.legendre.leggauss(400)
    z_lo, z_hi = -d2, max(-d2, 0.0) + 12.0
    z = 0.5 * (z_hi - z_lo) * (nodes + 1.0) + z_lo
    s_t = np.exp(drift + vol * z)
    integrand = bs_call(s_t, strike, expiry - test_time, r, q, sigma) * norm.pdf(z)
    return float(math.exp(-r * test_time) * 0.5 * (z_hi - z_lo) * np.sum(weights * integrand))


__all__ = [
    "at_date_tranche_value",
    "bs_call",
    "bs_put",
    "first_passage_density",
    "hit_laplace",
    "hit_laplace_many",
    "one_touch_at_hit",
    "supports_closed_form",
    "surely_in_the_money",
    "touch_probability",
    "touch_tranche_value",
]
