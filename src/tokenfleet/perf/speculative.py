"""Speculative decoding: a draft model proposes ``k`` tokens, the target verifies them in one step.

A *round* over a batch of ``B`` running sequences costs ``k`` draft decode steps plus one target step that
processes ``B * (k + 1)`` tokens against each sequence's context (the new prompts of the round ride along in
the first draft step and in the verify step). Each round yields ``(1 - a**(k+1)) / (1 - a)`` tokens per
sequence for acceptance ``a`` (Leviathan et al. 2023). Single-stream is the ``B = 1`` case without prompts.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenfleet.errors import InputError
from tokenfleet.perf.deployment import Deployment, StepCost


@dataclass(frozen=True, slots=True)
class SpecDecode:
    """Speculative decoding settings with the draft's own deployment (same hardware type)."""

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


@dataclass(frozen=True, slots=True)
class RoundCost:
    """One speculative round: the draft's steps and the target's verify step."""

    draft_steps: tuple[StepCost, ...]
    verify: StepCost

    @property
    def time_s(self) -> float:
        return sum(c.time_s for c in self.draft_steps) + self.verify.time_s

    def busy_s(self) -> tuple[float, float]:
        """Busy (compute or memory bound) seconds of the draft and of the target within the round."""
        return (sum(c.time_s * c.utilisation for c in self.draft_steps),
                self.verify.time_s * self.verify.utilisation)


def round_cost(dep: Deployment, spec: SpecDecode, batch: int, context_tokens: float, new_prompt_tokens: int = 0,
               new_prompt_pairs: float = 0.0) -> RoundCost:
    """Cost of one round for ``batch`` sequences with ``context_tokens`` of context each (mean)."""
    k = spec.draft_tokens
    ctx_total = int(batch * context_tokens)
    first = spec.draft.step(new_prompt_tokens, batch, ctx_total, new_prompt_pairs if new_prompt_tokens else -1.0)
    rest = [spec.draft.step(0, batch, ctx_total + batch * i) for i in range(1, k)]
    # verify: B(k+1) new tokens attend over their context (the step adds the context_tokens term itself)
    pairs = batch * (k + 1) * (context_tokens + k / 2.0) - ctx_total + new_prompt_pairs
    verify = dep.step(batch * (k + 1) + new_prompt_tokens, 0, ctx_total, max(0.0, pairs))
    return RoundCost((first, *rest), verify)
