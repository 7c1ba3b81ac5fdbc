"""The vesting rules on a block of simulated paths: when each tranche vests and at what share price.

Inputs per path: the share price on the grid (:mod:`tokenfleet.deal.grid`; fixed contract dates are grid
points), the maximum of the Brownian bridge inside each step (continuous monitoring), and ``t_perf``, the exact
time the tranche's performance conditions are first met (``0`` without any, ``+inf`` if never).

- **concurrent**: vest at the first ``tau >= max(t_perf, window_start)`` at which the price test passes. For a
  continuous test the log price at ``a = max(t_perf, window_start)`` is drawn from the Brownian bridge between
  the grid points around ``a`` (exact for GBM); if it is below the hurdle, the bridge maximum over
  ``[a, next grid point]`` and then the whole steps after it are searched. For a closing-price test, the first
  trading-day close at or after ``a`` whose close (or N-day average) is at or above H.
- **sticky**: the first touch ``t_hit`` in the window and ``t_perf``; vest at ``max(t_perf, t_hit)``.
- **at_date**: vest on the test date if ``t_perf`` is by then and the test passes on that date.

The tranche lapses if ``tau`` is after the warrant's expiry or the window's end. A touch inside a step is dated
at the step's midpoint (continuous monitoring; the price then is H); a closing-price vest is dated at that close
(the price then is the close). Within a step that holds a random milestone date, the bridge point and its
partial maximum are drawn once per milestone and shared by the tranches that use them. With Merton jumps the
bridge and the step maxima treat a step's jump as happening at its end (an approximation; pure GBM is exact).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from tokenfleet.deal.grid import Grid
from tokenfleet.deal.warrant import Hurdle, Tranche

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
AnyFloatArray = npt.NDArray[np.floating[Any]]
_TOL = 1e-9


def first_from(cond: npt.NDArray[np.bool_], start: IntArray, stop: int) -> IntArray:
    """First column ``k`` in ``[start[p], stop)`` with ``cond[p, k]`` on each row; ``stop`` if there is none.

    ``cond`` is modified (masked) in place: callers pass a fresh boolean array.
    """
    m, n = cond.shape
    cols = np.arange(n, dtype=np.int32)[None, :]
    cond &= cols >= start.astype(np.int32)[:, None]
    if stop < n:
        cond[:, stop:] = False
    k = cond.argmax(axis=1)
    found = cond[np.arange(m), k]
    return np.where(found, k, stop).astype(np.int64)


class Paths:
    """One block of paths on a grid, with the bridge draws and closing-price averages it has been asked for."""

    def __init__(
        self,
        grid: Grid,
        log_s: AnyFloatArray,
        step_max: AnyFloatArray | None,
        sigma: float,
        rng: np.random.Generator,
        log_s0: float,
    ) -> None:
        self.grid = grid
        self.log_s = log_s
        self.step_max = step_max
        self.sigma = sigma
        self.rng = rng
        self.log_s0 = log_s0
        self.m = log_s.shape[0]
        self._bridge: dict[Any, tuple[FloatArray, FloatArray, IntArray]] = {}
        self._stat: dict[Any, FloatArray] = {}
        self._close_idx = np.flatnonzero(grid.is_close)

    # ---- prices at random times -------------------------------------------------------------------------
    def bridge_at(self, when: FloatArray, key: Any) -> tuple[FloatArray, FloatArray, IntArray]:
        """Log price at each path's ``when`` (Brownian bridge), the log maximum of ``[when, next grid point]``
        and the step index; ``when`` beyond the horizon gives the last grid price."""
        if key in self._bridge:
            return self._bridge[key]
        g = self.grid
        t = g.t
        w = np.where(np.isfinite(when), np.minimum(when, t[-1]), t[-1])
        i = np.minimum(g.step_of(w), g.n_steps - 1)
        rows = np.arange(self.m)
        x0 = self.log_s[rows, i].astype(np.float64)
        x1 = self.log_s[rows, i + 1].astype(np.float64)
        t0, t1 = t[i], t[i + 1]
        span = t1 - t0
        left = np.clip(w - t0, 0.0, span)
        right = span - left
        mean = x0 + (x1 - x0) * left / span
        sd = self.sigma * np.sqrt(left * right / span)
        z = self.rng.standard_normal(self.m)
        x = mean + sd * z
        u = np.maximum(self.rng.random(self.m), 1e-300)
        part_max = 0.5 * (x + x1 + np.sqrt((x1 - x) ** 2 - 2.0 * self.sigma**2 * right * np.log(u)))
        if self.step_max is not None:  # on a grid point: the step's own bridge maximum
            on_grid = left <= _TOL
            part_max = np.where(on_grid, self.step_max[rows, i].astype(np.float64), part_max)
        at_end = w >= t[-1] - _TOL
        x = np.where(at_end, self.log_s[:, -1].astype(np.float64), x)
        out = (x, np.where(at_end, x, part_max), i)
        self._bridge[key] = out
        return out

    # ---- closing-price statistics -------------------------------------------------------------------------
    def close_stat(self, h: Hurdle) -> FloatArray:
        """The tested statistic (USD) at each trading-day close, ``(m, n_closes)``.

        ``close``: the close. ``average_over_days: N``: mean of the last N closes. ``vwap_days: N``: mean of the
        last N daily VWAPs, a day's VWAP taken as the mean of its opening (previous close) and closing prices
        (volume spread evenly through the day). Days before the deal start count at the start price.
        """
        key = (h.average_kind, h.average_days)
        if key in self._stat:
            return self._stat[key]
        if "closes" not in self._stat:
            self._stat["closes"] = np.exp(self.log_s[:, self._close_idx]).astype(np.float64)
        closes = self._stat["closes"]
        n_days = h.average_days
        s0 = math.exp(self.log_s0)
        if h.average_kind == "vwap":
            daily = 0.5 * closes
            daily[:, 1:] += 0.5 * closes[:, :-1]
            daily[:, 0] += 0.5 * s0
        else:
            daily = closes
        if n_days > 1:
            cs = np.empty((self.m, daily.shape[1] + n_days))
            cs[:, :n_days] = s0 * np.arange(1, n_days + 1)
            np.cumsum(daily, axis=1, out=cs[:, n_days:])
            cs[:, n_days:] += cs[:, n_days - 1 : n_days]
            daily = cs[:, n_days:] - cs[:, :-n_days]
            daily /= n_days
        self._stat[key] = daily
        return daily

    # ---- first passes --------------------------------------------------------------------------------------
    def first_close_pass(self, h: Hurdle, a: FloatArray, end: float) -> tuple[FloatArray, FloatArray]:
        """First close at or after each path's ``a`` (and by ``end``) that passes ``h``: time and close price."""
        ct = self.grid.t[self._close_idx]
        nc = ct.size
        if nc == 0:
            return np.full(self.m, np.inf), np.full(self.m, np.nan)
        j0 = np.searchsorted(ct, np.where(np.isfinite(a), a, np.inf) - _TOL)
        stop = int(np.searchsorted(ct, end + _TOL, side="right"))  # closes after the window's end do not count
        j = first_from(self.close_stat(h) >= h.price_usd * (1.0 - 1e-12), j0, stop)
        ok = j < stop
        jj = np.minimum(j, nc - 1)
        tau = np.where(ok, ct[jj], np.inf)
        cols = self._close_idx[jj]
        price = np.exp(self.log_s[np.arange(self.m), cols].astype(np.float64))
        return tau, np.where(ok, price, np.nan)

    def first_touch_from(self, log_h: float, a: FloatArray, end: float, key: Any) -> tuple[FloatArray, FloatArray]:
        """Continuous first touch at or after each path's ``a`` (``a`` may fall inside a step), by ``end``."""
        g = self.grid
        x_a, part_max, i = self.bridge_at(a, key)
        b = g.index(end)  # window end is a grid point
        live = np.isfinite(a) & (a <= end + _TOL)
        above = live & (x_a >= log_h)
        t_next = g.t[np.minimum(i + 1, g.n_steps)]
        in_part = live & ~above & (part_max >= log_h) & (t_next <= end + _TOL)
        assert self.step_max is not None
        k = first_from(self.step_max >= log_h, i + 1, b)
        later = live & ~above & ~in_part & (k < b)
        kk = np.minimum(k, g.n_steps - 1)
        tau = np.where(
            above, a, np.where(in_part, 0.5 * (a + t_next), np.where(later, 0.5 * (g.t[kk] + g.t[kk + 1]), np.inf))
        )
        h = math.exp(log_h)
        price = np.where(above, np.exp(x_a), np.where(in_part | later, h, np.nan))
        return tau, price


