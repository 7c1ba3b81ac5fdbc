"""Simulator speed and memory: the Azure 2023 conversation trace, rate-scaled and looped to N requests, on a
two-hardware fleet (96 GB200 replicas + 8 four-system CS-3 replicas of Llama 3.3 70B = 104 replicas).

    python benchmarks/simulator.py                  # 1,000,000 requests, both cores alternated, twice
    python benchmarks/simulator.py --requests 200000 --repeats 1 --no-output
    python benchmarks/simulator.py --cores compiled --memory   # peak RSS at N / 5 and at N
    python benchmarks/simulator.py --policy round-robin --fleet 4 --cores python --baseline 2a2300e
    python benchmarks/simulator.py --cli      # `tokenfleet simulate`, whole process: 320 H100, 1M requests

Each run is a fresh process (its own peak RSS) simulating the whole trace with per-request rows streamed to a
temporary Parquet file. The compiled and the pure-Python cores alternate, so both see the same machine; each
line prints CPU time beside wall time and the load average around the run. Vidur's figure is the side-by-side
measurement in /work/shared/design/ANCHORS.md (not rerun here: it needs its own environment).

``--baseline REV`` adds the pure-Python simulator of git revision REV (its ``src/`` exported to a temporary
folder and put first on ``PYTHONPATH``) to the alternation, on the same scenario: the check that the pure-Python
core is no slower than it was. ``--fleet 4`` runs a 4-replica fleet (4 GB200 replicas, the trace at x3) instead
of the 104-replica one. ``--cli`` times the command a user runs instead, as a whole process (start-up and
imports included): ``tokenfleet simulate`` on a synthetic 1M-request scenario (320 H100 replicas of Llama 3.1
8B, least-outstanding, 4,000 requests/s Poisson) with ``--requests-out`` Parquet, peak RSS from the kernel's
accounting of the child (the issue's bound: <= 300 MB at 1M requests).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VIDUR_REQ_PER_S = (364, 389)  # ANCHORS.md: Vidur's event loop, 10k requests, measured side by side 2026-12-01
TARGET = 100_000  # simulated requests per CPU second with the compiled core (issue 31)


def fleet(replicas: int) -> tuple[list[dict[str, object]], float]:
    """The pools and the trace's rate multiplier: 104 replicas at x80, or 4 GB200 replicas at x3."""
    if replicas == 104:
        return [{"name": "gb200", "hardware": "gb200-nvl72", "replicas": 96},
                {"name": "cs3", "hardware": "cs3", "replicas": 8}], 80
    if replicas == 4:
        return [{"name": "gb200", "hardware": "gb200-nvl72", "replicas": 4}], 3
    raise SystemExit(f"--fleet: 104 or 4 replicas, not {replicas}")


def scenario(n: int, policy: str, exact: bool, replicas: int = 104) -> dict[str, object]:
    pools, rate_multiplier = fleet(replicas)
    return {
        "name": "bench-azure-conv",
        "traffic": [
            {
                "name": "chat",
                "model": "llama-3.3-70b",
                "slo": {"ttft_p99_ms": 2000, "tpot_p99_ms": 100},
                "arrivals": {"trace": "shared:traces/azure2023_conv.csv", "rate_multiplier": rate_multiplier,
                             "loop": True},
            }
        ],
        "pools": pools,
        "routing": {"policy": policy},
        "sim": {"max_requests": n, "seed": 1, "exact": exact},
    }


CLI_SCENARIO = """\
name: synthetic-cli
traffic:
  - name: chat
    model: llama-3.1-8b
    arrivals: {process: poisson, rate_rps: 4000}
    input_tokens: {dist: lognormal, mean: 1000, cv: 1.0, max_tokens: 16000}
    output_tokens: {dist: lognormal, mean: 200, cv: 1.0, max_tokens: 2000}
    slo: {ttft_p99_ms: 2000, tpot_p99_ms: 80}
pools: [{name: h100, hardware: h100, replicas: 320}]
routing: {policy: least-outstanding}
sim: {seed: 1, max_requests: 1000000}
"""
CLI_PEAK_MB = 300


