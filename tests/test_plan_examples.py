"""Every plan example's header states only what its run prints: each header names the command (``# Run:``)
and the phrases (``prints:``) or patterns (``matches:``) its output contains; this test runs the command and
finds each. The OpenAI-Cerebras deal example reads the terms plan's plan.json (spend and warrant from the
same plan as the fleet)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml
from rich.console import Console

import tokenfleet.cli.plan as cli_plan
from _cli import run_cli
from tokenfleet.plan.default import default_text

ROOT = Path(__file__).resolve().parents[1]
RUN = re.compile(r"^#\s+Run:\s+(tokenfleet .+)$")
CLAIM = re.compile(r'^#\s+(prints|matches):\s+"(.*)"\s*$')
EXIT = re.compile(r"^#\s+exit:\s+(\d+)\s*$")
FILES = [ROOT / "examples" / n for n in ("mixed-vendor-cheaper.yaml", "plan-ull-1000.yaml",
                                         "openai-cerebras-2026.yaml", "openai-cerebras-terms.yaml",
                                         "power-crunch-2026.yaml", "sweeps/cs3-break-even.yaml",
                                         "sweeps/ull-tier-at-deal-price.yaml")]


def header(text: str) -> tuple[list[str], list[tuple[str, str]], int]:
    """(command, claims, exit code) from a file's leading comment block."""
    cmd: list[str] = []
    claims: list[tuple[str, str]] = []
    code = 0
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if m := RUN.match(line):
            cmd = shlex.split(m.group(1))[1:]
        elif m := CLAIM.match(line):
            claims.append((m.group(1), m.group(2)))
        elif m := EXIT.match(line):
            code = int(m.group(1))
    return cmd, claims, code


def _run(cmd: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
         tmp_path: Path) -> tuple[int, str]:
    monkeypatch.setenv("COLUMNS", "250")  # one line per row: claims name whole pool names
    monkeypatch.setattr(cli_plan, "console", Console(width=250, color_system=None))
    monkeypatch.chdir(ROOT)
    args = [str(tmp_path / a) if prev == "--out" else a for prev, a in zip(["", *cmd[:-1]], cmd, strict=True)]
    if args[0] == "sweep":
        args += ["--out", str(tmp_path / "sweep")]
    code, out, err = run_cli(capsys, *args)
    return code, out + err


@pytest.mark.parametrize("path", [*FILES, None], ids=lambda p: p.name if p else "built-in default")
def test_each_example_header_states_what_its_run_prints(path: Path | None, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = default_text() if path is None else path.read_text(encoding="utf-8")
    cmd, claims, want = header(text)
    assert cmd and claims, "the header names its command and what it prints"
    if path is not None:
        assert str(path.relative_to(ROOT)) in cmd  # the command runs this file
    code, out = _run(cmd, capsys, monkeypatch, tmp_path)
    assert code == want, out[-2000:]
    flat = re.sub(r"\s+", " ", out)
    for kind, claim in claims:
        if kind == "prints":
            assert claim in flat, (claim, out[-3000:])
        else:
            assert re.search(claim, out), (claim, out[-3000:])


def test_the_deal_reads_the_same_plan(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                      tmp_path: Path) -> None:
    """The terms plan's Cerebras pools become the deal's deliveries: the deal's MW are the plan's provisioned
    MW of CS-3, and its spend includes the plan's CS-3 capex."""
    deal_path = ROOT / "examples" / "deals" / "openai-cerebras-plan.yaml"
    text = deal_path.read_text(encoding="utf-8")
    assert "tokenfleet plan examples/openai-cerebras-terms.yaml" in text and "from_plan" in text
    code, out = _run(["plan", "examples/openai-cerebras-terms.yaml", "--no-pareto", "--no-sensitivity",
                      "--no-verify", "--out", "oc-terms"], capsys, monkeypatch, tmp_path)
    assert code == 0, out[-2000:]
    plan = json.loads((tmp_path / "oc-terms" / "plan.json").read_text())
    cs3 = [p for p in plan["pools"] if p["vendor"] == "Cerebras"]
    mw = sum(p["provisioned_mw"] for p in cs3)
    data = yaml.safe_load(text)
    data["contract"]["from_plan"]["path"] = str(tmp_path / "oc-terms" / "plan.json")
    data["valuation"]["paths"] = 2000
    mine = tmp_path / "deal.yaml"
    mine.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, out, err = run_cli(capsys, "deal", str(mine), "--json")
    assert code == 0, err[-2000:]
    c = json.loads(out)["contract"]
    assert mw > 0 and plan["deal_terms"]["hardware"] == "cs3"
    capex = sum(p["capex_usd"] for p in cs3)
    assert c["scheduled_spend_usd"] >= capex * (1 - 1e-9)  # the CS-3 the plan buys is the deal's spend
    assert 0.5 * mw <= c["expected_mw_delivered"] <= mw * (1 + 1e-9)  # its provisioned MW (some late)
    assert c["expected_shortfall_usd"] > 0  # a $10B take-or-pay against the plan's spend: the gap is paid
