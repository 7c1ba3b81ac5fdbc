"""Continuous batching of one emulated replica, as pure bookkeeping (no clock, no I/O).

Each engine iteration (``plan``) takes every running sequence that has finished its prefill as one decode
token, then fills the remaining token budget with prefill chunks of the sequences admitted in arrival
order (chunked prefill, as vLLM / SGLang do). A waiting request is admitted when its prompt plus its
output fit in the KV cache left (no preemption: admission reserves the whole request). The step's duration
comes from the performance model, ``dep.step_time(prefill_tokens, decode_seqs, context_tokens,
prefill_attn_pairs)``; ``commit`` then advances every sequence and reports which emitted a token.

This is the small, swappable stand-in for the simulator's replica scheduler: the wall-clock driver
(:mod:`.replica`) only calls ``plan`` / ``commit``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Protocol


class StepModel(Protocol):
    kv_capacity_tokens: int

    def step_time(self, prefill_tokens: int, decode_seqs: int, context_tokens: int,
                  prefill_attn_pairs: float = -1.0) -> float: ...


@dataclass(slots=True, eq=False)
class Sequence:
    seq_id: int
    prompt_tokens: int
    output_tokens: int
    prefilled: int = 0
    generated: int = 0

    @property
    def kv_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    @property
    def is_finished(self) -> bool:
        return self.generated >= self.output_tokens


@dataclass(slots=True)
class Step:
    prefill: list[tuple[Sequence, int]] = field(default_factory=list)  # (sequence, chunk tokens)
    decode: list[Sequence] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def is_empty(self) -> bool:
        return not self.prefill and not self.decode


class BatchScheduler:
    def __init__(self, model: StepModel, token_budget: int = 8192, max_seqs: int = 256) -> None:
        self.model = model
        self.token_budget = token_budget
        self.max_seqs = max_seqs
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.kv_reserved = 0

    @property
    def load(self) -> int:
        return len(self.waiting) + len(self.running)

    def add(self, seq: Sequence) -> None:
        if seq.kv_tokens > self.model.kv_capacity_tokens:
            raise ValueError(f"request of {seq.kv_tokens} tokens exceeds the replica's KV capacity of "
                             f"{self.model.kv_capacity_tokens} tokens")
        self.waiting.append(seq)

    def _admit(self) -> None:
        cap = self.model.kv_capacity_tokens
        while self.waiting and len(self.running) < self.max_seqs \
                and self.kv_reserved + self.waiting[0].kv_tokens <= cap:
            seq = self.waiting.popleft()
            self.kv_reserved += seq.kv_tokens
            self.running.append(seq)

    def plan(self) -> Step:
        self._admit()
        step = Step()
        budget = self.token_budget
        context = 0
        pairs = 0.0
        for seq in self.running:
            if seq.prefilled >= seq.prompt_tokens:
                step.decode.append(seq)
                context += seq.prompt_tokens + seq.generated
        budget -= len(step.decode)
        for seq in self.running:
            if budget <= 0:
                break
            left = seq.prompt_tokens - seq.prefilled
            if left > 0:
                chunk = min(left, budget)
                step.prefill.append((seq, chunk))
                pairs += chunk * (seq.prefilled + chunk / 2)
                budget -= chunk
        prefill_tokens = sum(c for _, c in step.prefill)
        if not step.is_empty:
            step.duration_s = self.model.step_time(prefill_tokens, len(step.decode), context, pairs)
        return step

    def commit(self, step: Step) -> list[Sequence]:
        """Advance the sequences of ``step``; returns those that emitted a token (the first one when a
        prefill completes, then one per decode step), and retires finished ones."""
        emitted: list[Sequence] = []
        for seq in step.decode:
            seq.generated += 1
            emitted.append(seq)
        for seq, chunk in step.prefill:
            seq.prefilled += chunk
            if seq.prefilled >= seq.prompt_tokens:
                seq.generated += 1  # the prefill's last position yields the first token
                emitted.append(seq)
        if emitted:
            keep = []
            for seq in self.running:
                if seq.is_finished:
                    self.kv_reserved -= seq.kv_tokens
                else:
                    keep.append(seq)
            self.running = keep
        return emitted

    def cancel(self, seq: Sequence) -> None:
        if seq in self.running:
            self.running.remove(seq)
            self.kv_reserved -= seq.kv_tokens
        elif seq in self.waiting:
            self.waiting.remove(seq)


__all__ = ["BatchScheduler", "Sequence", "Step", "StepModel"]
