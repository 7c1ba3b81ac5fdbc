"""The typed SLO of a traffic class: one value object from the YAML to the capacity table, the MILP, the
simulator's summary and the reports.

A class promises targets at the 99th percentile: time to first token (``ttft_p99_ms``) and time per output
token after the first (``tpot_p99_ms``), or instead of the latter a per-user decode speed
(``min_user_tok_s``, read as ``tpot_p99_ms = 1000 / min_user_tok_s``). Unset targets are no constraint.

Two definitions of "met" are used, and every report says which one a figure uses:

* :meth:`Slo.is_met_at_p99` — the class meets its SLO: the p99 TTFT and the p99 TPOT over its requests are
  within the targets (what the planner sizes for and what ``SLO met`` means in ``tokenfleet plan``);
* :meth:`Slo.request_met` — one request meets its SLO: its own TTFT and TPOT are within the targets (what the
  simulator's ``slo_attainment``, the share of such requests, counts).

>>> s = Slo(ttft_p99_ms=800, min_user_tok_s=250)
>>> s.ttft_s, s.tpot_s
(0.8, 0.004)
>>> s.is_met_at_p99(0.5, 0.003), s.covers(Slo(ttft_p99_ms=3000, tpot_p99_ms=60))
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

SloField = Literal["ttft_p99_ms", "tpot_p99_ms", "min_user_tok_s"]
FIELDS: tuple[SloField, ...] = ("ttft_p99_ms", "tpot_p99_ms", "min_user_tok_s")
UNITS = {"ttft_p99_ms": "ms TTFT p99", "tpot_p99_ms": "ms TPOT p99", "min_user_tok_s": "tok/s/user"}
REL_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class Slo:
    """Latency targets at the 99th percentile (``None``: no target)."""

    ttft_p99_ms: float | None = None
    tpot_p99_ms: float | None = None
    min_user_tok_s: float | None = None

    @property
    def ttft_s(self) -> float:
        """The TTFT target in seconds (inf: none)."""
        return self.ttft_p99_ms / 1e3 if self.ttft_p99_ms else math.inf

    @property
    def tpot_s(self) -> float:
        """The TPOT target in seconds: ``tpot_p99_ms``, else ``1 / min_user_tok_s`` (inf: none)."""
        if self.tpot_p99_ms:
            return self.tpot_p99_ms / 1e3
        return 1.0 / self.min_user_tok_s if self.min_user_tok_s else math.inf

    @property
    def fields(self) -> tuple[SloField, ...]:
        """The targets this SLO sets (the TPOT one once: ``tpot_p99_ms`` wins over ``min_user_tok_s``)."""
        out: list[SloField] = []
        if self.ttft_p99_ms:
            out.append("ttft_p99_ms")
        if self.tpot_p99_ms:
            out.append("tpot_p99_ms")
        elif self.min_user_tok_s:
            out.append("min_user_tok_s")
        return tuple(out)

    def value(self, field: SloField) -> float | None:
        v: float | None = getattr(self, field)
        return v

    def is_met_at_p99(self, ttft_p99_s: float, tpot_p99_s: float) -> bool:
        """The class-level definition: p99 TTFT and p99 TPOT within the targets (a NaN TPOT, no request
        with two or more output tokens, does not fail it)."""
        ok = ttft_p99_s <= self.ttft_s * (1 + REL_TOL)
        return ok and (math.isnan(tpot_p99_s) or tpot_p99_s <= self.tpot_s * (1 + REL_TOL))

    def request_met(self, ttft_s: float, tpot_s: float) -> bool:
        """The per-request definition (the simulator's attainment counts these)."""
        return ttft_s <= self.ttft_s and (math.isnan(tpot_s) or tpot_s <= self.tpot_s)

    def loosened(self, factor: float) -> Slo:
        """Times x ``factor``, speed floors / ``factor`` (> 1 looser, < 1 tighter)."""
        return Slo(
            self.ttft_p99_ms * factor if self.ttft_p99_ms else None,
            self.tpot_p99_ms * factor if self.tpot_p99_ms else None,
            self.min_user_tok_s / factor if self.min_user_tok_s else None,
        )

    def with_value(self, field: SloField, value: float) -> Slo:
        return replace(self, **{field: value})

    def covers(self, other: Slo) -> bool:
        """True when meeting this SLO meets ``other`` too (each target at least as tight): a replica sized at
        this SLO may carry ``other``'s requests."""
        return (self.ttft_s <= other.ttft_s * (1 + REL_TOL)) and (self.tpot_s <= other.tpot_s * (1 + REL_TOL))

    def describe(self) -> str:
        """``TTFT p99 800 ms, >= 250 tok/s/user`` (no targets: ``none``)."""
        parts = []
        if self.ttft_p99_ms:
            parts.append(f"TTFT p99 {self.ttft_p99_ms:,.4g} ms")
        if self.tpot_p99_ms:
            parts.append(f"TPOT p99 {self.tpot_p99_ms:,.4g} ms")
        elif self.min_user_tok_s:
            parts.append(f">= {self.min_user_tok_s:,.4g} tok/s/user")
        return ", ".join(parts) or "none"


def tighter(field: SloField, a: float, b: float) -> bool:
    """Is value ``a`` of ``field`` tighter than ``b``? (a speed floor is tighter when higher)."""
    return a > b if field == "min_user_tok_s" else a < b


__all__ = ["FIELDS", "UNITS", "Slo", "SloField", "tighter"]
