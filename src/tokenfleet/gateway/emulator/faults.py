"""Failure injection for the emulator: errors, stalls and cut streams, drawn from a seeded generator.

Set at start-up (``tokenfleet emulate --error-rate 0.1 ...``) or at run time with
``POST /_emulator/faults`` and a JSON body of these fields (tests use this to break a running backend).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

from tokenfleet.errors import InputError


@dataclass(frozen=True, slots=True)
class Faults:
    error_rate: float = 0.0  # share of requests answered with ``error_status`` before any token
    error_status: int = 500
    retry_after_s: float | None = None  # sent with 429 / 503 errors
    stall_rate: float = 0.0  # share of requests held ``stall_ms`` before their first token
    stall_ms: float = 0.0
    cut_rate: float = 0.0  # share of streams cut (connection dropped) after ``cut_after_tokens`` tokens
    cut_after_tokens: int = 3

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faults:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise InputError(f"unknown fault fields {sorted(unknown)}; known: {sorted(names)}", "faults")
        f = cls(**data)
        for name in ("error_rate", "stall_rate", "cut_rate"):
            v = getattr(f, name)
            if not 0.0 <= v <= 1.0:
                raise InputError(f"must lie in [0, 1], got {v}", f"faults.{name}")
        return f


class FaultInjector:
    def __init__(self, faults: Faults | None = None, seed: int = 0) -> None:
        self.faults = faults or Faults()
        self._rng = random.Random(seed)

    def draw_error(self) -> bool:
        return self.faults.error_rate > 0 and self._rng.random() < self.faults.error_rate

    def draw_stall_s(self) -> float:
        f = self.faults
        return f.stall_ms / 1e3 if f.stall_rate > 0 and self._rng.random() < f.stall_rate else 0.0

    def draw_cut_after(self) -> int | None:
        f = self.faults
        return f.cut_after_tokens if f.cut_rate > 0 and self._rng.random() < f.cut_rate else None


__all__ = ["FaultInjector", "Faults"]
