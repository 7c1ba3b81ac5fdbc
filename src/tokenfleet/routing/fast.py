"""Incremental routing for the simulator: the least-outstanding choice without scoring every endpoint.

:class:`LeastOutstandingIndex` gives exactly the row that ``Profile.pick_row`` gives for a profile with no
filters, one :class:`~tokenfleet.routing.scorers.OutstandingScorer` and the :class:`MaxScorePicker`
(the ``least-outstanding`` policy, whatever its weight). That profile scores ``(hi - x) / (hi - lo)`` over
the candidates' in-flight counts ``x`` and picks among the candidates within 1e-12 of the best score,
rotating with the picker's counter: with integer counts, those are the candidates at the minimum count.
The index keeps, per model, the endpoints bucketed by in-flight count (each bucket in row order) and the
minimum, updated when an endpoint's count changes, so a decision costs O(1) instead of a few numpy
passes over every endpoint. It shares the picker's counter with the profile, and answers -1, leaving the
decision to the profile, whenever it cannot vouch for the same answer (a count spread so wide that float
rounding could tie neighbours, or a model no candidate serves: the profile then raises its error).
"""

from __future__ import annotations

from bisect import bisect_left, insort

import numpy as np

from tokenfleet.routing.pickers import MaxScorePicker
from tokenfleet.routing.plugins import Profile
from tokenfleet.routing.scorers import OutstandingScorer
from tokenfleet.routing.table import EndpointTable

SCAN = 64  # when the minimum bucket empties, look this far up before taking min() of the buckets


class _Group:
    """The candidates of one model: in-flight count -> rows with that count (ascending), and the minimum."""

    __slots__ = ("buckets", "cand", "hi", "lo", "rows")

    def __init__(self, cand: np.ndarray, in_flight: list[int]) -> None:
        self.cand = cand  # the table's cached candidate array this group was built from
        self.rows: list[int] = cand.tolist()
        self.buckets: dict[int, list[int]] = {}
        for r in self.rows:
            self.buckets.setdefault(in_flight[r], []).append(r)
        self.lo = min(self.buckets) if self.buckets else 0
        self.hi = max(self.buckets) if self.buckets else 0  # upper bound of the counts (never lowered)


class LeastOutstandingIndex:
    """Incremental least-outstanding decisions over one :class:`EndpointTable`.

    The caller reports every change of a row's in-flight count with :meth:`set`, then asks
    :meth:`pick_row`; when that answers -1 it brings the table up to date and asks ``profile.pick_row``.
    """

    __slots__ = ("_groups", "_of_row", "_picker", "counts", "profile", "table", "weight")

    def __init__(self, profile: Profile, table: EndpointTable) -> None:
        if not self.applies(profile):
            raise ValueError(f"{profile.name!r} is not a least-outstanding profile")
        self.profile, self.table = profile, table
        self.weight = profile.scorers[0][1]
        assert isinstance(profile.picker, MaxScorePicker)
        self._picker = profile.picker  # its tie-rotation counter is shared with the profile
        self.counts: list[int] = table.in_flight.tolist()  # per row, as last set (read-only)
        self._groups: dict[str, _Group] = {}
        self._of_row: list[_Group | None] = [None] * len(table)

    @staticmethod
    def applies(profile: Profile) -> bool:
        """True for a profile whose choice this index reproduces exactly."""
        return (
            not profile.filters
            and len(profile.scorers) == 1
            and type(profile.scorers[0][0]) is OutstandingScorer
            and profile.scorers[0][1] > 0
            and type(profile.picker) is MaxScorePicker
        )

    def _group(self, model: str) -> _Group:
        cand = self.table.candidates(model)  # a new array when health changes: rebuild then
        g = self._groups.get(model)
        if g is None or g.cand is not cand:
            if g is not None:
                for r in g.rows:
                    self._of_row[r] = None
            g = self._groups[model] = _Group(cand, self.counts)
            for r in g.rows:
                self._of_row[r] = g
        return g

    def set(self, row: int, in_flight: int) -> None:
        """Row ``row`` now has ``in_flight`` requests in flight."""
        old = self.counts[row]
        if old == in_flight:
            return
        self.counts[row] = in_flight
        g = self._of_row[row]
        if g is None:  # not a candidate of any model asked for yet
            return
        buckets = g.buckets
        b = buckets[old]
        if len(b) == 1:
            del buckets[old]
        else:
            del b[bisect_left(b, row)]
        nb = buckets.get(in_flight)
        if nb is None:
            buckets[in_flight] = [row]
        else:
            insort(nb, row)
        if in_flight > g.hi:
            g.hi = in_flight
        if in_flight < g.lo:
            g.lo = in_flight
        elif old == g.lo and old not in buckets:  # the minimum moved up
            lo, top = old + 1, old + SCAN
            while lo not in buckets:
                lo += 1
                if lo > top:
                    lo = min(buckets)
                    break
            g.lo = lo

    def pick_row(self, model: str) -> int:
        """The row ``profile.pick_row(req, table)`` would choose for a request for ``model``, or -1 when the
        index cannot vouch for it (no candidate, or a count spread so wide that float rounding could tie
        neighbours): then ask the profile (the table must be current)."""
        g = self._group(model)
        rows = g.rows
        if len(rows) == 1:
            return rows[0]
        # the second-lowest count scores at most w (1 - 1/spread): keep it clear of the 1e-12 tolerance
        spread = g.hi - g.lo
        if not rows or spread * 1e-9 >= self.weight or spread >= 1 << 31:
            return -1
        tied = g.buckets[g.lo]
        return tied[self._picker.take_turn(len(tied))]


__all__ = ["LeastOutstandingIndex"]
