"""The ledger's tables: ``requests`` (one row per request, unique by request id) and the budget tables
(:mod:`tokenfleet.gateway.budget`) share this :data:`metadata`."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table

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

# the idempotency key: a journal line replayed twice (after a crash or a lost commit reply) makes one row
request_id_index = Index("ux_requests_request_id", requests_table.c.request_id, unique=True)

__all__ = ["metadata", "request_id_index", "requests_table"]
