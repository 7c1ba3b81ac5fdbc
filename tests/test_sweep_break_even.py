"""The shipped CS-3 break-even sweep: its own grid from the file, a summary that reads at 80 columns, and
wafer-scale winning the low-latency tier when cheap and fast but not when dear and slow."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tokenfleet.cli import main
from tokenfleet.errors import InputError
from tokenfleet.sweep import build_sweep

SWEEP = Path(__file__).resolve().parents[1] / "examples" / "sweeps" / "cs3-break-even.yaml"


def test_file_grid_expands_without_grid_options() -> None:
    sw = build_sweep(SWEEP, [])
    assert [a.key for a in sw.axes] == ["plan.candidates.cs3.unit_price_usd", "plan.candidates.cs3.speed_factor"]
    assert len(sw.points) == 25
    assert "sweep" not in sw.data  # the section is not part of the scenario


def test_bad_sweep_section_names_it(tmp_path: Path) -> None:
    data = yaml.safe_load(SWEEP.read_text())
    data["sweep"] = {"grids": {}}
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match=r"bad\.yaml: sweep"):
        build_sweep(f, [])


def test_break_even_sweep_reads_at_80_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    data = yaml.safe_load(SWEEP.read_text())
    data["sweep"]["grid"] = {"plan.candidates.cs3.unit_price_usd": [1.0e6, 9.0e6],
                             "plan.candidates.cs3.speed_factor": [0.5, 2.0]}
    f = tmp_path / "be.yaml"
    f.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        main(["sweep", str(f), "--no-ray", "--out", str(tmp_path / "out")])
    except SystemExit as exc:
        assert exc.code in (0, None)
    cap = capsys.readouterr()
    out = cap.out
    lines = out.splitlines()
    assert lines, cap.err
    assert max(len(x) for x in lines) <= 80 and "…" not in out
    rows = [x.split() for x in lines if " ok " in x]
    assert len(rows) == 4, out
    on = {(r[0], r[1]): r[-1] for r in rows}
    assert on[("$1M", "2")] == "cs3"  # cheap and fast: wafer-scale serves the tier
    assert "cs3" not in on[("$9M", "0.5")]  # dear and slow: it does not
