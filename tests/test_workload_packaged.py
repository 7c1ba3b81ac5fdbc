"""The packaged traces are the upstream bytes (checksums in their SOURCES.md), carry their licences, and load;
compressed traces of the user's own load the same way, and a damaged one is named."""

from __future__ import annotations

import gzip
import hashlib
import lzma
import re
from pathlib import Path

import pytest

from tokenfleet.errors import InputError
from tokenfleet.workload import load_trace
from tokenfleet.workload.packaged import TRACE_DIR, packaged_trace, packaged_traces

SOURCES = (TRACE_DIR / "SOURCES.md").read_text(encoding="utf-8")
NAMES = ["azure2023_code.csv", "azure2023_conv.csv", "mooncake_fast25_conversation.jsonl",
         "mooncake_fast25_synthetic.jsonl"]


def _row(name: str) -> list[str]:
    for line in SOURCES.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == name:
            return cells
    raise AssertionError(f"{name} has no row in SOURCES.md")


def test_the_four_traces_ship() -> None:
    assert packaged_traces() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_packaged_trace_is_the_upstream_bytes(name: str) -> None:
    _, repo, _, size, sha, xz_size, xz_sha, licence = _row(name)
    shipped = packaged_trace(name).read_bytes()
    assert len(shipped) == int(xz_size) and hashlib.sha256(shipped).hexdigest() == xz_sha
    raw = lzma.decompress(shipped)
    assert len(raw) == int(size) and hashlib.sha256(raw).hexdigest() == sha
    assert licence in ("CC-BY-4.0", "Apache-2.0")
    assert re.search(r"@ [0-9a-f]{40}", repo) or repo == "same"


def test_licence_texts_ship_beside_the_traces() -> None:
    azure = (TRACE_DIR / "LICENSE-AzurePublicDataset-CC-BY-4.0.txt").read_text(encoding="utf-8-sig")
    mooncake = (TRACE_DIR / "LICENSE-Mooncake-Apache-2.0.txt").read_text(encoding="utf-8")
    assert azure.startswith("Attribution 4.0 International")
    assert "Apache License" in mooncake and "Version 2.0" in mooncake
    assert "Splitwise" in SOURCES and "Mooncake" in SOURCES and "FAST 2025" in SOURCES


def test_a_users_compressed_trace_loads_like_the_plain_file(tmp_path: Path) -> None:
    text = lzma.decompress(packaged_trace("azure2023_code.csv").read_bytes())[:20_000]
    text = text[: text.rfind(b"\n") + 1]
    plain = tmp_path / "mine.csv"
    plain.write_bytes(text)
    gz = tmp_path / "mine.csv.gz"
    gz.write_bytes(gzip.compress(text))
    a, b = load_trace(plain), load_trace(gz)
    assert len(a) == len(b) > 100
    assert (a.prompt_tokens == b.prompt_tokens).all() and (a.arrival_s == b.arrival_s).all()
    jl = tmp_path / "mine.jsonl.xz"  # the format is sniffed from the name under the compression suffix
    jl.write_bytes(lzma.compress(b'{"timestamp": 0, "input_length": 10, "output_length": 3}\n'))
    assert len(load_trace(jl)) == 1


def test_a_damaged_compressed_trace_is_named(tmp_path: Path) -> None:
    cut = tmp_path / "cut.csv.xz"
    cut.write_bytes(packaged_trace("azure2023_code.csv").read_bytes()[:5000])
    with pytest.raises(InputError, match=r"cut\.csv\.xz: xz file cut short"):
        load_trace(cut)
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match=r"bad\.csv\.gz: not a valid gz file"):
        load_trace(bad)
