"""Single-stream figures: time to first token and per-user decode speed, with optional speculative decoding."""

from __future__ import annotations

from dataclasses import dataclass

from tokenfleet.errors import InputError
from tokenfleet.perf.deployment import Deployment


@dataclass(frozen=True, slots=True)
class SpecDecode:
    """Speculative decoding: a draft proposes ``draft_tokens`` tokens, the target verifies them in one step.

    ``acceptance`` is the probability each drafted token is accepted (independent, as in Leviathan et al.
    2023), so a round yields ``(1 - a**(k+1)) / (1 - a)`` tokens on average.
    """

    draft: Deployment
    draft_tokens: int = 4
    acceptance: float = 0.8

    def __post_init__(self) -> None:
        if not 0.0 <= self.acceptance < 1.0:
            raise InputError(f"speculative acceptance must be in [0, 1), got {self.acceptance}")
        if self.draft_tokens < 1:
            raise InputError(f"speculative draft_tokens must be >= 1, got {self.draft_tokens}")

    @property
    def tokens_per_round(self) -> float:
        a, k = self.acceptance, self.draft_tokens
        return (1.0 - a ** (k + 1)) / (1.0 - a)


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
    k = spec.draft_tokens
    draft_s = sum(spec.draft.step_time(0, 1, context_tokens + i) for i in range(k))
    verify_s = dep.step_time(k + 1, 0, 0, prefill_attn_pairs=(k + 1) * (context_tokens + k / 2))
    return (draft_s + verify_s) / spec.tokens_per_round


def per_user_tok_s(dep: Deployment, prompt_tokens: int, output_tokens: int,
                   spec: SpecDecode | None = None) -> float:
    """Output tokens/s one user sees while decoding (at the mean context of the answer)."""
    return 1.0 / decode_step_s(dep, prompt_tokens + output_tokens // 2, spec)
