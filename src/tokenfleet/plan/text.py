"""Compact number formats, and tables that fit the terminal (numbers never cut, names never cut, text wraps
at words; a wide terminal gets one line per row)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import RenderableType


def money(x: float | None) -> str:
    """$1.23B / $45.6M / $789K / $12 — three significant figures."""
    if x is None or not math.isfinite(x):
        return "-"
    a = abs(x)
    for div, suf in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if a >= div:
            v = x / div
            return f"${v:,.3g}{suf}" if abs(v) < 1000 else f"${v:,.0f}{suf}"
    return f"${x:,.3g}" if a >= 1 else f"${x:.2g}"


def mw(x: float | None) -> str:
    """Megawatts with three significant figures (no fixed decimals that round small pools to 0)."""
    if x is None or not math.isfinite(x):
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}" if x else "0"


def num(x: float | None, sig: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:,.0f}" if abs(x) >= 10 ** sig else f"{x:.{sig}g}"


def pct(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.0%}" if abs(x) >= 0.095 else f"{x:.1%}"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], text_cols: int = 1) -> RenderableType:
    """The first column is a name (never cut), the next ``text_cols - 1`` wrap at words when the terminal is
    narrow; the others are numbers, right-aligned, never wrapped or cut (:mod:`tokenfleet.cli.tables`)."""
    from tokenfleet.cli.tables import Column
    from tokenfleet.cli.tables import table as fit_table

    cols = [Column(h, "id" if i == 0 and text_cols else "text" if i < text_cols else "num")
            for i, h in enumerate(headers)]
    return fit_table(title, cols, rows)


__all__ = ["money", "mw", "num", "pct", "table"]
