"""The trace loaders reproduce the packaged traces' trace_stats.json (request counts, lengths, span)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tokenfleet.errors import InputError
from tokenfleet.workload import TraceSource, load_burstgpt, load_mooncake, load_trace, merge
from tokenfleet.workload.packaged import TRACE_DIR, packaged_trace


def _stats() -> dict[str, dict]:
    return {s["trace"]: s for s in json.loads((TRACE_DIR / "trace_stats.json").read_text())}


@pytest.mark.parametrize(
    "name",
    [
        "azure2023_code.csv",
        "azure2023_conv.csv",
        "mooncake_fast25_conversation.jsonl",
        "mooncake_fast25_synthetic.jsonl",
    ],
)
def test_counts_and_length_percentiles_match_published_stats(name: str) -> None:
    st = _stats()[name]
    b = load_trace(packaged_trace(name))
    assert len(b) == st["requests"]
    for key, arr in (("input_tokens", b.prompt_tokens), ("output_tokens", b.output_tokens)):
        for q in ("p10", "p25", "p50", "p75", "p90", "p95", "p99"):
            assert int(np.percentile(arr, int(q[1:]))) == st[key][q], (key, q)
        assert arr.mean() == pytest.approx(st[key]["mean"], abs=0.06)
        assert arr.max() == st[key]["max"] and arr.min() == max(st[key]["min"], 1)
    # spreading Mooncake's 3 s buckets may push the last arrivals up to one bucket later
    assert st["duration_s"] - 0.1 <= b.duration_s <= st["duration_s"] + 3.0
    assert np.all(np.diff(b.arrival_s) >= 0) and 0.0 <= b.arrival_s[0] < 3.0  # t = 0 at the first (bucket)


def test_mooncake_spread_stays_inside_buckets_and_keeps_hashes() -> None:
    raw = load_mooncake(packaged_trace("mooncake_fast25_conversation.jsonl"), spread=False)
    sp = load_mooncake(packaged_trace("mooncake_fast25_conversation.jsonl"), spread=True, seed=3)
    st = _stats()["mooncake_fast25_conversation.jsonl"]
    assert len(np.unique(raw.arrival_s)) == st["distinct_timestamps"]
    assert np.all(sp.arrival_s >= raw.arrival_s) and np.all(sp.arrival_s < raw.arrival_s + 3.0)
    assert len(np.unique(sp.arrival_s)) > 0.99 * len(sp)
    assert sp.hash_ids is not None and sp.hash_offsets is not None
    assert sp.hash_ids.size == st["prefix_cache"]["blocks_total"]
    assert np.unique(sp.hash_ids).size == st["prefix_cache"]["unique_blocks"]
    # hash lists cover the prompt in 512-token blocks
    n_blocks = np.diff(sp.hash_offsets)
    assert np.all(n_blocks == -(-sp.prompt_tokens // 512))


def test_rate_multiplier_and_loop() -> None:
    b = load_trace(packaged_trace("azure2023_conv.csv"))
    reqs = list(merge([("c", TraceSource(b, rate_multiplier=4.0, loop=True))], max_requests=3 * len(b)))
    t = np.array([r.arrival_s for r in reqs])
    assert len(reqs) == 3 * len(b) and np.all(np.diff(t) >= 0)
    assert t[len(b) - 1] == pytest.approx(b.duration_s / 4.0)
    assert reqs[len(b)].prompt_tokens == int(b.prompt_tokens[0])  # second copy starts again
    assert len(reqs) / t[-1] == pytest.approx(4.0 * len(b) / b.duration_s, rel=0.01)


def test_burstgpt_format(tmp_path: Path) -> None:
    p = tmp_path / "burst.csv"
    p.write_text(
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
        "3.0,GPT-4,50,0,50,Conversation log\n4.5,ChatGPT,70,30,100,API log\n"
        "5.0,ChatGPT,100,20,120,Conversation log\n"
    )
    b = load_burstgpt(p)
    assert b.arrival_s.tolist() == [0.0, 0.5] and b.prompt_tokens.tolist() == [70, 100]
    assert len(load_burstgpt(p, drop_failed=False)) == 3
    assert load_trace(p).output_tokens.tolist() == [30, 20]


def test_bad_rows_are_named(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,10,5\n2023-11-16 18:15:47.0,x,5\n")
    with pytest.raises(InputError, match=r"row 3.*ContextTokens"):
        load_trace(p)
    q = tmp_path / "bad.jsonl"
    q.write_text('{"timestamp": 0, "input_length": 5, "output_length": 2}\n{"timestamp": 1}\n')
    with pytest.raises(InputError, match="line 2"):
        load_trace(q)
