"""Mutant inputs for every command, and a harness that runs one and judges the outcome.

Shared by ``tests/test_fuzz_*.py`` (hypothesis drives the ``random.Random`` each mutant is drawn from) and
``benchmarks/fuzz.py`` (runs the same generators for minutes and counts outcomes per command).

A *target* is a command plus a seed input: every shipped example (scenarios, deals, gateway configs,
results CSV), slices of the packaged traces (Azure CSV, Mooncake JSONL, a BurstGPT CSV built from Azure rows)
and abused flags. A mutant changes types, ranges, deletes keys, duplicates entries, nests deep, breaks the
encoding or cuts the file. :func:`run` runs ``tokenfleet`` in-process and classifies the result:

* ``ok`` — exit 0 and no NaN / inf in the output;
* ``refused`` — exit 2 (or 3), one message naming the file or flag, no traceback;
* failures: ``crash`` (internal error / other exit code), ``traceback``, ``unnamed`` (exit 2 without the
  file or flag in the message), ``nonsense`` (exit 0 printing NaN / inf), ``hang`` (over the time limit),
  ``memory`` (peak RSS grew by more than :data:`MEMORY_LIMIT_MB`).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import lzma
import math
import random
import re
import resource
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tokenfleet.workload.packaged import packaged_trace

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
FAILURES = ("crash", "traceback", "unnamed", "nonsense", "hang", "memory")
MEMORY_LIMIT_MB = 1500.0

WEIRD: list[Any] = [
    None, True, False, 0, -1, -5, 1, 2.5, -0.5, 1e-300, 1e9, 1e12, 1e30, 10**30, float("nan"), float("inf"),
    float("-inf"), "", "abc", "not a url", "ftp://x", "-1", "1e3", [], {}, [1, [2]], {"a": 1}, "é" * 3,
]
WEIRD_CELLS = ["", "nan", "NaN", "inf", "-inf", "-1", "0", "2.5", "1e12", "1e400", "abc", "NaT", "maybe", "-0"]
WEIRD_JSON = ["abc", [[1, 2]], -1, 0, 2.5, 1e12, float("nan"), None, True, {"x": 1}, "1", 10**20]


@dataclass(frozen=True)
class Target:
    """A command run on a file kind: ``argv`` holds ``{file}`` where the mutant's path goes."""

    name: str
    kind: str  # yaml | csv | jsonl | flags
    seed: Path | None
    argv: tuple[str, ...]
    suffix: str = ".yaml"
    wrap: Callable[[Path, Path], Path] | None = None  # trace targets: build a scenario around the mutant


def _trace_scenario(fmt: str) -> Callable[[Path, Path], Path]:
    def wrap(trace: Path, tmp: Path) -> Path:
        doc = {
            "name": "fuzz-trace",
            "traffic": [{"name": "chat", "model": "llama-3.1-8b", "arrivals": {"trace": str(trace), "format": fmt}}],
            "pools": [{"name": "gpu", "hardware": "h100", "replicas": 2}],
            "sim": {"seed": 1},
        }
        p = tmp / "trace-scenario.yaml"
        p.write_text(yaml.safe_dump(doc))
        return p

    return wrap


def _head(name: str, lines: int) -> str:
    """The first ``lines`` lines of the packaged trace ``name``."""
    with lzma.open(packaged_trace(name), "rt", encoding="utf-8") as fh:
        return "".join(line for _, line in zip(range(lines), fh, strict=False))


def seed_texts(tmp: Path) -> dict[str, Path]:
    """Small seed files that are not shipped as such: trace slices and the shared plan scenario."""
    out: dict[str, Path] = {}
    p = tmp / "azure.csv"
    p.write_text(_head("azure2023_conv.csv", 120))
    out["azure"] = p
    rows = list(csv.reader(io.StringIO(p.read_text())))[1:]
    b = tmp / "burstgpt.csv"
    b.write_text("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n" + "".join(
        f"{i * 0.7:.1f},ChatGPT,{r[1]},{r[2]},{int(r[1]) + int(r[2])},Conversation log\n"
        for i, r in enumerate(rows)))
    out["burstgpt"] = b
    p = tmp / "mooncake.jsonl"
    p.write_text(_head("mooncake_fast25_conversation.jsonl", 120))
    out["mooncake"] = p
    sys.path.insert(0, str(Path(__file__).parent))
    from _scenarios import two_class_plan

    p = tmp / "two-class-plan.yaml"
    p.write_text(yaml.safe_dump(two_class_plan("fuzz-plan", 3)))
    out["plan"] = p
    return out


