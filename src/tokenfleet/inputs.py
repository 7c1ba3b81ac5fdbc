"""Checks at the door: one place that reads user files and checks user values and output paths.

Every helper raises :class:`~tokenfleet.errors.InputError` (the CLI prints one line and exits 2) whose
message names the file, row or flag and says what is wrong, in the input's own units.

* :func:`read_text` — a file's bytes, size-limited (also for ``/dev/zero`` and pipes), decoded as UTF-8
  ("not UTF-8 text at byte N"); :func:`read_bytes` the same without decoding.
* :func:`read_csv` — header + rows of a CSV file, size / row limits, required columns, ragged rows named.
* :func:`check_range` / :func:`check_int` — a number that must be finite and inside a range
  ("pue must be in [1.0, 3.0]"); :func:`bounded_work` — work that grows with an input, with an estimate.
* :func:`check_output_file` / :func:`check_output_dir` — output paths checked before any work starts:
  missing folder, a directory where a file is wanted, an existing file without ``--force``, not writable.
* :func:`check_listen` — a host / port a server can bind (bad address: exit 2; port in use: exit 3).
"""

from __future__ import annotations

import csv
import io
import math
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from tokenfleet.errors import InputError

MiB = 1 << 20
MAX_TEXT_BYTES = 64 * MiB  # YAML, CSV and JSON files users hand over
MAX_TRACE_BYTES = 512 * MiB  # request traces (the shared Mooncake trace is 3 MB)
MAX_CSV_ROWS = 5_000_000


def _fmt_bytes(n: float) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", MiB), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{int(n)} bytes"


def read_bytes(path: str | Path, what: str = "file", max_bytes: int = MAX_TEXT_BYTES, text: bool = False) -> bytes:
    """The bytes of ``path`` (at most ``max_bytes``; more is an error, also for endless devices), read in
    1 MiB chunks. With ``text`` a NUL byte stops the read at once ("not a text file")."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"{what} not found", where=str(p)) from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", where=str(p)) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"is a directory, not a {what}", where=str(p))
    if stat.S_ISREG(st.st_mode) and st.st_size > max_bytes:
        raise InputError(
            f"{what} is {_fmt_bytes(st.st_size)}, larger than the {_fmt_bytes(max_bytes)} limit", where=str(p)
        )
    chunks: list[bytes] = []
    size = 0
    try:
        with p.open("rb") as fh:
            while size <= max_bytes:
                chunk = fh.read(min(MiB, max_bytes + 1 - size))
                if not chunk:
                    break
                if text and b"\x00" in chunk:
                    off = size + chunk.index(b"\x00")
                    raise InputError(f"not a text file: NUL byte at offset {off} (binary, or UTF-16?)", where=str(p))
                chunks.append(chunk)
                size += len(chunk)
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", where=str(p)) from None
    if size > max_bytes:
        raise InputError(f"{what} is larger than the {_fmt_bytes(max_bytes)} limit", where=str(p))
    return b"".join(chunks)


def decode_utf8(data: bytes, where: str) -> str:
    """UTF-8 text (a leading BOM dropped); other bytes name the first bad offset. NUL bytes are rejected."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text at byte {exc.start} ({exc.reason})", where=where) from None
    nul = text.find("\x00")
    if nul >= 0:
        raise InputError(f"not a text file: NUL character at offset {nul}", where=where)
    return text


