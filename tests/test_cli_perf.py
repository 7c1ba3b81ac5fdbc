"""``tokenfleet perf``: figures per layout agree with the perf API; bad input exits 2."""

from __future__ import annotations

import json

import pytest

from _cli import run_cli
from tokenfleet import perf

_main = run_cli


def test_json_rows_match_the_api(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(capsys, "perf", "llama-3.3-70b", "cs3", "--isl", "800", "--osl", "400", "--no-stack",
                         "--json")
    assert code == 0
    rows = json.loads(out)["rows"]
    dep = perf.deploy("llama-3.3-70b", "cs3")
    first = rows[0]
    assert first["chips"] == 4 and first["kv_capacity_tokens"] == dep.kv_capacity_tokens
    assert first["per_user_tok_s"] == pytest.approx(perf.single.per_user_tok_s(dep, 800, 400))
    assert first["ttft_ms"] == pytest.approx(perf.single.ttft_s(dep, 800) * 1e3)
    assert len(rows) >= 2 and rows[1]["chips"] > rows[0]["chips"]


def test_speculation_raises_per_user_speed(capsys: pytest.CaptureFixture[str]) -> None:
    _, plain, _ = _main(capsys, "perf", "llama-3.3-70b", "cs3", "--chips", "4", "--no-stack", "--json")
    _, spec, _ = _main(capsys, "perf", "llama-3.3-70b", "cs3", "--chips", "4", "--spec-draft", "llama-3.2-1b",
                       "--spec-acceptance", "0.9", "--json")
    p, s = json.loads(plain)["rows"][0], json.loads(spec)["rows"][0]
    assert s["per_user_tok_s"] > 1.5 * p["per_user_tok_s"]
    assert s["chips"] == 5  # the draft gets its own CS-3


def test_cerebras_production_stack_speculates_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    # Cerebras' API runs speculative decoding in production (perf.stacks): the default figure includes it
    _, stack, _ = _main(capsys, "perf", "llama-3.3-70b", "cs3", "--chips", "4", "--json")
    _, plain, _ = _main(capsys, "perf", "llama-3.3-70b", "cs3", "--chips", "4", "--no-stack", "--json")
    s, p = json.loads(stack)["rows"][0], json.loads(plain)["rows"][0]
    assert s["chips"] == 5 and p["chips"] == 4  # the draft gets its own CS-3
    assert s["per_user_tok_s"] > 1.3 * p["per_user_tok_s"]
    # GPUs have no production stack entry: the flag changes nothing there
    _, a, _ = _main(capsys, "perf", "llama-3.1-8b", "h100", "--chips", "1", "--json")
    _, b, _ = _main(capsys, "perf", "llama-3.1-8b", "h100", "--chips", "1", "--no-stack", "--json")
    assert json.loads(a)["rows"] == json.loads(b)["rows"]


def test_moe_at_batch_one_is_never_zero_capacity(capsys: pytest.CaptureFixture[str]) -> None:
    # issue 10: DeepSeek-R1 on B200 in fp4 had 12-23 tok/s per user and 0 capacity under a 50 ms TPOT bound
    code, out, _ = _main(capsys, "perf", "deepseek-r1", "b200", "--precision", "fp4", "--json")
    assert code == 0
    rows = json.loads(out)["rows"]
    assert all(r["per_user_tok_s"] > 100 for r in rows)
    assert all(r["server_tok_s_per_chip"] > 0 for r in rows)


@pytest.mark.parametrize("args,needle", [
    (("llama-3.1-70b", "h100", "--chips", "1"), "needs 143.8 GB"),
    (("llama-3.1-70b", "h10"), "did you mean 'h100'"),
    (("llama-3.1-8b", "h100", "--chips", "12"), "not a multiple"),
    (("llama-3.1-8b", "h100", "--isl", "0"), "--isl"),
    (("llama-3.1-8b", "h100", "--chips", "0"), "--chips must be >= 1"),
    (("llama-3.1-8b", "h100", "--tpot-ms", "nan"), "--tpot-ms"),
    (("llama-3.1-8b", "h100", "--spec-acceptance", "1.5"), "--spec-acceptance"),
    (("llama-3.1-8b", "h100", "--pue", "0.5"), "--pue must be in [1.0, 3.0]"),
    (("llama-3.1-8b", "h100", "--chips", "1000000000"), "more than one replica can span"),
    (("llama-3.1-8b", "h100", "--chips", "3"), "does not divide llama-3.1-8b's 32 attention heads"),
    (("llama-3.3-70b", "cs3", "--chips", "100"), "a stage needs at least one layer"),
    (("llama-3.1-8b", "h100", "--spec-draft", "llama-3.3-70b"), "must be smaller than the target"),
    (("llama-3.1-8b", "h100", "--spec-draft", "llama-3.1-8b"), "must be smaller than the target"),
])
def test_bad_input_exits_2(capsys: pytest.CaptureFixture[str], args: tuple[str, ...], needle: str) -> None:
    code, out, err = _main(capsys, "perf", *args)
    assert code == 2 and needle in err and "Traceback" not in out + err


def test_weight_only_keeps_the_bytes_and_multiplies_at_16_bits(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("perf", "llama-3-8b", "tpu-v5e", "--precision", "int8", "--chips", "8", "--json")
    _, w8a8, _ = _main(capsys, *args)
    code, w8a16, _ = _main(capsys, *args, "--weight-only")
    assert code == 0
    a, b = json.loads(w8a8)["rows"][0], json.loads(w8a16)["rows"][0]
    assert b["layout"] == "TP8 int8-w" and b["kv_capacity_tokens"] == a["kv_capacity_tokens"]
    # prefill is compute-bound: at half the int8 rate the first token takes longer; offline throughput falls
    assert b["ttft_ms"] > a["ttft_ms"] and b["offline_tok_s_per_chip"] < a["offline_tok_s_per_chip"]
    code, _, err = _main(capsys, "perf", "llama-3-8b", "tpu-v5e", "--weight-only")
    assert code == 2 and "--weight-only needs quantised weights" in err
