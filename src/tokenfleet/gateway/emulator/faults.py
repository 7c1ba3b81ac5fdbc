"""Failure injection for the emulator: errors (429 with ``Retry-After`` included), stalls, hangs and cut
streams, drawn from a seeded generator. A hung request never sends its first byte (a streamed one sends
its headers, then nothing) until the client gives up — the backend a time-to-first-byte limit is for.

Set at start-up (``tokenfleet emulate --error-rate 0.1 ...``) or at run time with
``POST /_emulator/faults`` and a JSON body of these fields (tests use this to break a running backend).
"""

from __future__ import annotations

import math
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
    hang_rate: float = 0.0  # share of requests that never send a first byte

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faults:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise InputError(f"unknown fault fields {sorted(unknown)}; known: {sorted(names)}", "faults")
        for name, v in data.items():
            ok_type = int if name in ("error_status", "cut_after_tokens") else (int, float)
            if isinstance(v, bool) or not (isinstance(v, ok_type) or (name == "retry_after_s" and v is None)):
                raise InputError(f"must be a number, got {v!r}", f"faults.{name}")
        f = cls(**data)
        for name in ("error_rate", "stall_rate", "cut_rate", "hang_rate"):
            v = getattr(f, name)
            if not 0.0 <= v <= 1.0:
                raise InputError(f"must lie in [0, 1], got {v}", f"faults.{name}")
        if not 400 <= f.error_status <= 599:
            raise InputError(f"must be an HTTP error status 400-599, got {f.error_status}", "faults.error_status")
        for name in ("stall_ms", "retry_after_s"):
            v = getattr(f, name)
            if v is not None and not (math.isfinite(v) and 0 <= v <= 86_400_000):
                raise InputError(f"must be a finite number >= 0, got {v}", f"faults.{name}")
        if not 0 <= f.cut_after_tokens <= 1_000_000:
            raise InputError(f"must lie in [0, 1000000], got {f.cut_after_tokens}", "faults.cut_after_tokens")
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

    def draw_hang(self) -> bool:
        return self.faults.hang_rate > 0 and self._rng.random() < self.faults.hang_rate

    def draw_cut_after(self) -> int | None:
        f = self.faults
        return f.cut_after_tokens if f.cut_rate > 0 and self._rng.random() < f.cut_rate else None


__all__ = ["FaultInjector", "Faults"]
