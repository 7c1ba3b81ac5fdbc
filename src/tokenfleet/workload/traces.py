"""Loaders for real traces: Azure LLM inference 2023 CSV, Mooncake FAST'25 JSONL, BurstGPT CSV.

Every loader returns a :class:`RequestBatch` sorted by arrival with the first request at t = 0. Bytes are
read once through :func:`tokenfleet.inputs.read_text` (size-limited, UTF-8 or "not UTF-8 text at byte N");
then every row is checked at the door (:mod:`tokenfleet.workload.tracecheck`): token counts whole numbers
in [1, :data:`MAX_TOKENS`], timestamps finite and in arrival order, hash ids lists of non-negative
integers. Errors name the file and the row / line. Files ending ``.xz`` or ``.gz`` are decompressed (the
decompressed size is limited as the plain file's is). Nothing is downloaded: files come from the package
(:mod:`tokenfleet.workload.packaged`: Azure 2023 and Mooncake FAST'25, with sources, checksums and licences)
or from the user.
"""

from __future__ import annotations

import csv
import io
import json
import lzma
import zlib
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tokenfleet.errors import InputError
from tokenfleet.inputs import MAX_TRACE_BYTES, decode_utf8, read_bytes, read_text
from tokenfleet.workload.packaged import uncompressed_name
from tokenfleet.workload.request import RequestBatch, make_batch
from tokenfleet.workload.tracecheck import (
    MAX_HASH_ID,
    MAX_TOKENS,
    check_arrivals,
    check_tokens,
    float_column,
    int_column,
)

MOONCAKE_QUANTUM_S = 3.0  # Mooncake FAST'25 traces quantise arrival times to 3-second buckets (in ms)


def _read(path: Path) -> str:
    if path.suffix not in (".xz", ".gz"):
        return read_text(path, "trace", MAX_TRACE_BYTES)
    raw = read_bytes(path, "trace", MAX_TRACE_BYTES)
    what = path.suffix[1:]
    try:
        if what == "xz":
            xz = lzma.LZMADecompressor()
            data, done = xz.decompress(raw, MAX_TRACE_BYTES + 1), xz.eof
        else:
            gz = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data, done = gz.decompress(raw, MAX_TRACE_BYTES + 1), gz.eof
    except (lzma.LZMAError, zlib.error, EOFError) as exc:
        raise InputError(f"not a valid {what} file: {exc}", where=str(path)) from None
    if len(data) > MAX_TRACE_BYTES:
        raise InputError(f"trace decompresses to more than {MAX_TRACE_BYTES >> 20} MB", where=str(path))
    if not done:
        raise InputError(f"{what} file cut short (truncated)", where=str(path))
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(f"not a text file: NUL byte at offset {nul} after decompression", where=str(path))
    return decode_utf8(data, str(path))


BLOCK_ROWS = 65536  # CSV rows held as strings at once: columns are parsed block by block (memory flat)


def _lines(text: str, piece: int = 1 << 22) -> Iterator[str]:
    """The lines of ``text`` as ``open(newline="")`` gives them, read through a few MB at a time
    (``io.StringIO`` over the whole text would hold a 4-byte-per-character copy of it)."""
    start, n = 0, len(text)
    while start < n:
        end = text.find("\n", start + piece)
        end = n if end < 0 else end + 1
        yield from io.StringIO(text[start:end], newline="")
        start = end


def _csv_blocks(path: Path, text: str, required: tuple[str, ...]) -> tuple[list[str], Iterator[tuple[int, list]]]:
    """The header, and the body as blocks ``(row number of the first, rows)`` of at most :data:`BLOCK_ROWS`
    rows, each with the header's number of fields. Blank rows at the end are ignored."""
    reader = csv.reader(_lines(text))
    try:
        first = next(reader, None)
    except csv.Error as exc:
        raise InputError(f"not valid CSV: {exc}", where=str(path)) from None
    if first is None:
        raise InputError("empty file", where=str(path))
    header = [h.strip() for h in first]
    for name in required:
        if name not in header:
            raise InputError(f"missing column {name!r} (header: {', '.join(header)})", where=str(path))

    def check(r: list[str], row: int) -> list[str]:
        if len(r) != len(header):
            raise InputError(
                f"{len(r)} fields but the header has {len(header)} (row cut short or extra commas)",
                where=f"{path} row {row}",
            )
        return r

    def blocks() -> Iterator[tuple[int, list[list[str]]]]:
        block: list[list[str]] = []
        start = row = 2
        blank: list[tuple[int, list[str]]] = []  # blank rows seen last: the end of the file, or rows to check
        try:
            for r in reader:
                if not any(c.strip() for c in r):
                    blank.append((row, r))
                else:
                    for b_row, b in blank:
                        block.append(check(b, b_row))
                    blank.clear()
                    block.append(check(r, row))
                    if len(block) >= BLOCK_ROWS:
                        yield start, block
                        start, block = row + 1, []
                row += 1
        except csv.Error as exc:
            raise InputError(f"not valid CSV: {exc}", where=f"{path} row {row}") from None
        if block or start == 2:
            if not block:
                raise InputError("trace has a header but no requests", where=str(path))
            yield start, block

    return header, blocks()


