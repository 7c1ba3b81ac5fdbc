"""Single-stream figures: time to first token and per-user decode speed, with optional speculative decoding."""

from __future__ import annotations

from tokenfleet.perf.deployment import Deployment
from tokenfleet.perf.speculative import SpecDecode, round_cost


def prefill_s(dep: Deployment, prompt_tokens: int) -> float:
    """Engine time to prefill one prompt alone (no API overhead)."""
    return dep.step_time(prompt_tokens, 0, 0)


def ttft_s(dep: Deployment, prompt_tokens: int, include_request_overhead: bool = True) -> float:
    """Time to first token of one request on an idle replica."""
    base = prefill_s(dep, prompt_tokens)
    return base + (dep.params.request_overhead_s if include_request_overhead else 0.0)


def decode_step_s(dep: Deployment, context_tokens: int, spec: SpecDecode | None = None) -> float:
    """Seconds per output token for one user at a given context length."""
    if spec is None:
        return dep.step_time(0, 1, context_tokens)
    return round_cost(dep, spec, 1, context_tokens).time_s / spec.tokens_per_round


__all__ = ["SpecDecode", "decode_step_s", "per_user_tok_s", "prefill_s", "ttft_s"]


def per_user_tok_s(dep: Deployment, prompt_tokens: int, output_tokens: int,
                   spec: SpecDecode | None = None) -> float:
    """Output tokens/s one user sees while decoding (at the mean context of the answer)."""
    return 1.0 / decode_step_s(dep, prompt_tokens + output_tokens // 2, spec)
