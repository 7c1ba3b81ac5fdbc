"""Circuit breaker state machine, driven by a fake clock."""

from __future__ import annotations

from tokenfleet.gateway.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_opens_after_threshold_and_probes_after_cooldown() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=3, cooldown_s=10.0, clock=clock)
    for _ in range(2):
        b.on_failure()
    assert b.state == "closed" and b.allows_request()
    b.on_failure()
    assert b.state == "open" and not b.allows_request()
    clock.t = 9.99
    assert not b.allows_request()
    clock.t = 10.0
    assert b.state == "half-open" and b.allows_request()
    b.on_attempt()
    assert not b.allows_request()  # one probe at a time
    b.on_failure()  # the probe failed: open again for a full cooldown
    assert b.state == "open"
    clock.t = 20.0
    b.on_attempt()
    b.on_success()
    assert b.state == "closed" and b.allows_request()


def test_success_resets_the_failure_count() -> None:
    b = CircuitBreaker(failure_threshold=2, cooldown_s=1.0, clock=Clock())
    b.on_failure()
    b.on_success()
    b.on_failure()
    assert b.state == "closed"
