"""Traffic classes: who sends what, how often, and the latency they are promised."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from tokenfleet.scenario.base import StrictModel


class LengthSpec(StrictModel):
    """Token-length distribution (see :class:`tokenfleet.workload.LengthDist`)."""

    dist: Literal["fixed", "uniform", "lognormal", "exponential"] = "fixed"
    value: PositiveInt | None = None
    low: PositiveInt | None = None
    high: PositiveInt | None = None
    mean: PositiveFloat | None = None
    cv: PositiveFloat = 1.0
    min_tokens: PositiveInt = 1
    max_tokens: PositiveInt = 1 << 20

    @model_validator(mode="after")
    def _needs(self) -> LengthSpec:
        need = {
            "fixed": ("value",),
            "uniform": ("low", "high"),
            "lognormal": ("mean",),
            "exponential": ("mean",),
        }[self.dist]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"dist {self.dist!r} needs {', '.join(missing)}")
        if self.dist == "uniform" and self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError("low must be <= high")
        return self


class ArrivalSpec(StrictModel):
    """Either a ``trace`` (path relative to the scenario file, or ``shared:traces/<file>``) replayed with
    ``rate_multiplier`` (and ``loop`` to repeat it), or a synthetic ``process``: ``poisson`` /
    ``gamma`` (burstiness ``cv``) / ``diurnal`` (``peak_to_mean``, ``period_s``) at ``rate_rps``."""

    trace: str | None = None
    format: Literal["auto", "azure", "mooncake", "burstgpt"] = "auto"
    rate_multiplier: PositiveFloat = 1.0
    loop: bool = False
    process: Literal["poisson", "gamma", "diurnal"] | None = None
    rate_rps: PositiveFloat | None = None
    cv: PositiveFloat = 1.0
    peak_to_mean: float = Field(default=1.5, ge=1.0, le=2.0)
    period_s: PositiveFloat = 86400.0
    lengths_from_trace: bool = (
        False  # synthetic arrivals with (prompt, output) pairs resampled from ``trace``
    )

    @model_validator(mode="after")
    def _one_kind(self) -> ArrivalSpec:
        if self.process is None and self.trace is None:
            raise ValueError("give a trace file or a synthetic process (poisson, gamma, diurnal)")
        if self.process is not None and self.rate_rps is None:
            raise ValueError(f"process {self.process!r} needs rate_rps")
        if self.lengths_from_trace and (self.trace is None or self.process is None):
            raise ValueError("lengths_from_trace needs both a trace and a process")
        return self


class SloSpec(StrictModel):
    """Latency targets at the 99th percentile; ``min_user_tok_s`` is an alternative to ``tpot_p99_ms``."""

    ttft_p99_ms: PositiveFloat | None = None
    tpot_p99_ms: PositiveFloat | None = None
    min_user_tok_s: PositiveFloat | None = None

    @property
    def tpot_target_ms(self) -> float | None:
        if self.tpot_p99_ms is not None:
            return self.tpot_p99_ms
        return 1e3 / self.min_user_tok_s if self.min_user_tok_s else None


class TrafficClass(StrictModel):
    name: str = Field(min_length=1)
    model: str
    arrivals: ArrivalSpec
    input_tokens: LengthSpec | None = None  # required for synthetic arrivals, ignored for traces
    output_tokens: LengthSpec | None = None
    slo: SloSpec = SloSpec()
    tier: str | None = None  # e.g. "ultra-low-latency": matched against pool tiers by tier-aware routing

    @model_validator(mode="after")
    def _lengths(self) -> TrafficClass:
        a = self.arrivals
        if (
            a.process is not None
            and not a.lengths_from_trace
            and (self.input_tokens is None or self.output_tokens is None)
        ):
            raise ValueError("synthetic arrivals need input_tokens and output_tokens (or lengths_from_trace)")
        return self


__all__ = ["ArrivalSpec", "LengthSpec", "SloSpec", "TrafficClass"]