def cli_run(core: str, n: int, tmp: Path) -> dict[str, object]:
    """``tokenfleet simulate`` as a user runs it, in a child process: CPU, wall and peak RSS of that process."""
    (tmp / "cli.yaml").write_text(CLI_SCENARIO)
    cmd = [sys.executable, "-m", "tokenfleet", "simulate", str(tmp / "cli.yaml"), "--core", core,
           "--max-requests", str(n), "--requests-out", str(tmp / "cli.parquet"), "--force", "--json"]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    with (tmp / "out.json").open("w+") as out, (tmp / "err.txt").open("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own CPU time and peak RSS
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0), err.seek(0)
        if proc.returncode:
            raise SystemExit(f"tokenfleet simulate --core {core} failed:\n{err.read()[-3000:]}")
        ran = json.loads(out.read())["core"]
    return {"core": ran, "requests": n, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_mb": usage.ru_maxrss / 1024, "load": [load0, os.getloadavg()[0]]}


def cli_compare(args: argparse.Namespace) -> int:
    cores = [c.strip() for c in args.cores.split(",") if c.strip()]
    print(f"tokenfleet simulate (whole process): 320 H100, least-outstanding, rows to Parquet; {os.cpu_count()} "
          f"CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    print(f"  {'core':<16} {'requests':>10} {'CPU s':>8} {'wall s':>8} {'req/CPU s':>12} {'req/wall s':>12} "
          f"{'peak MB':>8}   load average")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for core in cores:
                r = cli_run(core, args.requests, Path(tmp))
                worst = max(worst, float(r["peak_mb"]))  # type: ignore[arg-type]
                show(r)
    print(f"peak RSS <= {CLI_PEAK_MB} MB at {args.requests:,} requests: "
          f"{'MET' if worst <= CLI_PEAK_MB else 'MISSED'} (largest {worst:,.0f} MB)")
    return 0


def one_run(args: argparse.Namespace) -> None:
    """Child process: one simulation on ``args.core`` (``baseline``: the tokenfleet on ``PYTHONPATH``, which
    predates the choice of core); prints one JSON line."""
    import tokenfleet
    from tokenfleet.scenario import parse_scenario
    from tokenfleet.sim.engine import Simulation
    from tokenfleet.sim.output import RequestWriter

    sc = parse_scenario(scenario(args.requests, args.policy, args.exact, args.fleet), "bench")
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        sinks = [] if args.no_output else [RequestWriter(Path(tmp) / "r.parquet", ["chat"], [p.name for p in sc.pools])]
        choice = {} if args.core == "baseline" else {"core": args.core}
        sim = Simulation(sc, keep_requests=False, sinks=sinks, **choice)
        t0, c0 = time.perf_counter(), time.process_time()  # the run: trace loading, simulation, output
        res = sim.run()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({
        "core": args.label or res.core, "source": tokenfleet.__file__,
        "requests": res.requests, "cpu_s": cpu, "wall_s": wall,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load": [load0, os.getloadavg()[0]], "events": sum(r.stats.runs for r in res.replicas),
        "iterations": sum(r.stats.iterations for r in res.replicas), "period_s": res.period_s,
    }))


def spawn(core: str, n: int, args: argparse.Namespace, baseline: Path | None = None) -> dict[str, object]:
    """One child run; ``core`` is ``compiled``, ``python`` or ``python@REV`` (the exported tree ``baseline``)."""
    env = dict(os.environ)
    cmd = [sys.executable, __file__, "--child", "--requests", str(n), "--policy", args.policy,
           "--fleet", str(args.fleet)]
    if core.startswith("python@"):
        assert baseline is not None
        env["PYTHONPATH"] = os.pathsep.join([str(baseline / "src"), *filter(None, [env.get("PYTHONPATH")])])
        cmd += ["--core", "baseline", "--label", core]
    else:
        cmd += ["--core", core]
    cmd += ["--no-output"] * args.no_output + ["--exact"] * args.exact
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{core} run failed:\n{done.stderr[-3000:]}")
    r: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    expected = (baseline if core.startswith("python@") else Path(__file__).resolve().parents[1]) / "src"
    if not str(r["source"]).startswith(str(expected)):  # the wrong tokenfleet ran: the comparison means nothing
        raise SystemExit(f"{core} run imported {r['source']}, not the tree under {expected}")
    return r


