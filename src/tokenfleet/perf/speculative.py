"""Speculative decoding: a draft model proposes ``k`` tokens, the target verifies them in one step.

A *round* over a batch of ``B`` running sequences costs ``k`` draft decode steps plus one target step that
processes ``B * (k + 1)`` tokens against each sequence's context (the new prompts of the round ride along in
the first draft step and in the verify step). The draft steps run inside the round's one engine iteration
(CUDA graphs, TensorRT-LLM one-model drafting, Neuron fused speculation), so the engine's per-iteration
host overhead is paid once, by the verify step. Each round yields ``(1 - a**(k+1)) / (1 - a)`` tokens per
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
    shared = spec.draft.coefficients.host_overhead_s  # paid once per round, by the verify iteration
    if shared > 0.0:
        first, *rest = (_inside_round(c, shared) for c in (first, *rest))
    # verify: B(k+1) new tokens attend over their context (the step adds the context_tokens term itself)
    pairs = batch * (k + 1) * (context_tokens + k / 2.0) - ctx_total + new_prompt_pairs
    # the verified tokens are decoding tokens: a MoE layer routes each expert a few of them (per-pair overhead)
    verify = dep.step(batch * (k + 1) + new_prompt_tokens, 0, ctx_total, max(0.0, pairs), batch * (k + 1))
    return RoundCost((first, *rest), verify)


def _inside_round(cost: StepCost, shared_s: float) -> StepCost:
    """A draft step run inside the round's iteration: the host overhead is the verify step's."""
    cut = min(shared_s, cost.overhead_s)
    return StepCost(cost.time_s - cut, cost.compute_s, cost.memory_s, cost.comm_s, cost.overhead_s - cut,
                    cost.padding_s)


class SpeculativeDeployment(Deployment):
    """A target + draft pair seen through the :class:`Deployment` interface, for per-token simulators.

    It subclasses :class:`Deployment` only to be accepted where one is; it does not run the base
    initialiser and overrides every public member, delegating to ``target`` and ``draft``.

    One *iteration* here is one output token per running sequence on average: a speculative round over the
    batch divided by the round's yield (a mean-field view: every sequence advances ``yield`` tokens per
    round). Prefill runs on both models. Where the device family says the draft has units of its own
    (wafer, LPU) it occupies its own systems (chips and power add up); otherwise (HBM, tiered) it shares
    the target's chips, whose memory then holds both models' KV (the smaller capacity bounds the batch).
    """

    __slots__ = ("_tpr", "draft", "spec", "target")

    def __init__(self, target: Deployment, spec: SpecDecode) -> None:  # deliberately no super().__init__
        self.target, self.spec, self.draft = target, spec, spec.draft
        self._tpr = spec.tokens_per_round
        # the public Deployment attributes other layers read
        self.model, self.hw, self.layout, self.params = target.model, target.hw, target.layout, target.params
        self.device, self.coefficients = target.device, target.coefficients
        self.kv_capacity_tokens = min(target.kv_capacity_tokens, spec.draft.kv_capacity_tokens)

    @property
    def num_chips(self) -> int:
        return self.target.num_chips + (self.draft.num_chips if self.target.device.draft_has_own_units else 0)

    def step_time(self, prefill_tokens: int, decode_seqs: int, context_tokens: int,
                  prefill_attn_pairs: float = -1.0, decoding: float = -1.0) -> float:
        return self.step(prefill_tokens, decode_seqs, context_tokens, prefill_attn_pairs).time_s

    def step(self, prefill_tokens: int, decode_seqs: int, context_tokens: int,
             prefill_attn_pairs: float = -1.0, decoding: float = -1.0) -> StepCost:
        """A round's cost per yielded token (``decoding`` is the round's own: its drafts and verified tokens)."""
        if decode_seqs <= 0:  # prompts only: both models prefill them
            a = self.target.step(prefill_tokens, 0, context_tokens, prefill_attn_pairs)
            b = self.draft.step(prefill_tokens, 0, context_tokens, prefill_attn_pairs)
            return StepCost(a.time_s + b.time_s, a.compute_s + b.compute_s, a.memory_s + b.memory_s,
                            a.comm_s + b.comm_s, a.overhead_s + b.overhead_s, a.padding_s + b.padding_s)
        rnd = round_cost(self.target, self.spec, decode_seqs, context_tokens / decode_seqs, prefill_tokens,
                         max(0.0, prefill_attn_pairs) if prefill_tokens else 0.0)
        t = rnd.time_s / self._tpr
        busy = sum(rnd.busy_s()) / self._tpr
        return StepCost(t, busy, busy, 0.0, t - busy)

    @property
    def idle_power_w(self) -> float:
        return self.target.idle_power_w + (self.draft.idle_power_w if self.target.device.draft_has_own_units else 0.0)

    @property
    def peak_power_w(self) -> float:
        return self.target.peak_power_w + (self.draft.peak_power_w if self.target.device.draft_has_own_units else 0.0)

    def power_w(self, utilisation: float) -> float:
        u = min(1.0, max(0.0, utilisation))
        return self.idle_power_w + u * (self.peak_power_w - self.idle_power_w)

    def describe(self) -> str:
        s = self.spec
        return (f"{self.target.describe()} + speculative {self.draft.model.model_id} "
                f"(k={s.draft_tokens}, a={s.acceptance})")
