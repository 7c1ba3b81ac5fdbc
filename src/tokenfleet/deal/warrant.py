"""Warrants and tranches (domain types) and the value of a tranche at vesting.

A tranche's performance conditions (cumulative ``spend_usd``, ``mw_delivered``) and its price hurdle combine
under one of two vesting rules (:mod:`tokenfleet.deal.vesting` applies them to simulated paths):

- ``concurrent`` (the default, as deals.md §4 reads the AMD and Cerebras warrants): the tranche vests at the
  first date on which the performance conditions are met **and** the price test passes on that date;
- ``sticky``: each condition, once met, stays met; the tranche vests when the last of them is first met.

Price tests: ``touch`` (the price is at or above H at some time in ``[window_start, window_end]``) or
``at_date`` (on one date); monitored ``continuous`` (any moment), on ``close`` (NYSE trading-day closes), or on
an N-day average of closes (``average_over_days``) or N-day VWAP (``vwap_days``), both on trading days.

Value at vesting: the Black–Scholes value of the vested warrant held to expiry, ``C(S_tau, K, T - tau)``
(``vested_value: black_scholes``, the default), or intrinsic ``max(S_tau - K, 0)`` (``intrinsic``). Present
value: ``exp(-r tau) * value_at_vesting`` per share.
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

VESTING_RULES = ("concurrent", "sticky")


@dataclass(frozen=True, slots=True)
class Hurdle:
    price_usd: float
    mode: str  # "touch" | "at_date"
    window_start_years: float = 0.0  # touch
    window_end_years: float = np.inf  # touch
    test_years: float = 0.0  # at_date
    monitoring: str = "continuous"  # "continuous" | "close" (trading-day closes)
    average_days: int = 1  # N-day average of closes (1: the close itself); close monitoring only
    average_kind: str = "close"  # "close" (mean of N closes) | "vwap" (mean of N daily VWAPs)

    @property
    def discrete(self) -> bool:
        return self.monitoring == "close"

    def describe_test(self) -> str:
        if not self.discrete:
            return "touches" if self.mode == "touch" else "on test date"
        if self.average_days > 1:
            what = f"{self.average_days}-day {'VWAP' if self.average_kind == 'vwap' else 'average close'}"
        else:
            what = "close"
        return what if self.mode == "touch" else f"{what} on test date"


@dataclass(frozen=True, slots=True)
class Tranche:
    name: str
    shares: float
    spend_usd: float | None = None
    mw_delivered: float | None = None
    hurdle: Hurdle | None = None
    vesting: str = "concurrent"  # "concurrent" | "sticky"

    @property
    def has_performance_condition(self) -> bool:
        return self.spend_usd is not None or self.mw_delivered is not None

    @property
    def performance_key(self) -> tuple[float | None, float | None]:
        return (self.spend_usd, self.mw_delivered)

    def describe(self) -> str:
        parts = []
        if self.spend_usd is not None:
            parts.append(f"spend >= ${self.spend_usd / 1e9:,.3g}B")
        if self.mw_delivered is not None:
            parts.append(f"delivered >= {self.mw_delivered / 1e3:,.3g} GW")
        if self.hurdle is not None:
            parts.append(f"price {self.hurdle.describe_test()} >= ${self.hurdle.price_usd:,.2f}")
        text = " AND ".join(parts) if parts else "none (vested at grant)"
        if self.hurdle is not None and self.has_performance_condition:
            text += " (together)" if self.vesting == "concurrent" else " (each sticks)"
        return text


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
        at_vest = bs_call(s, warrant.strike_usd, warrant.expiry_years - t, r, equity.dividend_yield, equity.volatility)
    out[vested] = np.exp(-r * t) * at_vest
    return out


__all__ = [
    "VESTING_RULES",
    "Equity",
    "Hurdle",
    "Tranche",
    "Warrant",
    "mw_hit_years",
    "mw_hit_years_many",
    "value_at_vesting",
]
