"""Budgets held in the shared ledger database, so any number of gateway instances enforce one budget.

Two tables beside ``requests``: ``budgets`` (per key: the budget, dollars spent, dollars reserved) and
``reservations`` (per in-flight request: its key and the dollars held). Before a request is forwarded its
maximum cost — the prompt estimate plus ``max_tokens x n`` completion tokens, at the dearest pool that
serves the model — is reserved with one atomic statement::

    UPDATE budgets SET reserved_usd = reserved_usd + :usd
     WHERE key_id = :key AND spent_usd + reserved_usd + :usd <= budget_usd

which PostgreSQL runs under the row's lock (a concurrent UPDATE waits and re-checks the condition on the
new row) and SQLite under its database write lock; no row changed means the budget cannot take it (429).
The reservation is settled when the request's row reaches the ``requests`` table, in the same
transaction (:func:`settle`): spend grows by the rows actually inserted (a replayed duplicate adds
nothing) and the reservation is dropped. Reservations of requests that never produced a row (a process
killed mid-request) expire after ``ttl_s``. So at every moment spend + reservations bounds what was used,
and total spend can pass the budget by at most what one request used beyond its own reservation.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping

from sqlalchemy import Column, Connection, Engine, Float, String, Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tokenfleet.gateway.schema import metadata, requests_table

EPS_USD = 1e-12

budgets_table = Table(
    "budgets", metadata,
    Column("key_id", String(128), primary_key=True),
    Column("budget_usd", Float, nullable=False),
    Column("spent_usd", Float, nullable=False),
    Column("reserved_usd", Float, nullable=False),
)

reservations_table = Table(
    "reservations", metadata,
    Column("request_id", String(64), primary_key=True),
    Column("key_id", String(128), nullable=False, index=True),
    Column("usd", Float, nullable=False),
    Column("expires_ts", Float, nullable=False, index=True),
)


def init_budgets(engine: Engine, budgets: Mapping[str, float]) -> None:
    """Create or update each key's budget; a new row starts from the key's spend already in the ledger."""
    t = budgets_table
    with engine.begin() as conn:
        for key_id, budget_usd in budgets.items():
            if conn.execute(update(t).where(t.c.key_id == key_id).values(budget_usd=budget_usd)).rowcount:
                continue
            spent = conn.execute(select(func.coalesce(func.sum(requests_table.c.usd), 0.0))
                                 .where(requests_table.c.key_id == key_id)).scalar_one()
            try:
                with conn.begin_nested():
                    conn.execute(insert(t).values(key_id=key_id, budget_usd=budget_usd, spent_usd=float(spent),
                                                  reserved_usd=0.0))
            except IntegrityError:  # another instance created it first
                conn.execute(update(t).where(t.c.key_id == key_id).values(budget_usd=budget_usd))


def reserve(engine: Engine, request_id: str, key_id: str, usd: float, ttl_s: float) -> bool:
    """Hold ``usd`` of ``key_id``'s budget for ``request_id``; False when the budget cannot take it."""
    t = budgets_table
    with engine.begin() as conn:
        held = conn.execute(update(t).where(t.c.key_id == key_id,
                                            t.c.spent_usd + t.c.reserved_usd + usd <= t.c.budget_usd + EPS_USD)
                            .values(reserved_usd=t.c.reserved_usd + usd)).rowcount
        if not held:
            return False
        conn.execute(insert(reservations_table).values(request_id=request_id, key_id=key_id, usd=usd,
                                                       expires_ts=time.time() + ttl_s))
    return True


def release(engine: Engine, request_ids: Iterable[str]) -> None:
    """Drop reservations now (a request refused after reserving, whose row carries no cost)."""
    with engine.begin() as conn:
        _drop(conn, list(request_ids))


def _drop(conn: Connection, request_ids: list[str]) -> None:
    if not request_ids:
        return
    r = reservations_table
    held: dict[str, float] = defaultdict(float)
    for i in range(0, len(request_ids), 500):
        part = request_ids[i:i + 500]
        # DELETE ... RETURNING: only the reservations this transaction removed come back, so a release and
        # the settling of the same request's row, racing in two transactions, give the hold back once
        for key_id, usd in conn.execute(delete(r).where(r.c.request_id.in_(part))
                                        .returning(r.c.key_id, r.c.usd)).all():
            held[key_id] += usd
    t = budgets_table
    for key_id, usd in held.items():
        conn.execute(update(t).where(t.c.key_id == key_id).values(reserved_usd=t.c.reserved_usd - usd))


def settle(conn: Connection, inserted: Iterable[tuple[str, float]], request_ids: list[str]) -> None:
    """In the transaction that inserted rows: add the spend of the rows new to the table (key, usd) and
    drop the reservations of every request in the batch."""
    _drop(conn, request_ids)  # reservations before budgets, in every transaction: no lock-order deadlock
    spent: dict[str, float] = defaultdict(float)
    for key_id, usd in inserted:
        if usd:
            spent[key_id] += usd
    t = budgets_table
    for key_id, usd in spent.items():
        conn.execute(update(t).where(t.c.key_id == key_id).values(spent_usd=t.c.spent_usd + usd))


def expire(engine: Engine, now: float | None = None) -> int:
    """Drop reservations past their expiry (requests whose process died); returns how many."""
    r = reservations_table
    with engine.begin() as conn:
        ids = list(conn.execute(select(r.c.request_id).where(r.c.expires_ts < (now or time.time())))
                   .scalars())
        _drop(conn, ids)
    return len(ids)


def standing(engine: Engine, key_id: str) -> tuple[float, float, float] | None:
    """(budget, spent, reserved) of a key, or None when it has no budget."""
    t = budgets_table
    with engine.connect() as conn:
        row = conn.execute(select(t.c.budget_usd, t.c.spent_usd, t.c.reserved_usd)
                           .where(t.c.key_id == key_id)).first()
    return None if row is None else (float(row[0]), float(row[1]), float(row[2]))


__all__ = ["budgets_table", "expire", "init_budgets", "release", "reservations_table", "reserve", "settle",
           "standing"]
