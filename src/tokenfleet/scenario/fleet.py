"""Pools of replicas, routing, disaggregation and the facility they run in."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from tokenfleet.scenario.base import StrictModel


class LayoutSpec(StrictModel):
    """A replica's layout (:class:`tokenfleet.perf.Layout`); omitted fields take the smallest valid one."""

    num_chips: PositiveInt | None = None
    tp: PositiveInt | None = None
    pp: PositiveInt | None = None
    weight_precision: str | None = None
    kv_precision: str | None = None


class SpeculativeSpec(StrictModel):
    """Speculative decoding on a pool (:class:`tokenfleet.perf.SpecDecode`): ``draft_model`` proposes
    ``draft_tokens`` tokens per round, each accepted with probability ``acceptance``. On SRAM-dataflow
    hardware the draft gets its own systems; on HBM hardware it shares the target's chips."""

    draft_model: str
    draft_tokens: PositiveInt = 4
    acceptance: float = Field(default=0.8, ge=0.0, lt=1.0)


class SchedulerSpec(StrictModel):
    """Per-replica engine settings (vLLM names in brackets). ``None`` = the family default: HBM replicas
    256 sequences and 8192 tokens per step; SRAM-dataflow replicas 64 sequences (pipeline concurrency)."""

    max_seqs: PositiveInt | None = None  # [max_num_seqs]
    max_batched_tokens: PositiveInt | None = None  # [max_num_batched_tokens], token budget per step
    chunked_prefill: bool = True
    prefix_caching: bool = True
    block_tokens: PositiveInt = 16  # KV block size
    prefix_block_tokens: PositiveInt = 512  # tokens covered by one trace hash id (Mooncake: 512)

    @model_validator(mode="after")
    def _blocks(self) -> SchedulerSpec:
        if self.prefix_block_tokens % self.block_tokens:
            raise ValueError("prefix_block_tokens must be a multiple of block_tokens")
        return self


class PoolSpec(StrictModel):
    name: str = Field(min_length=1)
    hardware: str
    model: str | None = None  # default: the model of the traffic classes when they share one
    layout: LayoutSpec = LayoutSpec()
    replicas: PositiveInt = 1
    scheduler: SchedulerSpec = SchedulerSpec()
    tiers: list[str] = Field(
        default_factory=list
    )  # traffic tiers this pool is meant for (tier-aware routing)
    role: Literal["mixed", "prefill", "decode"] = "mixed"
    speculative: SpeculativeSpec | None = None


class RoutingSpec(StrictModel):
    policy: str = "least-outstanding"
    weights: dict[str, float] = Field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "weights": dict(self.weights)}


class DisaggregationSpec(StrictModel):
    """Prefill on ``prefill`` pools, decode on ``decode`` pools; the prompt's KV moves over a link of
    ``link_gbps`` GB/s plus ``link_latency_ms``."""

    prefill_pools: list[str] = Field(min_length=1)
    decode_pools: list[str] = Field(min_length=1)
    link_gbps: PositiveFloat = 50.0
    link_latency_ms: NonNegativeFloat = 0.5


class FacilitySpec(StrictModel):
    pue: float = Field(default=1.2, ge=1.0, le=3.0)
    usd_per_mwh: NonNegativeFloat = 80.0
    depreciation_years: PositiveFloat = 4.0


class SimSpec(StrictModel):
    seed: int = 0
    duration_s: PositiveFloat | None = None
    max_requests: PositiveInt | None = None
    exact: bool = False  # step every engine iteration (slow; for checking the closed-form mode)
    power_bin_s: PositiveFloat = 60.0  # averaging window for peak facility power


__all__ = [
    "DisaggregationSpec",
    "FacilitySpec",
    "LayoutSpec",
    "PoolSpec",
    "RoutingSpec",
    "SchedulerSpec",
    "SimSpec",
    "SpeculativeSpec",
]
