"""A report table: typed columns (what a cell is: money, MW, a fraction, text...) and raw values.

The same :class:`Table` becomes an HTML table (text left-aligned, numbers right-aligned, each cell through
:func:`tokenfleet.viz.fmt.cell`), the dashboard's JSON (formatted text beside the raw value), a sheet of
``tables.xlsx`` and a CSV (numbers as numbers, the unit in the header) — see :mod:`tokenfleet.viz.export`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenfleet.viz.fmt import Kind, cell

# the unit written into an export's header for each kind (raw values: $, MW, fraction, ms, s)
EXPORT_UNIT: dict[str, str] = {"money": "USD", "mw": "MW", "w": "W", "pct": "fraction", "ms": "ms", "s": "s",
                               "ratio": "x"}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind = "text"
    unit: str = ""  # for kinds "number" / "int": the unit (tok/s, req/s, chips)
    note: str = ""  # a tooltip on the header
    hidden: bool = False  # exported (xlsx, CSV) but not drawn
    right: bool = False  # a text column of formatted numbers: right-aligned

    @property
    def numeric(self) -> bool:
        return self.kind not in ("text", "date", "bool")

    @property
    def align_right(self) -> bool:
        return self.numeric or self.right

    @property
    def header(self) -> str:
        """The column's name with its unit, as an export writes it: ``capex (USD)``."""
        unit = self.unit or EXPORT_UNIT.get(self.kind, "")
        return f"{self.name} ({unit})" if unit and f"({unit})" not in self.name else self.name


@dataclass(frozen=True, slots=True)
class Table:
    id: str  # a short name: the CSV file and the xlsx sheet
    title: str
    columns: list[Column]
    rows: list[list[Any]]
    note: str = ""
    highlight: list[int] = field(default_factory=list)  # row indices drawn highlighted (e.g. > 100 % error)

    def __post_init__(self) -> None:
        for i, r in enumerate(self.rows):
            if len(r) != len(self.columns):
                raise ValueError(f"table {self.id}: row {i} has {len(r)} cells for {len(self.columns)} columns")

    def text(self) -> list[list[str]]:
        return [[cell(v, c.kind, c.unit) for v, c in zip(r, self.columns, strict=True)] for r in self.rows]

    def shown(self) -> tuple[list[Column], list[list[str]]]:
        """The drawn columns and their formatted cells (hidden columns left out)."""
        keep = [i for i, c in enumerate(self.columns) if not c.hidden]
        return [self.columns[i] for i in keep], [[r[i] for i in keep] for r in self.text()]

    def raw(self) -> list[list[Any]]:
        """Values as an export stores them: finite numbers, text, dates as ISO text, None for nothing."""
        out = []
        for r in self.rows:
            row: list[Any] = []
            for v, c in zip(r, self.columns, strict=True):
                if v is None or (isinstance(v, float) and not math.isfinite(v)):
                    row.append(None)
                elif c.kind == "bool" or isinstance(v, bool):
                    row.append("yes" if v else "no")
                elif c.numeric and isinstance(v, int | float):
                    row.append(v)
                else:
                    row.append(str(v) if not hasattr(v, "isoformat") else v.isoformat())
            out.append(row)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything :meth:`from_dict` needs (the dashboard keeps a run's tables this way for its exports)."""
        return {"id": self.id, "title": self.title, "note": self.note, "highlight": self.highlight,
                "columns": [{"name": c.name, "kind": c.kind, "unit": c.unit, "note": c.note, "hidden": c.hidden,
                             "right": c.right} for c in self.columns], "rows": self.raw()}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Table:
        return Table(d["id"], d["title"], [Column(**c) for c in d["columns"]], d["rows"], d.get("note", ""),
                     d.get("highlight", []))

    def as_json(self, max_rows: int | None = None) -> dict[str, Any]:
        """What the dashboard draws: formatted cells, alignment per column, and the raw values."""
        cols, cells = self.shown()
        keep = [i for i, c in enumerate(self.columns) if not c.hidden]
        return {"id": self.id, "title": self.title, "note": self.note, "highlight": self.highlight,
                "columns": [{"name": c.name, "numeric": c.align_right, "header": c.header, "note": c.note}
                            for c in cols],
                "cells": cells[:max_rows] if max_rows else cells, "rows": len(cells),
                "values": [[r[i] for i in keep] for r in self.raw()][:max_rows] if max_rows else
                [[r[i] for i in keep] for r in self.raw()]}

    def html(self, max_rows: int | None = None) -> str:
        cols, rows = self.shown()
        head = "".join(
            f"<th class='{'num' if c.align_right else 'txt'}'"
            + (f" title='{html.escape(c.note, quote=True)}'" if c.note else "") + f">{html.escape(c.name)}</th>"
            for c in cols)
        body = []
        shown = rows if max_rows is None else rows[:max_rows]
        marks = set(self.highlight)
        for i, r in enumerate(shown):
            tds = "".join(f"<td class='{'num' if c.align_right else 'txt'}'>{html.escape(v)}</td>"
                          for v, c in zip(r, cols, strict=True))
            body.append(f"<tr class='hl'>{tds}</tr>" if i in marks else f"<tr>{tds}</tr>")
        more = "" if max_rows is None or len(rows) <= max_rows else (
            f"<p class='note'>First {max_rows:,} of {len(rows):,} rows; every row is in tables.xlsx and "
            f"tables/{html.escape(self.id)}.csv.</p>")
        note = f"<p class='note'>{html.escape(self.note)}</p>" if self.note else ""
        return (f"<div class='tablewrap'><table id='tbl-{html.escape(self.id)}' class='grid'><thead><tr>{head}</tr>"
                f"</thead><tbody>{''.join(body)}</tbody></table></div>{note}{more}")


def kv_table(table_id: str, title: str, rows: Sequence[tuple[str, Any, Kind]], note: str = "") -> Table:
    """A table of named values, each formatted by its own kind; the export also gets the raw number and
    its unit (hidden columns)."""
    out = []
    for k, v, kind in rows:
        number = v if isinstance(v, int | float) and not isinstance(v, bool) else None
        out.append([k, cell(v, kind), number, EXPORT_UNIT.get(kind, "") if number is not None else ""])
    return Table(table_id, title, [Column("item"), Column("value", right=True), Column("number", "number", hidden=True),
                                   Column("unit", hidden=True)], out, note=note)


__all__ = ["Column", "Table", "kv_table"]
