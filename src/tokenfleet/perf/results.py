"""Published results: reading a CSV with the columns of ``shared/data/benchmarks/published_results.csv``.

Only the first ten columns are machine-readable (see that file's README); the rest are kept as free text.
Every cell is checked at the door and a bad one raises :class:`InputError` naming the file, the data row
(and its line in the file) and the column: a missing column, a row cut mid-line, a number that is not one
(``fast``, ``nan``, ``inf``), a value that makes no physical sense (``0``, ``-3``, ``num_chips`` 2.5), a
``spec_decode`` other than yes / no / unknown, an id the catalog does not know (with the closest ids), a file
that is not UTF-8, a header with no rows, more than :data:`MAX_ROWS` rows.

A row with an empty ``metric_id`` is "not usable as a check" (the file's README): it is kept as a *record*
(``PublishedResult.is_record``; its value may be blank) and every prediction reports it as skipped with that
reason, never dropped. A row without a ``workload_id`` (its input / output lengths are not published) is
kept too and predicted as skipped.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tokenfleet import catalog
from tokenfleet.catalog import PRECISIONS
from tokenfleet.errors import InputError, TokenfleetError
from tokenfleet.inputs import read_text

REQUIRED_COLUMNS = ("hw_id", "num_chips", "model_id", "precision_id", "workload_id", "metric_id",
                    "ttft_p99_ms", "tpot_p99_ms", "user_tok_s", "spec_decode", "value")
METRICS = ("offline_tok_s", "server_tok_s", "per_user_tok_s", "ttft_ms", "per_chip_tok_s",
           "max_aggregate_tok_s", "usd_per_mtok")
SPEC_DECODE = ("yes", "no", "unknown")
MAX_ROWS = 10_000  # far above any published file (242 rows); bounds validate's work (~ms per row)
MAX_CHIPS = 1_000_000


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
    value: float  # NaN only for a record row (blank metric_id) that publishes no value
    source_url: str = ""
    notes: str = ""
    date: str = ""  # as published (YYYY-MM or YYYY-MM-DD): picks the serving stack of its time
    constraints: str = ""  # the run's stated conditions ("batch size 256", "concurrency 64"): perf.published

    @property
    def is_record(self) -> bool:
        """A row with a blank ``metric_id``: a record of the result, not usable as a check."""
        return not self.metric

    def label(self) -> str:
        chips = f"{self.num_chips}x" if self.num_chips else "?x"
        return f"{chips}{self.hw_id} {self.model_id} {self.precision or '-'} {self.workload_id} {self.metric}"


class Row:
    """One data row of a CSV with its place in the file, for cell checks that name file, row and column."""

    __slots__ = ("cells", "line", "name", "number")

    def __init__(self, name: str, number: int, line: int, cells: dict[str, str]) -> None:
        self.name, self.number, self.line, self.cells = name, number, line, cells

    def where(self, column: str | None = None) -> str:
        at = f"{self.name} row {self.number} (line {self.line})"
        return f"{at}, column {column!r}" if column else at

    def text(self, column: str) -> str:
        return (self.cells.get(column) or "").strip()

    def number_or_none(self, column: str, positive: bool = True) -> float | None:
        """A finite number (> 0 when ``positive``, else >= 0), or None for an empty cell."""
        text = self.text(column)
        if not text:
            return None
        try:
            v = float(text)
        except ValueError:
            raise InputError(f"must be a number, got {text!r}", where=self.where(column)) from None
        if not math.isfinite(v):
            raise InputError(f"must be a finite number, got {text!r}", where=self.where(column))
        if v < 0 or (positive and v == 0):
            raise InputError(f"must be {'> 0' if positive else '>= 0'}, got {text!r}", where=self.where(column))
        return v

    def whole_or_none(self, column: str, lo: int = 1, hi: int = MAX_CHIPS) -> int | None:
        v = self.number_or_none(column)
        if v is None:
            return None
        if v != int(v):
            raise InputError(f"must be a whole number, got {self.text(column)!r}", where=self.where(column))
        if not lo <= v <= hi:
            raise InputError(f"must be in [{lo}, {hi:,}], got {self.text(column)!r}", where=self.where(column))
        return int(v)

    def known_id(self, column: str, lookup: Callable[[str], object]) -> str:
        ident = self.text(column)
        if not ident:
            raise InputError("is empty", where=self.where(column))
        try:
            lookup(ident)
        except TokenfleetError as exc:
            raise InputError(f"{exc}; pass --skip-unknown to predict the other rows",
                             where=self.where(column)) from None
        return ident

    def choice(self, column: str, allowed: tuple[str, ...], default: str | None) -> str | None:
        text = self.text(column).lower()
        if not text:
            return default
        if text not in allowed:
            raise InputError(f"must be one of {', '.join(allowed)}, got {self.text(column)!r}",
                             where=self.where(column))
        return text


def read_rows(path: str | Path, required: tuple[str, ...], what: str, max_rows: int = MAX_ROWS) -> Iterator[Row]:
    """Data rows of a CSV file as :class:`Row` (blank lines skipped): UTF-8 and size checked, required
    columns present, every row as long as the header (a row cut mid-line is named by its line), at least one
    row, at most ``max_rows``."""
    path = Path(path)
    text = read_text(path, what)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError(f"empty {what}: no header row", where=str(path)) from None
    except csv.Error as exc:
        raise InputError(f"not valid CSV: {exc}", where=f"{path} line 1") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(f"missing columns {missing} (see shared/data/benchmarks/README.md)", where=str(path))
    number = 0
    line = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(f"not valid CSV: {exc}", where=f"{path.name} line {line + 1}") from None
        start, line = line + 1, reader.line_num
        if not cells or all(not c.strip() for c in cells):
            continue
        number += 1
        if number > max_rows:
            raise InputError(f"more than {max_rows:,} data rows; split the file", where=str(path))
        if len(cells) != len(header):
            raise InputError(f"{len(cells)} fields but the header has {len(header)} (row cut mid-line or "
                             "extra commas)", where=f"{path.name} row {number} (line {start})")
        yield Row(path.name, number, start, dict(zip(header, cells, strict=True)))
    if number == 0:
        raise InputError(f"{what} has a header but no data rows", where=str(path))


def _record(r: Row) -> PublishedResult:
    """A row with a blank ``metric_id`` ("blank = not usable as a check"): kept as it reads, ids unchecked."""
    value = r.number_or_none("value")
    return PublishedResult(
        row=r.number, hw_id=r.text("hw_id"), num_chips=None, model_id=r.text("model_id"),
        precision=r.text("precision_id") or None, workload_id=r.text("workload_id"), metric="",
        ttft_p99_ms=None, tpot_p99_ms=None, user_tok_s=None, spec_decode="unknown",
        value=math.nan if value is None else value, source_url=r.text("source_url"), notes=r.text("notes"),
        date=r.text("date"), constraints=r.text("constraints"))


def _result(r: Row, check_ids: bool) -> PublishedResult:
    metric = r.text("metric_id")
    if not metric:
        return _record(r)
    if metric not in METRICS and check_ids:
        raise InputError(f"unknown metric {metric!r} (known: {', '.join(METRICS)}); pass --skip-unknown to "
                         "predict the other rows", where=r.where("metric_id"))
    value = r.number_or_none("value")
    if value is None:
        raise InputError("is empty (a row with a metric_id needs its value)", where=r.where("value"))
    if check_ids:
        r.known_id("hw_id", catalog.hardware)
        r.known_id("model_id", catalog.model)
        if r.text("workload_id"):
            r.known_id("workload_id", catalog.workload)
    for key in ("hw_id", "model_id"):
        if not r.text(key):
            raise InputError("is empty", where=r.where(key))
    precision = r.choice("precision_id", PRECISIONS, None) if check_ids else (r.text("precision_id") or None)
    return PublishedResult(
        row=r.number, hw_id=r.text("hw_id"), num_chips=r.whole_or_none("num_chips"), model_id=r.text("model_id"),
        precision=precision, workload_id=r.text("workload_id"), metric=metric,
        ttft_p99_ms=r.number_or_none("ttft_p99_ms"), tpot_p99_ms=r.number_or_none("tpot_p99_ms"),
        user_tok_s=r.number_or_none("user_tok_s"),
        spec_decode=r.choice("spec_decode", SPEC_DECODE, "unknown") or "unknown",
        value=value, source_url=r.text("source_url"), notes=r.text("notes"), date=r.text("date"),
        constraints=r.text("constraints"),
    )


def read_results(path: str | Path, skip_unknown: bool = False) -> list[PublishedResult]:
    """Parse a published-results CSV. Rows with an empty ``metric_id`` are kept as records
    (:attr:`PublishedResult.is_record`; predicted as skipped, never dropped). An unknown hardware,
    model, workload or metric id is an error naming the row and column unless ``skip_unknown``: then the row
    is kept and comes back from prediction as skipped with the catalog's message."""
    out = []
    for r in read_rows(path, REQUIRED_COLUMNS, "results CSV"):
        out.append(_result(r, check_ids=not skip_unknown))
    return out
