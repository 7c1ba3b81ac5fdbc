"""The metering ledger: one row per request, written off the hot path in batches.

SQLite in WAL mode by default (``sqlite:///path.db``), PostgreSQL (or anything SQLAlchemy speaks) by URL;
several gateway instances share one PostgreSQL ledger. A plain ``postgresql://`` URL uses psycopg 3
(``pip install 'psycopg[binary]'``) whatever SQLAlchemy's own default driver is. The request path only appends a
:class:`LedgerRow` to an in-memory queue (``record``, about a microsecond); a writer thread drains it every
``flush_interval_s`` or ``batch_size`` rows and inserts each batch in one transaction. ``close`` writes
everything still queued before returning, so a graceful shutdown loses nothing.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    case,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from tokenfleet.errors import InputError

metadata = MetaData()

requests_table = Table(
    "requests", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False, index=True),  # unix seconds at arrival
    Column("day", String(10), nullable=False, index=True),  # UTC date of ts, YYYY-MM-DD (for summaries)
    Column("request_id", String(64), nullable=False),
    Column("key_id", String(128), nullable=False, index=True),
    Column("slo_class", String(64), nullable=False),
    Column("pool", String(128), nullable=False),
    Column("backend", String(256), nullable=False),
    Column("model", String(256), nullable=False),
    Column("status", Integer, nullable=False),  # HTTP status the client saw (200 also for cut streams)
    Column("error", String(256), nullable=True),  # set when the request failed or the stream was cut
    Column("stream", Integer, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("ttft_ms", Float, nullable=True),
    Column("duration_ms", Float, nullable=False),
    Column("joules", Float, nullable=True),  # None when the pool's power is unknown
    Column("usd", Float, nullable=False),
)


@dataclass(frozen=True, slots=True)
class LedgerRow:
    ts: float
    request_id: str
    key_id: str
    slo_class: str
    pool: str
    backend: str
    model: str
    status: int
    error: str | None
    stream: bool
    prompt_tokens: int
    completion_tokens: int
    ttft_ms: float | None
    duration_ms: float
    joules: float | None
    usd: float


_FIELDS = [f.name for f in dataclasses.fields(LedgerRow)]
_STOP = object()
GROUPS = {"key": "key_id", "pool": "pool", "day": "day", "class": "slo_class", "backend": "backend",
          "model": "model"}


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _shown(url: str) -> str:
    """``url`` with any password masked, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL journaling and a relaxed fsync (safe under WAL), a plain
    ``postgresql://`` URL gets psycopg 3. Raises :class:`InputError` for a malformed URL or missing driver."""
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise InputError(f"not a database URL ({err})", where="ledger url") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"check_same_thread": False})

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()
            return engine
        return create_engine(parsed, pool_pre_ping=True)
    except ImportError as err:
        hint = " (pip install 'psycopg[binary]')" if parsed.get_backend_name() == "postgresql" else ""
        raise InputError(f"no database driver for this URL: {err}{hint}", where=_shown(url)) from None
    except ArgumentError as err:
        raise InputError(f"unusable database URL: {err}", where=_shown(url)) from None


def _cannot_open(url: str, err: SQLAlchemyError) -> InputError:
    detail = str(getattr(err, "orig", None) or err).strip().splitlines()
    return InputError(f"cannot open ledger: {detail[0] if detail else type(err).__name__}", where=_shown(url))


class Ledger:
    """A batched, thread-backed ledger writer. ``record`` never blocks on the database."""

    def __init__(self, url: str, batch_size: int = 256, flush_interval_s: float = 0.5) -> None:
        self.url = url
        self.engine = make_engine(url)
        try:
            metadata.create_all(self.engine)
        except SQLAlchemyError as err:
            self.engine.dispose()
            raise _cannot_open(url, err) from None
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.rows_written = 0
        self.write_errors = 0
        self._thread = threading.Thread(target=self._run, name="tokenfleet-ledger", daemon=True)
        self._thread.start()
        self._closed = False

    def record(self, row: LedgerRow) -> None:
        self._queue.put(row)

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[dict[str, Any]] = []
            deadline = time.monotonic() + self.flush_interval_s
            while len(batch) < self.batch_size:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                row = {f: getattr(item, f) for f in _FIELDS}
                row["day"] = _day(item.ts)
                row["stream"] = int(item.stream)  # an INTEGER column: psycopg2 / asyncpg send bools as boolean
                batch.append(row)
            if batch:
                self._write(batch)

    def _write(self, batch: list[dict[str, Any]]) -> None:
        for attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    conn.execute(requests_table.insert(), batch)
                self.rows_written += len(batch)
                return
            except Exception:  # a locked or unreachable database: retry, then count the loss
                if attempt == 2:
                    self.write_errors += len(batch)
                time.sleep(0.05 * (attempt + 1))

    def close(self, timeout_s: float = 30.0) -> None:
        """Write every queued row, stop the writer and release the database."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout_s)
        self.engine.dispose()

    def spend_by_key(self) -> dict[str, float]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(requests_table.c.key_id, func.sum(requests_table.c.usd))
                                .group_by(requests_table.c.key_id)).all()
        return {k: float(v or 0.0) for k, v in rows}


def read_rows(url: str) -> list[LedgerRow]:
    """Every row of a ledger, oldest first (tests and exports)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(*[requests_table.c[f] for f in _FIELDS])
                                .order_by(requests_table.c.id)).all()
    except SQLAlchemyError as err:
        raise _cannot_open(url, err) from None
    finally:
        engine.dispose()
    return [LedgerRow(**{**r._asdict(), "stream": bool(r.stream)}) for r in rows]


def summarise(url: str, by: list[str], since_day: str | None = None) -> list[dict[str, Any]]:
    """Totals grouped by ``by`` (names of :data:`GROUPS`): requests, errors, tokens, joules, dollars,
    mean TTFT. Works the same on SQLite and PostgreSQL."""
    t = requests_table
    cols = [t.c[GROUPS[g]].label(g) for g in by]
    q = select(*cols, func.count().label("requests"),
               func.sum(case((t.c.error.is_not(None), 1), (t.c.status >= 400, 1), else_=0)).label("errors"),
               func.sum(t.c.prompt_tokens).label("prompt_tokens"),
               func.sum(t.c.completion_tokens).label("completion_tokens"),
               func.sum(t.c.joules).label("joules"), func.sum(t.c.usd).label("usd"),
               func.avg(t.c.ttft_ms).label("mean_ttft_ms"))
    if since_day:
        q = q.where(t.c.day >= since_day)
    if cols:
        q = q.group_by(*cols).order_by(*cols)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(q).all()
    except SQLAlchemyError as err:
        raise _cannot_open(url, err) from None
    finally:
        engine.dispose()
    return [{k: (float(v) if isinstance(v, Decimal) else v) for k, v in r._asdict().items()} for r in rows]


__all__ = [
    "GROUPS",
    "Ledger",
    "LedgerRow",
    "make_engine",
    "metadata",
    "read_rows",
    "requests_table",
    "summarise",
]
