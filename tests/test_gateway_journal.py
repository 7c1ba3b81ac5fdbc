"""The ledger journal: rows survive ``kill -9``, a locked database and a full disk; replays never duplicate.

Each case runs a real process (``kill -9`` needs one; RLIMIT_FSIZE is per process) against a SQLite
ledger and a journal directory in ``tmp_path``.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tokenfleet.gateway.ledger import Ledger, LedgerRow, read_rows

ROW = """
def row(i):
    return LedgerRow(ts=1_700_000_000.0 + i, request_id=f"r{i}", key_id="k", slo_class="standard", pool="p",
                     backend="b", model="m", status=200, error=None, stream=bool(i % 2), prompt_tokens=i,
                     completion_tokens=2 * i, ttft_ms=1.0, duration_ms=2.0, joules=None, usd=0.001 * i)
"""


def row(i: int) -> LedgerRow:
    return LedgerRow(ts=1_700_000_000.0 + i, request_id=f"r{i}", key_id="k", slo_class="standard", pool="p",
                     backend="b", model="m", status=200, error=None, stream=bool(i % 2), prompt_tokens=i,
                     completion_tokens=2 * i, ttft_ms=1.0, duration_ms=2.0, joules=None, usd=0.001 * i)


def run(script: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    code = "from tokenfleet.gateway.ledger import Ledger, LedgerRow\n" + ROW + textwrap.dedent(script)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s,
                          check=False)


def wait_for(pred: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not pred():  # type: ignore[operator]
        time.sleep(0.02)


def test_kill_9_loses_no_row_and_replays_never_duplicate(tmp_path: Path) -> None:
    url, journal = f"sqlite:///{tmp_path / 'l.db'}", tmp_path / "journal"
    done = run(f"""
        import os, signal
        led = Ledger({url!r}, batch_size=100_000, flush_interval_s=3600, journal_dir={str(journal)!r})
        for i in range(500):
            led.record(row(i))
        os.kill(os.getpid(), signal.SIGKILL)  # before any flush: only the journal holds the rows
    """)
    assert done.returncode == -9, done.stderr
    assert read_rows(url) == []
    (segment,) = journal.glob("*.jsonl")
    saved = tmp_path / "saved.jsonl"
    shutil.copy(segment, saved)
    led = Ledger(url, flush_interval_s=0.02, journal_dir=journal)  # a restart adopts the dead segment
    wait_for(lambda: led.rows_written >= 500)
    led.close()
    assert read_rows(url) == [row(i) for i in range(500)]
    assert list(journal.glob("*.jsonl")) == []  # replayed segments are deleted
    shutil.copy(saved, journal / "0-1.jsonl")  # the same lines once more (a commit whose reply was lost)
    led = Ledger(url, flush_interval_s=0.02, journal_dir=journal)
    wait_for(lambda: not list(journal.glob("0-1.jsonl")))
    led.close()
    assert len(read_rows(url)) == 500  # the request id is the key: no duplicates


def test_a_locked_database_delays_rows_but_loses_none(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    url = f"sqlite:///{db}"
    led = Ledger(url, batch_size=10, flush_interval_s=0.02, journal_dir=tmp_path / "journal")
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        for i in range(50):
            assert led.record(row(i))
        time.sleep(0.5)
        assert led.rows_written == 0 and led.backlog_rows() == 50 and led.can_record()
    finally:
        lock.execute("COMMIT")
        lock.close()
    wait_for(lambda: led.rows_written >= 50)
    led.close()
    assert read_rows(url) == [row(i) for i in range(50)]


def test_a_full_disk_refuses_new_rows_then_writes_every_held_one(tmp_path: Path) -> None:
    url, journal = f"sqlite:///{tmp_path / 'l.db'}", tmp_path / "journal"
    Ledger(url).close()  # the tables exist before the file-size limit bites
    done = run(f"""
        import resource, time
        from tokenfleet.gateway.journal import ignore_sigxfsz
        ignore_sigxfsz()
        led = Ledger({url!r}, batch_size=5, flush_interval_s=0.02, journal_dir={str(journal)!r})
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))  # disk full: no file may grow
        for i in range(20):
            assert led.record(row(i))  # held in memory for a direct write
        time.sleep(0.5)
        print("while full:", led.journal.append_errors, led.rows_written, led.can_record(), led.write_errors > 0)
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space again
        for i in range(20, 25):
            assert led.record(row(i))
        led.close()
        print("after:", led.rows_written)
    """)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "while full: 20 0 False True"  # nowhere durable: the gateway answers 503
    assert lines[1] == "after: 25"
    assert read_rows(url) == [row(i) for i in range(25)]
