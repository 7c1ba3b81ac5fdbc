"""Prefix- and prefill-aware routing plugins, the prompt block hashes and the gateway's approximate index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tokenfleet.errors import InputError
from tokenfleet.routing import ApproxPrefixIndex, EndpointSnapshot, EndpointTable, RequestInfo, build_profile
from tokenfleet.routing.prefix_aware import LoadBalanceFilter, PrefixScorer, uses_prefill_queue, uses_prefix
from tokenfleet.workload.prefix import PromptHasher, chain_hashes, char_block_hashes, token_block_hashes

# ---- block hashes ---------------------------------------------------------------------------------------


def test_chained_hashes_name_whole_prefixes() -> None:
    a = chain_hashes(["x", "y", "z"])
    b = chain_hashes(["x", "y", "w"])
    c = chain_hashes(["q", "y", "z"])  # same later blocks, different first block
    assert a[:2] == b[:2] and a[2] != b[2]
    assert not set(a) & set(c)  # a block's hash depends on everything before it
    assert all(0 <= h < 1 << 63 for h in a)  # fits the int64 hash columns


def test_char_blocks_are_4_characters_per_token_and_extend_with_the_prompt() -> None:
    text = "abcd" * 64 * 3 + "tail"  # 3 full 64-token blocks and a partial one
    h = char_block_hashes(text, 64)
    assert len(h) == 3
    assert char_block_hashes(text + " and more words" * 100, 64)[:3] == h
    assert char_block_hashes("X" + text[1:], 64)[0] != h[0]


def test_token_exact_hashes_follow_token_ids_not_characters(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"[UNK]": 0, **{f"w{i}": i + 1 for i in range(40)}}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    exact = PromptHasher(4, path)
    assert exact.exact and "token-exact" in exact.source
    words = [f"w{i % 40}" for i in range(17)]
    one, spaced = " ".join(words), "   ".join(words)  # the same tokens, different characters
    ids = [int(w[1:]) + 1 for w in words]
    assert exact.hashes(one) == token_block_hashes(ids, 4) == exact.hashes(spaced)
    assert len(exact.hashes(one)) == 17 // 4
    approx = PromptHasher(4)
    assert not approx.exact and "approximate" in approx.source
    assert approx.hashes(one)[0] != approx.hashes(spaced)[0]


def test_hasher_input_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found") as e:
        PromptHasher(64, tmp_path / "missing.json")
    assert "prefix.tokenizer" in str(e.value)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"not": "a tokenizer"}))
    pytest.importorskip("tokenizers")
    with pytest.raises(InputError, match="cannot read tokenizer"):
        PromptHasher(64, bad)
    with pytest.raises(InputError, match="block_tokens"):
        PromptHasher(0)


# ---- the gateway's approximate index ------------------------------------------------------------------


def test_approx_index_is_an_lru_bounded_by_the_cache_and_expires() -> None:
    idx = ApproxPrefixIndex([3, 100], block_tokens=10, ttl_s=5.0)
    idx.record(0, (1, 2, 3), now=0.0)
    assert idx.matched_blocks((1, 2, 3, 4), 0) == 3 and idx.matched_blocks((1, 2), 1) == 0
    idx.record(0, (1, 9), now=1.0)  # 1 refreshed, 9 new: 2 (least recent) is evicted
    assert idx.size(0) == 3
    assert idx.matched_blocks((1, 2, 3), 0) == 1
    rows = np.array([0, 1])
    # cached tokens: matched blocks x block size, never the whole prompt (its last token is computed)
    assert idx.cached_tokens((1, 9), 15, rows).tolist() == [14, 0]
    assert idx.cached_tokens((1, 9), 100, rows).tolist() == [20, 0]
    idx.advance(5.5)  # hash 1 was refreshed at t=1, so still fresh; at t=7 it has expired
    assert idx.matched_blocks((1, 9), 0) == 2
    idx.advance(7.0)
    assert idx.matched_blocks((1, 9), 0) == 0
    idx.forget(0)
    assert idx.size(0) == 0


# ---- plugins ------------------------------------------------------------------------------------------


def table(**cols: list[float]) -> EndpointTable:
    n = len(next(iter(cols.values())))
    t = EndpointTable.from_snapshots([EndpointSnapshot(f"e{i}", "p", "h100", "m") for i in range(n)])
    for k, v in cols.items():
        getattr(t, k)[:] = v
    return t


def req(prompt: int = 8000, hashes: tuple[int, ...] = (1, 2, 3, 4)) -> RequestInfo:
    return RequestInfo("c", "m", prompt, 100, prefix_hashes=hashes)


def with_cache(t: EndpointTable, cached: dict[int, tuple[int, ...]], block: int = 2000) -> EndpointTable:
    idx = ApproxPrefixIndex([1000] * len(t), block)
    for row, hs in cached.items():
        idx.record(row, hs)
    t.prefix_index = idx
    return t


def test_prefill_load_picks_least_time_to_first_token_not_fewest_requests() -> None:
    # e0: 40 short decodes in flight, no prefill waiting; e1: 2 in flight, 60k prompt tokens waiting
    t = table(in_flight=[40, 2], prefill_tok_per_s=[20000, 20000], batch_prefill_tok_per_s=[15000, 19000],
              prefill_wait_s=[0.05, 60000 / 19000 + 0.05])
    r = req(hashes=())
    expect = [0.05 + 8000 / 15000, 60000 / 19000 + 0.05 + 8000 / 19000]  # by hand
    assert t.prefill_ttft_s(r, np.array([0, 1])) == pytest.approx(expect)
    assert build_profile("prefill-load").pick(r, t).endpoint_id == "e0"
    assert build_profile("least-outstanding").pick(r, t).endpoint_id == "e1"


def test_prefill_load_credits_cached_tokens() -> None:
    t = with_cache(table(prefill_tok_per_s=[10000, 10000], prefill_wait_s=[0.3, 0.0]), {0: (1, 2, 3)})
    r = req()
    assert t.cached_tokens(r, np.array([0, 1])).tolist() == [6000, 0]
    # e0: 0.3 s wait + 2000 uncached tokens (0.2 s) beats e1: 8000 tokens (0.8 s)
    assert t.prefill_ttft_s(r, np.array([0, 1])) == pytest.approx([0.5, 0.8])
    assert build_profile("prefill-load").pick(r, t).endpoint_id == "e0"


def test_prefix_aware_follows_the_cache_until_the_load_bound() -> None:
    r = req()
    scores = PrefixScorer().score(r, with_cache(table(prefill_tok_per_s=[1e4] * 3), {1: (1, 2)}), np.arange(3))
    assert scores.tolist() == [0.0, 0.5, 0.0]
    equal = with_cache(table(prefill_tok_per_s=[1e4] * 3, prefill_wait_s=[0.1, 0.1, 0.1]), {2: (1, 2, 3, 4)})
    assert build_profile("prefix-aware").pick(r, equal).endpoint_id == "e2"
    # the cached replica has a 5 s prefill queue (a hot prefix piling up): the balance filter drops it
    hot = with_cache(table(prefill_tok_per_s=[1e4] * 3, prefill_wait_s=[0.1, 0.1, 5.0]), {2: (1, 2, 3, 4)})
    keep = LoadBalanceFilter().keep(r, hot, np.arange(3))
    assert keep.tolist() == [True, True, False]
    assert build_profile("prefix-aware").pick(r, hot).endpoint_id in {"e0", "e1"}
    # the affinity oracle ignores load
    assert build_profile("prefix-affinity").pick(r, hot).endpoint_id == "e2"


def test_affinity_treats_a_shared_system_prompt_as_no_match() -> None:
    r = req(prompt=40000, hashes=tuple(range(1, 21)))
    t = with_cache(table(prefill_tok_per_s=[1e4] * 2), {0: (1,)})  # only block 1 (5 % of the prompt)
    assert PrefixScorer(min_share=0.1).score(r, t, np.arange(2)).tolist() == [0.0, 0.0]


def test_policies_by_name_and_weights() -> None:
    for name in ("prefix-aware", "prefill-load", "prefix-affinity"):
        assert uses_prefix(build_profile(name))
    assert uses_prefill_queue(build_profile("prefix-aware"))
    assert not uses_prefill_queue(build_profile("prefix-affinity"))
    assert not uses_prefix(build_profile("least-outstanding"))
    p = build_profile({"policy": "prefix-aware", "weights": {"prefix": 4, "outstanding": 0}})
    assert [(s.name, w) for s, w in p.scorers] == [("prefix", 4.0), ("prefill-load", 1.0)]
    with pytest.raises(InputError, match="no scorer"):
        build_profile({"policy": "prefill-load", "weights": {"prefix": 1}})