def targets(tmp: Path, heavy: bool = False) -> list[Target]:
    """Every target; ``heavy`` adds the slow seeds (the large plan examples) for the benchmark."""
    seeds = seed_texts(tmp)
    t: list[Target] = []
    sim = ("simulate", "{file}", "--max-requests", "300", "--json")
    for p in sorted(EXAMPLES.glob("sim-*.yaml")):
        t.append(Target(f"simulate:{p.stem}", "yaml", p, sim))
    plan = ("plan", "{file}", "--no-verify", "--no-pareto", "--json")
    t.append(Target("plan:two-class", "yaml", seeds["plan"], plan))
    t.append(Target("plan:plan-ull-1000", "yaml", EXAMPLES / "plan-ull-1000.yaml", plan))
    if heavy:
        for name in ("mixed-vendor-cheaper", "openai-cerebras-2026"):
            t.append(Target(f"plan:{name}", "yaml", EXAMPLES / f"{name}.yaml", plan))
    for p in sorted((EXAMPLES / "deals").glob("*.yaml")):
        t.append(Target(f"deal:{p.stem}", "yaml", p, ("deal", "{file}", "--paths", "400", "--json")))
    for p in sorted(EXAMPLES.glob("gateway*.yaml")):
        t.append(Target(f"serve-check:{p.stem}", "yaml", p, ("serve", "{file}", "--check")))
    t.append(Target("validate:results", "csv", EXAMPLES / "results-heldout-vendors.csv",
                    ("validate", "--results", "{file}", "--json"), ".csv"))
    for fmt, suffix, kind in (("azure", ".csv", "csv"), ("burstgpt", ".csv", "csv"), ("mooncake", ".jsonl", "jsonl")):
        if fmt in seeds:
            t.append(Target(f"trace:{fmt}", kind, seeds[fmt], sim, suffix, _trace_scenario(fmt)))
    t.append(Target("flags:perf", "flags", None, ("perf", "llama-3.3-70b", "h100")))
    t.append(Target("flags:simulate", "flags", EXAMPLES / "sim-azure-code.yaml", ("simulate", "{file}", "--json")))
    t.append(Target("flags:deal", "flags", EXAMPLES / "deals" / "take-or-pay-capacity.yaml",
                    ("deal", "{file}", "--json")))
    t.append(Target("flags:plan", "flags", seeds["plan"], ("plan", "{file}", "--no-verify", "--no-pareto", "--json")))
    return t


# ---------------------------------------------------------------- tree mutations (YAML documents)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:50]):
            out += _paths(v, (*prefix, i))
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def _strings(doc: Any) -> list[str]:
    return [v for p in _paths(doc) if isinstance(v := _get(doc, p), str)] or ["x"]


def mutate_tree(doc: Any, rnd: random.Random) -> tuple[Any, str]:
    """One structural / value mutation of a parsed document; returns it and a description."""
    doc = copy.deepcopy(doc)
    paths = _paths(doc)
    path = rnd.choice(paths[1:] or paths)
    parent = _get(doc, path[:-1]) if path else None
    key = path[-1] if path else None
    old = _get(doc, path)
    op = rnd.choice(["replace", "replace", "replace", "scale", "scale", "delete", "dup", "swap", "unknown",
                     "deep", "huge"])
    where = ".".join(map(str, path)) or "(top)"

    def put(v: Any) -> None:
        if parent is None:
            raise LookupError
        parent[key] = v

    try:
        if op == "replace":
            v = rnd.choice(WEIRD)
            put(v)
            return doc, f"{where} = {v!r}"[:120]
        if op == "scale" and isinstance(old, int | float) and not isinstance(old, bool):
            f = rnd.choice([-1, 0, 1e-6, 0.5, 1000, 1e6, 1e12])
            v = old * f if isinstance(old, float) or not float(f).is_integer() else int(old * f)
            put(v)
            return doc, f"{where} x {f:g}"
        if op == "delete" and parent is not None:
            del parent[key]
            return doc, f"del {where}"
        if op == "dup" and isinstance(old, list) and old:
            n = rnd.choice([2, 2, 50, 3000])
            put(old + [copy.deepcopy(rnd.choice(old)) for _ in range(n - 1)])
            return doc, f"{where} duplicated to {len(old) + n - 1} items"
        if op == "swap" and isinstance(old, str | int | float):
            v = rnd.choice(_strings(doc))
            put(v)
            return doc, f"{where} = {v!r} (from elsewhere)"[:120]
        if op == "unknown" and isinstance(old, dict):
            old["bogus_key"] = 1
            return doc, f"{where}.bogus_key added"
        if op == "deep":
            put("__DEEP__")
            return doc, f"{where} nested deep"
        if op == "huge" and isinstance(old, str | int | float):
            v = rnd.choice(["x" * 200_000, 10**400, -(10**30), 2**63, 2**64 + 1])
            put(v)
            return doc, f"{where} = huge {type(v).__name__}"
    except (LookupError, TypeError):
        pass
    put_v = rnd.choice(WEIRD)
    if parent is not None:
        parent[key] = put_v
    return doc, f"{where} = {put_v!r}"[:120]


