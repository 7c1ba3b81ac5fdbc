"""Every trace format refuses what makes no physical sense, naming the file and the row or line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenfleet.errors import InputError
from tokenfleet.workload import load_trace

AZ = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
OK_AZ = AZ + "2023-11-16 18:15:46.68,374,44\n2023-11-16 18:15:50.99,396,109\n"
BG = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"


def _mc(*recs: str) -> str:
    return "".join(r + "\n" for r in recs)


CASES = [
    ("header-only.csv", AZ, r"header but no requests"),
    ("neg.csv", AZ + "2023-11-16 18:15:46.68,-5,44\n", r"row 2.*ContextTokens must be in \[1, 10,000,000\]"),
    ("zero.csv", AZ + "2023-11-16 18:15:46.68,374,0\n", r"row 2.*GeneratedTokens must be in \[1,"),
    ("frac.csv", AZ + "2023-11-16 18:15:46.68,2.5,44\n", r"row 2.*ContextTokens '2.5': not a whole number"),
    ("huge.csv", AZ + "2023-11-16 18:15:46.68,1e12,44\n", r"row 2.*got 1,000,000,000,000"),
    ("nan.csv", AZ + "2023-11-16 18:15:46.68,nan,44\n", r"row 2.*not a whole number"),
    ("reversed.csv", AZ + "2023-11-16 18:15:50,374,44\n2023-11-16 18:15:46,396,109\n", r"row 3.*goes back in time"),
    ("nat.csv", AZ + "NaT,374,44\n", r"row 2.*bad TIMESTAMP"),
    ("badts.csv", AZ + "yesterday,374,44\n", r"row 2.*bad TIMESTAMP 'yesterday'"),
    ("cut.csv", OK_AZ + "2023-11-16 18:15:51.1,39\n", r"row 4.*2 fields but the header has 3"),
    ("bg-nan.csv", BG + "nan,ChatGPT,100,20,120,x\n", r"row 2.*Timestamp must be a finite number"),
    ("bg-back.csv", BG + "5,ChatGPT,100,20,120,x\n1,ChatGPT,100,20,120,x\n", r"row 3.*goes back in time"),
    ("bg-failed.csv", BG + "5,ChatGPT,100,0,100,x\n", r"every request in the trace failed"),
    ("mc.jsonl", _mc('{"timestamp": 0, "input_length": 10, "output_length": 2, "hash_ids": "abc"}'),
     r"line 1.*hash_ids must be a list"),
    ("mc2.jsonl", _mc('{"timestamp": 0, "input_length": 10, "output_length": 2, "hash_ids": [[1, 2]]}'),
     r"line 1.*hash_ids must be integers"),
    ("mc3.jsonl", _mc('{"timestamp": 0, "input_length": 10, "output_length": 2, "hash_ids": [-1]}'),
     r"line 1.*hash id -1 outside"),
    ("mc4.jsonl", _mc('{"timestamp": 0, "input_length": 0.5, "output_length": 2}'), r"line 1.*whole number"),
    ("mc5.jsonl", _mc('{"timestamp": NaN, "input_length": 5, "output_length": 2}'), r"record 1.*finite"),
    ("mc6.jsonl", _mc('{"timestamp": 9, "input_length": 5, "output_length": 2}',
                      '{"timestamp": 1, "input_length": 5, "output_length": 2}'), r"record 2.*goes back"),
    ("mc7.jsonl", _mc("[" * 100_000 + "]" * 100_000), r"line 1.*(nested too deep|expected a JSON object)"),
    ("mc8.jsonl", _mc('{"timestamp": "x", "input_length": 5, "output_length": 2}'), r"timestamp must be a number"),
    ("mc9.jsonl", _mc('{"timestamp": 0, "input_length": true, "output_length": 2}'), r"input_length must be a whole"),
    ("mc10.jsonl", _mc('{"timestamp": 0, "input_length": 5}'), r"line 1.*missing field 'output_length'"),
    ("mc11.jsonl", _mc('{"timestamp": 0, "input_length": 2, "output_length": 2, "hash_ids": [1, 2, 3]}'),
     r"3 hash_ids for 2 input tokens"),
    ("empty.jsonl", "\n\n", r"no requests"),
]


@pytest.mark.parametrize(("name", "text", "pattern"), CASES, ids=[c[0] for c in CASES])
def test_bad_trace_is_refused_with_file_and_row(tmp_path: Path, name: str, text: str, pattern: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(InputError, match=pattern) as exc:
        load_trace(p)
    assert name in str(exc.value)


def test_not_utf8_names_the_byte(tmp_path: Path) -> None:
    p = tmp_path / "latin1.csv"
    good = OK_AZ.encode() + b"2023-11-16 18:15:52,3"
    p.write_bytes(good + b"\xe9,1\n")
    with pytest.raises(InputError, match=rf"latin1.csv: not UTF-8 text at byte {len(good)} "):
        load_trace(p)


def test_endless_device_is_refused_quickly() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    with pytest.raises(InputError, match=r"/dev/zero: (trace is larger|not a text file)"):
        load_trace("/dev/zero", "azure")


def test_a_good_trace_still_loads(tmp_path: Path) -> None:
    p = tmp_path / "ok.csv"
    p.write_text(OK_AZ)
    b = load_trace(p)
    assert b.prompt_tokens.tolist() == [374, 396]
    assert b.arrival_s[1] == pytest.approx(4.31)
