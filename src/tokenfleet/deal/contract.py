"""Contract domain types and the cash/capacity arithmetic on (possibly random) delivery times.

Times are years from the deal's start date. A contract is a list of deliveries (capacity tranches); each has a
scheduled time, MW (facility), a one-off payment at delivery and an accrual rate while in service. Randomness
enters only through the delivery times (delays, and options that are not exercised: time = +inf), so every
quantity here is a vectorised function of a ``(paths, deliveries)`` array of delivery times:

- cumulative purchase spend at a time (:func:`spend_at`) or on a grid (:func:`spend_on_grid`),
- MW-years in service (:func:`mw_years`), present value of purchases (:func:`pv_purchases`),
- take-or-pay shortfall payments at each commitment date (:func:`shortfalls`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
DAYS_PER_YEAR = 365.25


def years_between(start: dt.date, when: dt.date) -> float:
    """Years from ``start`` to ``when`` (365.25-day years)."""
    return (when - start).days / DAYS_PER_YEAR


def date_at(start: dt.date, years: float) -> dt.date:
    """The date ``years`` after ``start``."""
    return start + dt.timedelta(days=round(years * DAYS_PER_YEAR))


@dataclass(frozen=True, slots=True)
class DelayModel:
    """Delivery delay in years: none, lognormal (median, log-sd) or ``slip_years`` w.p. ``probability``."""

    distribution: str = "none"
    median_years: float = 0.0
    sigma: float = 0.0
    probability: float = 0.0
    slip_years: float = 0.0
    correlated: bool = False

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        """``n`` independent delays in years."""
        if self.distribution == "lognormal" and self.median_years > 0.0:
            return np.asarray(self.median_years * np.exp(self.sigma * rng.standard_normal(n)), dtype=np.float64)
        if self.distribution == "slip" and self.probability > 0.0:
            return np.where(rng.random(n) < self.probability, self.slip_years, 0.0)
        return np.zeros(n)


@dataclass(frozen=True, slots=True)
class ScheduleRisk:
    """Multiplicative schedule risk: each delivery's lead time from the start is scaled by a lognormal factor.

    ``F = median_factor * exp(sigma * Z)``; ``F < 1`` delivers early. ``shared``: one ``F`` per path for every
    delivery (a programme that runs fast or slow as a whole); otherwise one per delivery. Additive delays
    (:class:`DelayModel`) are added after scaling.
    """

    sigma: float
    median_factor: float = 1.0
    shared: bool = True

    def factors(self, rng: np.random.Generator, n: int, k: int) -> FloatArray:
        """``(n, k)`` factors."""
        z = rng.standard_normal((n, 1) if self.shared else (n, k))
        return np.asarray(np.broadcast_to(self.median_factor * np.exp(self.sigma * z), (n, k)), dtype=np.float64)

    @property
    def can_be_early(self) -> bool:
        return self.sigma > 0.0 or self.median_factor < 1.0


@dataclass(frozen=True, slots=True)
class Delivery:
    name: str
    time_years: float  # scheduled
    mw: float
    lump_usd: float  # paid at delivery
    accrual_usd_per_year: float  # paid while in service
    delay: DelayModel
    option: int | None = None  # index into Contract.options, None for firm deliveries


@dataclass(frozen=True, slots=True)
class CapacityOption:
    name: str
    exercise_probability: float


@dataclass(frozen=True, slots=True)
class Commitment:
    time_years: float
    minimum_spend_usd: float  # cumulative


@dataclass(frozen=True, slots=True)
class Financing:
    kind: str  # loan | prepayment | datacenter_funding
    amount_usd: float
    time_years: float
    repay_time_years: float | None  # loans only
    repay_usd: float
    credited_against_spend: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class Contract:
    buyer: str
    seller: str
    start_date: dt.date
    end_years: float
    deliveries: tuple[Delivery, ...]
    options: tuple[CapacityOption, ...] = ()
    commitments: tuple[Commitment, ...] = ()
    shortfall_counts_toward_vesting: bool = False
    financing: tuple[Financing, ...] = ()
    service_years: float | None = None
    tokens_per_mw_year: float | None = None
    market_usd_per_mw_year: float | None = None
    schedule_risk: ScheduleRisk | None = None

    @property
    def can_deliver_early(self) -> bool:
        """Whether a delivery can come before its scheduled date on some path."""
        return self.schedule_risk is not None and self.schedule_risk.can_be_early

    @property
    def mw(self) -> FloatArray:
        return np.array([d.mw for d in self.deliveries], dtype=np.float64)

    def scheduled_times(self, with_options: bool) -> FloatArray:
        """Delivery times without delays, shape ``(1, K)``; options at +inf unless ``with_options``."""
        times = [d.time_years if (d.option is None or with_options) else np.inf for d in self.deliveries]
        return np.array([times], dtype=np.float64)

    def sample_times(self, rng: np.random.Generator, n: int) -> FloatArray:
        """Random delivery times ``(n, K)``: schedule + delay; unexercised option deliveries at +inf."""
        k = len(self.deliveries)
        times = np.empty((n, k))
        exercised = [rng.random(n) < o.exercise_probability for o in self.options]
        factor = self.schedule_risk.factors(rng, n, k) if self.schedule_risk is not None else None
        common: dict[DelayModel, FloatArray] = {}
        for j, d in enumerate(self.deliveries):
            if d.delay.correlated:
                if d.delay not in common:
                    common[d.delay] = d.delay.sample(rng, n)
                delay = common[d.delay]
            else:
                delay = d.delay.sample(rng, n)
            lead = d.time_years if factor is None else d.time_years * factor[:, j]
            times[:, j] = lead + delay
            if d.option is not None:
                times[~exercised[d.option], j] = np.inf
        return times

    def service_end(self, times: FloatArray) -> FloatArray:
        """End of each delivery's service window (same shape as ``times``), never before delivery."""
        end = times + self.service_years if self.service_years is not None else np.full_like(times, self.end_years)
        return np.maximum(end, times)

    def spend_at(self, t: float, times: FloatArray) -> FloatArray:
        """Cumulative purchase spend by time ``t`` on each path, shape ``(n,)``."""
        lump = np.array([d.lump_usd for d in self.deliveries])
        rate = np.array([d.accrual_usd_per_year for d in self.deliveries])
        in_service = np.clip(np.minimum(t, self.service_end(times)) - times, 0.0, None)
        return np.asarray((times <= t) @ lump + np.nan_to_num(in_service, posinf=0.0) @ rate, dtype=np.float64)

    def spend_at_each(self, t: FloatArray, times: FloatArray, with_shortfalls: FloatArray | None = None) -> FloatArray:
        """Cumulative spend on each path at its own time ``t[i]``, shape ``(n,)``; ``with_shortfalls``
        (``(n, C)`` take-or-pay payments) adds them from their commitment dates on."""
        lump = np.array([d.lump_usd for d in self.deliveries])
        rate = np.array([d.accrual_usd_per_year for d in self.deliveries])
        tc = t[:, None]
        in_service = np.clip(np.minimum(tc, self.service_end(times)) - times, 0.0, None)
        out = (times <= tc) @ lump + np.nan_to_num(in_service, posinf=0.0, nan=0.0) @ rate
        if with_shortfalls is not None and self.commitments:
            out = out + ((self.commitment_times()[None, :] <= tc + 1e-12) * with_shortfalls).sum(axis=1)
        return np.asarray(out, dtype=np.float64)

    def spend_hit_years(
        self, threshold_usd: float, horizon_years: float, times: FloatArray, shortfalls: FloatArray | None
    ) -> FloatArray:
        """Exact first time cumulative spend reaches ``threshold_usd`` on each path (+inf if not by the horizon)."""
        return self.spend_hit_years_many([threshold_usd], horizon_years, times, shortfalls)[threshold_usd]

    def spend_hit_years_many(
        self, thresholds: list[float], horizon_years: float, times: FloatArray, shortfalls: FloatArray | None
    ) -> dict[float, FloatArray]:
        """:meth:`spend_hit_years` for several thresholds, solved exactly on each path.

        Spend is piecewise linear in time: lumps at deliveries (and take-or-pay payments, when they count),
        linear accrual between the breakpoints (deliveries, service ends). Spend is evaluated at every
        breakpoint; the crossing is either a jump at a breakpoint or on the linear piece before it.
        """
        n, k = times.shape
        lump = np.array([d.lump_usd for d in self.deliveries])
        rate = np.array([d.accrual_usd_per_year for d in self.deliveries])
        ends = self.service_end(times)
        parts = [times, ends]
        tc = self.commitment_times() if shortfalls is not None and self.commitments else None
        if tc is not None:
            parts.append(np.broadcast_to(tc, (n, tc.size)))
        pts = np.concatenate(parts, axis=1)
        pts = np.sort(np.where(np.isfinite(pts), pts, 1e12), axis=1)
        out = {x: np.full(n, np.inf) for x in thresholds}
        block = max(1, 4_000_000 // max(1, pts.shape[1] * k))
        for lo in range(0, n, block):
            sl = slice(lo, lo + block)
            b, t, e = pts[sl], times[sl], ends[sl]
            bb, tt, ee = b[:, :, None], t[:, None, :], e[:, None, :]
            with np.errstate(invalid="ignore"):
                acc = np.nan_to_num(np.clip(np.minimum(bb, ee) - tt, 0.0, None), nan=0.0, posinf=0.0) @ rate
            at = (tt <= bb) @ lump  # lumps paid by each breakpoint
            before = (tt < bb) @ lump  # ... strictly before it
            if tc is not None and shortfalls is not None:
                due = tc[None, None, :] <= b[:, :, None] + 1e-12
                at = at + (due * shortfalls[sl][:, None, :]).sum(axis=2)
                before = before + ((tc[None, None, :] < b[:, :, None] - 1e-12) * shortfalls[sl][:, None, :]).sum(axis=2)
            spend = acc + at
            rows = np.arange(b.shape[0])
            for x in thresholds:
                goal = x * (1.0 - 1e-9)
                reach = spend >= goal
                p = reach.argmax(axis=1)
                found = reach[rows, p]
                prev = np.maximum(p - 1, 0)
                left = acc[rows, p] + before[rows, p]  # spend just before the breakpoint
                span = b[rows, p] - b[rows, prev]
                with np.errstate(divide="ignore", invalid="ignore"):
                    slope = (acc[rows, p] - acc[rows, prev]) / span
                    on_line = b[rows, prev] + (goal - spend[rows, prev]) / slope
                linear = (p > 0) & (left >= goal) & (span > 0) & (slope > 0)
                hit = np.where(linear, on_line, b[rows, p])
                out[x][sl] = np.where(found & (hit <= horizon_years + 1e-12), hit, np.inf)
        return out

    def spend_on_grid(self, grid: FloatArray, times: FloatArray) -> FloatArray:
        """Cumulative purchase spend on each grid time, shape ``(n, len(grid))``."""
        out = np.zeros((times.shape[0], grid.size))
        ends = self.service_end(times)
        for j, d in enumerate(self.deliveries):
            tj = times[:, j : j + 1]
            if d.lump_usd:
                out += d.lump_usd * (grid[None, :] >= tj)
            if d.accrual_usd_per_year:
                out += d.accrual_usd_per_year * np.clip(np.minimum(grid[None, :], ends[:, j : j + 1]) - tj, 0.0, None)
        return out

    def mw_years(self, times: FloatArray) -> FloatArray:
        """MW-years in service on each path, shape ``(n,)``."""
        with np.errstate(invalid="ignore"):
            span = np.where(np.isfinite(times), self.service_end(times) - times, 0.0)
        return np.asarray(span @ self.mw, dtype=np.float64)

    def mw_delivered_by(self, t: float, times: FloatArray) -> FloatArray:
        return np.asarray((times <= t) @ self.mw, dtype=np.float64)

    def pv_purchases(self, times: FloatArray, rate: float) -> FloatArray:
        """Present value at ``rate`` (continuous) of purchase payments on each path."""
        lump = np.array([d.lump_usd for d in self.deliveries])
        accr = np.array([d.accrual_usd_per_year for d in self.deliveries])
        finite = np.isfinite(times)
        t0 = np.where(finite, times, 0.0)
        t1 = np.where(finite, self.service_end(t0), 0.0)
        annuity = t1 - t0 if abs(rate) < 1e-12 else (np.exp(-rate * t0) - np.exp(-rate * t1)) / rate
        disc = np.where(finite, np.exp(-rate * t0), 0.0)
        return np.asarray(disc @ lump + np.where(finite, annuity, 0.0) @ accr, dtype=np.float64)

    def pv_mw_years(self, times: FloatArray, rate: float) -> FloatArray:
        """Present value at ``rate`` of one dollar per MW-year in service, on each path."""
        finite = np.isfinite(times)
        t0 = np.where(finite, times, 0.0)
        t1 = np.where(finite, self.service_end(t0), 0.0)
        annuity = t1 - t0 if abs(rate) < 1e-12 else (np.exp(-rate * t0) - np.exp(-rate * t1)) / rate
        return np.asarray(np.where(finite, annuity, 0.0) @ self.mw, dtype=np.float64)

    def pv_buyer_cash(self, times: FloatArray, shortfalls: FloatArray, rate: float) -> FloatArray:
        """PV at ``rate`` of everything the buyer pays, net of loan repayments, on each path.

        Purchases are paid net of credits (prepayments, credited data-center funding), which are used
        against the first purchases (on a monthly grid); an unused credit is lost. Take-or-pay shortfalls are
        paid on their commitment dates. Loans go out on their date and come back with interest at maturity.
        """
        credit = sum(f.amount_usd for f in self.financing if f.credited_against_spend)
        if credit > 0.0:
            finite_ends = self.service_end(np.where(np.isfinite(times), times, 0.0))
            grid = np.arange(0.0, float(finite_ends.max()) + 1.0 / 6.0, 1.0 / 12.0)
            cash = np.maximum(self.spend_on_grid(grid, times) - credit, 0.0)
            paid = np.diff(cash, axis=1, prepend=0.0)
            pv = paid @ np.exp(-rate * grid)
        else:
            pv = self.pv_purchases(times, rate)
        if self.commitments:
            pv = pv + shortfalls @ np.exp(-rate * self.commitment_times())
        for f in self.financing:
            pv = pv + f.amount_usd * np.exp(-rate * f.time_years)
            if f.repay_time_years is not None and f.repay_usd:
                pv = pv - f.repay_usd * np.exp(-rate * f.repay_time_years)
        return np.asarray(pv, dtype=np.float64)

    @property
    def other_payments_usd(self) -> float:
        """Payments that buy nothing directly and are not credited: data-center funding."""
        return sum(
            f.amount_usd for f in self.financing if f.kind == "datacenter_funding" and not f.credited_against_spend
        )

    def shortfalls(self, times: FloatArray) -> FloatArray:
        """Take-or-pay payments ``(n, C)`` on each commitment date (minimum less spend and earlier pay)."""
        out = np.zeros((times.shape[0], len(self.commitments)))
        paid = np.zeros(times.shape[0])
        for c, com in enumerate(sorted(self.commitments, key=lambda x: x.time_years)):
            gap = np.maximum(com.minimum_spend_usd - self.spend_at(com.time_years, times) - paid, 0.0)
            out[:, c] = gap
            paid += gap
        return out

    def commitment_times(self) -> FloatArray:
        return np.array(sorted(c.time_years for c in self.commitments), dtype=np.float64)


__all__ = [
    "DAYS_PER_YEAR",
    "CapacityOption",
    "Commitment",
    "Contract",
    "DelayModel",
    "Delivery",
    "Financing",
    "ScheduleRisk",
    "date_at",
    "years_between",
]