def dump_yaml(doc: Any, rnd: random.Random) -> bytes:
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=10_000)
    depth = rnd.choice([70, 500, 5000])
    return text.replace("__DEEP__", "[" * depth + "]" * depth).encode()


# ---------------------------------------------------------------- byte, CSV and JSONL mutations


def mutate_bytes(data: bytes, rnd: random.Random) -> tuple[bytes, str]:
    op = rnd.choice(["latin1", "truncate", "nul", "bom", "crlf", "empty", "binary", "tabs", "only-header"])
    at = rnd.randrange(max(1, len(data)))
    if op == "latin1":
        return data[:at] + b"\xe9\xff" + data[at:], f"non-UTF-8 bytes at {at}"
    if op == "truncate":
        return data[:at], f"cut at byte {at}"
    if op == "nul":
        return data[:at] + b"\x00" + data[at:], f"NUL at {at}"
    if op == "bom":
        return b"\xef\xbb\xbf" + data, "UTF-8 BOM"
    if op == "crlf":
        return data.replace(b"\n", b"\r\n"), "CRLF line ends"
    if op == "empty":
        return b"", "empty file"
    if op == "binary":
        return bytes(rnd.randrange(256) for _ in range(2048)), "random bytes"
    if op == "tabs":
        return data.replace(b"  ", b"\t"), "tabs for indentation"
    return data.split(b"\n", 1)[0] + b"\n", "first line only"


def mutate_csv(data: bytes, rnd: random.Random) -> tuple[bytes, str]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    op = rnd.choice(["cell", "cell", "cell", "drop-col", "cut-row", "header-only", "reverse", "dup", "swap-cols"])
    if op == "cell" and len(rows) > 1:
        r = rnd.randrange(1, len(rows))
        c = rnd.randrange(len(rows[r]))
        v = rnd.choice(WEIRD_CELLS)
        rows[r][c] = v
        desc = f"row {r + 1} col {rows[0][c] if c < len(rows[0]) else c} = {v!r}"
    elif op == "drop-col":
        c = rnd.randrange(len(rows[0]))
        desc = f"column {rows[0][c]!r} removed"
        rows = [r[:c] + r[c + 1:] for r in rows]
    elif op == "cut-row" and len(rows) > 1:
        r = rnd.randrange(1, len(rows))
        rows[r] = rows[r][: rnd.randrange(len(rows[r]))]
        desc = f"row {r + 1} cut short"
    elif op == "header-only":
        rows, desc = rows[:1], "header only"
    elif op == "reverse":
        rows, desc = rows[:1] + rows[1:][::-1], "rows reversed"
    elif op == "dup":
        rows, desc = rows + rows[1:] * 20, "rows repeated x21"
    else:
        rows, desc = [r[::-1] for r in rows], "columns reversed"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode(), desc


def mutate_jsonl(data: bytes, rnd: random.Random) -> tuple[bytes, str]:
    recs = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    op = rnd.choice(["field", "field", "field", "delete", "reverse", "deep", "garbage"])
    i = rnd.randrange(len(recs))
    if op == "field":
        k = rnd.choice(list(recs[i]))
        v = rnd.choice(WEIRD_JSON)
        recs[i][k] = v
        desc = f"record {i + 1} {k} = {v!r}"
    elif op == "delete":
        k = rnd.choice(list(recs[i]))
        del recs[i][k]
        desc = f"record {i + 1} without {k}"
    elif op == "reverse":
        recs, desc = recs[::-1], "records reversed"
    lines = [json.dumps(r) for r in recs]
    if op == "deep":
        lines[i], desc = "[" * 100_000 + "]" * 100_000, f"record {i + 1} nested deep"
    elif op == "garbage":
        lines[i], desc = "{not json", f"record {i + 1} not JSON"
    return ("\n".join(lines) + "\n").encode(), desc


FLAG_VALUES: dict[str, dict[str, list[str]]] = {
    "perf": {"--chips": ["0", "3", "1e9", "-1", "1000000000"], "--precision": ["fp3", "", "BF16"],
             "--pue": ["0.5", "0", "nan", "inf", "3.5"], "--ttft-ms": ["-1", "0", "nan"], "--tpot-ms": ["-1", "inf"],
             "--spec-k": ["-4", "0", "1000"], "--spec-draft": ["llama-3.3-70b", "llama-3.1-405b", "nope"],
             "--spec-acceptance": ["1.5", "-0.1", "nan", "1"], "--isl": ["0", "-1", "1e12"], "--osl": ["0", "-5"]},
    "simulate": {"--max-requests": ["-5", "0", "1e12", "abc"], "--duration": ["-5", "0", "nan", "inf", "1e30"],
                 "--seed": ["-1", "1e30", "2.5"], "--json": ["true"], "--requests-out": ["/", "/nonexistent/x.csv"],
                 "--trace-out": [".", "/nonexistent/t.json"]},
    "deal": {"--paths": ["2e9", "-1", "0", "nan", "1e100", "abc"], "--seed": ["-1", "abc"], "--out": ["/dev/null/x"]},
    "plan": {"--budget-mw": ["inf", "nan", "-1", "0", "1e30"], "--objective": ["cheap", ""],
             "--out": ["/nonexistent/dir"]},
}


