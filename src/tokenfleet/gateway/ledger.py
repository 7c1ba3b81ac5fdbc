"""The metering ledger: one row per request, journaled on local disk first, then in the database in batches.

SQLite in WAL mode by default (``sqlite:///path.db``), PostgreSQL (or anything SQLAlchemy speaks) by URL;
several gateway instances share one PostgreSQL ledger. A plain ``postgresql://`` URL uses psycopg 3
(``pip install 'psycopg[binary]'``) whatever SQLAlchemy's own default driver is.

``record`` appends the row to the process's :class:`~tokenfleet.gateway.journal.Journal` (one ``write``,
a few microseconds) before the response completes; a writer thread replays the journal into the database
every ``flush_interval_s`` or ``batch_size`` rows, one transaction per batch, with the request id as a
unique key (``INSERT ... ON CONFLICT DO NOTHING``) so a replay never duplicates a row. A database that is
down or locked is retried with backoff for as long as it takes — rows wait in the journal, nothing is
dropped — and each failure is counted (``write_errors``) and logged. A row the journal cannot take (disk
full) is held in memory for a direct write; :meth:`Ledger.can_record` is False when neither way works,
and the gateway then refuses new requests rather than serve them unmetered. Without a journal directory
(library use, tests) rows wait in memory only. Budgets (:mod:`tokenfleet.gateway.budget`) settle in the
same transaction as the rows that spend them. ``close`` writes everything it can before returning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, case, create_engine, event, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from tokenfleet.errors import EnvironmentProblem, InputError
from tokenfleet.gateway import budget
from tokenfleet.gateway.journal import Journal
from tokenfleet.gateway.schema import metadata, request_id_index, requests_table

log = logging.getLogger("tokenfleet.gateway.ledger")
MAX_MEMORY_ROWS = 100_000  # rows held for a direct write while the journal cannot be written
RESERVATION_TTL_S = 900.0  # a reservation whose request never produced a row is released after this

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


def _cannot_open(url: str, err: SQLAlchemyError) -> InputError | EnvironmentProblem:
    """A database that cannot be reached is the environment's problem (exit 3); anything else the input's."""
    detail = str(getattr(err, "orig", None) or err).strip().splitlines()
    message = f"cannot open ledger: {detail[0] if detail else type(err).__name__}"
    if isinstance(err, OperationalError):
        return EnvironmentProblem(message, where=_shown(url))
    return InputError(message, where=_shown(url))


SCHEMA_LOCK_KEY = 0x746F6B66_6C656467  # "tokfledg": the PostgreSQL advisory lock held while creating tables


def create_schema(engine: Engine) -> None:
    """Create the ledger's tables and indexes if they are missing, safely when several gateways start at
    once on one empty database: PostgreSQL serialises the creators with a transaction-scoped advisory lock
    (without it two ``CREATE TABLE`` race on the catalog: "duplicate key value violates unique constraint
    pg_type_typname_nsp_index"), SQLite with its write lock (``BEGIN IMMEDIATE``); whoever comes second
    finds the tables made."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        elif engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        metadata.create_all(conn)
        request_id_index.create(conn, checkfirst=True)  # older ledgers: add the idempotency key


def probe(url: str) -> None:
    """Connect once and create the tables (what ``serve`` needs of the ledger); raises as ``Ledger`` would."""
    engine = make_engine(url)
    try:
        create_schema(engine)
    except SQLAlchemyError as err:
        raise _cannot_open(url, err) from None
    finally:
        engine.dispose()


class Ledger:
    """Journal + batched writer thread. ``record`` never blocks on the database."""

    def __init__(self, url: str, batch_size: int = 256, flush_interval_s: float = 0.5,
                 journal_dir: str | Path | None = None, budgets: Mapping[str, float] | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        try:
            create_schema(self.engine)
            if budgets:
                budget.init_budgets(self.engine, budgets)
        except SQLAlchemyError as err:
            self.engine.dispose()
            raise _cannot_open(url, err) from None
        self.has_budgets = bool(budgets)
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.journal = Journal(journal_dir) if journal_dir is not None else None
        self._mem: deque[dict[str, Any]] = deque()
        self._upsert = _upsert_statement(self.engine)
        self.rows_written = 0
        self.write_errors = 0  # failed batch writes (each retried until it succeeds)
        self.db_ok = True
        self._own_committed = 0
        self._last_log = 0.0
        self._stopping = False
        self._stop_deadline = 0.0
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="tokenfleet-ledger", daemon=True)
        self._thread.start()

    # ---- request path ----------------------------------------------------------------------------
    def record(self, row: LedgerRow) -> bool:
        """Journal a row (or hold it for a direct write); False only when neither could take it."""
        d = {f: getattr(row, f) for f in _FIELDS}
        if self.journal is None or not self.journal.append(d):
            if len(self._mem) >= MAX_MEMORY_ROWS:
                log.error("ledger: row %s lost: journal unwritable and %d rows already waiting",
                          row.request_id, len(self._mem))
                return False
            self._mem.append(d)
        if self.backlog_rows() >= self.batch_size:
            self._wake.set()
        return True

    def can_record(self) -> bool:
        """Whether a new request's row has somewhere durable to go (journal, or a database that answers)."""
        if self.journal is not None and self.journal.ok:
            return True
        return self.db_ok and len(self._mem) < MAX_MEMORY_ROWS

    def backlog_rows(self) -> int:
        """Rows recorded by this process and not yet in the database."""
        appended = self.journal.appended if self.journal is not None else 0
        return len(self._mem) + appended - self._own_committed

    def reserve(self, request_id: str, key_id: str, usd: float) -> bool:
        """Reserve budget in the database (blocking: call from a thread). Raises SQLAlchemyError when
        the database cannot be reached."""
        return budget.reserve(self.engine, request_id, key_id, usd, RESERVATION_TTL_S)

    def release(self, request_ids: Iterable[str]) -> None:
        budget.release(self.engine, request_ids)

    # ---- writer thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.05
        next_chores = 0.0
        while True:
            woke = self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            stopping = self._stopping
            ok = self._drain(full_only=woke and not stopping)
            if ok and time.monotonic() >= next_chores:
                next_chores = time.monotonic() + 5.0
                self._chores()
            if stopping and (ok or time.monotonic() >= self._stop_deadline):
                return
            if ok:
                backoff = 0.05
                continue
            time.sleep(min(backoff, max(0.0, self._stop_deadline - time.monotonic()) if stopping else backoff))
            backoff = min(2.0, backoff * 2)

    def _chores(self) -> None:
        with contextlib.suppress(SQLAlchemyError):
            if self.journal is not None and self.journal.adopt():
                self._wake.set()
            if self.has_budgets:
                budget.expire(self.engine)

    def _drain(self, full_only: bool) -> bool:
        while True:
            mem = [self._mem[i] for i in range(min(self.batch_size, len(self._mem)))]
            taken = self.journal.pending(self.batch_size - len(mem)) if self.journal is not None else []
            rows = mem + [r for _, _, r in taken]
            if not rows or (full_only and len(rows) < self.batch_size):
                return True
            try:
                self._insert(rows)
            except Exception as exc:  # down, locked, disk full on the server: the rows wait and are retried
                self.write_errors += 1
                if self.db_ok or time.monotonic() - self._last_log > 10:
                    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
                    log.error("ledger %s: write of %d rows failed (%s); %d rows wait in the journal, retrying",
                              _shown(self.url), len(rows), detail[0] if detail else type(exc).__name__,
                              self.backlog_rows())
                    self._last_log = time.monotonic()
                self.db_ok = False
                return False
            if not self.db_ok:
                log.warning("ledger %s: writes succeed again", _shown(self.url))
            self.db_ok = True
            for _ in mem:
                self._mem.popleft()
            if taken and self.journal is not None:
                self._own_committed += sum(1 for seg, _, _ in taken if seg.own)
                self.journal.commit(taken)
            self.rows_written += len(rows)

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        params: list[dict[str, Any]] = []
        for r in rows:
            p = {f: r.get(f) for f in _FIELDS}
            p["day"] = _day(float(r["ts"]))
            p["stream"] = int(bool(r["stream"]))  # an INTEGER column: drivers send bools as boolean
            params.append(p)
        with self.engine.begin() as conn:
            if self._upsert is not None:
                inserted = [(k, float(u)) for k, u in conn.execute(self._upsert, params).all()]
            else:
                conn.execute(insert(requests_table), params)
                inserted = [(p["key_id"], float(p["usd"])) for p in params]
            if self.has_budgets:
                budget.settle(conn, inserted, [p["request_id"] for p in params])

    def close(self, timeout_s: float = 30.0) -> None:
        """Write every recorded row (within ``timeout_s``), stop the writer and release the database;
        rows the database did not take stay in the journal for the next start."""
        if self._closed:
            return
        self._closed = True
        self._stop_deadline = time.monotonic() + timeout_s
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout_s + 1.0)
        if self.journal is not None:
            while self._mem and self.journal.append(self._mem[0]):  # keep what the database missed
                self._mem.popleft()
            self.journal.close()
        if self._mem:
            log.error("ledger %s: %d rows could not be written anywhere at shutdown", _shown(self.url),
                      len(self._mem))
        self.engine.dispose()

    def spend_by_key(self) -> dict[str, float]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(requests_table.c.key_id, func.sum(requests_table.c.usd))
                                .group_by(requests_table.c.key_id)).all()
        return {k: float(v or 0.0) for k, v in rows}


def _upsert_statement(engine: Engine) -> Any:
    """``INSERT ... ON CONFLICT (request_id) DO NOTHING RETURNING key_id, usd`` where the dialect has it."""
    t = requests_table
    name = engine.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(t).on_conflict_do_nothing(index_elements=["request_id"]).returning(t.c.key_id, t.c.usd)
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(t).on_conflict_do_nothing(index_elements=["request_id"]).returning(
            t.c.key_id, t.c.usd)
    return None


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
    "RESERVATION_TTL_S",
    "SCHEMA_LOCK_KEY",
    "Ledger",
    "LedgerRow",
    "create_schema",
    "make_engine",
    "metadata",
    "probe",
    "read_rows",
    "requests_table",
    "summarise",
]
