"""Continuous batching of the emulated replica, checked against hand-computed step sequences."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tokenfleet.gateway.emulator.scheduler import BatchScheduler, Sequence


@dataclass
class LinearModel:
    """step = a + b * prefill_tokens + c * decode_seqs; records every call."""

    kv_capacity_tokens: int = 10_000
    a: float = 1.0
    b: float = 0.01
    c: float = 0.1
    calls: list[tuple[int, int, int]] = field(default_factory=list)

    def step_time(self, prefill_tokens: int, decode_seqs: int, context_tokens: int,
                  prefill_attn_pairs: float = -1.0) -> float:
        self.calls.append((prefill_tokens, decode_seqs, context_tokens))
        return self.a + self.b * prefill_tokens + self.c * decode_seqs


def run(s: BatchScheduler) -> list[tuple[float, list[int]]]:
    """(step end time, ids that emitted) until idle."""
    t, out = 0.0, []
    while True:
        step = s.plan()
        if step.is_empty:
            return out
        t += step.duration_s
        out.append((t, [q.seq_id for q in s.commit(step)]))


def test_one_request_prefill_then_decode() -> None:
    m = LinearModel()
    s = BatchScheduler(m)
    s.add(Sequence(0, prompt_tokens=100, output_tokens=5))
    steps = run(s)
    assert len(steps) == 5  # one prefill step that yields token 1, then 4 decode steps
    assert steps[0][0] == pytest.approx(1.0 + 0.01 * 100)  # TTFT
    assert steps[-1][0] == pytest.approx(2.0 + 4 * 1.1)
    assert m.calls[1] == (0, 1, 101)  # decode context = prompt + tokens so far
    assert s.kv_reserved == 0 and not s.running


def test_chunked_prefill_respects_the_token_budget() -> None:
    m = LinearModel()
    s = BatchScheduler(m, token_budget=64)
    s.add(Sequence(0, 100, 3))
    steps = run(s)
    assert [c[0] for c in m.calls] == [64, 36, 0, 0]
    assert steps[0][1] == [] and steps[1][1] == [0]  # the first token comes after the last chunk


def test_decodes_batch_together_and_kv_limits_admission() -> None:
    m = LinearModel(kv_capacity_tokens=450)
    s = BatchScheduler(m)
    for i in range(3):
        s.add(Sequence(i, 100, 100))  # 200 KV tokens each: only two fit at once
    s.plan()
    assert len(s.running) == 2 and len(s.waiting) == 1
    steps = run(s)
    t_seq2 = next(t for t, ids in steps if 2 in ids)
    assert t_seq2 > steps[99][0]  # seq 2 starts only once seq 0 and 1 emitted all 100 tokens and freed KV
    assert max(d for _, d, _ in m.calls) == 2


def test_oversize_request_is_refused() -> None:
    s = BatchScheduler(LinearModel(kv_capacity_tokens=100))
    with pytest.raises(ValueError, match="KV capacity"):
        s.add(Sequence(0, 90, 20))
