"""Benchmark workload shapes (MLPerf datasets, fixed-length and single-stream probes), from ``data/workloads.yaml``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    workload_id: str
    description: str
    input_tokens_mean: float
    output_tokens_mean: float
    source_url: str
    input_tokens_max: int = 0
    output_tokens_max: int = 0
    notes: str = ""
