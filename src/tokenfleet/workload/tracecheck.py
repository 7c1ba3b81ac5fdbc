"""Row checks shared by the trace loaders: numeric columns parsed with the bad row named, token counts
in range, arrival times finite and in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tokenfleet.errors import InputError

MAX_TOKENS = 10_000_000  # longest context any catalog model takes is 10M tokens (Llama 4 Scout)
MAX_HASH_ID = (1 << 40) - 1  # class k's ids are shifted by k * 2**40 (stream.HASH_NAMESPACE)
MAX_SPAN_S = 10 * 365 * 86400.0  # a trace longer than ten years is a units mistake


def float_column(rows: list[list[str]], col: int, path: Path, what: str, first_row: int = 2) -> np.ndarray:
    """Column ``col`` as float64; an unparsable cell names its row (``rows[0]`` is row ``first_row``; the
    header is row 1)."""
    try:
        return np.array([float(r[col]) for r in rows], dtype=np.float64)
    except ValueError:
        for i, r in enumerate(rows):
            try:
                float(r[col])
            except ValueError:
                raise InputError(f"bad {what} {r[col]!r}: not a number", where=f"{path} row {i + first_row}") from None
        raise


def int_column(rows: list[list[str]], col: int, path: Path, what: str, first_row: int = 2) -> np.ndarray:
    """Column ``col`` as whole numbers (``12`` or ``12.0``; ``2.5``, ``nan``, ``abc`` refused)."""
    x = float_column(rows, col, path, what, first_row)
    bad = ~np.isfinite(x) | (x != np.round(x)) | (np.abs(x) > 2**62)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"bad {what} {rows[i][col]!r}: not a whole number", where=f"{path} row {i + first_row}")
    return x.astype(np.int64)


def check_tokens(n: np.ndarray, path: Path, what: str, low: int = 1, first_row: int = 2) -> np.ndarray:
    """Token counts in ``[low, MAX_TOKENS]``."""
    bad = (n < low) | (n > MAX_TOKENS)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"{what} must be in [{low}, {MAX_TOKENS:,}] tokens, got {int(n[i]):,}", where=f"{path} row {i + first_row}"
        )
    return n


def check_arrivals(t: np.ndarray, path: Path, what: str, first_row: int | None = 2) -> None:
    """Finite, non-decreasing arrival times spanning at most :data:`MAX_SPAN_S`. ``first_row`` is the row
    number of ``t[0]`` (None: JSONL, name the record by its index)."""

    def where(i: int) -> str:
        return f"{path} row {i + first_row}" if first_row is not None else f"{path} record {i + 1}"

    bad = ~np.isfinite(t)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{what} must be a finite number, got {t[i]}", where=where(i))
    if t.size > 1:
        back = np.diff(t) < 0
        if back.any():
            i = int(np.argmax(back)) + 1
            raise InputError(
                f"{what} goes back in time ({t[i]:g} after {t[i - 1]:g}): a trace lists requests in arrival order",
                where=where(i),
            )
        span = float(t[-1] - t[0])
        if span > MAX_SPAN_S:
            raise InputError(f"the trace spans {span:.3g} s, more than ten years ({what} in the wrong unit?)",
                             where=str(path))


__all__ = ["MAX_HASH_ID", "MAX_SPAN_S", "MAX_TOKENS", "check_arrivals", "check_tokens", "float_column", "int_column"]
