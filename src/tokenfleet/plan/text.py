"""Compact number formats and rich tables that fit the terminal: numbers are never cut (each numeric
column is as wide as its widest cell), names wrap, and a wide terminal gets one line per row."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.table import Table


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


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], text_cols: int = 1) -> Table:
    """The first ``text_cols`` columns wrap (fold) when the terminal is narrow; the others are numbers,
    right-aligned, never wrapped or cut."""
    t = Table(title=title, title_justify="left", pad_edge=False, box=None, header_style="bold", collapse_padding=True)
    for i, h in enumerate(headers):
        if i < text_cols:  # names wrap (fold) when the terminal is narrow: rich narrows only these
            t.add_column(h, justify="left", overflow="fold", min_width=min(len(h) + 2, 10))
        else:  # numbers: never wrapped, never cut
            width = max([len(h), *(len(r[i]) for r in rows)])
            t.add_column(h, justify="right", no_wrap=True, min_width=width)
    for r in rows:
        t.add_row(*r)
    return t


__all__ = ["money", "mw", "num", "pct", "table"]
