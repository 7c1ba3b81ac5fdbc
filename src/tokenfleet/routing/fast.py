"""Incremental routing for the simulator: the built-in choices that need no scoring of every endpoint.

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

:class:`RoundRobinIndex` gives the ``round-robin`` policy's row (no filters, no scorers, the
:class:`RoundRobinPicker`) from the cached candidates and the picker's own counter: it reads no endpoint
state, so the simulator publishes none for it. :func:`fast_index` returns the index that reproduces a
profile, or None.

Part of the simulator core: ``fast.pxd`` gives the compiled twin its C types (see :mod:`tokenfleet.sim.core`).
"""

from __future__ import annotations

from bisect import bisect_left, insort

import numpy as np

from tokenfleet.routing.pickers import MaxScorePicker, RoundRobinPicker
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


class FastIndex:
    """An incremental router over one :class:`EndpointTable` that reproduces one profile's decisions.

    The caller reports every change of a row's in-flight count with :meth:`set`, then asks
    :meth:`pick_row`; when that answers -1 it brings the table up to date and asks ``profile.pick_row``.
    ``reads_state`` is False when decisions read no endpoint state at all (the caller may skip publishing).
    """

    __slots__ = ("counts", "profile", "reads_state", "table")

    def __init__(self, profile: Profile, table: EndpointTable) -> None:
        self.profile, self.table = profile, table
        self.counts: list[int] = table.in_flight.tolist()  # per row, as last set (read-only)
        self.reads_state = True

    def set(self, row: int, in_flight: int) -> None:
        """Row ``row`` now has ``in_flight`` requests in flight."""
        self.counts[row] = in_flight

    def pick_row(self, model: str) -> int:
        """The row the profile would choose for a request for ``model``, or -1 (ask the profile)."""
        return -1


class RoundRobinIndex(FastIndex):
    """The ``round-robin`` policy's decisions: the next candidate in turn, sharing the picker's counter."""

    __slots__ = ("_picker",)

    def __init__(self, profile: Profile, table: EndpointTable) -> None:
        if not self.applies(profile):
            raise ValueError(f"{profile.name!r} is not a round-robin profile")
        super().__init__(profile, table)
        assert isinstance(profile.picker, RoundRobinPicker)
        self._picker = profile.picker
        self.reads_state = False

    @staticmethod
    def applies(profile: Profile) -> bool:
        return not profile.filters and not profile.scorers and type(profile.picker) is RoundRobinPicker

    def pick_row(self, model: str) -> int:
        cand = self.table.candidates(model)
        if not cand.size:
            return -1
        p = self._picker
        p._turn += 1  # RoundRobinPicker.pick
        return int(cand[p._turn % cand.size])


class LeastOutstandingIndex(FastIndex):
    """Incremental least-outstanding decisions (see the module)."""

    __slots__ = ("_groups", "_of_row", "_picker", "weight")

    def __init__(self, profile: Profile, table: EndpointTable) -> None:
        if not self.applies(profile):
            raise ValueError(f"{profile.name!r} is not a least-outstanding profile")
        super().__init__(profile, table)
        self.weight = profile.scorers[0][1]
        assert isinstance(profile.picker, MaxScorePicker)
        self._picker = profile.picker  # its tie-rotation counter is shared with the profile
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
        table = self.table
        cand = table._cand.get(model)  # EndpointTable.candidates, cached: a new array when health changes
        if cand is None:
            cand = table.candidates(model)
        g = self._groups.get(model)
        if g is not None and g.cand is cand:
            return g
        if g is not None:
            for r in g.rows:
                self._of_row[r] = None
        new = _Group(cand, self.counts)
        self._groups[model] = new
        for r in new.rows:
            self._of_row[r] = new
        return new

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
        p = self._picker
        p._turn += 1  # MaxScorePicker.take_turn
        return tied[p._turn % len(tied)]


def fast_index(profile: Profile, table: EndpointTable) -> FastIndex | None:
    """The incremental index that reproduces ``profile`` over ``table``, or None (score the table)."""
    if LeastOutstandingIndex.applies(profile):
        return LeastOutstandingIndex(profile, table)
    if RoundRobinIndex.applies(profile):
        return RoundRobinIndex(profile, table)
    return None


__all__ = ["FastIndex", "LeastOutstandingIndex", "RoundRobinIndex", "fast_index"]
