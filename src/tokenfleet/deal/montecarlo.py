"""Vectorised Monte Carlo of share prices, deliveries, spend and vesting, in fixed-size chunks of paths.

Share price: risk-neutral GBM, optionally with Merton jumps (Poisson count per step, normal log-jumps, drift
compensated so that ``E[S_t] = S_0 exp((r-q)t)``), on a uniform grid of ``steps_per_year`` steps. For touch
hurdles each step also gets the maximum of the Brownian bridge between its end points,
``M = (a + b + sqrt((b - a)^2 - 2 sigma^2 dt ln U)) / 2`` in log price, which makes the touch test exact for
continuous monitoring of pure GBM (Glasserman, *Monte Carlo Methods in Financial Engineering*, §6.4).

Deliveries: scheduled time (scaled by a per-path schedule factor, if any) plus a sampled delay per path;
option deliveries exist on a path only if the option is exercised there. Spend and MW delivered follow from the
delivery times (:mod:`tokenfleet.deal.contract`); each tranche's milestone is met at its exact time.

Memory: paths run in chunks of at most :data:`CHUNK_PATHS`, fewer on long grids (:func:`chunk_paths`, about
4 MB per float32 array), so memory does not grow with the number of paths. Chunk
``c`` draws from ``SeedSequence(seed, spawn_key=(stream, c))``, so a seed gives the same paths whatever the
caller does with them, and the price stream does not depend on the delivery model (common random numbers).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tokenfleet.deal.grid import Grid, build_grid
from tokenfleet.deal.model import Deal
from tokenfleet.deal.vesting import Paths, vest
from tokenfleet.deal.warrant import Equity, mw_hit_years_many, value_at_vesting

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
CHUNK_PATHS = 16_384
CHUNK_ELEMENTS = 1 << 20  # grid values per path array in one chunk (4 MB in float32)
_PRICE_STREAM, _DELIVERY_STREAM = 0, 1


def chunk_rng(seed: int, stream: int, chunk: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(stream, chunk))))


def simulate_log_prices(
    equity: Equity,
    r: float,
    dt: float | FloatArray,
    n_steps: int,
    m: int,
    rng: np.random.Generator,
    with_step_max: bool,
) -> tuple[Float32Array, Float32Array | None]:
    """Log share price ``(m, n_steps+1)`` and, if asked, the log maximum within each step ``(m, n_steps)``.

    ``dt`` is one step length or one per step (a grid with fixed dates or trading days). Float32 halves memory
    traffic; log prices near 5 keep about 7 significant digits, far below MC noise.
    """
    sigma, q = equity.volatility, equity.dividend_yield
    lam = equity.jump_intensity_per_year
    kappa = math.exp(equity.jump_mean + 0.5 * equity.jump_stdev**2) - 1.0 if lam > 0 else 0.0
    steps = np.broadcast_to(np.asarray(dt, dtype=np.float64), (n_steps,))
    drift = ((r - q - 0.5 * sigma * sigma - lam * kappa) * steps).astype(np.float32)
    inc = rng.standard_normal((m, n_steps), dtype=np.float32)
    inc *= (sigma * np.sqrt(steps)).astype(np.float32)
    inc += drift
    if lam > 0.0:
        _add_jumps(inc, lam * steps, equity.jump_mean, equity.jump_stdev, rng)
    log_s = np.empty((m, n_steps + 1), dtype=np.float32)
    log_s[:, 0] = math.log(equity.share_price_usd)
    inc[:, 0] += log_s[:, 0]
    np.cumsum(inc, axis=1, out=log_s[:, 1:])
    if not with_step_max:
        return log_s, None
    u = rng.random((m, n_steps), dtype=np.float32)
    np.maximum(u, np.float32(1e-30), out=u)
    np.log(u, out=u)
    u *= (-2.0 * sigma * sigma * steps).astype(np.float32)
    a, b = log_s[:, :-1], log_s[:, 1:]
    np.subtract(b, a, out=inc)
    inc *= inc
    u += inc
    np.sqrt(u, out=u)
    u += a
    u += b
    u *= np.float32(0.5)
    return log_s, u


def _add_jumps(inc: Float32Array, lam_dt: FloatArray, mean: float, stdev: float, rng: np.random.Generator) -> None:
    """Add compound-Poisson normal log-jumps to each step: ``N mean + sqrt(N) stdev Z``, ``N ~ Poisson(lam dt)``.

    ``N`` comes from one uniform per step by inverse CDF: a step jumps when ``U >= exp(-lam dt)`` (rare on short
    steps, so ``Z`` and the count's inverse CDF are evaluated only there).
    """
    u = rng.random(inc.shape, dtype=np.float32)
    none = np.exp(-lam_dt).astype(np.float32)
    rows, cols = np.nonzero(u >= none[None, :])
    if rows.size == 0:
        return
    k = _poisson_inverse(u[rows, cols].astype(np.float64), lam_dt[cols])
    inc[rows, cols] += (k * mean + np.sqrt(k) * stdev * rng.standard_normal(rows.size)).astype(np.float32)


def _poisson_inverse(u: FloatArray, lam: FloatArray) -> FloatArray:
    """Smallest ``k >= 1`` with ``P(N <= k) > u``, ``N ~ Poisson(lam)`` (every ``u >= exp(-lam)``)."""
    term = np.exp(-lam)
    cdf = term.copy()
    k = np.zeros_like(u)
    for j in range(1, 10_000):
        term = term * lam / j
        cdf = cdf + term
        step = u >= cdf - term  # not yet reached before this j: k is at least j
        k = np.where(step, float(j), k)
        if not np.any(u >= cdf):
            break
    return k


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """One chunk: per tranche vesting time (+inf = lapsed), PV in USD and the time its performance conditions
    were met (0 without any, +inf if never), plus the delivery times drawn."""

    tau_years: FloatArray  # (tranches, m)
    pv_usd: FloatArray  # (tranches, m)
    perf_years: FloatArray  # (tranches, m)
    delivery_times: FloatArray  # (m, deliveries)


def deal_grid(deal: Deal) -> Grid:
    """The simulation grid of ``deal``: its fixed dates, on trading days if any hurdle tests closes."""
    fixed = [deal.contract.end_years, *(w.expiry_years for w in deal.warrants)]
    trading = False
    for w, t in deal.tranches():
        h = t.hurdle
        if h is None:
            continue
        trading = trading or h.discrete
        if h.mode == "at_date":
            fixed.append(h.test_years)
        else:
            fixed += [h.window_start_years, min(h.window_end_years, w.expiry_years)]
    return build_grid(deal.start_date, deal.horizon_years, deal.settings.steps_per_year, fixed, trading)


def chunk_paths(n_steps: int) -> int:
    """Paths per chunk: about :data:`CHUNK_ELEMENTS` grid values per array, at most :data:`CHUNK_PATHS`."""
    return max(256, min(CHUNK_PATHS, CHUNK_ELEMENTS // max(1, n_steps)))


def performance_times(
    deal: Deal, keys: list[tuple[float | None, float | None]], times: FloatArray
) -> dict[tuple[float | None, float | None], FloatArray]:
    """Exact time each distinct performance condition ``(spend_usd, mw_delivered)`` is first met, per path."""
    contract = deal.contract
    horizon = deal.horizon_years
    falls = None
    if contract.shortfall_counts_toward_vesting and contract.commitments:
        falls = contract.shortfalls(times)
    mw_levels = sorted({g for _, g in keys if g is not None})
    mw_hits = mw_hit_years_many(times, contract.mw, mw_levels) if mw_levels else {}
    levels = sorted({s for s, _ in keys if s is not None})
    spend_hits = contract.spend_hit_years_many(levels, horizon, times, falls) if levels else {}
    out = {}
    for spend, mw in keys:
        t = np.zeros(times.shape[0])
        if spend is not None:
            t = np.maximum(t, spend_hits[spend])
        if mw is not None:
            t = np.maximum(t, mw_hits[mw])
        out[(spend, mw)] = t
    return out


def simulate(deal: Deal, paths: int, seed: int, s0: float | None = None) -> Iterator[ChunkResult]:
    """Yield :class:`ChunkResult` for ``paths`` paths in chunks; ``s0`` overrides the share price."""
    st = deal.settings
    grid = deal_grid(deal)
    steps = grid.dt
    tranches = deal.tranches()
    contract = deal.contract
    equity = deal.equity
    if equity is not None and s0 is not None:
        equity = _with_price(equity, s0)
    need_max = any(t.hurdle is not None and t.hurdle.mode == "touch" and not t.hurdle.discrete for _, t in tranches)
    keys = sorted({t.performance_key for _, t in tranches}, key=repr)
    size = chunk_paths(grid.n_steps)
    for c, start in enumerate(range(0, paths, size)):
        m = min(size, paths - start)
        times = contract.sample_times(chunk_rng(seed, _DELIVERY_STREAM, c), m)
        if not tranches or equity is None:
            yield ChunkResult(np.zeros((0, m)), np.zeros((0, m)), np.zeros((0, m)), times)
            continue
        rng = chunk_rng(seed, _PRICE_STREAM, c)
        log_s, step_max = simulate_log_prices(equity, st.risk_free_rate, steps, grid.n_steps, m, rng, need_max)
        perf = performance_times(deal, keys, times)
        block = Paths(grid, log_s, step_max, equity.volatility, rng, math.log(equity.share_price_usd))
        tau = np.empty((len(tranches), m))
        pv = np.empty((len(tranches), m))
        t_perf = np.empty((len(tranches), m))
        for i, (w, tr) in enumerate(tranches):
            t_perf[i] = perf[tr.performance_key]
            tau[i], price = vest(tr, block, t_perf[i], w.expiry_years)
            per_share = value_at_vesting(price, tau[i], w, equity, st.risk_free_rate, st.vested_value)
            pv[i] = tr.shares * per_share
        yield ChunkResult(tau, pv, t_perf, times)


def _with_price(equity: Equity, s0: float) -> Equity:
    return dataclasses.replace(equity, share_price_usd=s0)


__all__ = [
    "CHUNK_PATHS",
    "ChunkResult",
    "chunk_paths",
    "chunk_rng",
    "deal_grid",
    "performance_times",
    "simulate",
    "simulate_log_prices",
]
