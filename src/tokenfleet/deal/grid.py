"""The simulation time grid: uniform steps or NYSE trading days, with every fixed contract date on it.

Times are years from the deal's start (365.25-day years). The grid holds ``0``, the horizon and each fixed date
a tranche is tested on (hurdle window starts and ends, at-date tests, warrant expiries, the contract's end), so
those tests happen on their exact dates, not on the nearest step. When any hurdle tests closing prices
(``monitoring: close``, ``vwap_days``, ``average_over_days``) the base grid is every NYSE trading day
(:mod:`tokenfleet.deal.calendar`), each closing price a grid point; otherwise it is ``steps_per_year`` uniform
steps. Random dates (deliveries, spend milestones) fall between grid points and are handled with the Brownian
bridge in :mod:`tokenfleet.deal.vesting`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tokenfleet.deal.calendar import trading_days
from tokenfleet.deal.contract import DAYS_PER_YEAR, years_between

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class Grid:
    """Grid times ``t`` (``n + 1`` points, ``t[0] = 0``) and which of them are trading-day closes."""

    t: FloatArray
    is_close: BoolArray  # True at a trading day's close (only on a trading-day grid)
    trading: bool

    @property
    def n_steps(self) -> int:
        return int(self.t.size - 1)

    @property
    def dt(self) -> FloatArray:
        return np.diff(self.t)

    def index(self, when: float) -> int:
        """Index of the grid point at ``when`` (which must be on the grid, e.g. a fixed date)."""
        i = int(np.searchsorted(self.t, when - _TOL))
        return min(i, self.n_steps)

    def step_of(self, when: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Index ``i`` of the step ``[t_i, t_{i+1})`` holding each time (``n`` at or after the horizon)."""
        idx = np.searchsorted(self.t, np.asarray(when, dtype=np.float64) + _TOL, side="right") - 1
        return np.asarray(np.clip(idx, 0, self.n_steps), dtype=np.int64)


def build_grid(
    start: dt.date, horizon_years: float, steps_per_year: int, fixed_years: list[float], trading: bool
) -> Grid:
    """The grid for a deal; ``fixed_years`` are dates to hold exactly (clipped to ``[0, horizon]``)."""
    if trading:
        end = start + dt.timedelta(days=math.ceil(horizon_years * DAYS_PER_YEAR))
        closes = np.array([years_between(start, d) for d in trading_days(start, end)], dtype=np.float64)
        closes = closes[closes <= horizon_years + _TOL]
    else:
        n = max(1, math.ceil(horizon_years * steps_per_year - 1e-9))
        closes = np.empty(0)
        uniform = np.arange(n + 1) / steps_per_year
    base = closes if trading else uniform
    fixed = np.array([min(max(f, 0.0), horizon_years) for f in fixed_years], dtype=np.float64)
    points = np.concatenate([[0.0, horizon_years], base, fixed])
    points = points[points <= max(horizon_years, float(base.max(initial=0.0))) + _TOL]
    points = np.unique(np.round(points, 12))
    keep = np.concatenate([[True], np.diff(points) > _TOL])
    t = points[keep]
    is_close = np.zeros(t.size, dtype=bool)
    if trading and closes.size:
        pos = np.searchsorted(t, closes - _TOL)
        is_close[np.minimum(pos, t.size - 1)] = True
    return Grid(t=t, is_close=is_close, trading=trading)


__all__ = ["Grid", "build_grid"]
