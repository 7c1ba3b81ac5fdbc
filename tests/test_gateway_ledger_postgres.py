"""The metering ledger on a real PostgreSQL server (``postgresql+psycopg://``), not only on SQLite.

The session starts a throwaway server: ``initdb`` into a fresh temporary directory, ``pg_ctl start``
listening only on a unix socket inside it, then stop and delete at the end. PostgreSQL refuses to run as
root, so under root both run as the ``postgres`` system user (``nobody`` where that user is missing) via
``runuser``. Without server binaries (PATH or /usr/lib/postgresql/*/bin) or psycopg the file skips, naming
what is missing; CI installs Debian's ``postgresql`` package so it runs there.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from typer.testing import CliRunner

from tokenfleet.cli import app, main
from tokenfleet.gateway.app import create_app
from tokenfleet.gateway.config import parse_config
from tokenfleet.gateway.emulator.server import create_emulator_app
from tokenfleet.gateway.ledger import Ledger, LedgerRow, make_engine, read_rows, summarise
from tokenfleet.gateway.runner import ServerThread

psycopg = pytest.importorskip("psycopg", reason="psycopg 3 (pip install 'psycopg[binary]') is not installed")


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return versions[-1] if versions else None


def _as_user() -> tuple[list[str], str | None]:
    """The command prefix that runs the server binaries, and the user to chown the data dir to."""
    if os.geteuid() != 0:
        return [], None
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root and no runuser to start PostgreSQL as an unprivileged user")
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return [runuser, "-u", user, "--"], user
    pytest.skip("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    """A throwaway PostgreSQL server for this module; yields the socket directory (its libpq host)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin; "
                    "Debian: apt-get install postgresql")
    prefix, user = _as_user()
    root = tempfile.mkdtemp(prefix="tf-pg-")  # not under pytest's tmp_path: that is private to root
    if user is not None:
        os.chown(root, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    data, log = os.path.join(root, "data"), os.path.join(root, "server.log")

    def run(*cmd: str) -> None:
        done = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            server_log = Path(log).read_text() if Path(log).exists() else ""
            pytest.fail(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}{done.stderr}{server_log}")

    try:
        run(initdb, "-D", data, "-U", "tokenfleet", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        opts = f"-k {root} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        run(pg_ctl, "-D", data, "-l", log, "-o", opts, "-w", "-t", "30", "start")
        try:
            yield root
        finally:
            run(pg_ctl, "-D", data, "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


_db_ids = itertools.count()


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the session's server, as a SQLAlchemy URL."""
    name = f"ledger_{os.getpid()}_{next(_db_ids)}"
    with psycopg.connect(host=pg_server, user="tokenfleet", dbname="postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgresql+psycopg://tokenfleet@/{name}?host={pg_server}"


def row(i: int, key: str, pool: str, ts: float, usd: float) -> LedgerRow:
    return LedgerRow(ts=ts, request_id=f"r{i}", key_id=key, slo_class="standard", pool=pool,
                     backend=f"{pool}/0", model="m", status=200, error=None if i % 5 else "stream cut",
                     stream=bool(i % 2), prompt_tokens=10 + i, completion_tokens=2 * i,
                     ttft_ms=None if i == 3 else 5.0 + i / 7, duration_ms=20.0 + i / 3,
                     joules=None if i == 4 else 3.0 + i / 11, usd=usd * (1 + i / 13))


def test_the_server_is_postgresql(pg_url: str) -> None:
    ledger = Ledger(pg_url)
    try:
        assert ledger.engine.dialect.name == "postgresql" and ledger.engine.dialect.driver == "psycopg"
        with ledger.engine.connect() as conn:
            assert str(conn.execute(text("SELECT version()")).scalar()).startswith("PostgreSQL")
    finally:
        ledger.close()


def test_batches_of_one_transaction_each_and_close_flushes_every_row(pg_url: str) -> None:
    ledger = Ledger(pg_url, batch_size=7, flush_interval_s=60.0)  # only full batches, the rest on close
    commits: list[int] = []
    event.listen(ledger.engine, "commit", lambda conn: commits.append(1))
    rows = [row(i, "k", "p", 1_700_000_000 + i * 0.25, 0.001) for i in range(50)]
    for r in rows:
        ledger.record(r)
    ledger.close()
    assert ledger.rows_written == 50 and ledger.write_errors == 0
    assert len(commits) == 8  # 7 full batches of 7 rows and the last 1 row on close: ceil(50 / 7)
    assert read_rows(pg_url) == rows  # every field round-trips exactly, in order (floats, None, bools)
    with ledger.engine.connect() as conn:  # stored as the INTEGER the schema declares, not as booleans
        stored = conn.execute(text("SELECT stream FROM requests ORDER BY id")).scalars().all()
    assert stored == [i % 2 for i in range(50)] and all(type(v) is int for v in stored)


def test_the_interval_flushes_a_partial_batch_without_close(pg_url: str) -> None:
    ledger = Ledger(pg_url, batch_size=1000, flush_interval_s=0.05)
    try:
        rows = [row(i, "k", "p", 1_700_000_000 + i, 0.5) for i in range(3)]
        for r in rows:
            ledger.record(r)
        for _ in range(200):  # up to 2 s; a flush is due after 0.05 s
            if ledger.rows_written == 3:
                break
            time.sleep(0.01)
        assert read_rows(pg_url) == rows  # readable from another connection before close
    finally:
        ledger.close()


def test_summaries_and_the_usage_command_group_by_key_pool_and_day(pg_url: str) -> None:
    ledger = Ledger(pg_url, batch_size=100, flush_interval_s=0.05)
    day1, day2 = 1_700_000_000.0, 1_700_000_000.0 + 86_400  # 2023-11-14 and 2023-11-15 UTC
    rows = [row(0, "a", "x", day1, 1.0), row(1, "a", "x", day1 + 10, 2.0), row(2, "a", "y", day2, 4.0),
            row(3, "b", "x", day2, 8.0)]
    for r in rows:
        ledger.record(r)
    ledger.close()

    def total(pick: list[LedgerRow], field: str) -> Any:
        vals = [getattr(r, field) for r in pick if getattr(r, field) is not None]
        return sum(vals) if vals else None

    full = summarise(pg_url, ["key", "pool", "day"])
    groups = [("a", "x", "2023-11-14", rows[:2]), ("a", "y", "2023-11-15", rows[2:3]),
              ("b", "x", "2023-11-15", rows[3:])]
    assert [(g["key"], g["pool"], g["day"]) for g in full] == [g[:3] for g in groups]
    for got, (_, _, _, pick) in zip(full, groups, strict=True):
        assert got["requests"] == len(pick) and isinstance(got["requests"], int)
        assert got["errors"] == sum(r.error is not None for r in pick)
        assert got["prompt_tokens"] == total(pick, "prompt_tokens")
        assert got["completion_tokens"] == total(pick, "completion_tokens")
        assert got["usd"] == pytest.approx(total(pick, "usd"), rel=1e-12)
        assert got["joules"] == (None if total(pick, "joules") is None else pytest.approx(total(pick, "joules")))
        ttfts = [r.ttft_ms for r in pick if r.ttft_ms is not None]
        assert got["mean_ttft_ms"] == (pytest.approx(sum(ttfts) / len(ttfts)) if ttfts else None)
    assert sum(g["requests"] for g in summarise(pg_url, ["day"], since_day="2023-11-15")) == 2
    (everything,) = summarise(pg_url, [])
    assert everything["requests"] == 4 and everything["usd"] == pytest.approx(total(rows, "usd"))

    reopened = Ledger(pg_url)  # create_all on an existing table is a no-op; spend survives restarts
    assert reopened.spend_by_key() == pytest.approx({"a": total(rows[:3], "usd"), "b": total(rows[3:], "usd")})
    reopened.close()

    out = CliRunner().invoke(app, ["usage", "--ledger", pg_url, "--by", "key,pool,day", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == full
    table = CliRunner().invoke(app, ["usage", "--ledger", pg_url, "--by", "key"], env={"COLUMNS": "250"})
    assert table.exit_code == 0 and "usage from postgresql+psycopg://" in table.output
    assert len(re.findall(r"^a\s", table.output, re.M)) == 1 and len(re.findall(r"^b\s", table.output, re.M)) == 1


def test_a_plain_postgresql_url_and_an_unreachable_server(pg_url: str, pg_server: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")  # the form the docs show
    ledger = Ledger(plain, flush_interval_s=0.01)
    ledger.record(row(1, "k", "p", 1_700_000_000.0, 1.0))
    ledger.close()
    assert len(read_rows(pg_url)) == 1 and ledger.write_errors == 0
    gone = plain.replace(pg_server, pg_server + "-gone")
    with pytest.raises(SystemExit) as exit_:
        main(["usage", "--ledger", gone, "--json"])
    assert exit_.value.code == 3  # an environment problem: a clear one-line error, not a traceback
    err = capsys.readouterr().err
    assert "cannot open ledger" in err and "Traceback" not in err


def test_a_gateway_on_a_postgresql_ledger_flushes_every_request_on_graceful_stop(pg_url: str) -> None:
    import openai

    model = "llama-3.3-70b"
    backend = ServerThread(create_emulator_app("cs3", model)).start()
    cfg = parse_config({"ledger": {"url": pg_url, "batch_size": 1000, "flush_interval_s": 60},  # only on stop
                        "pools": [{"name": "cs3", "model": model, "hardware": "cs3", "usd_per_mtok_in": 0.85,
                                   "usd_per_mtok_out": 1.2, "backends": [{"url": backend.url}]}]})
    try:
        with ServerThread(create_app(cfg)) as gw:
            c = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0, timeout=30)
            got = [c.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                             max_tokens=1 + i).usage for i in range(6)]
            assert read_rows(pg_url) == []  # nothing due yet: batch and interval are both far off
    finally:
        backend.stop()
    rows = read_rows(pg_url)  # the graceful stop flushed all six
    assert [(r.prompt_tokens, r.completion_tokens) for r in rows] == [
        (u.prompt_tokens, u.completion_tokens) for u in got if u is not None]
    assert all(r.pool == "cs3" and r.status == 200 and r.error is None for r in rows)
    (total,) = summarise(pg_url, ["pool"])
    assert total["requests"] == 6 and total["usd"] == pytest.approx(
        sum(r.prompt_tokens * 0.85 + r.completion_tokens * 1.2 for r in rows) / 1e6)


def test_two_gateways_on_one_postgresql_budget_cannot_overspend(pg_url: str, tmp_path: Path) -> None:
    """Two gateway instances, one PostgreSQL ledger, 64 concurrent clients split between them: the budget
    is reserved with an atomic UPDATE under PostgreSQL's row lock, so together they serve exactly what it
    covers (before reservations: $2.20 of spend on a $1 budget)."""
    from test_gateway_budget import budget_config, hammer
    from tokenfleet.gateway.budget import standing

    backend = ServerThread(create_emulator_app("h100", "llama-3.1-8b", time_scale=5.0)).start()
    gws = [ServerThread(create_app(parse_config(budget_config(pg_url, backend.url, tmp_path / f"j{i}"))))
           for i in range(2)]
    try:
        for gw in gws:
            gw.start()
        hammer([gw.url for gw in gws], 2)  # each instance derives the key's scrypt hash once
        replies = hammer([gw.url for gw in gws], 62)
    finally:
        for gw in gws:
            gw.stop()
        backend.stop()
    ok = sum(r.status_code == 200 for r in replies)
    assert ok == 8 and sum(r.status_code == 429 for r in replies) == 54  # 2 + 8 = 10 x $0.10
    rows = read_rows(pg_url)
    assert len(rows) == 64 and len({r.request_id for r in rows}) == 64
    assert sum(r.usd for r in rows) == pytest.approx(1.0)
    engine = make_engine(pg_url)
    got = standing(engine, "team")
    engine.dispose()
    assert got is not None and got[1] == pytest.approx(1.0) and got[2] == pytest.approx(0.0, abs=1e-9)


def test_six_gateways_starting_at_once_on_an_empty_database_all_start(pg_url: str) -> None:
    """Concurrent ``CREATE TABLE``s race on PostgreSQL's catalog; the advisory lock makes the creators wait
    their turn, so every start succeeds and the schema is made once (budgets included)."""
    from test_gateway_ledger import start_at_once

    assert start_at_once(pg_url) == []
    with make_engine(pg_url).connect() as conn:
        tables = conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar()
        budgets = conn.execute(text("SELECT count(*) FROM budgets")).scalar()
    assert (tables, budgets) == (3, 1)
