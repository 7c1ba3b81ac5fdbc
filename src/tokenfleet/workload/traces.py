"""Loaders for real traces: Azure LLM inference 2023 CSV, Mooncake FAST'25 JSONL, BurstGPT CSV.

Every loader returns a :class:`RequestBatch` sorted by arrival with the first request at t = 0, and names
the file and row of anything malformed. Nothing is downloaded: files come from ``../shared/data/traces``
(see its SOURCES.md for provenance and licences) or from the user.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from tokenfleet.errors import InputError
from tokenfleet.workload.request import RequestBatch, make_batch

MOONCAKE_QUANTUM_S = 3.0  # Mooncake FAST'25 traces quantise arrival times to 3-second buckets (in ms)


def _open_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise InputError(f"cannot read trace: {exc.strerror}", where=str(path)) from None
    if not rows:
        raise InputError("empty file", where=str(path))
    return [h.strip() for h in rows[0]], rows[1:]


def _col(header: list[str], name: str, path: Path) -> int:
    try:
        return header.index(name)
    except ValueError:
        raise InputError(f"missing column {name!r} (header: {', '.join(header)})", where=str(path)) from None


def _ints(rows: list[list[str]], col: int, path: Path, what: str) -> np.ndarray:
    try:
        return np.array([int(float(r[col])) for r in rows], dtype=np.int64)
    except (ValueError, IndexError):
        for i, r in enumerate(rows):
            try:
                int(float(r[col]))
            except (ValueError, IndexError):
                raise InputError(
                    f"bad {what} {r[col] if col < len(r) else '<missing>'!r}", where=f"{path} row {i + 2}"
                ) from None
        raise


def load_azure(path: str | Path) -> RequestBatch:
    """Azure LLM inference trace 2023 (``TIMESTAMP,ContextTokens,GeneratedTokens``)."""
    path = Path(path)
    header, rows = _open_csv(path)
    ts, ctx, gen = (_col(header, c, path) for c in ("TIMESTAMP", "ContextTokens", "GeneratedTokens"))
    try:
        stamps = np.array([r[ts].strip().replace(" ", "T") for r in rows], dtype="datetime64[ns]")
    except ValueError as exc:
        raise InputError(f"bad TIMESTAMP ({exc})", where=str(path)) from None
    t = (stamps - stamps.min()).astype(np.int64) / 1e9
    order = np.argsort(t, kind="stable")
    return make_batch(
        t[order],
        _ints(rows, ctx, path, "ContextTokens")[order],
        _ints(rows, gen, path, "GeneratedTokens")[order],
    )


def load_burstgpt(path: str | Path, drop_failed: bool = True) -> RequestBatch:
    """BurstGPT CSV (``Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type``), timestamps
    in seconds. Failed requests (0 response tokens) are dropped unless ``drop_failed`` is False."""
    path = Path(path)
    header, rows = _open_csv(path)
    ts, req, resp = (_col(header, c, path) for c in ("Timestamp", "Request tokens", "Response tokens"))
    try:
        t = np.array([float(r[ts]) for r in rows])
    except (ValueError, IndexError):
        raise InputError("bad Timestamp value", where=str(path)) from None
    p, o = _ints(rows, req, path, "Request tokens"), _ints(rows, resp, path, "Response tokens")
    keep = o > 0 if drop_failed else np.ones(o.size, dtype=bool)
    t, p, o = t[keep], p[keep], o[keep]
    order = np.argsort(t, kind="stable")
    return make_batch(
        t[order] - (t.min() if t.size else 0.0), np.maximum(p[order], 1), np.maximum(o[order], 1)
    )


def load_mooncake(
    path: str | Path, spread: bool = True, seed: int = 0, quantum_s: float = MOONCAKE_QUANTUM_S
) -> RequestBatch:
    """Mooncake JSONL (``timestamp`` ms, ``input_length``, ``output_length``, ``hash_ids``).

    The published timestamps are quantised to ``quantum_s`` buckets; with ``spread`` the requests of one
    bucket are placed uniformly at random (seeded) inside ``[t, t + quantum)``, clipped before the next
    bucket, keeping their order. Hash ids (512-token blocks) are kept for prefix caching.
    """
    path = Path(path)
    t_ms: list[float] = []
    inp: list[int] = []
    out: list[int] = []
    offs: list[int] = [0]
    ids: list[int] = []
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read trace: {exc.strerror}", where=str(path)) from None
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                t_ms.append(float(row["timestamp"]))
                inp.append(int(row["input_length"]))
                out.append(int(row["output_length"]))
                h = row.get("hash_ids") or []
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(
                    f"bad record ({exc.__class__.__name__}: {exc})", where=f"{path} line {n}"
                ) from None
            ids.extend(h)
            offs.append(len(ids))
    t = np.array(t_ms) / 1e3
    t -= t.min() if t.size else 0.0
    order = np.argsort(t, kind="stable")
    t = t[order]
    offsets = np.array(offs, dtype=np.int64)
    all_ids = np.array(ids, dtype=np.int64)
    if not np.array_equal(order, np.arange(order.size)):  # reorder the CSR hash lists
        lens = np.diff(offsets)[order]
        starts = offsets[:-1][order]
        all_ids = (
            np.concatenate([all_ids[s : s + k] for s, k in zip(starts, lens, strict=True)])
            if lens.sum()
            else all_ids
        )
        offsets = np.concatenate([[0], np.cumsum(lens)])
    if spread and t.size:
        t = spread_buckets(t, quantum_s, np.random.default_rng(seed))
    return make_batch(t, np.array(inp)[order], np.maximum(np.array(out)[order], 1), offsets, all_ids)


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
    if fmt == "auto":
        if path.suffix == ".jsonl":
            fmt = "mooncake"
        else:
            try:
                with path.open(encoding="utf-8-sig") as fh:
                    head = fh.readline()
            except OSError as exc:
                raise InputError(f"cannot read trace: {exc.strerror}", where=str(path)) from None
            fmt = "azure" if "ContextTokens" in head else "burstgpt" if "Request tokens" in head else "?"
            if fmt == "?":
                raise InputError(
                    "unknown trace format (expected Azure 2023 CSV, BurstGPT CSV or Mooncake JSONL)",
                    where=str(path),
                )
    loaders = {"azure": load_azure, "burstgpt": load_burstgpt}
    if fmt == "mooncake":
        return load_mooncake(path, seed=seed)
    if fmt not in loaders:
        raise InputError(f"unknown trace format {fmt!r} (known: azure, mooncake, burstgpt)", where=str(path))
    return loaders[fmt](path)


__all__ = [
    "MOONCAKE_QUANTUM_S",
    "load_azure",
    "load_burstgpt",
    "load_mooncake",
    "load_trace",
    "spread_buckets",
]
