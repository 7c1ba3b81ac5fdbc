"""Inputs that once hung or blew up memory, run as real ``tokenfleet`` processes under a 4 GB address-space
limit and a 60 s timeout: each must exit 2 within the limits with one line naming the file and field."""

from __future__ import annotations

import copy
import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
LIMIT_BYTES = 4 << 30
TIMEOUT_S = 60


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))


def _tokenfleet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tokenfleet", *args], capture_output=True, text=True,
                          timeout=TIMEOUT_S, preexec_fn=_limits, cwd=ROOT, env={"COLUMNS": "200", "PATH": "/usr/bin"})


def _scenario(**changes: object) -> dict:
    doc = yaml.safe_load((EXAMPLES / "sim-tiered-fleet.yaml").read_text())
    doc = copy.deepcopy(doc)
    for path, value in changes.items():
        node = doc
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[int(keys[-1]) if isinstance(node, list) else keys[-1]] = value
    return doc


def _classes(n: int) -> list[dict]:
    return [{"name": f"c{i}", "model": "llama-3.1-8b", "arrivals": {"process": "poisson", "rate_rps": 1},
             "input_tokens": {"value": 100}, "output_tokens": {"value": 10}} for i in range(n)]


CASES = [
    ("replicas-1e30", _scenario(pools__0__replicas=10**30), "pools.0.replicas: replicas must be in [1, 10000]"),
    ("replicas-1e6", _scenario(pools__0__replicas=1_000_000), "pools.0.replicas: replicas must be in [1, 10000]"),
    ("classes-3000", _scenario(traffic=_classes(3000)), "traffic: List should have at most 100 items"),
    ("rate-x-duration", _scenario(traffic=[dict(_classes(1)[0], arrivals={"process": "poisson", "rate_rps": 1e6})],
                                  pools=[{"name": "gpu", "hardware": "h100"}], sim={"duration_s": 86400}),
     "would simulate ~8.6e+10 requests"),
    ("latency-inf", _scenario(pools__0__scheduler={"max_seqs": float("inf")}), "pools.0.scheduler.max_seqs"),
]


@pytest.mark.parametrize(("name", "doc", "message"), CASES, ids=[c[0] for c in CASES])
def test_growth_is_bounded_up_front(tmp_path: Path, name: str, doc: dict, message: str) -> None:
    p = tmp_path / f"{name}.yaml"
    big = len(doc["traffic"]) > 100
    p.write_text(json.dumps(doc) if big else yaml.safe_dump(doc))  # JSON is YAML, and dumps 100x faster
    r = _tokenfleet("simulate", str(p))
    err = " ".join(r.stderr.split())
    assert r.returncode == 2, err
    assert f"{name}.yaml" in err and message in err and "Traceback" not in err


COMMANDS = [["simulate"], ["plan", "--no-verify", "--no-pareto"], ["deal"], ["serve", "--check"]]


@pytest.mark.parametrize("command", COMMANDS, ids=["simulate", "plan", "deal", "serve"])
def test_deep_nesting_and_bad_bytes(tmp_path: Path, command: list[str]) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: " + "[" * 20_000 + "]" * 20_000 + "\n")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: caf\xe9\n")
    files = [(deep, "nested deeper than 64 levels")]
    if command[0] == "simulate":
        files.append((latin, "not UTF-8 text at byte 9"))
    for p, message in files:
        r = _tokenfleet(command[0], str(p), *command[1:])
        err = " ".join(r.stderr.split())
        assert r.returncode == 2 and p.name in err and message in err and "Traceback" not in err, err


def test_endless_and_oversized_files(tmp_path: Path) -> None:
    if Path("/dev/zero").exists():
        r = _tokenfleet("simulate", "/dev/zero")
        assert r.returncode == 2 and "/dev/zero: not a text file: NUL byte at offset 0" in r.stderr
    big = tmp_path / "big.yaml"
    big.write_text("name: x\n" + "# padding\n" * 2_000_000)  # 20 MB
    r = _tokenfleet("simulate", str(big))
    assert r.returncode == 2 and "big.yaml" in r.stderr and "larger than the 16.0 MB limit" in r.stderr


def test_internal_errors_are_one_line_unless_debug(tmp_path: Path) -> None:
    """A bug (simulated by a module that raises) prints one line and exits 1; --debug shows the traceback."""
    code = ("import sys; from tokenfleet import cli\n"
            "def boom(*a, **k):\n    raise RuntimeError('boom')\n"
            "cli._module_group = boom\n"
            "sys.argv = ['tokenfleet', *sys.argv[1:]]\ncli.main()\n")
    for extra, want_tb in (([], False), (["--debug"], True)):
        r = subprocess.run([sys.executable, "-c", code, *extra, "simulate", "x.yaml"], capture_output=True,
                           text=True, timeout=TIMEOUT_S, cwd=ROOT)
        assert r.returncode == 1
        assert "internal error: RuntimeError: boom" in r.stderr
        assert ("Traceback" in r.stderr) == want_tb
