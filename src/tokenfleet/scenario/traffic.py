"""Traffic classes: who sends what, how often, and the latency they are promised."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from tokenfleet.scenario.base import MAX_NAME_CHARS, MAX_TOKENS, NOT_BOOL, StrictModel, in_range
from tokenfleet.scenario.slo import Slo

Tokens = Annotated[int, NOT_BOOL, in_range(1, MAX_TOKENS, "tokens")]
MeanTokens = Annotated[float, NOT_BOOL, in_range(1, MAX_TOKENS, "tokens")]
Cv = Annotated[float, NOT_BOOL, in_range(0, 100, lo_open=True)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
MAX_RATE_RPS = 1e7


class LengthSpec(StrictModel):
    """Token-length distribution (see :class:`tokenfleet.workload.LengthDist`)."""

    dist: Literal["fixed", "uniform", "lognormal", "exponential"] = "fixed"
    value: Tokens | None = None
    low: Tokens | None = None
    high: Tokens | None = None
    mean: MeanTokens | None = None
    cv: Cv = 1.0
    min_tokens: Tokens = 1
    max_tokens: Tokens = 1 << 20

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
        lo, hi = self.min_tokens, self.max_tokens
        if lo > hi:
            raise ValueError(f"min_tokens ({lo:,}) must be <= max_tokens ({hi:,})")
        for key in {"fixed": ("value",), "uniform": ("low", "high"), "lognormal": ("mean",),
                    "exponential": ("mean",)}[self.dist]:
            v = getattr(self, key)
            if v > hi:
                raise ValueError(f"max_tokens ({hi:,}) must be >= {key} ({v:,.0f}): lengths are clipped to it")
            if v < lo:
                raise ValueError(f"min_tokens ({lo:,}) must be <= {key} ({v:,.0f}): lengths are clipped to it")
        return self


class ArrivalSpec(StrictModel):
    """Either a ``trace`` (path relative to the scenario file, or ``shared:traces/<file>``) replayed with
    ``rate_multiplier`` (and ``loop`` to repeat it), or a synthetic ``process``: ``poisson`` /
    ``gamma`` (burstiness ``cv``) / ``diurnal`` (``peak_to_mean``, ``period_s``) at ``rate_rps``."""

    trace: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    format: Literal["auto", "azure", "mooncake", "burstgpt"] = "auto"
    rate_multiplier: Annotated[float, NOT_BOOL, in_range(0, 1e6, lo_open=True)] = 1.0
    loop: bool = False
    process: Literal["poisson", "gamma", "diurnal"] | None = None
    rate_rps: Annotated[float, NOT_BOOL, in_range(0, MAX_RATE_RPS, "requests/s", lo_open=True)] | None = None
    cv: Cv = 1.0
    peak_to_mean: Annotated[float, NOT_BOOL, in_range(1.0, 2.0)] = 1.5
    period_s: Annotated[float, NOT_BOOL, in_range(1.0, 1e9, "s")] = 86400.0
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

    ttft_p99_ms: Annotated[float, NOT_BOOL, in_range(0, 3.6e6, "ms", lo_open=True)] | None = None
    tpot_p99_ms: Annotated[float, NOT_BOOL, in_range(0, 6e4, "ms", lo_open=True)] | None = None
    min_user_tok_s: Annotated[float, NOT_BOOL, in_range(0, 1e6, "tokens/s", lo_open=True)] | None = None

    @property
    def tpot_target_ms(self) -> float | None:
        if self.tpot_p99_ms is not None:
            return self.tpot_p99_ms
        return 1e3 / self.min_user_tok_s if self.min_user_tok_s else None

    def to_slo(self) -> Slo:
        """The typed value object the planner, the simulator's summary and the reports use."""
        return Slo(self.ttft_p99_ms, self.tpot_p99_ms, self.min_user_tok_s)


class TrafficClass(StrictModel):
    name: Name
    model: Name
    arrivals: ArrivalSpec
    input_tokens: LengthSpec | None = None  # required for synthetic arrivals, ignored for traces
    output_tokens: LengthSpec | None = None
    slo: SloSpec = SloSpec()
    tier: Name | None = None  # e.g. "ultra-low-latency": matched against pool tiers by tier-aware routing

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


__all__ = ["MAX_RATE_RPS", "ArrivalSpec", "LengthSpec", "Name", "SloSpec", "TrafficClass"]
