"""Every table of a report to ``tables.xlsx`` (one sheet per table, numbers as numbers with a display
format, units in the headers) and to ``tables/<id>.csv`` (the same headers and raw values)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

from tokenfleet.viz.table import Table

XLSX_FORMAT = {"money": '"$"#,##0', "mw": "#,##0.000", "w": "#,##0", "pct": "0.0%", "ms": "#,##0.0",
               "s": "#,##0.00", "int": "#,##0", "ratio": "0.00", "number": "#,##0.###"}
SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def _sheet_names(tables: Sequence[Table]) -> list[str]:
    names: list[str] = []
    for t in tables:
        base = SHEET_CHARS.sub("-", t.id)[:31] or "table"
        name, k = base, 2
        while name.lower() in (n.lower() for n in names):
            suffix = f"-{k}"
            name, k = base[: 31 - len(suffix)] + suffix, k + 1
        names.append(name)
    return names


def xlsx_bytes(tables: Sequence[Table], title: str = "") -> bytes:
    """The workbook as bytes: a contents sheet, then one sheet per table."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    index = wb.active
    assert index is not None
    index.title = "contents"
    index.append([title or "tables"])
    index["A1"].font = Font(bold=True, size=13)
    index.append(["sheet", "table", "rows", "note"])
    for c in index[2]:
        c.font = Font(bold=True)
    names = _sheet_names(tables)
    for t, name in zip(tables, names, strict=True):
        index.append([name, t.title, len(t.rows), t.note])
        ws = wb.create_sheet(name)
        ws.append([c.header for c in t.columns])
        for c in ws[1]:
            c.font = Font(bold=True)
            c.alignment = Alignment(wrap_text=True, vertical="top")
        for row in t.raw():
            ws.append(row)
        widths = [len(c.header) for c in t.columns]
        for j, col in enumerate(t.columns, start=1):
            fmt = XLSX_FORMAT.get(col.kind)
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                if fmt and isinstance(cell.value, int | float):
                    cell.number_format = fmt
                    cell.alignment = Alignment(horizontal="right")
                widths[j - 1] = max(widths[j - 1], min(60, len(str(cell.value or ""))))
            ws.column_dimensions[get_column_letter(j)].width = max(8, min(60, widths[j - 1] + 2))
        ws.freeze_panes = "A2"
    index.column_dimensions["A"].width = 24
    index.column_dimensions["B"].width = 60
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_text(t: Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.header for c in t.columns])
    w.writerows(["" if v is None else v for v in r] for r in t.raw())
    return buf.getvalue()


def write_tables(tables: Sequence[Table], out_dir: Path, title: str = "") -> list[Path]:
    """``out_dir/tables.xlsx`` and ``out_dir/tables/<id>.csv`` for every table; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    xlsx = out_dir / "tables.xlsx"
    xlsx.write_bytes(xlsx_bytes(tables, title))
    folder = out_dir / "tables"
    folder.mkdir(exist_ok=True)
    paths = [xlsx]
    for t, name in zip(tables, _sheet_names(tables), strict=True):
        p = folder / f"{name}.csv"
        p.write_text(csv_text(t), encoding="utf-8")
        paths.append(p)
    return paths


__all__ = ["csv_text", "write_tables", "xlsx_bytes"]
