"""Published results: reading a CSV with the columns of ``shared/data/benchmarks/published_results.csv``.

Only the first ten columns are machine-readable (see that file's README); the rest are kept as free text.
A malformed row raises :class:`InputError` naming the file, the row number and the field.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from tokenfleet.errors import InputError

REQUIRED_COLUMNS = ("hw_id", "num_chips", "model_id", "precision_id", "workload_id", "metric_id",
                    "ttft_p99_ms", "tpot_p99_ms", "user_tok_s", "spec_decode", "value")
METRICS = ("offline_tok_s", "server_tok_s", "per_user_tok_s", "ttft_ms", "per_chip_tok_s",
           "max_aggregate_tok_s", "usd_per_mtok")


@dataclass(frozen=True, slots=True)
class PublishedResult:
    row: int  # 1-based data row number in the file (header is row 0)
    hw_id: str
    num_chips: int | None
    model_id: str
    precision: str | None
    workload_id: str
    metric: str
    ttft_p99_ms: float | None
    tpot_p99_ms: float | None
    user_tok_s: float | None
    spec_decode: str  # yes / no / unknown
    value: float
    source_url: str = ""
    notes: str = ""

    def label(self) -> str:
        chips = f"{self.num_chips}x" if self.num_chips else "?x"
        return f"{chips}{self.hw_id} {self.model_id} {self.precision or '-'} {self.workload_id} {self.metric}"


def _num(text: str, field: str, where: str, kind: type = float) -> float | int | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        v = kind(float(text)) if kind is int else float(text)
    except ValueError:
        raise InputError(f"field {field!r} must be a number, got {text!r}", where=where) from None
    if v < 0:
        raise InputError(f"field {field!r} must not be negative, got {text!r}", where=where)
    return v


def read_results(path: str | Path) -> list[PublishedResult]:
    """Parse a published-results CSV. Rows with an empty ``metric_id`` or ``value`` are kept out."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", where=str(path))
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"missing columns {missing} (see shared/data/benchmarks/README.md)", where=str(path))
        out: list[PublishedResult] = []
        for i, rec in enumerate(reader, start=1):
            where = f"{path.name} row {i}"
            metric = (rec.get("metric_id") or "").strip()
            value = _num(rec.get("value", ""), "value", where)
            if not metric or value is None:
                continue
            for key in ("hw_id", "model_id"):
                if not (rec.get(key) or "").strip():
                    raise InputError(f"field {key!r} is empty", where=where)
            chips = _num(rec.get("num_chips", ""), "num_chips", where, int)
            if chips is not None and chips < 1:
                raise InputError("field 'num_chips' must be >= 1", where=where)
            out.append(PublishedResult(
                row=i, hw_id=rec["hw_id"].strip(), num_chips=int(chips) if chips else None,
                model_id=rec["model_id"].strip(), precision=(rec.get("precision_id") or "").strip() or None,
                workload_id=(rec.get("workload_id") or "").strip(), metric=metric,
                ttft_p99_ms=_num(rec.get("ttft_p99_ms", ""), "ttft_p99_ms", where),
                tpot_p99_ms=_num(rec.get("tpot_p99_ms", ""), "tpot_p99_ms", where),
                user_tok_s=_num(rec.get("user_tok_s", ""), "user_tok_s", where),
                spec_decode=(rec.get("spec_decode") or "unknown").strip().lower() or "unknown",
                value=float(value), source_url=(rec.get("source_url") or "").strip(),
                notes=(rec.get("notes") or "").strip(),
            ))
    return out
