"""The batched ledger writer: nothing lost on close, WAL mode, summaries by key / pool / day."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from tokenfleet.gateway.ledger import Ledger, LedgerRow, read_rows, summarise


def row(i: int, key: str, pool: str, ts: float, usd: float) -> LedgerRow:
    return LedgerRow(ts=ts, request_id=f"r{i}", key_id=key, slo_class="standard", pool=pool,
                     backend=f"{pool}/0", model="m", status=200, error=None if i % 5 else "stream cut",
                     stream=bool(i % 2),
                     prompt_tokens=10 + i, completion_tokens=2 * i, ttft_ms=5.0, duration_ms=20.0,
                     joules=3.0, usd=usd)


def test_close_flushes_every_row_in_order(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    ledger = Ledger(url, batch_size=7, flush_interval_s=60.0)  # batches of 7; the last partial one on close
    rows = [row(i, "k", "p", 1_700_000_000 + i, 0.001) for i in range(50)]
    for r in rows:
        ledger.record(r)
    ledger.close()
    assert read_rows(url) == rows
    assert ledger.rows_written == 50 and ledger.write_errors == 0
    with ledger.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_summaries_group_by_key_pool_and_day(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    ledger = Ledger(url, batch_size=100, flush_interval_s=0.05)
    day1, day2 = 1_700_000_000.0, 1_700_000_000.0 + 86_400  # 2023-11-14 and 2023-11-15 UTC
    rows = [row(0, "a", "x", day1, 1.0), row(1, "a", "x", day1 + 10, 2.0), row(2, "a", "y", day2, 4.0),
            row(3, "b", "x", day2, 8.0)]
    for r in rows:
        ledger.record(r)
    ledger.close()
    by_key = {r["key"]: r for r in summarise(url, ["key"])}
    assert by_key["a"]["usd"] == 7.0 and by_key["a"]["requests"] == 3
    assert by_key["a"]["completion_tokens"] == 0 + 2 + 4
    assert by_key["a"]["errors"] == 1  # row 0 carries an error
    full = summarise(url, ["key", "pool", "day"])
    assert [(r["key"], r["pool"], r["day"], r["usd"]) for r in full] == [
        ("a", "x", "2023-11-14", 3.0), ("a", "y", "2023-11-15", 4.0), ("b", "x", "2023-11-15", 8.0)]
    assert sum(r["requests"] for r in summarise(url, ["day"], since_day="2023-11-15")) == 2
    reopened = Ledger(url)
    assert reopened.spend_by_key() == {"a": 7.0, "b": 8.0}
    reopened.close()


def start_at_once(url: str, n: int = 6) -> list[BaseException]:
    """``n`` ledgers (each a gateway's start: tables, a budget) opened at the same moment on ``url``; the
    errors they raised."""
    import threading

    barrier = threading.Barrier(n)
    errors: list[BaseException] = []
    ledgers: list[Ledger] = []

    def start() -> None:
        barrier.wait()
        try:
            ledgers.append(Ledger(url, budgets={"team": 1.0}))
        except BaseException as exc:  # collected: the caller's assertion names it
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for led in ledgers:
        led.close()
    return errors if len(ledgers) + len(errors) == n else [*errors, TimeoutError("a start hung")]


def test_gateways_starting_at_once_on_a_new_sqlite_file_all_start(tmp_path: Path) -> None:
    """Each creator takes SQLite's write lock before it looks for the tables, so none finds them missing
    while another is creating them ("table requests already exists")."""
    assert start_at_once(f"sqlite:///{tmp_path / 'l.db'}") == []