# ---------------------------------------------------------------- making and running one mutant


@dataclass
class Case:
    target: Target
    argv: list[str]
    names: list[str]  # what an exit-2 message must mention (file name or flag)
    what: str


def make_case(t: Target, rnd: random.Random, tmp: Path) -> Case:
    """A mutant of target ``t`` written under ``tmp``."""
    if t.kind == "flags":
        cmd = t.argv[0]
        flags = rnd.sample(sorted(FLAG_VALUES[cmd]), k=rnd.choice([1, 1, 2]))
        extra: list[str] = []
        for f in flags:
            extra += [f, rnd.choice(FLAG_VALUES[cmd][f])]
        argv = [a.replace("{file}", str(t.seed)) for a in t.argv] + extra
        return Case(t, argv, flags + [v for v in extra[1::2] if len(v) > 2], " ".join(extra))
    assert t.seed is not None
    data = t.seed.read_bytes()
    if rnd.random() < 0.2:
        data, what = mutate_bytes(data, rnd)
    elif t.kind == "yaml":
        doc = yaml.safe_load(data)
        what_parts = []
        for _ in range(rnd.choice([1, 1, 1, 2, 3])):
            doc, w = mutate_tree(doc, rnd)
            what_parts.append(w)
        data, what = dump_yaml(doc, rnd), "; ".join(what_parts)
    elif t.kind == "csv":
        data, what = mutate_csv(data, rnd)
    else:
        data, what = mutate_jsonl(data, rnd)
    p = tmp / f"mutant{t.suffix}"
    p.write_bytes(data)
    names = [p.name]
    file = p
    if t.wrap is not None:
        file = t.wrap(p, tmp)
        names.append(file.name)
    return Case(t, [a.replace("{file}", str(file)) for a in t.argv], names, what)


@dataclass
class Outcome:
    kind: str
    code: int | None
    seconds: float
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class _Timeout(BaseException):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout


_NONSENSE = re.compile(r"\bNaN\b|-?\bInfinity\b|\$-?nan\b|\$-?inf\b|\bnan%|\bnan\b ms|\binf simulated|over nan")


# an SLO nobody can meet is named by its class
_INFEASIBLE = re.compile(r"class '[^']+': (no candidate meets|SLO \w+ .* is out of reach)")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(case: Case, timeout_s: float = 60.0) -> Outcome:
    """Run ``tokenfleet ARGV`` in-process under a wall-clock alarm and judge the result."""
    from tokenfleet.cli import main

    out, err = io.StringIO(), io.StringIO()
    rss0 = _rss_mb()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    t0 = time.perf_counter()
    code: int | None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(case.argv))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except _Timeout:
        return Outcome("hang", None, time.perf_counter() - t0, f"over {timeout_s:.0f} s")
    except Exception as exc:  # main() should never let one out
        return Outcome("crash", None, time.perf_counter() - t0, f"{exc.__class__.__name__}: {exc}"[:300])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    dt = time.perf_counter() - t0
    grew = _rss_mb() - rss0
    o, e = out.getvalue(), err.getvalue()
    msg = " ".join(e.split())[-400:]
    if grew > MEMORY_LIMIT_MB:
        return Outcome("memory", code, dt, f"peak RSS grew {grew:,.0f} MB")
    if "Traceback (most recent call last)" in e or "Traceback (most recent call last)" in o:
        return Outcome("traceback", code, dt, msg)
    if code == 0:
        hit = _NONSENSE.search(o)
        if hit:
            i = hit.start()
            return Outcome("nonsense", code, dt, o[max(0, i - 120): i + 60].replace("\n", " "))
        return Outcome("ok", code, dt)
    if code in (2, 3):
        if not any(n in e for n in case.names) and not _INFEASIBLE.search(e):
            return Outcome("unnamed", code, dt, msg)
        return Outcome("refused", code, dt, msg)
    return Outcome("crash", code, dt, msg)


def finite_json(text: str) -> bool:
    """True when ``text`` is JSON without NaN / inf numbers."""
    bad = []

    def const(x: str) -> float:
        bad.append(x)
        return math.nan

    json.loads(text, parse_constant=const)
    return not bad


__all__ = ["FAILURES", "Case", "Outcome", "Target", "make_case", "run", "targets"]
