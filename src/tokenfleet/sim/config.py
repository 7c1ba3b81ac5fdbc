"""A replica's engine limits (vLLM-style scheduler settings), shared by both simulator cores."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    max_seqs: int = 256
    max_batched_tokens: int = 8192
    chunked_prefill: bool = True
    prefix_caching: bool = True
    block_tokens: int = 16
    prefix_block_tokens: int = 512
    role: str = "mixed"  # "prefill": finish after the first token; "decode": takes prefilled sequences
    exact: bool = False


__all__ = ["SchedulerConfig"]
