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


def test_retry_after_cooldown_skips_without_opening_the_circuit() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, cooldown_s=10.0, clock=clock)
    b.cool_down(2.5)
    assert b.state == "closed" and not b.allows_request() and b.cooling() == 2.5
    clock.t = 2.5
    assert b.allows_request() and b.cooling() == 0.0


def test_ejection_then_one_probe_and_an_abandoned_probe_is_handed_back() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=5, cooldown_s=3.0, clock=clock)
    b.eject("no first byte within 2 s")
    assert b.state == "open" and b.ejections == 1 and not b.allows_request()
    clock.t = 3.0
    assert b.on_attempt() and not b.allows_request()  # the probe is out
    assert not b.on_attempt()  # a second attempt is not a probe
    b.abandon_probe()  # the client left: no verdict
    assert b.allows_request() and b.on_attempt()
    b.on_success()
    assert b.state == "closed"


def test_latency_outliers_follow_envoy() -> None:
    from tokenfleet.gateway.breaker import OUTLIER_MIN_SAMPLES, is_latency_outlier

    peers = [100.0, 120.0, 110.0]
    assert is_latency_outlier(400.0, OUTLIER_MIN_SAMPLES, peers, floor=50.0)  # > 3 x the median 110
    assert not is_latency_outlier(300.0, OUTLIER_MIN_SAMPLES, peers, floor=50.0)
    assert not is_latency_outlier(400.0, OUTLIER_MIN_SAMPLES - 1, peers, floor=50.0)  # too few samples
    assert not is_latency_outlier(400.0, OUTLIER_MIN_SAMPLES, [], floor=50.0)  # no peers to compare
    assert not is_latency_outlier(400.0, OUTLIER_MIN_SAMPLES, peers, floor=1000.0)  # under the floor
