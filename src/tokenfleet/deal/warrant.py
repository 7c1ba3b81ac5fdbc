"""Warrants, tranches and the vesting rule, applied to whole arrays of simulated paths.

Vesting rule (documented choice). A tranche's conditions combine with AND and each one, once met, stays met:

- ``spend_usd``: cumulative spend >= X (checked on the simulation grid, e.g. monthly);
- ``mw_delivered``: cumulative MW delivered >= G (checked on the grid);
- hurdle ``touch``: the share price has been >= H at some time in ``[window_start, window_end]``
  (continuous monitoring, through the Brownian-bridge maximum of each step);
- hurdle ``at_date``: the price is >= H on the test date, and the other conditions are met by then;
  otherwise the tranche lapses.

The tranche vests at ``tau`` = the latest of the times its conditions are first met; it lapses if ``tau`` is
after the warrant's expiry. Value at vesting: the Black–Scholes value of the vested warrant held to expiry,
``C(S_tau, K, T - tau)`` (``vested_value: black_scholes``, the default: a vested warrant is an option the
holder need not exercise at once), or intrinsic ``max(S_tau - K, 0)`` (``vested_value: intrinsic``:
exercise at vesting). For penny strikes and no dividend the two agree to within ``K``. The price at a
hurdle touch is ``H`` (the level is first reached continuously). Present value:
``exp(-r tau) * value_at_vesting`` per share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tokenfleet.deal.closed_form import bs_call

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
AnyFloatArray = npt.NDArray[np.floating[Any]]  # float32 price paths or float64 spend paths


@dataclass(frozen=True, slots=True)
class Hurdle:
    price_usd: float
    mode: str  # "touch" | "at_date"
    window_start_years: float = 0.0  # touch
    window_end_years: float = np.inf  # touch
    test_years: float = 0.0  # at_date


@dataclass(frozen=True, slots=True)
class Tranche:
    name: str
    shares: float
    spend_usd: float | None = None
    mw_delivered: float | None = None
    hurdle: Hurdle | None = None

    @property
    def has_performance_condition(self) -> bool:
        return self.spend_usd is not None or self.mw_delivered is not None

    def describe(self) -> str:
        parts = []
        if self.spend_usd is not None:
            parts.append(f"spend >= ${self.spend_usd / 1e9:,.3g}B")
        if self.mw_delivered is not None:
            parts.append(f"delivered >= {self.mw_delivered / 1e3:,.3g} GW")
        if self.hurdle is not None:
            word = "touches" if self.hurdle.mode == "touch" else "on test date"
            parts.append(f"price {word} >= ${self.hurdle.price_usd:,.2f}")
        return " AND ".join(parts) if parts else "none (vested at grant)"


@dataclass(frozen=True, slots=True)
class Warrant:
    name: str
    holder: str
    shares: float
    strike_usd: float
    expiry_years: float
    tranches: tuple[Tranche, ...]
    holder_shares_before: float = 0.0


@dataclass(frozen=True, slots=True)
class Equity:
    """The issuer's share price model: GBM with optional Merton jumps, under the risk-neutral measure."""

    name: str
    share_price_usd: float
    shares_outstanding: float
    volatility: float
    dividend_yield: float = 0.0
    jump_intensity_per_year: float = 0.0
    jump_mean: float = 0.0
    jump_stdev: float = 0.0
    ticker: str = ""

    @property
    def has_jumps(self) -> bool:
        return self.jump_intensity_per_year > 0.0


@dataclass(frozen=True, slots=True)
class PathBlock:
    """A block of simulated paths on a uniform grid ``t_i = i * dt``, ``i = 0..n``.

    ``log_s``: log share price ``(m, n+1)``; ``step_max``: log of the maximum within each step ``(m, n)``
    (``None`` when no tranche needs touches); ``spend``: cumulative spend counted for vesting ``(m, n+1)``
    or ``None``; ``mw_hit_years``: for each distinct MW threshold, the first grid time it is met ``(m,)``.
    """

    dt: float
    log_s: AnyFloatArray
    step_max: AnyFloatArray | None
    spend: FloatArray | None
    mw_hit_years: dict[float, FloatArray]


def first_grid_index(values: AnyFloatArray, threshold: float) -> IntArray:
    """First column where a row of a non-decreasing array reaches ``threshold``; ``n_cols`` if never.

    A relative tolerance of 1e-9 lets a sum of payments meet a threshold it equals on paper.
    """
    return np.asarray((values < threshold * (1.0 - 1e-9)).sum(axis=1), dtype=np.int64)


