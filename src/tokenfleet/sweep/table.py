"""The sweep's results table: one row per grid point, written as Parquet and CSV (pyarrow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """Every column, in order of first appearance."""
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            seen.setdefault(k, None)
    return list(seen)


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    data = {}
    for c in columns(rows):
        vals = [r.get(c) for r in rows]
        try:
            data[c] = pa.array(vals)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            data[c] = pa.array([None if v is None else str(v) for v in vals])
    return pa.table(data)


def write(rows: list[dict[str, Any]], out_dir: Path, stem: str = "sweep") -> tuple[Path, Path]:
    """``out_dir/sweep.parquet`` and ``out_dir/sweep.csv``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    t = to_table(rows)
    pq_path, csv_path = out_dir / f"{stem}.parquet", out_dir / f"{stem}.csv"
    pq.write_table(t, pq_path)
    pacsv.write_csv(t, csv_path)
    return pq_path, csv_path


__all__ = ["columns", "to_table", "write"]
