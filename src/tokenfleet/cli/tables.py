"""Tables that read at the terminal's width (80 columns and up): every command prints through :func:`table`.

Each column says what it holds: ``num`` (right-aligned, never wrapped or cut), ``id`` (a name a user types
back: never cut, wrapped only when nothing else fits), ``text`` (wraps at word boundaries). Each has a
priority: 0 columns always show; when the columns do not fit at their narrowest, the highest priority number
goes first, and a note under the table names what was left out (``--json`` has everything). Nothing is
ever cut with "…".

    table("Pools", [Column("pool", "id"), Column("hardware", "text"), Column("kWh", priority=2)], rows)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

Kind = Literal["num", "id", "text"]
GAP = 1  # spaces between columns


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    kind: Kind = "num"
    priority: int = 0  # 0: always shown; higher numbers are dropped first when the terminal is narrow
    min_width: int = 0  # a text column wraps no narrower than this (its longest word wins if longer)


def _plain(cell: str) -> str:
    return Text.from_markup(cell).plain if "[" in cell else cell


def _longest_word(s: str) -> int:
    return max((len(w) for w in s.split()), default=0)


def _longest_line(s: str) -> int:
    return max((len(line) for line in s.splitlines()), default=0)


def _widths(cols: Sequence[Column], cells: Sequence[Sequence[str]]) -> tuple[list[int], list[int]]:
    """(natural, narrowest) width of each column."""
    natural, narrow = [], []
    for i, c in enumerate(cols):
        body = [_plain(r[i]) for r in cells]
        nat = max([len(c.header), *(_longest_line(b) for b in body)])
        head = _longest_word(c.header)
        if c.kind == "text":
            low = max([head, c.min_width, *(_longest_word(b) for b in body)])
        else:  # numbers and ids are never wrapped: their widest cell, the header may wrap at its spaces
            low = max([head, *(_longest_line(b) for b in body)])
        natural.append(nat)
        narrow.append(min(low, nat))
    return natural, narrow


def fit(cols: Sequence[Column], cells: Sequence[Sequence[str]], width: int) -> tuple[list[int], list[int]]:
    """The columns shown (indices) and their widths, so that the table is at most ``width`` wide."""
    natural, narrow = _widths(cols, cells)
    shown = list(range(len(cols)))

    def total(ws: Sequence[int]) -> int:
        return sum(ws) + GAP * (len(ws) - 1)

    while total([narrow[i] for i in shown]) > width:
        droppable = [i for i in shown if cols[i].priority > 0]
        if not droppable:
            break
        shown.remove(max(droppable, key=lambda i: (cols[i].priority, i)))
    ws = {i: natural[i] for i in shown}
    excess = total(list(ws.values())) - width
    # narrow the widest wrappable column first, one character at a time, down to its narrowest
    while excess > 0:
        wrappable = [i for i in shown if ws[i] > narrow[i]]
        if not wrappable:
            break
        i = max(wrappable, key=lambda j: (ws[j] - narrow[j], ws[j]))
        ws[i] -= 1
        excess -= 1
    if excess > 0:  # nothing left to drop or wrap: the widest text, then id, columns fold inside long words
        for kind in ("text", "id"):
            while excess > 0:
                floor = {j: max(_longest_word(cols[j].header), cols[j].min_width, 8) for j in shown}
                fold = [j for j in shown if cols[j].kind == kind and ws[j] > floor[j]]
                if not fold:
                    break
                ws[max(fold, key=lambda j: ws[j])] -= 1
                excess -= 1
    return shown, [ws[i] for i in shown]


class FitTable:
    """A table fitted when it is printed, to the width of the console that prints it."""

    def __init__(self, title: str | None, cols: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None,
                 note_dropped: bool, full: str | None) -> None:
        self.title, self.cols, self.rows, self.width = title, cols, rows, width
        self.note_dropped, self.full = note_dropped, full

    def render(self, width: int) -> RenderableType:
        shown, ws = fit(self.cols, self.rows, width)
        t = Table(box=None, pad_edge=False, collapse_padding=True, padding=(0, GAP), show_edge=False,
                  header_style="bold", expand=False)
        for i, w in zip(shown, ws, strict=True):
            c = self.cols[i]
            t.add_column(c.header, justify="right" if c.kind == "num" else "left", width=w, min_width=w,
                         max_width=w, overflow="fold", no_wrap=False)
        for r in self.rows:
            t.add_row(*(r[i] for i in shown))
        parts: list[RenderableType] = [Text.from_markup(self.title)] if self.title else []  # wraps at words
        parts.append(t)
        dropped = [self.cols[i].header for i in range(len(self.cols)) if i not in shown]
        if dropped and self.note_dropped:
            more = f" or use {self.full}" if self.full else ""
            parts.append(Text(f"(not shown at {width} columns: {', '.join(dropped)}; widen the terminal{more})",
                              style="dim"))
        return Group(*parts)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.render(self.width or options.max_width)


def table(
    title: str | None,
    cols: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int | None = None,
    note_dropped: bool = True,
    full: str | None = "--json",
) -> FitTable:
    """A borderless table that fits ``width`` (default: the printing console's width, which is the terminal's
    or ``$COLUMNS``), with a note naming the columns it had to leave out and the flag (``full``) that prints
    everything."""
    return FitTable(title, cols, rows, width, note_dropped, full)


__all__ = ["Column", "FitTable", "fit", "table"]
