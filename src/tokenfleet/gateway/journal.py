"""The local append-only journal in front of the ledger database: a row is on disk before its response ends.

Each gateway process appends to its own segment ``<dir>/<ns>-<pid>.jsonl`` (one JSON object per line, one
``write(2)`` per row on an ``O_APPEND`` descriptor). A completed ``write`` is in the page cache, which
survives a ``kill -9`` of the process; only a crash of the machine itself can lose it (``fsync`` per row
would cost a disk flush per request). The segment is locked (``flock``) while its process lives.

The ledger's writer thread reads new lines from the segment and from every *unlocked* segment in the
directory — left behind by a process that died or stopped before the database took its rows — and inserts
them in batches, keyed by request id so a line replayed twice makes one row. A segment fully replayed is
deleted (the own one once it passes ``ROTATE_BYTES``, by switching to a fresh segment).

A failed append (disk full, file-size limit, I/O error) returns False; the caller keeps the row in memory
for a direct database write, and a half-written line is fenced off by a newline before the next row.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("tokenfleet.gateway.journal")

ROTATE_BYTES = 4 << 20
READ_CHUNK = 1 << 20


def ignore_sigxfsz() -> None:
    """A write past RLIMIT_FSIZE must fail with EFBIG, not kill the process (main thread only)."""
    with contextlib.suppress(ValueError, AttributeError):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


@dataclass(slots=True)
class _Segment:
    path: Path
    fd: int  # read descriptor, holding the flock of an adopted segment
    own: bool
    offset: int = 0  # bytes replayed into the database
    pending: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (end offset, row) read ahead


class Journal:
    """One process's segment plus the orphans it adopts; append from the event loop, read from the writer."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.ok = True
        self.append_errors = 0
        self.corrupt_lines = 0
        self.appended = 0
        self._fenced = False  # the last append failed part-way: start the next with a newline
        self._last_log = 0.0
        self._wfd = -1
        self._segments: list[_Segment] = []
        self._open_own()
        self.adopt()

    # ---- writing (event loop) --------------------------------------------------------------------
    def _open_own(self) -> None:
        path = self.dir / f"{time.time_ns()}-{os.getpid()}.jsonl"
        wfd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        fcntl.flock(wfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        rfd = os.open(path, os.O_RDONLY)
        old, self._wfd = self._wfd, wfd
        self._segments.append(_Segment(path, rfd, own=True))
        if old >= 0:
            os.close(old)

    def append(self, row: dict[str, Any]) -> bool:
        data = orjson.dumps(row) + b"\n"
        with self._lock:
            if self._fenced:
                data = b"\n" + data
            try:
                n = os.write(self._wfd, data)
                if n != len(data):
                    self._fenced = True
                    raise OSError(28, f"short write ({n} of {len(data)} bytes)")
            except OSError as exc:
                self.append_errors += 1
                if self.ok or time.monotonic() - self._last_log > 10:
                    log.error("ledger journal %s cannot be written (%s); rows go straight to the database",
                              self.dir, exc)
                    self._last_log = time.monotonic()
                self.ok = False
                return False
            if not self.ok:
                log.warning("ledger journal %s is writable again", self.dir)
            self.ok = True
            self._fenced = False
            self.appended += 1
            return True

    # ---- reading (writer thread) -----------------------------------------------------------------
    def adopt(self) -> int:
        """Take over unlocked segments of processes that are gone; returns how many."""
        known = {s.path for s in self._segments}
        n = 0
        for path in sorted(self.dir.glob("*.jsonl")):
            if path in known:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # a live process owns it
                continue
            self._segments.insert(n, _Segment(path, fd, own=False))
            n += 1
            log.info("ledger journal: replaying %s left by a previous process", path.name)
        return n

    def _read_ahead(self, seg: _Segment, limit: int) -> None:
        start = seg.pending[-1][0] if seg.pending else seg.offset
        while len(seg.pending) < limit:
            data = os.pread(seg.fd, READ_CHUNK, start)
            end = data.rfind(b"\n")
            if end < 0:
                return
            pos = start
            for line in data[:end + 1].split(b"\n")[:-1]:
                pos += len(line) + 1
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    self.corrupt_lines += 1  # a line cut by a failed write; its row went the direct way
                    continue
                seg.pending.append((pos, row))
            if pos == start:
                return
            start = pos
            if len(data) < READ_CHUNK:
                return

    def pending(self, limit: int) -> list[tuple[_Segment, int, dict[str, Any]]]:
        """Up to ``limit`` rows not yet in the database, oldest segment first."""
        out: list[tuple[_Segment, int, dict[str, Any]]] = []
        for seg in self._segments:
            if len(out) >= limit:
                break
            self._read_ahead(seg, limit - len(out))
            out.extend((seg, end, row) for end, row in seg.pending[:limit - len(out)])
        return out

    def commit(self, taken: list[tuple[_Segment, int, dict[str, Any]]]) -> None:
        """The database holds these rows: advance the segments and delete or rotate finished ones."""
        done: dict[int, tuple[_Segment, int]] = {}
        for seg, end, _ in taken:
            done[id(seg)] = (seg, end)
        for seg, end in done.values():
            seg.offset = end
            seg.pending = [p for p in seg.pending if p[0] > end]
        for seg in list(self._segments):
            if seg.pending:
                continue
            size = os.fstat(seg.fd).st_size
            if seg.offset < size:
                continue
            if not seg.own:
                self._remove(seg)
            elif size >= ROTATE_BYTES:
                with self._lock:
                    self._open_own()
                seg.own = False  # appends go to the new segment; this one is drained like an orphan
                if os.fstat(seg.fd).st_size <= seg.offset:
                    self._remove(seg)

    def _remove(self, seg: _Segment) -> None:
        with contextlib.suppress(FileNotFoundError):
            seg.path.unlink()
        os.close(seg.fd)
        self._segments.remove(seg)

    def backlog_bytes(self) -> int:
        total = 0
        for seg in self._segments:
            with contextlib.suppress(OSError):
                total += os.fstat(seg.fd).st_size - seg.offset
        return total

    def close(self) -> None:
        """Release the segments; one fully replayed is deleted, others stay for the next process."""
        with self._lock:
            for seg in list(self._segments):
                size = os.fstat(seg.fd).st_size
                if seg.offset >= size:
                    with contextlib.suppress(FileNotFoundError):
                        seg.path.unlink()
                os.close(seg.fd)
            self._segments.clear()
            if self._wfd >= 0:
                os.close(self._wfd)
                self._wfd = -1


__all__ = ["Journal", "ignore_sigxfsz"]
