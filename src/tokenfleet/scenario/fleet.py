"""Pools of replicas, routing, disaggregation and the facility they run in."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from tokenfleet.scenario.base import MAX_NAME_CHARS, MAX_TOKENS, NOT_BOOL, StrictModel, in_range

MAX_REPLICAS = 10_000  # per pool: the simulator models one cell of a fleet; scale traffic, not replicas
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
Precision = Annotated[str, Field(min_length=1, max_length=16)]


class LayoutSpec(StrictModel):
    """A replica's layout (:class:`tokenfleet.perf.Layout`); omitted fields take the smallest valid one."""

    num_chips: Annotated[int, NOT_BOOL, in_range(1, 4096, "chips")] | None = None
    tp: Annotated[int, NOT_BOOL, in_range(1, 1024)] | None = None
    pp: Annotated[int, NOT_BOOL, in_range(1, 4096)] | None = None
    weight_precision: Precision | None = None
    kv_precision: Precision | None = None


class SpeculativeSpec(StrictModel):
    """Speculative decoding on a pool (:class:`tokenfleet.perf.SpecDecode`): ``draft_model`` proposes
    ``draft_tokens`` tokens per round, each accepted with probability ``acceptance``. On SRAM-dataflow
    hardware the draft gets its own systems; on HBM hardware it shares the target's chips."""

    draft_model: Name
    draft_tokens: Annotated[int, NOT_BOOL, in_range(1, 64, "tokens")] = 4
    acceptance: float = Field(default=0.8, ge=0.0, lt=1.0)


class SchedulerSpec(StrictModel):
    """Per-replica engine settings (vLLM names in brackets). ``None`` = the family default: HBM replicas
    256 sequences and 8192 tokens per step; SRAM-dataflow replicas 64 sequences (pipeline concurrency)."""

    max_seqs: Annotated[int, NOT_BOOL, in_range(1, 65536, "sequences")] | None = None  # [max_num_seqs]
    max_batched_tokens: Annotated[int, NOT_BOOL, in_range(1, MAX_TOKENS, "tokens")] | None = None  # per step
    chunked_prefill: bool = True
    prefix_caching: bool = True
    block_tokens: Annotated[int, NOT_BOOL, in_range(1, 4096, "tokens")] = 16  # KV block size
    prefix_block_tokens: Annotated[int, NOT_BOOL, in_range(1, 65536, "tokens")] = 512  # per trace hash id

    @model_validator(mode="after")
    def _blocks(self) -> SchedulerSpec:
        if self.prefix_block_tokens % self.block_tokens:
            raise ValueError("prefix_block_tokens must be a multiple of block_tokens")
        return self


class PoolSpec(StrictModel):
    name: Name
    hardware: Name
    model: Name | None = None  # default: the model of the traffic classes when they share one
    layout: LayoutSpec = LayoutSpec()
    replicas: Annotated[int, NOT_BOOL, in_range(1, MAX_REPLICAS)] = 1
    scheduler: SchedulerSpec = SchedulerSpec()
    tiers: list[Name] = Field(default_factory=list, max_length=32)  # traffic tiers this pool is meant for
    role: Literal["mixed", "prefill", "decode"] = "mixed"
    speculative: SpeculativeSpec | None = None

    @model_validator(mode="after")
    def _unique_tiers(self) -> PoolSpec:
        if len(set(self.tiers)) != len(self.tiers):
            raise ValueError(f"tiers must be unique, got {self.tiers}")
        return self


class RoutingSpec(StrictModel):
    policy: Name = "least-outstanding"
    weights: dict[Name, Annotated[float, NOT_BOOL, in_range(0, 1e6)]] = Field(default_factory=dict, max_length=64)

    def as_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "weights": dict(self.weights)}


class DisaggregationSpec(StrictModel):
    """Prefill on ``prefill`` pools, decode on ``decode`` pools; the prompt's KV moves over a link of
    ``link_gbps`` GB/s plus ``link_latency_ms``."""

    prefill_pools: list[Name] = Field(min_length=1, max_length=200)
    decode_pools: list[Name] = Field(min_length=1, max_length=200)
    link_gbps: Annotated[float, NOT_BOOL, in_range(0, 1e5, "GB/s", lo_open=True)] = 50.0
    link_latency_ms: Annotated[float, NOT_BOOL, in_range(0, 1e5, "ms")] = 0.5

    @model_validator(mode="after")
    def _disjoint(self) -> DisaggregationSpec:
        for key in ("prefill_pools", "decode_pools"):
            names = getattr(self, key)
            if len(set(names)) != len(names):
                raise ValueError(f"{key} lists a pool twice: {names}")
        both = sorted(set(self.prefill_pools) & set(self.decode_pools))
        if both:
            raise ValueError(f"pool(s) {both} are in both prefill_pools and decode_pools")
        return self


class FacilitySpec(StrictModel):
    pue: Annotated[float, NOT_BOOL, in_range(1.0, 3.0)] = 1.2
    usd_per_mwh: Annotated[float, NOT_BOOL, in_range(0.0, 1e5, "$/MWh")] = 80.0
    depreciation_years: Annotated[float, NOT_BOOL, in_range(0.0, 50.0, "years", lo_open=True)] = 4.0


class SimSpec(StrictModel):
    seed: Annotated[int, NOT_BOOL, in_range(0, 2**32 - 1)] = 0
    duration_s: Annotated[float, NOT_BOOL, in_range(0.0, 1e9, "s", lo_open=True)] | None = None
    max_requests: Annotated[int, NOT_BOOL, in_range(1, 1e9, "requests")] | None = None
    exact: bool = False  # step every engine iteration (slow; for checking the closed-form mode)
    power_bin_s: Annotated[float, NOT_BOOL, in_range(1e-3, 1e7, "s")] = 60.0  # window for peak facility power


__all__ = [
    "MAX_REPLICAS",
    "DisaggregationSpec",
    "FacilitySpec",
    "LayoutSpec",
    "PoolSpec",
    "RoutingSpec",
    "SchedulerSpec",
    "SimSpec",
    "SpeculativeSpec",
]