def read_text(path: str | Path, what: str = "file", max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of ``path``, size-limited; every failure names the file."""
    return decode_utf8(read_bytes(path, what, max_bytes, text=True), str(path))


def read_csv(
    path: str | Path,
    required: Sequence[str] = (),
    what: str = "CSV file",
    max_bytes: int = MAX_TEXT_BYTES,
    max_rows: int = MAX_CSV_ROWS,
    allow_empty: bool = False,
) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of a CSV file: header cells stripped, blank lines skipped, ``required`` columns
    present, every row as long as the header (a row cut short is named by its line), at least one row
    unless ``allow_empty``."""
    text = read_text(path, what, max_bytes)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InputError(f"not valid CSV: {exc}", where=str(path)) from None
    if not rows:
        raise InputError(f"empty {what}: no header row", where=str(path))
    header = [h.strip() for h in rows[0]]
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(map(repr, missing))} (header: {', '.join(header)})", where=str(path)
        )
    body: list[list[str]] = []
    for i, r in enumerate(rows[1:], start=2):
        if not r or all(not c.strip() for c in r):
            continue
        if len(r) != len(header):
            raise InputError(
                f"{len(r)} fields but the header has {len(header)} (row cut short or extra commas)",
                where=f"{path} line {i}",
            )
        body.append(r)
        if len(body) > max_rows:
            raise InputError(f"more than {max_rows:,} rows", where=str(path))
    if not body and not allow_empty:
        raise InputError(f"{what} has a header but no rows", where=str(path))
    return header, body


def _fmt_num(x: float) -> str:
    """1.0 for a float, 1 for an int, 2e9 rather than 2e+09."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e6:
        return f"{x:.1f}"
    if isinstance(x, int) and (abs(x) < 1e6 or float(f"{x:.3g}") != x) and abs(x) < 1e15:
        return f"{x:,}" if abs(x) >= 1e6 else str(x)
    return f"{x:g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def check_range(
    name: str,
    value: float,
    lo: float | None = None,
    hi: float | None = None,
    unit: str = "",
    lo_open: bool = False,
    hi_open: bool = False,
    where: str | None = None,
) -> float:
    """``value`` as a float if finite and inside ``[lo, hi]`` (``lo_open`` / ``hi_open`` exclude the
    ends); else "``name`` must be in [lo, hi] unit, got v". ``where`` (file / flag) prefixes the message."""
    u = f" {unit}" if unit else ""
    try:
        v = float(value)
    except OverflowError:  # an int beyond float range: certainly outside any range we accept
        got = f"a {len(str(abs(int(value))))}-digit number"
        if lo is not None and hi is not None:
            raise InputError(f"{name} must be in [{_fmt_num(lo)}, {_fmt_num(hi)}]{u}, got {got}", where=where) from None
        raise InputError(f"{name} is far too large, got {got}", where=where) from None
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}", where=where) from None
    if not math.isfinite(v):
        raise InputError(f"{name} must be a finite number, got {value!r}", where=where)
    bad_lo = lo is not None and (v <= lo if lo_open else v < lo)
    bad_hi = hi is not None and (v >= hi if hi_open else v > hi)
    if bad_lo or bad_hi:
        if lo is not None and hi is not None:
            rng = f"in {'(' if lo_open else '['}{_fmt_num(lo)}, {_fmt_num(hi)}{')' if hi_open else ']'}"
        elif lo is not None:
            rng = f"{'>' if lo_open else '>='} {_fmt_num(lo)}"
        else:
            rng = f"{'<' if hi_open else '<='} {_fmt_num(hi)}"  # type: ignore[arg-type]
        raise InputError(f"{name} must be {rng}{u}, got {_fmt_num(value)}", where=where)
    return v


def check_int(
    name: str, value: object, lo: int | None = None, hi: int | None = None, unit: str = "", where: str | None = None
) -> int:
    """``value`` as an int if it is a whole number inside ``[lo, hi]`` (2.5, "abc", nan, 1e30 refused)."""
    if isinstance(value, bool):
        raise InputError(f"{name} must be a whole number, got {value!r}", where=where)
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise InputError(f"{name} must be a whole number, got {value!r}", where=where)
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise InputError(f"{name} must be a whole number, got {value!r}", where=where) from None
    if not isinstance(value, int):
        raise InputError(f"{name} must be a whole number, got {value!r}", where=where)
    check_range(name, value, lo, hi, unit, where=where)
    return value


def bounded_work(what: str, amount: float, limit: float, per_unit_bytes: float = 0.0, hint: str = "",
                 where: str | None = None) -> None:
    """Refuse work that grows with an input before it starts: "2e9 paths would need ~46 GB; at most
    5e7" (the memory estimate is shown when ``per_unit_bytes`` is given; ``hint`` says what to do)."""
    if not math.isfinite(amount) or amount > limit:
        need = f" would need ~{_fmt_bytes(amount * per_unit_bytes)}" if per_unit_bytes and math.isfinite(amount) else ""
        tail = f", or {hint}" if hint else ""
        raise InputError(f"{_fmt_num(amount)} {what}{need}; at most {_fmt_num(limit)}{tail}", where=where)