def _azure(path: Path, text: str) -> RequestBatch:
    names = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
    header, blocks = _csv_blocks(path, text, names)
    ts, ctx, gen = (header.index(c) for c in names)
    stamps, p, o = [], [], []
    for start, rows in blocks:
        raw = [r[ts].strip().replace(" ", "T") for r in rows]
        try:
            st = np.array(raw, dtype="datetime64[ns]")
        except ValueError:
            for i, x in enumerate(raw):
                try:
                    np.datetime64(x, "ns")
                except ValueError:
                    raise InputError(f"bad TIMESTAMP {rows[i][ts]!r}", where=f"{path} row {i + start}") from None
            raise
        nat = np.isnat(st)
        if nat.any():
            i = int(np.argmax(nat))
            raise InputError(f"bad TIMESTAMP {rows[i][ts]!r}", where=f"{path} row {i + start}")
        stamps.append(st.astype(np.int64))
        p.append(int_column(rows, ctx, path, "ContextTokens", start))
        o.append(int_column(rows, gen, path, "GeneratedTokens", start))
    ns = np.concatenate(stamps)
    t = (ns - ns[0]) / 1e9
    check_arrivals(t, path, "TIMESTAMP", first_row=2)
    return make_batch(
        t,
        check_tokens(np.concatenate(p), path, "ContextTokens"),
        check_tokens(np.concatenate(o), path, "GeneratedTokens"),
    )


def load_azure(path: str | Path) -> RequestBatch:
    """Azure LLM inference trace 2023 (``TIMESTAMP,ContextTokens,GeneratedTokens``)."""
    path = Path(path)
    return _azure(path, _read(path))


def _burstgpt(path: Path, text: str, drop_failed: bool = True) -> RequestBatch:
    names = ("Timestamp", "Request tokens", "Response tokens")
    header, blocks = _csv_blocks(path, text, names)
    ts, req, resp = (header.index(c) for c in names)
    cols: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for start, rows in blocks:
        cols[0].append(float_column(rows, ts, path, "Timestamp", start))
        cols[1].append(int_column(rows, req, path, "Request tokens", start))
        cols[2].append(int_column(rows, resp, path, "Response tokens", start))
    t = np.concatenate(cols[0])
    check_arrivals(t, path, "Timestamp", first_row=2)
    p = check_tokens(np.concatenate(cols[1]), path, "Request tokens")
    o = check_tokens(np.concatenate(cols[2]), path, "Response tokens", low=0)
    keep = o > 0 if drop_failed else np.ones(o.size, dtype=bool)
    t, p, o = t[keep], p[keep], o[keep]
    if not t.size:
        raise InputError("every request in the trace failed (0 response tokens)", where=str(path))
    return make_batch(t - t[0], p, np.maximum(o, 1))


def load_burstgpt(path: str | Path, drop_failed: bool = True) -> RequestBatch:
    """BurstGPT CSV (``Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type``), timestamps
    in seconds. Failed requests (0 response tokens) are dropped unless ``drop_failed`` is False (then they
    count as one output token)."""
    path = Path(path)
    return _burstgpt(path, _read(path), drop_failed)


def _hash_list(h: object, n_tokens: int) -> list[int]:
    if h is None:
        return []
    if not isinstance(h, list):
        raise ValueError(f"hash_ids must be a list of integers, got {type(h).__name__}")
    if len(h) > n_tokens:
        raise ValueError(f"{len(h)} hash_ids for {n_tokens} input tokens (a hash id covers a block of tokens)")
    for x in h:
        if isinstance(x, bool) or not isinstance(x, int):
            raise ValueError(f"hash_ids must be integers, got {x!r}")
        if not 0 <= x <= MAX_HASH_ID:
            raise ValueError(f"hash id {x} outside [0, {MAX_HASH_ID}]")
    return h