def first_grid_time_at_least(event_years: FloatArray, dt: float) -> FloatArray:
    """Round event times up to the grid (conditions are checked at grid times); +inf stays +inf."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(event_years), np.ceil(event_years / dt - 1e-9) * dt, np.inf)


def mw_hit_years(times: FloatArray, mw: FloatArray, threshold_mw: float) -> FloatArray:
    """Exact first time cumulative MW delivered reaches ``threshold_mw`` on each path (+inf if never)."""
    return mw_hit_years_many(times, mw, [threshold_mw])[threshold_mw]


def mw_hit_years_many(times: FloatArray, mw: FloatArray, thresholds: list[float]) -> dict[float, FloatArray]:
    """:func:`mw_hit_years` for several thresholds, sorting the delivery times once."""
    order = np.argsort(times, axis=1)
    t_sorted = np.take_along_axis(times, order, axis=1)
    cum = np.cumsum(mw[order], axis=1)
    out = {}
    for g in thresholds:
        if g <= 0.0:
            out[g] = np.zeros(times.shape[0])
            continue
        k = (cum < g * (1.0 - 1e-12)).sum(axis=1)  # deliveries before the threshold is reached
        hit = np.take_along_axis(t_sorted, np.minimum(k, times.shape[1] - 1)[:, None], axis=1)[:, 0]
        out[g] = np.where(k < times.shape[1], hit, np.inf)
    return out


class TouchCache:
    """Running maxima of ``step_max`` from a window's first step, shared by tranches with that window."""

    def __init__(self, block: PathBlock) -> None:
        self._block = block
        self._run_max: dict[int, AnyFloatArray] = {}

    def first_touch(self, log_h: float, a: int, b: int) -> tuple[FloatArray, FloatArray]:
        """First time in grid window ``[a, b]`` the price is >= H, and the price then (inf / nan if never)."""
        blk = self._block
        start_above = blk.log_s[:, a] >= log_h
        if b <= a or blk.step_max is None:
            tau = np.where(start_above, a * blk.dt, np.inf)
            return tau, np.where(start_above, np.exp(blk.log_s[:, a].astype(np.float64)), np.nan)
        if a not in self._run_max:
            self._run_max[a] = np.maximum.accumulate(blk.step_max[:, a:], axis=1)
        below = first_grid_index(self._run_max[a][:, : b - a], log_h)  # steps before the touch
        touched = below < (b - a)
        # a touch inside step i is dated at its midpoint; a start above the level is dated t_a
        tau = np.where(touched, (a + below + 0.5) * blk.dt, np.inf)
        tau = np.where(start_above, a * blk.dt, tau)
        s_a = np.exp(blk.log_s[:, a].astype(np.float64))
        price = np.where(start_above, s_a, np.where(touched, np.exp(log_h), np.nan))
        return tau, price


def vest_tranche(
    tranche: Tranche, block: PathBlock, touches: TouchCache, expiry_years: float
) -> tuple[FloatArray, FloatArray]:
    """Vesting time ``tau`` (+inf if it lapses) and share price at vesting for each path of ``block``."""
    dt = block.dt
    n = block.log_s.shape[1] - 1
    m = block.log_s.shape[0]
    t_perf = np.zeros(m)
    if tranche.spend_usd is not None:
        if block.spend is None:
            raise ValueError("vest_tranche: block has no spend paths for a spend condition")
        idx = first_grid_index(block.spend, tranche.spend_usd)
        t_perf = np.maximum(t_perf, np.where(idx <= n, idx * dt, np.inf))
    if tranche.mw_delivered is not None:
        t_perf = np.maximum(t_perf, block.mw_hit_years[tranche.mw_delivered])
    h = tranche.hurdle
    if h is None:
        tau = t_perf
        price = _price_at(block, tau)
    elif h.mode == "touch":
        a = round(h.window_start_years / dt)
        b = min(n, round(min(h.window_end_years, expiry_years) / dt))
        t_hit, p_hit = touches.first_touch(float(np.log(h.price_usd)), a, b)
        tau = np.maximum(t_perf, t_hit)
        price = np.where(t_hit >= t_perf, p_hit, _price_at(block, t_perf))
    else:
        k = min(n, round(h.test_years / dt))
        ok = (t_perf <= k * dt + 1e-12) & (block.log_s[:, k] >= np.log(h.price_usd))
        tau = np.where(ok, k * dt, np.inf)
        price = np.exp(block.log_s[:, k].astype(np.float64))
    lapsed = tau > expiry_years + 1e-12
    tau = np.where(lapsed, np.inf, tau)
    return tau, np.where(lapsed, np.nan, price)


def _price_at(block: PathBlock, tau: FloatArray) -> FloatArray:
    n = block.log_s.shape[1] - 1
    with np.errstate(invalid="ignore"):
        idx = np.where(np.isfinite(tau), np.rint(tau / block.dt), 0).astype(np.int64)
    idx = np.minimum(idx, n)
    return np.exp(np.take_along_axis(block.log_s, idx[:, None], axis=1)[:, 0].astype(np.float64))


def value_at_vesting(
    price: FloatArray, tau: FloatArray, warrant: Warrant, equity: Equity, r: float, rule: str
) -> FloatArray:
    """PV per share at time 0 of a tranche vesting at ``tau`` with price ``price`` (0 if it lapsed)."""
    vested = np.isfinite(tau)
    out = np.zeros(tau.shape)
    if not np.any(vested):
        return out
    s, t = price[vested], tau[vested]
    if rule == "intrinsic":
        at_vest = np.maximum(s - warrant.strike_usd, 0.0)
    else:
        at_vest = bs_call(
            s, warrant.strike_usd, warrant.expiry_years - t, r, equity.dividend_yield, equity.volatility
        )
    out[vested] = np.exp(-r * t) * at_vest
    return out


__all__ = [
    "Equity",
    "Hurdle",
    "PathBlock",
    "TouchCache",
    "Tranche",
    "Warrant",
    "first_grid_index",
    "first_grid_time_at_least",
    "mw_hit_years",
    "mw_hit_years_many",
    "value_at_vesting",
    "vest_tranche",
]
