"""Health of one backend: a circuit breaker, a Retry-After cooldown and outlier ejection, in one object.

Circuit breaker: closed -> open after N consecutive failures -> half-open after a cooldown. While open, the
backend is skipped by routing. After ``cooldown_s`` one probe request is let through (half-open): success
closes the circuit, failure opens it for another cooldown; a probe that ends neither way (the client went
away, the gateway failed) is handed back by :meth:`CircuitBreaker.abandon_probe` so the next request probes.

Beside the breaker, two ways out of routing that are not failures of the circuit:

* ``cool_down(s)``: the backend answered 429 with ``Retry-After: s``; it is skipped until then.
* ``eject(s, reason)``: Envoy-style outlier ejection — a backend that hung past its pool's time-to-first-byte
  limit, or whose TTFT departs from its pool's (see :func:`is_latency_outlier`), leaves routing for ``s``
  seconds and then gets one probe like a half-open circuit.

The router reads all of it through :meth:`CircuitBreaker.allows_request`. The clock is injected so the
state machine is tested without sleeping.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Literal

State = Literal["closed", "open", "half-open"]

OUTLIER_FACTOR = 3.0  # a backend whose TTFT average exceeds this multiple of its peers' median is an outlier
OUTLIER_MIN_SAMPLES = 5


class CircuitBreaker:
    __slots__ = ("_clock", "_failures", "_opened_at", "_probing", "cooldown_s", "cooldown_until",
                 "ejections", "failure_threshold", "last_reason")

    def __init__(self, failure_threshold: int = 5, cooldown_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self.cooldown_until = 0.0  # Retry-After of a 429: skipped until then, no probe needed
        self.ejections = 0
        self.last_reason = ""

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    @property
    def probing(self) -> bool:
        return self._probing

    def cooling(self) -> float:
        """Seconds left of a Retry-After cooldown (0 when none)."""
        return max(0.0, self.cooldown_until - self._clock())

    def allows_request(self) -> bool:
        """True if a request may go to this backend now (a half-open circuit admits one probe at a time)."""
        if self.cooldown_until and self._clock() < self.cooldown_until:
            return False
        state = self.state
        if state == "closed":
            return True
        return state == "half-open" and not self._probing

    def on_attempt(self) -> bool:
        """An attempt starts; returns True if it is the half-open probe (the caller must end it)."""
        if self.state == "half-open" and not self._probing:
            self._probing = True
            return True
        return False

    def on_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def on_failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
        self._probing = False

    def abandon_probe(self) -> None:
        """The probe ended without a verdict: let the next request probe."""
        self._probing = False

    def cool_down(self, seconds: float) -> None:
        self.cooldown_until = max(self.cooldown_until, self._clock() + seconds)

    def eject(self, reason: str) -> None:
        """Outlier ejection: out of routing for one cooldown, then probed like a half-open circuit."""
        self._opened_at = self._clock()
        self._probing = False
        self.ejections += 1
        self.last_reason = reason


def is_latency_outlier(ttft: float | None, samples: int, peers_ttft: Sequence[float], floor: float) -> bool:
    """Envoy-style latency outlier: this backend's TTFT average is above ``OUTLIER_FACTOR`` times the
    median of its healthy peers' (and above ``floor``, so fast pools are not churned by noise); any one
    unit of time for all four."""
    if ttft is None or samples < OUTLIER_MIN_SAMPLES or not peers_ttft:
        return False
    return ttft > max(floor, OUTLIER_FACTOR * statistics.median(peers_ttft))


__all__ = ["OUTLIER_FACTOR", "CircuitBreaker", "State", "is_latency_outlier"]
