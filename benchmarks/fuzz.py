"""Run the fuzz suite's mutant generators for longer and print counts by outcome per command.

    python benchmarks/fuzz.py --minutes 5 [--seed 1] [--heavy] [--only simulate] [--show 20]

Each iteration picks a target (command + seed file) at random, draws a mutant from ``tests/_fuzz.py`` and
runs ``tokenfleet`` in-process under a 60 s alarm. Prints a table: command, runs, ok, refused (exit 2/3),
and each failure kind (crash, traceback, unnamed, nonsense, hang, memory), then the first failing mutants
with their message, the CPU and wall time and the machine load (``uptime``).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _fuzz import FAILURES, make_case, run, targets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--heavy", action="store_true", help="also the slow plan examples (MILP of 14x6 options)")
    ap.add_argument("--only", default="", help="only targets whose name contains this")
    ap.add_argument("--show", type=int, default=15, help="failing mutants to print")
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()
    os.environ.setdefault("COLUMNS", "160")
    rnd = random.Random(a.seed)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    fails: list[tuple[str, str, str, str]] = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    deadline = wall0 + a.minutes * 60
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ts = [t for t in targets(tmp, heavy=a.heavy) if a.only in t.name]
        n = 0
        while time.perf_counter() < deadline:
            t = rnd.choice(ts)
            case_dir = tmp / f"c{n}"
            case_dir.mkdir()
            case = make_case(t, rnd, case_dir)
            o = run(case, a.timeout)
            cmd = t.name.split(":")[0]
            counts[cmd][o.kind] += 1
            if o.kind in FAILURES:
                fails.append((t.name, o.kind, case.what, o.message))
            n += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    cols = ["ok", "refused", *FAILURES]
    print(f"{'command':<12} {'runs':>6} " + " ".join(f"{c:>9}" for c in cols))
    total: Counter[str] = Counter()
    for cmd in sorted(counts):
        c = counts[cmd]
        total.update(c)
        print(f"{cmd:<12} {sum(c.values()):>6} " + " ".join(f"{c[k]:>9}" for k in cols))
    print(f"{'all':<12} {sum(total.values()):>6} " + " ".join(f"{total[k]:>9}" for k in cols))
    print(f"{n} mutants in {wall:,.0f} s wall, {cpu:,.0f} s CPU (seed {a.seed}); load: "
          + subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    for name, kind, what, msg in fails[: a.show]:
        print(f"  {kind:<9} {name}: {what}\n            -> {msg[:300]}")


if __name__ == "__main__":
    main()