def export_tree(rev: str, dest: Path) -> None:
    """``src/`` of git revision ``rev`` of this checkout, written under ``dest``."""
    repo = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(repo), "archive", rev, "src"], capture_output=True, check=False)
    if archive.returncode:
        raise SystemExit(f"--baseline {rev}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)


def show(r: dict[str, object]) -> None:
    n, cpu, wall = int(r["requests"]), float(r["cpu_s"]), float(r["wall_s"])  # type: ignore[arg-type]
    lo, hi = r["load"]  # type: ignore[misc]
    print(f"  {r['core']:<16} {n:>10,} {cpu:>8.1f} {wall:>8.1f} {n / cpu:>12,.0f} {n / wall:>12,.0f} "
          f"{float(r['peak_mb']):>8,.0f}   {lo:.1f} -> {hi:.1f}")  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--policy", default="least-outstanding")
    ap.add_argument("--no-output", action="store_true", help="do not stream per-request rows to disk")
    ap.add_argument("--exact", action="store_true", help="step every iteration (slow)")
    ap.add_argument("--cores", default="compiled,python", help="cores to alternate (compiled, python)")
    ap.add_argument("--repeats", type=int, default=2, help="rounds of the alternation")
    ap.add_argument("--memory", action="store_true", help="also run the first core at N / 5 (memory flat in N)")
    ap.add_argument("--fleet", type=int, default=104, help="104 replicas (96 GB200 + 8 CS-3) or 4 (GB200)")
    ap.add_argument("--baseline", metavar="REV", help="also alternate the pure-Python simulator of git REV")
    ap.add_argument("--cli", action="store_true", help="time `tokenfleet simulate` (whole process) instead")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--core", default="auto", help=argparse.SUPPRESS)
    ap.add_argument("--label", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        one_run(args)
        return 0
    if args.cli:
        return cli_compare(args)
    with tempfile.TemporaryDirectory() as tmp:
        baseline = None
        if args.baseline:
            baseline = Path(tmp)
            export_tree(args.baseline, baseline)
        return compare(args, baseline)


def compare(args: argparse.Namespace, baseline: Path | None) -> int:
    cores = [c.strip() for c in args.cores.split(",") if c.strip()]
    if baseline is not None:
        cores.append(f"python@{args.baseline}")
    _, mult = fleet(args.fleet)
    what = ("96 GB200 + 8 CS-3" if args.fleet == 104 else "GB200")
    print(f"Azure conversation x{mult:g}, looped; {args.fleet} replicas ({what}), {args.policy}; rows "
          f"{'not written' if args.no_output else 'streamed to Parquet'}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    print(f"  {'core':<16} {'requests':>10} {'CPU s':>8} {'wall s':>8} {'req/CPU s':>12} {'req/wall s':>12} "
          f"{'peak MB':>8}   load average")
    runs: list[dict[str, object]] = []
    for _ in range(args.repeats):
        for core in cores:
            runs.append(spawn(core, args.requests, args, baseline))
            show(runs[-1])
    if args.memory:
        small = spawn(cores[0], args.requests // 5, args, baseline)
        show(small)
        big = [r for r in runs if r["core"] == small["core"]]
        print(f"peak RSS {small['peak_mb']:,.0f} MB at {args.requests // 5:,} requests, "
              f"{min(float(r['peak_mb']) for r in big):,.0f} MB at {args.requests:,}")  # type: ignore[arg-type]
    best = {c: max(int(r["requests"]) / float(r["cpu_s"]) for r in runs if r["core"] == c)  # type: ignore[arg-type]
            for c in {str(r["core"]) for r in runs}}
    for c, v in sorted(best.items()):
        if "@" in c:
            continue
        print(f"{c} core: best {v:,.0f} simulated requests per CPU second = {v / VIDUR_REQ_PER_S[1]:,.0f}-"
              f"{v / VIDUR_REQ_PER_S[0]:,.0f}x Vidur's {VIDUR_REQ_PER_S[0]}-{VIDUR_REQ_PER_S[1]} (ANCHORS.md, "
              "measured side by side 2026-12-01; not rerun here)")
    if "compiled" in best and "python" in best:
        print(f"compiled / pure Python: {best['compiled'] / best['python']:.1f}x")
    old = f"python@{args.baseline}"
    if "python" in best and old in best:
        print(f"pure Python now / {old}: {best['python'] / best[old]:.2f}x per CPU second (best of "
              f"{args.repeats}, alternated)")
    if "compiled" in best:
        print(f"target >= {TARGET:,} per CPU second with the compiled core: "
              f"{'MET' if best['compiled'] >= TARGET else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
