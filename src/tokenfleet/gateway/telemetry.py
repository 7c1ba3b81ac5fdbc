"""Live telemetry of one backend: requests in flight, moving averages of observed TTFT / TPOT, errors.

Exponentially weighted moving averages (weight ``alpha`` on the newest sample) forget old load quickly
enough to follow a backend that slows down, without one outlier swinging the routing. All methods are
called from the event loop only, so plain attributes suffice.
"""

from __future__ import annotations

ALPHA = 0.2  # weight of the newest sample in each moving average


class BackendTelemetry:
    """Counters and moving averages for one backend; read by the routing adapter."""

    __slots__ = (
        "error_rate",
        "errors_total",
        "in_flight",
        "requests_total",
        "tpot_ms",
        "ttft_ms",
        "ttft_samples",
    )

    def __init__(self) -> None:
        self.in_flight = 0
        self.requests_total = 0
        self.errors_total = 0
        self.ttft_ms: float | None = None  # EWMA of observed time to first token
        self.tpot_ms: float | None = None  # EWMA of observed time per output token after the first
        self.error_rate = 0.0  # EWMA of failure (1) / success (0)
        self.ttft_samples = 0

    def start(self) -> None:
        self.in_flight += 1
        self.requests_total += 1

    def finish(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)

    def observe_success(self, ttft_ms: float, duration_ms: float, completion_tokens: int) -> None:
        self.ttft_ms = ttft_ms if self.ttft_ms is None else self.ttft_ms + ALPHA * (ttft_ms - self.ttft_ms)
        self.ttft_samples += 1
        if completion_tokens > 1:
            tpot = max(0.0, duration_ms - ttft_ms) / (completion_tokens - 1)
            self.tpot_ms = tpot if self.tpot_ms is None else self.tpot_ms + ALPHA * (tpot - self.tpot_ms)
        self.error_rate -= ALPHA * self.error_rate

    def observe_error(self) -> None:
        self.errors_total += 1
        self.error_rate += ALPHA * (1.0 - self.error_rate)


__all__ = ["ALPHA", "BackendTelemetry"]
