"""A circuit breaker per backend: closed -> open after N consecutive failures -> half-open after a cooldown.

While open, the backend is skipped by routing. After ``cooldown_s`` one probe request is let through
(half-open): success closes the circuit, failure opens it for another cooldown. The clock is injected so
the state machine is tested without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    __slots__ = ("_clock", "_failures", "_opened_at", "_probing", "cooldown_s", "failure_threshold")

    def __init__(self, failure_threshold: int = 5, cooldown_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    def allows_request(self) -> bool:
        """True if a request may go to this backend now (a half-open circuit admits one probe at a time)."""
        state = self.state
        if state == "closed":
            return True
        return state == "half-open" and not self._probing

    def on_attempt(self) -> None:
        if self.state == "half-open":
            self._probing = True

    def on_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def on_failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
        self._probing = False


__all__ = ["CircuitBreaker", "State"]
