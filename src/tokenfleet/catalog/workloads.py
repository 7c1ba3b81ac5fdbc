"""Benchmark workload shapes (MLPerf datasets, fixed-length and single-stream probes), from ``data/workloads.yaml``.

Fixed-length shapes are not listed: any id of the form ``isl{N}-osl{M}`` (``isl1000-osl1000``,
``isl10000-osl1500``) is parsed by :func:`fixed_length` into N input and M output tokens per request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FIXED_LENGTH_RE = re.compile(r"isl(\d+)-osl(\d+)")


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    workload_id: str
    description: str
    input_tokens_mean: float
    output_tokens_mean: float
    source_url: str
    input_tokens_max: int = 0
    output_tokens_max: int = 0
    # the measured chips only decode (the decode node of a prefill / decode-disaggregated deployment): prompts
    # are prefilled elsewhere and arrive as KV, so no step of theirs carries prompt tokens
    decode_only: bool = False
    notes: str = ""


def fixed_length(workload_id: str) -> WorkloadSpec | None:
    """``isl{N}-osl{M}`` as a workload of exactly N input and M output tokens; None if the id has another form
    (or N, M are not positive)."""
    m = FIXED_LENGTH_RE.fullmatch(workload_id)
    if m is None:
        return None
    isl, osl = int(m.group(1)), int(m.group(2))
    if isl < 1 or osl < 1:
        return None
    return WorkloadSpec(workload_id, f"Fixed {isl:,} input / {osl:,} output tokens per request", float(isl),
                        float(osl), "https://github.com/NVIDIA/TensorRT-LLM/blob/main/docs/source/performance/"
                        "perf-overview.md", isl, osl,
                        notes="Fixed-length shape parsed from the id. Exact by definition.")