def check_output_file(path: str | Path, flag: str = "--out", force: bool = False,
                      suffixes: Sequence[str] = ()) -> Path:
    """An output file that can be written: its folder exists and is writable, it is not a directory,
    it does not exist yet unless ``force`` (``--force``), and its suffix is one of ``suffixes`` if given.
    Call it before any work starts."""
    p = Path(path).expanduser()
    where = f"{flag} {p}"
    if p.is_dir():
        raise InputError("is a directory; give a file name", where=where)
    if suffixes and p.suffix.lower() not in suffixes:
        raise InputError(f"unsupported file type {p.suffix or '(none)'!r}; use {', '.join(suffixes)}", where=where)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise InputError(f"folder {parent} does not exist", where=where)
    if not parent.is_dir():
        raise InputError(f"{parent} is not a folder", where=where)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"folder {parent} is not writable", where=where)
    if p.exists() or p.is_symlink():
        if not force:
            raise InputError("file exists; pass --force to overwrite it", where=where)
        if not p.is_file():
            raise InputError("exists and is not a regular file", where=where)
        if not os.access(p, os.W_OK):
            raise InputError("file exists and is not writable", where=where)
    return p


def check_output_dir(path: str | Path, flag: str = "--out", force: bool = False,
                     files: Sequence[str] = ()) -> Path:
    """An output folder: created later if missing (its parent must exist); an existing one must be a
    writable folder, and any of ``files`` already in it need ``force`` (``--force``)."""
    p = Path(path).expanduser()
    where = f"{flag} {p}"
    if p.exists():
        if not p.is_dir():
            raise InputError("exists and is not a folder", where=where)
        if not os.access(p, os.W_OK | os.X_OK):
            raise InputError("folder is not writable", where=where)
        clash = [f for f in files if (p / f).exists()]
        if clash and not force:
            raise InputError(f"{', '.join(clash)} already exist(s) there; pass --force to overwrite", where=where)
        return p
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"folder {parent} does not exist", where=where)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"folder {parent} is not writable", where=where)
    return p


def check_listen(host: str, port: int, where: str = "--port") -> None:
    """``host:port`` can be listened on: a bad address or port is bad input (exit 2), an address in use or
    not on this machine is an environment problem (:class:`EnvironmentProblem`, exit 3). Port 0 = any."""
    import errno
    import ipaddress
    import socket

    from tokenfleet.errors import EnvironmentProblem

    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InputError(f"port must be in [0, 65535], got {port!r}", where=where)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise InputError(f"host {host!r} is not an IP address or a known host name", where="--host") from None
        raise InputError(f"host {host!r} cannot be resolved", where="--host") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise EnvironmentProblem(f"{host}:{port} is already in use (another server?)", where=where) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise EnvironmentProblem(f"{host} is not an address of this machine", where="--host") from None
            if exc.errno == errno.EACCES:
                raise EnvironmentProblem(f"no permission to listen on port {port} (ports < 1024 need root)",
                                         where=where) from None
            raise EnvironmentProblem(f"cannot listen on {host}:{port}: {exc.strerror}", where=where) from None


__all__ = [
    "MAX_CSV_ROWS",
    "MAX_TEXT_BYTES",
    "MAX_TRACE_BYTES",
    "bounded_work",
    "check_int",
    "check_listen",
    "check_output_dir",
    "check_output_file",
    "check_range",
    "decode_utf8",
    "read_bytes",
    "read_csv",
    "read_text",
]
