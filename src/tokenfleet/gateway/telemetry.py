"""Live telemetry of one backend: requests in flight, observed TTFT / TPOT, errors.

TTFT and TPOT are :class:`~tokenfleet.routing.health.ObservedLatency` averages (seconds), time-aware and
fading without new samples (:mod:`tokenfleet.routing.health`: the rule the simulator's router shares).
Each sample is measured from the start of the attempt on this backend, never from the request's arrival,
so time spent failing over from another backend, waiting for admission or checking the key is not
charged to the backend that answered. All methods run on the event loop only.
"""

from __future__ import annotations

from tokenfleet.routing.health import DEFAULT_RULE, HealthRule, ObservedLatency

ALPHA = 0.2  # weight of the newest sample in the error rate and the pools' length averages


class BackendTelemetry:
    """Counters and fading averages for one backend; read by the routing adapter."""

    __slots__ = ("error_rate", "errors_total", "in_flight", "requests_total", "rule", "tpot", "ttft")

    def __init__(self, rule: HealthRule = DEFAULT_RULE) -> None:
        self.rule = rule
        self.in_flight = 0
        self.requests_total = 0
        self.errors_total = 0
        self.ttft = ObservedLatency()  # time to first token, seconds
        self.tpot = ObservedLatency()  # time per output token after the first, seconds
        self.error_rate = 0.0  # EWMA of failure (1) / success (0)

    def start(self) -> None:
        self.in_flight += 1
        self.requests_total += 1

    def finish(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)

    def observe_success(self, now: float, ttft_s: float | None, tpot_s: float | None) -> None:
        if ttft_s is not None:
            self.ttft.observe(ttft_s, now, self.rule)
        if tpot_s is not None:
            self.tpot.observe(tpot_s, now, self.rule)
        self.error_rate -= ALPHA * self.error_rate

    def observe_error(self) -> None:
        self.errors_total += 1
        self.error_rate += ALPHA * (1.0 - self.error_rate)


__all__ = ["ALPHA", "BackendTelemetry"]