def _count(row: dict[str, object], key: str) -> int:
    v = row[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{key} must be a whole number, got {v!r}")
    if isinstance(v, float) and not v.is_integer():
        raise ValueError(f"{key} must be a whole number, got {v!r}")
    n = int(v)
    if not 1 <= n <= MAX_TOKENS:
        raise ValueError(f"{key} must be in [1, {MAX_TOKENS:,}] tokens, got {v!r}")
    return n


def _mooncake(path: Path, text: str, spread: bool, seed: int, quantum_s: float) -> RequestBatch:
    t_ms, inp, out = array("d"), array("q"), array("q")  # columns, 8 bytes a value (no object per row)
    offs, ids = array("q", [0]), array("q")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise TypeError(f"expected a JSON object, got {type(row).__name__}")
            ts = row["timestamp"]
            if isinstance(ts, bool) or not isinstance(ts, int | float):
                raise TypeError(f"timestamp must be a number (ms), got {ts!r}")
            ts_ms = float(ts)
            i, o = _count(row, "input_length"), _count(row, "output_length")
            h = _hash_list(row.get("hash_ids"), i)
        except RecursionError:
            raise InputError("bad record (nested too deep)", where=f"{path} line {n}") from None
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise InputError(f"bad record: {what}", where=f"{path} line {n}") from None
        t_ms.append(ts_ms)
        inp.append(i)
        out.append(o)
        ids.extend(h)
        offs.append(len(ids))
    if not t_ms:
        raise InputError("trace has no requests", where=str(path))
    t = np.frombuffer(t_ms, dtype=np.float64) / 1e3
    check_arrivals(t, path, "timestamp", first_row=None)
    t = t - t[0]
    if spread:
        t = spread_buckets(t, quantum_s, np.random.default_rng(seed))
    col = np.frombuffer
    return make_batch(t, col(inp, np.int64).copy(), col(out, np.int64).copy(), col(offs, np.int64).copy(),
                      col(ids, np.int64).copy())


def load_mooncake(
    path: str | Path, spread: bool = True, seed: int = 0, quantum_s: float = MOONCAKE_QUANTUM_S
) -> RequestBatch:
    """Mooncake JSONL (``timestamp`` ms, ``input_length``, ``output_length``, ``hash_ids``).

    The published timestamps are quantised to ``quantum_s`` buckets; with ``spread`` the requests of one
    bucket are placed uniformly at random (seeded) inside ``[t, t + quantum)``, clipped before the next
    bucket, keeping their order. Hash ids (512-token blocks) are kept for prefix caching.
    """
    path = Path(path)
    return _mooncake(path, _read(path), spread, seed, quantum_s)


def spread_buckets(t: np.ndarray, quantum_s: float, rng: np.random.Generator) -> np.ndarray:
    """Spread equal timestamps uniformly within their bucket, order kept, never past the next bucket."""
    uniq, start, counts = np.unique(t, return_index=True, return_counts=True)
    nxt = np.append(uniq[1:], uniq[-1] + quantum_s)
    width = np.minimum(quantum_s, nxt - uniq)
    out = np.empty_like(t)
    u = rng.random(t.size)
    for b in range(uniq.size):  # buckets are few (one per quantum): a Python loop is fine
        s, c = start[b], counts[b]
        out[s : s + c] = uniq[b] + np.sort(u[s : s + c]) * width[b]
    return out


def load_trace(path: str | Path, fmt: str = "auto", seed: int = 0) -> RequestBatch:
    """Load by format name (``azure``, ``mooncake``, ``burstgpt``) or sniff it from the file."""
    path = Path(path)
    if fmt not in ("auto", "azure", "mooncake", "burstgpt"):
        raise InputError(f"unknown trace format {fmt!r} (known: azure, mooncake, burstgpt)", where=str(path))
    text = _read(path)
    if fmt == "auto":
        head = text[: text.find("\n")] if "\n" in text else text
        if uncompressed_name(path).endswith(".jsonl") or head.lstrip().startswith("{"):
            fmt = "mooncake"
        elif "ContextTokens" in head:
            fmt = "azure"
        elif "Request tokens" in head:
            fmt = "burstgpt"
        else:
            raise InputError(
                "unknown trace format (expected Azure 2023 CSV, BurstGPT CSV or Mooncake JSONL)",
                where=str(path),
            )
    if fmt == "mooncake":
        return _mooncake(path, text, True, seed, MOONCAKE_QUANTUM_S)
    return _azure(path, text) if fmt == "azure" else _burstgpt(path, text)


__all__ = [
    "MOONCAKE_QUANTUM_S",
    "load_azure",
    "load_burstgpt",
    "load_mooncake",
    "load_trace",
    "spread_buckets",
]
