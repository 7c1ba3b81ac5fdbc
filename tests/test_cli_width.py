"""Every command reads at 80 columns: the README tour's commands, every ``--help``, long errors. A line over 80
columns or a cell cut with "…" fails; so does an id split across lines in an error."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from tokenfleet.cli import _LAZY
from tokenfleet.cli.tables import Column, fit, table

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
WIDTH = 80


def tour_commands() -> list[str]:
    """``$ tokenfleet ...`` lines of the README's tour, without the ``| head`` / ``| tail`` that trims them."""
    tour = README.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    cmds = [m.group(1).split(" | ")[0].strip() for m in re.finditer(r"^\$ (tokenfleet .+)$", tour, re.M)]
    return list(dict.fromkeys(cmds))


def run80(args: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | {"COLUMNS": str(WIDTH)}
    return subprocess.run([sys.executable, "-m", "tokenfleet", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def assert_fits(text: str, what: str) -> None:
    long = [line for line in text.splitlines() if len(line.rstrip()) > WIDTH]
    assert not long, f"{what}: {len(long)} line(s) over {WIDTH} columns, e.g. {long[0]!r}"
    cut = [line for line in text.splitlines() if "…" in line]
    assert not cut, f"{what}: a cell cut with '…': {cut[0]!r}"


def test_the_tour_has_commands() -> None:
    cmds = tour_commands()
    assert len(cmds) >= 5 and cmds[0] == "tokenfleet plan", cmds


@pytest.mark.parametrize("cmd", tour_commands())
def test_tour_command_reads_at_80_columns(cmd: str) -> None:
    res = run80(cmd.split()[1:])
    assert res.returncode == 0, res.stderr
    assert_fits(res.stdout + res.stderr, cmd)


def test_the_readme_shows_nothing_wider_than_80_columns_in_its_examples() -> None:
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", README, re.M | re.S)
    assert blocks
    for block in blocks:
        assert_fits(block, "README code block")


@pytest.mark.parametrize("cmd", sorted({*_LAZY, "catalog hardware", "catalog models", "catalog workloads"}))
def test_help_reads_at_80_columns_and_cuts_nothing(cmd: str) -> None:
    res = run80([*cmd.split(), "--help"])
    assert res.returncode == 0, res.stderr
    assert_fits(res.stdout, f"tokenfleet {cmd} --help")
    listed = res.stdout.split("\nCommands:\n", 1)[1] if "\nCommands:\n" in res.stdout else ""
    assert not [line for line in listed.splitlines() if line.endswith("...")], listed  # click's cut short help


def test_every_listing_reads_at_80_columns(tmp_path: Path) -> None:
    for args in (["catalog", "hardware"], ["catalog", "models"], ["catalog", "workloads"],
                 ["catalog", "hardware", "cs3"], ["validate"], ["validate", "--power"],
                 ["perf", "deepseek-r1", "b200", "--precision", "fp4"],
                 ["serve", str(ROOT / "examples" / "gateway.yaml"), "--check"]):
        res = run80(args, cwd=tmp_path)
        assert res.returncode == 0, (args, res.stderr)
        assert_fits(res.stdout + res.stderr, " ".join(args))


def test_a_long_error_wraps_at_words_and_keeps_ids_whole() -> None:
    res = run80(["catalog", "hardware", "h10"])
    assert res.returncode == 2
    err = res.stderr
    assert_fits(err, "error")
    assert len(err.splitlines()) > 1 and err.startswith("error: unknown hardware id 'h10'")
    for ident in ("gb200-nvl72", "trn2-ultraserver", "tpu-v5e"):  # whole on one line, never split
        assert any(ident in line for line in err.splitlines()), ident


def test_captured_errors_stay_one_line() -> None:
    """Without $COLUMNS and not on a terminal (a script capturing stderr) a message is one line to grep."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    res = subprocess.run([sys.executable, "-m", "tokenfleet", "catalog", "hardware", "h10"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1


def _render(renderable: object, width: int) -> str:
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def test_table_drops_low_priority_columns_first_and_says_which() -> None:
    cols = [Column("pool", "id"), Column("hardware", "text"), Column("requests"), Column("kWh", priority=2),
            Column("cost $", priority=1)]
    rows = [["prefill-pool-with-a-long-name", "gb200-nvl72 (1 chip bf16)", "19,366", "8.69", "31.71"]]
    wide = _render(table("Pools", cols, rows, width=120), 120)
    assert "kWh" in wide and "not shown" not in wide
    narrow = _render(table("Pools", cols, rows, width=50), 50)
    assert_fits(narrow.replace(" " * 30, ""), "narrow")
    assert "prefill-pool-with-a-long-name" in narrow and "19,366" in narrow  # the id and numbers stay whole
    assert "not shown at 50 columns: kWh" in narrow and "kWh " not in narrow.splitlines()[1]
    assert max(len(line.rstrip()) for line in narrow.splitlines()) <= 50


def test_fit_never_narrows_numbers_and_wraps_text_at_words() -> None:
    cols = [Column("name", "id"), Column("note", "text"), Column("value")]
    rows = [["a", "one two three four five six seven", "1,234,567.89"]]
    shown, widths = fit(cols, rows, 30)
    assert shown == [0, 1, 2] and widths[2] == len("1,234,567.89") and sum(widths) + 2 <= 30
    assert widths[1] >= len("three")  # wraps between words, not inside one
