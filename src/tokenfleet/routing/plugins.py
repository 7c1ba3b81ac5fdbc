"""The plugin interfaces and the :class:`Profile` that runs them: filters -> weighted scorers -> one picker.

* A **filter** narrows the candidate rows (a boolean mask over the table). A *soft* filter that would leave
  no candidate keeps the rows it was given instead (spill-over), so "prefer" rules never drop a request.
* A **scorer** returns one score per candidate; the profile clamps it to [0, 1], multiplies by the
  scorer's weight and sums. Higher is better.
* A **picker** chooses one candidate from the summed scores.

Plugins hold no clock and do no I/O; a picker may keep a counter (round robin) or a seeded generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from tokenfleet.errors import InfeasibleError
from tokenfleet.routing.table import EndpointTable
from tokenfleet.routing.types import EndpointSnapshot, RequestInfo


@runtime_checkable
class Filter(Protocol):
    name: str
    soft: bool

    def keep(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        """Boolean array over ``idx`` (the current candidates): True = keep."""
        ...


@runtime_checkable
class Scorer(Protocol):
    name: str

    def score(self, req: RequestInfo, table: EndpointTable, idx: np.ndarray) -> np.ndarray:
        """Scores for rows ``idx``, meant to lie in [0, 1] (the profile clamps them)."""
        ...


@runtime_checkable
class Picker(Protocol):
    name: str

    def pick(self, idx: np.ndarray, scores: np.ndarray) -> int:
        """One row of the table out of the candidates ``idx`` with summed ``scores`` (same length)."""
        ...


@dataclass(frozen=True, slots=True)
class Decision:
    row: int  # index into the snapshots / table
    endpoint_id: str
    score: float  # summed weighted score of the chosen endpoint
    candidates: int  # endpoints left after the filters


@dataclass(slots=True)
class Profile:
    """A named routing policy. ``counts`` tallies what each plugin did (observability, no clock)."""

    name: str
    filters: list[Filter]
    scorers: list[tuple[Scorer, float]]
    picker: Picker
    counts: dict[str, int] = field(default_factory=dict)

    def pick_row(self, req: RequestInfo, table: EndpointTable) -> int:
        """Row of the chosen endpoint. Raises :class:`InfeasibleError` if no endpoint serves the model."""
        return self._choose(req, table)[0]

    def _choose(self, req: RequestInfo, table: EndpointTable, want_score: bool = False) -> tuple[int, float, int]:
        idx = table.candidates(req.model)
        if idx.size == 0:
            raise InfeasibleError(
                f"no healthy endpoint serves model {req.model!r} (class {req.class_name!r})",
                binding=["endpoints"],
            )
        for f in self.filters:
            keep = f.keep(req, table, idx)
            if keep.all():
                continue
            if keep.any():
                idx = idx[keep]
                self.counts[f.name] = self.counts.get(f.name, 0) + 1
            elif f.soft:
                self.counts[f.name + ".spill"] = self.counts.get(f.name + ".spill", 0) + 1
            else:
                raise InfeasibleError(
                    f"filter {f.name!r} left no endpoint for class {req.class_name!r}", binding=[f.name]
                )
        total: np.ndarray | None = None
        if idx.size > 1:
            for s, w in self.scorers:
                x = s.score(req, table, idx)
                if not getattr(s, "bounded", False):  # scorers that guarantee [0, 1] skip the clamp
                    x = np.minimum(np.maximum(x, 0.0, out=x if x.dtype.kind == "f" else None), 1.0)
                if w != 1.0:
                    x *= w
                total = x if total is None else total + x
        if total is None:
            total = np.zeros(idx.size)
        row = self.picker.pick(idx, total)
        if not want_score:
            return row, 0.0, int(idx.size)
        pos = int(np.searchsorted(idx, row))
        return row, float(total[pos]), int(idx.size)

    def pick(self, req: RequestInfo, endpoints: Sequence[EndpointSnapshot] | EndpointTable) -> Decision:
        """Choose an endpoint from snapshots (gateway) or a table (simulator)."""
        table = endpoints if isinstance(endpoints, EndpointTable) else EndpointTable.from_snapshots(endpoints)
        row, score, n = self._choose(req, table, want_score=True)
        return Decision(row, table.endpoint_id[row], score, n)

    def describe(self) -> str:
        fs = ", ".join(f.name for f in self.filters) or "none"
        ss = ", ".join(f"{s.name}x{w:g}" for s, w in self.scorers) or "none"
        return f"{self.name}: filters [{fs}] scorers [{ss}] picker {self.picker.name}"


__all__ = ["Decision", "Filter", "Picker", "Profile", "Scorer"]
