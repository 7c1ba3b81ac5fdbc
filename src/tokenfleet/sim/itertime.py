"""Closed-form time of a run of decode iterations whose batch composition does not change.

In a run of ``m`` iterations over ``n`` decoding sequences the summed context grows by ``n`` per iteration,
so iteration ``k`` takes ``f(k) = step_time(0, n, C0 + k n)``. The performance model is used as a black
box: :class:`IterationTimes` samples ``f`` and splits ``[0, m)`` into pieces on which ``f`` is affine
(checked at each piece's midpoint, which is exact for convex piecewise-affine costs such as a roofline's
``max(compute, memory)``; a non-affine cost splits down to single iterations, i.e. exact stepping).
Sums of ``f`` over a piece are then arithmetic series, and "the first iteration boundary after time t"
is a quadratic solve — so a run costs a handful of ``step_time`` calls however long it is.

Part of the simulator core: ``itertime.pxd`` gives the compiled twin its C types (see :mod:`tokenfleet.sim.core`).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable

REL_TOL = 1e-12


class IterationTimes:
    """Cumulative time of the first ``j`` iterations, ``S(j)``, for ``0 <= j <= m``."""

    __slots__ = ("_a", "_f0", "_slope", "_starts", "_sums", "m")

    def __init__(self, f: Callable[[int], float], m: int, f0: float | None = None) -> None:
        self.m = m
        self._starts: list[int] = []
        self._f0: list[float] = []
        self._slope: list[float] = []
        if m == 1:
            self._starts.append(0)
            self._f0.append(f(0) if f0 is None else f0)
            self._slope.append(0.0)
            self._sums = [0.0, self._f0[0]]
            self._a = self._starts
            return
        if m > 0:
            fa = f(0) if f0 is None else f0
            fb = f(m - 1)
            # the common case: affine over the whole run, one piece (checked at the midpoint)
            slope = line_slope(fa, fb, f((m - 1) // 2) if m > 2 else fb, m)
            if slope == slope:
                self._starts.append(0)
                self._f0.append(fa)
                self._slope.append(slope)
                self._sums = [0.0, affine_sum(fa, slope, m)]
                self._a = self._starts
                return
            self._split(f, 0, m - 1, fa, fb)
        self._sums = [0.0]
        for i, a in enumerate(self._starts):
            b = self._starts[i + 1] if i + 1 < len(self._starts) else m
            self._sums.append(self._sums[-1] + self._partial(i, b - a))
        self._a = self._starts  # alias kept short for the hot path

    def _split(self, f: Callable[[int], float], a: int, b: int, fa: float, fb: float) -> None:
        if b - a <= 1:
            self._add(a, fa, fb - fa if b > a else 0.0)
            return
        mid = (a + b) // 2
        fm = f(mid)
        line = fa + (fb - fa) * (mid - a) / (b - a)
        if abs(line - fm) <= REL_TOL * abs(fm):
            self._add(a, fa, (fb - fa) / (b - a))
            return
        self._split(f, a, mid, fa, fm)
        self._split(f, mid + 1, b, f(mid + 1), fb)

    def _add(self, a: int, fa: float, slope: float) -> None:
        self._starts.append(a)
        self._f0.append(fa)
        self._slope.append(slope)

    def _partial(self, i: int, c: int) -> float:
        """Time of the first ``c`` iterations of piece ``i``."""
        return affine_sum(self._f0[i], self._slope[i], c)

    def first(self) -> float:
        return self._f0[0] if self._f0 else 0.0

    def total(self, j: int) -> float:
        """S(j): time of iterations 0 .. j-1."""
        if j <= 0:
            return 0.0
        i = bisect_right(self._starts, j - 1) - 1
        return self._sums[i] + self._partial(i, j - self._starts[i])

    def boundary_at_or_after(self, dt: float) -> int:
        """Smallest ``j`` in [0, m] with S(j) >= dt (``m`` if the run ends first)."""
        if dt <= 0.0:
            return 0
        sums, n = self._sums, len(self._starts)
        i = bisect_right(sums, dt, 0, n + 1) - 1  # piece where the cumulative time crosses dt
        if i >= n:
            return self.m
        return min(self._starts[i] + crossing(self._f0[i], self._slope[i], dt - sums[i]), self.m)


# ---- one affine piece, without an object (the replica's hot path uses these for single-piece runs) ----
def line_slope(fa: float, fb: float, fm: float, m: int) -> float:
    """Slope of ``f`` over a run of ``m >= 2`` iterations from ``fa = f(0)``, ``fb = f(m - 1)`` and
    ``fm = f((m - 1) // 2)`` when the midpoint lies on the line (always for ``m == 2``), else NaN."""
    if m == 2:
        return fb - fa
    mid = (m - 1) // 2
    if abs(fa + (fb - fa) * mid / (m - 1) - fm) <= REL_TOL * abs(fm):
        return (fb - fa) / (m - 1)
    return math.nan


def affine_sum(f0: float, slope: float, c: int) -> float:
    """Time of the first ``c`` iterations of an affine piece ``f(k) = f0 + slope k``."""
    return c * f0 + slope * c * (c - 1) * 0.5


def crossing(f0: float, s: float, rem: float) -> int:
    """Smallest ``c >= 0`` with ``affine_sum(f0, s, c) >= rem`` (a quadratic solve, then exact checks)."""
    if abs(s) < 1e-300:
        c = math.ceil(rem / f0) if f0 > 0 else 0
    else:  # s/2 c^2 + (f0 - s/2) c - rem = 0
        bq = f0 - 0.5 * s
        disc = max(bq * bq + 2.0 * s * rem, 0.0)
        c = math.ceil((-bq + math.sqrt(disc)) / s)
    c = max(c, 0)
    while c > 0 and (c - 1) * f0 + s * (c - 1) * (c - 2) * 0.5 >= rem:  # affine_sum(f0, s, c - 1), inlined
        c -= 1
    while c * f0 + s * c * (c - 1) * 0.5 < rem:  # affine_sum(f0, s, c)
        c += 1
    return c


__all__ = ["IterationTimes", "affine_sum", "crossing", "line_slope"]