def vest(tranche: Tranche, paths: Paths, t_perf: FloatArray, expiry_years: float) -> tuple[FloatArray, FloatArray]:
    """Vesting time ``tau`` (+inf if the tranche lapses) and share price at vesting for each path."""
    g = paths.grid
    h = tranche.hurdle
    perf_key = ("perf", tranche.performance_key)
    if h is None:
        tau = t_perf
        price = np.exp(paths.bridge_at(t_perf, perf_key)[0])
    elif h.mode == "at_date":
        k = g.index(h.test_years)
        if h.discrete:
            ct = g.t[paths._close_idx]
            j = int(np.searchsorted(ct, g.t[k] + _TOL)) - 1  # the last close on or before the date
            ok_price = paths.close_stat(h)[:, j] >= h.price_usd * (1.0 - 1e-12) if j >= 0 else np.zeros(paths.m, bool)
        else:
            ok_price = paths.log_s[:, k] >= math.log(h.price_usd)
        ok = (t_perf <= g.t[k] + _TOL) & ok_price
        tau = np.where(ok, g.t[k], np.inf)
        price = np.exp(paths.log_s[:, k].astype(np.float64))
    else:
        end = min(h.window_end_years, expiry_years, float(g.t[-1]))
        if tranche.vesting == "concurrent":
            a = np.maximum(t_perf, h.window_start_years)
            if h.discrete:
                tau, price = paths.first_close_pass(h, a, end)
            else:
                tau, price = paths.first_touch_from(
                    math.log(h.price_usd), a, end, ("start", tranche.performance_key, h.window_start_years)
                )
        else:
            a0 = np.full(paths.m, h.window_start_years)
            if h.discrete:
                t_hit, p_hit = paths.first_close_pass(h, a0, end)
            else:
                t_hit, p_hit = paths.first_touch_from(math.log(h.price_usd), a0, end, ("window", h.window_start_years))
            tau = np.maximum(t_perf, t_hit)
            p_perf = np.exp(paths.bridge_at(t_perf, perf_key)[0])
            price = np.where(t_hit >= t_perf, p_hit, p_perf)
    lapsed = ~(tau <= expiry_years + _TOL)
    return np.where(lapsed, np.inf, tau), np.where(lapsed, np.nan, price)


__all__ = ["Paths", "first_from", "vest"]
